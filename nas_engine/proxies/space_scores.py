"""Whole-space scores of the cheap proxies: a resumable, chunked job with a disk cache.

Every cell of the space is scored once by a :class:`ProxySuite` and appended to a CSV
(see :mod:`nas_engine.proxies.io`), so a stopped or crashed job continues where it
stopped. Cells are visited in a seeded random order, so a job that is part-way through
has scored a uniform sample of the space. The work is split into independent chunks of
cell indices (:func:`chunks`), so that a chunk can later be scored on another worker.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nas_engine.proxies.base import proxy_class
from nas_engine.proxies.io import read_scores, score_to_csv
from nas_engine.proxies.suite import ProxySuite, resolve_proxy_names
from nas_engine.search_spaces import SearchSpace

#: Seconds per cell (2 cores, the default network) under which a proxy counts as cheap
#: enough to score the whole space.
CHEAP_SECONDS = 0.2
#: The proxies measured under :data:`CHEAP_SECONDS` (``benchmarks/proxy_frontier.py``).
#: ``params`` and ``flops`` are cheap too, but they come from the cost table instead.
CHEAP_PROXIES: tuple[str, ...] = ("synflow", "meco")


@dataclass(frozen=True)
class SpaceScoreProgress:
    """How far a whole-space job has got.

    Args:
        done: Cells scored (in the file).
        total: Cells in the space.
        path: The cache file.
    """

    done: int
    total: int
    path: Path

    @property
    def finished(self) -> bool:
        """Whether every cell is scored."""
        return self.done >= self.total


def space_score_path(
    cache_dir: str | Path,
    space: SearchSpace[Any],
    proxies: Sequence[str],
    *,
    seed: int = 0,
    batch_size: int = 64,
    dataset: str | None = None,
    build_kwargs: dict[str, Any] | None = None,
) -> Path:
    """The cache file of one whole-space job, keyed by everything that changes a score.

    Args:
        cache_dir: The cache folder.
        space: The search space.
        proxies: Proxy names.
        seed: Weights and batch seed.
        batch_size: Proxy batch size.
        dataset: Dataset name, for proxies that read data (``None``: data-free only).
        build_kwargs: Network size as the proxies build it (``C``, ``N``).
    """
    key = {
        "space": space.name,
        "proxies": list(proxies),
        "seed": seed,
        "batch": batch_size,
        "data": dataset,
        **(build_kwargs or {}),
    }
    digest = hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()[:12]
    return Path(cache_dir) / f"space_{space.name}_{'-'.join(proxies)}_{digest}.csv"


def cell_order(space: SearchSpace[Any], *, seed: int = 0) -> np.ndarray:
    """Every cell index of the space, in the seeded random order the job visits them."""
    return np.random.default_rng(seed).permutation(space.size)


def chunks(order: np.ndarray, size: int) -> list[np.ndarray]:
    """Split the visiting order into independent chunks of ``size`` cell indices."""
    if size < 1:
        raise ValueError(f"chunk size must be >= 1, got {size}")
    return [order[i : i + size] for i in range(0, len(order), size)]


def score_space(
    suite: ProxySuite,
    path: str | Path,
    *,
    order_seed: int = 0,
    chunk_size: int = 64,
    limit: int | None = None,
    should_stop: Callable[[], bool] | None = None,
    on_progress: Callable[[SpaceScoreProgress], None] | None = None,
) -> SpaceScoreProgress:
    """Score every cell of ``suite.space`` into ``path``, resuming what is there.

    Args:
        suite: The proxies to compute (cheap ones: see :data:`CHEAP_PROXIES`).
        path: The cache CSV (created, or continued).
        order_seed: Seed of the visiting order.
        chunk_size: Cells per chunk; stop requests are honoured between chunks.
        limit: Stop after this many cells are in the file (``None``: all).
        should_stop: Polled between chunks; ``True`` stops the job (it can resume).
        on_progress: Called after each chunk.

    Returns:
        The progress when the job stopped or finished.
    """
    space = suite.space
    path = Path(path)
    total = space.size if limit is None else min(limit, space.size)
    order = cell_order(space, seed=order_seed)[:total]
    done = count_scored(path)
    for part in chunks(order, chunk_size):
        if done >= total or (should_stop is not None and should_stop()):
            break
        archs = [space.from_index(int(i)) for i in part]
        new, _ = score_to_csv(suite, archs, path, resume=True)
        done += new
        if on_progress is not None:
            on_progress(SpaceScoreProgress(done=done, total=space.size, path=path))
    return SpaceScoreProgress(done=count_scored(path), total=space.size, path=path)


def count_scored(path: str | Path) -> int:
    """Cells in a whole-space cache (its complete rows), without parsing it."""
    path = Path(path)
    if not path.is_file():
        return 0
    with path.open("rb") as f:
        return max(sum(1 for line in f if line.endswith(b"\n")) - 1, 0)


@dataclass(frozen=True)
class SpaceScoreTable:
    """A whole-space cache read into arrays indexed by cell index.

    Args:
        values: Proxy name → ``(space.size,)`` floats; ``nan`` where not scored yet or
            where the proxy is undefined for the cell.
        scored: ``(space.size,)`` booleans: the cell has a row in the cache.
    """

    values: dict[str, np.ndarray]
    scored: np.ndarray

    @property
    def done(self) -> int:
        """Cells with a row."""
        return int(self.scored.sum())


def read_space_scores(space: SearchSpace[Any], path: str | Path) -> SpaceScoreTable:
    """Read a whole-space cache (possibly part-way through) into arrays by cell index.

    Args:
        space: The search space.
        path: The cache CSV; a missing file, or one without a complete row yet (a job
            that has just created it), reads as an empty table.
    """
    scored = np.zeros(space.size, dtype=bool)
    if count_scored(path) == 0:  # missing, or a job that has not written its header yet
        return SpaceScoreTable({}, scored)
    archs, values = read_scores(path)
    idx = np.array([space.index(space.from_string(a)) for a in archs], dtype=np.int64)
    scored[idx] = True
    out = {}
    for name, vals in values.items():
        col = np.full(space.size, math.nan)
        col[idx] = vals
        out[name] = col
    return SpaceScoreTable(out, scored)


def check_cheap(names: Sequence[str]) -> list[str]:
    """Validate proxy names for a whole-space job; data-free ones only are accepted.

    Raises:
        ProxyInputError: On an unknown name.
        ValueError: On a proxy that reads images (too slow, and tied to one dataset).
    """
    names = resolve_proxy_names(list(names))
    heavy = [n for n in names if proxy_class(n).needs_data]
    if heavy:
        raise ValueError(
            f"whole-space scoring takes data-free proxies only; {heavy} read images "
            f"(cheap ones: {', '.join(CHEAP_PROXIES)})"
        )
    return names
