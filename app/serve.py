"""``nasnav serve``: open the controller, build the app, run it until Ctrl+C."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from app import create_app
from app.controller import AppController


def serve(
    *,
    db: str | Path,
    defaults: Mapping[str, Any],
    host: str = "127.0.0.1",
    port: int = 8050,
    cache_dir: str | Path = "data/cache",
    layout_method: str = "umap",
    debug: bool = False,
    echo: Callable[[str], None] = print,
) -> None:
    """Serve the app on ``host:port``; the latest run in ``db`` is reopened paused.

    Args:
        db: SQLite database of runs.
        defaults: Settings of new runs (:class:`~nas_engine.runner.SearchConfig` fields).
        host: Interface to bind.
        port: TCP port.
        cache_dir: Folder for cached layouts.
        layout_method: ``umap`` or ``pca``.
        debug: Dash debug mode (dev tools; the reloader stays off).
        echo: Where the start-up line goes.

    Raises:
        InputError: Bad defaults, or a dataset/benchmark that cannot be loaded.
    """
    controller = AppController.open(
        db, defaults=defaults, cache_dir=cache_dir, layout_method=layout_method
    )
    run_id = controller.open_latest()
    controller.layout()  # start the (cached) layout in the background
    app = create_app(controller)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per poll request
    echo(
        f"nasnav on http://{host}:{port}/  (db {db}"
        + (f", reopened run {run_id} paused" if run_id is not None else "")
        + "); Ctrl+C to stop"
    )
    try:
        app.run(host=host, port=port, debug=debug, use_reloader=False)
    finally:
        controller.close()
        controller.storage.close()
