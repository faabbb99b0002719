"""Run ``nasnav search`` and record what the process *showed* (for the kill -9 tests).

    python -m tests.search_harness SHOWN_FILE COMMIT_DELAY -- <nasnav search args>

Every snapshot the runner publishes is observed the moment it is set: each candidate it
shows for the first time is appended to ``SHOWN_FILE`` as ``seq arch`` and synced, before
the runner goes on. ``COMMIT_DELAY`` seconds of sleep before each candidate insert stand
for a slow disk: they widen the window in which a runner that showed a candidate before
committing it (or that batched its commits) would lose a shown candidate to ``kill -9``.
Nothing in the engine is changed: the harness wraps two methods from outside.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any


def main(argv: list[str]) -> None:
    shown_path, delay = argv[0], float(argv[1])
    args = argv[argv.index("--") + 1 :]

    from nas_engine.cli import main as cli
    from nas_engine.runner.snapshot import SnapshotStore
    from nas_engine.storage import SQLiteStorage

    shown = open(shown_path, "a")  # noqa: SIM115 - lives as long as the process
    count = {"n": 0}
    store_set, insert = SnapshotStore.set, SQLiteStorage.add_candidate

    def observed_set(self: SnapshotStore, snap: Any) -> None:
        store_set(self, snap)
        fresh = snap.candidates[count["n"] :]
        if fresh:
            shown.write("".join(f"{c.seq} {c.arch}\n" for c in fresh))
            shown.flush()
            os.fsync(shown.fileno())
            count["n"] = len(snap.candidates)

    def slow_insert(self: SQLiteStorage, *a: Any, **kw: Any) -> None:
        time.sleep(delay)
        insert(self, *a, **kw)

    SnapshotStore.set = observed_set  # type: ignore[method-assign]
    SQLiteStorage.add_candidate = slow_insert  # type: ignore[method-assign]
    cli.main(args=["search", *args], standalone_mode=True)


if __name__ == "__main__":
    main(sys.argv[1:])
