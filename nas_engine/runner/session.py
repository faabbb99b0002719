"""A search session: one background thread, a command queue, and frozen snapshots.

The thread alternates SPOS supernet training steps with candidate evaluations. Commands
(start, pause, resume, stop, steering, strategy/proxy changes, training requests) are
validated at once in the caller's thread — a refused command raises there with the reason
— and then queued; the thread drains the queue after every training step and before every
candidate, so a new mask takes effect on the very next candidate and pause/stop take
effect within one training step.

Every result is committed to storage *before* the snapshot shows it. The UI, the CLI and
notebooks only call :meth:`SearchSession.snapshot` and the command methods.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import queue
import threading
import time
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import torch

from nas_engine.benchmarks import GroundTruth, load_ground_truth
from nas_engine.data import Dataset, load_dataset
from nas_engine.proxies import ProxySuite, list_proxies, resolve_proxy_names
from nas_engine.proxies.suite import DEFAULT_ENSEMBLE, percentile_fitness, rank_ensemble
from nas_engine.search_spaces import MaskError, OpMask, create_space
from nas_engine.steering import Steering, SteeringEvent
from nas_engine.storage import CandidateRecord, SQLiteStorage, StorageError
from nas_engine.strategies import STRATEGIES, Strategy, create_strategy, list_strategies
from nas_engine.supernet import SupernetConfig, SupernetTrainer
from nas_engine.training import TrainConfig, train_from_scratch
from nas_engine.utils.complexity import complexity

STATUSES = ("idle", "running", "paused", "stopped", "finished", "failed")


class CommandError(ValueError):
    """Raised for a refused command; the message says why."""


@dataclass(frozen=True)
class SearchConfig:
    """Configuration of one search run (stored with the run).

    Args:
        space: Search-space name.
        dataset: Dataset name (``digits`` is the embedded default).
        data_dir: Folder for CIFAR pickles.
        strategy: Strategy name.
        proxy: Fitness proxy name, or ``"ensemble"`` (rank ensemble of ``ensemble``).
        proxies: Proxies computed for every candidate (the fitness proxy is added).
        ensemble: Members of the rank ensemble.
        budget: Candidates to evaluate.
        seed: Seed for everything.
        proxy_batch_size: Batch size of the proxies.
        proxy_C: Channels of the network the proxies score.
        proxy_N: Cells per stage of that network.
        supernet: Whether to train a supernet and give one-shot estimates.
        supernet_C: Supernet channels.
        supernet_N: Supernet cells per stage.
        supernet_batch_size: SPOS batch size.
        supernet_lr: SPOS peak learning rate.
        steps_per_candidate: SPOS steps between two candidates.
        checkpoint_every: Supernet steps between checkpoints.
        population_size: Population size of evolutionary strategies.
        sample_size: Tournament size of aging evolution.
        max_flops: Optional FLOPs budget (millions) for candidates.
        max_params: Optional parameter budget (millions) for candidates.
        benchmark: Ground-truth spec (``csv:PATH[:COLUMN]``) or ``None``.
        train_top_k: Train the best k candidates from scratch when the budget is reached.
        train_epochs: Epochs of those trainings.
        train_C: Channels of the trained networks.
        train_N: Cells per stage of the trained networks.
        prune: Initial prunes as ``(edge, op)`` pairs.
        pin: Initial pins as ``(edge, op)`` pairs.
    """

    space: str = "nb201"
    dataset: str = "digits"
    data_dir: str | None = None
    strategy: str = "evolution"
    proxy: str = "zico"
    proxies: tuple[str, ...] = ("zico", "naswot", "synflow", "params", "flops")
    ensemble: tuple[str, ...] = DEFAULT_ENSEMBLE
    budget: int = 200
    seed: int = 0
    proxy_batch_size: int = 64
    proxy_C: int = 16
    proxy_N: int = 5
    supernet: bool = True
    supernet_C: int = 8
    supernet_N: int = 1
    supernet_batch_size: int = 64
    supernet_lr: float = 0.05
    steps_per_candidate: int = 4
    checkpoint_every: int = 100
    population_size: int = 20
    sample_size: int = 5
    max_flops: float | None = None
    max_params: float | None = None
    benchmark: str | None = None
    train_top_k: int = 0
    train_epochs: int = 6
    train_C: int = 8
    train_N: int = 1
    prune: tuple[tuple[int, str], ...] = ()
    pin: tuple[tuple[int, str], ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.budget, int) or isinstance(self.budget, bool) or self.budget < 1:
            raise CommandError(f"budget must be a positive integer, got {self.budget!r}")
        if self.strategy not in STRATEGIES:
            raise CommandError(
                f"unknown strategy {self.strategy!r}; known: {', '.join(list_strategies())}"
            )
        if self.proxy != "ensemble" and self.proxy not in list_proxies():
            raise CommandError(
                f"unknown proxy {self.proxy!r}; known: {', '.join(list_proxies())}, ensemble"
            )
        resolve_proxy_names(list(self.proxies) or ["params"])
        resolve_proxy_names(list(self.ensemble))
        if self.steps_per_candidate < 0 or self.population_size < 2:
            raise CommandError("steps_per_candidate must be >= 0 and population_size >= 2")
        if STRATEGIES.get(self.strategy).fitness == "oneshot" and not self.supernet:  # type: ignore[attr-defined]
            raise CommandError(f"strategy {self.strategy!r} needs the supernet (supernet=True)")

    @property
    def all_proxies(self) -> list[str]:
        """Proxies computed per candidate: the configured ones, the fitness proxy and,
        for the ensemble, its members."""
        extra = list(self.ensemble) if self.proxy == "ensemble" else [self.proxy]
        return list(dict.fromkeys([*self.proxies, *extra]))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        d = dataclasses.asdict(self)
        d["prune"] = [list(p) for p in self.prune]
        d["pin"] = [list(p) for p in self.pin]
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SearchConfig:
        """Inverse of :meth:`to_dict` (unknown keys are refused)."""
        names = {f.name for f in dataclasses.fields(cls)}
        bad = set(d) - names
        if bad:
            raise CommandError(f"unknown config keys {sorted(bad)}")
        kw = dict(d)
        for k in ("proxies", "ensemble"):
            if k in kw:
                kw[k] = tuple(kw[k])
        for k in ("prune", "pin"):
            if k in kw:
                kw[k] = tuple((int(e), str(o)) for e, o in kw[k])
        return cls(**kw)


@dataclass(frozen=True)
class CurvePoint:
    """Supernet training-curve point.

    Args:
        step: SPOS step.
        time: Unix time.
        loss: Mean loss since the previous point.
        acc: Mean batch accuracy since the previous point (percent).
        lr: Learning rate.
        images_per_s: Training throughput since the previous point.
    """

    step: int
    time: float
    loss: float
    acc: float
    lr: float
    images_per_s: float


@dataclass(frozen=True)
class Snapshot:
    """A frozen view of a session; safe to share between threads.

    Args:
        run_id: Stored run id.
        status: One of :data:`STATUSES`.
        config: The run's configuration.
        mask: Mask in force.
        mask_version: Its version.
        candidates: Evaluated candidates, in order.
        events: Steering events, in order.
        supernet_curve: Supernet training curve.
        train_curves: Arch → from-scratch training curve points (dicts).
        best: Best candidate by fitness (``None`` before the first).
        supernet_step: SPOS steps done.
        candidates_per_min: Evaluation throughput over the session so far.
        message: Last error or notice.
        updated: Unix time of the snapshot.
        training: Arch being trained from scratch, if any.
    """

    run_id: int
    status: str
    config: SearchConfig
    mask: OpMask
    mask_version: int
    candidates: tuple[CandidateRecord, ...]
    events: tuple[SteeringEvent, ...]
    supernet_curve: tuple[CurvePoint, ...]
    train_curves: Mapping[str, tuple[Mapping[str, float], ...]]
    best: CandidateRecord | None
    supernet_step: int
    candidates_per_min: float
    message: str | None
    updated: float
    training: str | None = None

    @property
    def n_evaluated(self) -> int:
        """Number of evaluated candidates."""
        return len(self.candidates)


class SnapshotStore:
    """Holds the latest :class:`Snapshot`; readers never block the writer for long.

    Thread safety: ``get`` and ``set`` take a lock only to swap one reference.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._snap: Snapshot | None = None
        self._version = 0

    def set(self, snap: Snapshot) -> None:
        """Publish a new snapshot."""
        with self._lock:
            self._snap = snap
            self._version += 1

    def get(self) -> Snapshot:
        """Return the latest snapshot."""
        with self._lock:
            if self._snap is None:
                raise RuntimeError("no snapshot published yet")
            return self._snap

    @property
    def version(self) -> int:
        """Count of published snapshots."""
        with self._lock:
            return self._version


