"""Scoring several proxies on many cells with shared work, ranks and the rank ensemble."""

from __future__ import annotations

import gc
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch

from nas_engine.data import Dataset
from nas_engine.proxies.base import (
    Proxy,
    ProxyContext,
    ProxyInputError,
    ProxyResult,
    create_proxy,
    list_proxies,
    proxy_class,
)
from nas_engine.search_spaces import SearchSpace

#: The default rank ensemble, chosen by ``benchmarks/proxy_frontier.py`` on NB201
#: CIFAR-100 truth (every set of up to six proxies, both aggregations, with an estimated
#: cost within 0.75x of the previous default ZiCo + NASWOT + synflow + #params and a
#: measured cost no higher) and reported on CIFAR-10 (see the README).
DEFAULT_ENSEMBLE: tuple[str, ...] = ("jacob_cov", "meco", "synflow")
#: How an ensemble combines its members' ranks (see :func:`rank_ensemble`).
AGGREGATIONS: tuple[str, ...] = ("mean_rank", "log_rank")
DEFAULT_AGGREGATION = "log_rank"


def resolve_proxy_names(spec: str | Iterable[str]) -> list[str]:
    """Turn ``"all"``, ``"zico,synflow"`` or a list into validated proxy names.

    The name ``ensemble`` stands for the members of :data:`DEFAULT_ENSEMBLE`, so
    ``"ensemble"`` computes just what the default ensemble needs.

    Args:
        spec: Comma-separated names, ``"all"``, or an iterable of names.

    Returns:
        Names in the given order (``all``: registry order), without duplicates.

    Raises:
        ProxyInputError: On an unknown name (the message lists the known ones).
    """
    names = [s.strip() for s in spec.split(",")] if isinstance(spec, str) else list(spec)
    names = [n for n in names if n]
    if names == ["all"]:
        return list_proxies()
    names = [m for n in names for m in (DEFAULT_ENSEMBLE if n == "ensemble" else (n,))]
    known = set(list_proxies())
    bad = [n for n in names if n not in known]
    if bad:
        raise ProxyInputError(f"unknown proxy {bad}; known: {', '.join(sorted(known))}, all")
    if not names:
        raise ProxyInputError("no proxy given")
    return list(dict.fromkeys(names))


@dataclass(frozen=True)
class CellScores:
    """All proxy results for one cell.

    Args:
        arch: The cell's canonical string.
        results: Proxy name → result.
    """

    arch: str
    results: Mapping[str, ProxyResult]

    def values(self) -> dict[str, float]:
        """Proxy name → value (``nan`` when undefined)."""
        return {k: r.value for k, r in self.results.items()}


