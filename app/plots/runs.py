"""Stored runs compared: best-so-far curves on one plot."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from app.plots.base import _base_layout, empty_figure

#: Axis titles of the curves' metric.
METRIC_TITLES = {"fitness": "best fitness so far", "truth": "best ground truth so far"}


def runs_figure(curves: pd.DataFrame, *, metric: str = "fitness") -> dict[str, Any]:
    """One best-so-far line per run against the number of candidates.

    Args:
        curves: Long frame with ``run`` (line label), ``n`` and ``best`` columns.
        metric: What ``best`` measures (``fitness`` or ``truth``).
    """
    if curves.empty:
        return empty_figure("no candidates in the chosen runs")
    data = []
    for run, d in curves.groupby("run", sort=False):
        d = d.sort_values("n")
        data.append(
            {
                "type": "scatter",
                "mode": "lines",
                "name": str(run),
                "x": d["n"].astype(int).tolist(),
                "y": [None if not math.isfinite(v) else float(v) for v in d["best"]],
            }
        )
    return {
        "data": data,
        "layout": _base_layout(
            xaxis={"title": {"text": "candidates"}},
            yaxis={"title": {"text": METRIC_TITLES.get(metric, metric)}},
            legend={"orientation": "h", "y": -0.25},
            height=260,
        ),
    }
