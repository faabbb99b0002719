"""Proxy comparison: two metrics on a rank scale, rank correlations among all metrics and
top-k overlaps, over the lasso selection or every evaluated cell."""

from __future__ import annotations

from typing import Any

from dash import Dash, Input, Output, dcc, html

from app import ids, plots
from app.viewmodel import comparison_data, comparison_menu, proxy_catalogue
from app.views.common import Frame, ViewContext, card, hashable, metric_dropdown

TITLE = "Proxy comparison"
HELP = (
    "Proxies against each other or against accuracy, on a rank scale, over the current "
    "selection (all evaluated cells when nothing is selected): scatter, Spearman/Kendall "
    "heatmap and top-k overlap."
)

CMP_X = "compare-x"
CMP_Y = "compare-y"
CMP_SCATTER = "compare-scatter"
CMP_METHOD = "compare-method"
CMP_HEATMAP = "compare-heatmap"
CMP_TOPK = "compare-topk"
CMP_K = "compare-k"
CMP_INFO = "compare-info"


def proxy_help() -> html.Details:
    """A table explaining every registered proxy (teaching aid)."""
    rows = proxy_catalogue()
    head = html.Tr([html.Th(h) for h in rows[0]]) if rows else html.Tr([])
    body = [html.Tr([html.Td(v) for v in r.values()]) for r in rows]
    return html.Details(
        [html.Summary("What do the proxies measure?"), html.Table([head, *body])],
        className="help proxy-help",
    )


def layout(vc: ViewContext) -> html.Div:
    """The card."""
    return card(
        TITLE,
        HELP,
        html.Div(
            [
                metric_dropdown(CMP_X, "meco", label="x"),
                metric_dropdown(CMP_Y, "fitness", label="y"),
                dcc.RadioItems(
                    [
                        {"label": " Spearman", "value": "spearman"},
                        {"label": " Kendall", "value": "kendall"},
                    ],
                    "spearman",
                    id=CMP_METHOD,
                    inline=True,
                ),
                html.Label(
                    [
                        "top-k ",
                        dcc.Input(id=CMP_K, type="number", value=10, min=1, step=1, size="4"),
                    ]
                ),
                html.Span(id=CMP_INFO, className="muted"),
            ],
            className="row",
        ),
        html.Div(
            [
                dcc.Graph(id=CMP_SCATTER, config={"displayModeBar": False}),
                dcc.Graph(id=CMP_HEATMAP, config={"displayModeBar": False}),
            ],
            className="two",
        ),
        dcc.Graph(id=CMP_TOPK, config={"displayModeBar": False}),
        proxy_help(),
    )


def register(app: Dash, vc: ViewContext) -> None:
    """Wire the comparison to snapshots, the selection and its controls."""

    @app.callback(
        Output(CMP_SCATTER, "figure"),
        Output(CMP_HEATMAP, "figure"),
        Output(CMP_TOPK, "figure"),
        Output(CMP_INFO, "children"),
        Output(CMP_X, "options"),
        Output(CMP_Y, "options"),
        Input(ids.VERSION, "data"),
        Input(ids.SELECTION, "data"),
        Input(CMP_X, "value"),
        Input(CMP_Y, "value"),
        Input(CMP_METHOD, "value"),
        Input(CMP_K, "value"),
        Input(ids.HIDE_TRUTH, "value"),
        Input(ids.REVEAL_TRUTH, "n_clicks"),
    )
    def update(
        _v: Any, selection: Any, x: str, y: str, method: str, k: Any, hide: Any, reveal: Any
    ) -> Any:
        f = vc.frame(hide, reveal)
        key = ("compare", f.key, f.hide_truth, hashable([selection, x, y, method, k]))
        return vc.shared.get(key, lambda: _build(f, selection, x, y, method, k))

    def _build(f: Frame, selection: Any, x: str, y: str, method: str, k: Any) -> Any:
        x_menu, x_note = comparison_menu(f.snap, f.df, x, hide_truth=f.hide_truth)
        y_menu, y_note = comparison_menu(f.snap, f.df, y, hide_truth=f.hide_truth)
        d = comparison_data(
            f.df, x=x, y=y, method=method, k=k, selection=selection, hide_truth=f.hide_truth,
            snap=f.snap,
        )  # fmt: skip
        if not d.enough:
            blank = plots.empty_figure("need at least 3 evaluated cells (in the selection)")
            return blank, blank, blank, d.info, x_menu, y_menu
        note = " · ".join(n for n in (x_note, y_note) if n)  # a chosen axis it cannot draw
        return (
            plots.empty_figure(note)
            if note
            else plots.rank_scatter(d.points, x_label=d.x_label, y_label=d.y_label),
            plots.heatmap_figure(d.corr, title=f"{d.method.title()} over {d.info}"),
            plots.heatmap_figure(d.topk, title=f"top-{d.k} overlap", zmin=0.0),
            d.info,
            x_menu,
            y_menu,
        )
