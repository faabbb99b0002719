"""Search progress: best-so-far against evaluations and time, the supernet's training
curve, throughput, the workers and the best cells."""

from __future__ import annotations

from typing import Any

import pandas as pd
from dash import Dash, Input, Output, dcc, html

from app import ids, plots
from app.viewmodel import metric_label, progress_data
from app.views.common import Frame, ViewContext, card, fmt

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
                    best_table(d.best),
                ]
            )
        )
        return (
            plots.progress_figure(
                d.df,
                show_truth=d.show_truth,
                oneshot_note=d.oneshot_short,  # the full note is in the status line
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


#: The best table's arch cells wrap anywhere, so the table fits its card without scrolling.
ARCH_CELL = "mono arch-wrap"
_WRAP = {"overflowWrap": "anywhere", "wordBreak": "break-all"}
_HEAD = {"whiteSpace": "normal", "verticalAlign": "bottom"}


def _head(column: str) -> Any:
    """A header that wraps: ``one-shot % (ρ 0.62, n = 140)`` on two lines, ``n`` with what
    it counts as its tooltip."""
    label = metric_label(column)
    if column == "n":
        return html.Th(label, title="evaluations of this cell (estimates are their mean)")
    name, sep, note = label.partition(" (")
    if not sep:
        return html.Th(label, style=_HEAD)
    small = html.Span(sep.strip() + note, className="muted")
    return html.Th([name, html.Br(), small], style=_HEAD)


def best_table(rows: pd.DataFrame) -> html.Table:
    """The best cells: arch strings wrap (the full string stays, to copy), headers wrap."""
    body = [
        html.Tr(
            [
                html.Td(r[c], className=ARCH_CELL, style=_WRAP, title=r[c])
                if c == "arch"
                else html.Td(f"{int(r[c])}" if c == "n" else fmt(r[c]))
                for c in rows.columns
            ]
        )
        for _, r in rows.iterrows()
    ]
    head = html.Tr([_head(c) for c in rows.columns])
    return html.Table([head, *body], className="best", style={"width": "100%"})
