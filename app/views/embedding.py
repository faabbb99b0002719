"""Embedding: every cell of the space in 2-D, evaluated ones coloured by a metric. A click
inspects a cell; a lasso selection filters the other views."""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
from dash import Dash, Input, Output, Patch, State, ctx, dcc, html, no_update

from app import ids, plots
from app.access import Viewer
from app.controller import InputError, inputs
from app.viewmodel import embedding_data, embedding_menu
from app.views.common import Frame, ViewContext, card, hashable, metric_dropdown, ok

TITLE = "Embedding"
HELP = (
    "Every cell of the space laid out in 2-D (UMAP of one-hot encodings, cached on disk). Small "
    "slate dots are the cells the mask allows, red crosses those it excludes, orange "
    "triangles lie outside the resource budget; evaluated cells are drawn on top, large, "
    "outlined and coloured "
    "by the chosen metric. The 'all cells · …' colourings use the whole-space scores of the "
    "cheap, data-free proxies (press 'score all cells' once; the job resumes where it stopped "
    "and can also run as `nasnav space-scores`). Box/lasso-select to filter the proxy "
    "comparison; click a point to inspect it."
)

EMBEDDING = "embedding"
COLOUR_BY = "colour-by"
COLOUR_SCALE = "colour-scale"
EMBED_INFO = "embedding-info"
DRAWN = "embedding-drawn"  # key of the base traces this tab's figure shows
SPACE_RUN = "space-scores-run"


def _cell_index(point: Any) -> int | None:
    """The cell index a plotted point carries (its ``customdata``), or ``None`` when the
    browser sent something else: the payload is the client's, so nothing is assumed."""
    value = point.get("customdata") if isinstance(point, dict) else None
    if isinstance(value, list) and value:
        value = value[0]
    try:
        return inputs.whole("cell index", value)
    except InputError:
        return None


def base_key(method: str, allowed: Any, in_budget: Any, selected: int | None) -> str:
    """A digest of what the figure's traces other than the evaluated cells' are drawn from
    (layout, mask, budget, inspected cell): two figures with the same key differ only in
    the evaluated trace, so a tab showing one can be patched to the other."""
    h = hashlib.blake2b(digest_size=12)
    h.update(f"{method}|{selected}|".encode())
    h.update(np.asarray(allowed, dtype=bool).tobytes())
    h.update(b"-" if in_budget is None else np.asarray(in_budget, dtype=bool).tobytes())
    return h.hexdigest()


def layout(vc: ViewContext) -> html.Div:
    """The card."""
    return card(
        TITLE,
        HELP,
        html.Div(
            [
                metric_dropdown(COLOUR_BY, "fitness", label="colour by"),
                dcc.RadioItems(
                    [
                        {"label": " rank", "value": "rank"},
                        {"label": " log", "value": "log"},
                        {"label": " linear", "value": "linear"},
                    ],
                    "rank",
                    id=COLOUR_SCALE,
                    inline=True,
                ),
                html.Button("score all cells", id=SPACE_RUN, n_clicks=0),
                html.Span(id=EMBED_INFO, className="muted"),
            ],
            className="row",
        ),
        dcc.Graph(id=EMBEDDING, config={"displaylogo": False}),
        dcc.Store(id=DRAWN, data=None),
    )


