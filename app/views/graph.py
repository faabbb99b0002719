"""Supernet graph & steering: the cell under the mask, one chip per position and op, the
evidence behind the chip colours (a sortable table), the engine's suggestions with
Accept / Dismiss, and the steering history. Clicking a chip prunes/restores or
pins/unpins that op; accepting a suggestion sends the same command."""

from __future__ import annotations

from typing import Any

from dash import ALL, Dash, Input, Output, State, ctx, dash_table, dcc, html, no_update

from app import ids, plots
from app.access import Viewer
from app.controller import InputError
from app.viewmodel import (
    EVIDENCE_COLUMNS,
    evidence_caption,
    evidence_rows,
    find_suggestion,
    graph_data,
    position_names,
    position_title,
    suggestions_view,
)
from app.viewmodel.steering import ACCEPTED, GraphData
from app.views.common import Frame, ViewContext, card, err, hashable, metric_dropdown, ok

TITLE = "Supernet graph & steering"
HELP = (
    "The search space as its own description draws it: a cell (a DAG whose edges each "
    "choose an op) or a chain of layers (each choosing an op). Chips show every op of "
    "every position: solid = allowed, struck-out = pruned, outlined = pinned, hatched = "
    "blocked by the pin of another op on its position (unpin it to prune them). A chip's "
    "colour says how candidates using that op at that position score against the others "
    "(green better, red worse) on the chosen metric. Clicking a chip prunes/restores it, "
    "or pins/unpins it, and the search obeys the new mask from its next candidate. "
    "The colour is the op's effect: the mean percentile of the cells with it minus those "
    "without it, in percentile points; ▲ or ▼ marks an effect whose 95 % bootstrap "
    "interval excludes zero. The evidence table lists every effect with its interval and "
    "n. A suggestion is a prune the evidence supports after a Holm correction over every "
    "op tested (never the last op of a position, never one the budget would refuse); Accept "
    "sends it like a chip click, with its evidence as the note, and Undo reverts it. A note "
    "typed in the box goes with the next accepted click, Undo or Reset only, then the box "
    "is cleared. In teaching mode the suggestions stay hidden until you have steered yourself."
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
EVIDENCE_CAPTION = "evidence-caption"
EVIDENCE_TABLE = "evidence-table"
SUGGESTIONS = "suggestions"
SUGGESTIONS_MSG = "suggestions-msg"
SUGGESTION_STATE = "suggestion-state"  # teaching mode: {"hidden_from": n, "held": [...]}
DISMISSED = "suggestions-dismissed"  # keys this viewer dismissed
TEACH = "suggestions-teach"
HIDE_AGAIN = "btn-hide-suggestions"
ACCEPT = "suggestion-accept"  # pattern-matching type: {"type": ACCEPT, "key": key}
DISMISS = "suggestion-dismiss"
ALL_ACCEPT = {"type": ACCEPT, "key": ALL}
ALL_DISMISS = {"type": DISMISS, "key": ALL}


def _chip_rows(vc: ViewContext) -> list[html.Div]:
    """Static chip buttons (one per position and op, named by the space); callbacks only
    restyle them, so a click never lands on a node that a re-render replaced."""
    g = vc.space.graph()
    rows = []
    for e, note in enumerate(g.notes or ("",) * len(g.edges)):
        chips = [
            html.Button(g.op_label(op), id={"type": CHIP, "edge": e, "op": op},
                        className="chip allowed", n_clicks=0)
            for op in g.ops
        ]  # fmt: skip
        label = html.Span(position_title(vc.space, e), className="edge-label", title=note)
        extra = [html.Span(note, className="position-note")] if note else []
        rows.append(html.Div([label, *chips, *extra], className="chip-row"))
    return rows


_COLUMN_NAMES = {
    "position": "position",
    "op": "op",
    "state": "state",
    "n": "n",
    "effect": "effect (pp)",
    "ci_low": "95 % CI low",
    "ci_high": "95 % CI high",
    "p": "p",
    "sig": "CI excludes 0",
}


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
        html.Div(id=EVIDENCE_CAPTION, className="muted"),
        html.Details(
            [
                html.Summary("evidence table (sortable)"),
                dash_table.DataTable(
                    id=EVIDENCE_TABLE,
                    columns=[{"name": _COLUMN_NAMES[c], "id": c} for c in EVIDENCE_COLUMNS],
                    data=[],
                    sort_action="native",
                    page_size=10,
                    style_table={"overflowX": "auto"},
                    style_cell={"fontSize": 12, "padding": "2px 6px", "textAlign": "left"},
                ),
            ],
            className="evidence",
        ),
        html.Div(
            [
                html.Strong("Suggestions "),
                dcc.Checklist(
                    [{"label": " teaching: hide until I steer", "value": "teach"}],
                    [],
                    id=TEACH,
                    className="inline",
                ),
                html.Button("Hide again", id=HIDE_AGAIN, className="btn small"),
            ],
            className="row",
        ),
        html.Div(id=SUGGESTIONS_MSG, className="muted"),
        html.Ul(id=SUGGESTIONS, className="suggestions"),
        dcc.Store(id=SUGGESTION_STATE, data={}),
        dcc.Store(id=DISMISSED, data=[]),
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


def steer(
    vc: ViewContext, trig: Any, mode: str | None, note: str | None, *, viewer: Viewer
) -> str:
    """Send the steering command a click on ``trig`` means, as ``viewer`` (undo reverts
    that viewer's own last action); return the engine's message.

    Raises:
        InputError: No run yet, or the engine refused the action.
    """
    c = vc.controller
    who = {"actor": viewer.key, "actor_name": viewer.name}
    if trig == UNDO:
        return c.steer("undo", note=note or "", **who)
    if trig == RESET:
        return c.steer("reset", note=note or "", **who)
    try:  # the triggering id comes from the request, so it is checked like any input
        e, op = int(trig["edge"]), str(trig["op"])
    except (TypeError, ValueError, KeyError, OverflowError):
        raise InputError(f"no such op chip: {str(trig)[:80]}") from None
    snap = c.snapshot()
    if snap is None:
        raise InputError("no run yet: press Start before steering")
    state = snap.mask.state(e, op)
    if mode == "pin":
        action = "unpin" if state == "pinned" else "pin"
    else:
        action = "restore" if state == "pruned" else "prune"
    return c.steer(action, e, None if action == "unpin" else op, note=note or "", **who)


def steering_data(
    vc: ViewContext,
    metric: str | None,
    selection: Any,
    hide: Any,
    reveal: Any,
    *,
    stale_ok: bool = False,
) -> tuple[Frame, GraphData]:
    """The callback opening and the card's data (the evidence is computed once per
    snapshot, metric and selection, whichever callback asks first). With ``stale_ok``
    (the polling callbacks) a running run's chips may show the evidence of a few
    candidates ago while the current one is computed in the background, instead of
    holding the poll for the bootstrap (see :func:`~app.viewmodel.graph_data`)."""
    f = vc.frame(hide, reveal)

    def build() -> GraphData:
        return graph_data(
            f.snap, f.df, vc.space, metric=metric, selection=selection, hide_truth=f.hide_truth,
            stale_ok=stale_ok,
        )  # fmt: skip

    if not stale_ok:
        return f, build()
    # the polling callbacks of every viewer share one per published version: the chips of
    # a running run then show the evidence the first asker got (at most one version old)
    key = ("steering", f.key, f.hide_truth, hashable([metric, selection]))
    return f, vc.shared.get(key, build)


def accept_suggestion(
    vc: ViewContext,
    key: str,
    metric: str | None,
    selection: Any,
    hide: Any,
    reveal: Any,
    *,
    viewer: Viewer | None = None,
) -> str:
    """Send the suggestion ``key`` through the ordinary steering path, if the current
    evidence still supports it; its evidence goes into the event's note.

    Raises:
        InputError: No run, the evidence no longer supports it, or the engine refused.
    """
    _, data = steering_data(vc, metric, selection, hide, reveal)
    s = find_suggestion(data.evidence, key)
    if s is None:
        raise InputError(f"{key} is no longer supported by the current evidence; not sent")
    who = {} if viewer is None else {"actor": viewer.key, "actor_name": viewer.name}
    return vc.controller.steer(s.action, s.position, s.op, note=ACCEPTED + s.note(), **who)


def graph_figure(vc: ViewContext, data: GraphData) -> dict[str, Any]:
    """The space under the mask, drawn from its own description: every position named and
    labelled with what the mask leaves there."""
    g = vc.space.graph()
    labels, colours = zip(
        *(plots.mask_edge(e.allowed, e.pinned, g) for e in data.edges), strict=True
    )
    return plots.cell_figure(
        g, labels, colours=colours, names=position_names(vc.space), notes=g.notes
    )


def register(app: Dash, vc: ViewContext) -> None:
    """Wire the chips to steering commands and the graph to snapshots."""

    @vc.steering_callback(
        app,
        Output(ids.ALERT, "children", allow_duplicate=True),
        Output(NOTE, "value"),
        Input(ALL_CHIPS, "n_clicks"),
        Input(UNDO, "n_clicks"),
        Input(RESET, "n_clicks"),
        State(CLICK_MODE, "value"),
        State(NOTE, "value"),
        prevent_initial_call=True,
    )
    def command(
        _chips: Any, _undo: Any, _reset: Any, mode: str, note: str, *, viewer: Viewer
    ) -> Any:
        """Send the click's command; a note the accepted event took is cleared, so it is
        not attached to the next action too (a refused action keeps it for the retry)."""
        try:
            message = steer(vc, ctx.triggered_id, mode, note, viewer=viewer)
        except InputError as exc:
            return err(str(exc)), no_update
        return ok(message), "" if note else no_update

    @app.callback(
        Output(CELL_GRAPH, "figure"),
        Output(ALL_CHIPS, "className"),
        Output(ALL_CHIPS, "style"),
        Output(ALL_CHIPS, "title"),
        Output(HISTORY, "children"),
        Output(IMPORTANCE_METRIC, "options"),
        Output(EVIDENCE_CAPTION, "children"),
        Output(EVIDENCE_TABLE, "data"),
        Input(ids.VERSION, "data"),
        Input(IMPORTANCE_METRIC, "value"),
        Input(ids.ALERT, "children"),
        Input(ids.SELECTION, "data"),
        State(ids.HIDE_TRUTH, "value"),
        State(ids.REVEAL_TRUTH, "n_clicks"),
    )
    def update(_v: Any, metric: str, _alert: Any, selection: Any, hide: Any, reveal: Any) -> Any:
        f, data = steering_data(vc, metric, selection, hide, reveal, stale_ok=True)
        # one build per published version and view settings (``data`` is that version's
        # too: steering_data shares it, with whatever evidence the first asker got)
        chip_ids = [o.get("id") for o in ctx.outputs_list[1]]  # the request's chip order
        key = ("graph", f.key, f.hide_truth, hashable([metric, selection, chip_ids]))
        return vc.shared.get(key, lambda: _build(f, data))

    def _build(f: Frame, data: GraphData) -> Any:
        fig = graph_figure(vc, data)
        # ALL outputs follow the order of the chips in the layout: position-major, ops in order
        chips = [data.chips[(int(o["id"]["edge"]), o["id"]["op"])] for o in ctx.outputs_list[1]]
        hist = [
            html.Li([html.Span(t, className="muted"), text, html.Em(f" “{n}”") if n else ""])
            for t, text, n in data.history
        ]
        return (
            fig,
            [f"chip {c.state} {c.mark}".rstrip() for c in chips],
            [{"backgroundColor": plots.importance_colour(c.delta)} for c in chips],
            [c.tip for c in chips],
            hist,
            f.options,
            evidence_caption(data.evidence, f.snap, data.metric),
            evidence_rows(data.evidence, vc.space, f.snap),
        )

    @app.callback(
        Output(SUGGESTIONS, "children"),
        Output(SUGGESTIONS_MSG, "children"),
        Output(SUGGESTION_STATE, "data"),
        Input(ids.VERSION, "data"),
        Input(IMPORTANCE_METRIC, "value"),
        Input(ids.SELECTION, "data"),
        Input(TEACH, "value"),
        Input(HIDE_AGAIN, "n_clicks"),
        Input(DISMISSED, "data"),
        State(SUGGESTION_STATE, "data"),
        State(ids.HIDE_TRUTH, "value"),
        State(ids.REVEAL_TRUTH, "n_clicks"),
    )
    def suggestions(
        _v: Any, metric: str, selection: Any, teach: Any, _hide_again: Any,
        dismissed: Any, state: Any, hide: Any, reveal: Any,
    ) -> Any:  # fmt: skip
        f, data = steering_data(vc, metric, selection, hide, reveal, stale_ok=True)
        state = dict(state or {})
        teaching = bool(teach) and "teach" in teach
        if ctx.triggered_id in (TEACH, HIDE_AGAIN) or not teaching:
            state = {}  # (re)start hiding from the current history
        # tabs in the same state (most of a classroom) share one build per version
        key = (
            "suggestions", f.key, f.hide_truth,
            hashable([metric, selection, teaching, dismissed, state]),
        )  # fmt: skip
        return vc.shared.get(key, lambda: _suggest(f, data, teaching, dismissed, state))

    def _suggest(f: Frame, data: GraphData, teaching: bool, dismissed: Any, state: Any) -> Any:
        view = suggestions_view(
            data.evidence, f.snap, dismissed=dismissed or [], teach=teaching,
            hidden_from=state.get("hidden_from"), held=state.get("held", []),
        )  # fmt: skip
        items = [
            html.Li(
                [
                    html.Span(text, className="suggestion-text"),
                    html.Button(
                        "Accept",
                        id={"type": ACCEPT, "key": key},
                        className="btn small primary",
                        n_clicks=0,
                    ),
                    html.Button(
                        "Dismiss",
                        id={"type": DISMISS, "key": key},
                        className="btn small",
                        n_clicks=0,
                    ),
                ]
            )
            for key, text in view.items
        ]
        new_state = {"hidden_from": view.hidden_from, "held": list(view.held)}
        return items, view.message, new_state if teaching else {}

    @vc.steering_callback(
        app,
        Output(ids.ALERT, "children", allow_duplicate=True),
        Input(ALL_ACCEPT, "n_clicks"),
        State(IMPORTANCE_METRIC, "value"),
        State(ids.SELECTION, "data"),
        State(ids.HIDE_TRUTH, "value"),
        State(ids.REVEAL_TRUTH, "n_clicks"),
        prevent_initial_call=True,
    )
    def accept(
        _a: Any, metric: str, selection: Any, hide: Any, reveal: Any, *, viewer: Viewer
    ) -> Any:
        try:
            key = str(ctx.triggered_id["key"])
        except (TypeError, KeyError):
            return err("no such suggestion")
        try:
            return ok(accept_suggestion(vc, key, metric, selection, hide, reveal, viewer=viewer))
        except InputError as exc:
            return err(str(exc))

    @app.callback(
        Output(ids.ALERT, "children", allow_duplicate=True),
        Output(DISMISSED, "data"),
        Input(ALL_DISMISS, "n_clicks"),
        State(DISMISSED, "data"),
        prevent_initial_call=True,
    )
    def dismiss(_d: Any, dismissed: Any) -> Any:
        """Dismissing is this viewer's own view: it needs no token."""
        trig = ctx.triggered_id
        if trig is None or not ctx.triggered or ctx.triggered[0].get("value") in (None, 0):
            return no_update, no_update
        key = str(trig["key"])
        return ok(f"dismissed {key}"), [*(dismissed or []), key]
