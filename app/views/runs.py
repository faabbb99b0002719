"""Stored runs: which run is live, what Start does next, and runs compared (best-so-far
curves on one plot, a table of settings and results). Read only: nothing here steers."""

from __future__ import annotations

from typing import Any

from dash import Dash, Input, Output, State, ctx, dcc, html, no_update

from app import ids
from app.access import Viewer
from app.controller import InputError
from app.plots.base import empty_figure
from app.plots.runs import runs_figure
from app.viewmodel.runs import default_runs
from app.views.common import ViewContext, card, command_ack, err, table, truth_hidden

TITLE = "Runs"
HELP = (
    "Every run stored in this database. Pick runs to compare their best fitness so far "
    "against the number of candidates (ground truth when their fitness measures differ "
    "and every run has it) and their settings and results side by side. Start after a "
    "finished run opens a new run with a fresh mask; the finished run stays here."
)

RUNS_LIVE = "runs-live"
RUNS_PICK = "runs-pick"
RUNS_NOTE = "runs-note"
RUNS_GRAPH = "runs-graph"
RUNS_TABLE = "runs-table"
RUNS_ONE = "runs-one"
RUNS_VIEW = "runs-view"
RUNS_FORK = "runs-fork"

#: How many of the latest runs the card compares at first.
DEFAULT_COMPARED = 5


def live_text(run_id: int | None, status: str | None) -> str:
    """Which run is live and what Start does now."""
    if run_id is None:
        return "No run yet: Start opens the first run."
    if status in ("finished", "failed"):
        return (
            f"Live: run {run_id} ({status}). Start opens a new run with a fresh mask; "
            f"run {run_id} stays stored and comparable here."
        )
    return f"Live: run {run_id} ({status}). Start applies its settings to this run."


def layout(vc: ViewContext) -> html.Div:
    """The card."""
    return card(
        TITLE,
        HELP,
        html.P(id=RUNS_LIVE, className="muted runs-live"),
        html.Div(
            [
                dcc.Dropdown(
                    [], None, id=RUNS_ONE, placeholder="a stored run", className="small-dd"
                ),
                html.Button(
                    "View",
                    id=RUNS_VIEW,
                    className="btn",
                    title="Reopen this run in place of the live one, read-only until Resume "
                    "(or Start) continues it; the live run stays stored and resumable",
                ),
                html.Button(
                    "New run from it",
                    id=RUNS_FORK,
                    className="btn",
                    title="Start a new run with this run's settings and its current mask",
                ),
            ],
            className="row",
        ),
        html.Label(
            [
                "compare ",
                dcc.Dropdown([], None, id=RUNS_PICK, multi=True, placeholder="pick runs"),
            ]
        ),
        html.P(id=RUNS_NOTE, className="muted"),
        dcc.Graph(
            id=RUNS_GRAPH, figure=empty_figure("no runs picked"), config={"displayModeBar": False}
        ),
        html.Div(id=RUNS_TABLE, style={"overflowX": "auto"}),
    )


def register(app: Dash, vc: ViewContext) -> None:
    """The card's one callback: it redraws at every published snapshot and pick."""

    @app.callback(
        Output(RUNS_LIVE, "children"),
        Output(RUNS_PICK, "options"),
        Output(RUNS_PICK, "value"),
        Output(RUNS_ONE, "options"),
        Output(RUNS_NOTE, "children"),
        Output(RUNS_GRAPH, "figure"),
        Output(RUNS_TABLE, "children"),
        Input(ids.VERSION, "data"),
        Input(RUNS_PICK, "value"),
        Input(ids.HIDE_TRUTH, "value"),
        Input(ids.REVEAL_TRUTH, "n_clicks"),
        State(RUNS_PICK, "options"),
    )
    def draw(_v: Any, picked: Any, hide: Any, reveal: Any, shown: Any) -> tuple[Any, ...]:
        snap = vc.published.get()[1]
        live = snap.run_id if snap is not None else None
        runs = vc.controller.stored_runs()
        options = [
            {
                "label": f"run {r.id} · {r.config.get('strategy', '')} · "
                + (f"{snap.status} (live)" if r.id == live and snap is not None else r.status),
                "value": r.id,
            }
            for r in reversed(runs)
        ]
        value: Any = no_update
        if picked is None:
            picked = value = default_runs(runs, space=vc.space.name, latest=DEFAULT_COMPARED)
        status = snap.status if snap is not None else None
        opts: Any = no_update if options == shown else options
        try:
            cmp = vc.controller.runs_overview(picked, show_truth=not truth_hidden(hide, reveal))
        except InputError as exc:
            return live_text(live, status), opts, value, opts, str(exc), no_update, no_update
        return (
            live_text(live, status),
            opts,
            value,
            opts,
            cmp.note,
            runs_figure(cmp.curves, metric=cmp.metric),
            table(cmp.table, cls="runs-table", mono=("status", "strategy", "fitness", "dataset")),
        )

    @vc.steering_callback(
        app,
        Output(ids.ALERT, "children", allow_duplicate=True),
        Input(RUNS_VIEW, "n_clicks"),
        Input(RUNS_FORK, "n_clicks"),
        State(RUNS_ONE, "value"),
        prevent_initial_call=True,
    )
    def act(_view: Any, _fork: Any, run_id: Any, *, viewer: Viewer) -> Any:
        """View the picked run, or start a new run from its settings and mask."""
        if run_id is None:
            return err("pick a stored run first")
        method = (
            vc.controller.open_run if ctx.triggered_id == RUNS_VIEW else vc.controller.new_run_from
        )
        try:
            msg = method(run_id)
        except InputError as exc:
            return err(str(exc))
        snap = vc.controller.snapshot()
        return command_ack(msg, snap.status if snap is not None else None)
