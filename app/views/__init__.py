"""The page's views, one module each, in the order the page shows them.

A view is a module with two functions:

- ``layout(vc: ViewContext) -> Component``: its card (static structure only);
- ``register(app: Dash, vc: ViewContext) -> None``: its callbacks.

It names its own component IDs, gets its data from one pure function (see
``app.viewmodel``), draws with ``app.plots`` and talks to other views only through the
page-level stores in ``app.ids``. Adding a view is one module plus one line in
:data:`VIEWS`; ``docs/architecture.md`` walks through an example.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Sequence
from types import ModuleType

#: The cards of the page, in order: a module under ``app.views``, or any importable module.
VIEWS: tuple[str, ...] = (
    "graph",
    "embedding",
    "progress",
    "inspector",
    "compare",
    "budget",
    "runs",
)


def load_views(names: Sequence[str] = VIEWS) -> list[ModuleType]:
    """Import the view modules named in ``names`` and check their contract.

    Raises:
        ImportError: A name that is no module.
        TypeError: A module without ``layout`` and ``register`` functions.
    """
    out = []
    for name in names:
        local = "." not in name and importlib.util.find_spec(f"{__name__}.{name}") is not None
        module = importlib.import_module(f"{__name__}.{name}" if local else name)
        missing = [f for f in ("layout", "register") if not callable(getattr(module, f, None))]
        if missing:
            raise TypeError(f"view {name!r} lacks {' and '.join(missing)}()")
        out.append(module)
    return out
