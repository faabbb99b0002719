"""The space diagram, drawn from the space's own description: a cell DAG laid out by
topological generations, or a chain of layers in a row; op colours from a palette."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import networkx as nx
import numpy as np

from app.plots.base import _base_layout

#: Line colours of the ops, by the op's index in the space's op list (cycled).
PALETTE = (
    "#9e9e9e",
    "#2e7d32",
    "#1565c0",
    "#6a1b9a",
    "#ef6c00",
    "#00838f",
    "#ad1457",
    "#5d4037",
    "#9e9d24",
)
#: Vertical offset of the middle generations of a cell that is not a path.
SPREAD = 0.9


class Shape(Protocol):
    """What the diagram needs of a space's structure (a ``SpaceGraph`` fits)."""

    @property
    def kind(self) -> str: ...

    @property
    def nodes(self) -> Sequence[int]: ...

    @property
    def edges(self) -> Sequence[tuple[int, int]]: ...


class OpNames(Protocol):
    """A space's ops and their short names (a ``SpaceGraph`` fits)."""

    @property
    def ops(self) -> Sequence[str]: ...

    def op_label(self, op: str) -> str: ...


@dataclass(frozen=True)
class _Cell:
    """A bare cell DAG given only by its edges."""

    edges: tuple[tuple[int, int], ...]
    kind: str = "cell"

    @property
    def nodes(self) -> tuple[int, ...]:
        return tuple(sorted({n for e in self.edges for n in e}))


def _digraph(shape: Shape) -> nx.DiGraph:
    g = nx.DiGraph()
    g.add_nodes_from(shape.nodes)
    g.add_edges_from(shape.edges)
    if not nx.is_directed_acyclic_graph(g):
        raise ValueError("a space's graph must be acyclic to be drawn")
    return g


def node_layout(shape: Shape) -> dict[int, tuple[float, float]]:
    """Coordinates of every node: ``x`` is the node's topological generation.

    A graph whose edges form a single path (a chain of layers) lies on one row
    (``y = 0``). In any other the first and last generations sit at ``y = 0`` and the
    middle ones alternate ``±SPREAD`` (several nodes of one generation spread around that).

    Args:
        shape: The space's structure (its ``nodes`` and ``edges``).

    Returns:
        ``node → (x, y)``.

    Raises:
        ValueError: The edges form a cycle.
    """
    g = _digraph(shape)
    gens = [sorted(gen) for gen in nx.topological_generations(g)]
    path = all(len(gen) == 1 for gen in gens) and g.number_of_edges() == len(gens) - 1
    xy: dict[int, tuple[float, float]] = {}
    for x, gen in enumerate(gens):
        middle = 0 < x < len(gens) - 1
        base = 0.0 if path or not middle else (SPREAD if x % 2 else -SPREAD)
        for i, n in enumerate(gen):
            xy[n] = (float(x), base + (i - (len(gen) - 1) / 2) * SPREAD)
    return xy


def op_colour(ops: Sequence[str], op: str) -> str:
    """Line colour of ``op``: the palette entry of its index in ``ops`` (grey if absent)."""
    return PALETTE[list(ops).index(op) % len(PALETTE)] if op in ops else "#555"


def mask_edge(allowed: Sequence[str], pinned: str | None, names: OpNames) -> tuple[str, str]:
    """Label and colour of a position under the mask: the pinned op, the single allowed
    op's colour, or how many ops remain (dark grey)."""
    n_ops = len(names.ops)
    label = f"{names.op_label(pinned)} (pinned)" if pinned else f"{len(allowed)}/{n_ops} ops"
    return label, ("#37474f" if len(allowed) > 1 else op_colour(names.ops, allowed[0]))


def importance_colour(delta: float) -> str:
    """Diverging colour for an op's importance (percentile difference in [-1, 1]):
    green better, red worse, light grey unknown."""
    if not math.isfinite(delta):
        return "#eceff1"
    t = max(-1.0, min(1.0, delta * 2.5))
    end = (102, 187, 106) if t >= 0 else (229, 115, 115)
    t = abs(t)
    r, g, b = (int(base - t * (base - e)) for base, e in zip((236, 239, 241), end, strict=True))
    return f"rgb({r},{g},{b})"


def _bends(shape: Shape, xy: dict[int, tuple[float, float]]) -> list[float]:
    """Vertical offset of each edge's control point: an edge that skips generations bends
    away from the nodes it passes (up when they balance), more the more it skips."""
    out = []
    for i, j in shape.edges:
        (x0, _), (x1, _) = xy[i], xy[j]
        span = round(x1 - x0)
        if span < 2:
            out.append(0.0)
            continue
        passed = [y for n, (x, y) in xy.items() if x0 < x < x1 and n not in (i, j)]
        side = -1.0 if passed and sum(passed) / len(passed) > 0 else 1.0
        out.append(side * 0.3 * (span - 1))
    return out


