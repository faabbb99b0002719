"""The search-space contract and the search-space registry."""

from __future__ import annotations

import abc
import inspect
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, ClassVar, Generic, TypeVar

import numpy as np

from nas_engine.registry import Registry
from nas_engine.search_spaces.mask import OpMask

A = TypeVar("A")

SPACES: Registry[SearchSpace[Any]] = Registry("search space")


def as_rng(seed: int | np.random.Generator | None) -> np.random.Generator:
    """Return a NumPy generator for a seed, an existing generator, or ``None`` (fresh entropy).

    Args:
        seed: Integer seed, generator, or ``None``.

    Returns:
        A ``numpy.random.Generator``.
    """
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(seed)


#: The roles a network is built for, each with its own default size (``network_defaults``).
NETWORK_ROLES = ("proxy", "supernet", "train")


@dataclass(frozen=True)
class SpaceGraph:
    """What a space looks like, as the page draws it: no layout, only structure.

    Args:
        kind: ``"cell"`` (a DAG whose edges carry ops) or ``"chain"`` (layers in a row,
            each a choice block).
        nodes: Node ids; positions connect them.
        edges: One ``(from_node, to_node)`` per position, in position order.
        labels: One human label per position (``"1→3"``, ``"L4"``).
        ops: The candidate ops, in canonical order.
        short: Short op names for chips and diagrams.
        notes: One line per position about what is fixed there (stride, width), or ``""``.
    """

    kind: str
    nodes: tuple[int, ...]
    edges: tuple[tuple[int, int], ...]
    labels: tuple[str, ...]
    ops: tuple[str, ...]
    short: Mapping[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    def op_label(self, op: str) -> str:
        """The short name of ``op`` (the op itself when it has none)."""
        return self.short.get(op, op)


class SearchSpace(abc.ABC, Generic[A]):
    """A search space of fixed positions (cell edges or chain layers), each choosing one op.

    Contract for implementations:

    * Architectures are immutable, hashable values; every method that "changes" one
      returns a new value.
    * ``sample`` and ``mutate`` never return a cell outside the given mask.
    * Methods are pure functions of their arguments (randomness comes from the ``rng``
      argument only), so one space instance can be shared by many threads.
    * ``build`` takes the keys of ``network_defaults[role]`` as size options, and
      ``build_supernet`` returns a module with ``forward(x, path)`` and ``subnet(path)``.

    Everything the engine and the page need to know about a space is asked of it here;
    nothing outside the space's own modules imports its constants.
    """

    #: Registry name of the space.
    name: str
    #: Candidate op names, in canonical order.
    ops: tuple[str, ...]
    #: Positions as ``(from_node, to_node)`` pairs, in canonical order.
    edges: tuple[tuple[int, int], ...]
    #: ``"cell"`` or ``"chain"`` (see :class:`SpaceGraph`).
    kind: str = "cell"
    #: Short op names for the page.
    op_short: ClassVar[Mapping[str, str]] = {}
    #: Network size options per role (``proxy``, ``supernet``, ``train``): what ``build``
    #: gets when the run's config leaves a size unset.
    network_defaults: ClassVar[Mapping[str, Mapping[str, int]]] = {}
    #: One line about the space for ``nasnav space info`` and the page.
    summary: str = ""

    @property
    def num_edges(self) -> int:
        """Number of edges in the cell."""
        return len(self.edges)

    @property
    def size(self) -> int:
        """Number of distinct cells."""
        return len(self.ops) ** self.num_edges

    def position_label(self, position: int) -> str:
        """Human name of a position, as the page and the suggestions print it (``1→3``)."""
        i, j = self.edges[position]
        return f"{i}→{j}"

    def position_note(self, position: int) -> str:
        """What is fixed at a position (e.g. its stride), or ``""``."""
        return ""

    def graph(self) -> SpaceGraph:
        """The space's structure for drawing: nodes, positions, labels and ops."""
        nodes = sorted({n for e in self.edges for n in e})
        return SpaceGraph(
            kind=self.kind,
            nodes=tuple(nodes),
            edges=tuple(self.edges),
            labels=tuple(self.position_label(i) for i in range(self.num_edges)),
            ops=tuple(self.ops),
            short=dict(self.op_short),
            notes=tuple(self.position_note(i) for i in range(self.num_edges)),
        )

    def network_options(self, role: str, **given: int | None) -> dict[str, int]:
        """The size options ``build`` gets for ``role``: the space's defaults, overridden
        by every ``given`` value that is not ``None``.

        Raises:
            ValueError: An unknown role, or a given option this space has no use for.
        """
        if role not in NETWORK_ROLES:
            raise ValueError(f"unknown network role {role!r}; known: {', '.join(NETWORK_ROLES)}")
        out = dict(self.network_defaults.get(role, {}))
        for key, value in given.items():
            if value is None:
                continue
            if key not in out:
                known = ", ".join(out) or "none"
                raise ValueError(
                    f"space {self.name!r} has no network option {key!r} (its options: {known})"
                )
            out[key] = int(value)
        return out

    def full_mask(self) -> OpMask:
        """Return the mask that allows everything."""
        return OpMask.full(num_edges=self.num_edges, ops=self.ops)

    def check_mask(self, mask: OpMask | None) -> OpMask:
        """Return ``mask`` (or the full mask) after checking it fits this space."""
        if mask is None:
            return self.full_mask()
        if mask.ops != self.ops or mask.num_edges != self.num_edges:
            raise ValueError(f"mask does not belong to search space {self.name!r}")
        return mask

    # ------------------------------------------------------------------ conversions
    @abc.abstractmethod
    def from_string(self, text: str) -> A:
        """Parse the space's canonical string form; raise ``ValueError`` on bad input."""

    @abc.abstractmethod
    def to_string(self, arch: A) -> str:
        """Return the canonical string form."""

    @abc.abstractmethod
    def ops_of(self, arch: A) -> tuple[str, ...]:
        """Return the per-edge op names."""

    @abc.abstractmethod
    def from_ops(self, ops: Sequence[str]) -> A:
        """Build an architecture from per-edge op names."""

    def encode(self, arch: A) -> np.ndarray:
        """Return a flat one-hot encoding of shape ``(num_edges * len(ops),)``.

        Args:
            arch: The architecture.

        Returns:
            A float32 vector.
        """
        out = np.zeros((self.num_edges, len(self.ops)), dtype=np.float32)
        for e, op in enumerate(self.ops_of(arch)):
            out[e, self.ops.index(op)] = 1.0
        return out.reshape(-1)

    def decode(self, vec: np.ndarray) -> A:
        """Inverse of :meth:`encode` (argmax per edge)."""
        mat = np.asarray(vec).reshape(self.num_edges, len(self.ops))
        return self.from_ops([self.ops[int(i)] for i in mat.argmax(axis=1)])

    def index(self, arch: A) -> int:
        """Return the cell's position in :meth:`enumerate` order (base-``len(ops)`` digits)."""
        idx = 0
        for op in self.ops_of(arch):
            idx = idx * len(self.ops) + self.ops.index(op)
        return idx

    def from_index(self, index: int) -> A:
        """Inverse of :meth:`index`."""
        if not 0 <= index < self.size:
            raise ValueError(f"index {index} out of range 0..{self.size - 1}")
        digits = []
        for _ in range(self.num_edges):
            index, r = divmod(index, len(self.ops))
            digits.append(self.ops[r])
        return self.from_ops(digits[::-1])

    def op_digits(self) -> np.ndarray:
        """``(size, num_edges)`` array: the op index at every position of every cell, in
        :meth:`index` order."""
        idx = np.arange(self.size)
        n = len(self.ops)
        powers = n ** np.arange(self.num_edges - 1, -1, -1)
        return (idx[:, None] // powers[None, :]) % n

    def mask_vector(self, mask: OpMask | None = None) -> np.ndarray:
        """Boolean per cell index: does ``mask`` allow the cell?"""
        mask = self.check_mask(mask)
        ok = np.ones(self.size, dtype=bool)
        digits = self.op_digits()
        for e in range(self.num_edges):
            allowed = np.array([op in mask.allowed(e) for op in self.ops])
            ok &= allowed[digits[:, e]]
        return ok

    # ---------------------------------------------------------------------- sampling
    def enumerate(self, mask: OpMask | None = None) -> Iterator[A]:
        """Yield every cell inside the mask, in index order."""
        mask = self.check_mask(mask)
        allowed = mask.allowed_all()

        def rec(prefix: list[str], e: int) -> Iterator[A]:
            if e == self.num_edges:
                yield self.from_ops(prefix)
                return
            for op in allowed[e]:
                prefix.append(op)
                yield from rec(prefix, e + 1)
                prefix.pop()

        yield from rec([], 0)

    def sample(self, rng: np.random.Generator, mask: OpMask | None = None) -> A:
        """Draw a cell uniformly from the cells inside the mask.

        Args:
            rng: Random generator.
            mask: Allowed ops per edge (default: everything).

        Returns:
            The sampled architecture.
        """
        mask = self.check_mask(mask)
        return self.from_ops([a[int(rng.integers(len(a)))] for a in mask.allowed_all()])

    def sample_distinct(
        self, n: int, rng: np.random.Generator, mask: OpMask | None = None
    ) -> list[A]:
        """Draw ``n`` distinct cells uniformly, in the order they are first drawn.

        Raises:
            ValueError: When fewer than ``n`` cells lie inside the mask.
        """
        mask = self.check_mask(mask)
        if n > mask.size():
            raise ValueError(f"asked for {n} distinct cells; the mask holds {mask.size()}")
        seen: dict[A, None] = {}
        while len(seen) < n:
            seen[self.sample(rng, mask)] = None
        return list(seen)

    def mutate(self, arch: A, rng: np.random.Generator, mask: OpMask | None = None) -> A:
        """Change the op on one randomly chosen edge to another allowed op.

        Only edges with at least two allowed ops are eligible. If no edge is (every edge
        pinned), the architecture is returned unchanged.

        Args:
            arch: Parent architecture; it must lie inside the mask.
            rng: Random generator.
            mask: Allowed ops per edge (default: everything).

        Returns:
            A child that differs on exactly one edge, or ``arch`` when none can change.

        Raises:
            ValueError: If ``arch`` violates the mask (repair it first).
        """
        mask = self.check_mask(mask)
        ops = list(self.ops_of(arch))
        bad = mask.violations(ops)
        if bad:
            raise ValueError(f"cannot mutate a cell that violates the mask on edges {bad}")
        eligible = [e for e in range(self.num_edges) if len(mask.allowed(e)) > 1]
        if not eligible:
            return arch
        e = eligible[int(rng.integers(len(eligible)))]
        choices = [o for o in mask.allowed(e) if o != ops[e]]
        ops[e] = choices[int(rng.integers(len(choices)))]
        return self.from_ops(ops)

    def repair(self, arch: A, rng: np.random.Generator, mask: OpMask | None = None) -> A:
        """Replace every op the mask forbids by a random allowed op on that edge.

        Args:
            arch: Any architecture of this space.
            rng: Random generator.
            mask: Allowed ops per edge.

        Returns:
            ``arch`` itself when it already fits, else the nearest repaired cell.
        """
        mask = self.check_mask(mask)
        ops = list(self.ops_of(arch))
        bad = mask.violations(ops)
        if not bad:
            return arch
        for e in bad:
            allowed = mask.allowed(e)
            ops[e] = allowed[int(rng.integers(len(allowed)))]
        return self.from_ops(ops)

    def neighbours(self, arch: A, mask: OpMask | None = None) -> list[tuple[int, str, A]]:
        """Return every one-edit neighbour as ``(edge, new_op, cell)`` inside the mask."""
        mask = self.check_mask(mask)
        ops = self.ops_of(arch)
        out = []
        for e in range(self.num_edges):
            for op in mask.allowed(e):
                if op != ops[e]:
                    new = list(ops)
                    new[e] = op
                    out.append((e, op, self.from_ops(new)))
        return out

    # ----------------------------------------------------------------------- models
    @abc.abstractmethod
    def build(self, arch: A, *, num_classes: int, in_channels: int = 3, **kwargs: Any) -> Any:
        """Return a freshly initialised ``torch.nn.Module`` for the cell.

        The module has ``features(x)`` (the map before global pooling) and ``blocks()``
        (its chain of blocks, stem first), which some proxies read.
        """

    def build_supernet(self, *, num_classes: int, in_channels: int = 3, **kwargs: Any) -> Any:
        """Return the weight-sharing supernet: ``forward(x, path)`` runs one op per
        position and ``subnet(path)`` returns the standalone network with inherited weights.

        Raises:
            NotImplementedError: The space has no supernet.
        """
        raise NotImplementedError(f"space {self.name!r} has no supernet")

    def module_source(self, arch: A, *, num_classes: int = 10, **kwargs: Any) -> str:
        """Source of a standalone PyTorch file (needs only torch) that builds ``arch``.

        Raises:
            NotImplementedError: The space has no source exporter.
        """
        raise NotImplementedError(f"no PyTorch source export for space {self.name!r}")

    def info(self) -> dict[str, Any]:
        """A JSON-ready summary of the space."""
        g = self.graph()
        return {
            "name": self.name,
            "kind": self.kind,
            "summary": self.summary,
            "nodes": len(g.nodes),
            "edges": self.num_edges,
            "positions": list(g.labels),
            "ops": list(self.ops),
            "num_ops": len(self.ops),
            "cells": self.size,
            "networks": {k: dict(v) for k, v in self.network_defaults.items()},
        }


def standalone_source(
    module: ModuleType, *, title: str, arch: str, ops: Sequence[str], build: str
) -> str:
    """A standalone PyTorch file: ``module``'s source (torch-only), ``ARCH`` and ``OPS``,
    ``build`` (the source of its ``build_model()``) and a ``__main__`` that prints the
    model's size; what :meth:`SearchSpace.module_source` implementations return.

    Args:
        module: The space's network module.
        title: The header line naming the architecture.
        arch: The architecture's string.
        ops: Its op at every position.
        build: Source of ``build_model(*, ..., num_classes, in_channels)``.
    """
    head = f"# Standalone PyTorch model exported by nasnav.\n# {title}\n# Needs only torch.\n"
    tail = f"""

# ----------------------------------------------------------- the exported architecture
ARCH = {arch!r}
OPS = {tuple(ops)!r}


{build.strip()}


if __name__ == "__main__":
    model = build_model()
    n = sum(p.numel() for p in model.parameters())
    print(ARCH)
    print(f"{{n:,}} parameters;", tuple(model(torch.randn(2, 3, 32, 32)).shape))
"""
    return head + inspect.getsource(module) + tail


#: The space a run uses when none is named.
DEFAULT_SPACE = "nb201"


def list_spaces() -> list[str]:
    """Return the names of the registered search spaces."""
    return SPACES.list()


def space_of(text: str) -> str:
    """The name of the registered space whose arch strings ``text`` is one of.

    Raises:
        ValueError: No registered space parses ``text``.
    """
    for name in list_spaces():
        try:
            create_space(name).from_string(text)
        except ValueError:
            continue
        return name
    raise ValueError(
        f"{text!r} is an arch string of no registered space ({', '.join(list_spaces())})"
    )


def create_space(name: str, **kwargs: Any) -> SearchSpace[Any]:
    """Create a registered search space by name.

    Args:
        name: Registry name, e.g. ``"nb201"``.
        **kwargs: Passed to the space's constructor.

    Returns:
        The space.
    """
    return SPACES.create(name, **kwargs)
