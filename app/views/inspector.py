"""Architecture inspector: why a cell ranks high. Its scores with percentiles, the
one-edit attribution, ZiCo's per-layer terms; train it from scratch or export it."""

from __future__ import annotations

import json
import math
import textwrap
from collections.abc import Mapping, Sequence
from typing import Any

from dash import Dash, Input, Output, State, ctx, dcc, html, no_update

from app import ids, plots
from app.access import Viewer
from app.controller import InputError
from app.viewmodel import (
    example_arch,
    export_scores,
    inspector_data,
    metric_label,
    neighbour_labels,
    position_names,
    proxy_names,
)
from app.viewmodel.views import training_status
from app.views.common import ViewContext, card, err, fmt, ok

TITLE = "Architecture inspector"
HELP = (
    "Why does this cell rank high? Each proxy with its percentile among evaluated cells; "
    "how the score and the ground truth change when one position's op is swapped (computed in "
    "the background, then cached); ZiCo's per-layer terms. Export as JSON or PyTorch."
)

ARCH_INPUT = "arch-input"
INSPECT_BTN = "btn-inspect"
TRAIN_BTN = "btn-train"
INSPECT_CELL = "inspect-cell"
INSPECT_SCORES = "inspect-scores"
ATTRIBUTION = "attribution-graph"
ATTR_METRIC = "attribution-metric"
ZICO_LAYERS = "zico-layers-graph"
INSPECT_POLL = "inspect-poll"
EXPORT_JSON = "btn-export-json"
EXPORT_PY = "btn-export-py"
DOWNLOAD = "download"
TRAIN_STATUS = "train-status"
TRAIN_REQUESTS = "train-requests"  # the archs this tab asked to train
PLACEHOLDER = "click a point in the embedding or paste an arch string above"
#: Characters per line of a message drawn in a half-card figure (14 px letters, 7 px
#: wide at most on average, in the 210 px a 260 px figure leaves inside its margins).
MESSAGE_CHARS = 28


def layout(vc: ViewContext) -> html.Div:
    """The card."""
    proxy = vc.controller.defaults.proxy
    return card(
        TITLE,
        HELP,
        html.Div(
            [
                dcc.Input(
                    id=ARCH_INPUT,
                    type="text",
                    debounce=True,
                    className="arch-input",
                    placeholder=f"e.g. {example_arch(vc.space)}",
                ),
                html.Button("Inspect", id=INSPECT_BTN, className="btn"),
                html.Button("Train from scratch", id=TRAIN_BTN, className="btn"),
                html.Button("Export JSON", id=EXPORT_JSON, className="btn"),
                html.Button("Export PyTorch", id=EXPORT_PY, className="btn"),
                dcc.Download(id=DOWNLOAD),
            ],
            className="row",
        ),
        html.P(id=TRAIN_STATUS, className="muted"),
        dcc.Store(id=TRAIN_REQUESTS, data=[]),
        html.Div(
            [
                html.Div(
                    [
                        dcc.Graph(id=INSPECT_CELL, config={"displayModeBar": False}),
                        html.Div(id=INSPECT_SCORES),
                    ]
                ),
                html.Div(
                    [
                        html.Div(
                            html.Label(
                                [
                                    "attribution metric ",
                                    dcc.Dropdown(
                                        proxy_names(),
                                        proxy if proxy != "ensemble" else "meco",
                                        id=ATTR_METRIC,
                                        clearable=False,
                                        className="small-dd",
                                    ),
                                ]
                            ),
                            className="row",  # the controls' font, as every view's
                        ),
                        dcc.Graph(id=ATTRIBUTION, config={"displayModeBar": False}),
                        dcc.Graph(id=ZICO_LAYERS, config={"displayModeBar": False}),
                    ]
                ),
            ],
            className="two",
        ),
        dcc.Interval(id=INSPECT_POLL, interval=700, disabled=True),
    )


