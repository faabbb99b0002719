"""Ordering evaluated candidates best first (the order of ``best`` and of top-k)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from nas_engine.proxies.suite import ONESHOT, rank_ensemble
from nas_engine.runner.config import SearchConfig
from nas_engine.runner.fidelity import Fidelity, search_fidelity
from nas_engine.storage import CandidateRecord


def ranked(
    cands: Sequence[CandidateRecord],
    *,
    config: SearchConfig,
    fitness_kind: str,
    fidelity: Fidelity | None = None,
) -> list[CandidateRecord]:
    """Scored candidates, best first.

    * Ensemble fitness: the rank ensemble over *all* evaluated cells (an early cell's
      online percentile is judged on few peers); with ``hybrid``, the one-shot estimate
      joins as a member weighted by its fidelity (cells without an estimate get the
      median one, so the member is neutral for them).
    * One-shot fitness: by the estimate while it is informative; while it is not, by
      the zero-cost ensemble when the cells carry its members.
    * Otherwise: by fitness.

    Args:
        cands: Evaluated candidates, in order.
        config: Gives the fitness proxy and the ensemble members.
        fitness_kind: The strategy's fitness kind (``"proxy"`` or ``"oneshot"``).
        fidelity: The search fidelity of the one-shot estimate (computed from ``cands``
            when needed and not given; never from ground truth).

    Returns:
        The candidates with a finite fitness; ties keep their evaluation order.
    """
    scored = [c for c in cands if c.fitness is not None and math.isfinite(c.fitness)]
    if not scored:
        return []
    members = list(config.ensemble)
    has_members = all(m in c.scores for c in scored for m in members)
    use_ensemble = config.proxy == "ensemble" and fitness_kind == "proxy"
    weights: dict[str, float] = {}
    if (config.hybrid and use_ensemble) or (fitness_kind == "oneshot" and has_members):
        fid = fidelity
        if fid is None:
            fid = search_fidelity(cands, members=members, aggregation=config.aggregation)
        if fitness_kind == "oneshot":
            use_ensemble = not fid.informative
        elif fid.informative:
            weights[ONESHOT] = fid.weight
    if not use_ensemble:
        return sorted(scored, key=lambda c: -float(c.fitness))  # type: ignore[arg-type]
    values = {m: [c.scores.get(m, math.nan) for c in scored] for m in members}
    if weights:
        est = np.array([math.nan if c.oneshot is None else c.oneshot for c in scored])
        fill = float(np.nanmedian(est)) if np.isfinite(est).any() else 0.0
        values[ONESHOT] = np.where(np.isfinite(est), est, fill).tolist()
    names = [*members, *weights]
    ens = rank_ensemble(values, names, aggregation=config.aggregation, weights=weights)
    order = np.argsort(-ens, kind="stable")
    return [scored[int(i)] for i in order]


def best(
    cands: Sequence[CandidateRecord],
    *,
    config: SearchConfig,
    fitness_kind: str,
    fidelity: Fidelity | None = None,
) -> CandidateRecord | None:
    """The first of :func:`ranked`, or ``None`` when nothing is scored."""
    order = ranked(cands, config=config, fitness_kind=fitness_kind, fidelity=fidelity)
    return order[0] if order else None


def top_archs(
    cands: Sequence[CandidateRecord],
    k: int,
    *,
    config: SearchConfig,
    fitness_kind: str,
    fidelity: Fidelity | None = None,
) -> list[str]:
    """The ``k`` best distinct cells (strings), in :func:`ranked` order."""
    seen: list[str] = []
    for c in ranked(cands, config=config, fitness_kind=fitness_kind, fidelity=fidelity):
        if len(seen) == k:
            break
        if c.arch not in seen:
            seen.append(c.arch)
    return seen
