"""Frozen snapshots of a search session and the store that hands them to readers."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from nas_engine.distributed import WorkerStatus
from nas_engine.resources import CostTable, ResourceBudget
from nas_engine.runner.config import SearchConfig
from nas_engine.runner.fidelity import Fidelity, unknown
from nas_engine.search_spaces import OpMask
from nas_engine.steering import SteeringEvent
from nas_engine.storage import CandidateRecord

STATUSES = ("idle", "running", "paused", "stopped", "finished", "failed")


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
        budget: Resource budget in force.
        costs: FLOPs/params (and latency) of every cell, when the run has a budget or a
            latency table (shared, not copied: treat as read-only).
        fidelity: How far the one-shot estimate can be trusted (ground truth first).
        search_fidelity: The same without ground truth: what the search acts on, and
            what a page that hides ground truth shows.
        workers: Where the run's tasks run (Dask workers busy/idle, tasks in flight);
            ``None`` for a run in this process.
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
    budget: ResourceBudget = field(default_factory=ResourceBudget)
    costs: CostTable | None = None
    fidelity: Fidelity = field(default_factory=lambda: unknown("no candidates yet"))
    search_fidelity: Fidelity = field(default_factory=lambda: unknown("no candidates yet"))
    workers: WorkerStatus | None = None

    @property
    def n_evaluated(self) -> int:
        """Number of evaluated candidates."""
        return len(self.candidates)

    @property
    def warmup_left(self) -> int:
        """SPOS steps left before the first candidate (0 once warmed up or without a
        supernet)."""
        if not self.config.supernet:
            return 0
        return max(0, self.config.supernet_warmup - self.supernet_step)


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


def wait_for(
    get: Callable[[], Snapshot],
    cond: Callable[[Snapshot], bool],
    *,
    timeout: float = 60.0,
    poll: float = 0.02,
) -> Snapshot:
    """Poll ``get()`` until ``cond`` holds for a snapshot; return it.

    Raises:
        TimeoutError: Not within ``timeout`` seconds (the message gives the last status).
    """
    deadline = time.time() + timeout
    while True:
        snap = get()
        if cond(snap):
            return snap
        if time.time() > deadline:
            raise TimeoutError(f"condition not met within {timeout}s (status {snap.status})")
        time.sleep(poll)
