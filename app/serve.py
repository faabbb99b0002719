"""``nasnav serve``: open the controller, build the app, serve it until Ctrl+C.

The page runs on waitress, a production WSGI server: pure Python, installed from the
package registries, on every platform, and it serves from threads in ONE process. That
last point decides it: the search engine is a background thread of this process, so a
pre-forking server (gunicorn's workers) would start one engine per worker. waitress
gives a bounded thread pool, closes idle and stalled connections after a timeout, and
answers a request body over the limit with 413 before reading it. Werkzeug's development
server only runs behind ``--debug``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app import create_app
from app.access import Access, check_exposure
from app.controller import AppController, InputError


@dataclass(frozen=True)
class ServerOptions:
    """The WSGI server's limits.

    Args:
        threads: Request threads (the engine thread and the UI worker come on top).
        idle_timeout_s: Seconds a connection may stay silent (idle keep-alive, or a
            client that stalls mid-request) before the server closes it.
        max_body_bytes: Largest request body; a larger one gets 413. A lasso over the
            whole NB201 space posts about 1.7 MB, so the default is 4 MiB.
        connection_limit: Open connections at most (30 tabs keep 2-6 each).
    """

    threads: int = 4
    idle_timeout_s: int = 30
    max_body_bytes: int = 4 * 2**20
    connection_limit: int = 400

    def __post_init__(self) -> None:
        for name in ("threads", "idle_timeout_s", "max_body_bytes", "connection_limit"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InputError(f"server option {name} must be a whole number >= 1: {value!r}")


def make_server(wsgi_app: Any, *, host: str, port: int, options: ServerOptions) -> Any:
    """A waitress server for ``wsgi_app`` (not started: call ``.run()``; ``.close()``
    stops it). Port 0 takes a free port (``.effective_port``)."""
    from waitress.server import create_server

    return create_server(
        wsgi_app,
        host=host,
        port=port,
        threads=options.threads,
        channel_timeout=options.idle_timeout_s,
        # how often idle connections are looked for: a fraction of the timeout
        cleanup_interval=max(1, min(30, options.idle_timeout_s // 2)),
        max_request_body_size=options.max_body_bytes,
        connection_limit=options.connection_limit,
        ident="nasnav",
        clear_untrusted_proxy_headers=True,
    )


def serve(
    *,
    db: str | Path,
    defaults: Mapping[str, Any],
    host: str = "127.0.0.1",
    port: int = 8050,
    cache_dir: str | Path = "data/cache",
    layout_method: str = "umap",
    debug: bool = False,
    read_only: bool = False,
    token: str | None = None,
    options: ServerOptions | None = None,
    echo: Callable[[str], None] = print,
    executor: Any = None,
    train_gpu: bool = False,
) -> None:
    """Serve the app on ``host:port``; the latest run in ``db`` is reopened (paused, or
    finished when its budget is spent), and the start line says which.

    Args:
        db: SQLite database of runs.
        defaults: Settings of new runs (:class:`~nas_engine.runner.SearchConfig` fields).
        host: Interface to bind. Beyond loopback it needs ``read_only`` or ``token``.
        port: TCP port.
        cache_dir: Folder for cached layouts.
        layout_method: ``umap`` or ``pca``.
        debug: Werkzeug's development server with Dash's dev tools (reloader off).
        read_only: Nobody may steer, start, stop or train.
        token: The steering token viewers must type to steer.
        options: The production server's limits (default: :class:`ServerOptions`).
        echo: Where the start-up line goes.
        executor: Where runs' tasks run (a :class:`~nas_engine.distributed.Executor`;
            default: in this process). The caller closes it.
        train_gpu: Training tasks claim a GPU worker.

    Raises:
        InputError: Bad defaults, a dataset/benchmark that cannot be loaded, or a
            steerable page bound beyond this machine without a token.
    """
    check_exposure(host, read_only=read_only, token=token)
    access = Access(read_only=read_only, token=token)
    options = options or ServerOptions()
    controller = AppController.open(
        db, defaults=defaults, cache_dir=cache_dir, layout_method=layout_method,
        executor=executor, train_gpu=train_gpu,
    )  # fmt: skip
    run_id = controller.open_latest()
    controller.layout()  # start the (cached) layout in the background
    app = create_app(controller, access=access)
    mode = "read-only" if read_only else ("steering needs the token" if token else "")
    snap = controller.snapshot()  # the status the reopened run really has (finished, ...)
    echo(
        f"nasnav on http://{host}:{port}/  (db {db}"
        + (f", reopened run {run_id} {snap.status}" if run_id is not None and snap else "")
        + (f", {mode}" if mode else "")
        + ("; development server" if debug else "")
        + (f"; {executor.status().label()}" if executor is not None else "")
        + "); Ctrl+C to stop"
    )
    try:
        if debug:
            logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per poll
            app.run(host=host, port=port, debug=True, use_reloader=False)
        else:
            logging.getLogger("waitress.queue").setLevel(logging.ERROR)  # "task queue depth"
            server = make_server(app.server, host=host, port=port, options=options)
            try:
                server.run()
            except KeyboardInterrupt:
                pass
            finally:
                server.close()
    finally:
        controller.close()
        controller.storage.close()
