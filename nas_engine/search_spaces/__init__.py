"""Search spaces behind a registry: ``list_spaces()``, ``create_space(name)``."""

from __future__ import annotations

from nas_engine.search_spaces.base import (
    DEFAULT_SPACE,
    NETWORK_ROLES,
    SPACES,
    SearchSpace,
    SpaceGraph,
    as_rng,
    create_space,
    list_spaces,
    space_of,
)
from nas_engine.search_spaces.macro import MacroArch, MacroSpace
from nas_engine.search_spaces.mask import MaskError, OpMask
from nas_engine.search_spaces.nb201 import NB201Arch, NB201Space

__all__ = [
    "DEFAULT_SPACE",
    "NETWORK_ROLES",
    "SPACES",
    "MacroArch",
    "MacroSpace",
    "MaskError",
    "NB201Arch",
    "NB201Space",
    "OpMask",
    "SearchSpace",
    "SpaceGraph",
    "as_rng",
    "create_space",
    "list_spaces",
    "space_of",
]
