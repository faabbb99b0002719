"""Where scoring and training tasks run: in this process, or on a Dask cluster.

:class:`Executor` is the one seam. Callers submit task functions (see
:mod:`nas_engine.distributed.tasks`) with picklable arguments and get futures back; they
stay the only writer of every result, so storage and score files see each result once
whatever happens to the workers.

* :class:`InProcessExecutor` runs a task at once, in the caller's thread. It is the
  default and behaves as the engine did before the seam.
* :class:`DaskExecutor` connects to a scheduler (``--scheduler tcp://HOST:PORT``) or
  starts a :class:`distributed.LocalCluster` of worker processes bound to 127.0.0.1
  (``--workers N``). A task lost with its worker is run again elsewhere by Dask.
"""

from __future__ import annotations

import abc
import concurrent.futures as cf
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

#: Environment form of ``--scheduler``.
SCHEDULER_ENV = "NASNAV_SCHEDULER"
#: Seconds to wait for a scheduler to answer when connecting.
CONNECT_TIMEOUT_S = 10.0
#: Seconds between two reads of the workers' status (each a scheduler round trip).
STATUS_TTL_S = 2.0


class ExecutorError(RuntimeError):
    """The executor cannot run tasks: the scheduler is unreachable or went away, or a
    task was lost more often than Dask retries it. The message names the cause."""


@dataclass(frozen=True)
class WorkerStatus:
    """The workers an executor runs tasks on, as the page and the CLI show them.

    Args:
        kind: ``"in-process"`` or ``"dask"``.
        workers: Worker processes (1 for in-process).
        busy: Workers running a task now.
        threads: Task threads over all workers (tasks run at once).
        in_flight: This executor's tasks submitted and not finished.
        address: The scheduler's address (Dask).
        dashboard: Dask's dashboard link, when the scheduler serves one.
        resources: Abstract resources over all workers (e.g. ``{"GPU": 2}``).
        error: Why the status could not be read (the scheduler went away...).
    """

    kind: str
    workers: int
    busy: int
    threads: int
    in_flight: int
    address: str | None = None
    dashboard: str | None = None
    resources: Mapping[str, float] = field(default_factory=dict)
    error: str | None = None

    @property
    def idle(self) -> int:
        """Workers without a task."""
        return max(self.workers - self.busy, 0)

    def label(self) -> str:
        """One line: ``dask tcp://…: 2 workers (1 busy, 1 idle), 3 tasks in flight``."""
        if self.kind == "in-process":
            return "in-process (no workers)"
        if self.error:
            return f"dask {self.address}: {self.error}"
        s = "s" * (self.workers != 1)
        return (
            f"dask {self.address}: {self.workers} worker{s} ({self.busy} busy, {self.idle} "
            f"idle), {self.in_flight} task{'s' * (self.in_flight != 1)} in flight"
        )