@dataclass
class _Cmd:
    name: str
    args: dict[str, Any] = field(default_factory=dict)
    done: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None


class SearchSession:
    """A search run driven by a background thread.

    Create with :meth:`create` (new run) or :meth:`resume` (stored run); then call
    :meth:`start`. Thread safety: every public method may be called from any thread.

    Args:
        storage: Where the run is persisted.
        run_id: The run's id.
        config: Its configuration.
        checkpoint_dir: Folder for supernet checkpoints (default: beside the database).
        data: Pre-loaded dataset (tests); loaded from ``config.dataset`` otherwise.
    """

    def __init__(
        self,
        storage: SQLiteStorage,
        run_id: int,
        config: SearchConfig,
        *,
        checkpoint_dir: str | Path | None = None,
        data: Dataset | None = None,
    ) -> None:
        self.storage = storage
        self.run_id = run_id
        self.config = config
        self.space = create_space(config.space)
        self.data = (
            data
            if data is not None
            else load_dataset(config.dataset, data_dir=config.data_dir, seed=config.seed)
        )
        self.truth: GroundTruth | None = (
            load_ground_truth(config.benchmark) if config.benchmark else None
        )
        base = Path(storage.path).parent if storage.path != ":memory:" else Path("data")
        self.checkpoint_path = Path(checkpoint_dir or base / "checkpoints") / f"run_{run_id}.pt"
        self._lock = threading.RLock()
        self._queue: queue.Queue[_Cmd] = queue.Queue()
        self._store = SnapshotStore()
        self._status = "idle"
        self._message: str | None = None
        self._training: str | None = None
        self._closed = threading.Event()

        # ------------------------------------------------------ state from storage
        self._candidates: list[CandidateRecord] = storage.candidates(run_id)
        events = tuple(storage.events(run_id))
        initial = self.space.full_mask()
        for e, o in config.prune:
            initial = initial.prune(e, o)
        for e, o in config.pin:
            initial = initial.pin(e, o)
        self._steering = Steering(initial, events)
        self._curve = [CurvePoint(**p) for p in storage.supernet_curve(run_id)]
        self._train_curves = {
            a: tuple(MappingProxyType(p) for p in pts)
            for a, pts in storage.train_curves(run_id).items()
        }
        self._trained: set[str] = {c.arch for c in self._candidates if c.trained_acc is not None}
        self._strategy = self._make_strategy(config.strategy)
        self._suite = self._make_suite(config)
        self._trainer: SupernetTrainer | None = None
        if config.supernet:
            self._trainer = SupernetTrainer(
                self.space,
                self.data,
                SupernetConfig(
                    C=config.supernet_C,
                    N=config.supernet_N,
                    batch_size=config.supernet_batch_size,
                    lr=config.supernet_lr,
                    seed=config.seed,
                ),
            )
            if self.checkpoint_path.is_file():
                self._trainer.load(self.checkpoint_path)
        self._rng = np.random.default_rng([config.seed, len(self._candidates)])
        self._complexity_cache: dict[str, tuple[float, float]] = {}
        self._t_start = time.time()
        self._n_at_start = len(self._candidates)
        self._thread = threading.Thread(
            target=self._loop, name=f"nasnav-run-{run_id}", daemon=True
        )
        self._publish()
        self._thread.start()

    # ----------------------------------------------------------------- construction
    @classmethod
    def create(
        cls,
        storage: SQLiteStorage,
        config: SearchConfig,
        **kwargs: Any,
    ) -> SearchSession:
        """Store a new run and return its (idle) session."""
        # check the initial mask before storing anything
        sp = create_space(config.space)
        m = sp.full_mask()
        try:
            for e, o in config.prune:
                m = m.prune(e, o)
            for e, o in config.pin:
                m = m.pin(e, o)
        except MaskError as exc:
            raise CommandError(str(exc)) from None
        run_id = storage.create_run(config.to_dict())
        return cls(storage, run_id, config, **kwargs)

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

    def _make_strategy(self, name: str) -> Strategy:
        cls_ = STRATEGIES.get(name)
        params = inspect.signature(cls_).parameters
        kw = {
            k: v
            for k, v in {
                "population_size": self.config.population_size,
                "sample_size": min(self.config.sample_size, self.config.population_size),
            }.items()
            if k in params
        }
        strat = create_strategy(name, self.space, **kw)
        history = [
            (self.space.from_string(c.arch), c.fitness)
            for c in self._candidates
            if c.error is None
        ]
        strat.restore(history)
        strat.on_mask_change(self._steering.mask)
        return strat

    def _make_suite(self, config: SearchConfig) -> ProxySuite:
        return ProxySuite(
            self.space,
            config.all_proxies,
            data=self.data,
            batch_size=config.proxy_batch_size,
            seed=config.seed,
            build_kwargs={"C": config.proxy_C, "N": config.proxy_N},
        )

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
        """Change the number of candidates to evaluate."""
        if isinstance(budget, str):
            try:
                budget = int(budget.strip())
            except ValueError:
                raise CommandError(f"budget must be a positive integer, got {budget!r}") from None
        if not isinstance(budget, int) or isinstance(budget, bool) or budget < 1:
            raise CommandError(f"budget must be a positive integer, got {budget!r}")
        self._submit("config", changes={"budget": budget})

    def set_strategy(self, name: str) -> None:
        """Switch strategy; the new one starts from the evaluated history."""
        if name not in STRATEGIES:
            raise CommandError(f"unknown strategy {name!r}; known: {', '.join(list_strategies())}")
        if STRATEGIES.get(name).fitness == "oneshot" and self._trainer is None:  # type: ignore[attr-defined]
            raise CommandError(f"strategy {name!r} needs a supernet; this run has none")
        self._submit("config", changes={"strategy": name})

    def set_proxy(self, name: str) -> None:
        """Switch the fitness proxy (a registered proxy or ``"ensemble"``)."""
        if name != "ensemble" and name not in list_proxies():
            raise CommandError(
                f"unknown proxy {name!r}; known: {', '.join(list_proxies())}, ensemble"
            )
        self._submit("config", changes={"proxy": name})

    def steer(
        self, action: str, edge: int | None = None, op: str | None = None, *, note: str = ""
    ) -> OpMask:
        """Prune, pin, unpin, restore, reset or undo; refused commands raise at once.

        Args:
            action: ``prune``, ``pin``, ``unpin``, ``restore``, ``reset`` or ``undo``.
            edge: Edge index.
            op: Op name.
            note: Optional free-text note stored with the event.

        Returns:
            The mask that will be in force for the next candidate.

        Raises:
            MaskError: Refused (last op of an edge, unknown edge/op, nothing to undo...).
        """
        with self._lock:
            if self._status == "failed":
                raise CommandError("this session failed; reopen the run to steer it")
            event = self._steering.apply(action, edge, op, note=note)  # raises MaskError
            self.storage.add_event(self.run_id, event)  # committed before it is shown
            self._message = f"{event.action} accepted (mask v{event.mask_version}, " + (
                f"{event.mask_after.size()} cells)"
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
        deadline = time.time() + timeout
        while True:
            snap = self.snapshot()
            if cond(snap):
                return snap
            if time.time() > deadline:
                raise TimeoutError(f"condition not met within {timeout}s (status {snap.status})")
            time.sleep(poll)

    def snapshot(self) -> Snapshot:
        """The latest frozen snapshot."""
        return self._store.get()

    def _submit(self, name: str, **args: Any) -> None:
        if self._closed.is_set():
            raise CommandError("session is closed")
        self._queue.put(_Cmd(name, args))

    # ------------------------------------------------------------------- the thread
    def _loop(self) -> None:
        try:
            while not self._closed.is_set():
                if self._status == "running":
                    self._drain(block=False)
                    if self._status == "running":
                        self._tick()
                else:
                    self._drain(block=True)
        except Exception as exc:  # a bug in the loop itself: record and stop cleanly
            self._status = "failed"
            self._message = f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=3)}"
            self.storage.set_status(self.run_id, "failed")
            self._publish()

    def _drain(self, *, block: bool) -> None:
        try:
            cmd = self._queue.get(timeout=0.05) if block else self._queue.get_nowait()
        except queue.Empty:
            return
        while True:
            self._apply(cmd)
            try:
                cmd = self._queue.get_nowait()
            except queue.Empty:
                break

    def _set_status(self, status: str) -> None:
        self._status = status
        self.storage.set_status(self.run_id, status)

    def _apply(self, cmd: _Cmd) -> None:
        name = cmd.name
        if name in ("start", "resume"):
            if len(self._candidates) >= self.config.budget:
                self._message = "budget reached; raise the budget to continue"
                self._set_status("finished")
            else:
                self._set_status("running")
        elif name == "pause":
            if self._status == "running":
                self._set_status("paused")
        elif name == "stop":
            if self._trainer is not None:
                self._trainer.save(self.checkpoint_path)
            self._set_status("stopped")
        elif name == "close":
            if self._trainer is not None and self._status == "running":
                self._trainer.save(self.checkpoint_path)
            if self._status == "running":
                self._set_status("paused")
            self._closed.set()
        elif name == "mask_changed":
            with self._lock:
                mask = self._steering.mask
            dropped = self._strategy.on_mask_change(mask)
            if dropped:
                self._message = f"mask v{self._steering.version}: {dropped} members dropped"
        elif name == "config":
            changes = cmd.args["changes"]
            self.config = dataclasses.replace(self.config, **changes)
            self.storage.update_config(self.run_id, self.config.to_dict())
            if "strategy" in changes:
                self._strategy = self._make_strategy(self.config.strategy)
            if "proxy" in changes:
                self._suite = self._make_suite(self.config)
            if (
                "budget" in changes
                and self._status == "finished"
                and len(self._candidates) < self.config.budget
            ):
                self._set_status("paused")
        elif name == "train":
            self._train(cmd.args["arch"])
        self._publish()

    def _tick(self) -> None:
        """SPOS steps, then one candidate; checks the queue after every step."""
        if self._trainer is not None:
            losses, accs, imgs, t0 = [], [], 0, time.perf_counter()
            for _ in range(self.config.steps_per_candidate):
                with self._lock:
                    mask = self._steering.mask
                res = self._trainer.train_step(mask)
                losses.append(res.loss)
                accs.append(res.acc)
                imgs += res.images
                if res.step % self.config.checkpoint_every == 0:
                    self._trainer.save(self.checkpoint_path)
                self._drain(block=False)
                if self._status != "running":
                    break
            if losses:
                dt = max(time.perf_counter() - t0, 1e-9)
                point = CurvePoint(
                    step=self._trainer.step,
                    time=time.time(),
                    loss=float(np.mean(losses)),
                    acc=float(np.mean(accs)),
                    lr=self._trainer.lr_at(self._trainer.step),
                    images_per_s=imgs / dt,
                )
                self.storage.add_supernet_point(
                    self.run_id,
                    step=point.step,
                    loss=point.loss,
                    acc=point.acc,
                    lr=point.lr,
                    images_per_s=point.images_per_s,
                )
                self._curve.append(point)
            if self._status != "running":
                self._publish()
                return
        self._evaluate_next()
        if len(self._candidates) >= self.config.budget:
            self._finish()
        self._publish()

    def _within_budget(self, arch: Any) -> bool:
        cfg = self.config
        if cfg.max_flops is None and cfg.max_params is None:
            return True
        key = self.space.to_string(arch)
        if key not in self._complexity_cache:
            c = complexity(
                self.space.build(
                    arch,
                    num_classes=self.data.num_classes,
                    in_channels=self.data.in_channels,
                    C=cfg.proxy_C,
                    N=cfg.proxy_N,
                ),
                self.data.input_shape,
            )
            self._complexity_cache[key] = (c.flops / 1e6, c.params / 1e6)
        flops, params = self._complexity_cache[key]
        return (cfg.max_flops is None or flops <= cfg.max_flops) and (
            cfg.max_params is None or params <= cfg.max_params
        )

    def _ask(self, mask: OpMask) -> Any:
        for _ in range(200):
            arch = self._strategy.ask(mask, self._rng)
            if not mask.allows(self.space.ops_of(arch)):  # defensive: never evaluate
                raise RuntimeError(f"strategy proposed {arch} outside the mask")
            if self._within_budget(arch):
                return arch
        raise CommandError("no cell inside the mask met the FLOPs/params budget in 200 draws")

    def _fitness(self, scores: Mapping[str, float], oneshot: float | None) -> float | None:
        if self._strategy.fitness == "oneshot":
            return oneshot
        if self.config.proxy != "ensemble":
            v = scores.get(self.config.proxy)
            return None if v is None or not math.isfinite(v) else v
        # ensemble: mean over members of the percentile among the evaluated candidates
        return percentile_fitness(
            scores, [c.scores for c in self._candidates], self.config.ensemble
        )

    def _evaluate_next(self) -> None:
        with self._lock:
            mask = self._steering.mask
            version = self._steering.version
        try:
            arch = self._ask(mask)
        except CommandError as exc:
            self._message = str(exc)
            self._set_status("paused")
            return
        t0 = time.perf_counter()
        arch_s = self.space.to_string(arch)
        scores: dict[str, float] = {}
        secs: dict[str, float] = {}
        oneshot = None
        error = None
        try:
            cs = self._suite.score(arch)
            for n, r in cs.results.items():
                scores[n] = r.value
                secs[n] = r.seconds
            if self._trainer is not None:
                oneshot = self._trainer.evaluate(arch)
        except Exception as exc:  # one bad candidate must not stop the search
            error = f"{type(exc).__name__}: {exc}"
        truth = self.truth.lookup(arch_s) if self.truth is not None else None
        fitness = None if error else self._fitness(scores, oneshot)
        record = CandidateRecord(
            seq=len(self._candidates),
            arch=arch_s,
            mask_version=version,
            strategy=self.config.strategy,
            scores=scores,
            proxy_seconds=secs,
            fitness=fitness,
            oneshot=oneshot,
            truth=truth,
            error=error,
            created=time.time(),
            seconds=time.perf_counter() - t0,
        )
        try:
            self.storage.add_candidate(self.run_id, record)  # committed before shown
        except StorageError as exc:
            self._message = str(exc)
            self._set_status("failed")
            return
        with self._lock:
            self._candidates.append(record)
        if error is None:
            self._strategy.tell(arch, fitness)

    def _finish(self) -> None:
        if self._trainer is not None:
            self._trainer.save(self.checkpoint_path)
        k = self.config.train_top_k
        if k > 0:
            seen: list[str] = []
            for c in self._ranked(self._candidates):  # the same order as ``best``
                if c.arch not in seen:
                    seen.append(c.arch)
                if len(seen) == k:
                    break
            for a in seen:
                if a not in self._trained:
                    self._train(a)
                    if self._status != "running":
                        return
        self._set_status("finished")

    def _train(self, arch_s: str) -> None:
        cfg = self.config
        self._training = arch_s
        self._publish()
        arch = self.space.from_string(arch_s)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed)
            model = self.space.build(
                arch,
                num_classes=self.data.num_classes,
                in_channels=self.data.in_channels,
                C=cfg.train_C,
                N=cfg.train_N,
            )
        stop = threading.Event()
        points: list[Mapping[str, float]] = []

        def on_epoch(p: Any) -> None:
            self.storage.add_train_point(
                self.run_id,
                arch_s,
                epoch=p.epoch,
                train_loss=p.train_loss,
                train_acc=p.train_acc,
                val_acc=p.val_acc,
                seconds=p.seconds,
            )
            points.append(
                MappingProxyType(
                    {
                        "epoch": p.epoch,
                        "train_loss": p.train_loss,
                        "train_acc": p.train_acc,
                        "val_acc": p.val_acc,
                        "seconds": p.seconds,
                    }
                )
            )
            self._train_curves = {**self._train_curves, arch_s: tuple(points)}
            self._publish()

        res = train_from_scratch(
            model,
            self.data,
            TrainConfig(epochs=cfg.train_epochs, seed=cfg.seed),
            on_epoch=on_epoch,
            stop=stop,
        )
        self.storage.set_trained_acc(self.run_id, arch_s, res.test_acc)
        self._candidates = [
            dataclasses.replace(c, trained_acc=res.test_acc) if c.arch == arch_s else c
            for c in self._candidates
        ]
        self._trained.add(arch_s)
        self._training = None

    def _ranked(self, cands: Sequence[CandidateRecord]) -> list[CandidateRecord]:
        """Scored candidates, best first: by the rank ensemble over *all* evaluated cells
        when the fitness is the ensemble (an early cell's online percentile is judged on
        few peers), else by fitness."""
        scored = [c for c in cands if c.fitness is not None and math.isfinite(c.fitness)]
        if self.config.proxy == "ensemble" and self._strategy.fitness == "proxy" and scored:
            members = list(self.config.ensemble)
            ens = rank_ensemble(
                {m: [c.scores.get(m, math.nan) for c in scored] for m in members}, members
            )
            order = np.argsort(-ens, kind="stable")
            return [scored[int(i)] for i in order]
        return sorted(scored, key=lambda c: -float(c.fitness))  # type: ignore[arg-type]

    def _best(self, cands: Sequence[CandidateRecord]) -> CandidateRecord | None:
        ranked = self._ranked(cands)
        return ranked[0] if ranked else None

    def _publish(self) -> None:
        with self._lock:  # build and swap atomically, so snapshots never go backwards
            self._publish_locked()

    def _publish_locked(self) -> None:
        mask = self._steering.mask
        version = self._steering.version
        events = tuple(self._steering.events)
        cands = tuple(self._candidates)
        best = self._best(cands)
        elapsed = max(time.time() - self._t_start, 1e-9)
        self._store.set(
            Snapshot(
                run_id=self.run_id,
                status=self._status,
                config=self.config,
                mask=mask,
                mask_version=version,
                candidates=cands,
                events=events,
                supernet_curve=tuple(self._curve),
                train_curves=MappingProxyType(dict(self._train_curves)),
                best=best,
                supernet_step=self._trainer.step if self._trainer is not None else 0,
                candidates_per_min=60.0 * (len(cands) - self._n_at_start) / elapsed,
                message=self._message,
                updated=time.time(),
                training=self._training,
            )
        )
