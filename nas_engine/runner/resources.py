"""A run's resources: its cost table, the region a strategy may ask, and the cheap scorer
behind zero-cost warm-up and move proposal."""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nas_engine.data import Dataset, load_dataset
from nas_engine.proxies import ProxySuite
from nas_engine.resources import CostTable, Region, ResourceBudget, load_latency
from nas_engine.runner.config import SearchConfig
from nas_engine.search_spaces import OpMask, SearchSpace, create_space
from nas_engine.storage import SQLiteStorage


class RunResources:
    """Costs of every cell (computed on first need, cached on disk) and the run's region.

    Thread safety: owned by the session; it calls from its thread or under its lock.

    Args:
        space: The search space.
        data: The run's dataset (input shape and classes of the scored network).
        config: Gives the network size, the latency table and the cheap proxy.
        cache_dir: Folder for the cost table (``None``: not cached).
    """

    def __init__(
        self,
        space: SearchSpace[Any],
        data: Dataset,
        config: SearchConfig,
        *,
        cache_dir: str | Path | None = None,
    ) -> None:
        self.space = space
        self.data = data
        self.config = config
        self.cache_dir = cache_dir
        self._costs: CostTable | None = None
        self._costs_lock = threading.Lock()
        self._region_key: Any = None
        self._region: Region | None = None
        self._scores: dict[Any, float] = {}
        self._suite: ProxySuite | None = None

    @property
    def ready(self) -> CostTable | None:
        """The cost table if it was computed already (never computes)."""
        return self._costs

    @property
    def costs(self) -> CostTable:
        """FLOPs and params of the proxy network (and latency when a table is given);
        computed once, from any thread."""
        with self._costs_lock:
            return self._costs if self._costs is not None else self._compute()

    def _compute(self) -> CostTable:
        cfg = self.config
        table = CostTable.compute(
            self.space,
            num_classes=self.data.num_classes,
            in_channels=self.data.in_channels,
            input_shape=self.data.input_shape,
            cache_dir=self.cache_dir,
            **cfg.network(self.space, "proxy"),
        )
        if cfg.latency:
            table = table.with_latency(*load_latency(cfg.latency, self.space))
        self._costs = table
        return table

    @property
    def needed(self) -> bool:
        """Whether the run uses costs at all (a budget or a latency table)."""
        cfg = self.config
        return bool(cfg.latency) or cfg.resource_budget().is_set

    def check(self, mask: OpMask, budget: ResourceBudget) -> None:
        """Refuse a mask and budget that leave no cell (:class:`BudgetError`)."""
        if budget.is_set:
            self.costs.check(budget, self.space.mask_vector(mask), what="the current mask")

    def region(self, mask: OpMask, budget: ResourceBudget) -> Region:
        """The cells a strategy may ask (cached while mask and budget stay the same)."""
        if not budget.is_set:
            return Region(self.space, mask)
        key = (mask, budget)
        if key != self._region_key or self._region is None:
            feasible = self.costs.feasible(budget) if budget.is_set else None
            self._region, self._region_key = Region(self.space, mask, feasible), key
        return self._region

    def cheap_scores(self, archs: Sequence[Any]) -> np.ndarray:
        """The cheap proxy's score of each cell (each cell scored once per run)."""
        if self._suite is None:
            name = self.config.cheap_proxy
            self._suite = ProxySuite.for_config(
                self.space, self.config, data=self.data, names=[name]
            )
        out = []
        for a in archs:
            if a not in self._scores:
                v = self._suite.score(a).results[self.config.cheap_proxy].value
                self._scores[a] = v if v is not None and math.isfinite(v) else -math.inf
            out.append(self._scores[a])
        return np.asarray(out, dtype=float)


def cache_dir(storage: SQLiteStorage) -> Path:
    """``cache/`` beside the database (``data/cache`` for an in-memory one)."""
    base = Path(storage.path).parent if storage.path != ":memory:" else Path("data")
    return base / "cache"


def checkpoint_file(
    storage: SQLiteStorage, run_id: int, checkpoint_dir: str | Path | None = None
) -> Path:
    """The run's supernet checkpoint, keyed by the database *and* the run, so two
    databases in one folder (or sharing ``checkpoint_dir``) never share a file:
    ``checkpoints/<db name>-<hash of its absolute path>-run_<id>.pt``."""
    import hashlib

    where = Path(checkpoint_dir) if checkpoint_dir else cache_dir(storage).parent / "checkpoints"
    if storage.path == ":memory:":
        import uuid  # an in-memory database is its own: a token that lives with it

        if not hasattr(storage, "_checkpoint_token"):
            storage._checkpoint_token = uuid.uuid4().hex[:12]  # type: ignore[attr-defined]
        tag = f"memory-{storage._checkpoint_token}"  # type: ignore[attr-defined]
    else:
        full = str(Path(storage.path).expanduser().resolve())
        tag = f"{Path(full).stem}-{hashlib.sha1(full.encode()).hexdigest()[:8]}"
    return where / f"{tag}-run_{run_id}.pt"


def check_new_run(
    config: SearchConfig, *, data: Dataset | None, cache_dir: str | Path | None
) -> Dataset | None:
    """Check a new run's initial mask and resource budget before anything is stored.

    Returns:
        The dataset, loaded here when the check needed it (else ``data`` as given).

    Raises:
        MaskError: A refused prune or pin, a budget no cell of the mask meets
            (:class:`~nas_engine.resources.BudgetError`) or a bad latency table.
    """
    space = create_space(config.space)
    mask = config.initial_mask(space)
    if not (config.resource_budget().is_set or config.latency):
        return data
    if data is None:
        data = load_dataset(config.dataset, data_dir=config.data_dir, seed=config.seed)
    res = RunResources(space, data, config, cache_dir=cache_dir)
    res.check(mask, config.resource_budget())
    _ = res.costs  # a bad latency table fails here, too
    return data
