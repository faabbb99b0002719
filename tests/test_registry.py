from __future__ import annotations

import pytest

from nas_engine.registry import Registry, RegistryError
from nas_engine.search_spaces import SPACES, create_space, list_spaces


def test_register_create_and_list() -> None:
    reg: Registry[object] = Registry("widget")

    @reg.register("b")
    class B:
        def __init__(self, x: int = 1) -> None:
            self.x = x

    reg.register("a")(lambda: "a")
    assert reg.list() == ["a", "b"]
    assert reg.create("b", x=5).x == 5
    assert "a" in reg and len(reg) == 2


def test_duplicate_is_rejected() -> None:
    reg: Registry[object] = Registry("widget")
    reg.register("x")(object)
    with pytest.raises(RegistryError, match="already registered"):
        reg.register("x")(object)


def test_unknown_name_lists_known() -> None:
    reg: Registry[object] = Registry("widget")
    reg.register("alpha")(object)
    with pytest.raises(RegistryError, match="unknown widget 'beta'; known: alpha"):
        reg.get("beta")


def test_space_registry_has_nb201() -> None:
    assert "nb201" in list_spaces()
    assert create_space("nb201").size == 15625
    with pytest.raises(RegistryError):
        SPACES.register("nb201")(object)
