"""What every view shares: the callback opening, the metric dropdown, the card, messages.

A view's callbacks start the same way: take the latest snapshot and its candidates
frame (built once per snapshot version, whichever callback asks first), work out whether
ground truth is hidden, and list the metrics the run has. :meth:`ViewContext.frame` does
that once and returns a :class:`Frame`.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd
from dash import Dash, Output, State, ctx, dcc, html, no_update

from app import ids
from app.access import Access
from app.controller import AppController, InputError
from app.viewmodel import (
    all_metric_names,
    candidates_frame,
    metric_label,
    metric_options,
    run_has_truth,
)
from app.views.sharing import (
    REFRESH_S,
    Published,
    SharedResponses,
    SharedResults,
    ViewerCount,
)

#: States every steering callback gets (see :meth:`ViewContext.steering_callback`).
STEER_STATES = (
    State(ids.VIEWER, "data"),
    State(ids.VIEWER_NAME, "value"),
    State(ids.TOKEN, "value"),
)


class _FrameCache:
    """Candidates frame per published snapshot version, so parallel callbacks build it
    once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.key: Any = None
        self.df: pd.DataFrame | None = None

    def get(self, key: str, snap: Any, space: Any) -> pd.DataFrame:
        with self._lock:
            if key != self.key or self.df is None:
                self.df, self.key = candidates_frame(snap, space), key
            return self.df


@dataclass(frozen=True)
class Frame:
    """The opening of a snapshot-driven callback.

    Args:
        key: The published snapshot's version key (shared results are keyed on it).
        snap: The published snapshot (``None`` before the first run).
        df: Its candidates frame (one row per evaluated candidate).
        hide_truth: Whether ground truth is hidden (classroom mode, not revealed).
        metrics: Metrics the run has data for (truth dropped when hidden).
        options: Dropdown options: every metric, truth dropped when hidden.
    """

    key: str
    snap: Any
    df: pd.DataFrame
    hide_truth: bool
    metrics: list[str]
    options: list[dict[str, str]]

    def pick(self, metric: str | None) -> str | None:
        """``metric`` when the run has it, else fitness, else ``None``."""
        if metric in self.metrics:
            return metric
        return "fitness" if "fitness" in self.metrics else None


class ViewContext:
    """Handed to every view's ``register``: the controller, the published snapshot, the
    results every viewer shares, and who may steer.

    Args:
        controller: The engine bridge.
        access: The steering policy (default: anyone on this machine steers).
        refresh_s: Least seconds between two published snapshot versions.
    """

    def __init__(
        self,
        controller: AppController,
        *,
        access: Access | None = None,
        refresh_s: float = REFRESH_S,
    ) -> None:
        self.controller = controller
        self.space = controller.space
        self.access = access or Access()
        self.viewers = ViewerCount()
        self.published = Published(controller.snapshot, refresh_s=refresh_s, viewers=self.viewers)
        self.shared = SharedResults()
        #: whole answers shared between viewers (installed by :func:`app.create_app`)
        self.responses: SharedResponses | None = None
        #: ``module.function`` of each callback registered with :meth:`steering_callback`
        self.steering_callbacks: list[str] = []
        self._frames = _FrameCache()

    def version(self) -> str:
        """The published snapshot's version key."""
        return self.published.get()[0]

    def steering_callback(self, app: Dash, *deps: Any, **kw: Any) -> Callable[[Any], Any]:
        """Register a callback that changes the search (steer, start, stop, train...).

        The tab's identity, name and token are appended as states. Before the body runs,
        :meth:`Access.viewer` checks them: a refused viewer gets the reason in the alert
        line and every other output is left alone. An untriggered call (a click count of
        0 or ``None``) changes nothing. The body gets the rest of the arguments and
        ``viewer=`` (:class:`~app.access.Viewer`); after it, the published snapshot is
        refreshed so the sender sees the effect at the next poll.
        """
        outputs = [d for d in deps if isinstance(d, Output)]
        alert = [
            (o.component_id, o.component_property) == (ids.ALERT, "children") for o in outputs
        ]
        if not any(alert):
            raise ValueError("a steering callback must write the alert line")

        def answer(message: Any) -> Any:
            out = [message if a else no_update for a in alert]
            return out[0] if len(out) == 1 else tuple(out)

        def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
            def guarded(*args: Any) -> Any:
                *rest, store, name, token = args
                if not ctx.triggered or ctx.triggered[0].get("value") in (None, 0):
                    return answer(no_update)
                try:
                    viewer = self.access.viewer(store, name, token)
                except InputError as exc:
                    return answer(err(str(exc)))
                try:
                    return fn(*rest, viewer=viewer)
                finally:
                    self.published.refresh()

            name = f"{fn.__module__.rsplit('.', 1)[-1]}.{fn.__name__}"
            guarded.__name__ = guarded.__qualname__ = fn.__name__
            guarded.__doc__ = fn.__doc__
            self.steering_callbacks.append(name)
            app.callback(*deps, *STEER_STATES, **kw)(guarded)
            return fn

        return decorate

    def frame(self, hide: Any = None, reveal: Any = None) -> Frame:
        """The shared callback opening (see the module docstring).

        Args:
            hide: Value of the "hide ground truth" checklist.
            reveal: Clicks on "Reveal" since it was last ticked.
        """
        key, snap = self.published.get()
        df = self._frames.get(key, snap, self.space)
        hidden = truth_hidden(hide, reveal)
        return Frame(
            key=key,
            snap=snap,
            df=df,
            hide_truth=hidden,
            metrics=metric_options(df, hide_truth=hidden),
            options=dropdown_options(hidden),
        )