class ProxySuite:
    """Computes several proxies on one cell, sharing passes where the maths allows.

    All gradient-based proxies read one forward pass over batch 0 (ZiCo adds batch 1), and
    #params/FLOPs share one trace. A proxy's score is identical to computing it alone with
    the same seed (see the tests).

    Thread safety: a suite holds no per-cell state; it may be used from one thread at a
    time (torch's intra-op threads are used inside).

    Args:
        space: Search space of the cells.
        proxies: Proxy names (or ``"all"``).
        data: Dataset for data-dependent proxies.
        batch_size: Batch size (default: the largest default among the chosen proxies).
        seed: Seed for weights and batches.
        build_kwargs: Options for ``space.build`` (e.g. ``C``, ``N``).
        proxy_kwargs: Per-proxy constructor options, by name.
        extra_proxies: Additional proxy instances under their own column names (variants
            such as ``{"zico_accumulated": ZiCo(accumulate=True)}``); they share the same
            passes.
    """

    def __init__(
        self,
        space: SearchSpace[Any],
        proxies: str | Sequence[str] = "all",
        *,
        data: Dataset | None = None,
        batch_size: int | None = None,
        seed: int = 0,
        build_kwargs: dict[str, Any] | None = None,
        proxy_kwargs: dict[str, dict[str, Any]] | None = None,
        extra_proxies: Mapping[str, Proxy] | None = None,
    ) -> None:
        self.space = space
        base_names = resolve_proxy_names(proxies)
        self.proxies: dict[str, Proxy] = {
            n: create_proxy(n, **(proxy_kwargs or {}).get(n, {})) for n in base_names
        }
        for col, proxy in (extra_proxies or {}).items():
            if col in self.proxies:
                raise ProxyInputError(f"extra proxy column {col!r} clashes with a proxy")
            self.proxies[col] = proxy
        self.names = list(self.proxies)
        missing_data = [n for n, p in self.proxies.items() if p.needs_data and data is None]
        if missing_data:
            raise ProxyInputError(f"proxies {missing_data} need data; pass a dataset")
        self.data = data
        self.batch_size = batch_size or max(p.default_batch_size for p in self.proxies.values())
        self.seed = seed
        self.build_kwargs = dict(build_kwargs or {})

    @classmethod
    def for_config(
        cls,
        space: SearchSpace[Any],
        config: Any,
        *,
        data: Dataset | None,
        names: str | Sequence[str] | None = None,
    ) -> ProxySuite:
        """Build the suite a search run scores its candidates with.

        Args:
            space: Search space of the cells.
            config: A search configuration (duck-typed: ``all_proxies``,
                ``proxy_batch_size``, ``seed``, ``proxy_C`` and ``proxy_N`` are read;
                unset sizes are the space's defaults).
            data: Dataset for data-dependent proxies.
            names: Proxies to compute, as for the constructor (default:
                ``config.all_proxies``).

        Returns:
            The suite, with the run's batch size, seed and network size.
        """
        return cls(
            space,
            config.all_proxies if names is None else names,
            data=data,
            batch_size=config.proxy_batch_size,
            seed=config.seed,
            build_kwargs=space.network_options(
                "proxy", C=getattr(config, "proxy_C", None), N=getattr(config, "proxy_N", None)
            ),
        )

    def context(self, arch: Any) -> ProxyContext:
        """Return a fresh scoring context for ``arch`` (planned for this suite's proxies)."""
        ctx = ProxyContext(
            self.space,
            arch,
            data=self.data,
            batch_size=self.batch_size,
            seed=self.seed,
            build_kwargs=self.build_kwargs,
        )
        needs: set[str] = set()
        for p in self.proxies.values():
            needs |= p.requires
        ctx.plan(needs)
        return ctx

    def score(self, arch: Any) -> CellScores:
        """Score one cell with every proxy of the suite.

        Args:
            arch: An architecture value or its string.

        Returns:
            :class:`CellScores`; undefined scores are ``nan`` with a reason, never raised.
        """
        if isinstance(arch, str):
            arch = self.space.from_string(arch)
        ctx = self.context(arch)
        results = {}
        try:
            for name, proxy in self.proxies.items():
                res = proxy.score(ctx)
                results[name] = res if res.name == name else replace(res, name=name)
        finally:
            del ctx
        return CellScores(arch=self.space.to_string(arch), results=results)

    def score_separately(self, arch: Any) -> CellScores:
        """Score each proxy with its own context (no sharing) — the baseline for speed-ups."""
        if isinstance(arch, str):
            arch = self.space.from_string(arch)
        results = {}
        for name, proxy in self.proxies.items():
            ctx = ProxyContext(
                self.space,
                arch,
                data=self.data,
                batch_size=self.batch_size,
                seed=self.seed,
                build_kwargs=self.build_kwargs,
            )
            res = proxy.score(ctx)
            results[name] = res if res.name == name else replace(res, name=name)
            del ctx
        return CellScores(arch=self.space.to_string(arch), results=results)

    def score_many(self, archs: Iterable[Any], *, progress: bool = False) -> list[CellScores]:
        """Score a population, releasing memory between cells.

        Args:
            archs: Architectures or strings.
            progress: Show a tqdm bar.

        Returns:
            One :class:`CellScores` per cell, in order.
        """
        from tqdm import tqdm

        archs = list(archs)
        out = []
        for i, a in enumerate(tqdm(archs, disable=not progress, desc="scoring", unit="cell")):
            out.append(self.score(a))
            if i % 16 == 15:
                gc.collect()
        return out


# --------------------------------------------------------------------------- ranking
def rank_higher_better(values: Sequence[float], *, higher_is_better: bool = True) -> np.ndarray:
    """Average ranks (1 = worst) with undefined (``nan``) values ranked worst.

    Args:
        values: Scores.
        higher_is_better: Whether larger scores are better.

    Returns:
        Float ranks; ties share their average rank.
    """
    from scipy.stats import rankdata

    v = np.asarray(values, dtype=np.float64)
    v = v if higher_is_better else -v
    v = np.where(np.isfinite(v), v, -np.inf)
    return rankdata(v, method="average")


def rank_ensemble(
    scores: Mapping[str, Sequence[float]],
    names: Sequence[str] = DEFAULT_ENSEMBLE,
    *,
    aggregation: str = DEFAULT_AGGREGATION,
    weights: Mapping[str, float] | None = None,
) -> np.ndarray:
    """Combine, per cell, the ranks of several proxies over a population.

    Ranks run from 1 (worst) to ``N`` (best); undefined scores rank worst.

    Args:
        scores: Proxy name → one value per cell (same order for every proxy).
        names: Proxies to combine.
        aggregation: ``"mean_rank"`` (the mean rank) or ``"log_rank"`` (AZ-NAS's sum of
            ``log(rank / N)``, which punishes a cell that any member ranks low).
        weights: Member → weight (default 1 each; a weighted sum or weighted mean).
            ``oneshot``, the supernet's estimate, may be a member (higher is better).

    Returns:
        The ensemble score per cell (higher is better); scale-free.
    """
    _check_aggregation(aggregation)
    missing = [n for n in names if n not in scores]
    if missing:
        raise ProxyInputError(f"rank ensemble needs scores for {missing}")
    if not names:
        raise ProxyInputError("rank ensemble needs at least one proxy")
    ranks = np.array(
        [rank_higher_better(scores[n], higher_is_better=higher_is_better(n)) for n in names]
    )
    w = _weights(names, weights)
    if aggregation == "log_rank":
        return (w[:, None] * np.log(ranks / ranks.shape[1])).sum(axis=0)
    return (w[:, None] * ranks).sum(axis=0) / max(float(w.sum()), 1e-12)


