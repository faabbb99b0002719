"""The work of a search session's thread: SPOS steps, then candidates through the executor.

:class:`SearchFlow` is a mixin of :class:`~nas_engine.runner.session.SearchSession`: it
holds the tick the command loop runs while the search is running, the strategy's asks,
the candidates in flight and their storage. Everything here runs on the session's thread.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import numpy as np

from nas_engine.benchmarks import GroundTruth
from nas_engine.distributed import Executor, ExecutorError
from nas_engine.distributed.tasks import DataSpec
from nas_engine.proxies import ProxySuite
from nas_engine.resources import BudgetError, Region
from nas_engine.runner.config import SearchConfig
from nas_engine.runner.evaluation import fitness
from nas_engine.runner.inflight import Pending, evaluation, submit_scoring
from nas_engine.runner.ranking import top_archs
from nas_engine.runner.spos import store_point, train_chunk
from nas_engine.search_spaces import OpMask, SearchSpace
from nas_engine.storage import CandidateRecord, SQLiteStorage, StorageError
from nas_engine.strategies import Strategy
from nas_engine.supernet import SupernetTrainer

if TYPE_CHECKING:
    from pathlib import Path

    from nas_engine.runner.fidelity import Fidelity
    from nas_engine.runner.snapshot import CurvePoint
    from nas_engine.steering import Steering

#: Most SPOS steps a warm-up tick trains before it publishes a snapshot.
WARMUP_CHUNK = 25
#: Proposals a strategy gets to name a cell the run has not evaluated, before the runner
#: draws one uniformly from the region's cells not evaluated yet.
REDRAWS = 64
#: Seconds between two snapshots while a tick only waits for workers.
IDLE_PUBLISH_S = 1.0


class SearchFlow:
    """SPOS steps, then candidates: one in flight per task slot of the executor."""

    config: SearchConfig
    space: SearchSpace[Any]
    storage: SQLiteStorage
    run_id: int
    executor: Executor
    truth: GroundTruth | None
    checkpoint_path: Path
    _status: str
    _message: str | None
    _not_before: float
    _published_at: float
    _lock: Any
    _candidates: list[CandidateRecord]
    _pending: list[Pending]
    _evaluated: set[int]
    _steps_due: int
    _trainer: SupernetTrainer | None
    _strategy: Strategy
    _suite: ProxySuite
    _data_spec: DataSpec
    _rng: np.random.Generator
    _steering: Steering
    _trained: set[str]
    _curve: list[CurvePoint]

    if TYPE_CHECKING:  # provided by the session and its other bases

        def _set_status(self, status: str) -> None: ...
        def _publish(self) -> None: ...
        def _drain(self, *, block: bool, timeout: float = 0.05) -> None: ...
        def _region(self) -> Region: ...
        def _search_fidelity(self) -> Fidelity: ...
        def _accept_suggestions(self) -> None: ...
        def _train(self, arch_s: str) -> None: ...

    def _tick(self) -> None:
        """SPOS steps, then candidates: the steps owed for the candidates stored since the
        last tick (``steps_per_candidate`` each), then every free task slot filled and the
        results that have arrived stored. Checks the queue after every step. While the
        supernet warms up, a tick trains only (up to :data:`WARMUP_CHUNK` steps).
        In-process this is one candidate per tick, as before the executor seam."""
        warming = self._trainer is not None and self._trainer.step < self.config.supernet_warmup
        if self._trainer is not None and (warming or self._steps_due > 0):
            left = self.config.supernet_warmup - self._trainer.step
            point = train_chunk(
                self._trainer,
                min(left, WARMUP_CHUNK) if warming else self._steps_due,
                mask=self._mask,
                after_step=self._still_running,
                checkpoint_path=self.checkpoint_path,
                checkpoint_every=self.config.checkpoint_every,
            )
            if not warming:
                self._steps_due = 0
            if point is not None:
                store_point(self.storage, self.run_id, point)  # committed before shown
                self._curve.append(point)
            if self._status != "running" or warming:
                self._publish()
                return
        n = len(self._candidates)
        try:
            self._fill()
            self._collect()
        except ExecutorError as exc:
            self._drop_pending()
            self._message = (
                f"{exc}; the run is paused with its {len(self._candidates)} candidates "
                "stored; resume it when the workers are back"
            )
            self._set_status("paused")
        self._steps_due += self.config.steps_per_candidate * (len(self._candidates) - n)
        if len(self._candidates) > n and self.config.pace_s:
            self._not_before = time.monotonic() + self.config.pace_s
        if len(self._candidates) >= self.config.budget:
            self._finish()
        elif len(self._candidates) > n and self.config.accept_suggestions:
            self._accept_suggestions()
        quiet = len(self._candidates) == n and self._status == "running"
        if not quiet or time.monotonic() - self._published_at >= IDLE_PUBLISH_S:
            self._publish()  # while waiting on workers: the status (busy, idle) once a second

    def _mask(self) -> OpMask:
        with self._lock:
            return self._steering.mask

    def _still_running(self) -> bool:
        """Apply queued commands; whether the search is still running."""
        self._drain(block=False)
        return self._status == "running"

    def _ask(self, region: Region) -> Any:
        """The strategy's next proposal that the run has not evaluated (or asked) yet.

        A cell is evaluated once per run: a proposal already evaluated or in flight is
        asked again (up to :data:`REDRAWS` times), then replaced by a uniform draw among
        the region's cells not taken yet (``None`` when the only ones left are in flight).

        Raises:
            BudgetError: Every cell of the region has been evaluated.
        """
        taken = self._evaluated | {p.index for p in self._pending}
        for _ in range(REDRAWS):
            arch = self._strategy.ask(region, self._rng)
            if not region.allows(arch):  # defensive: never evaluate
                raise RuntimeError(f"strategy proposed {arch} outside the mask or budget")
            if self.space.index(arch) not in taken:
                return arch
        left = np.setdiff1d(region.cells, np.fromiter(taken, dtype=np.int64))
        if not len(left):
            if self._pending:
                return None  # the last cells are in flight
            raise BudgetError(
                f"all {region.size:,} cells the mask and budget allow have been evaluated; "
                "widen the mask or the budget to continue"
            )
        return self.space.from_index(int(left[int(self._rng.integers(len(left)))]))

    def _fill(self) -> None:
        """Ask and submit candidates until every task slot is busy (in-process: one,
        scored at once), never more than the budget leaves."""
        while self._status == "running":
            room = self.config.budget - len(self._candidates) - len(self._pending)
            if room <= 0 or len(self._pending) >= self.executor.slots:
                return
            with self._lock:
                version = self._steering.version
            try:
                arch = self._ask(self._region())
            except BudgetError as exc:
                self._message = str(exc)
                self._set_status("paused")
                return
            if arch is None:
                return
            arch_s = self.space.to_string(arch)
            t0 = time.perf_counter()
            fut = submit_scoring(self.executor, self._suite, self._data_spec, arch_s)
            self._pending.append(Pending(arch, arch_s, self.space.index(arch), version, t0, fut))

    def _collect(self) -> None:
        """Store the candidates whose scores have arrived, in the order they arrive
        (waiting a moment for the first when every one is still in flight)."""
        if not self._pending:
            return
        done = self.executor.wait_any([p.future for p in self._pending], 0.1)
        if not done:
            return
        finished = {id(f) for f in done}
        for p in [p for p in self._pending if id(p.future) in finished]:
            self._pending.remove(p)
            self._record(p)
            if self._status != "running":
                return

    def _record(self, p: Pending) -> None:
        ev = evaluation(self.executor, p, trainer=self._trainer, truth=self.truth)
        fid = self._search_fidelity() if self.config.hybrid else None
        fit = fitness(
            ev,
            kind=self._strategy.fitness,
            config=self.config,
            history=self._candidates,
            oneshot_weight=fid.weight if fid is not None else 0.0,
        )
        record = ev.record(
            seq=len(self._candidates),
            arch=p.arch_s,
            mask_version=p.mask_version,
            strategy=self.config.strategy,
            fitness=fit,
            seconds=time.perf_counter() - p.t0,
        )
        try:
            self.storage.add_candidate(  # committed before shown, with the generator state
                self.run_id, record, rng_state=self._rng.bit_generator.state
            )
        except StorageError as exc:
            self._message = str(exc)
            self._set_status("failed")
            return
        with self._lock:
            self._candidates.append(record)
        self._evaluated.add(p.index)
        if ev.error is None:
            self._strategy.tell(p.arch, fit)

    def _drop_pending(self, which: Any = None) -> None:
        """Cancel candidates in flight (all, or those ``which(pending)`` names); they are
        not stored, and the strategy may ask for them again."""
        keep = []
        for p in self._pending:
            if which is None or which(p):
                p.future.cancel()
            else:
                keep.append(p)
        self._pending = keep

    def _finish(self) -> None:
        self._drop_pending()
        if self._trainer is not None:
            self._trainer.save(self.checkpoint_path)
        k = self.config.train_top_k
        if k > 0:
            order = top_archs(  # the same order as ``best``
                self._candidates, k, config=self.config, fitness_kind=self._strategy.fitness,
                fidelity=self._search_fidelity(),
            )  # fmt: skip
            for a in order:
                if a not in self._trained:
                    self._train(a)
                    if self._status != "running":
                        return
        self._set_status("finished")
