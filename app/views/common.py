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
from app.viewmodel import all_metric_names, candidates_frame, metric_label, metric_options
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
    """Whether ground truth is hidden: the box is ticked and Reveal not clicked since."""
    return bool(hide) and "hide" in hide and not reveal_clicks


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
