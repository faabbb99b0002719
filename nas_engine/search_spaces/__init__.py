"""Search spaces behind a registry: ``list_spaces()``, ``create_space(name)``."""

from __future__ import annotations

from nas_engine.search_spaces.base import SPACES, SearchSpace, as_rng, create_space, list_spaces
from nas_engine.search_spaces.mask import MaskError, OpMask
from nas_engine.search_spaces.nb201 import NB201Arch, NB201Space

__all__ = [
    "SPACES",
    "MaskError",
    "NB201Arch",
    "NB201Space",
    "OpMask",
    "SearchSpace",
    "as_rng",
    "create_space",
    "list_spaces",
]