def _label_at(curve: np.ndarray, placed: list[tuple[float, float]]) -> int:
    """Index of the curve point where a label clears the labels already placed."""
    n = len(curve) - 1
    for t in (0.5, 0.63, 0.37, 0.74, 0.26):
        k = round(t * n)
        x, y = curve[k]
        if all(abs(x - px) >= 0.55 or abs(y - py) >= 0.2 for px, py in placed):
            return k
    return round(0.5 * n)


def cell_figure(
    shape: Shape | Sequence[tuple[int, int]],
    labels: Sequence[str],
    *,
    colours: Sequence[str] | None = None,
    names: Sequence[str] | None = None,
    notes: Sequence[str] | None = None,
    title: str = "",
) -> dict[str, Any]:
    """The space's diagram: a cell as a DAG, or a chain of layers in a row, every
    position labelled.

    Args:
        shape: The space's structure (``kind``, ``nodes``, ``edges``; a ``SpaceGraph``),
            or bare ``(from, to)`` edges of a cell.
        labels: One label per position (an op name, or a mask summary).
        colours: One line colour per position.
        names: One name per position, written before its label (``e3``, ``L4``).
        notes: One line per position for the hover (stride, width), or ``""``.
        title: Figure title.

    Returns:
        A Plotly figure dict.
    """
    if not hasattr(shape, "kind"):
        shape = _Cell(tuple((int(i), int(j)) for i, j in shape))  # type: ignore[union-attr]
    chain = shape.kind == "chain"
    xy = node_layout(shape)
    data: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    placed: list[tuple[float, float]] = []
    t = np.linspace(0, 1, 21)
    for k, ((i, j), bend) in enumerate(zip(shape.edges, _bends(shape, xy), strict=True)):
        (x0, y0), (x1, y1) = xy[i], xy[j]
        mx, my = (x0 + x1) / 2, (y0 + y1) / 2 + bend
        xs = (1 - t) ** 2 * x0 + 2 * (1 - t) * t * mx + t**2 * x1
        ys = (1 - t) ** 2 * y0 + 2 * (1 - t) * t * my + t**2 * y1
        colour = colours[k] if colours else "#555"
        name = f"{names[k]}: " if names else ""
        note = f" ({notes[k]})" if notes and notes[k] else ""
        data.append(
            {
                "type": "scatter",
                "x": xs.round(3).tolist(),
                "y": ys.round(3).tolist(),
                "mode": "lines",
                "line": {"color": colour, "width": 3},
                "hoverinfo": "text",
                "text": f"{name}{i}→{j}{note}: {labels[k]}",
                "showlegend": False,
            }
        )
        at = _label_at(np.column_stack([xs, ys]), placed) if not chain else 10
        placed.append((float(xs[at]), float(ys[at])))
        annotations.append(
            {
                "x": float(xs[at]),
                "y": float(ys[at]) + (0.3 if chain else 0.0),
                "text": f"{names[k]}<br>{labels[k]}" if chain and names else name + labels[k],
                "showarrow": False,
                "bgcolor": "rgba(255,255,255,0.85)",
                "font": {"size": 10 if chain else 11, "color": colour},
            }
        )
    data.append(_nodes_trace(shape, xy, chain=chain))
    xs_all = [p[0] for p in xy.values()]
    pad = 0.9 if chain else 0.3
    return {
        "data": data,
        "layout": _base_layout(
            title={"text": title, "font": {"size": 13}} if title else None,
            xaxis={
                "visible": False,
                "range": [min(xs_all) - pad, max(xs_all) + pad],
                "fixedrange": True,
            },
            yaxis={
                "visible": False,
                "range": [-0.5, 0.8] if chain else [-1.3, 1.3],
                "fixedrange": True,
            },
            annotations=annotations,
            height=150 if chain else 260,
            margin={"l": 5, "r": 5, "t": 30 if title else 5, "b": 5},
        ),
    }


def _nodes_trace(
    shape: Shape, xy: dict[int, tuple[float, float]], *, chain: bool
) -> dict[str, Any]:
    """The nodes: ``in`` and ``out`` at the ends; a cell's inner nodes by number, a
    chain's as small dots (its layers are the edges)."""
    g = _digraph(shape)
    nodes = list(xy)

    def text(n: int) -> str:
        if g.in_degree(n) == 0:
            return "in"
        if g.out_degree(n) == 0:
            return "out"
        return "" if chain else str(n)

    def where(n: int) -> str:
        return "middle left" if g.in_degree(n) == 0 else "middle right"

    return {
        "type": "scatter",
        "x": [xy[n][0] for n in nodes],
        "y": [xy[n][1] for n in nodes],
        "mode": "markers+text",
        "text": [text(n) for n in nodes],
        "textposition": [where(n) for n in nodes] if chain else "middle center",
        "marker": {
            "size": 10 if chain else 30,
            "color": "#eceff1",
            "line": {"color": "#37474f", "width": 2},
        },
        "hoverinfo": "skip",
        "showlegend": False,
    }
