"""The app's only door to the engine's state: snapshots in, commands out. No Dash here.

Within ``app/``, only this package and ``app.viewmodel`` (pure functions over snapshots and
the engine's registries) import ``nas_engine``; a test checks it.

:class:`AppController` owns the storage and at most one live :class:`SearchSession`.
Everything slow (UMAP layout, one-edit neighbour scores, per-layer ZiCo terms) runs on a
worker thread and is cached (``app/controller/jobs.py``), so no Dash callback ever waits
on torch.

Every method that takes values from the browser checks their types first
(``app/controller/inputs.py``): a crafted request gets an :class:`InputError` message, not
a 500.

Thread safety: every public method may be called from any Flask request thread.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from app.controller import inputs
from app.controller.inputs import InputError
from app.controller.jobs import BackgroundJobs, Job
from app.viewmodel.runs import RunComparison, compare_runs
from nas_engine.benchmarks import GroundTruth, GroundTruthError, load_ground_truth
from nas_engine.data import Dataset, DatasetError, load_dataset
from nas_engine.distributed import Executor
from nas_engine.export import arch_spec, module_source
from nas_engine.proxies import ProxySuite
from nas_engine.resources import CostTable, ResourceBudget, load_latency
from nas_engine.runner import CommandError, SearchConfig, SearchSession, Snapshot
from nas_engine.search_spaces import DEFAULT_SPACE, MaskError, SearchSpace, create_space
from nas_engine.storage import RunInfo, SQLiteStorage

__all__ = ["AppController", "InputError", "Job"]

#: Most runs one comparison draws.
MAX_COMPARED = 20


class AppController(BackgroundJobs):
    """Bridges the Dash app and the engine.

    Args:
        storage: Run storage (the app resumes the latest run found there).
        defaults: Configuration for new runs (dataset, benchmark, proxies...).
        cache_dir: Folder for cached layouts.
        layout_method: ``umap`` (default) or ``pca`` for the embedding.
        data: Pre-loaded dataset (tests); loaded from ``defaults.dataset`` otherwise.
        checkpoint_dir: Supernet checkpoints (default: beside the database).
        executor: Where runs score candidates and train cells (default: in this process;
            the caller closes it).
        train_gpu: Training tasks claim a GPU worker (a Dask executor only).
    """

    def __init__(
        self,
        storage: SQLiteStorage,
        *,
        defaults: SearchConfig | None = None,
        cache_dir: str | Path = "data/cache",
        layout_method: str = "umap",
        data: Dataset | None = None,
        checkpoint_dir: str | Path | None = None,
        executor: Executor | None = None,
        train_gpu: bool = False,
    ) -> None:
        self.storage = storage
        self.executor = executor
        self.train_gpu = train_gpu
        self.defaults = defaults or SearchConfig()
        self.cache_dir = Path(cache_dir)
        self.layout_method = layout_method
        self.checkpoint_dir = checkpoint_dir
        self.space: SearchSpace[Any] = create_space(self.defaults.space)
        self._data = data
        self._lock = threading.RLock()
        self._session: SearchSession | None = None
        self._viewing: int | None = None  # a run opened by View: read-only until Resume
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nasnav-ui-worker")
        self._jobs: dict[tuple[Any, ...], Future[Any]] = {}
        self._truth: GroundTruth | None = None
        self._truth_loaded = False
        self._layout: np.ndarray | None = None
        self._layout_name = "pending"
        self._layout_job: Future[Any] | None = None
        self._suites: dict[tuple[str, ...], ProxySuite] = {}
        self._space_thread: threading.Thread | None = None
        self._space_stop = threading.Event()
        self._space_error: str | None = None
        # (file stamp, parsed table or None, cells scored)
        self._space_cache: tuple[int | None, Any, int] | None = None
        self._truth_vec: np.ndarray | None = None

    @classmethod
    def open(
        cls,
        db: str | Path,
        *,
        defaults: Mapping[str, Any] | None = None,
        cache_dir: str | Path = "data/cache",
        layout_method: str = "umap",
        executor: Executor | None = None,
        train_gpu: bool = False,
    ) -> AppController:
        """Check the defaults, load their dataset and ground truth, open the database.

        Args:
            db: SQLite database (created with its folder when missing).
            defaults: :class:`SearchConfig` fields for new runs, e.g. ``dataset``.
            cache_dir: Folder for cached layouts.
            layout_method: ``umap`` or ``pca``.
            executor: Where runs' tasks run (default: in this process).
            train_gpu: Training tasks claim a GPU worker.

        Raises:
            InputError: A bad setting, a missing dataset or benchmark file (the message
                names it); nothing is opened then.
        """
        try:
            cfg = dataclasses.replace(SearchConfig(), **dict(defaults or {}))
            data = load_dataset(cfg.dataset, data_dir=cfg.data_dir, seed=cfg.seed)
            if cfg.benchmark:
                load_ground_truth(cfg.benchmark, space=cfg.space)  # fail now, not later
            if cfg.latency:
                load_latency(cfg.latency, create_space(cfg.space))
        except (CommandError, DatasetError, GroundTruthError, TypeError, ValueError) as exc:
            # ValueError covers MaskError and BudgetError (bad latency tables)
            raise InputError(str(exc)) from None
        Path(db).parent.mkdir(parents=True, exist_ok=True)
        return cls(
            SQLiteStorage(db),
            defaults=cfg,
            cache_dir=cache_dir,
            layout_method=layout_method,
            data=data,
            executor=executor,
            train_gpu=train_gpu,
        )

    # ----------------------------------------------------------------- lifecycle
    def open_latest(self) -> int | None:
        """Reopen the most recent stored run of this controller's space (paused) so it can
        be resumed; return its id (``None``: no run of the space is stored)."""
        runs = [
            r
            for r in self.storage.list_runs()
            if r.config.get("space", DEFAULT_SPACE) == self.space.name
        ]
        if not runs:
            return None
        latest = max(runs, key=lambda r: r.id)
        with self._lock:
            if self._session is None:
                try:
                    self._session = SearchSession.resume(
                        self.storage,
                        latest.id,
                        data=self._dataset_for(latest.config),
                        **self._where(),
                    )
                except CommandError as exc:  # e.g. a checkpoint of another supernet
                    raise InputError(f"cannot reopen run {latest.id}: {exc}") from None
        return latest.id

    def close(self) -> None:
        """Stop the live session's thread (the run stays resumable) and the worker."""
        with self._lock:
            if self._session is not None:
                self._session.close()
        self.stop_space_scores(wait=60.0)  # a torch call cut by interpreter exit aborts
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _where(self) -> dict[str, Any]:
        """Where every run of this controller keeps checkpoints and runs its tasks."""
        return {
            "checkpoint_dir": self.checkpoint_dir,
            "executor": self.executor,
            "train_gpu": self.train_gpu,
        }

    def _dataset_for(self, cfg: Mapping[str, Any]) -> Dataset | None:
        """The loaded default dataset when a stored run used it (else the run loads its own)."""
        if self._data is not None and cfg.get("dataset") == self.defaults.dataset:
            return self._data
        return None

    @property
    def data(self) -> Dataset:
        """The dataset of new runs (loaded once)."""
        with self._lock:
            if self._data is None:
                d = self.defaults
                self._data = load_dataset(d.dataset, data_dir=d.data_dir, seed=d.seed)
            return self._data

    @property
    def truth(self) -> GroundTruth | None:
        """Ground truth of the default benchmark, if one is configured."""
        with self._lock:
            if not self._truth_loaded:
                b = self.defaults.benchmark
                self._truth = load_ground_truth(b, space=self.space.name) if b else None
                self._truth_loaded = True
            return self._truth

    # ------------------------------------------------------------------ snapshots
    def snapshot(self) -> Snapshot | None:
        """The live session's latest frozen snapshot (``None`` before the first run)."""
        s = self._session
        return s.snapshot() if s is not None else None

    @property
    def session(self) -> SearchSession | None:
        """The live session (read-only use; send commands through this controller)."""
        return self._session

    # --------------------------------------------------------------- stored runs
    def stored_runs(self) -> list[RunInfo]:
        """Every stored run of this controller's space, oldest first (read only)."""
        return [
            r
            for r in self.storage.list_runs()
            if r.config.get("space", DEFAULT_SPACE) == self.space.name
        ]

    def runs_overview(self, run_ids: Any, *, show_truth: bool = True) -> RunComparison:
        """The stored runs ``run_ids`` compared (read only: no run is opened or changed).

        Args:
            run_ids: Run ids as the browser sends them (a list of whole numbers).
            show_truth: Whether ground truth may be shown.

        Raises:
            InputError: Not a list of at most :data:`MAX_COMPARED` whole numbers.
        """
        if run_ids is None:
            run_ids = []
        if not isinstance(run_ids, list) or len(run_ids) > MAX_COMPARED:
            raise InputError(f"runs must be a list of at most {MAX_COMPARED} run ids")
        wanted = [inputs.whole("run id", v) for v in run_ids]
        return compare_runs(self.storage, [int(w) for w in wanted if w is not None],
                            show_truth=show_truth)  # fmt: skip

    def _stored(self, run_id: Any) -> RunInfo:
        """The stored run ``run_id`` of this space, or :class:`InputError`."""
        rid = inputs.whole("run id", run_id)
        for r in self.stored_runs():
            if r.id == rid:
                return r
        raise InputError(f"no run {rid} of the {self.space.name} space is stored")

    def open_run(self, run_id: Any) -> str:
        """Reopen the stored run ``run_id`` in place of the live run (which stays stored
        and resumable): paused, or finished to view; Resume continues a paused one.

        Raises:
            InputError: No such run of this space, or it cannot be reopened.
        """
        info = self._stored(run_id)
        with self._lock:
            old = self._session
            if old is not None and old.run_id == info.id:
                return f"run {info.id} is already open"
            try:
                new = SearchSession.resume(
                    self.storage,
                    info.id,
                    data=self._dataset_for(info.config),
                    **self._where(),
                )
            except CommandError as exc:
                raise InputError(f"cannot reopen run {info.id}: {exc}") from None
            paused = self._close_old(old)
            self._session = new
            self._viewing = info.id
            status = new.snapshot().status
        more = "" if status == "finished" else "; Resume continues it"
        return f"run {info.id} opened ({status}, read-only){more}{paused}"

    def _not_viewing(self) -> None:
        """Refuse a change to a run opened by View until it is resumed.

        Raises:
            InputError: The live run was opened to view.
        """
        s = self._session
        if self._viewing is not None and s is not None and s.run_id == self._viewing:
            raise InputError(
                f"run {self._viewing} is open to view (read-only): press Resume (or Start) "
                "to continue it before steering or training"
            )

    def new_run_from(self, run_id: Any) -> str:
        """Start a new run with the stored run ``run_id``'s settings and its current mask
        (its last steering event's mask, else its initial one) as prune and pin lists.
        The live run stays stored and resumable.

        Raises:
            InputError: No such run of this space, or its settings are refused now.
        """
        info = self._stored(run_id)
        try:
            cfg = SearchConfig.from_dict(info.config)
            events = self.storage.events(info.id)
            mask = events[-1].mask_after if events else cfg.initial_mask(self.space)
        except (CommandError, MaskError, TypeError, ValueError) as exc:
            raise InputError(f"cannot copy run {info.id}: {exc}") from None
        prune = tuple((e, op) for e, ops in enumerate(mask.pruned) for op in sorted(ops))
        pin = tuple((e, op) for e, op in enumerate(mask.pinned) if op is not None)
        cfg = dataclasses.replace(cfg, prune=prune, pin=pin)
        with self._lock:
            old = self._session
            try:
                new = SearchSession.create(
                    self.storage,
                    cfg,
                    data=self._dataset_for(info.config),
                    **self._where(),
                )
            except CommandError as exc:
                raise InputError(str(exc)) from None
            paused = self._close_old(old)
            self._session = new
            new.start()
        return (
            f"run {new.run_id} started from run {info.id}'s settings and mask "
            f"(pruned ops: {len(prune)}, pinned edges: {len(pin)}){paused}"
        )

    @staticmethod
    def _close_old(old: SearchSession | None) -> str:
        """Close the session being replaced (it stays resumable); say so if it was running."""
        if old is None:
            return ""
        running = old.snapshot().status == "running"
        old.close()
        return f"; run {old.run_id} was running and is paused" if running else ""

    # ------------------------------------------------------------------- commands
    def start(self, *, strategy: str, proxy: str, budget: Any) -> str:
        """Start a new run, or continue the current one with these settings.

        Args:
            strategy: Strategy name.
            proxy: Fitness proxy name or ``ensemble``.
            budget: Number of candidates (int or text from the UI).

        Returns:
            A message for the user.

        Raises:
            InputError: Bad budget, strategy or proxy (any type but text for the names, any
                but an int or short text for the budget), or a supernet checkpoint that
                does not fit the new run.
        """
        strategy = inputs.name("strategy", strategy)
        proxy = inputs.name("proxy", proxy)
        if isinstance(budget, str) and len(budget) > inputs.MAX_NUMBER_TEXT:
            raise InputError(f"budget must be a whole number, got {inputs.kind(budget)}")
        try:
            n = SearchConfig.parse_budget(budget)
        except CommandError as exc:
            raise InputError(str(exc)) from None
        with self._lock:
            self._viewing = None  # Start continues a viewed run, or opens a new one
            s = self._session
            status = s.snapshot().status if s is not None else None
            if s is None or status in ("finished", "failed"):
                if s is not None:
                    s.close()
                try:
                    cfg = dataclasses.replace(
                        self.defaults, strategy=strategy, proxy=proxy, budget=n
                    )
                    self._session = SearchSession.create(
                        self.storage,
                        cfg,
                        data=self.data,  # new runs use the default dataset
                        **self._where(),
                    )
                except CommandError as exc:
                    raise InputError(str(exc)) from None
                self._session.start()
                new_id = self._session.run_id
                if s is None:
                    return f"run {new_id} started"
                return (
                    f"run {new_id} started with a fresh mask; run {s.run_id} ({status}) stays "
                    "stored: compare it under Runs"
                )
            try:
                if strategy != s.config.strategy:
                    s.set_strategy(strategy)
                if proxy != s.config.proxy:
                    s.set_proxy(proxy)
                if n != s.snapshot().config.budget:
                    s.set_budget(n)
            except CommandError as exc:
                raise InputError(str(exc)) from None
            if status == "idle":
                s.start()
            elif status in ("paused", "stopped"):
                s.resume_search()
            return f"run {s.run_id} running"

    def pause(self) -> str:
        """Pause the live run."""
        return self._simple("pause")

    def resume(self) -> str:
        """Resume the live run (a run opened by View can be steered from then on)."""
        out = self._simple("resume_search")
        self._viewing = None
        return out

    def stop(self) -> str:
        """Stop the live run (it stays resumable)."""
        return self._simple("stop")

    def _simple(self, method: str) -> str:
        s = self._session
        if s is None:
            raise InputError("no run yet: press Start")
        try:
            getattr(s, method)()
        except CommandError as exc:
            raise InputError(str(exc)) from None
        return f"{method.replace('_search', '')} sent to run {s.run_id}"

    def steer(
        self,
        action: str,
        edge: int | None = None,
        op: str | None = None,
        note: str = "",
        *,
        actor: str = "",
        actor_name: str = "",
    ) -> str:
        """Prune/pin/unpin/restore/reset/undo on the live run's mask.

        ``actor`` (a viewer's stable key) and ``actor_name`` attribute the event; an undo
        with an actor reverts that actor's own last action.

        Returns:
            The engine's acceptance message.

        Raises:
            InputError: A value of the wrong type, no run, or the engine refused the action
                (reason in the message).
        """
        action = inputs.name("action", action)
        edge = inputs.whole("edge", edge, optional=True)
        op = inputs.name("op", op, optional=True)
        note = inputs.text("note", note)
        s = self._session
        if s is None:
            raise InputError("no run yet: press Start before steering")
        self._not_viewing()
        try:
            s.steer(action, edge, op, note=note, actor=actor, actor_name=actor_name)
        except (MaskError, CommandError) as exc:
            raise InputError(str(exc)) from None
        return s.snapshot().message or f"{action} accepted"

    def set_resource_budget(
        self, *, max_flops: Any = None, max_params: Any = None, max_latency: Any = None,
        note: str = "", actor: str = "", actor_name: str = "",
    ) -> str:  # fmt: skip
        """Change the live run's resource budget (blank = no limit), as a steering event;
        before the first run, set the budget new runs start with.

        Args:
            max_flops: FLOPs limit in millions (number or text).
            max_params: Parameter limit in millions.
            max_latency: Latency limit in ms on the run's latency-table device.
            note: Optional note stored with the event.
            actor: The viewer's stable key (undo matches on it).
            actor_name: The viewer's name in the history.

        Returns:
            The engine's acceptance message.

        Raises:
            InputError: A value that is no positive number, or a budget that leaves no cell
                of the mask (the message gives the nearest feasible value).
        """
        limits = {"max FLOPs": max_flops, "max params": max_params, "max latency": max_latency}
        values = [_limit(k, inputs.number_field(k, v)) for k, v in limits.items()]
        note = inputs.text("note", note)
        s = self._session
        if s is not None:
            self._not_viewing()
        try:
            if s is None:  # no run yet: the budget of the first one
                self.defaults = dataclasses.replace(
                    self.defaults,
                    **dict(zip(("max_flops", "max_params", "max_latency"), values, strict=True)),
                )
                return f"budget for new runs: {self.defaults.resource_budget().describe()}"
            s.steer(
                "budget", budget=ResourceBudget(*values), note=note, actor=actor,
                actor_name=actor_name,
            )  # fmt: skip
        except (MaskError, CommandError) as exc:
            raise InputError(str(exc)) from None
        return s.snapshot().message or "budget accepted"

    def set_aids(self, *, warmup: Any, move_p: Any) -> str:
        """Zero-cost warm-up pool and move-proposal probability (blank: off), for the live
        run (its strategy is rebuilt) and for new runs.

        Raises:
            InputError: A pool that is no whole number >= 0, or a probability outside [0, 1].
        """
        warmup = inputs.number_field("warm-up", warmup)
        move_p = inputs.number_field("move p", move_p)
        try:
            pool = int(str(warmup).strip() or 0) if warmup is not None else 0
            p = None if move_p is None or str(move_p).strip() == "" else float(move_p)
            if self._session is not None:
                self._not_viewing()
            self.defaults = dataclasses.replace(self.defaults, warmup=pool, move_p=p)
            if self._session is not None:
                self._session.set_aids(warmup=pool, move_p=p)
        except (ValueError, CommandError) as exc:
            msg = f"warm-up must be a whole number >= 0, move p in [0, 1]: {exc}"
            raise InputError(msg) from None
        on = [
            f"warm-up pool {pool}" if pool else "",
            f"move proposal p={p:g}" if p is not None else "",
        ]
        return "zero-cost aids: " + (", ".join(x for x in on if x) or "off")

    def costs(self) -> CostTable | None:
        """FLOPs, params (and latency) of every cell as the live run counts them."""
        s = self._session
        return s.costs() if s is not None else None

    def train(self, arch: str) -> str:
        """Queue a short training from scratch of ``arch``."""
        inputs.arch_text(arch)
        s = self._session
        if s is None:
            raise InputError("no run yet: press Start")
        self._not_viewing()
        try:
            s.train(self.parse_arch(arch))
        except CommandError as exc:
            raise InputError(str(exc)) from None
        return "training queued"

    def arch_of_index(self, index: int) -> str:
        """The arch string of cell ``index`` of the space.

        Raises:
            InputError: Not a whole number, or no cell of the space has that index.
        """
        i = inputs.whole("cell index", index)
        assert i is not None
        if not 0 <= i < self.space.size:
            raise InputError(f"cell index {i} is outside the space (0..{self.space.size - 1})")
        return self.space.to_string(self.space.from_index(i))

    def export_spec(
        self,
        arch: str,
        *,
        scores: Mapping[str, float] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> tuple[str, dict[str, Any]]:
        """A JSON-ready description of ``arch`` and its trained network.

        Returns:
            ``(file name, spec)``.

        Raises:
            InputError: A bad arch, or scores/extra that are no mappings.
        """
        if not isinstance(scores, Mapping | None) or not isinstance(extra, Mapping | None):
            raise InputError("export scores and extra fields must be mappings")
        cfg, slug = self._export_target(arch)
        spec = arch_spec(
            self.space,
            arch,
            num_classes=self.data.num_classes,
            scores=scores or {},
            extra=extra or {},
            scores_network=cfg.network(self.space, "proxy"),
            **cfg.network(self.space, "train"),
        )
        return f"{slug}.json", spec

    def export_module(self, arch: str) -> tuple[str, str]:
        """A standalone PyTorch file building ``arch``'s network: ``(file name, source)``."""
        cfg, slug = self._export_target(arch)
        src = module_source(
            self.space, arch, num_classes=self.data.num_classes, **cfg.network(self.space, "train")
        )
        return f"{slug}.py", src

    def _export_target(self, arch: str) -> tuple[SearchConfig, str]:
        a = self.parse_arch(arch)
        cfg = self._session.config if self._session is not None else self.defaults
        return cfg, f"{self.space.name}_{self.space.index(self.space.from_string(a))}"

    def parse_arch(self, text: str | None) -> str:
        """Canonical arch string, or :class:`InputError` naming the problem."""
        a = inputs.arch_text(text)
        try:
            return self.space.to_string(self.space.from_string(a))
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise InputError(f"unknown architecture: {exc}") from None


def _limit(name: str, value: Any) -> float | None:
    """A limit from the page: blank is no limit; anything else a positive number."""
    text = "" if value is None else str(value).strip()
    if not text:
        return None
    try:
        v = float(text)
    except ValueError:
        raise InputError(f"{name} must be a positive number or blank, got {text!r}") from None
    if not v > 0 or v != v or v == float("inf"):
        raise InputError(f"{name} must be a positive number or blank, got {text!r}")
    return v
