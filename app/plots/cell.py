"""The cell diagram and the op names and colours it uses (NAS-Bench-201's four nodes)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from app.plots.base import _base_layout

NODE_XY = {0: (0.0, 0.0), 1: (1.0, 0.9), 2: (2.0, -0.9), 3: (3.0, 0.0)}


OP_SHORT = {
    "none": "none",
    "skip_connect": "skip",
    "nor_conv_1x1": "conv1x1",
    "nor_conv_3x3": "conv3x3",
    "avg_pool_3x3": "pool3x3",
}


OP_COLOUR = {
    "none": "#9e9e9e",
    "skip_connect": "#2e7d32",
    "nor_conv_1x1": "#1565c0",
    "nor_conv_3x3": "#6a1b9a",
    "avg_pool_3x3": "#ef6c00",
}


def op_label(op: str) -> str:
    """Short display name of an op."""
    return OP_SHORT.get(op, op)


def op_colour(op: str) -> str:
    """Line colour of an op."""
    return OP_COLOUR.get(op, "#555")


def mask_edge(allowed: Sequence[str], pinned: str | None, n_ops: int) -> tuple[str, str]:
    """Label and colour of a graph edge under the mask: the pinned op, the single allowed
    op's colour, or how many ops remain (dark grey)."""
    label = f"{op_label(pinned)} (pinned)" if pinned else f"{len(allowed)}/{n_ops} ops"
    return label, ("#37474f" if len(allowed) > 1 else op_colour(allowed[0]))


def importance_colour(delta: float) -> str:
    """Diverging colour for an op's importance (percentile difference in [-1, 1]):
    green better, red worse, light grey unknown."""
    if not math.isfinite(delta):
        return "#eceff1"
    t = max(-1.0, min(1.0, delta * 2.5))
    end = (102, 187, 106) if t >= 0 else (229, 115, 115)
    t = abs(t)
    r, g, b = (int(base - t * (base - e)) for base, e in zip((236, 239, 241), end, strict=True))
    return f"rgb({r},{g},{b})"


def cell_figure(
    edges: Sequence[tuple[int, int]],
    labels: Sequence[str],
    *,
    colours: Sequence[str] | None = None,
    title: str = "",
) -> dict[str, Any]:
    """The 4-node cell as a DAG, each edge labelled.

    Args:
        edges: ``(from, to)`` node pairs.
        labels: One label per edge (an op name, or a mask summary).
        colours: One line colour per edge.
        title: Figure title.

    Returns:
        A Plotly figure dict.
    """
    data: list[dict[str, Any]] = []
    notes = []
    for k, ((i, j), label) in enumerate(zip(edges, labels, strict=True)):
        (x0, y0), (x1, y1) = NODE_XY[i], NODE_XY[j]
        bend = 0.6 if (i, j) == (0, 3) else (-0.25 if (i, j) == (1, 3) else 0.0)
        at = 13 if (i, j) == (1, 2) else 10  # keep e2's label clear of e3's
        mx, my = (x0 + x1) / 2, (y0 + y1) / 2 + bend
        t = np.linspace(0, 1, 20)
        xs = (1 - t) ** 2 * x0 + 2 * (1 - t) * t * mx + t**2 * x1
        ys = (1 - t) ** 2 * y0 + 2 * (1 - t) * t * my + t**2 * y1
        colour = colours[k] if colours else "#555"
        data.append(
            {
                "type": "scatter",
                "x": xs.round(3).tolist(),
                "y": ys.round(3).tolist(),
                "mode": "lines",
                "line": {"color": colour, "width": 3},
                "hoverinfo": "text",
                "text": f"edge {k} ({i}→{j}): {label}",
                "showlegend": False,
            }
        )
        notes.append(
            {
                "x": float(xs[at]),
                "y": float(ys[at]),
                "text": f"e{k}: {label}",
                "showarrow": False,
                "bgcolor": "rgba(255,255,255,0.85)",
                "font": {"size": 11, "color": colour},
            }
        )
    data.append(
        {
            "type": "scatter",
            "x": [NODE_XY[n][0] for n in NODE_XY],
            "y": [NODE_XY[n][1] for n in NODE_XY],
            "mode": "markers+text",
            "text": ["in", "1", "2", "out"],
            "textposition": "middle center",
            "marker": {"size": 30, "color": "#eceff1", "line": {"color": "#37474f", "width": 2}},
            "hoverinfo": "skip",
            "showlegend": False,
        }
    )
    return {
        "data": data,
        "layout": _base_layout(
            title={"text": title, "font": {"size": 13}} if title else None,
            xaxis={"visible": False, "range": [-0.3, 3.3], "fixedrange": True},
            yaxis={"visible": False, "range": [-1.3, 1.3], "fixedrange": True},
            annotations=notes,
            height=260,
            margin={"l": 5, "r": 5, "t": 30 if title else 5, "b": 5},
        ),
    }
