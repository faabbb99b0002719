"""Candidates in flight: asked by the strategy, scored by the executor, not yet stored.

The runner thread owns every :class:`Pending` and is the only writer of results: a
result is turned into an :class:`~nas_engine.runner.evaluation.Evaluation` here (the
one-shot estimate is taken on this process's supernet when the scores arrive) and then
stored by the session, so storage sees each candidate once whatever happens to workers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from nas_engine.benchmarks import GroundTruth
from nas_engine.distributed import DataSpec, Executor, ExecutorError, ScoredCell, ScoreSpec
from nas_engine.distributed.tasks import score_cells
from nas_engine.proxies import ProxySuite
from nas_engine.runner.evaluation import Evaluation
from nas_engine.supernet import SupernetTrainer


@dataclass(frozen=True)
class Pending:
    """A candidate submitted for scoring.

    Args:
        arch: The cell.
        arch_s: Its string.
        index: Its index in the space.
        mask_version: The mask version it was asked under (stored with it).
        t0: :func:`time.perf_counter` at submission.
        future: The executor's future of its :class:`ScoredCell` list.
    """

    arch: Any
    arch_s: str
    index: int
    mask_version: int
    t0: float
    future: Any


def _score_here(suite: ProxySuite, arch_s: str) -> list[ScoredCell]:
    """The in-process task: the run's own suite, no spec round trip."""
    return [ScoredCell.of(suite.score(arch_s))]


def submit_scoring(executor: Executor, suite: ProxySuite, data: DataSpec, arch_s: str) -> Any:
    """Submit one candidate's proxy scoring: the run's suite in-process, its spec on
    workers (which load the dataset from ``data`` themselves)."""
    if executor.kind == "in-process":
        return executor.submit(_score_here, suite, arch_s)
    return executor.submit(score_cells, ScoreSpec.of_suite(suite, data), [arch_s])


def evaluation(
    executor: Executor,
    p: Pending,
    *,
    trainer: SupernetTrainer | None,
    truth: GroundTruth | None,
) -> Evaluation:
    """The finished candidate's evaluation: its scores, the one-shot estimate now, truth.

    A proxy or supernet exception is the candidate's ``error`` (one bad candidate must
    not stop the search).

    Raises:
        ExecutorError: The task was lost (scheduler gone, worker killed too often).
    """
    scores: dict[str, float] = {}
    secs: dict[str, float] = {}
    oneshot = None
    error = None
    try:
        cells: Sequence[ScoredCell] = executor.result(p.future)
        scores = dict(cells[0].values)
        secs = dict(cells[0].seconds)
        if trainer is not None:
            oneshot = trainer.evaluate(p.arch)
    except ExecutorError:
        raise
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
    known = truth.lookup(p.arch_s) if truth is not None else None
    return Evaluation(scores=scores, seconds=secs, oneshot=oneshot, truth=known, error=error)
