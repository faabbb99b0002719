"""Snapshot → pandas: the candidates frame and the metric helpers every view uses."""

from __future__ import annotations

import math
import threading
import weakref
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from nas_engine.analysis import percentiles
from nas_engine.proxies import DEFAULT_ENSEMBLE, list_proxies, proxy_class, rank_ensemble
from nas_engine.proxies.suite import DEFAULT_AGGREGATION
from nas_engine.runner import Snapshot
from nas_engine.runner.evidence import higher_is_better
from nas_engine.runner.fidelity import Fidelity
from nas_engine.search_spaces import OpMask, SearchSpace
from nas_engine.strategies import STRATEGIES, list_strategies

#: Metrics that are not proxies, with their labels.
EXTRA_METRICS = {
    "fitness": "fitness",
    "oneshot": "one-shot estimate (%)",
    "trained_acc": "trained accuracy (%)",
    "truth": "ground truth (%)",
}
TRUTH_METRICS = ("truth",)


def oneshot_fidelity(snap: Snapshot | None, *, hide_truth: bool = False) -> Fidelity | None:
    """The fidelity the page shows for the one-shot estimate (``None``: no supernet).

    With ground truth hidden (classroom), the figure that ignores ground truth."""
    if snap is None or not snap.config.supernet:
        return None
    return snap.search_fidelity if hide_truth else snap.fidelity


def fitness_is_oneshot(snap: Snapshot | None) -> bool:
    """Whether the run's fitness is the one-shot estimate."""
    return snap is not None and STRATEGIES.get(snap.config.strategy).fitness == "oneshot"


def is_oneshot_metric(snap: Snapshot | None, metric: str | None) -> bool:
    """Whether ``metric`` shows the one-shot estimate (``oneshot``, or a one-shot fitness)."""
    return metric == "oneshot" or (metric == "fitness" and fitness_is_oneshot(snap))


def oneshot_note(snap: Snapshot | None, *, hide_truth: bool = False) -> str:
    """``one-shot: <fidelity label>`` for the page, or ``""`` without a supernet."""
    fid = oneshot_fidelity(snap, hide_truth=hide_truth)
    return "" if fid is None else f"one-shot {fid.label()}"


def all_metric_names() -> list[str]:
    """Every metric a view can offer: the registered proxies, then the extras."""
    return [*list_proxies(), *EXTRA_METRICS]


def metric_label(metric: str) -> str:
    """Display label of a metric or column."""
    return EXTRA_METRICS.get(metric, metric)


def strategy_catalogue() -> list[tuple[str, str]]:
    """``(name, description)`` of every registered search strategy."""
    return [(s, STRATEGIES.get(s).description) for s in list_strategies()]


def proxy_names() -> list[str]:
    """The registered proxies, in registry order."""
    return list_proxies()


def proxy_catalogue() -> list[dict[str, Any]]:
    """One row per registered proxy: what it measures, which way is better, its cost."""
    rows = []
    for name in list_proxies():
        cls = proxy_class(name)
        rows.append(
            {
                "proxy": name,
                "what it measures": cls.description,
                "better": "higher" if cls.higher_is_better else "lower",
                "data?": "yes" if cls.needs_data else "no",
                "cost": getattr(cls, "cost", ""),
                "definition": getattr(cls, "definition", ""),
                "paper": getattr(cls, "paper", ""),
            }
        )
    return rows


def candidates_frame(snap: Snapshot | None, space: SearchSpace[Any]) -> pd.DataFrame:
    """One row per evaluated candidate: scores, estimates, truth, ops and index.

    Args:
        snap: The snapshot (``None``: empty frame).
        space: The search space.

    Returns:
        Columns ``seq, arch, index, mask_version, strategy, fitness, oneshot, trained_acc,
        truth, error, created, seconds, e0..e{E-1}`` and one column per proxy score.
    """
    cols = [
        "seq",
        "arch",
        "index",
        "mask_version",
        "strategy",
        "fitness",
        "oneshot",
        "trained_acc",
        "truth",
        "error",
        "created",
        "seconds",
    ]
    if snap is None or not snap.candidates:
        return pd.DataFrame(columns=cols + [f"e{e}" for e in range(space.num_edges)])
    rows = []
    parsed = _parsed_cells(space)
    for c in snap.candidates:
        cell = parsed.get(c.arch)
        if cell is None:  # parsed once per space and cell, not once per snapshot
            a = space.from_string(c.arch)
            cell = parsed[c.arch] = (space.index(a), tuple(space.ops_of(a)))
        row: dict[str, Any] = {
            "seq": c.seq,
            "arch": c.arch,
            "index": cell[0],
            "mask_version": c.mask_version,
            "strategy": c.strategy,
            "fitness": _f(c.fitness),
            "oneshot": _f(c.oneshot),
            "trained_acc": _f(c.trained_acc),
            "truth": _f(c.truth),
            "error": c.error,
            "created": c.created,
            "seconds": c.seconds,
        }
        for e, op in enumerate(cell[1]):
            row[f"e{e}"] = op
        for k, v in c.scores.items():
            row[k] = _f(v)
        rows.append(row)
    return pd.DataFrame(rows)


