"""Background search sessions: a thread per run, a command queue, frozen snapshots."""

from __future__ import annotations

from nas_engine.runner.session import (
    STATUSES,
    CommandError,
    CurvePoint,
    SearchConfig,
    SearchSession,
    Snapshot,
    SnapshotStore,
)

__all__ = [
    "STATUSES",
    "CommandError",
    "CurvePoint",
    "SearchConfig",
    "SearchSession",
    "Snapshot",
    "SnapshotStore",
]
