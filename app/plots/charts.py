"""Charts of a run: progress, time, supernet curve, attribution, ZiCo terms, rank scatter
and heatmaps."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from app.plots.base import _base_layout, empty_figure


def progress_figure(
    df: pd.DataFrame,
    *,
    show_truth: bool = True,
    oneshot_note: str = "",
    oneshot_informative: bool = True,
) -> dict[str, Any]:
    """Best-so-far against evaluations (fitness, one-shot and ground truth when known).

    Args:
        df: Candidates frame (``seq``, ``fitness``, ``oneshot``, ``truth``).
        show_truth: Draw the ground-truth curve.
        oneshot_note: The one-shot estimate's fidelity, shown in its legend entry.
        oneshot_informative: Draw the one-shot curve dotted and grey when ``False``.

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
        trace = {
            "type": "scatter",
            "mode": "lines",
            "name": name,
            "x": n.tolist(),
            "y": [None if not math.isfinite(x) else x for x in vals.tolist()],
            "yaxis": axis,
        }
        if col == "oneshot" and oneshot_note:
            trace["name"] = f"{name} ({oneshot_note.removeprefix('one-shot ')})"
        if col == "oneshot" and not oneshot_informative:
            trace["line"] = {"dash": "dot", "color": "#999999"}
        data.append(trace)
    return {
        "data": data,
        "layout": _base_layout(
            xaxis={"title": {"text": "evaluations"}},
            yaxis={"title": {"text": "fitness"}},
            yaxis2={"title": {"text": "accuracy %"}, "overlaying": "y", "side": "right"},
            # above the plot, in its own margin: a legend over the plot hid the best curve
            legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0},
            height=300,
            margin={"l": 50, "r": 55, "t": 50, "b": 40},
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
    rows: Sequence[Mapping[str, Any]],
    metric: str,
    *,
    labels: Sequence[str],
    show_truth: bool,
) -> dict[str, Any]:
    """Per position and alternative op: the change of the score (and truth) when swapped in.

    Args:
        rows: Output of ``AppController.neighbours`` (``edge, op, score, base_score,
            truth, base_truth``).
        metric: Name of the score.
        labels: One bar label per row (``e3 → conv3x3``, ``L4 → k5e6``).
        show_truth: Also draw the ground-truth change.

    Returns:
        A Plotly figure dict (horizontal bars, one per one-edit neighbour).
    """
    if not rows:
        return empty_figure("no neighbours")
    labels = list(labels)
    if len(labels) != len(rows):
        raise ValueError(f"{len(labels)} labels for {len(rows)} neighbours")
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
