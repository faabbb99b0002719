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
#: The narrowest a cell diagram is drawn (px: half a card, in the inspector), the width of
#: one character of an edge label (px, at 11 px) and a label's line height (px). Labels are
#: placed to keep a line of air between them at that size (:func:`label_boxes`).
CELL_WIDTH_PX = 260
CHAR_PX = 6.6
LINE_PX = 18.0
#: A node's size (px) and the most label choices tried before settling for less air.
NODE_PX = 32.0
NODE_BUDGET = 5_000
#: Where along its edge a label may sit (fractions of the curve), nearest the middle first.
LABEL_AT = (0.5, 0.45, 0.55, 0.4, 0.6, 0.35, 0.65, 0.3, 0.7, 0.25, 0.75, 0.2, 0.8)


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


def _to_px(
    points: Sequence[tuple[float, float]], layout: dict[str, Any]
) -> list[tuple[float, float]]:
    """``points`` (data coordinates) in pixels from the plot's bottom left, as a figure of
    ``layout``'s axis ranges, height and margins draws them at :data:`CELL_WIDTH_PX` wide."""
    (ax0, ax1), (ay0, ay1) = layout["xaxis"]["range"], layout["yaxis"]["range"]
    m = layout["margin"]
    sx = (CELL_WIDTH_PX - m["l"] - m["r"]) / (ax1 - ax0)
    sy = (layout["height"] - m["t"] - m["b"]) / (ay1 - ay0)
    return [((x - ax0) * sx, (y - ay0) * sy) for x, y in points]


def label_boxes(
    centres: Sequence[tuple[float, float]], texts: Sequence[str], layout: dict[str, Any]
) -> list[tuple[float, float, float, float]]:
    """Each label's box ``(x0, y0, x1, y1)`` in pixels, as a figure of ``layout`` draws it at
    :data:`CELL_WIDTH_PX` wide (an estimate: a label's width is its characters times
    :data:`CHAR_PX`, its height a :data:`LINE_PX` per line)."""
    out = []
    for (px, py), text in zip(_to_px(centres, layout), texts, strict=True):
        w = max(len(line) for line in text.split("<br>")) * CHAR_PX + 4
        h = LINE_PX * (text.count("<br>") + 1)
        out.append((px - w / 2, py - h / 2, px + w / 2, py + h / 2))
    return out


def _gap(a: Sequence[float], b: Sequence[float]) -> float:
    """The air between two boxes (px; negative when they overlap)."""
    return max(b[0] - a[2], a[0] - b[2], b[1] - a[3], a[1] - b[3])


def _place_labels(
    curves: Sequence[np.ndarray],
    texts: Sequence[str],
    layout: dict[str, Any],
    nodes: Sequence[tuple[float, float]],
) -> list[int]:
    """Index along each curve of its label: the first choice of fractions (each from
    :data:`LABEL_AT`, nearest the middle first) that keeps a line of air between every
    two labels and clear of the nodes; failing that half a line, then mere clearance,
    then every label at its middle."""
    n = len(curves[0]) - 1 if curves else 0
    boxes = [
        label_boxes(
            [(float(c[round(t * n)][0]), float(c[round(t * n)][1])) for t in LABEL_AT],
            [text] * len(LABEL_AT),
            layout,
        )
        for c, text in zip(curves, texts, strict=True)
    ]
    half = NODE_PX / 2
    node_boxes = [(x - half, y - half, x + half, y + half) for x, y in _to_px(nodes, layout)]

    def search(air: float) -> list[int] | None:
        chosen: list[int] = []
        budget = [NODE_BUDGET]

        def go(i: int) -> bool:
            if i == len(boxes):
                return True
            for k, b in enumerate(boxes[i]):
                budget[0] -= 1
                if budget[0] < 0:
                    return False
                if all(_gap(b, o) >= 2 for o in node_boxes) and all(
                    _gap(b, boxes[j][chosen[j]]) >= air for j in range(i)
                ):
                    chosen.append(k)
                    if go(i + 1):
                        return True
                    chosen.pop()
            return False

        return chosen if go(0) else None

    for air in (LINE_PX, LINE_PX * 2 / 3, LINE_PX / 2, 0.0):
        found = search(air)
        if found is not None:
            return [round(LABEL_AT[k] * n) for k in found]
    return [round(0.5 * n)] * len(curves)


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
    curves: list[np.ndarray] = []
    texts: list[str] = []
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
        curves.append(np.column_stack([xs, ys]))
        texts.append(f"{names[k]}<br>{labels[k]}" if chain and names else name + labels[k])
    data.append(_nodes_trace(shape, xy, chain=chain))
    xs_all = [p[0] for p in xy.values()]
    pad = 0.9 if chain else 0.3
    layout = _base_layout(
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
        height=150 if chain else 280,
        margin={"l": 5, "r": 5, "t": 30 if title else 5, "b": 5},
    )
    at = [10] * len(curves) if chain else _place_labels(curves, texts, layout, list(xy.values()))
    layout["annotations"] = [
        {
            "x": float(c[a][0]),
            "y": float(c[a][1]) + (0.3 if chain else 0.0),
            "text": text,
            "showarrow": False,
            "bgcolor": "rgba(255,255,255,0.85)",
            "font": {"size": 10 if chain else 11, "color": colours[k] if colours else "#555"},
        }
        for k, (c, a, text) in enumerate(zip(curves, at, texts, strict=True))
    ]
    return {"data": data, "layout": layout}


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
