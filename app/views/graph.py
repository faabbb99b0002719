"""Supernet graph & steering: the cell under the mask, one chip per position and op, the
steering history. Clicking a chip prunes/restores or pins/unpins that op."""

from __future__ import annotations

from typing import Any

from dash import ALL, Dash, Input, Output, State, ctx, dcc, html, no_update

from app import ids, plots
from app.controller import InputError
from app.viewmodel import graph_data
from app.views.common import ViewContext, card, err, metric_dropdown, ok

TITLE = "Supernet graph & steering"
HELP = (
    "The NAS-Bench-201 cell: 4 nodes, 6 edges, each edge one of 5 ops. Chips show every "
    "op of every edge: solid = allowed, struck-out = pruned, outlined = pinned. A chip's "
    "colour says how candidates using that op on that edge score against the others "
    "(green better, red worse) on the chosen metric. Clicking a chip prunes/restores it, "
    "or pins/unpins it, and the search obeys the new mask from its next candidate."
)

CELL_GRAPH = "cell-graph"
CHIPS = "chips"
CHIP = "chip"  # pattern-matching type: {"type": CHIP, "edge": e, "op": op}
CLICK_MODE = "click-mode"
IMPORTANCE_METRIC = "importance-metric"
NOTE = "steer-note"
UNDO = "btn-undo"
RESET = "btn-reset"
HISTORY = "history"
ALL_CHIPS = {"type": CHIP, "edge": ALL, "op": ALL}


def _chip_rows(vc: ViewContext) -> list[html.Div]:
    """Static chip buttons (one per edge and op); callbacks only restyle them, so a click
    never lands on a node that a re-render replaced."""
    space = vc.space
    rows = []
    for e, (i, j) in enumerate(space.edges):
        chips = [
            html.Button(plots.op_label(op), id={"type": CHIP, "edge": e, "op": op},
                        className="chip allowed", n_clicks=0)
            for op in space.ops
        ]  # fmt: skip
        rows.append(
            html.Div([html.Span(f"e{e} {i}→{j}", className="edge-label"), *chips],
                     className="chip-row")
        )  # fmt: skip
    return rows


def layout(vc: ViewContext) -> html.Div:
    """The card."""
    return card(
        TITLE,
        HELP,
        dcc.Graph(id=CELL_GRAPH, config={"displayModeBar": False}),
        html.Div(
            [
                dcc.RadioItems(
                    [
                        {"label": " prune / restore", "value": "prune"},
                        {"label": " pin / unpin", "value": "pin"},
                    ],
                    "prune",
                    id=CLICK_MODE,
                    inline=True,
                ),
                metric_dropdown(IMPORTANCE_METRIC, "fitness", label="colour chips by"),
            ],
            className="row",
        ),
        html.Div(_chip_rows(vc), id=CHIPS, className="chips"),
        html.Div(
            [
                dcc.Input(
                    id=NOTE,
                    type="text",
                    placeholder="optional note for the next action",
                    debounce=False,
                    className="note",
                ),
                html.Button("Undo", id=UNDO, className="btn"),
                html.Button("Reset mask", id=RESET, className="btn"),
            ],
            className="row",
        ),
        html.Ol(id=HISTORY, className="history"),
    )


def steer(vc: ViewContext, trig: Any, mode: str | None, note: str | None) -> str:
    """Send the steering command a click on ``trig`` means; return the engine's message.

    Raises:
        InputError: No run yet, or the engine refused the action.
    """
    c = vc.controller
    if trig == UNDO:
        return c.steer("undo", note=note or "")
    if trig == RESET:
        return c.steer("reset", note=note or "")
    e, op = int(trig["edge"]), str(trig["op"])
    snap = c.snapshot()
    if snap is None:
        raise InputError("no run yet: press Start before steering")
    state = snap.mask.state(e, op)
    if mode == "pin":
        action = "unpin" if state == "pinned" else "pin"
    else:
        action = "restore" if state == "pruned" else "prune"
    return c.steer(action, e, None if action == "unpin" else op, note=note or "")


def register(app: Dash, vc: ViewContext) -> None:
    """Wire the chips to steering commands and the graph to snapshots."""

    @app.callback(
        Output(ids.ALERT, "children", allow_duplicate=True),
        Input(ALL_CHIPS, "n_clicks"),
        Input(UNDO, "n_clicks"),
        Input(RESET, "n_clicks"),
        State(CLICK_MODE, "value"),
        State(NOTE, "value"),
        prevent_initial_call=True,
    )
    def command(_chips: Any, _undo: Any, _reset: Any, mode: str, note: str) -> Any:
        trig = ctx.triggered_id
        if trig is None or not ctx.triggered or ctx.triggered[0].get("value") in (None, 0):
            return no_update
        try:
            return ok(steer(vc, trig, mode, note))
        except InputError as exc:
            return err(str(exc))

    @app.callback(
        Output(CELL_GRAPH, "figure"),
        Output(ALL_CHIPS, "className"),
        Output(ALL_CHIPS, "style"),
        Output(ALL_CHIPS, "title"),
        Output(HISTORY, "children"),
        Output(IMPORTANCE_METRIC, "options"),
        Input(ids.VERSION, "data"),
        Input(IMPORTANCE_METRIC, "value"),
        Input(ids.ALERT, "children"),
        Input(ids.SELECTION, "data"),
        State(ids.HIDE_TRUTH, "value"),
        State(ids.REVEAL_TRUTH, "n_clicks"),
    )
    def update(_v: Any, metric: str, _alert: Any, selection: Any, hide: Any, reveal: Any) -> Any:
        f = vc.frame(hide, reveal)
        data = graph_data(
            f.snap, f.df, vc.space, metric=metric, selection=selection, hide_truth=f.hide_truth
        )
        n_ops = len(vc.space.ops)
        labels, colours = zip(
            *(plots.mask_edge(e.allowed, e.pinned, n_ops) for e in data.edges), strict=True
        )
        fig = plots.cell_figure(vc.space.edges, labels, colours=colours)
        # ALL outputs follow the order of the chips in the layout: edge-major, ops in order
        chips = [data.chips[(int(o["id"]["edge"]), o["id"]["op"])] for o in ctx.outputs_list[1]]
        hist = [
            html.Li([html.Span(t, className="muted"), text, html.Em(f" “{n}”") if n else ""])
            for t, text, n in data.history
        ]
        return (
            fig,
            [f"chip {c.state}" for c in chips],
            [{"backgroundColor": plots.importance_colour(c.delta)} for c in chips],
            [c.tip for c in chips],
            hist,
            f.options,
        )
