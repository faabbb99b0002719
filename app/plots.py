"""Pure figure builders: pandas/numpy in, Plotly figure dicts out (no Dash, no I/O).

Figures are plain dicts (the Plotly JSON schema) rather than ``go.Figure`` objects: the
embedding carries 15,625 points and is rebuilt on every poll, and dicts skip validation.
The tests validate each one with ``plotly.graph_objects.Figure``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

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
FONT = {"family": "system-ui, sans-serif", "size": 12}


def _base_layout(**kw: Any) -> dict[str, Any]:
    lay = {
        "margin": {"l": 40, "r": 10, "t": 30, "b": 35},
        "font": FONT,
        "paper_bgcolor": "white",
        "plot_bgcolor": "white",
        "uirevision": "keep",
    }
    lay.update(kw)
    return lay


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


def empty_figure(message: str) -> dict[str, Any]:
    """A blank figure carrying a centred message."""
    return {
        "data": [],
        "layout": _base_layout(
            xaxis={"visible": False},
            yaxis={"visible": False},
            annotations=[
                {
                    "text": message,
                    "showarrow": False,
                    "font": {"size": 14},
                    "xref": "paper",
                    "yref": "paper",
                    "x": 0.5,
                    "y": 0.5,
                }
            ],
        ),
    }


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


def embedding_figure(
    xy: np.ndarray,
    *,
    allowed: np.ndarray,
    evaluated: pd.DataFrame,
    colour: np.ndarray,
    colour_label: str,
    selected_index: int | None = None,
    in_budget: np.ndarray | None = None,
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

    Returns:
        A Plotly figure dict. ``customdata`` carries cell indices for click and selection.
    """
    idx_all = np.arange(len(xy))
    ev_idx = evaluated["index"].to_numpy(dtype=int) if len(evaluated) else np.zeros(0, int)
    in_ev = np.zeros(len(xy), dtype=bool)
    in_ev[ev_idx] = True
    xy_r = np.round(xy.astype(float), 3)

    def points(sel: np.ndarray) -> dict[str, Any]:
        return {
            "x": xy_r[sel, 0].tolist(),
            "y": xy_r[sel, 1].tolist(),
            "customdata": idx_all[sel].tolist(),
        }

    excluded = ~allowed & ~in_ev
    free = allowed & ~in_ev
    over = np.zeros(len(xy), dtype=bool) if in_budget is None else free & ~in_budget
    free &= ~over
    c = np.asarray(colour, dtype=float)
    data = [
        {
            "type": "scattergl",
            "mode": "markers",
            "name": "excluded by mask",
            **points(excluded),
            "marker": {"size": 3, "color": "#cfd8dc", "opacity": 0.35},
            "hovertemplate": "excluded by the mask (cell %{customdata})<extra></extra>",
        },
        {
            "type": "scattergl",
            "mode": "markers",
            "name": "not evaluated",
            **points(free),
            "marker": {"size": 3, "color": "#90a4ae", "opacity": 0.25},
            "hovertemplate": "not evaluated yet (cell %{customdata}); click to inspect"
            "<extra></extra>",
        },
        {
            "type": "scattergl",
            "mode": "markers",
            "name": "evaluated",
            "x": xy_r[ev_idx, 0].tolist(),
            "y": xy_r[ev_idx, 1].tolist(),
            "customdata": ev_idx.tolist(),
            "text": evaluated["arch"].tolist() if len(evaluated) else [],
            "marker": {
                "size": 8,
                "color": [None if not math.isfinite(v) else round(v, 5) for v in c.tolist()],
                "colorscale": "Viridis",
                "showscale": True,
                "colorbar": {"title": {"text": colour_label}, "thickness": 12},
                "line": {"width": 0.5, "color": "#263238"},
            },
            "hovertemplate": "%{text}<br>" + colour_label + ": %{marker.color}<extra></extra>",
        },
        {
            "type": "scattergl",
            "mode": "markers",
            "name": "outside the budget",
            **points(over),
            "marker": {"size": 3, "color": "#ffab91", "opacity": 0.45},
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
            legend={"orientation": "h", "y": -0.02},
            height=430,
            hovermode="closest",
        ),
    }