def _scores_table(rows: list[dict[str, Any]], *, evaluated: bool) -> Any:
    if not rows or not evaluated:
        return html.P(
            "not evaluated in this run yet — its one-edit neighbours are scored "
            "below; Train gives it a real accuracy",
            className="muted",
        )
    head = html.Tr([html.Th("metric"), html.Th("value"), html.Th("percentile")])
    body = [
        html.Tr(
            [
                html.Td(metric_label(r["metric"]) + (f" · {r['note']}" if r.get("note") else "")),
                html.Td(fmt(r["value"])),
                html.Td("—" if not math.isfinite(r["percentile"]) else f"{r['percentile']:.0f}"),
            ]
        )
        for r in rows
    ]
    return html.Table([head, *body], className="scores")


def message_figure(text: str) -> dict[str, Any]:
    """A blank figure with ``text`` broken into lines that fit half a card."""
    lines = [
        "<br>".join(textwrap.wrap(part, MESSAGE_CHARS, break_long_words=True) or [""])
        for part in text.split("<br>")
    ]
    return plots.empty_figure("<br>".join(lines))


def _job_figure(job: Any, pending: str, draw: Any) -> dict[str, Any]:
    if job.state == "done":
        return draw(job.result)
    if job.state == "error":
        return message_figure(f"failed: {job.error}")
    return message_figure(pending)


def cell_diagram(vc: ViewContext, ops: Sequence[str]) -> dict[str, Any]:
    """The inspected cell drawn from the space's description, each position with its op."""
    g = vc.space.graph()
    return plots.cell_figure(
        g,
        [g.op_label(o) for o in ops],
        colours=[plots.op_colour(g.ops, o) for o in ops],
        names=position_names(vc.space),
        notes=g.notes,
    )


def attribution(
    vc: ViewContext, rows: Sequence[Mapping[str, Any]], metric: str, *, show_truth: bool
) -> dict[str, Any]:
    """The one-edit attribution chart, each bar named by its position and op."""
    labels = neighbour_labels(rows, vc.space)
    return plots.attribution_figure(rows, metric, labels=labels, show_truth=show_truth)


def train_text(vc: ViewContext, arch: str | None, asked: Any) -> str:
    """The training line of the inspected cell (``""`` for none or a bad arch)."""
    if not arch:
        return ""
    try:
        arch = vc.controller.parse_arch(arch)
    except InputError:
        return ""
    requested = isinstance(asked, list) and arch in asked
    return training_status(vc.published.get()[1], arch, requested=requested)


