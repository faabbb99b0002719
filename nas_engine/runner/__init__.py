"""Background search sessions: a thread per run, a command queue, frozen snapshots."""

from __future__ import annotations

from nas_engine.runner.config import MAX_BUDGET, CommandError, SearchConfig
from nas_engine.runner.session import SearchSession
from nas_engine.runner.snapshot import STATUSES, CurvePoint, Snapshot, SnapshotStore

__all__ = [
    "MAX_BUDGET",
    "STATUSES",
    "CommandError",
    "CurvePoint",
    "SearchConfig",
    "SearchSession",
    "Snapshot",
    "SnapshotStore",
]
