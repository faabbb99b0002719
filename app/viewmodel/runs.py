"""Stored runs side by side: best-so-far curves and a table of settings and results.

Pure functions over the storage's records (read only): nothing here starts, stops or
changes a run.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from nas_engine.storage import CandidateRecord, RunInfo, SQLiteStorage
from nas_engine.strategies import STRATEGIES

#: Columns of the settings-and-results table, in order.
TABLE_COLUMNS = (
    "run",
    "status",
    "strategy",
    "fitness",
    "budget",
    "dataset",
    "pruned",
    "pinned",
    "seed",
    "candidates",
    "best fitness",
    "best truth",
)


@dataclass(frozen=True)
class RunComparison:
    """What the Runs card draws.

    Args:
        curves: Long frame, one row per run and candidate: ``run`` (label), ``n``
            (candidates so far), ``best`` (best ``metric`` so far).
        table: One row per run, columns :data:`TABLE_COLUMNS`.
        metric: What the curves show: ``fitness`` or ``truth``.
        note: Why the curves show that metric (empty when every run has one fitness).
    """

    curves: pd.DataFrame
    table: pd.DataFrame
    metric: str
    note: str


def fitness_kind(config: Mapping[str, Any]) -> str:
    """What a run's fitness measures, in words: runs compare on fitness only when this is
    the same (e.g. ``proxy synflow``, ``one-shot accuracy``)."""
    strategy = str(config.get("strategy", "evolution"))
    try:
        kind = STRATEGIES.get(strategy).fitness  # type: ignore[attr-defined]
    except (KeyError, ValueError):
        kind = "proxy"
    if kind == "oneshot":
        return "one-shot accuracy"
    proxy = str(config.get("proxy", "ensemble"))
    if proxy == "ensemble":
        members = ",".join(config.get("ensemble") or ())
        out = f"ensemble {config.get('aggregation', '')}({members})"
        return out + (" + one-shot" if config.get("hybrid") else "")
    return f"proxy {proxy}"


def mask_counts(storage: SQLiteStorage, run: RunInfo) -> tuple[int, int]:
    """Pruned ops and pinned edges of the run's current mask (its last steering event's
    mask, else the configured prune and pin lists)."""
    events = storage.events(run.id)
    if events:
        mask = events[-1].mask_after
        return sum(len(p) for p in mask.pruned), sum(p is not None for p in mask.pinned)
    return len(run.config.get("prune") or ()), len(run.config.get("pin") or ())


def _finite(v: float | None) -> float:
    return float(v) if v is not None and math.isfinite(float(v)) else math.nan


def _best_so_far(cands: Sequence[CandidateRecord], metric: str) -> np.ndarray:
    vals = np.array([_finite(getattr(c, metric)) for c in cands], dtype=float)
    if vals.size == 0:
        return vals
    return np.fmax.accumulate(vals)


def _label(run: RunInfo) -> str:
    return f"run {run.id}"


def compare_runs(
    storage: SQLiteStorage, run_ids: Sequence[int], *, show_truth: bool = True
) -> RunComparison:
    """Best-so-far curves and the settings-and-results table of the runs ``run_ids``.

    The curves show best fitness when every run's fitness measures the same thing; when
    they differ, best ground truth if every run has it (and ``show_truth``), else best
    fitness with a note that the scales differ.

    Args:
        storage: The run database (only read).
        run_ids: Runs to compare, in table order (unknown ids are skipped).
        show_truth: Whether ground truth may be shown (classroom mode hides it).
    """
    known = {r.id: r for r in storage.list_runs()}
    runs = [known[i] for i in run_ids if i in known]
    cands = {r.id: sorted(storage.candidates(r.id), key=lambda c: c.seq) for r in runs}
    kinds = {r.id: fitness_kind(r.config) for r in runs}
    has_truth = {r.id: any(math.isfinite(_finite(c.truth)) for c in cands[r.id]) for r in runs}
    metric, note = "fitness", ""
    if len(set(kinds.values())) > 1:
        differ = "; ".join(f"{_label(r)}: {kinds[r.id]}" for r in runs)
        if show_truth and all(has_truth.values()):
            metric = "truth"
            note = f"Fitness measures differ ({differ}): the curves compare ground truth."
        else:
            note = (
                f"Fitness measures differ ({differ}): the curves are not on one scale "
                "and no common ground truth can replace them."
            )
    rows: list[dict[str, Any]] = []
    parts = []
    for r in runs:
        cs = cands[r.id]
        best_fit = _best_so_far(cs, "fitness")
        best_truth = _best_so_far(cs, "truth")
        best = best_truth if metric == "truth" else best_fit
        parts.append(
            pd.DataFrame({"run": _label(r), "n": np.arange(1, len(cs) + 1), "best": best})
        )
        pruned, pinned = mask_counts(storage, r)
        cfg = r.config
        rows.append(
            {
                "run": r.id,
                "status": r.status,
                "strategy": cfg.get("strategy", ""),
                "fitness": kinds[r.id],
                "budget": cfg.get("budget"),
                "dataset": cfg.get("dataset", ""),
                "pruned": pruned,
                "pinned": pinned,
                "seed": cfg.get("seed"),
                "candidates": len(cs),
                "best fitness": float(np.nanmax(best_fit)) if np.isfinite(best_fit).any()
                else math.nan,
                "best truth": float(np.nanmax(best_truth))
                if show_truth and np.isfinite(best_truth).any()
                else math.nan,
            }
        )  # fmt: skip
    curves = (
        pd.concat(parts, ignore_index=True)
        if parts
        else pd.DataFrame({"run": [], "n": [], "best": []})
    )
    return RunComparison(
        curves=curves,
        table=pd.DataFrame(rows, columns=list(TABLE_COLUMNS)),
        metric=metric,
        note=note,
    )


def default_runs(runs: Sequence[RunInfo], *, space: str, latest: int = 5) -> list[int]:
    """The runs the card compares at first: the latest ``latest`` runs of ``space``."""
    ids = [r.id for r in runs if r.config.get("space", space) == space]
    return sorted(ids)[-latest:]