def hashable(value: Any) -> str:
    """A browser-sent value (a selection, a dropdown value) as a result-cache key part."""
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), default=repr)
    except (TypeError, ValueError):
        return repr(value)


def truth_hidden(hide: list[str] | None, reveal_clicks: int | None) -> bool:
    """Whether ground truth is hidden: the box is ticked and Reveal not clicked since
    (Reveal also un-ticks the box: see :func:`classroom_controls`)."""
    return bool(hide) and HIDE in hide and not reveal_clicks


#: The value of the "hide ground truth" box's one option.
HIDE = "hide"
HIDE_LABEL = " hide ground truth (classroom)"
#: What the box hides, every view alike (its tooltip).
HIDES = (
    "Hide ground truth in every view: its columns, its colouring and comparison axis, the "
    "proxies' correlations with it and the one-shot fidelity measured on it"
)
NO_TRUTH = "This run has no ground truth (no benchmark is loaded): there is nothing to hide"


def run_has_truth_now(vc: ViewContext) -> bool:
    """Whether the published run has ground truth (before any run: whether the default
    configuration loads a benchmark)."""
    snap = vc.published.get()[1]
    return run_has_truth(snap) if snap is not None else bool(vc.controller.defaults.benchmark)


def classroom_controls(
    *,
    has_truth: bool,
    hide: list[str] | None,
    reveal_clicks: int | None,
    trigger: Any,
    shown: Any = None,
) -> tuple[Any, Any, Any, bool, str]:
    """The classroom box and Reveal, coherent with what the views hide.

    Reveal shows ground truth and un-ticks the box (the box never claims hidden what is
    shown); ticking the box hides it until the next Reveal. Without ground truth there is
    nothing to hide: the box is unticked and disabled and its tooltip says why. Reveal is
    enabled only while something is hidden.

    Args:
        has_truth: Whether the run has ground truth (:func:`run_has_truth_now`).
        hide: The box's value.
        reveal_clicks: Reveal's clicks since the box was last ticked.
        trigger: The id that fired the callback.
        shown: The box's options as the page has them (not sent again while they say
            the same: the callback runs at every snapshot).

    Returns:
        The box's value, Reveal's clicks, the box's options (each ``no_update`` where
        unchanged), whether Reveal is disabled, and Reveal's tooltip.
    """
    ticked = truth_hidden(hide, 0)
    value: Any = no_update
    clicks: Any = no_update
    if trigger == ids.REVEAL_TRUTH and reveal_clicks:
        value, clicks, ticked = [], 0, False
    elif trigger == ids.HIDE_TRUTH:
        clicks = 0  # ticking the box again hides ground truth until the next Reveal
    if ticked and not has_truth:
        value, ticked = [], False
    label = html.Span(HIDE_LABEL, title=HIDES if has_truth else NO_TRUTH)
    options: Any = [{"label": label, "value": HIDE, "disabled": not has_truth}]
    if _same_box(shown, has_truth):
        options = no_update
    title = "Show ground truth again (un-ticks the box)" if ticked else "Nothing is hidden"
    return value, clicks, options, not ticked, title


