"""Proxy comparison: two metrics on a rank scale, rank correlations among all metrics and
top-k overlaps, over the lasso selection or every evaluated cell."""

from __future__ import annotations

from typing import Any

from dash import Dash, Input, Output, dcc, html, no_update

from app import ids, plots
from app.viewmodel import comparison_data, comparison_menu, default_axes, proxy_catalogue
from app.views.common import Frame, ViewContext, card, hashable

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


def _axis(id_: str, label: str) -> html.Label:
    """An axis menu, empty until the run has data: then the callback picks two different
    metrics (:func:`~app.viewmodel.default_axes`) unless one was chosen."""
    return html.Label(
        [
            f"{label} ",
            dcc.Dropdown(
                [], None, id=id_, clearable=False, placeholder="(auto)", className="small-dd"
            ),
        ]
    )


def layout(vc: ViewContext) -> html.Div:
    """The card."""
    return card(
        TITLE,
        HELP,
        html.Div(
            [
                _axis(CMP_X, "x"),
                _axis(CMP_Y, "y"),
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
        Output(CMP_X, "value"),
        Output(CMP_Y, "value"),
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
        picked = (x, y)
        if x is None or y is None:  # not chosen yet: two different metrics of this run
            auto = default_axes(f.snap, f.df, hide_truth=f.hide_truth)
            x, y = x or auto[0], y or auto[1]
        key = ("compare", f.key, f.hide_truth, hashable([selection, x, y, method, k]))
        out = vc.shared.get(key, lambda: _build(f, selection, x, y, method, k))
        return (*out, no_update if picked[0] == x else x, no_update if picked[1] == y else y)

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
