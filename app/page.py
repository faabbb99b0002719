"""The page: a header with the run controls, the views' cards, and the page-level state.

The header's callbacks are the page's own: the snapshot poll, the run commands (start,
pause, resume, stop) and the classroom's hide/reveal of ground truth.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import ModuleType
from typing import Any

from dash import Dash, Input, Output, State, ctx, dcc, html, no_update

from app import ids
from app.access import MAX_NAME, MAX_TOKEN, Viewer
from app.controller import InputError
from app.viewmodel import proxy_names, strategy_catalogue
from app.views.common import (
    HIDE,
    HIDE_LABEL,
    ViewContext,
    classroom_controls,
    command_ack,
    err,
    refreshed_alert,
    run_has_truth_now,
)


def header(vc: ViewContext) -> html.Header:
    """Title, status line and run controls."""
    defaults = vc.controller.defaults
    strategies = [{"label": f"{s} — {desc}", "value": s} for s, desc in strategy_catalogue()]
    proxies = [{"label": p, "value": p} for p in proxy_names()] + [
        {"label": "ensemble (rank)", "value": "ensemble"}
    ]
    controls = html.Div(
        [
            html.Label(
                [
                    "strategy",
                    dcc.Dropdown(strategies, defaults.strategy, id=ids.STRATEGY, clearable=False),
                ]
            ),
            html.Label(
                [
                    "fitness proxy",
                    dcc.Dropdown(proxies, defaults.proxy, id=ids.PROXY, clearable=False),
                ]
            ),
            html.Label(
                [
                    "budget (candidates)",
                    dcc.Input(
                        id=ids.BUDGET,
                        type="text",
                        value=str(defaults.budget),
                        debounce=True,
                        size="6",
                        className="budget-input",
                    ),
                ],
                title="how many candidates the next run evaluates",
            ),
            html.Button("Start", id=ids.START, className="btn primary"),
            html.Button("Pause", id=ids.PAUSE, className="btn"),
            html.Button("Resume", id=ids.RESUME, className="btn"),
            html.Button("Stop", id=ids.STOP, className="btn danger"),
            dcc.Checklist(
                [{"label": HIDE_LABEL, "value": HIDE}],
                [],
                id=ids.HIDE_TRUTH,
                className="inline",
            ),
            html.Button("Reveal", id=ids.REVEAL_TRUTH, className="btn small"),
        ],
        className="controls",
    )
    return html.Header(
        [
            html.H1("nasnav"),
            html.Span(id=ids.STATUS, className="status"),
            controls,
            viewer_controls(vc),
        ]
    )


def viewer_controls(vc: ViewContext) -> html.Div:
    """Who this tab is (name), the steering token when the server has one, and a note
    when the page is read-only."""
    access = vc.access
    parts: list[Any] = [
        html.Label(
            [
                "your name ",
                dcc.Input(
                    id=ids.VIEWER_NAME,
                    type="text",
                    placeholder="viewer n",
                    maxLength=MAX_NAME,
                    debounce=True,
                    persistence=True,
                    persistence_type="session",
                    className="name-input",
                ),
            ],
            title="shown in the steering history beside what you did (optional)",
        )
    ]
    token = dcc.Input(
        id=ids.TOKEN,
        type="password",
        placeholder="steering token",
        maxLength=MAX_TOKEN,
        persistence=True,
        persistence_type="session",
        className="token-input",
    )
    if access.needs_token:
        parts.append(html.Label(["token ", token], title="the teacher's steering token"))
    else:
        parts.append(html.Div(token, hidden=True))
    if access.read_only:
        parts.append(
            html.Span("read-only: you can watch, but not steer", className="muted read-only")
        )
    return html.Div(parts, className="controls viewer")


def build_layout(vc: ViewContext, views: Sequence[ModuleType], *, poll_ms: int = 1000) -> html.Div:
    """The whole page: the header, one card per view, the poll and the stores.

    Args:
        vc: The view context.
        views: View modules, in page order.
        poll_ms: Snapshot polling interval.
    """
    return html.Div(
        [
            header(vc),
            html.Div(id=ids.ALERT, className="alert", role="alert"),
            html.Main([v.layout(vc) for v in views], className="grid"),
            dcc.Interval(id=ids.POLL, interval=poll_ms),
            dcc.Store(id=ids.VERSION, data=-1),
            dcc.Store(id=ids.SELECTION, data=None),
            dcc.Store(id=ids.INSPECT, data=None),
            dcc.Store(id=ids.VIEWER, storage_type="session"),
        ],
        className="page",
    )


def status_line(snap: Any) -> str:
    """The header's one-line run status."""
    if snap is None:
        return "no run yet — choose settings and press Start"
    return (
        f"run {snap.run_id} · {snap.status} · {snap.n_evaluated}/{snap.config.budget} "
        f"candidates · mask v{snap.mask_version} ({snap.mask.size():,} cells)"
        + (f" · training {snap.training}" if snap.training else "")
    )


