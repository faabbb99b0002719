"""Whole-space figures: the 2-D embedding of every cell, a metric against a cost."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from app.plots.base import _base_layout, empty_figure

#: Index of the evaluated cells' trace in :func:`embedding_figure`'s data.
EVALUATED_TRACE = 2

#: Markers of the cells not evaluated, per legend name: a hue and a symbol each, so the
#: three read apart in the plot and in the legend (the evaluated cells, drawn on top, are
#: larger, outlined and coloured by a metric).
BASE_MARKERS: dict[str, dict[str, Any]] = {
    "excluded by mask": {"color": "#b0120a", "symbol": "x", "opacity": 0.35},
    "allowed by mask": {"color": "#455a64", "symbol": "circle", "opacity": 0.35},
    "outside the budget": {"color": "#ef6c00", "symbol": "triangle-up", "opacity": 0.5},
}


def embedding_figure(
    xy: np.ndarray,
    *,
    allowed: np.ndarray,
    evaluated: pd.DataFrame,
    colour: np.ndarray,
    colour_label: str,
    selected_index: int | None = None,
    in_budget: np.ndarray | None = None,
    coloured_name: str = "evaluated",
    note: str = "",
    hover: Sequence[str] = (),
) -> dict[str, Any]:
    """The whole space laid out in 2-D; evaluated cells solid and coloured.

    Args:
        xy: ``(space.size, 2)`` layout.
        allowed: Boolean per cell: inside the current mask.
        evaluated: Rows with ``index`` and ``arch`` columns (evaluated cells).
        colour: One colour value per evaluated row (``nan`` = undefined).
        colour_label: Colour-bar title.
        selected_index: Cell index to ring (the inspected cell).
        in_budget: Boolean per cell: inside the resource budget (``None``: no budget).
            Unevaluated cells of the mask outside it get a trace of their own.
        coloured_name: Legend name of the coloured cells (``evaluated``, or the scored
            cells when the whole space is coloured).
        note: Why the chosen colouring cannot be drawn, shown on the plot (``""``: none).
        hover: One hover line per evaluated cell (its raw value with the unit, and the
            rank): the hover shows it instead of the bare colour value.

    Returns:
        A Plotly figure dict. ``customdata`` carries cell indices for click and selection.
        Trace :data:`EVALUATED_TRACE` is the evaluated cells; the others do not depend on
        them.
    """
    idx_all = np.arange(len(xy))
    ev_idx = evaluated["index"].to_numpy(dtype=int) if len(evaluated) else np.zeros(0, int)
    xy_r = np.round(xy.astype(float), 3)

    def points(sel: np.ndarray) -> dict[str, Any]:
        return {
            "x": xy_r[sel, 0].tolist(),
            "y": xy_r[sel, 1].tolist(),
            "customdata": idx_all[sel].tolist(),
        }

    # the three base traces hold every cell, evaluated or not (the evaluated trace is drawn
    # on top), so they change only with the mask and the budget: a new candidate changes
    # the evaluated trace alone, and a tab showing the figure is patched with that one
    excluded = ~allowed
    free = allowed.copy()
    over = np.zeros(len(xy), dtype=bool) if in_budget is None else free & ~in_budget
    free &= ~over
    c = np.asarray(colour, dtype=float)
    archs = evaluated["arch"].tolist() if len(evaluated) else []
    lines = list(hover) if len(hover) == len(archs) else []  # one per cell, or none
    data = [
        {
            "type": "scattergl",
            "mode": "markers",
            "name": "excluded by mask",
            **points(excluded),
            "marker": {**BASE_MARKERS["excluded by mask"], "size": 4},
            "hovertemplate": "excluded by the mask (cell %{customdata})<extra></extra>",
        },
        {
            "type": "scattergl",
            "mode": "markers",
            "name": "allowed by mask",
            **points(free),
            "marker": {**BASE_MARKERS["allowed by mask"], "size": 4},
            "hovertemplate": "allowed by the mask (cell %{customdata}); click to inspect"
            "<extra></extra>",
        },
        {
            "type": "scattergl",
            "mode": "markers",
            "name": coloured_name,
            "x": xy_r[ev_idx, 0].tolist(),
            "y": xy_r[ev_idx, 1].tolist(),
            "customdata": ev_idx.tolist(),
            "text": (
                [f"{a}<br>{h}" for a, h in zip(archs, lines, strict=True)] if lines else archs
            ),
            "marker": {
                "size": 8 if len(ev_idx) < 2000 else 4,
                "color": [None if not math.isfinite(v) else round(v, 5) for v in c.tolist()],
                "colorscale": "Viridis",
                "showscale": True,
                "colorbar": {"title": {"text": colour_label}, "thickness": 12},
                "line": {"width": 0.5, "color": "#263238"},
            },
            "hovertemplate": (
                "%{text}<extra></extra>"
                if lines
                else "%{text}<br>" + colour_label + ": %{marker.color}<extra></extra>"
            ),
        },
        {
            "type": "scattergl",
            "mode": "markers",
            "name": "outside the budget",
            **points(over),
            "marker": {**BASE_MARKERS["outside the budget"], "size": 4},
            "hovertemplate": "outside the resource budget (cell %{customdata})<extra></extra>",
        },
    ]
    if selected_index is not None and 0 <= selected_index < len(xy):
        data.append(
            {
                "type": "scattergl",
                "mode": "markers",
                "name": "inspected",
                "x": [float(xy_r[selected_index, 0])],
                "y": [float(xy_r[selected_index, 1])],
                "customdata": [int(selected_index)],
                "hoverinfo": "skip",
                "marker": {
                    "size": 16,
                    "color": "rgba(0,0,0,0)",
                    "line": {"width": 2.5, "color": "#d32f2f"},
                },
            }
        )
    return {
        "data": data,
        "layout": _base_layout(
            xaxis={"visible": False},
            yaxis={"visible": False},
            dragmode="lasso",
            # legend symbols at one readable size, not the 4 px of the cells they stand for
            legend={"orientation": "h", "y": -0.02, "itemsizing": "constant"},
            height=430,
            hovermode="closest",
            annotations=[_note(note)] if note else [],
        ),
    }


def _note(text: str) -> dict[str, Any]:
    """A note across the top of a figure (what the chosen setting cannot show)."""
    return {
        "text": text, "showarrow": False, "xref": "paper", "yref": "paper", "x": 0.5,
        "y": 1.0, "yanchor": "bottom", "font": {"size": 13, "color": "#b71c1c"},
        "bgcolor": "rgba(255,255,255,0.85)",
    }  # fmt: skip


def pareto_figure(
    points: pd.DataFrame, *, x_label: str, y_label: str, limit: float | None
) -> dict[str, Any]:
    """A metric against a cost: evaluated cells, the Pareto front, the budget line.

    Args:
        points: Columns ``cost``, ``value``, ``arch``, ``in_budget``, ``frontier``.
        x_label: Cost axis title.
        y_label: Metric axis title.
        limit: The budget's limit on the cost (a vertical line), or ``None``.
    """
    if points.empty:
        return empty_figure("no evaluated cells yet")

    def trace(sel: np.ndarray, name: str, marker: dict[str, Any], **kw: Any) -> dict[str, Any]:
        d = points[sel].sort_values("cost")
        return {
            "type": "scatter",
            "name": name,
            "x": d["cost"].round(4).tolist(),
            "y": [None if not math.isfinite(v) else round(v, 5) for v in d["value"]],
            "text": d["arch"].tolist(),
            "marker": marker,
            "hovertemplate": "%{text}<br>%{x}, %{y}<extra></extra>",
            **kw,
        }

    inside = points["in_budget"].to_numpy(dtype=bool)
    front = points["frontier"].to_numpy(dtype=bool)
    data = [
        trace(inside & ~front, "evaluated", {"size": 6, "color": "#1565c0", "opacity": 0.55},
              mode="markers"),
        trace(~inside & ~front, "outside the budget", {"size": 6, "color": "#bdbdbd"},
              mode="markers"),
        trace(front, "Pareto front", {"size": 9, "color": "#d84315"}, mode="lines+markers",
              line={"color": "#d84315", "width": 2, "shape": "hv"}),
    ]  # fmt: skip
    shapes = []
    if limit is not None:
        shapes.append(
            {
                "type": "line", "xref": "x", "yref": "paper", "x0": limit, "x1": limit,
                "y0": 0, "y1": 1, "line": {"color": "#c62828", "dash": "dash", "width": 2},
            }
        )  # fmt: skip
    return {
        "data": data,
        "layout": _base_layout(
            xaxis={"title": {"text": x_label}},
            yaxis={"title": {"text": y_label}},
            legend={"orientation": "h", "y": 1.12},
            shapes=shapes,
            annotations=[
                {"x": limit, "y": 1, "xref": "x", "yref": "paper", "text": f"budget {limit:g}",
                 "showarrow": False, "yanchor": "bottom", "font": {"color": "#c62828"}}
            ] if limit is not None else [],
            height=330,
        ),
    }  # fmt: skip
