"""Budget views' data: the best cell in budget and the Pareto front of metric against cost."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from app.viewmodel.frame import higher_is_better, in_budget, metric_options, metric_values
from nas_engine.runner import Snapshot


def best_in_budget_text(snap: Snapshot | None, df: pd.DataFrame) -> str:
    """``best in budget (≤ 50 MFLOPs): ARCH, fitness F, 12.3 MFLOPs`` (or why there is none)."""
    ok = in_budget(snap)
    if ok is None or snap is None:
        return ""
    head = f"best in budget ({snap.budget.describe()}): "
    d = df[df["fitness"].notna()] if not df.empty else df
    d = d[ok[d["index"].to_numpy(dtype=int)]] if len(d) else d
    if d.empty:
        return head + "no evaluated cell yet"
    r = d.loc[d["fitness"].idxmax()]
    i = int(r["index"])
    return head + (
        f"{r['arch']} · fitness {r['fitness']:.4g} · {snap.costs.flops[i]:.2f} MFLOPs · "
        f"{snap.costs.params[i]:.3f} M params"
    )


#: Cost axes of the Pareto view: column key → label.
COSTS = {"flops": "FLOPs (M)", "params": "params (M)", "latency": "latency (ms)"}
_LIMITS = {"flops": "max_flops", "params": "max_params", "latency": "max_latency"}


@dataclass(frozen=True)
class ParetoData:
    """Data of the Pareto view: a metric against a cost over the evaluated cells.

    Args:
        points: One row per evaluated cell: ``cost``, ``value``, ``arch``, ``in_budget``
            and ``frontier`` (not dominated: no other cell is cheaper *and* better).
        x_label: Cost axis label.
        y_label: Metric axis label.
        limit: The budget's limit on this cost (``None``: none), drawn as a line.
        message: Why nothing can be drawn (empty when there is something).
    """

    points: pd.DataFrame
    x_label: str
    y_label: str
    limit: float | None
    message: str


def pareto_front(cost: np.ndarray, value: np.ndarray) -> np.ndarray:
    """Boolean per point: no other point has lower-or-equal cost and a higher value
    (or equal value and lower cost). Undefined values are never on the front."""
    ok = np.isfinite(cost) & np.isfinite(value)
    out = np.zeros(len(cost), dtype=bool)
    order = np.lexsort((-value, cost))  # cheapest first, best first among equal costs
    best = -np.inf
    for i in order:
        if ok[i] and value[i] > best:
            out[i] = True
            best = value[i]
    return out


def pareto_data(
    snap: Snapshot | None,
    df: pd.DataFrame,
    costs: Any,
    *,
    cost: str,
    metric: str | None,
    hide_truth: bool = False,
) -> ParetoData:
    """Every evaluated cell's ``metric`` against its ``cost``, with the front and budget.

    Args:
        snap: The snapshot (gives the budget).
        df: Its candidates frame.
        costs: The run's :class:`~nas_engine.resources.CostTable` (``None``: no run yet).
        cost: ``flops``, ``params`` or ``latency``.
        metric: Requested metric (falls back to fitness when the run lacks it).
        hide_truth: Classroom mode.
    """
    opts = metric_options(df, hide_truth=hide_truth)
    metric = metric if metric in opts else ("fitness" if "fitness" in opts else None)
    x_label, y_label = COSTS.get(cost, cost), str(metric)
    empty = pd.DataFrame(columns=["cost", "value", "arch", "in_budget", "frontier"])

    def nothing(msg: str) -> ParetoData:
        return ParetoData(empty, x_label, y_label, None, msg)

    if costs is None or snap is None:
        return nothing("no run yet: press Start")
    col = getattr(costs, cost, None) if cost in COSTS else None
    if col is None:
        return nothing("no latency table: serve with --set latency=csv:PATH:DEVICE")
    d = df if df.empty else df[df["error"].isna()].drop_duplicates("arch", keep="last")
    if d.empty or metric is None:
        return nothing("no evaluated cells yet")
    idx = d["index"].to_numpy(dtype=int)
    value = metric_values(d, metric)
    signed = value if higher_is_better(metric) else -value
    x = np.asarray(col, dtype=float)[idx]
    ok = in_budget(snap)
    points = pd.DataFrame(
        {
            "cost": x,
            "value": value,
            "arch": d["arch"].to_numpy(),
            "in_budget": ok[idx] if ok is not None else np.ones(len(idx), dtype=bool),
            "frontier": pareto_front(x, signed),
        }
    )
    limit = getattr(snap.budget, _LIMITS[cost])
    if cost == "latency" and getattr(costs, "device", None):
        x_label = f"latency on {costs.device} (ms)"
    return ParetoData(points, x_label, y_label, limit, "")
