"""Steering evidence: each op's effect on a metric, with a bootstrap interval, and the
prunes that evidence supports.

Pure statistics on plain sequences (op tuples and metric values): no torch, no runner,
no UI. :mod:`nas_engine.runner.evidence` feeds it a run's candidates.

The effect of op ``o`` at position ``p`` is the mean percentile (0–100, 100 = best) of
the cells that use ``o`` at ``p``, minus that of the cells that use another op there, in
percentile points. Its interval is the percentile bootstrap over cells (the percentiles
stay those of the whole sample). Its p-value is the rank-sum (Mann–Whitney) test's: the
effect over its standard error when the op's cells are a random subset, which is what
"no effect" means. A suggestion needs the interval to exclude zero *and* a
Holm-corrected p-value under ``alpha`` across every op tested, so that thirty chips do
not produce a false alarm at the rate of each.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from nas_engine.analysis import percentiles
from nas_engine.search_spaces import MaskError, OpMask

#: Defaults of :func:`suggest` (also the CLI's and the page's).
MIN_CELLS = 10
MIN_EFFECT = 5.0
#: Family-wise error rate of one round of suggestions (Holm over the ops tested); 0.01
#: because a round is repeated during a run and a prune steers everything after it.
ALPHA = 0.01
BOOTSTRAP = 1000


@dataclass(frozen=True)
class OpEffect:
    """The effect of one op at one position on a metric.

    Args:
        position: Position (edge or layer) index.
        op: Op name.
        n: Cells using the op there.
        n_without: Cells using another op there.
        effect: Mean percentile with the op minus without, in percentile points
            (``nan`` when either group is empty).
        low: Lower end of the bootstrap interval (``nan`` when undefined).
        high: Upper end.
        p: Two-sided p-value of "no effect": the rank-sum (Mann–Whitney) test's normal
            approximation, exact in its null variance (``nan`` when undefined).
        level: Confidence level of ``low``/``high``.
    """

    position: int
    op: str
    n: int
    n_without: int
    effect: float
    low: float
    high: float
    p: float
    level: float = 0.95

    @property
    def significant(self) -> bool:
        """Whether the interval excludes zero."""
        return self.low > 0 or self.high < 0

    def interval(self) -> str:
        """``95 % CI [−24, −12]``."""
        return f"{100 * self.level:.0f} % CI [{_pp(self.low)}, {_pp(self.high)}]"

    def describe(self) -> str:
        """``effect −18 percentile points, 95 % CI [−24, −12], n = 140``."""
        if not math.isfinite(self.effect):
            return f"effect unknown, n = {self.n}"
        return f"effect {_pp(self.effect)} percentile points, {self.interval()}, n = {self.n}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (undefined numbers become ``None``)."""
        return {
            "position": self.position,
            "op": self.op,
            "n": self.n,
            "n_without": self.n_without,
            "effect": _num(self.effect),
            "low": _num(self.low),
            "high": _num(self.high),
            "p": _num(self.p),
            "level": self.level,
            "significant": self.significant,
        }


