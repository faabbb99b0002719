"""A small, typed name → factory registry shared by spaces, proxies and strategies.

Each plugin family (search spaces, zero-cost proxies, search strategies) owns one
:class:`Registry`. Plugins add themselves with the ``@REGISTRY.register("name")``
decorator; duplicates are refused so that two plugins can never silently shadow
each other.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class RegistryError(KeyError):
    """Raised for an unknown or duplicate registry name."""

    def __str__(self) -> str:  # KeyError quotes its message; we want it plain.
        return str(self.args[0]) if self.args else ""


class Registry(Generic[T]):
    """Maps names to factories (classes or functions returning ``T``).

    Thread safety: registration takes a lock; lookups read an immutable snapshot
    of the mapping, so they may run concurrently with each other.

    Args:
        kind: Human-readable name of the plugin family, used in error messages.
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, Callable[..., T]] = {}
        self._lock = threading.Lock()

    def register(self, name: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
        """Return a decorator that registers a factory under ``name``.

        Args:
            name: Unique, lower-case name.

        Returns:
            The decorator; it returns the factory unchanged.

        Raises:
            RegistryError: If ``name`` is already registered.
        """
        if not name or name != name.strip():
            raise ValueError(f"invalid {self.kind} name {name!r}")

        def decorator(factory: Callable[..., T]) -> Callable[..., T]:
            with self._lock:
                if name in self._items:
                    raise RegistryError(
                        f"{self.kind} {name!r} is already registered (by {self._items[name]!r})"
                    )
                items = dict(self._items)
                items[name] = factory
                self._items = items
            return factory

        return decorator

    def list(self) -> list[str]:
        """Return the registered names, sorted."""
        return sorted(self._items)

    def get(self, name: str) -> Callable[..., T]:
        """Return the factory registered under ``name``.

        Raises:
            RegistryError: If ``name`` is unknown; the message lists the known names.
        """
        try:
            return self._items[name]
        except KeyError:
            known = ", ".join(self.list()) or "(none)"
            raise RegistryError(f"unknown {self.kind} {name!r}; known: {known}") from None

    def create(self, name: str, **kwargs: Any) -> T:
        """Instantiate the plugin ``name`` with keyword arguments.

        Args:
            name: A registered name.
            **kwargs: Passed to the factory.

        Returns:
            The new plugin instance.
        """
        return self.get(name)(**kwargs)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __len__(self) -> int:
        return len(self._items)
