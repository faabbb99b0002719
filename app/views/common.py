"""What every view shares: the callback opening, the metric dropdown, the card, messages.

A view's callbacks start the same way: take the latest snapshot and its candidates
frame (built once per snapshot version, whichever callback asks first), work out whether
ground truth is hidden, and list the metrics the run has. :meth:`ViewContext.frame` does
that once and returns a :class:`Frame`.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import Any

import pandas as pd
from dash import dcc, html

from app.controller import AppController
from app.viewmodel import all_metric_names, candidates_frame, metric_label, metric_options


class _FrameCache:
    """Candidates frame per snapshot version, so parallel callbacks build it once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.key: Any = None
        self.df: pd.DataFrame | None = None

    def get(self, controller: AppController) -> tuple[Any, pd.DataFrame]:
        snap = controller.snapshot()
        key = None if snap is None else (snap.run_id, snap.updated, len(snap.candidates))
        with self._lock:
            if key != self.key or self.df is None:
                self.df, self.key = candidates_frame(snap, controller.space), key
            return snap, self.df


@dataclass(frozen=True)
class Frame:
    """The opening of a snapshot-driven callback.

    Args:
        snap: The live snapshot (``None`` before the first run).
        df: Its candidates frame (one row per evaluated candidate).
        hide_truth: Whether ground truth is hidden (classroom mode, not revealed).
        metrics: Metrics the run has data for (truth dropped when hidden).
        options: Dropdown options: every metric, truth dropped when hidden.
    """

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
    """Handed to every view's ``register``: the controller and the shared frame cache.

    Args:
        controller: The engine bridge.
    """

    def __init__(self, controller: AppController) -> None:
        self.controller = controller
        self.space = controller.space
        self._frames = _FrameCache()

    def frame(self, hide: Any = None, reveal: Any = None) -> Frame:
        """The shared callback opening (see the module docstring).

        Args:
            hide: Value of the "hide ground truth" checklist.
            reveal: Clicks on "Reveal" since it was last ticked.
        """
        snap, df = self._frames.get(self.controller)
        hidden = truth_hidden(hide, reveal)
        return Frame(
            snap=snap,
            df=df,
            hide_truth=hidden,
            metrics=metric_options(df, hide_truth=hidden),
            options=dropdown_options(hidden),
        )


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
