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
- :class:`SharedResponses` keeps whole HTTP answers in front of Dash, so a viewer whose
  request matches another's gets the stored bytes.
- :class:`ViewerCount` counts the tabs seen lately; the published interval grows with it.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

#: Default least seconds between two published snapshot versions.
REFRESH_S = 2.0
#: Snapshot-view requests per second per view, all viewers together (beyond
#: ``PER_S * REFRESH_S`` viewers the published interval grows with the room).
PER_S = 4.0


class ViewerCount:
    """The viewers seen in the last ``window_s`` seconds (by their tab identity).

    Args:
        window_s: How long a viewer counts after its last request.
        clock: Monotonic clock (tests).
    """

    def __init__(
        self, *, window_s: float = 10.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.window_s = window_s
        self._clock = clock
        self._lock = threading.Lock()
        self._seen: dict[str, float] = {}

    def touch(self, key: str) -> None:
        """Note a request of viewer ``key``."""
        with self._lock:
            self._seen[key] = self._clock()

    def count(self) -> int:
        """Viewers seen within the window (older ones are forgotten here)."""
        with self._lock:
            self._drop()
            return len(self._seen)

    def _drop(self) -> None:
        old = self._clock() - self.window_s
        for k in [k for k, t in self._seen.items() if t < old]:
            del self._seen[k]


class Published:
    """The snapshot version the views draw, refreshed at most every ``refresh_s``.

    With ``viewers``, the interval grows with the room: ``max(refresh_s, n / per_s)``
    for ``n`` viewers seen lately, so the snapshot views of all viewers together fire at
    most ``per_s`` times a second per view, however many watch.

    Args:
        snapshot: Returns the engine's live snapshot (``None`` before any run).
        refresh_s: Least seconds between two published versions.
        viewers: Counts the viewers seen lately (``None``: a fixed interval).
        per_s: Snapshot-view requests per second per view, all viewers together.
        clock: Monotonic clock (tests).
    """

    def __init__(
        self,
        snapshot: Callable[[], Any],
        *,
        refresh_s: float = REFRESH_S,
        viewers: ViewerCount | None = None,
        per_s: float = PER_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not refresh_s >= 0:
            raise ValueError(f"refresh_s must be >= 0, got {refresh_s!r}")
        if not per_s > 0:
            raise ValueError(f"per_s must be > 0, got {per_s!r}")
        self._snapshot = snapshot
        self.refresh_s = refresh_s
        self.viewers = viewers
        self.per_s = per_s
        self._clock = clock
        self._lock = threading.Lock()
        self._key: str | None = None
        self._snap: Any = None
        self._at = -float("inf")
        self._forced = False

    @staticmethod
    def key_of(snap: Any) -> str:
        """A snapshot's version key (what the page's version store holds)."""
        return "none" if snap is None else f"{snap.run_id}:{snap.updated:.6f}"

    def interval(self) -> float:
        """Seconds between two published versions now."""
        n = self.viewers.count() if self.viewers is not None else 0
        return max(self.refresh_s, n / self.per_s)

    def get(self) -> tuple[str, Any]:
        """The published ``(key, snapshot)``; takes the live one when it is due."""
        interval = self.interval()
        with self._lock:
            now = self._clock()
            if self._key is None or self._forced or now - self._at >= interval:
                snap = self._snapshot()
                key = self.key_of(snap)
                if key != self._key:
                    self._key, self._snap, self._at = key, snap, now
                self._forced = False
            return self._key, self._snap

    def refresh(self) -> None:
        """Publish the live snapshot at the next :meth:`get` (after a command, so the
        viewer who sent it sees its effect without waiting out ``refresh_s``)."""
        with self._lock:
            self._forced = True


def _keep_newest(items: OrderedDict[Hashable, Any], key: Hashable, value: Any, size: int) -> None:
    """Store ``value`` as the newest item, dropping the oldest beyond ``size``."""
    items[key] = value
    items.move_to_end(key)
    while len(items) > size:
        items.popitem(last=False)


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
            _keep_newest(self._items, key, value, self.size)
            self._building.pop(key, None)
        done.set()
        return value


#: GET routes whose answer is the same for every viewer for the server's life: the layout
#: is a fixed structure (its data comes through callbacks), as are the callbacks.
STATIC_ROUTES = ("/_dash-layout", "/_dash-dependencies")


class SharedResponses:
    """Whole HTTP answers of the snapshot-driven callbacks, shared between viewers.

    :class:`SharedResults` saves building a figure per viewer, but each request still
    went through Dash and serialised the figures again: at thirty viewers that alone
    took a large share of the interpreter from the engine thread. This cache sits in
    front of Dash (a Flask ``before_request``/``after_request`` pair). A request of a
    shareable callback is keyed on the published snapshot version and its body; an
    identical body at the same version is answered with the stored bytes. Entries live
    ``ttl_s`` at most, so what changes without a new version (a layout that finished, a
    background job) shows within that time. The page itself (its HTML, ``/_dash-layout``
    and ``/_dash-dependencies``) is rendered once for the server's life: thirty tabs
    opening at once no longer render it thirty times.

    Args:
        version: Returns the published snapshot's version key.
        shareable: Output keys (Dash's ``output`` field) of the callbacks whose answer
            depends only on the published snapshot and the request body.
        ignore_inputs: ``(id, property)`` inputs whose values do not change the answer
            (the poll's tick count).
        ignore_states: ``(id, property)`` states whose value does not change the answer
            once it is set (a tab's identity store: the poll answers alike to every tab
            that has one). A request where one of them is unset is not shared: the poll
            then hands that tab a new identity of its own.
        ttl_s: Longest life of an entry.
        size: Entries kept.
        viewers: Told the identity (``key`` of the first ``ignore_states`` value) of
            each viewer whose request passes, shared or not.
    """

    def __init__(
        self,
        version: Callable[[], str],
        shareable: set[str],
        *,
        ignore_inputs: set[tuple[str, str]] = frozenset(),  # type: ignore[assignment]
        ignore_states: set[tuple[str, str]] = frozenset(),  # type: ignore[assignment]
        ttl_s: float = REFRESH_S,
        size: int = 256,
        viewers: ViewerCount | None = None,
    ) -> None:
        self.viewers = viewers
        self.version = version
        self.shareable = shareable
        self.ignore_inputs = ignore_inputs
        self.ignore_states = ignore_states
        self.ttl_s = ttl_s
        self.size = size
        self._lock = threading.Lock()
        self._items: OrderedDict[Hashable, tuple[float, int, bytes, str]] = OrderedDict()
        self._building: dict[Hashable, threading.Event] = {}
        self.hits = 0
        self.misses = 0

    def install(self, server: Any, *, index: str = "/") -> None:
        """Hook into a Flask server's request cycle (``index``: the page's own path, whose
        HTML is the same for every tab)."""
        import flask

        @server.before_request
        def _answer() -> Any:
            req = flask.request
            if req.method == "GET" and (req.path == index or req.path.endswith(STATIC_ROUTES)):
                key: Hashable | None = ("static", req.path)  # the page's fixed structure
            elif req.method == "POST" and req.path.endswith("/_dash-update-component"):
                key = self.key_of(req.get_data(cache=True))
            else:
                return None
            if key is None:
                return None
            hit = self._get(key)
            if hit is not None:
                status, body, mimetype = hit
                return flask.Response(body, status=status, mimetype=mimetype)
            flask.g.nasnav_shared_key = key
            return None

        @server.after_request
        def _keep(response: Any) -> Any:
            key = flask.g.pop("nasnav_shared_key", None)
            if key is not None:
                ok = response.status_code in (200, 204) and not response.direct_passthrough
                self._put(key, response.status_code, response.get_data() if ok else None,
                          response.mimetype)  # fmt: skip
            return response

        @server.teardown_request
        def _release(_exc: Any) -> None:  # a request that failed before after_request
            key = flask.g.pop("nasnav_shared_key", None)
            if key is not None:
                self._put(key, 500, None, "")

    def key_of(self, raw: bytes) -> Hashable | None:
        """The cache key of a request body, or ``None`` when it is not shareable."""
        try:
            body = json.loads(raw)
            output = body["output"]
        except (ValueError, TypeError, KeyError):
            return None
        if not isinstance(output, str) or output not in self.shareable:
            return None
        for part, ignored in (("inputs", self.ignore_inputs), ("state", self.ignore_states)):
            specs = body.get(part)
            if not isinstance(specs, list):
                continue
            for spec in specs:
                if isinstance(spec, dict) and (spec.get("id"), spec.get("property")) in ignored:
                    value = spec.get("value")
                    if part == "state" and value is None:
                        return None
                    if part == "state" and self.viewers is not None and isinstance(value, dict):
                        self.viewers.touch(str(value.get("key"))[:64])
                    spec["value"] = None
        text = json.dumps(body, sort_keys=True, separators=(",", ":"))
        return (self.version(), hashlib.blake2b(text.encode(), digest_size=16).digest())

    def _get(self, key: Hashable) -> tuple[int, bytes, str] | None:
        while True:
            with self._lock:
                item = self._items.get(key)
                fresh = item is not None and time.monotonic() - item[0] <= self.ttl_s
                if item is not None and (fresh or key[0] == "static"):
                    self.hits += 1
                    return item[1:]
                running = self._building.get(key)
                if running is None:
                    self._building[key] = threading.Event()
                    self.misses += 1
                    return None
            if not running.wait(10.0):
                return None  # the first request is stuck: answer this one through Dash
            with self._lock:
                item = self._items.get(key)
                if item is None:  # the first one failed: this one goes through Dash
                    self.misses += 1
                    return None

    def _put(self, key: Hashable, status: int, body: bytes | None, mimetype: str) -> None:
        with self._lock:
            if body is not None:
                _keep_newest(
                    self._items, key, (time.monotonic(), status, body, mimetype), self.size
                )
            done = self._building.pop(key, None)
        if done is not None:
            done.set()
