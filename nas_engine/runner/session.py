"""A search session: one background thread, a command queue, and frozen snapshots.

The thread alternates SPOS supernet training steps with candidate evaluations. Commands
(start, pause, resume, stop, steering, strategy/proxy changes, training requests) are
validated at once in the caller's thread — a refused command raises there with the reason
— and then queued; the thread drains the queue after every training step and before every
candidate, so a new mask takes effect on the very next candidate and pause/stop take
effect within one training step.

Every result is committed to storage *before* the snapshot shows it. The UI, the CLI and
notebooks only call :meth:`SearchSession.snapshot` and the command methods.

This module holds the run's state, its commands and its snapshots; the thread's work
(SPOS steps, then candidates in flight on the executor) is in :mod:`.flow`, and training
from scratch in :mod:`.scratch`.
"""

from __future__ import annotations

import dataclasses
import threading
import time
import traceback
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from nas_engine.benchmarks import GroundTruth, load_ground_truth
from nas_engine.data import Dataset, load_dataset
from nas_engine.distributed import (
    DataSpec,
    Executor,
    InProcessExecutor,
)
from nas_engine.distributed.tasks import remember_dataset
from nas_engine.proxies import ProxySuite
from nas_engine.resources import CostTable, Region, ResourceBudget
from nas_engine.runner.config import CommandError, SearchConfig, check_proxy, check_strategy
from nas_engine.runner.evidence import accept, run_evidence
from nas_engine.runner.fidelity import Fidelity, run_fidelities
from nas_engine.runner.flow import SearchFlow
from nas_engine.runner.inflight import Pending
from nas_engine.runner.loop import Command, CommandLoop
from nas_engine.runner.ranking import best
from nas_engine.runner.resources import (
    RunResources,
    cache_dir,
    check_new_run,
    checkpoint_file,
)
from nas_engine.runner.scratch import ScratchTraining
from nas_engine.runner.snapshot import CurvePoint, Snapshot, SnapshotStore, wait_for
from nas_engine.runner.spos import make_trainer
from nas_engine.runner.strategy import make_strategy
from nas_engine.search_spaces import MaskError, OpMask, create_space
from nas_engine.steering import Steering
from nas_engine.storage import CandidateRecord, SQLiteStorage
from nas_engine.strategies import STRATEGIES, Strategy


