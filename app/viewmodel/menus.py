"""The metric menus of the embedding and the comparison: what this run can draw, and a
note for a chosen metric that it cannot."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from app.viewmodel.frame import metric_menu, run_metrics, unavailable_note
from app.viewmodel.views import SPACE_PREFIX, space_colour_options
from nas_engine.proxies.space_scores import CHEAP_PROXIES
from nas_engine.runner import Snapshot


def embedding_menu(
    snap: Snapshot | None,
    df: pd.DataFrame,
    colour_by: str | None,
    *,
    hide_truth: bool = False,
    space_names: Sequence[str] = (),
    space_scored: bool = False,
) -> tuple[list[dict[str, Any]], str]:
    """The embedding's colour-by menu and, for a ``colour_by`` it cannot draw, the note
    that says so on the plot (``""`` when it can).

    The menu lists what this run has (:func:`run_metrics`), then the whole-space
    colourings (offered before the whole-space job has run, so that pressing 'score all
    cells' and picking one needs no other refresh; until it has ``space_scored`` cells
    the plot says so). A chosen value outside the menu stays, disabled, labelled with
    the note (a dropdown whose options lose its value clears it).
    """
    space = space_colour_options(space_names)
    have = run_metrics(snap, df, hide_truth=hide_truth)
    if colour_by and colour_by.startswith(SPACE_PREFIX):
        menu = metric_menu(have, None) + space
        name = colour_by[len(SPACE_PREFIX) :]
        if not any(o["value"] == colour_by for o in space):
            note = f"all cells · {name}: not available for this space"
            return [*menu, {"label": note, "value": colour_by, "disabled": True}], note
        scored = space_scored or name not in CHEAP_PROXIES  # the costs are exact at once
        return (
            menu,
            "" if scored else f"all cells · {name}: not scored yet (press 'score all cells')",
        )
    note = unavailable_note(snap, df, colour_by, hide_truth=hide_truth)
    return metric_menu(have, colour_by, note=note) + space, note


def comparison_menu(
    snap: Snapshot | None, df: pd.DataFrame, axis: str | None, *, hide_truth: bool = False
) -> tuple[list[dict[str, Any]], str]:
    """One comparison axis' menu (what this run has) and the note for a chosen ``axis``
    it cannot draw (``""`` when it can)."""
    note = unavailable_note(snap, df, axis, hide_truth=hide_truth)
    return metric_menu(run_metrics(snap, df, hide_truth=hide_truth), axis, note=note), note
