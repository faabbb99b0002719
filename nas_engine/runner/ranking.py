"""Ordering evaluated candidates best first (the order of ``best`` and of top-k)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from nas_engine.proxies.suite import rank_ensemble
from nas_engine.runner.config import SearchConfig
from nas_engine.storage import CandidateRecord


def ranked(
    cands: Sequence[CandidateRecord], *, config: SearchConfig, fitness_kind: str
) -> list[CandidateRecord]:
    """Scored candidates, best first.

    When the fitness is the ensemble, order by the rank ensemble over *all* evaluated
    cells (an early cell's online percentile is judged on few peers); else by fitness.

    Args:
        cands: Evaluated candidates, in order.
        config: Gives the fitness proxy and the ensemble members.
        fitness_kind: The strategy's fitness kind (``"proxy"`` or ``"oneshot"``).

    Returns:
        The candidates with a finite fitness; ties keep their evaluation order.
    """
    scored = [c for c in cands if c.fitness is not None and math.isfinite(c.fitness)]
    if config.proxy == "ensemble" and fitness_kind == "proxy" and scored:
        members = list(config.ensemble)
        ens = rank_ensemble(
            {m: [c.scores.get(m, math.nan) for c in scored] for m in members},
            members,
            aggregation=config.aggregation,
        )
        order = np.argsort(-ens, kind="stable")
        return [scored[int(i)] for i in order]
    return sorted(scored, key=lambda c: -float(c.fitness))  # type: ignore[arg-type]


def best(
    cands: Sequence[CandidateRecord], *, config: SearchConfig, fitness_kind: str
) -> CandidateRecord | None:
    """The first of :func:`ranked`, or ``None`` when nothing is scored."""
    order = ranked(cands, config=config, fitness_kind=fitness_kind)
    return order[0] if order else None


def top_archs(
    cands: Sequence[CandidateRecord], k: int, *, config: SearchConfig, fitness_kind: str
) -> list[str]:
    """The ``k`` best distinct cells (strings), in :func:`ranked` order."""
    seen: list[str] = []
    for c in ranked(cands, config=config, fitness_kind=fitness_kind):
        if len(seen) == k:
            break
        if c.arch not in seen:
            seen.append(c.arch)
    return seen