def register(app: Dash, vc: ViewContext, *, poll_ms: int = 1000) -> None:
    """The header's callbacks (``poll_ms``: the page's fastest poll)."""
    controller = vc.controller

    @app.callback(
        Output(ids.VERSION, "data"),
        Output(ids.STATUS, "children"),
        Output(ids.VIEWER, "data"),
        Output(ids.POLL, "interval"),
        Input(ids.POLL, "n_intervals"),
        State(ids.VERSION, "data"),
        State(ids.VIEWER, "data"),
        State(ids.POLL, "interval"),
    )
    def poll(_n: int | None, version: Any, viewer: Any, every: Any) -> tuple[Any, ...]:
        key, snap = vc.published.get()
        # a tab without an identity gets one (kept in its session storage)
        me = no_update if isinstance(viewer, dict) else vc.access.new_viewer()
        # a big room publishes less often (app.views.sharing), so its tabs poll less often
        # too, in proportion (1 s alone, 3 s when thirty tabs watch)
        pub = vc.published
        slower = pub.interval() / pub.refresh_s if pub.refresh_s > 0 else 1.0
        want = round(poll_ms * max(1.0, slower))
        return (
            no_update if key == version else key,
            status_line(snap),
            me,
            no_update if every == want else want,
        )

    @app.callback(
        Output(ids.HIDE_TRUTH, "value"),
        Output(ids.REVEAL_TRUTH, "n_clicks"),
        Output(ids.HIDE_TRUTH, "options"),
        Output(ids.REVEAL_TRUTH, "disabled"),
        Output(ids.REVEAL_TRUTH, "title"),
        Input(ids.VERSION, "data"),
        Input(ids.HIDE_TRUTH, "value"),
        Input(ids.REVEAL_TRUTH, "n_clicks"),
        State(ids.HIDE_TRUTH, "options"),
    )
    def classroom(_v: Any, hide: Any, reveal: Any, shown: Any) -> Any:
        return classroom_controls(
            has_truth=run_has_truth_now(vc), hide=hide, reveal_clicks=reveal,
            trigger=ctx.triggered_id, shown=shown,
        )  # fmt: skip

    @vc.steering_callback(
        app,
        Output(ids.ALERT, "children", allow_duplicate=True),
        Input(ids.START, "n_clicks"),
        Input(ids.PAUSE, "n_clicks"),
        Input(ids.RESUME, "n_clicks"),
        Input(ids.STOP, "n_clicks"),
        State(ids.STRATEGY, "value"),
        State(ids.PROXY, "value"),
        State(ids.BUDGET, "value"),
        prevent_initial_call=True,
    )
    def command(*args: Any, viewer: Viewer) -> Any:
        strategy, proxy, budget = args[-3:]
        trig = ctx.triggered_id
        actions = {
            ids.START: lambda: controller.start(strategy=strategy, proxy=proxy, budget=budget),
            ids.PAUSE: controller.pause,
            ids.RESUME: controller.resume,
            ids.STOP: controller.stop,
        }
        try:
            msg = actions[trig]()
        except InputError as exc:
            return err(str(exc))
        snap = controller.snapshot()
        return command_ack(msg, snap.status if snap is not None else None)

    @app.callback(
        Output(ids.ALERT, "children", allow_duplicate=True),
        Input(ids.VERSION, "data"),
        State(ids.ALERT, "children"),
        prevent_initial_call=True,
    )
    def command_status(_v: Any, alert: Any) -> Any:
        """A run command's acknowledgement gives way to the run's status once it changes
        (e.g. 'resume sent' after another tab stopped the run)."""
        snap = vc.published.get()[1]
        run_id, status = (snap.run_id, snap.status) if snap is not None else (None, None)
        new = refreshed_alert(alert, run_id, status)
        return no_update if new is None else new