class SearchSession(SearchFlow, ScratchTraining, CommandLoop):
    """A search run driven by a background thread.

    Create with :meth:`create` (new run) or :meth:`resume` (stored run); then call
    :meth:`start`. Thread safety: every public method may be called from any thread.

    Args:
        storage: Where the run is persisted.
        run_id: The run's id.
        config: Its configuration.
        checkpoint_dir: Folder for supernet checkpoints (default: beside the database).
        data: Pre-loaded dataset (tests); loaded from ``config.dataset`` otherwise.
        executor: Where candidates are scored and cells trained (default: in this
            process, one candidate at a time). With a Dask executor the runner keeps one
            candidate in flight per worker thread; workers load the dataset from
            ``config.dataset`` themselves. The executor is the caller's to close.
        train_gpu: Training tasks claim a ``GPU`` resource on a worker and train there
            on CUDA (a Dask executor with such workers only).
    """

    def __init__(
        self,
        storage: SQLiteStorage,
        run_id: int,
        config: SearchConfig,
        *,
        checkpoint_dir: str | Path | None = None,
        data: Dataset | None = None,
        executor: Executor | None = None,
        train_gpu: bool = False,
    ) -> None:
        self.executor: Executor = executor if executor is not None else InProcessExecutor()
        if train_gpu and self.executor.kind == "in-process":
            raise CommandError(
                "training on a GPU worker needs Dask workers that declare one "
                "(dask worker --resources GPU=1) and --scheduler or --workers"
            )
        self.train_gpu = train_gpu
        self.storage = storage
        self.run_id = run_id
        self.config = config
        self.space = create_space(config.space)
        self.data = (
            data
            if data is not None
            else load_dataset(config.dataset, data_dir=config.data_dir, seed=config.seed)
        )
        self._data_spec = DataSpec.of(config.dataset, data_dir=config.data_dir, seed=config.seed)
        if self.executor.kind == "in-process":
            remember_dataset(self._data_spec, self.data)
        self.truth: GroundTruth | None = (
            load_ground_truth(config.benchmark, space=config.space) if config.benchmark else None
        )
        self.checkpoint_path = checkpoint_file(storage, run_id, checkpoint_dir)
        self._lock = threading.RLock()
        self._store = SnapshotStore()
        self._status = "idle"
        self._message: str | None = None
        self._ack: str | None = None  # a steering acknowledgement, cleared when the run ends
        self._training: str | None = None
        self._init_loop(f"nasnav-run-{run_id}")

        # ------------------------------------------------------ state from storage
        self._candidates: list[CandidateRecord] = storage.candidates(run_id)
        events = tuple(storage.events(run_id))
        self._res = RunResources(self.space, self.data, config, cache_dir=cache_dir(storage))
        self._steering = Steering(
            config.initial_mask(self.space),
            events,
            budget=config.resource_budget(),
            check=self._res.check,
        )
        self._curve = [CurvePoint(**p) for p in storage.supernet_curve(run_id)]
        self._train_curves = {
            a: tuple(MappingProxyType(p) for p in pts)
            for a, pts in storage.train_curves(run_id).items()
        }
        self._trained: set[str] = {c.arch for c in self._candidates if c.trained_acc is not None}
        self._strategy = self._make_strategy(config.strategy)
        self._suite = ProxySuite.for_config(self.space, config, data=self.data)
        self._trainer = make_trainer(  # a checkpoint of another run or database is refused
            self.space, self.data, config, checkpoint_path=self.checkpoint_path,
            owner={"checkpoint": self.checkpoint_path.name,
                   "run_created": storage.get_run(run_id).created},
        )  # fmt: skip
        self._rng = self._restored_rng(storage, run_id, config.seed)
        self._evaluated: set[int] = {self.space.index(self.space.from_string(c.arch))
                                     for c in self._candidates}  # fmt: skip
        self._pending: list[Pending] = []  # asked, scoring, not stored yet (runner thread)
        self._steps_due = config.steps_per_candidate  # SPOS steps owed before scoring more
        self._handlers = {
            "start": self._on_start, "resume": self._on_start, "pause": self._on_pause,
            "stop": self._on_stop, "close": self._on_close, "config": self._on_config,
            "mask_changed": self._on_mask_changed,
            "train": lambda cmd: self._train(cmd.args["arch"]),
        }  # fmt: skip
        self._run_seconds = 0.0  # running time of this session, for the throughput
        self._running_since: float | None = None  # monotonic time it started running
        self._n_at_start = len(self._candidates)
        self._publish()
        self._thread.start()

    # ----------------------------------------------------------------- construction
    @classmethod
    def create(cls, storage: SQLiteStorage, config: SearchConfig, **kwargs: Any) -> SearchSession:
        """Store a new run and return its (idle) session."""
        try:  # check the initial mask and resource budget before storing anything
            data = check_new_run(config, data=kwargs.get("data"), cache_dir=cache_dir(storage))
        except MaskError as exc:
            raise CommandError(str(exc)) from None
        kwargs["data"] = data
        run_id = storage.create_run(config.to_dict())
        try:
            return cls(storage, run_id, config, **kwargs)
        except CommandError:  # e.g. a stale checkpoint refused: leave no empty run behind
            storage.discard_run(run_id)
            raise

    @classmethod
    def resume(cls, storage: SQLiteStorage, run_id: int, **kwargs: Any) -> SearchSession:
        """Reopen a stored run where it stopped (status ``paused``)."""
        info = storage.get_run(run_id)
        session = cls(storage, run_id, SearchConfig.from_dict(info.config), **kwargs)
        if len(session._candidates) >= session.config.budget:
            session._status = "finished"
        elif session._candidates or info.status not in ("created", "idle"):
            session._status = "paused"
        session._publish()
        return session

    def _restored_rng(self, storage: SQLiteStorage, run_id: int, seed: int) -> np.random.Generator:
        """The generator the run was drawing from: its state as committed with the latest
        candidate, so a resumed run continues the same stream (a fresh run, or one stored
        before states were kept, starts from ``[seed, candidates so far]``)."""
        rng = np.random.default_rng([seed, len(self._candidates)])
        saved = storage.rng_state(run_id)
        if saved is not None and self._candidates and saved[0] == self._candidates[-1].seq:
            rng.bit_generator.state = saved[1]
        return rng

    def _make_strategy(self, name: str) -> Strategy:
        return make_strategy(
            name,
            self.space,
            self.config,
            history=self._candidates,
            mask=self._region(),
            scorer=self._res.cheap_scores,
        )

    def _region(self) -> Region:
        """The cells the next candidate may be: inside the mask and the resource budget."""
        with self._lock:
            return self._res.region(self._steering.mask, self._steering.budget)

    # ------------------------------------------------------------------- commands
    def start(self) -> None:
        """Start (or continue) searching."""
        self._submit("start")

    def pause(self) -> None:
        """Pause after the current training step or candidate."""
        self._submit("pause")

    def resume_search(self) -> None:
        """Continue a paused search."""
        self._submit("resume")

    def stop(self) -> None:
        """Stop the search (a stopped run can be resumed later from storage)."""
        self._submit("stop")

    def set_budget(self, budget: Any) -> None:
        """Change the number of candidates to evaluate (an int or its text; see
        :meth:`SearchConfig.parse_budget`)."""
        self._submit("config", changes={"budget": SearchConfig.parse_budget(budget)})

    def set_strategy(self, name: str) -> None:
        """Switch strategy; the new one starts from the evaluated history."""
        check_strategy(name)
        if STRATEGIES.get(name).fitness == "oneshot" and self._trainer is None:  # type: ignore[attr-defined]
            raise CommandError(f"strategy {name!r} needs a supernet; this run has none")
        self._submit("config", changes={"strategy": name})

    def set_aids(self, *, warmup: int, move_p: float | None) -> None:
        """Set zero-cost warm-up and move proposal; the strategy is rebuilt from history."""
        dataclasses.replace(self.config, warmup=warmup, move_p=move_p)  # validates
        self._submit("config", changes={"warmup": warmup, "move_p": move_p})

    def set_proxy(self, name: str) -> None:
        """Switch the fitness proxy (a registered proxy or ``"ensemble"``)."""
        check_proxy(name)
        self._submit("config", changes={"proxy": name})

    def steer(
        self,
        action: str,
        edge: int | None = None,
        op: str | None = None,
        *,
        note: str = "",
        budget: ResourceBudget | None = None,
        actor: str = "",
        actor_name: str = "",
    ) -> OpMask:
        """Prune, pin, unpin, restore, reset, undo or change the resource budget; refused
        commands raise at once.

        Args:
            action: ``prune``, ``pin``, ``unpin``, ``restore``, ``reset``, ``undo`` or
                ``budget``.
            edge: Edge index.
            op: Op name.
            note: Optional free-text note stored with the event.
            budget: The new resource budget (``budget`` only).
            actor: Stable identity of who steers (e.g. a browser tab's id; ``""``:
                unattributed). An ``undo`` with an actor reverts that actor's own latest
                action (see :meth:`~nas_engine.steering.Steering.apply`).
            actor_name: Display name of the actor (e.g. ``"viewer 3"``), stored with the event.

        Returns:
            The mask that will be in force for the next candidate.

        Raises:
            MaskError: Refused (last op of an edge, unknown edge/op, nothing (of yours) to
                undo, another actor's later action on the same edge, a mask and budget that
                leave no cell: :class:`BudgetError`...).
        """
        with self._lock:
            if self._status == "failed":
                raise CommandError("this session failed; reopen the run to steer it")
            event = self._steering.apply(
                action, edge, op, note=note, budget=budget, actor=actor, actor_name=actor_name
            )
            self.storage.add_event(self.run_id, event)  # committed before it is shown
            self._acknowledge(
                f"{event.action} accepted (mask v{event.mask_version}, "
                f"{self._region().size:,} cells)"
            )
            self._publish()
        self._submit("mask_changed")
        return event.mask_after

    def train(self, arch: str) -> None:
        """Queue a short training from scratch of ``arch`` (real accuracy on the dataset)."""
        try:
            a = self.space.from_string(arch)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        self._submit("train", arch=self.space.to_string(a))

    def close(self, timeout: float = 30.0) -> None:
        """Stop the thread (the run stays resumable) and wait for it."""
        if not self._closed.is_set():
            self._submit("close")
        self._thread.join(timeout)

    def wait(self, cond: Any, timeout: float = 60.0, poll: float = 0.02) -> Snapshot:
        """Wait until ``cond(snapshot)`` is true; return that snapshot (tests, CLI)."""
        return wait_for(self.snapshot, cond, timeout=timeout, poll=poll)

    def snapshot(self) -> Snapshot:
        """The latest frozen snapshot."""
        return self._store.get()

    def costs(self) -> CostTable:
        """FLOPs, params (and latency) of every cell, as this run counts them (computed
        once, then cached on disk; the next snapshots carry it)."""
        return self._res.costs

    def _on_crash(self, exc: Exception) -> None:
        self._clock("failed")
        self._status = "failed"
        self._message = f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=3)}"
        self.storage.set_status(self.run_id, "failed")
        self._publish()

    def _set_status(self, status: str) -> None:
        self._clock(status)
        if status in ("finished", "stopped") and self._message == self._ack:
            self._message = None  # a steering acknowledgement does not outlive the run
        self._status = status
        self.storage.set_status(self.run_id, status)

    def _on_start(self, _cmd: Command) -> None:
        if len(self._candidates) >= self.config.budget:
            self._message = "budget reached; raise the budget to continue"
            self._set_status("finished")
        else:
            self._set_status("running")

    def _on_pause(self, _cmd: Command) -> None:
        if self._status == "running":
            self._set_status("paused")

    def _on_stop(self, _cmd: Command) -> None:
        self._drop_pending()
        if self._trainer is not None:
            self._trainer.save(self.checkpoint_path)
        self._set_status("stopped")

    def _on_close(self, _cmd: Command) -> None:
        self._drop_pending()
        if self._trainer is not None and self._status == "running":
            self._trainer.save(self.checkpoint_path)
        if self._status == "running":
            self._set_status("paused")
        self._closed.set()

    def _on_mask_changed(self, _cmd: Command) -> None:
        region = self._region()
        dropped = self._strategy.on_mask_change(region)
        self._drop_pending(lambda p: not region.allows(p.arch))  # never store what's excluded
        if dropped:
            self._acknowledge(f"mask v{self._steering.version}: {dropped} members dropped")

    def _on_config(self, cmd: Command) -> None:
        changes = cmd.args["changes"]
        self.config = dataclasses.replace(self.config, **changes)
        self.storage.update_config(self.run_id, self.config.to_dict())
        if {"strategy", "warmup", "move_p"} & set(changes):
            self._strategy = self._make_strategy(self.config.strategy)
        if "proxy" in changes:
            self._suite = ProxySuite.for_config(self.space, self.config, data=self.data)
        self._res.config = self.config
        more = len(self._candidates) < self.config.budget
        if "budget" in changes and self._status == "finished" and more:
            self._set_status("paused")

    def _accept_suggestions(self) -> None:
        """Scripted steering: every ``suggest_every`` candidates, accept every current
        suggestion on the fitness."""
        if len(self._candidates) % self.config.suggest_every:
            return
        with self._lock:
            cands, mask = tuple(self._candidates), self._steering.mask
            budget = self._steering.budget
        evidence = run_evidence(
            cands, self.space, mask, config=self.config, fitness_kind=self._strategy.fitness,
            fidelity=self._search_fidelity(), budget=budget,
            costs=self._res.costs if budget.is_set else None, seed=self.config.seed,
        )  # fmt: skip
        _, refused = accept(evidence.suggestions, self.steer)
        if refused:
            self._acknowledge("suggestion refused: " + "; ".join(refused))

    def _acknowledge(self, text: str) -> None:
        """Show a steering acknowledgement (until another message, or the run ends)."""
        self._message = self._ack = text

    def _clock(self, status: str) -> None:
        """Count the time spent running: start the clock on ``running``, stop it on any
        other status (the throughput is measured over running time only)."""
        now = time.monotonic()
        if status == "running" and self._running_since is None:
            self._running_since = now
        elif status != "running" and self._running_since is not None:
            self._run_seconds += now - self._running_since
            self._running_since = None

    def _publish(self) -> None:
        with self._lock:  # build and swap atomically, so snapshots never go backwards
            self._publish_locked()

    def _publish_locked(self) -> None:
        self._published_at = time.monotonic()
        cands = tuple(self._candidates)
        budget = self._steering.budget
        search_fid, shown_fid = self._fidelities(truth=self.truth is not None)
        top = best(
            cands, config=self.config, fitness_kind=self._strategy.fitness, fidelity=search_fid
        )
        since = self._running_since
        elapsed = self._run_seconds + (time.monotonic() - since if since is not None else 0.0)
        done = len(cands) - self._n_at_start
        self._store.set(
            Snapshot(
                run_id=self.run_id,
                status=self._status,
                config=self.config,
                mask=self._steering.mask,
                mask_version=self._steering.version,
                candidates=cands,
                events=tuple(self._steering.events),
                supernet_curve=tuple(self._curve),
                train_curves=MappingProxyType(dict(self._train_curves)),
                best=top,
                supernet_step=self._trainer.step if self._trainer is not None else 0,
                candidates_per_min=60.0 * done / elapsed if elapsed > 0 else 0.0,
                message=self._message,
                updated=time.time(),
                training=self._training,
                budget=budget,
                costs=self._res.costs if self._res.needed or budget.is_set else self._res.ready,
                fidelity=shown_fid,
                search_fidelity=search_fid,
                workers=(
                    None
                    if self.executor.kind == "in-process"
                    else self.executor.status(in_flight=len(self._pending))
                ),
            )
        )

    def _search_fidelity(self) -> Fidelity:
        """The fidelity the search acts on (never from ground truth)."""
        return self._fidelities(truth=False)[0]

    def _fidelities(self, *, truth: bool) -> tuple[Fidelity, Fidelity]:
        """The search's fidelity and, with ``truth``, the page's (ground truth first)."""
        return run_fidelities(
            self._candidates, members=self.config.ensemble, aggregation=self.config.aggregation,
            supernet=self._trainer is not None, truth=truth,
        )  # fmt: skip