def _f(v: float | None) -> float:
    return math.nan if v is None else float(v)


#: Per space: arch string → (cell index, op per position). A live run's frame is rebuilt
#: at every snapshot; parsing every candidate's string again was over half of that work.
_PARSED: weakref.WeakKeyDictionary[SearchSpace[Any], dict[str, tuple[int, tuple[str, ...]]]]
_PARSED = weakref.WeakKeyDictionary()
_PARSED_LOCK = threading.Lock()


def _parsed_cells(space: SearchSpace[Any]) -> dict[str, tuple[int, tuple[str, ...]]]:
    with _PARSED_LOCK:
        return _PARSED.setdefault(space, {})


def metric_options(df: pd.DataFrame, *, hide_truth: bool = False) -> list[str]:
    """Metrics available for colouring/comparison: proxies present, then the extras."""
    proxies = [p for p in list_proxies() if p in df.columns]
    extras = [m for m in EXTRA_METRICS if m in df.columns and df[m].notna().any()]
    if hide_truth:
        extras = [m for m in extras if m not in TRUTH_METRICS]
    return proxies + extras


def metric_values(df: pd.DataFrame, metric: str) -> np.ndarray:
    """Values of a metric column (``ensemble`` = rank ensemble of the default members,
    with the default aggregation, over the frame's rows)."""
    if metric == "ensemble":
        members = [m for m in DEFAULT_ENSEMBLE if m in df.columns]
        if not members or df.empty:
            return np.full(len(df), np.nan)
        return rank_ensemble(
            {m: df[m].to_numpy() for m in members}, members, aggregation=DEFAULT_AGGREGATION
        )
    if metric not in df.columns:
        return np.full(len(df), np.nan)
    return df[metric].to_numpy(dtype=float)


def allowed_indices(space: SearchSpace[Any], mask: OpMask) -> np.ndarray:
    """Boolean vector over all cells: does ``mask`` allow cell ``i``?"""
    return space.mask_vector(mask)


def in_budget(snap: Snapshot | None) -> np.ndarray | None:
    """Boolean per cell: inside the run's resource budget (``None`` without a budget)."""
    if snap is None or snap.costs is None or not snap.budget.is_set:
        return None
    return snap.costs.feasible(snap.budget)


def colour_values(values: np.ndarray, scale: str, *, higher: bool = True) -> np.ndarray:
    """Map metric values for colouring: ``rank`` (percentile), ``log`` (signed log10) or
    ``linear``. Undefined values stay ``nan``."""
    v = np.asarray(values, dtype=float)
    if scale == "rank":
        out = percentiles(v, higher_is_better=higher)
        out[~np.isfinite(v)] = np.nan
        return out
    if scale == "log":
        return np.sign(v) * np.log10(1.0 + np.abs(v))
    return v


def correlation_matrix(df: pd.DataFrame, metrics: Sequence[str], method: str) -> pd.DataFrame:
    """Spearman or Kendall correlation among ``metrics`` over the rows of ``df``."""
    from scipy.stats import kendalltau, spearmanr

    fn = spearmanr if method == "spearman" else kendalltau
    out = pd.DataFrame(np.nan, index=list(metrics), columns=list(metrics))
    for i, a in enumerate(metrics):
        for b in metrics[i:]:
            x, y = metric_values(df, a), metric_values(df, b)
            ok = np.isfinite(x) & np.isfinite(y)
            if ok.sum() >= 3 and np.ptp(x[ok]) > 0 and np.ptp(y[ok]) > 0:
                r = float(fn(x[ok], y[ok]).statistic)
                out.loc[a, b] = out.loc[b, a] = r
    return out


