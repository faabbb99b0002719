"""The ``nasnav`` command line: one module per group of commands, registered on ``main``."""

from __future__ import annotations

from nas_engine.cli import proxies, search, space, steer, tools  # noqa: F401  (register commands)
from nas_engine.cli.base import main

__all__ = ["main"]
