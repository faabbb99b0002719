"""Evaluating one candidate: its scores and its fitness."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

from nas_engine.proxies.suite import ONESHOT, percentile_fitness
from nas_engine.runner.config import SearchConfig
from nas_engine.storage import CandidateRecord


@dataclass(frozen=True)
class Evaluation:
    """What scoring one candidate produced.

    Args:
        scores: Proxy name → value.
        seconds: Proxy name → seconds spent.
        oneshot: One-shot accuracy from the supernet, if there is one.
        truth: Ground-truth accuracy, if known.
        error: ``"Type: message"`` when scoring raised (scores may then be partial).
    """

    scores: dict[str, float]
    seconds: dict[str, float]
    oneshot: float | None
    truth: float | None
    error: str | None

    def record(
        self,
        *,
        seq: int,
        arch: str,
        mask_version: int,
        strategy: str,
        fitness: float | None,
        seconds: float,
    ) -> CandidateRecord:
        """The stored form of this evaluation (created now)."""
        return CandidateRecord(
            seq=seq,
            arch=arch,
            mask_version=mask_version,
            strategy=strategy,
            scores=self.scores,
            proxy_seconds=self.seconds,
            fitness=fitness,
            oneshot=self.oneshot,
            truth=self.truth,
            error=self.error,
            created=time.time(),
            seconds=seconds,
        )


def fitness(
    ev: Evaluation,
    *,
    kind: str,
    config: SearchConfig,
    history: Sequence[CandidateRecord],
    oneshot_weight: float = 0.0,
) -> float | None:
    """The fitness a strategy is told for one scored candidate.

    Args:
        ev: The candidate's evaluation.
        kind: The strategy's fitness kind (``"oneshot"`` or ``"proxy"``).
        config: Gives the fitness proxy (or ``"ensemble"``) and the ensemble members.
        history: Candidates evaluated before it (the ensemble's reference).
        oneshot_weight: With ``config.hybrid``, the one-shot member's weight (its search
            fidelity; 0 leaves it out, as does a candidate without an estimate).

    Returns:
        The fitness, or ``None`` when scoring failed or the value is undefined.
    """
    if ev.error is not None:
        return None
    if kind == "oneshot":
        return ev.oneshot
    if config.proxy != "ensemble":
        v = ev.scores.get(config.proxy)
        return None if v is None or not math.isfinite(v) else v
    # ensemble: the candidate's rank among the evaluated candidates, per member
    members = list(config.ensemble)
    if config.hybrid and oneshot_weight > 0 and ev.oneshot is not None:
        return percentile_fitness(
            {**ev.scores, ONESHOT: ev.oneshot},
            [{**c.scores, ONESHOT: _nan(c.oneshot)} for c in history],
            [*members, ONESHOT],
            aggregation=config.aggregation,
            weights={ONESHOT: oneshot_weight},
        )
    return percentile_fitness(
        ev.scores, [c.scores for c in history], members, aggregation=config.aggregation
    )


def _nan(v: float | None) -> float:
    return math.nan if v is None else v
