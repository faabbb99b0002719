"""Pure analysis helpers shared by the app, the CLI and the benchmarks.

Nothing here touches torch or the UI: inputs are plain sequences of op tuples and scores.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from nas_engine.search_spaces import OpMask


@dataclass(frozen=True)
class OpImportance:
    """How candidates using one op on one edge score against the others on that edge.

    Args:
        edge: Edge index.
        op: Op name.
        count: Evaluated candidates with this op on this edge.
        mean_pct: Their mean percentile of the metric (0 = worst, 1 = best), or ``nan``.
        delta: ``mean_pct`` minus the mean percentile of the candidates without this op
            on this edge; positive means the op goes with better scores. ``nan`` when
            either group is empty.
    """

    edge: int
    op: str
    count: int
    mean_pct: float
    delta: float


def percentiles(values: Sequence[float], *, higher_is_better: bool = True) -> np.ndarray:
    """Percentile of each value among the finite ones (0..1; undefined values get 0).

    Args:
        values: Scores.
        higher_is_better: Whether larger is better.

    Returns:
        One percentile per value; ties share their average rank.
    """
    from scipy.stats import rankdata

    v = np.asarray(values, dtype=np.float64)
    out = np.zeros(len(v))
    ok = np.isfinite(v)
    n = int(ok.sum())
    if n == 1:
        out[ok] = 0.5
    elif n > 1:
        r = rankdata(v[ok] if higher_is_better else -v[ok], method="average")
        out[ok] = (r - 1) / (n - 1)
    return out


def op_importance(
    ops: Sequence[Sequence[str]],
    values: Sequence[float],
    *,
    op_names: Sequence[str],
    higher_is_better: bool = True,
) -> list[OpImportance]:
    """Per (edge, op), the mean percentile of the candidates that use it.

    Args:
        ops: Each evaluated candidate's op per edge.
        values: The metric per candidate (any scale; converted to percentiles).
        op_names: The space's op names.
        higher_is_better: Whether larger metric values are better.

    Returns:
        One :class:`OpImportance` per edge and op, edge-major.
    """
    if len(ops) != len(values):
        raise ValueError(f"{len(ops)} candidates but {len(values)} values")
    if not ops:
        return []
    pct = percentiles(values, higher_is_better=higher_is_better)
    finite = np.isfinite(np.asarray(values, dtype=np.float64))
    grid = np.asarray([list(o) for o in ops], dtype=object)
    out = []
    for e in range(grid.shape[1]):
        for op in op_names:
            has = (grid[:, e] == op) & finite
            rest = (grid[:, e] != op) & finite
            m_in = float(pct[has].mean()) if has.any() else math.nan
            m_out = float(pct[rest].mean()) if rest.any() else math.nan
            out.append(OpImportance(e, op, int(has.sum()), m_in, m_in - m_out))
    return out


def worst_ops(
    importance: Sequence[OpImportance],
    mask: OpMask,
    *,
    min_count: int = 3,
    keep: int = 1,
    margin: float = 0.0,
) -> list[tuple[int, str]]:
    """The op an expert would prune on each edge: the allowed op whose candidates score
    worst, where the edge keeps at least ``keep`` ops afterwards, the op was tried at
    least ``min_count`` times and trails the others by more than ``margin``.

    Args:
        importance: Output of :func:`op_importance`.
        mask: The mask in force.
        min_count: Evidence needed before an op may be judged.
        keep: Ops that must stay allowed on every edge.
        margin: Required gap: the op's ``delta`` (percentile vs. the rest) must be below
            ``-margin``.

    Returns:
        ``(edge, op)`` pairs, at most one per edge.
    """
    picks = []
    for e in range(mask.num_edges):
        allowed = mask.allowed(e)
        if len(allowed) <= max(1, keep):
            continue
        cands = [
            i
            for i in importance
            if i.edge == e
            and i.op in allowed
            and i.count >= min_count
            and math.isfinite(i.mean_pct)
        ]
        if len(cands) < 2:
            continue
        worst = min(cands, key=lambda i: i.mean_pct)
        if margin > 0 and not worst.delta < -margin:
            continue
        picks.append((e, worst.op))
    return picks