def progress_figure(df: pd.DataFrame, *, show_truth: bool = True) -> dict[str, Any]:
    """Best-so-far against evaluations (fitness, one-shot and ground truth when known).

    Args:
        df: Candidates frame (``seq``, ``fitness``, ``oneshot``, ``truth``).
        show_truth: Draw the ground-truth curve.

    Returns:
        A Plotly figure dict.
    """
    if df.empty:
        return empty_figure("no candidates yet: press Start")
    d = df.sort_values("seq")
    n = np.arange(1, len(d) + 1)
    data = []
    for col, name, axis in (
        ("fitness", "best fitness", "y"),
        ("oneshot", "best one-shot %", "y2"),
        ("truth", "truth of best-fitness cell %", "y2"),
    ):
        if col == "truth" and not show_truth:
            continue
        if col == "truth":
            fit = d["fitness"].to_numpy(dtype=float)
            fit = np.where(np.isfinite(fit), fit, -np.inf)
            best_pos = np.maximum.accumulate(
                np.where(fit == np.maximum.accumulate(fit), np.arange(len(fit)), 0)
            )
            vals = d["truth"].to_numpy(dtype=float)[best_pos]
        else:
            v = d[col].to_numpy(dtype=float)
            if not np.isfinite(v).any():
                continue
            vals = np.fmax.accumulate(np.where(np.isfinite(v), v, np.nan))
        if not np.isfinite(vals).any():
            continue
        data.append(
            {
                "type": "scatter",
                "mode": "lines",
                "name": name,
                "x": n.tolist(),
                "y": [None if not math.isfinite(x) else x for x in vals.tolist()],
                "yaxis": axis,
            }
        )
    return {
        "data": data,
        "layout": _base_layout(
            xaxis={"title": {"text": "evaluations"}},
            yaxis={"title": {"text": "fitness"}},
            yaxis2={"title": {"text": "accuracy %"}, "overlaying": "y", "side": "right"},
            legend={"orientation": "h", "y": 1.15},
            height=280,
            margin={"l": 50, "r": 55, "t": 30, "b": 40},
        ),
    }


def time_figure(df: pd.DataFrame) -> dict[str, Any]:
    """Best fitness against wall-clock time since the first candidate."""
    if df.empty:
        return empty_figure("no candidates yet")
    d = df.sort_values("seq")
    t = (d["created"] - d["created"].iloc[0]).to_numpy(dtype=float)
    v = d["fitness"].to_numpy(dtype=float)
    best = np.fmax.accumulate(np.where(np.isfinite(v), v, np.nan))
    return {
        "data": [
            {
                "type": "scatter",
                "mode": "lines",
                "x": t.round(2).tolist(),
                "y": [None if not math.isfinite(x) else x for x in best.tolist()],
                "name": "best fitness",
            }
        ],
        "layout": _base_layout(
            xaxis={"title": {"text": "seconds"}},
            yaxis={"title": {"text": "best fitness"}},
            height=220,
        ),
    }


def supernet_figure(curve: Sequence[Mapping[str, float]]) -> dict[str, Any]:
    """Supernet training loss and accuracy, with throughput in the hover."""
    if not curve:
        return empty_figure("supernet not trained yet")
    steps = [p["step"] for p in curve]
    return {
        "data": [
            {
                "type": "scatter",
                "mode": "lines",
                "name": "loss",
                "x": steps,
                "y": [p["loss"] for p in curve],
            },
            {
                "type": "scatter",
                "mode": "lines",
                "name": "train acc %",
                "x": steps,
                "y": [p["acc"] for p in curve],
                "yaxis": "y2",
                "customdata": [round(p.get("images_per_s", math.nan), 1) for p in curve],
                "hovertemplate": "step %{x}: %{y:.1f}% (%{customdata} img/s)<extra></extra>",
            },
        ],
        "layout": _base_layout(
            xaxis={"title": {"text": "supernet step"}},
            yaxis={"title": {"text": "loss"}},
            yaxis2={"title": {"text": "acc %"}, "overlaying": "y", "side": "right"},
            margin={"l": 50, "r": 55, "t": 30, "b": 40},
            legend={"orientation": "h", "y": 1.15},
            height=220,
        ),
    }