#: The ensemble member name of the supernet's one-shot estimate.
ONESHOT = "oneshot"


def higher_is_better(name: str) -> bool:
    """Whether a larger value of ensemble member ``name`` is better."""
    return True if name == ONESHOT else proxy_class(name).higher_is_better


def _weights(names: Sequence[str], weights: Mapping[str, float] | None) -> np.ndarray:
    w = np.array([1.0 if weights is None else float(weights.get(n, 1.0)) for n in names])
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ProxyInputError(f"ensemble weights must be finite and >= 0, got {weights}")
    return w


def _check_aggregation(aggregation: str) -> None:
    if aggregation not in AGGREGATIONS:
        raise ProxyInputError(
            f"unknown aggregation {aggregation!r}; known: {', '.join(AGGREGATIONS)}"
        )


def percentile_fitness(
    scores: Mapping[str, float],
    prior: Sequence[Mapping[str, float]],
    names: Sequence[str] = DEFAULT_ENSEMBLE,
    *,
    aggregation: str = DEFAULT_AGGREGATION,
    weights: Mapping[str, float] | None = None,
) -> float:
    """Online rank-ensemble fitness of one cell, judged against the cells before it.

    Per member, ``k`` is the number of ``prior`` cells the new cell matches or beats
    (an undefined score beats none). ``"mean_rank"`` returns the mean of ``k / n``
    (``0.5`` per member while nothing is known); ``"log_rank"`` returns the sum of
    ``log((k + 1) / (n + 1))``, the new cell's ``log(rank / N)`` among prior + itself.

    Args:
        scores: The new cell's proxy scores.
        prior: Scores of the cells evaluated before it.
        names: Ensemble members.
        aggregation: As for :func:`rank_ensemble`.
        weights: As for :func:`rank_ensemble`.

    Returns:
        The fitness; higher is better.
    """
    _check_aggregation(aggregation)
    terms = []
    for n in names:
        sign = 1.0 if higher_is_better(n) else -1.0
        v = scores.get(n, math.nan)
        ref = [sign * p[n] for p in prior if math.isfinite(p.get(n, math.nan))]
        k = sum(r <= sign * v for r in ref) if math.isfinite(v) else 0
        if aggregation == "log_rank":
            terms.append(math.log((k + 1) / (len(ref) + 1)))
        elif not math.isfinite(v):
            terms.append(0.0)
        else:
            terms.append(k / len(ref) if ref else 0.5)
    w = _weights(names, weights)
    if aggregation == "log_rank":
        return float(np.dot(w, terms))
    return float(np.dot(w, terms) / max(float(w.sum()), 1e-12))


def correlations(
    pred: Sequence[float], truth: Sequence[float], *, top: float = 0.1
) -> dict[str, float]:
    """Spearman ρ, Kendall τ and top-``top`` precision of ``pred`` against ``truth``.

    Undefined predictions (``nan``) are ranked worst rather than dropped, so a proxy is
    not rewarded for failing on hard cells.

    Args:
        pred: Proxy scores (higher = predicted better).
        truth: Ground-truth accuracies; cells with unknown truth (``nan``) are dropped.
        top: Fraction for the top-k precision.

    Returns:
        ``{"spearman", "kendall", "top_precision", "n"}``.
    """
    from scipy.stats import kendalltau, spearmanr

    p = np.asarray(pred, dtype=np.float64)
    t = np.asarray(truth, dtype=np.float64)
    keep = np.isfinite(t)
    p, t = p[keep], t[keep]
    n = len(t)
    if n < 3:
        return {"spearman": math.nan, "kendall": math.nan, "top_precision": math.nan, "n": n}
    pr = rank_higher_better(p)
    k = max(1, round(n * top))
    top_pred = set(np.argsort(-pr, kind="stable")[:k])
    top_true = set(np.argsort(-t, kind="stable")[:k])
    return {
        "spearman": float(spearmanr(pr, t).statistic),
        "kendall": float(kendalltau(pr, t).statistic),
        "top_precision": len(top_pred & top_true) / k,
        "n": n,
    }


def torch_threads(n: int | None) -> None:
    """Set torch's intra-op threads (``None``: leave as is)."""
    if n:
        torch.set_num_threads(n)
