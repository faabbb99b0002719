"""The op mask: which candidate operations each edge of a cell may use.

A mask is an immutable value. Every steering action (prune, pin, unpin, restore,
reset) returns a *new* mask, so a mask can be shared between threads, stored in
history and compared for equality without copying.

Semantics per edge:

* ``pruned`` — ops the user removed.
* ``pinned`` — at most one op the user fixed; while pinned, it is the only op allowed.
* allowed ops = ``{pinned}`` if pinned, otherwise ``ops − pruned`` (never empty).

While an edge is pinned, its other ops are excluded by the pin: pruning or restoring one
would change nothing the search may use, so both are refused until the edge is unpinned.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass


class MaskError(ValueError):
    """Raised for a steering action that the mask refuses (with the reason)."""


@dataclass(frozen=True)
class OpMask:
    """Allowed operations per edge.

    Args:
        ops: The space's candidate op names, in canonical order.
        pruned: One frozenset of pruned op names per edge.
        pinned: One pinned op name (or ``None``) per edge.
    """

    ops: tuple[str, ...]
    pruned: tuple[frozenset[str], ...]
    pinned: tuple[str | None, ...]

    def __post_init__(self) -> None:
        if len(self.pruned) != len(self.pinned):
            raise MaskError("pruned and pinned must have one entry per edge")
        known = set(self.ops)
        for e, (pr, pi) in enumerate(zip(self.pruned, self.pinned, strict=True)):
            bad = set(pr) - known
            if bad:
                raise MaskError(f"edge {e}: unknown op(s) {sorted(bad)}; known: {list(self.ops)}")
            if pi is not None and pi not in known:
                raise MaskError(f"edge {e}: unknown op {pi!r}; known: {list(self.ops)}")
            if pi is not None and pi in pr:
                raise MaskError(f"edge {e}: op {pi!r} is both pinned and pruned")
            if pi is None and known <= set(pr):
                raise MaskError(f"edge {e}: every op is pruned")

    # ----------------------------------------------------------------- constructors
    @classmethod
    def full(cls, *, num_edges: int, ops: Sequence[str]) -> OpMask:
        """Return the mask that allows every op on every edge.

        Args:
            num_edges: Number of edges in the cell.
            ops: Candidate op names.

        Returns:
            The unrestricted mask.
        """
        return cls(
            ops=tuple(ops),
            pruned=tuple(frozenset() for _ in range(num_edges)),
            pinned=tuple(None for _ in range(num_edges)),
        )

    @classmethod
    def from_allowed(cls, allowed: Sequence[Iterable[str]], *, ops: Sequence[str]) -> OpMask:
        """Build a mask from explicit allowed-op sets (everything else pruned).

        Args:
            allowed: One iterable of allowed op names per edge.
            ops: Candidate op names.

        Returns:
            The mask.
        """
        ops_t = tuple(ops)
        pruned = []
        for e, a in enumerate(allowed):
            a_set = set(a)
            bad = a_set - set(ops_t)
            if bad:
                raise MaskError(f"edge {e}: unknown op(s) {sorted(bad)}; known: {list(ops_t)}")
            if not a_set:
                raise MaskError(f"edge {e}: no op allowed")
            pruned.append(frozenset(o for o in ops_t if o not in a_set))
        return cls(ops=ops_t, pruned=tuple(pruned), pinned=tuple(None for _ in pruned))

    # ----------------------------------------------------------------------- queries
    @property
    def num_edges(self) -> int:
        """Number of edges."""
        return len(self.pruned)

    def allowed(self, edge: int) -> tuple[str, ...]:
        """Return the allowed ops on ``edge``, in canonical op order."""
        self._check_edge(edge)
        pin = self.pinned[edge]
        if pin is not None:
            return (pin,)
        return tuple(o for o in self.ops if o not in self.pruned[edge])

    def allowed_all(self) -> tuple[tuple[str, ...], ...]:
        """Return the allowed ops of every edge."""
        return tuple(self.allowed(e) for e in range(self.num_edges))

    def allows(self, ops: Sequence[str]) -> bool:
        """Return whether a cell with these per-edge ops lies inside the mask."""
        if len(ops) != self.num_edges:
            return False
        return all(o in self.allowed(e) for e, o in enumerate(ops))

    def violations(self, ops: Sequence[str]) -> list[int]:
        """Return the edges whose op the mask does not allow."""
        return [e for e, o in enumerate(ops) if o not in self.allowed(e)]

    def size(self) -> int:
        """Number of cells inside the mask."""
        n = 1
        for e in range(self.num_edges):
            n *= len(self.allowed(e))
        return n

    @property
    def is_full(self) -> bool:
        """Whether the mask restricts nothing."""
        return all(not p for p in self.pruned) and all(p is None for p in self.pinned)

    def state(self, edge: int, op: str) -> str:
        """Return ``"pinned"``, ``"pruned"``, ``"allowed"`` or ``"blocked"`` for one chip.

        ``"blocked"`` means the op is not pruned but another op is pinned on the edge.
        """
        self._check(edge, op)
        if self.pinned[edge] == op:
            return "pinned"
        if op in self.pruned[edge]:
            return "pruned"
        if self.pinned[edge] is not None:
            return "blocked"
        return "allowed"

    # -------------------------------------------------------------------- steering
    def prune(self, edge: int, op: str) -> OpMask:
        """Return a mask with ``op`` removed from ``edge``.

        Raises:
            MaskError: Unknown edge/op, the op is already pruned or pinned, another op is
                pinned on the edge (the pin already excludes it), or it is the last
                allowed op of the edge.
        """
        self._check(edge, op)
        if op in self.pruned[edge]:
            raise MaskError(f"edge {edge}: {op!r} is already pruned")
        if self.pinned[edge] == op:
            raise MaskError(f"edge {edge}: {op!r} is pinned; unpin it before pruning")
        if self.pinned[edge] is not None:
            raise MaskError(
                f"edge {edge}: {op!r} is already excluded (the edge is pinned to "
                f"{self.pinned[edge]!r}); nothing to prune — unpin the edge first"
            )
        if self.pinned[edge] is None and len(self.allowed(edge)) <= 1:
            raise MaskError(
                f"edge {edge}: cannot prune {op!r}, it is the last allowed op on this edge"
            )
        return self._replace(edge, pruned=self.pruned[edge] | {op})

    def restore(self, edge: int, op: str) -> OpMask:
        """Return a mask with a pruned ``op`` allowed again on ``edge``.

        Raises:
            MaskError: Unknown edge/op, the op is not pruned, or another op is pinned on
                the edge (the op would stay excluded by the pin).
        """
        self._check(edge, op)
        if op not in self.pruned[edge]:
            raise MaskError(f"edge {edge}: {op!r} is not pruned")
        if self.pinned[edge] is not None:
            raise MaskError(
                f"edge {edge}: {op!r} would stay excluded (the edge is pinned to "
                f"{self.pinned[edge]!r}); nothing to restore — unpin the edge first"
            )
        return self._replace(edge, pruned=self.pruned[edge] - {op})

    def pin(self, edge: int, op: str) -> OpMask:
        """Return a mask where ``op`` is the only op allowed on ``edge``."""
        self._check(edge, op)
        if op in self.pruned[edge]:
            raise MaskError(f"edge {edge}: {op!r} is pruned; restore it before pinning")
        if self.pinned[edge] == op:
            raise MaskError(f"edge {edge}: {op!r} is already pinned")
        return self._replace(edge, pinned=op)

    def unpin(self, edge: int) -> OpMask:
        """Return a mask with the pin on ``edge`` removed (prunes are kept)."""
        self._check_edge(edge)
        if self.pinned[edge] is None:
            raise MaskError(f"edge {edge}: nothing is pinned")
        return self._replace(edge, pinned=None, clear_pin=True)

    def reset(self) -> OpMask:
        """Return the unrestricted mask."""
        return OpMask.full(num_edges=self.num_edges, ops=self.ops)

    def with_edge_from(self, other: OpMask, edge: int) -> OpMask:
        """Return a copy whose ``edge`` (pruned ops and pin) is taken from ``other``.

        Every other edge keeps its state here (used to undo one edge's action out of order).

        Raises:
            MaskError: Unknown edge, or ``other`` has other ops or another number of edges.
        """
        self._check_edge(edge)
        if other.ops != self.ops or other.num_edges != self.num_edges:
            raise MaskError("cannot take an edge from a mask of another space")
        return self._replace(
            edge, pruned=other.pruned[edge], pinned=other.pinned[edge], clear_pin=True
        )

    # ------------------------------------------------------------------ (de)serialise
    def to_dict(self) -> dict[str, object]:
        """Return a JSON-ready description."""
        return {
            "ops": list(self.ops),
            "pruned": [sorted(p, key=self.ops.index) for p in self.pruned],
            "pinned": list(self.pinned),
        }

    @classmethod
    def from_dict(cls, d: dict[str, object]) -> OpMask:
        """Inverse of :meth:`to_dict`."""
        ops = tuple(d["ops"])  # type: ignore[arg-type]
        pruned = tuple(frozenset(p) for p in d["pruned"])  # type: ignore[union-attr]
        pinned = tuple(d["pinned"])  # type: ignore[arg-type]
        return cls(ops=ops, pruned=pruned, pinned=pinned)

    # -------------------------------------------------------------------- internals
    def _check_edge(self, edge: int) -> None:
        if not isinstance(edge, int) or isinstance(edge, bool):
            raise MaskError(f"edge must be an integer, got {edge!r}")
        if not 0 <= edge < self.num_edges:
            raise MaskError(f"unknown edge {edge}; edges are 0..{self.num_edges - 1}")

    def _check(self, edge: int, op: str) -> None:
        self._check_edge(edge)
        if op not in self.ops:
            raise MaskError(f"unknown op {op!r}; known: {list(self.ops)}")

    def _replace(
        self,
        edge: int,
        *,
        pruned: frozenset[str] | None = None,
        pinned: str | None = None,
        clear_pin: bool = False,
    ) -> OpMask:
        new_pruned = list(self.pruned)
        new_pinned = list(self.pinned)
        if pruned is not None:
            new_pruned[edge] = frozenset(pruned)
        if pinned is not None or clear_pin:
            new_pinned[edge] = pinned
        return OpMask(ops=self.ops, pruned=tuple(new_pruned), pinned=tuple(new_pinned))