def attribution_figure(
    rows: Sequence[Mapping[str, Any]], metric: str, *, show_truth: bool
) -> dict[str, Any]:
    """Per edge and alternative op: the change of the score (and truth) when swapped in.

    Args:
        rows: Output of ``AppController.neighbours`` (``edge, op, score, base_score,
            truth, base_truth``).
        metric: Name of the score.
        show_truth: Also draw the ground-truth change.

    Returns:
        A Plotly figure dict (horizontal bars, one per one-edit neighbour).
    """
    if not rows:
        return empty_figure("no neighbours")
    labels = [f"e{r['edge']} → {OP_SHORT.get(r['op'], r['op'])}" for r in rows]
    d_score = [_delta(r["score"], r["base_score"]) for r in rows]
    data = [
        {
            "type": "bar",
            "orientation": "h",
            "y": labels,
            "x": d_score,
            "name": f"Δ {metric}",
            "xaxis": "x",
            "marker": {"color": ["#2e7d32" if (v or 0) > 0 else "#c62828" for v in d_score]},
        }
    ]
    layout = _base_layout(
        height=max(260, 18 * len(rows)),
        barmode="group",
        showlegend=False,
        yaxis={"autorange": "reversed", "automargin": True},
        xaxis={
            "title": {"text": f"Δ {metric} if swapped"},
            "domain": [0, 0.48] if show_truth else [0, 1],
        },
    )
    if show_truth:
        d_truth = [_delta(r["truth"], r["base_truth"]) for r in rows]
        data.append(
            {
                "type": "bar",
                "orientation": "h",
                "y": labels,
                "x": d_truth,
                "name": "Δ ground truth",
                "xaxis": "x2",
                "marker": {"color": ["#1565c0" if (v or 0) > 0 else "#ef6c00" for v in d_truth]},
            }
        )
        layout["xaxis2"] = {"title": {"text": "Δ ground truth (points)"}, "domain": [0.52, 1]}
    return {"data": data, "layout": layout}


def _delta(a: Any, b: Any) -> float | None:
    try:
        v = float(a) - float(b)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def zico_layers_figure(terms: Mapping[str, float]) -> dict[str, Any]:
    """ZiCo's per-layer ``log S_l`` terms as bars (the score is their sum)."""
    if not terms:
        return empty_figure("ZiCo is undefined for this cell (no gradient spread)")
    names = list(terms)
    return {
        "data": [
            {
                "type": "bar",
                "x": names,
                "y": [round(terms[n], 4) for n in names],
                "marker": {"color": "#6a1b9a"},
                "hovertemplate": "%{x}<br>log S = %{y}<extra></extra>",
            }
        ],
        "layout": _base_layout(
            height=260,
            xaxis={
                "showticklabels": False,
                "title": {"text": f"{len(names)} layers (input → output)"},
            },
            yaxis={"title": {"text": "log S_l"}},
            title={"text": f"ZiCo = Σ log S_l = {sum(terms.values()):.2f}", "font": {"size": 13}},
        ),
    }


def rank_scatter(points: pd.DataFrame, *, x_label: str, y_label: str) -> dict[str, Any]:
    """Scatter of two metrics on a percentile-rank scale.

    Args:
        points: Columns ``x`` and ``y`` (rank percentiles, 0–100) and ``arch``.
        x_label: Name of the x metric.
        y_label: Name of the y metric.
    """
    if len(points) < 2:
        return empty_figure(f"no cells with values of both {x_label} and {y_label} yet")
    return {
        "data": [
            {
                "type": "scattergl",
                "mode": "markers",
                "x": points["x"].to_numpy(dtype=float).round(2).tolist(),
                "y": points["y"].to_numpy(dtype=float).round(2).tolist(),
                "text": list(points["arch"]),
                "marker": {"size": 6, "color": "#1565c0", "opacity": 0.7},
                "hovertemplate": "%{text}<extra></extra>",
            }
        ],
        "layout": _base_layout(
            xaxis={"title": {"text": f"{x_label} (rank percentile)"}},
            yaxis={"title": {"text": f"{y_label} (rank percentile)"}},
            height=330,
        ),
    }


def heatmap_figure(mat: pd.DataFrame, *, title: str, zmin: float = -1.0) -> dict[str, Any]:
    """A labelled heatmap (correlations or overlaps)."""
    if mat.empty:
        return empty_figure("nothing to compare yet")
    z = [
        [None if not math.isfinite(v) else round(v, 3) for v in row]
        for row in mat.to_numpy(dtype=float).tolist()
    ]
    return {
        "data": [
            {
                "type": "heatmap",
                "z": z,
                "x": list(mat.columns),
                "y": list(mat.index),
                "zmin": zmin,
                "zmax": 1,
                "colorscale": "RdBu",
                "reversescale": True,
                "texttemplate": "%{z:.2f}",
                "hovertemplate": "%{y} vs %{x}: %{z}<extra></extra>",
            }
        ],
        "layout": _base_layout(
            title={"text": title, "font": {"size": 13}},
            height=360,
            yaxis={"autorange": "reversed", "automargin": True},
            xaxis={"automargin": True},
        ),
    }


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
