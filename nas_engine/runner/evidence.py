"""A run's steering evidence: op effects and suggestions over its evaluated cells.

The one place that turns candidates into the values of a metric and hands them to
:mod:`nas_engine.evidence`, so the page, ``nasnav suggest``, a search that accepts
suggestions and ``benchmarks/steering_benefit.py`` all judge the same numbers.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nas_engine.evidence import (
    ALPHA,
    MIN_CELLS,
    MIN_EFFECT,
    OpEffect,
    Suggestion,
    op_effects,
    suggest,
)
from nas_engine.proxies import list_proxies, proxy_class, rank_ensemble
from nas_engine.resources import CostTable, ResourceBudget
from nas_engine.runner.config import SearchConfig
from nas_engine.runner.fidelity import Fidelity, search_fidelity
from nas_engine.runner.ranking import ranked
from nas_engine.search_spaces import OpMask, SearchSpace
from nas_engine.storage import CandidateRecord

#: Metrics that are not proxies: the run's order (``fitness``), the rank ensemble of
#: the run's members, the one-shot estimate, from-scratch accuracy and ground truth.
RUN_METRICS = ("fitness", "ensemble", "oneshot", "trained_acc", "truth")


def higher_is_better(metric: str) -> bool:
    """Whether larger values of ``metric`` are better."""
    return proxy_class(metric).higher_is_better if metric in list_proxies() else True


def candidate_values(
    cands: Sequence[CandidateRecord],
    metric: str,
    *,
    config: SearchConfig,
    fitness_kind: str,
    fidelity: Fidelity | None = None,
) -> np.ndarray:
    """One value of ``metric`` per candidate (``nan`` where it has none).

    ``fitness`` is the run's own order (:func:`~nas_engine.runner.ranking.ranked`, the
    order of ``best``): the best cell gets the largest value. An ensemble's online
    fitness is judged on the cells before it, so it is not comparable across a run.

    Raises:
        ValueError: An unknown metric (the message lists the known ones).
    """
    if metric == "fitness":
        order = ranked(cands, config=config, fitness_kind=fitness_kind, fidelity=fidelity)
        pos = {id(c): len(order) - i for i, c in enumerate(order)}
        return np.array([pos.get(id(c), math.nan) for c in cands], dtype=np.float64)
    if metric == "ensemble":
        members = list(config.ensemble)
        vals = {m: [c.scores.get(m, math.nan) for c in cands] for m in members}
        if not cands:
            return np.zeros(0)
        return rank_ensemble(vals, members, aggregation=config.aggregation)
    if metric in ("oneshot", "trained_acc", "truth"):
        return np.array([_f(getattr(c, metric)) for c in cands], dtype=np.float64)
    if metric in list_proxies():
        return np.array([_f(c.scores.get(metric)) for c in cands], dtype=np.float64)
    known = ", ".join([*list_proxies(), *RUN_METRICS])
    raise ValueError(f"unknown metric {metric!r}; known: {known}")


@dataclass(frozen=True)
class Evidence:
    """Op effects and suggestions of a run on one metric.

    Args:
        metric: The metric.
        effects: One :class:`~nas_engine.evidence.OpEffect` per position and op.
        suggestions: The prunes the evidence supports (possibly none).
        cells: Distinct cells the effects are computed over.
        note: Why there are no suggestions when that is not for lack of evidence
            (e.g. an uninformative one-shot estimate), else ``""``.
    """

    metric: str
    effects: tuple[OpEffect, ...]
    suggestions: tuple[Suggestion, ...]
    cells: int
    note: str = ""
    _by_key: dict[tuple[int, str], OpEffect] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_key", {(e.position, e.op): e for e in self.effects})

    def effect(self, position: int, op: str) -> OpEffect | None:
        """The effect of ``op`` at ``position`` (``None``: not computed)."""
        return self._by_key.get((position, op))


def run_evidence(
    cands: Sequence[CandidateRecord],
    space: SearchSpace[Any],
    mask: OpMask,
    *,
    config: SearchConfig,
    fitness_kind: str,
    metric: str = "fitness",
    fidelity: Fidelity | None = None,
    budget: ResourceBudget | None = None,
    costs: CostTable | None = None,
    selection: Collection[int] | None = None,
    min_cells: int = MIN_CELLS,
    min_effect: float = MIN_EFFECT,
    alpha: float = ALPHA,
    seed: int = 0,
) -> Evidence:
    """The evidence of a run's cells on ``metric``, and the prunes it supports.

    Values are computed over every candidate (so ``fitness`` is the run's full order),
    then the effects use each distinct cell once (its latest evaluation), without
    failed cells, restricted to ``selection`` (cell indices, e.g. a lasso) and, when a
    resource budget is set and ``costs`` are given, to the cells inside the budget (the
    only ones the search can still ask). A suggestion the budget would refuse (no cell
    left) is not made.

    Args:
        cands: The run's candidates, in order.
        space: The search space.
        mask: The mask in force.
        config: The run's configuration.
        fitness_kind: The strategy's fitness kind (``proxy`` or ``oneshot``).
        metric: A proxy, or one of :data:`RUN_METRICS`.
        fidelity: The search fidelity of the one-shot estimate (computed when needed).
        budget: The resource budget in force.
        costs: Costs of every cell (needed to honour ``budget``).
        selection: Cell indices to restrict the evidence to.
        min_cells: See :func:`~nas_engine.evidence.suggest`.
        min_effect: See :func:`~nas_engine.evidence.suggest`.
        alpha: See :func:`~nas_engine.evidence.suggest`.
        seed: Bootstrap seed.
    """
    oneshot = metric == "oneshot" or (metric == "fitness" and fitness_kind == "oneshot")
    if oneshot and fidelity is None and cands:
        fidelity = search_fidelity(cands, members=list(config.ensemble),
                                   aggregation=config.aggregation)  # fmt: skip
    values = candidate_values(
        cands, metric, config=config, fitness_kind=fitness_kind, fidelity=fidelity
    )
    feasible = costs.feasible(budget) if (budget is not None and budget.is_set and costs) else None
    chosen = set(selection) if selection is not None else None
    latest: dict[str, int] = {}
    for i, c in enumerate(cands):
        if c.error is None:
            latest[c.arch] = i
    rows, vals = [], []
    for arch, i in latest.items():
        a = space.from_string(arch)
        if chosen is not None or feasible is not None:
            idx = space.index(a)
            if (chosen is not None and idx not in chosen) or (
                feasible is not None and not feasible[idx]
            ):
                continue
        rows.append(space.ops_of(a))
        vals.append(values[i])
    effects = op_effects(
        rows, vals, op_names=space.ops, higher_is_better=higher_is_better(metric), seed=seed
    )
    cells = int(np.isfinite(np.asarray(vals, dtype=np.float64)).sum()) if vals else 0
    note = ""
    if oneshot and fidelity is not None and not fidelity.informative:
        note = f"no suggestions from the one-shot estimate: {fidelity.label()}"
        return Evidence(metric, tuple(effects), (), cells, note)
    check: Callable[[OpMask], object] | None = None
    if feasible is not None and costs is not None and budget is not None:

        def check(m: OpMask) -> object:
            return costs.check(budget, space.mask_vector(m), what="the mask after this prune")

    sugg = suggest(
        effects, mask, metric=metric, min_cells=min_cells, min_effect=min_effect,
        alpha=alpha, check=check, where=space.position_label,
    )  # fmt: skip
    return Evidence(metric, tuple(effects), tuple(sugg), cells, note)


def _f(v: float | None) -> float:
    return math.nan if v is None else float(v)


#: Prefix of the note of a steering event that accepted a suggestion.
ACCEPTED = "accepted suggestion: "


def accept(
    suggestions: Sequence[Suggestion],
    steer: Callable[..., object],
) -> tuple[list[Suggestion], list[str]]:
    """Accept suggestions through the ordinary steering path, in order.

    Args:
        suggestions: The suggestions to accept.
        steer: The steering entry point, called as ``steer(action, position, op,
            note=...)`` (a session's or controller's ``steer``, or
            :meth:`~nas_engine.steering.Steering.apply`); it raises
            :class:`~nas_engine.search_spaces.MaskError` to refuse.

    Returns:
        The accepted suggestions, and the reasons of the refused ones.
    """
    from nas_engine.search_spaces import MaskError

    done, refused = [], []
    for s in suggestions:
        try:
            steer(s.action, s.position, s.op, note=ACCEPTED + s.note())
        except MaskError as exc:
            refused.append(f"{s.key}: {exc}")
        else:
            done.append(s)
    return done, refused
