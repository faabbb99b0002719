"""Search progress: best-so-far against evaluations and time, the supernet's training
curve, throughput, the workers and the best cells."""

from __future__ import annotations

from typing import Any

from dash import Dash, Input, Output, dcc, html

from app import ids, plots
from app.viewmodel import progress_data
from app.views.common import Frame, ViewContext, card, table

TITLE = "Search progress"
HELP = (
    "Best-so-far fitness against evaluations and time, the supernet's training curve, and "
    "throughput. Start creates a run (or continues the paused one with these settings)."
)

PROGRESS = "progress-graph"
TIME_GRAPH = "time-graph"
SUPERNET = "supernet-graph"
THROUGHPUT = "throughput"
BEST_TABLE = "best-table"
BEST_IN_BUDGET = "best-in-budget"
WORKERS = "workers-status"  # the Dask workers (empty for a run in this process)


def layout(vc: ViewContext) -> html.Div:
    """The card."""
    return card(
        TITLE,
        HELP,
        html.Div(id=THROUGHPUT, className="muted"),
        html.Div(id=BEST_IN_BUDGET, className="muted"),
        html.Div(id=WORKERS, className="muted"),
        dcc.Graph(id=PROGRESS, config={"displayModeBar": False}),
        html.Div(
            [
                dcc.Graph(id=TIME_GRAPH, config={"displayModeBar": False}),
                dcc.Graph(id=SUPERNET, config={"displayModeBar": False}),
            ],
            className="two",
        ),
        html.Div(id=BEST_TABLE),
    )


def register(app: Dash, vc: ViewContext) -> None:
    """Wire the curves and the table to snapshots."""

    @app.callback(
        Output(PROGRESS, "figure"),
        Output(TIME_GRAPH, "figure"),
        Output(SUPERNET, "figure"),
        Output(BEST_TABLE, "children"),
        Output(THROUGHPUT, "children"),
        Output(BEST_IN_BUDGET, "children"),
        Output(WORKERS, "children"),
        Input(ids.VERSION, "data"),
        Input(ids.HIDE_TRUTH, "value"),
        Input(ids.REVEAL_TRUTH, "n_clicks"),
    )
    def update(_v: Any, hide: Any, reveal: Any) -> Any:
        f = vc.frame(hide, reveal)
        return vc.shared.get(("progress", f.key, f.hide_truth), lambda: _build(f))

    def _build(f: Frame) -> Any:
        d = progress_data(f.snap, f.df, show_truth=not f.hide_truth)
        best = (
            ""
            if f.df.empty
            else html.Div(
                [
                    html.Div(d.best_note, className="muted"),
                    html.Div(table(d.best, cls="best", mono=("arch",)), className="scroll-x"),
                ]
            )
        )
        return (
            plots.progress_figure(
                d.df,
                show_truth=d.show_truth,
                oneshot_note=d.oneshot_note,
                oneshot_informative=d.oneshot_informative,
            ),
            plots.time_figure(d.df),
            plots.supernet_figure(d.curve),
            best,
            " · ".join(t for t in (d.throughput, d.oneshot_note) if t),
            d.best_in_budget,
            workers_children(d.workers, d.dashboard),
        )


def workers_children(text: str, dashboard: str | None) -> Any:
    """The workers line, with Dask's dashboard as a link (a new tab) when there is one."""
    if not text:
        return ""
    if not dashboard:
        return text
    link = html.A("Dask dashboard", href=dashboard, target="_blank", rel="noopener noreferrer")
    return [text, " · ", link]
