"""Budget & Pareto front: set FLOPs / params / latency limits (a steering event, undone by
Undo like a prune), the zero-cost search aids, and any metric against a cost with the
evaluated front and the budget line."""

from __future__ import annotations

from typing import Any

from dash import Dash, Input, Output, State, ctx, dcc, html

from app import ids, plots
from app.access import Viewer
from app.controller import InputError
from app.viewmodel import COSTS, pareto_data
from app.views.common import Frame, ViewContext, card, err, hashable, metric_dropdown, ok

TITLE = "Budget & Pareto front"
HELP = (
    "Limits on the cost of a cell: FLOPs and parameters of the scored network, and "
    "latency measured on a device (serve with --set latency=csv:PATH:DEVICE). Apply "
    "changes the live run's budget from its next candidate on; it is a steering event "
    "that Undo reverts. Blank means no limit. Warm-up fills the first population with the "
    "best of a pool of random cells on a cheap proxy; move proposal mutates to the "
    "best-scoring neighbour (a random one with probability p). The plot shows every "
    "evaluated cell's metric against its cost, the cells no other beats on both (the "
    "Pareto front), and the budget line."
)

MAX_FLOPS = "budget-max-flops"
MAX_PARAMS = "budget-max-params"
MAX_LATENCY = "budget-max-latency"
APPLY = "btn-budget-apply"
WARMUP = "aid-warmup"
MOVE_P = "aid-move-p"
APPLY_AIDS = "btn-aids-apply"
COST = "pareto-cost"
METRIC = "pareto-metric"
PARETO = "pareto-graph"
INFO = "budget-info"


def _number(id_: str, label: str, value: Any, *, placeholder: str = "no limit") -> html.Label:
    return html.Label(
        [f"{label} ", dcc.Input(id=id_, type="text", value=value, placeholder=placeholder,
                                debounce=False, className="num")]
    )  # fmt: skip


def layout(vc: ViewContext) -> html.Div:
    """The card."""
    d = vc.controller.defaults
    blank = lambda v: "" if v is None else f"{v:g}"  # noqa: E731
    return card(
        TITLE,
        HELP,
        html.Div(
            [
                _number(MAX_FLOPS, "max MFLOPs", blank(d.max_flops)),
                _number(MAX_PARAMS, "max M params", blank(d.max_params)),
                _number(MAX_LATENCY, "max latency (ms)", blank(d.max_latency)),
                html.Button("Apply budget", id=APPLY, className="btn"),
            ],
            className="row",
        ),
        html.Div(
            [
                _number(WARMUP, "warm-up pool", str(d.warmup), placeholder="0 = off"),
                _number(MOVE_P, "move p", blank(d.move_p), placeholder="off"),
                html.Button("Apply aids", id=APPLY_AIDS, className="btn"),
                html.Span(id=INFO, className="muted"),
            ],
            className="row",
        ),
        html.Div(
            [
                html.Label(
                    [
                        "cost ",
                        dcc.Dropdown(
                            [{"label": v, "value": k} for k, v in COSTS.items()],
                            "flops",
                            id=COST,
                            clearable=False,
                            className="small-dd",
                        ),
                    ]
                ),
                metric_dropdown(METRIC, "fitness", label="metric"),
            ],
            className="row",
        ),
        dcc.Graph(id=PARETO, config={"displayModeBar": False}),
    )


def register(app: Dash, vc: ViewContext) -> None:
    """Wire the budget and aid controls to the controller, the plot to snapshots."""
    controller = vc.controller

    @vc.steering_callback(
        app,
        Output(ids.ALERT, "children", allow_duplicate=True),
        Input(APPLY, "n_clicks"),
        Input(APPLY_AIDS, "n_clicks"),
        State(MAX_FLOPS, "value"),
        State(MAX_PARAMS, "value"),
        State(MAX_LATENCY, "value"),
        State(WARMUP, "value"),
        State(MOVE_P, "value"),
        prevent_initial_call=True,
    )
    def apply(
        _b: Any, _a: Any, flops: Any, params: Any, lat: Any, pool: Any, p: Any, *, viewer: Viewer
    ) -> Any:
        try:
            if ctx.triggered_id == APPLY_AIDS:
                return ok(controller.set_aids(warmup=pool, move_p=p))
            return ok(
                controller.set_resource_budget(
                    max_flops=flops,
                    max_params=params,
                    max_latency=lat,
                    actor=viewer.key,
                    actor_name=viewer.name,
                )
            )
        except InputError as exc:
            return err(str(exc))

    @app.callback(
        Output(PARETO, "figure"),
        Output(INFO, "children"),
        Output(METRIC, "options"),
        Input(ids.VERSION, "data"),
        Input(COST, "value"),
        Input(METRIC, "value"),
        Input(ids.HIDE_TRUTH, "value"),
        Input(ids.REVEAL_TRUTH, "n_clicks"),
    )
    def update(_v: Any, cost: str, metric: str, hide: Any, reveal: Any) -> Any:
        f = vc.frame(hide, reveal)
        key = ("budget", f.key, f.hide_truth, hashable([cost, metric]))
        return vc.shared.get(key, lambda: _build(f, cost, metric))

    def _build(f: Frame, cost: str, metric: str) -> Any:
        costs = controller.costs() if f.snap is not None else None
        d = pareto_data(f.snap, f.df, costs, cost=cost, metric=metric, hide_truth=f.hide_truth)
        info = "" if f.snap is None else f"in force: {f.snap.budget.describe()}"
        if f.snap is not None and f.snap.config.latency:
            info += f" · latency table {f.snap.config.latency.rsplit(':', 1)[-1]}"
        if d.message:
            return plots.empty_figure(d.message), info, f.options
        fig = plots.pareto_figure(d.points, x_label=d.x_label, y_label=d.y_label, limit=d.limit)
        return fig, info, f.options
