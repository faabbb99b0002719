"""nasnav's Dash UI. It reads engine snapshots and sends commands; it never trains.

``create_app(controller)`` does no I/O: the controller is built by the caller (``nasnav
serve`` or a test) and the page loads its data through callbacks.
"""

from __future__ import annotations

from pathlib import Path

from dash import Dash

from app.callbacks import register_callbacks
from app.controller import AppController, InputError
from app.layout import build_layout

ASSETS = Path(__file__).resolve().parents[1] / "assets"

__all__ = ["AppController", "InputError", "create_app"]


def create_app(controller: AppController, *, poll_ms: int = 1000) -> Dash:
    """Build the Dash app around a controller.

    Args:
        controller: The engine bridge.
        poll_ms: Snapshot polling interval in milliseconds.

    Returns:
        The Dash app (``app.server`` is the Flask server). Scripts and styles are served
        from the installed packages and ``assets/``; nothing is fetched from the internet.
    """
    app = Dash(
        __name__,
        title="nasnav",
        assets_folder=str(ASSETS),
        serve_locally=True,
        suppress_callback_exceptions=False,
        update_title=None,
    )
    app.layout = build_layout(controller.defaults, poll_ms=poll_ms)
    register_callbacks(app, controller)
    return app
