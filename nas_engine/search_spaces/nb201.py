"""NAS-Bench-201: 4 nodes, 6 edges, 5 ops, 15,625 cells."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from nas_engine.search_spaces.base import SPACES, SearchSpace, standalone_source
from nas_engine.search_spaces.nb201_model import (
    NB201_EDGES,
    NB201_OPS,
    NB201Network,
    build_nb201,
)

_NODE_RE = re.compile(r"^\|(?:[a-z0-9_]+~\d+\|)+$")


@dataclass(frozen=True, order=True)
class NB201Arch:
    """One NB201 cell: the op on each of the 6 edges, in standard-string order.

    Edge order: ``0→1, 0→2, 1→2, 0→3, 1→3, 2→3``.

    Args:
        ops: Six op names from :data:`NB201_OPS`.
    """

    ops: tuple[str, ...]

    def __post_init__(self) -> None:
        ops = tuple(self.ops)
        object.__setattr__(self, "ops", ops)
        if len(ops) != len(NB201_EDGES):
            raise ValueError(f"an NB201 cell has {len(NB201_EDGES)} edges, got {len(ops)} ops")
        for o in ops:
            if o not in NB201_OPS:
                raise ValueError(f"unknown NB201 op {o!r}; known: {list(NB201_OPS)}")

    @classmethod
    def from_str(cls, text: str) -> NB201Arch:
        """Parse ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``.

        Args:
            text: The standard NAS-Bench-201 string (surrounding whitespace ignored).

        Returns:
            The cell.

        Raises:
            ValueError: On any malformed string, unknown op or wrong input-node index.
        """
        if not isinstance(text, str):
            raise ValueError(f"expected an arch string, got {type(text).__name__}")
        s = text.strip()
        nodes = s.split("+")
        if len(nodes) != 3:
            raise ValueError(
                f"bad NB201 arch string {text!r}: expected 3 '+'-separated nodes, got {len(nodes)}"
            )
        ops: list[str] = []
        for j, node in enumerate(nodes, start=1):
            if not _NODE_RE.match(node):
                raise ValueError(f"bad NB201 arch string {text!r}: node {j} is {node!r}")
            parts = node.strip("|").split("|")
            if len(parts) != j:
                raise ValueError(
                    f"bad NB201 arch string {text!r}: node {j} needs {j} inputs, got {len(parts)}"
                )
            for i, part in enumerate(parts):
                op, _, src = part.rpartition("~")
                if int(src) != i:
                    raise ValueError(
                        f"bad NB201 arch string {text!r}: node {j} input {i} names node {src}"
                    )
                if op not in NB201_OPS:
                    raise ValueError(
                        f"bad NB201 arch string {text!r}: unknown op {op!r}; "
                        f"known: {list(NB201_OPS)}"
                    )
                ops.append(op)
        return cls(tuple(ops))

    def to_str(self) -> str:
        """Return the standard NAS-Bench-201 string."""
        o = self.ops
        return f"|{o[0]}~0|+|{o[1]}~0|{o[2]}~1|+|{o[3]}~0|{o[4]}~1|{o[5]}~2|"

    def __str__(self) -> str:
        return self.to_str()


@SPACES.register("nb201")
class NB201Space(SearchSpace[NB201Arch]):
    """The NAS-Bench-201 cell space (Dong & Yang, ICLR'20).

    Args:
        C: Default first-stage channels for :meth:`build`.
        N: Default cells per stage for :meth:`build`.
    """

    name = "nb201"
    ops = NB201_OPS
    edges = NB201_EDGES
    num_nodes = 4
    kind = "cell"
    op_short: ClassVar[Mapping[str, str]] = {
        "none": "none",
        "skip_connect": "skip",
        "nor_conv_1x1": "conv1x1",
        "nor_conv_3x3": "conv3x3",
        "avg_pool_3x3": "pool3x3",
    }
    network_defaults: ClassVar[Mapping[str, Mapping[str, int]]] = {
        "proxy": {"C": 16, "N": 5},
        "supernet": {"C": 8, "N": 1},
        "train": {"C": 8, "N": 1},
    }
    summary = "NAS-Bench-201: a 4-node cell of 6 edges, 5 ops each, stacked 3×N"

    def __init__(self, *, C: int = 16, N: int = 5) -> None:
        self.C = C
        self.N = N

    def from_string(self, text: str) -> NB201Arch:
        return NB201Arch.from_str(text)

    def to_string(self, arch: NB201Arch) -> str:
        return arch.to_str()

    def ops_of(self, arch: NB201Arch) -> tuple[str, ...]:
        return arch.ops

    def from_ops(self, ops: Sequence[str]) -> NB201Arch:
        return NB201Arch(tuple(ops))

    def build(
        self,
        arch: NB201Arch,
        *,
        num_classes: int,
        in_channels: int = 3,
        C: int | None = None,
        N: int | None = None,
        **kwargs: Any,
    ) -> NB201Network:
        """Build the NB201 macro network for ``arch``.

        Args:
            arch: The cell.
            num_classes: Output classes.
            in_channels: Input image channels.
            C: First-stage channels (default: the space's ``C``).
            N: Cells per stage (default: the space's ``N``).
            **kwargs: Unused; rejected if given.

        Returns:
            A freshly initialised network.
        """
        if kwargs:
            raise TypeError(f"unexpected build options: {sorted(kwargs)}")
        return build_nb201(
            arch.ops,
            C=self.C if C is None else C,
            N=self.N if N is None else N,
            num_classes=num_classes,
            in_channels=in_channels,
        )

    def build_supernet(
        self,
        *,
        num_classes: int,
        in_channels: int = 3,
        C: int | None = None,
        N: int | None = None,
        **kwargs: Any,
    ) -> Any:
        """The NB201 supernet: one shared cell of all five ops per edge, stacked 3×N."""
        if kwargs:
            raise TypeError(f"unexpected supernet options: {sorted(kwargs)}")
        from nas_engine.search_spaces.nb201_supernet import NB201Supernet

        opts = self.network_options("supernet", C=C, N=N)
        return NB201Supernet(num_classes=num_classes, in_channels=in_channels, **opts)

    def module_source(
        self,
        arch: NB201Arch,
        *,
        num_classes: int = 10,
        C: int | None = None,
        N: int | None = None,
        **kwargs: Any,
    ) -> str:
        """The NB201 building blocks and a ``build_model()`` whose state-dict keys match
        nasnav's own builder, so weights move between the two."""
        if kwargs:
            raise TypeError(f"unexpected export options: {sorted(kwargs)}")
        C, N = self.network_options("proxy", C=C, N=N).values()
        from nas_engine.search_spaces import nb201_model

        a = self.from_string(arch) if isinstance(arch, str) else arch
        s = self.to_string(a)
        build = f'''
def build_model(
    *, C: int = {C}, N: int = {N}, num_classes: int = {num_classes}, in_channels: int = 3
) -> NB201Network:
    """The NB201 network of ``ARCH``."""
    return build_nb201(OPS, C=C, N=N, num_classes=num_classes, in_channels=in_channels)
'''
        return standalone_source(
            nb201_model, title=f"Cell: {s}", arch=s, ops=self.ops_of(a), build=build
        )

    def info(self) -> dict[str, Any]:
        """Return a JSON-ready summary of the space."""
        return {
            **super().info(),
            "nodes": self.num_nodes,
            "default_C": self.C,
            "default_N": self.N,
        }