def topk_overlap(df: pd.DataFrame, metrics: Sequence[str], k: int) -> pd.DataFrame:
    """Fraction of shared cells among each pair of metrics' top-``k`` (each cell once)."""
    df = df.drop_duplicates("arch", keep="last")
    tops = {}
    for m in metrics:
        v = metric_values(df, m)
        v = v if higher_is_better(m) else -v
        v = np.where(np.isfinite(v), v, -np.inf)
        tops[m] = set(df["arch"].to_numpy()[np.argsort(-v, kind="stable")[:k]])
    out = pd.DataFrame(np.nan, index=list(metrics), columns=list(metrics))
    kk = max(1, min(k, len(df)))
    for a in metrics:
        for b in metrics:
            out.loc[a, b] = len(tops[a] & tops[b]) / kk
    return out


def score_percentiles(df: pd.DataFrame, arch: str, metrics: Sequence[str]) -> list[dict[str, Any]]:
    """Every metric of ``arch`` with its percentile among the evaluated cells."""
    rows = []
    hits = np.flatnonzero(df["arch"].to_numpy() == arch)
    pos = int(hits[-1]) if len(hits) else None  # its latest evaluation
    for m in metrics:
        if pos is None:
            rows.append({"metric": m, "value": math.nan, "percentile": math.nan})
            continue
        v = metric_values(df, m)
        pct = percentiles(v, higher_is_better=higher_is_better(m))[pos]
        val = float(v[pos])
        rows.append(
            {
                "metric": m,
                "value": val,
                "percentile": 100 * pct if math.isfinite(val) else math.nan,
            }
        )
    return rows


def run_has_truth(snap: Snapshot | None) -> bool:
    """Whether the run has ground truth to show or hide (a benchmark is loaded)."""
    return snap is not None and bool(snap.config.benchmark)


def run_metrics(snap: Snapshot | None, df: pd.DataFrame, *, hide_truth: bool = False) -> list[str]:
    """The metrics this run can draw, for the menus: its proxies that have values, then
    fitness, the one-shot estimate (with a supernet), trained accuracy, and ground truth
    (with a benchmark, unless hidden)."""
    if snap is None or df.empty:
        return []

    def has(m: str) -> bool:
        return m in df.columns and bool(df[m].notna().any())

    out = [p for p in snap.config.all_proxies if p in list_proxies() and has(p)]
    shown = {
        "fitness": True,
        "oneshot": bool(snap.config.supernet),
        "trained_acc": True,
        "truth": run_has_truth(snap) and not hide_truth,
    }
    return out + [m for m in EXTRA_METRICS if shown[m] and has(m)]


def unavailable_note(
    snap: Snapshot | None, df: pd.DataFrame, metric: str | None, *, hide_truth: bool = False
) -> str:
    """Why ``metric`` cannot be drawn for this run, for the plot and the menu (``""``
    when it can, or before the run has evaluated a cell)."""
    if not metric or snap is None or df.empty:
        return ""
    if metric in run_metrics(snap, df, hide_truth=hide_truth):
        return ""
    label = metric_label(metric)
    if metric in TRUTH_METRICS and hide_truth and run_has_truth(snap):
        return f"{label}: hidden (classroom mode)"
    if metric in TRUTH_METRICS and not run_has_truth(snap):
        return f"{label}: this run has no benchmark"
    return f"{label}: not computed in this run"


def metric_menu(
    available: Sequence[str], value: str | None, *, note: str = ""
) -> list[dict[str, Any]]:
    """Dropdown options: the ``available`` metrics, and a chosen ``value`` that is not
    among them (a dropdown whose options lose its value clears it): disabled and
    labelled with ``note`` when the run cannot draw it, plain before there is data."""
    opts: list[dict[str, Any]] = [{"label": metric_label(m), "value": m} for m in available]
    if value and value not in available:
        extra = {"label": note or metric_label(value), "value": value}
        opts.append({**extra, "disabled": True} if note else extra)
    return opts


def default_axes(
    snap: Snapshot | None, df: pd.DataFrame, *, hide_truth: bool = False
) -> tuple[str | None, str | None]:
    """The comparison's default axes, two different metrics: fitness against ground truth
    when the run has it and it is shown, else against a proxy other than the fitness
    proxy, else against the one-shot estimate or trained accuracy when fitness is not
    that, else against whatever else there is (``None`` where the run has nothing)."""
    have = run_metrics(snap, df, hide_truth=hide_truth)
    if not have:
        return None, None
    x = "fitness" if "fitness" in have else have[0]
    same = {x, snap.config.proxy if snap is not None else None}
    if fitness_is_oneshot(snap):
        same.add("oneshot")
    others = [m for m in have if m not in same]
    if "truth" in others:
        return x, "truth"
    proxies = [m for m in others if m not in EXTRA_METRICS]
    rest = [m for m in have if m != x]
    return x, (proxies or others or rest or [None])[0]
