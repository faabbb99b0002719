"""What every viewer shares: the published snapshot and the callback results drawn from it.

A classroom of thirty tabs polls one search. If each tab drew whatever snapshot was live
when it asked, each would ask for its own snapshot version and the server would build
every figure thirty times. Instead:

- :class:`Published` is the snapshot the page shows. It follows the engine's at most once
  per ``refresh_s`` (a steering command refreshes it at once), so the snapshot-driven
  callbacks fire at a bounded rate however fast the search runs, and every tab asks for
  the same version.
- :class:`SharedResults` keeps each callback's result per published version and view
  settings. The first request builds it; concurrent requests for the same key wait for
  that build instead of repeating it; later ones reuse it.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

#: Default least seconds between two published snapshot versions.
REFRESH_S = 2.0


class Published:
    """The snapshot version the views draw, refreshed at most every ``refresh_s``.

    Args:
        snapshot: Returns the engine's live snapshot (``None`` before any run).
        refresh_s: Least seconds between two published versions.
        clock: Monotonic clock (tests).
    """

    def __init__(
        self,
        snapshot: Callable[[], Any],
        *,
        refresh_s: float = REFRESH_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not refresh_s >= 0:
            raise ValueError(f"refresh_s must be >= 0, got {refresh_s!r}")
        self._snapshot = snapshot
        self.refresh_s = refresh_s
        self._clock = clock
        self._lock = threading.Lock()
        self._key: str | None = None
        self._snap: Any = None
        self._at = -float("inf")
        self._forced = False
        self.versions = 0  # versions published so far

    @staticmethod
    def key_of(snap: Any) -> str:
        """A snapshot's version key (what the page's version store holds)."""
        return "none" if snap is None else f"{snap.run_id}:{snap.updated:.6f}"

    def get(self) -> tuple[str, Any]:
        """The published ``(key, snapshot)``; takes the live one when it is due."""
        with self._lock:
            now = self._clock()
            if self._key is None or self._forced or now - self._at >= self.refresh_s:
                snap = self._snapshot()
                key = self.key_of(snap)
                if key != self._key:
                    self._key, self._snap, self._at = key, snap, now
                    self.versions += 1
                self._forced = False
            return self._key, self._snap

    def refresh(self) -> None:
        """Publish the live snapshot at the next :meth:`get` (after a command, so the
        viewer who sent it sees its effect without waiting out ``refresh_s``)."""
        with self._lock:
            self._forced = True


class SharedResults:
    """Results by key, built once (single flight) and kept for the ``size`` newest keys.

    Args:
        size: Keys kept.
        wait_s: How long a request waits for another's build before building itself.
    """

    def __init__(self, *, size: int = 48, wait_s: float = 30.0) -> None:
        self.size = size
        self.wait_s = wait_s
        self._lock = threading.Lock()
        self._items: OrderedDict[Hashable, Any] = OrderedDict()
        self._building: dict[Hashable, threading.Event] = {}
        self.builds = 0  # results built (the rest were shared)
        self.hits = 0

    def get(self, key: Hashable, build: Callable[[], Any]) -> Any:
        """The result for ``key``; ``build()`` runs only when no one has it or builds it.

        A build that raises is not kept: the exception goes to its caller, and requests
        that waited for it build again themselves.
        """
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                self.hits += 1
                return self._items[key]
            running = self._building.get(key)
            if running is None:
                self._building[key] = done = threading.Event()
        if running is not None:
            running.wait(self.wait_s)
            with self._lock:
                if key in self._items:
                    self.hits += 1
                    return self._items[key]
            return build()  # the other build failed or is stuck: do not wait twice
        try:
            value = build()
        except BaseException:
            with self._lock:
                self._building.pop(key, None)
            done.set()
            raise
        with self._lock:
            self.builds += 1
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)
            self._building.pop(key, None)
        done.set()
        return value