class Executor(abc.ABC):
    """Runs tasks and hands back futures.

    Contract:

    * :meth:`submit` returns a future with ``done()``, ``result()`` and ``cancel()``; a
      task function and its arguments must be picklable for remote executors.
    * :attr:`slots` is how many tasks are worth keeping in flight (1 in-process).
    * :meth:`wait_any` returns the finished futures among those given, waiting at most
      ``timeout`` seconds for the first; it raises :class:`ExecutorError` when the
      executor can no longer run tasks.
    * A future's ``result()`` raises :class:`ExecutorError` for lost work (never for a
      task's own exception, which is re-raised as is).
    * :meth:`close` releases workers and connections; the executor is unusable after.

    Thread safety: one caller thread per executor is expected for submit/wait; status
    may be read from any thread.
    """

    kind: str = ""

    @property
    @abc.abstractmethod
    def slots(self) -> int:
        """Tasks worth keeping in flight."""

    @abc.abstractmethod
    def submit(
        self, fn: Callable[..., Any], *args: Any, resources: Mapping[str, float] | None = None
    ) -> Any:
        """Run ``fn(*args)``; ``resources`` (Dask) are claimed on the worker that runs it."""

    @abc.abstractmethod
    def wait_any(self, futures: Sequence[Any], timeout: float) -> list[Any]:
        """The finished futures among ``futures`` (after waiting up to ``timeout`` s)."""

    @abc.abstractmethod
    def status(self, *, in_flight: int | None = None) -> WorkerStatus:
        """The workers now (``in_flight``: override the executor's own count)."""

    def has_resource(self, name: str) -> bool:
        """Whether some worker declares the abstract resource ``name``."""
        return self.status().resources.get(name, 0) > 0

    def result(self, future: Any) -> Any:
        """The future's result, with lost work raised as :class:`ExecutorError`."""
        return future.result()

    def as_completed(self, futures: Iterable[Any], *, poll: float = 0.5) -> Iterable[Any]:
        """Yield futures as they finish (any order)."""
        left = list(futures)
        while left:
            done = self.wait_any(left, poll)
            ids = {id(f) for f in done}
            left = [f for f in left if id(f) not in ids]
            yield from done

    def close(self) -> None:  # noqa: B027 - nothing to release in-process
        """Release workers and connections."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class InProcessExecutor(Executor):
    """Runs each task at once in the calling thread (the default; no workers)."""

    kind = "in-process"

    @property
    def slots(self) -> int:
        return 1

    def submit(
        self, fn: Callable[..., Any], *args: Any, resources: Mapping[str, float] | None = None
    ) -> cf.Future[Any]:
        fut: cf.Future[Any] = cf.Future()
        try:
            fut.set_result(fn(*args))
        except Exception as exc:
            fut.set_exception(exc)
        return fut

    def wait_any(self, futures: Sequence[Any], timeout: float) -> list[Any]:
        return [f for f in futures if f.done()]

    def status(self, *, in_flight: int | None = None) -> WorkerStatus:
        return WorkerStatus(kind=self.kind, workers=1, busy=0, threads=1, in_flight=0)


class DaskExecutor(Executor):
    """Runs tasks on a Dask cluster.

    Args:
        scheduler: Address of a running scheduler (``tcp://HOST:PORT``, ``tls://…``);
            TLS settings come from Dask's configuration (``distributed.comm.tls.*``).
        workers: Without ``scheduler``: start a local cluster of this many worker
            processes, bound to 127.0.0.1, one task thread each.
        connect_timeout: Seconds to wait for the scheduler (default
            :data:`CONNECT_TIMEOUT_S`).

    Raises:
        ExecutorError: Neither or both of ``scheduler`` and ``workers``; no ``distributed``
            installed; the scheduler does not answer.
    """

    kind = "dask"

    def __init__(
        self,
        *,
        scheduler: str | None = None,
        workers: int | None = None,
        connect_timeout: float | None = None,
    ) -> None:
        connect_timeout = CONNECT_TIMEOUT_S if connect_timeout is None else connect_timeout
        if (scheduler is None) == (workers is None):
            raise ExecutorError("give exactly one of a scheduler address and a worker count")
        if workers is not None and workers < 1:
            raise ExecutorError(f"--workers must be >= 1, got {workers}")
        try:
            import distributed
        except ImportError:
            raise ExecutorError(
                "Dask is not installed; install it with: pip install 'dask[distributed]'"
            ) from None
        self._cluster: Any = None
        self._lock = threading.Lock()
        self._cached: WorkerStatus | None = None
        self._futures: set[Any] = set()
        if scheduler is not None:
            try:
                self._client = distributed.Client(
                    scheduler, timeout=connect_timeout, set_as_default=False
                )
            except (OSError, TimeoutError, ValueError) as exc:
                raise ExecutorError(
                    f"cannot reach the Dask scheduler at {scheduler} within "
                    f"{connect_timeout:g} s ({type(exc).__name__}: {exc}); start one with "
                    "`dask scheduler`, or leave out --scheduler/NASNAV_SCHEDULER to run "
                    "in-process"
                ) from None
        else:
            try:
                self._cluster = distributed.LocalCluster(
                    n_workers=workers,
                    threads_per_worker=1,
                    processes=True,
                    host="127.0.0.1",  # never reachable from another machine
                    dashboard_address=_local_dashboard(),
                    env={"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"},
                )
                self._client = distributed.Client(self._cluster, set_as_default=False)
            except Exception as exc:  # e.g. a Dask config that requires TLS
                if self._cluster is not None:
                    self._cluster.close()
                raise ExecutorError(
                    f"cannot start a local Dask cluster of {workers} workers "
                    f"({type(exc).__name__}: {exc}); check the Dask configuration "
                    "(distributed.comm.*), or run in-process without --workers"
                ) from None
        self.address = str(self._client.scheduler.address)
        self._closed = threading.Event()
        self._cached = self._read()
        threading.Thread(target=self._refresh_loop, name="nasnav-dask-status", daemon=True).start()

    @property
    def client(self) -> Any:
        """The Dask client (tests and benchmarks)."""
        return self._client

    @property
    def cluster(self) -> Any:
        """The local cluster this executor started, or ``None``."""
        return self._cluster

    @property
    def slots(self) -> int:
        return max(self.status().threads, 1)

    def _check_alive(self) -> None:
        if self._client.status not in ("running", "connecting", "newly-created"):
            raise ExecutorError(
                f"the Dask scheduler at {self.address} went away (client {self._client.status})"
            )

    def submit(
        self, fn: Callable[..., Any], *args: Any, resources: Mapping[str, float] | None = None
    ) -> Any:
        self._check_alive()
        fut = self._client.submit(fn, *args, pure=False, resources=dict(resources or {}) or None)
        with self._lock:
            self._futures.add(fut)
        return fut

    def wait_any(self, futures: Sequence[Any], timeout: float) -> list[Any]:
        end = time.monotonic() + timeout
        while True:
            done = [f for f in futures if f.done()]
            if done or time.monotonic() >= end:
                break
            self._check_alive()
            time.sleep(min(0.02, max(end - time.monotonic(), 0)))
        with self._lock:
            self._futures.difference_update(done)
        return done

    def result(self, future: Any) -> Any:
        import distributed

        try:
            return future.result()
        except (distributed.client.FutureCancelledError, OSError, TimeoutError) as exc:
            raise ExecutorError(
                f"a task was lost ({type(exc).__name__}: {exc}); the scheduler at "
                f"{self.address} may have gone away"
            ) from None
        except distributed.scheduler.KilledWorker as exc:
            raise ExecutorError(f"a task killed its workers too often: {exc}") from None

    def status(self, *, in_flight: int | None = None) -> WorkerStatus:
        """The latest status read by the background refresher (never blocks on the
        scheduler: a page or a snapshot must not wait for a lost one)."""
        with self._lock:
            st = self._cached
            mine = sum(not f.done() for f in self._futures)
        if st is None:
            st = self._read()
            with self._lock:
                self._cached = st
        return _with_in_flight(st, mine if in_flight is None else in_flight)

    def _refresh_loop(self) -> None:
        while not self._closed.wait(STATUS_TTL_S):
            st = self._read()
            with self._lock:
                self._cached = st

    def _read(self) -> WorkerStatus:
        """Ask the scheduler for its workers (one round trip)."""
        try:
            info = self._client.scheduler_info(n_workers=-1)
            processing = self._client.processing()
        except Exception as exc:  # a status must never raise into the page
            return WorkerStatus(
                kind=self.kind, workers=0, busy=0, threads=0, in_flight=0,
                address=self.address, error=f"{type(exc).__name__}: {exc}",
            )  # fmt: skip
        if self._client.status != "running":
            return WorkerStatus(
                kind=self.kind, workers=0, busy=0, threads=0, in_flight=0,
                address=self.address, error=f"scheduler unreachable ({self._client.status})",
            )  # fmt: skip
        workers = info.get("workers", {})
        resources: dict[str, float] = {}
        for w in workers.values():
            for k, v in (w.get("resources") or {}).items():
                resources[k] = resources.get(k, 0) + float(v)
        return WorkerStatus(
            kind=self.kind,
            workers=len(workers),
            busy=sum(1 for keys in processing.values() if keys),
            threads=sum(int(w.get("nthreads", 1)) for w in workers.values()),
            in_flight=0,
            address=self.address,
            dashboard=(
                self._client.dashboard_link
                if _serves_dashboard(info, local=self._cluster is not None)
                else None
            ),
            resources=resources,
        )

    def close(self) -> None:
        self._closed.set()
        try:
            self._client.close()
        finally:
            if self._cluster is not None:
                self._cluster.close()


def _with_in_flight(st: WorkerStatus, n: int) -> WorkerStatus:
    from dataclasses import replace

    return replace(st, in_flight=n)


def _local_dashboard() -> str | None:
    """Dask's dashboard needs bokeh; serve it on a free loopback port when installed."""
    try:
        import bokeh  # noqa: F401
    except ImportError:
        return None
    return "127.0.0.1:0"


def _serves_dashboard(info: Mapping[str, Any], *, local: bool) -> bool:
    """Whether the scheduler reports a dashboard (a local one needs bokeh here: without
    it the scheduler's HTTP port serves no dashboard pages)."""
    if not (info.get("services") or {}).get("dashboard"):
        return False
    if not local:
        return True
    try:
        import bokeh  # noqa: F401
    except ImportError:
        return False
    return True


def make_executor(*, workers: int | None = None, scheduler: str | None = None) -> Executor:
    """The executor for ``--workers``/``--scheduler`` (neither: in-process).

    Args:
        workers: Start a local cluster of this many worker processes.
        scheduler: Connect to this scheduler (``""`` counts as not given).

    Raises:
        ExecutorError: Both given, or the scheduler is unreachable.
    """
    scheduler = scheduler or None
    if workers is not None and scheduler is not None:
        raise ExecutorError(
            f"--workers {workers} starts a local cluster and --scheduler {scheduler} joins "
            "one; give one of them (unset NASNAV_SCHEDULER to use --workers)"
        )
    if workers is None and scheduler is None:
        return InProcessExecutor()
    return DaskExecutor(scheduler=scheduler, workers=workers)


def scheduler_from_env() -> str | None:
    """``$NASNAV_SCHEDULER``, or ``None``."""
    return os.environ.get(SCHEDULER_ENV) or None
