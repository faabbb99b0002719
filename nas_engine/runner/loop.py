"""A background thread that drains a command queue between units of work."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from nas_engine.runner.config import CommandError


@dataclass
class Command:
    """A queued command: its name and arguments."""

    name: str
    args: dict[str, Any] = field(default_factory=dict)


class CommandLoop:
    """One thread that runs :meth:`_tick` while ``_status == "running"`` and applies
    queued commands between ticks (and, while not running, as they arrive).

    Subclasses call :meth:`_init_loop`, fill ``_handlers`` (command name → handler),
    implement :meth:`_tick`, :meth:`_publish` and :meth:`_on_crash`, and start
    ``_thread`` when they are ready. A subclass that sets ``_not_before`` (a
    :func:`time.monotonic` instant) holds the next tick until then, still applying
    commands as they arrive. Thread safety: :meth:`_submit` may be called from any
    thread; everything else runs on the loop's thread.
    """

    _status: str

    def _init_loop(self, name: str) -> None:
        self._queue: queue.Queue[Command] = queue.Queue()
        self._closed = threading.Event()
        self._not_before = 0.0
        self._handlers: dict[str, Callable[[Command], None]] = {}
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)

    def _tick(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _publish(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _on_crash(self, exc: Exception) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _submit(self, name: str, **args: Any) -> None:
        if self._closed.is_set():
            raise CommandError("session is closed")
        self._queue.put(Command(name, args))

    def _loop(self) -> None:
        try:
            while not self._closed.is_set():
                wait = self._not_before - time.monotonic()
                if self._status == "running" and wait <= 0:
                    self._drain(block=False)
                    if self._status == "running":
                        self._tick()
                else:
                    self._drain(block=True, timeout=min(wait, 0.05) if wait > 0 else 0.05)
        except Exception as exc:  # a bug in the loop itself: record and stop cleanly
            self._on_crash(exc)

    def _drain(self, *, block: bool, timeout: float = 0.05) -> None:
        try:
            cmd = self._queue.get(timeout=timeout) if block else self._queue.get_nowait()
        except queue.Empty:
            return
        while True:
            self._apply(cmd)
            try:
                cmd = self._queue.get_nowait()
            except queue.Empty:
                break

    def _apply(self, cmd: Command) -> None:
        handler = self._handlers.get(cmd.name)
        if handler is not None:
            handler(cmd)
        self._publish()
