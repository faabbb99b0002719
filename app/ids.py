"""Page-level component IDs, as constants: what more than one view reads or writes.

A view's own components are named in its module (``app/views/<view>.py``); views talk
to each other only through the stores and the alert line listed here.
"""

from __future__ import annotations

# polling and shared state
POLL = "poll"
VERSION = "snapshot-version"  # changes when the engine publishes a new snapshot
SELECTION = "selection-store"  # cell indices of the lasso selection in the embedding
INSPECT = "inspect-store"  # arch string of the inspected cell
HIDE_TRUTH = "hide-truth"
VIEWER = "viewer-store"  # this tab's identity {"key", "name"} (session storage: one per tab)
VIEWER_NAME = "viewer-name"  # the optional name a viewer types (shown in the history)
TOKEN = "steering-token"  # the steering token a viewer types (when the server has one)
REVEAL_TRUTH = "reveal-truth"

# status, alerts and run controls (the header)
STATUS = "status"
ALERT = "alert"  # every view's acceptance/refusal message goes here
STRATEGY = "strategy"
PROXY = "proxy"
BUDGET = "budget"
START = "btn-start"
PAUSE = "btn-pause"
RESUME = "btn-resume"
STOP = "btn-stop"
