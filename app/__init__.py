"""nasnav's Dash UI. It reads engine snapshots and sends commands; it never trains.

``create_app(controller)`` does no I/O: the controller is built by the caller (``nasnav
serve`` or a test) and the page loads its data through callbacks. The page is a header
(``app.page``) and one card per view (``app.views``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from dash import Dash

from app import ids, page
from app.access import Access
from app.controller import AppController, InputError
from app.views import VIEWS, load_views
from app.views.common import ViewContext
from app.views.sharing import REFRESH_S, SharedResponses

ASSETS = Path(__file__).resolve().parents[1] / "assets"

__all__ = ["VIEWS", "Access", "AppController", "InputError", "create_app"]


def create_app(
    controller: AppController,
    *,
    poll_ms: int = 1000,
    views: Sequence[str] = VIEWS,
    access: Access | None = None,
    refresh_s: float = REFRESH_S,
) -> Dash:
    """Build the Dash app around a controller.

    Args:
        controller: The engine bridge.
        poll_ms: Snapshot polling interval in milliseconds.
        views: The view modules to show, in order (default: :data:`app.views.VIEWS`).
        access: Who may steer (default: every viewer; see :mod:`app.access`).
        refresh_s: Least seconds between two snapshot versions the views draw (every
            viewer draws the same ones; see :mod:`app.views.sharing`).

    Returns:
        The Dash app (``app.server`` is the Flask server). Scripts and styles are served
        from the installed packages and ``assets/``; nothing is fetched from the internet.
    """
    modules = load_views(views)
    app = Dash(
        __name__,
        title="nasnav",
        assets_folder=str(ASSETS),
        serve_locally=True,
        suppress_callback_exceptions=False,
        update_title=None,
    )
    vc = ViewContext(controller, access=access, refresh_s=refresh_s)
    app.view_context = vc  # tests and the benchmarks read its counters
    app.layout = page.build_layout(vc, modules, poll_ms=poll_ms)
    page.register(app, vc, poll_ms=poll_ms)
    for module in modules:
        module.register(app, vc)
    # the snapshot-driven callbacks and the poll answer alike to every viewer that sends
    # the same body at the same published version: one answer, shared (app.views.sharing)
    shareable = {
        key
        for key, cb in app.callback_map.items()
        if any(i["id"] == ids.VERSION for i in cb["inputs"]) or f"{ids.VERSION}.data" in key
    }
    vc.responses = SharedResponses(
        vc.version,
        shareable,
        ignore_inputs={(ids.POLL, "n_intervals")},
        ignore_states={(ids.VIEWER, "data")},
        ttl_s=max(refresh_s, 0.5),
        viewers=vc.viewers,
    )
    vc.responses.install(app.server, index=app.config.requests_pathname_prefix)
    return app