def register(app: Dash, vc: ViewContext) -> None:
    """Wire the arch box, the buttons and the background jobs."""
    controller = vc.controller

    @app.callback(
        Output(ids.INSPECT, "data", allow_duplicate=True),
        Output(ids.ALERT, "children", allow_duplicate=True),
        Input(INSPECT_BTN, "n_clicks"),
        Input(ARCH_INPUT, "n_submit"),
        State(ARCH_INPUT, "value"),
        prevent_initial_call=True,
    )
    def choose(_b: Any, _s: Any, text: str | None) -> Any:
        try:
            return controller.parse_arch(text), no_update
        except InputError as exc:
            return no_update, err(str(exc))

    @app.callback(Output(ARCH_INPUT, "value"), Input(ids.INSPECT, "data"))
    def show(arch: str | None) -> Any:
        return arch if arch else no_update

    @vc.steering_callback(
        app,
        Output(ids.ALERT, "children", allow_duplicate=True),
        Output(TRAIN_REQUESTS, "data"),
        Input(TRAIN_BTN, "n_clicks"),
        State(ids.INSPECT, "data"),
        State(TRAIN_REQUESTS, "data"),
        prevent_initial_call=True,
    )
    def train(_n: Any, arch: str | None, asked: Any, *, viewer: Viewer) -> Any:
        """Queue the training; its progress and result show under the buttons."""
        try:
            controller.train(arch or "")
            arch = controller.parse_arch(arch or "")
        except InputError as exc:
            return err(str(exc)), no_update
        asked = [a for a in asked if isinstance(a, str)] if isinstance(asked, list) else []
        return "", [*asked, arch] if arch not in asked else asked

    @app.callback(
        Output(TRAIN_STATUS, "children"),
        Output(INSPECT_SCORES, "children", allow_duplicate=True),
        Input(ids.VERSION, "data"),
        Input(ids.INSPECT, "data"),
        Input(TRAIN_REQUESTS, "data"),
        State(ids.HIDE_TRUTH, "value"),
        State(ids.REVEAL_TRUTH, "n_clicks"),
        prevent_initial_call=True,
    )
    def training(_v: Any, arch: str | None, asked: Any, hide: Any, reveal: Any) -> Any:
        """The inspected cell's training from scratch (queued, epoch k/n, or its result)
        and its scores, the trained accuracy among them: redrawn at every published
        snapshot."""
        text = train_text(vc, arch, asked)
        try:
            arch = controller.parse_arch(arch or "")
        except InputError:
            return text, no_update
        f = vc.frame(hide, reveal)
        d = inspector_data(f.df, vc.space, arch, hide_truth=f.hide_truth, snap=f.snap)
        return text, _scores_table(d.rows, evaluated=d.evaluated)

    @app.callback(
        Output(INSPECT_CELL, "figure"),
        Output(INSPECT_SCORES, "children"),
        Output(ATTRIBUTION, "figure"),
        Output(ZICO_LAYERS, "figure"),
        Output(INSPECT_POLL, "disabled"),
        Input(ids.INSPECT, "data"),
        Input(ATTR_METRIC, "value"),
        Input(INSPECT_POLL, "n_intervals"),
        Input(ids.HIDE_TRUTH, "value"),
        Input(ids.REVEAL_TRUTH, "n_clicks"),
    )
    def update(arch: str | None, metric: str, _n: Any, hide: Any, reveal: Any) -> Any:
        blank = plots.empty_figure("")
        if not arch:
            return message_figure(PLACEHOLDER), "", blank, blank, True
        try:  # the store is the browser's: check it before any view-model reads it
            arch = controller.parse_arch(arch)
        except InputError as exc:
            return message_figure(str(exc)), "", blank, blank, True
        f = vc.frame(hide, reveal)
        d = inspector_data(f.df, vc.space, arch, hide_truth=f.hide_truth, snap=f.snap)
        cell = cell_diagram(vc, d.ops)
        nb = controller.neighbours(arch, metric)
        zl = controller.zico_layers(arch)
        show_truth = not f.hide_truth and nb.state == "done"
        show_truth = show_truth and any(math.isfinite(r["truth"] or math.nan) for r in nb.result)
        attr = _job_figure(
            nb,
            f"scoring the {d.n_neighbours} one-edit neighbours on {metric} in the background…",
            lambda rows: attribution(vc, rows, metric, show_truth=show_truth),
        )
        zfig = _job_figure(zl, "computing per-layer ZiCo terms…", plots.zico_layers_figure)
        pending = nb.state == "pending" or zl.state == "pending"
        return cell, _scores_table(d.rows, evaluated=d.evaluated), attr, zfig, not pending

    @app.callback(
        Output(DOWNLOAD, "data"),
        Output(ids.ALERT, "children", allow_duplicate=True),
        Input(EXPORT_JSON, "n_clicks"),
        Input(EXPORT_PY, "n_clicks"),
        State(ids.INSPECT, "data"),
        prevent_initial_call=True,
    )
    def export(_j: Any, _p: Any, arch: str | None) -> Any:
        if not arch:
            return no_update, err("inspect a cell first, then export it")
        try:
            arch = controller.parse_arch(arch)
            if ctx.triggered_id == EXPORT_PY:
                name, text = controller.export_module(arch)
            else:
                scores, extra = export_scores(vc.frame().df, arch)
                name, spec = controller.export_spec(arch, scores=scores, extra=extra)
                text = json.dumps(spec, indent=2)
        except InputError as exc:
            return no_update, err(str(exc))
        return dcc.send_string(text, name), ok(f"exported {name}")