def register(app: Dash, vc: ViewContext) -> None:
    """Wire the layout and colours to snapshots; clicks and selections to the stores."""

    @app.callback(
        Output(EMBEDDING, "figure"),
        Output(EMBED_INFO, "children"),
        Output(COLOUR_BY, "options"),
        Output(DRAWN, "data"),
        Input(ids.VERSION, "data"),
        Input(COLOUR_BY, "value"),
        Input(COLOUR_SCALE, "value"),
        Input(ids.INSPECT, "data"),
        Input(ids.HIDE_TRUTH, "value"),
        Input(ids.REVEAL_TRUTH, "n_clicks"),
        State(DRAWN, "data"),
    )
    def update(
        _v: Any, colour_by: str, scale: str, inspected: Any, hide: Any, reveal: Any, drawn: Any
    ) -> Any:
        xy, method = vc.controller.layout()
        f = vc.frame(hide, reveal)
        whole_space = (colour_by or "").startswith("space:")
        whole = vc.controller.space_scores(values=whole_space)  # parsed only when shown
        key = (
            "embedding", f.key, f.hide_truth, method, xy is None,
            hashable([colour_by, scale, inspected]),
            whole.done, whole.running, whole.error, tuple(whole.names),
        )  # fmt: skip
        fig, info, options, base = vc.shared.get(
            key, lambda: _build(f, xy, method, whole, colour_by, scale, inspected)
        )
        if ctx.triggered_id == ids.VERSION and base is not None and drawn == base:
            # this tab already shows the base traces (the whole space): send the evaluated
            # cells' trace only, not the 15,625 points again
            patch = Patch()
            patch["data"][plots.EVALUATED_TRACE] = fig["data"][plots.EVALUATED_TRACE]
            return patch, info, options, no_update
        return fig, info, options, base

    def _build(
        f: Frame, xy: Any, method: str, whole: Any, colour_by: str, scale: str, inspected: Any
    ) -> tuple[Any, str, Any, str | None]:
        """The figure, the caption, the menu, and the key of the figure's base traces."""
        space_choice = (colour_by or "").startswith("space:")
        options, note = embedding_menu(
            f.snap, f.df, colour_by, hide_truth=f.hide_truth,
            space_names=list(whole.names), space_scored=whole.done > 0,
        )  # fmt: skip
        if xy is None:
            msg = (
                "computing the layout of all cells (UMAP, once; cached on disk)…"
                if method == "pending"
                else f"layout failed: {method}"
            )
            return plots.empty_figure(msg), msg, options, None
        d = embedding_data(
            f.snap,
            f.df,
            vc.space,
            colour_by=colour_by,
            scale=scale,
            inspected=inspected,
            hide_truth=f.hide_truth,
            method=method,
            space_values=whole.values,
            space_done=whole.done,
            space_truth=(
                vc.controller.truth_by_index() if (colour_by or "").startswith("space:") else None
            ),
        )
        fig = plots.embedding_figure(
            xy,
            allowed=d.allowed,
            evaluated=d.evaluated,
            colour=d.colour,
            colour_label=d.colour_label,
            selected_index=d.selected_index,
            in_budget=d.in_budget,
            coloured_name=d.coloured_name,
            # a metric the run lacks falls back: the note says which colours are shown
            note=f"{note} · colours show {d.colour_label}" if note and not space_choice else note,
            hover=d.hover,
        )
        info = d.info
        if whole.running:
            info += f" · scoring all cells: {whole.done:,} of {whole.total:,}"
        elif whole.error:
            info += f" · whole-space scoring failed: {whole.error}"
        return fig, info, options, base_key(method, d.allowed, d.in_budget, d.selected_index)

    @vc.steering_callback(
        app,
        Output(ids.ALERT, "children", allow_duplicate=True),
        Input(SPACE_RUN, "n_clicks"),
        prevent_initial_call=True,
    )
    def score_all(_n: Any, *, viewer: Viewer) -> Any:
        return ok(vc.controller.start_space_scores())

    @app.callback(
        Output(ids.SELECTION, "data"),
        Input(EMBEDDING, "selectedData"),
        prevent_initial_call=True,
    )
    def select(sel: Any) -> Any:
        points = sel.get("points") if isinstance(sel, dict) else None
        if not points or not isinstance(points, list):
            return None
        return sorted({i for p in points if (i := _cell_index(p)) is not None})

    @app.callback(
        Output(ids.INSPECT, "data", allow_duplicate=True),
        Input(EMBEDDING, "clickData"),
        prevent_initial_call=True,
    )
    def inspect(click: Any) -> Any:
        points = click.get("points") if isinstance(click, dict) else None
        index = _cell_index(points[0]) if isinstance(points, list) and points else None
        if index is None:
            return no_update
        try:
            return vc.controller.arch_of_index(index)
        except InputError:
            return no_update
