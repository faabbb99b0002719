"""How far the one-shot estimate can be trusted: a running fidelity figure.

The supernet's estimate is only worth ranking by once it agrees with something better.
:func:`oneshot_fidelity` measures that agreement over a run's recent candidates: the
Spearman ρ of the one-shot estimate with the best reference the run has, in this order:

1. ``ground truth`` (a benchmark table is loaded);
2. ``trained from scratch`` (at least :data:`MIN_CELLS` cells were trained);
3. ``zero-cost ensemble`` (the run's ensemble members over the same cells).

Every figure carries its ``n``, its source and a 95 % interval (Fisher z with the
Spearman standard error ``1.06 / sqrt(n - 3)``). Below :data:`INFORMATIVE` (or with too
few cells) the estimate is *not informative yet*: the runner neither ranks by it nor lets
it weigh in the hybrid ensemble, and the page says so.

The search itself never reads ground truth: :func:`search_fidelity` (the weight of the
one-shot member in the hybrid ensemble) skips that source, so loading a benchmark to
*watch* a run does not change what the run does.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from nas_engine.proxies.suite import rank_ensemble
from nas_engine.storage import CandidateRecord

#: Below this Spearman ρ the one-shot estimate is "not informative yet".
INFORMATIVE = 0.3
#: Fewest cells a fidelity figure is computed on.
MIN_CELLS = 10
#: The most recent candidates with an estimate that the figure covers (the supernet
#: keeps training, so old estimates describe an older network).
WINDOW = 100

SOURCES = ("ground truth", "trained from scratch", "zero-cost ensemble")


@dataclass(frozen=True)
class Fidelity:
    """The one-shot estimate's agreement with a reference.

    Args:
        rho: Spearman ρ (``None`` when it cannot be computed yet).
        n: Cells it was computed on.
        source: One of :data:`SOURCES`, or ``"none"``.
        low: Lower end of the 95 % interval (``None`` with ``rho``).
        high: Upper end of the 95 % interval.
        reason: Why there is no figure, when ``rho`` is ``None``.
    """

    rho: float | None
    n: int
    source: str
    low: float | None = None
    high: float | None = None
    reason: str = ""

    @property
    def informative(self) -> bool:
        """Whether the estimate may rank or colour cells (ρ ≥ :data:`INFORMATIVE`)."""
        return self.rho is not None and self.rho >= INFORMATIVE

    @property
    def weight(self) -> float:
        """The one-shot member's weight in the hybrid ensemble: ρ, or 0 when not
        informative."""
        return float(self.rho) if self.informative and self.rho is not None else 0.0

    def short(self) -> str:
        """A column-header form: ``ρ 0.62, n = 140`` or ``not informative yet``."""
        if not self.informative or self.rho is None:
            return "not informative yet"
        return f"ρ {self.rho:.2f}, n = {self.n}"

    def label(self) -> str:
        """Short text for the page, e.g. ``ρ 0.62 [0.51, 0.71] vs ground truth, n = 140``."""
        if self.rho is None:
            return f"not informative yet: {self.reason}"
        fig = f"ρ {self.rho:.2f} [{self.low:.2f}, {self.high:.2f}] vs {self.source}, n = {self.n}"
        return fig if self.informative else f"not informative yet: {fig}"


def unknown(reason: str) -> Fidelity:
    """A fidelity without a figure, with the reason."""
    return Fidelity(rho=None, n=0, source="none", reason=reason)


def spearman_interval(rho: float, n: int) -> tuple[float, float]:
    """95 % interval of a Spearman ρ over ``n`` cells (Fisher z, SE 1.06/√(n−3))."""
    if n <= 3:
        return -1.0, 1.0
    z = math.atanh(max(-0.999999, min(0.999999, rho)))
    half = 1.96 * 1.06 / math.sqrt(n - 3)
    return math.tanh(z - half), math.tanh(z + half)


def _figure(est: Sequence[float], ref: Sequence[float], source: str) -> Fidelity:
    e, r = np.asarray(est, dtype=float), np.asarray(ref, dtype=float)
    if np.ptp(e) == 0 or np.ptp(r) == 0:
        return Fidelity(None, len(e), source, reason=f"constant values over {len(e)} cells")
    rho = float(stats.spearmanr(e, r)[0])
    low, high = spearman_interval(rho, len(e))
    return Fidelity(rho, len(e), source, low, high)


def oneshot_fidelity(
    cands: Sequence[CandidateRecord],
    *,
    members: Sequence[str],
    aggregation: str,
    use_truth: bool = True,
    window: int = WINDOW,
) -> Fidelity:
    """The running fidelity of the one-shot estimate over the recent candidates.

    Args:
        cands: The run's candidates, in order.
        members: The zero-cost ensemble's members (the last-resort reference).
        aggregation: The ensemble's aggregation.
        use_truth: Whether ground truth may be the reference (``False`` for anything
            that steers the search).
        window: The most recent estimated candidates to use (distinct cells, latest
            estimate of each).

    Returns:
        The :class:`Fidelity`; ``rho`` is ``None`` with a reason when there are fewer
        than :data:`MIN_CELLS` estimated cells for every reference.
    """
    latest: dict[str, CandidateRecord] = {}
    for c in cands:
        if c.error is None and c.oneshot is not None and math.isfinite(c.oneshot):
            latest.pop(c.arch, None)
            latest[c.arch] = c
    recent = list(latest.values())[-window:]
    if len(recent) < MIN_CELLS:
        return unknown(f"{len(recent)} cells estimated so far, {MIN_CELLS} needed")
    refs: list[tuple[str, str]] = [("truth", SOURCES[0])] if use_truth else []
    refs.append(("trained_acc", SOURCES[1]))
    for attr, source in refs:
        pairs = [(c.oneshot, getattr(c, attr)) for c in recent if getattr(c, attr) is not None]
        if len(pairs) >= MIN_CELLS:
            return _figure([p[0] for p in pairs], [p[1] for p in pairs], source)
    usable = [c for c in recent if all(m in c.scores for m in members)]
    if not members or len(usable) < MIN_CELLS:
        return unknown("no reference: no ground truth, trained cells or zero-cost ensemble")
    ens = rank_ensemble(
        {m: [c.scores[m] for c in usable] for m in members}, members, aggregation=aggregation
    )
    return _figure([c.oneshot for c in usable], ens, SOURCES[2])  # type: ignore[misc]


def search_fidelity(
    cands: Sequence[CandidateRecord], *, members: Sequence[str], aggregation: str
) -> Fidelity:
    """The fidelity the search may act on: :func:`oneshot_fidelity` without ground truth."""
    return oneshot_fidelity(cands, members=members, aggregation=aggregation, use_truth=False)


def run_fidelities(
    cands: Sequence[CandidateRecord],
    *,
    members: Sequence[str],
    aggregation: str,
    supernet: bool,
    truth: bool,
) -> tuple[Fidelity, Fidelity]:
    """A run's two live figures: the one the search acts on (never ground truth), and
    the one the page shows (ground truth first, when loaded; else the same).

    Args:
        cands: The run's candidates.
        members: The zero-cost ensemble's members.
        aggregation: Its aggregation.
        supernet: Whether the run has a supernet (else both are unknown).
        truth: Whether ground truth is loaded.
    """
    if not supernet:
        none = unknown("this run has no supernet")
        return none, none
    search = search_fidelity(cands, members=members, aggregation=aggregation)
    if not truth:
        return search, search
    return search, oneshot_fidelity(cands, members=members, aggregation=aggregation)