@dataclass(frozen=True)
class Suggestion:
    """A steering action the evidence supports.

    Args:
        action: The steering action (``prune``).
        position: Position index.
        op: Op name.
        metric: The metric the evidence is on.
        effect: The op's :class:`OpEffect`.
        p_holm: Its Holm-corrected p-value among the ops tested.
        where: Human name of the position (e.g. ``1→3``).
    """

    action: str
    position: int
    op: str
    metric: str
    effect: OpEffect
    p_holm: float
    where: str = ""

    @property
    def key(self) -> str:
        """Stable identity of the suggestion (``prune:3:avg_pool_3x3``)."""
        return f"{self.action}:{self.position}:{self.op}"

    def note(self) -> str:
        """The evidence as one line, stored as the steering event's note when accepted:
        ``prune avg_pool_3x3 on 1→3: effect −18 percentile points, 95 % CI [−24, −12],
        n = 140 (metric fitness, Holm p 0.001)``."""
        where = self.where or f"position {self.position}"
        return (
            f"{self.action} {self.op} on {where}: {self.effect.describe()} "
            f"(metric {self.metric}, Holm p {self.p_holm:.3g})"
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the CLI's ``--json`` rows)."""
        e = self.effect
        return {
            "action": self.action,
            "position": self.position,
            "where": self.where,
            "op": self.op,
            "metric": self.metric,
            "effect": _num(e.effect),
            "ci_low": _num(e.low),
            "ci_high": _num(e.high),
            "level": e.level,
            "n": e.n,
            "n_without": e.n_without,
            "p": _num(e.p),
            "p_holm": _num(self.p_holm),
            "note": self.note(),
        }


def op_effects(
    ops: Sequence[Sequence[str]],
    values: Sequence[float],
    *,
    op_names: Sequence[str],
    higher_is_better: bool = True,
    n_boot: int = BOOTSTRAP,
    level: float = 0.95,
    seed: int = 0,
) -> list[OpEffect]:
    """Every position × op effect on the metric, with its bootstrap interval.

    Args:
        ops: Each cell's op per position (one row per distinct cell).
        values: The metric per cell (any scale; turned into percentiles). Cells with an
            undefined value are left out.
        op_names: The space's op names.
        higher_is_better: Whether larger metric values are better.
        n_boot: Bootstrap resamples.
        level: Confidence level of the interval.
        seed: Seed of the resampling (the same inputs give the same interval).

    Returns:
        One :class:`OpEffect` per position and op, position-major (none without cells).
    """
    if len(ops) != len(values):
        raise ValueError(f"{len(ops)} cells but {len(values)} values")
    if not 0 < level < 1 or n_boot < 10:
        raise ValueError("level must be in (0, 1) and n_boot >= 10")
    if not len(ops):
        return []
    v = np.asarray(values, dtype=np.float64)
    ok = np.isfinite(v)
    grid = np.asarray([list(o) for o in ops], dtype=object).reshape(len(ops), -1)[ok]
    n_pos = len(ops[0]) if len(ops) else 0
    pct = 100.0 * percentiles(v[ok], higher_is_better=higher_is_better)
    n = len(pct)
    keys = [(p, o) for p in range(n_pos) for o in op_names]
    if n == 0:
        nan = math.nan
        return [OpEffect(p, o, 0, 0, nan, nan, nan, nan, level) for p, o in keys]
    has = np.stack([grid[:, p] == o for p, o in keys], axis=1).astype(np.float64)  # n×K
    rng = np.random.default_rng(seed)
    w = rng.multinomial(n, np.full(n, 1.0 / n), size=n_boot).astype(np.float64)  # B×n
    eff_b = _effects(w, pct, has)  # B×K
    eff = _effects(np.ones((1, n)), pct, has)[0]
    s2 = float(pct.var(ddof=1)) if n > 1 else 0.0  # the null variance of a difference
    tail = (1 - level) / 2
    out = []
    for k, (p, o) in enumerate(keys):
        n_in = int(has[:, k].sum())
        e = float(eff[k])
        col = eff_b[:, k]
        col = col[np.isfinite(col)]
        if not math.isfinite(e) or len(col) < n_boot // 2:
            out.append(OpEffect(p, o, n_in, n - n_in, math.nan, math.nan, math.nan,
                                math.nan, level))  # fmt: skip
            continue
        lo, hi = np.quantile(col, [tail, 1 - tail])
        pval = _two_sided_p(e, math.sqrt(s2 * (1 / n_in + 1 / (n - n_in))))
        out.append(OpEffect(p, o, n_in, n - n_in, e, float(lo), float(hi), pval, level))
    return out


def _effects(w: np.ndarray, pct: np.ndarray, has: np.ndarray) -> np.ndarray:
    """Weighted mean percentile with minus without, per resample (rows of ``w``) and
    per position × op (columns of ``has``)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        n_in = w @ has
        n_out = w.sum(axis=1, keepdims=True) - n_in
        s_in = (w * pct) @ has
        s_out = (w @ pct)[:, None] - s_in
        return np.where((n_in > 0) & (n_out > 0), s_in / n_in - s_out / n_out, np.nan)


def _two_sided_p(effect: float, se: float) -> float:
    from scipy.stats import norm

    if se <= 0:
        return 0.0 if effect != 0 else 1.0
    return float(2 * norm.sf(abs(effect) / se))


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm–Bonferroni adjusted p-values (same order as given; each capped at 1)."""
    p = np.asarray(pvalues, dtype=np.float64)
    m = len(p)
    order = np.argsort(p, kind="stable")
    adj = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        adj[i] = running
    return adj.tolist()


def suggest(
    effects: Sequence[OpEffect],
    mask: OpMask,
    *,
    metric: str,
    min_cells: int = MIN_CELLS,
    min_effect: float = MIN_EFFECT,
    alpha: float = ALPHA,
    check: Callable[[OpMask], object] | None = None,
    where: Callable[[int], str] | None = None,
) -> list[Suggestion]:
    """The prunes the evidence supports, at most one per position.

    An allowed op is suggested for pruning when, on the chosen metric:

    * both groups have at least ``min_cells`` cells;
    * its effect is below ``-min_effect`` percentile points and its interval excludes 0;
    * its Holm-corrected p-value, among every allowed op that has the cells, is below
      ``alpha``.

    Never the last allowed op of a position, never on a pinned position, and never a
    prune that ``check`` refuses (e.g. a resource budget no cell would meet after it).
    Suggestions are checked in turn, each on the mask the ones before it leave.

    Args:
        effects: Output of :func:`op_effects`.
        mask: The mask in force.
        metric: Name of the metric (recorded in each suggestion).
        min_cells: Cells needed on each side of the comparison.
        min_effect: Smallest effect worth a prune, in percentile points.
        alpha: Family-wise error rate.
        check: Called with the mask a prune would leave; raises
            :class:`~nas_engine.search_spaces.MaskError` to refuse it.
        where: Human name of a position (default ``position i``).

    Returns:
        Suggestions, strongest evidence first.
    """
    tested = [
        e
        for e in effects
        if mask.state(e.position, e.op) == "allowed"
        and len(mask.allowed(e.position)) > 1
        and min(e.n, e.n_without) >= min_cells
        and math.isfinite(e.p)
    ]
    adjusted = dict(zip(((e.position, e.op) for e in tested), holm([e.p for e in tested]),
                        strict=True))  # fmt: skip
    picks: dict[int, tuple[OpEffect, float]] = {}
    for e in tested:
        p_adj = adjusted[(e.position, e.op)]
        if e.effect < -min_effect and e.high < 0 and p_adj < alpha:
            best = picks.get(e.position)
            if best is None or e.effect < best[0].effect:
                picks[e.position] = (e, p_adj)
    out = []
    current = mask
    for e, p_adj in sorted(picks.values(), key=lambda t: (t[1], t[0].effect)):
        try:
            after = current.prune(e.position, e.op)
            if check is not None:
                check(after)
        except MaskError:
            continue
        current = after
        label = where(e.position) if where is not None else ""
        out.append(Suggestion("prune", e.position, e.op, metric, e, p_adj, label))
    return out


def _pp(v: float) -> str:
    """Percentile points with a proper minus sign."""
    if not math.isfinite(v):
        return "?"
    s = f"{v:+.0f}" if round(v) != 0 else "0"
    return s.replace("-", "−")


def _num(v: float) -> float | None:
    return float(v) if math.isfinite(v) else None
