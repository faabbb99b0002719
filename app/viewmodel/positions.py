"""How the page names a space's positions and ops, from the space's own description.

A cell's positions are its edges: the page names one by its index (``e3``) and shows its
label, the nodes it joins (``0→3``), beside it. A chain's positions are its layers: the
label is the name (``L4``).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

from nas_engine.search_spaces import SearchSpace, create_space


def position_name(space: SearchSpace[Any], position: int) -> str:
    """Short name of a position: ``e3`` for a cell's edge, the label (``L4``) otherwise."""
    return f"e{position}" if space.kind == "cell" else space.position_label(position)


def position_names(space: SearchSpace[Any]) -> list[str]:
    """:func:`position_name` of every position, in order."""
    return [position_name(space, k) for k in range(space.num_edges)]


def position_title(space: SearchSpace[Any], position: int) -> str:
    """Name and label of a position (``e3 0→3``), or the name alone when it is the label
    (``L4``)."""
    name, label = position_name(space, position), space.position_label(position)
    return name if name == label else f"{name} {label}"


def neighbour_labels(rows: Sequence[Mapping[str, Any]], space: SearchSpace[Any]) -> list[str]:
    """Bar labels of one-edit neighbours: the position and the op swapped in
    (``e3 → conv3x3``, ``L4 → k5e6``)."""
    g = space.graph()
    return [f"{position_name(space, int(r['edge']))} → {g.op_label(r['op'])}" for r in rows]


def example_arch(space: SearchSpace[Any]) -> str:
    """An arch string of ``space`` to show as an example: its last op everywhere."""
    return space.to_string(space.from_ops([space.ops[-1]] * space.num_edges))


@functools.lru_cache(maxsize=8)
def space_named(name: str) -> SearchSpace[Any]:
    """The registered space ``name`` (one shared instance; spaces are stateless)."""
    return create_space(name)


def action_text(action: str, edge: int | None, op: str | None, space: SearchSpace[Any]) -> str:
    """``prune e3 none`` / ``pin L4 ir_k5_e6``: a steering action as the history and the
    teaching reveal show it (a suggestion and the student's matching event read the same)."""
    where = f" {position_name(space, edge)}" if edge is not None else ""
    return action + where + (f" {op}" if op else "")


__all__ = [
    "action_text",
    "example_arch",
    "neighbour_labels",
    "position_name",
    "position_names",
    "position_title",
    "space_named",
]