def _same_box(shown: Any, has_truth: bool) -> bool:
    """Whether the page's box options already say ``has_truth`` (enabled or not, with a
    tooltip: the layout's plain label has none)."""
    try:
        (opt,) = shown
        title = opt["label"]["props"]["title"]
    except (TypeError, ValueError, KeyError):
        return False
    return bool(opt.get("disabled")) == (not has_truth) and title == (
        HIDES if has_truth else NO_TRUTH
    )


def dropdown_options(hide_truth: bool = False) -> list[dict[str, str]]:
    """Every metric, always (a dropdown whose options lose its value clears the value);
    metrics without data yet draw an explanatory empty figure instead."""
    return [
        {"label": metric_label(m), "value": m}
        for m in all_metric_names()
        if not (hide_truth and m == "truth")
    ]


def metric_dropdown(id_: str, value: str, *, label: str) -> html.Label:
    """A labelled metric dropdown (the options are narrowed by callbacks)."""
    return html.Label(
        [
            f"{label} ",
            dcc.Dropdown(dropdown_options(), value, id=id_, clearable=False, className="small-dd"),
        ]
    )


def card(title: str, help_text: str, *children: Any, cls: str = "") -> html.Div:
    """A titled card with a "?" help toggle."""
    head = html.Div(
        [
            html.H3(title),
            html.Details([html.Summary("?"), html.P(help_text)], className="help"),
        ],
        className="card-head",
    )
    return html.Div([head, *children], className=f"card {cls}".strip())


def ok(msg: str) -> html.Div:
    """An acceptance message for the alert line."""
    return html.Div(msg, className="ok")


def err(msg: str) -> html.Div:
    """A refusal message for the alert line."""
    return html.Div(msg, className="error")


#: Class of a run command's acknowledgement (``resume sent to run 3``): the run's status
#: replaces it once the status changes, in every tab (another tab may stop the run).
COMMAND_ACK = "ok run-command"


def command_ack(msg: str, status: str | None) -> html.Div:
    """A run command's acknowledgement, with the run's status when it was sent."""
    return html.Div(msg, className=COMMAND_ACK, **{"data-status": status or ""})


def refreshed_alert(alert: Any, run_id: int | None, status: str | None) -> html.Div | None:
    """The run's status in place of a run command's acknowledgement (``alert``, as the
    browser holds it) sent under another status; ``None``: leave the alert as it is."""
    props = alert.get("props") if isinstance(alert, dict) else None
    if not isinstance(props, dict) or props.get("className") != COMMAND_ACK:
        return None
    if status is None or props.get("data-status") == status:
        return None
    return command_ack(f"run {run_id} {status}", status)


def fmt(v: Any) -> str:
    """A number for a table cell (``—`` when undefined)."""
    try:
        f = float(v)
    except (TypeError, ValueError):
        return "—"
    if not math.isfinite(f):
        return "—"
    return f"{f:.4g}" if abs(f) < 1e5 else f"{f:.3e}"


def table(rows: pd.DataFrame, *, cls: str, mono: tuple[str, ...] = ()) -> html.Table:
    """An HTML table of a frame: labelled headers, numbers formatted, ``mono`` columns in
    a fixed-width font."""
    head = html.Tr([html.Th(metric_label(c)) for c in rows.columns])
    body = [
        html.Tr(
            [
                html.Td(r[c], className="mono") if c in mono else html.Td(fmt(r[c]))
                for c in rows.columns
            ]
        )
        for _, r in rows.iterrows()
    ]
    return html.Table([head, *body], className=cls)
