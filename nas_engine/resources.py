"""Resource budgets: FLOPs, parameters and device latency of every cell, and the region
of cells a strategy may ask (inside the op mask *and* the budget).

FLOPs and parameters of a cell are sums over its positions: each position's op is its own
module, whatever the others hold. :meth:`CostTable.compute` therefore builds one network
per (position, op) and adds up the differences; a test checks the sums against networks
built whole. Latency comes from a measured table (``csv:PATH:DEVICE``); a cell the table
lacks has unknown latency, is never guessed, and never fits a latency budget.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nas_engine.search_spaces import MaskError, OpMask, SearchSpace
from nas_engine.utils.complexity import complexity

#: Units of each limit, for messages.
UNITS = {"max_flops": "MFLOPs", "max_params": "M params", "max_latency": "ms"}


class BudgetError(MaskError):
    """A resource budget is refused (the message says why and what would fit)."""


@dataclass(frozen=True)
class ResourceBudget:
    """Upper limits on a cell's cost; ``None`` means no limit.

    Args:
        max_flops: FLOPs (multiply-accumulates), millions, of the scored network.
        max_params: Parameters, millions, of the scored network.
        max_latency: Latency, ms, on the latency table's device.
    """

    max_flops: float | None = None
    max_params: float | None = None
    max_latency: float | None = None

    def __post_init__(self) -> None:
        for k, v in asdict(self).items():
            if v is not None and not (isinstance(v, int | float) and math.isfinite(v) and v > 0):
                raise BudgetError(f"{k} must be a positive number, got {v!r}")

    @property
    def is_set(self) -> bool:
        """Whether any limit is set."""
        return any(v is not None for v in asdict(self).values())

    def describe(self) -> str:
        """``≤ 50 MFLOPs, ≤ 1.0 M params`` (or ``no resource budget``)."""
        parts = [f"≤ {v:g} {UNITS[k]}" for k, v in asdict(self).items() if v is not None]
        return ", ".join(parts) if parts else "no resource budget"

    def to_dict(self) -> dict[str, float | None]:
        """JSON-ready form."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> ResourceBudget:
        """Inverse of :meth:`to_dict`."""
        return cls(**(d or {}))


def parse_latency_spec(spec: str) -> tuple[Path, str]:
    """Split ``csv:PATH:DEVICE`` into the path and the device column.

    Raises:
        BudgetError: A malformed spec.
    """
    kind, _, rest = spec.partition(":")
    path, sep, device = rest.rpartition(":")
    if kind != "csv" or not sep or not path or not device:
        raise BudgetError(f"latency spec {spec!r}: expected csv:PATH:DEVICE")
    return Path(path), device


def load_latency(spec: str, space: SearchSpace[Any]) -> tuple[str, np.ndarray]:
    """Latency (ms) of every cell of ``space`` from a measured table.

    Args:
        spec: ``csv:PATH:DEVICE``; the CSV has an ``arch`` column and one column per device.
        space: The space whose cells the ``arch`` strings name.

    Returns:
        ``(device, latency)`` with one value per cell index, ``nan`` where the table lacks it.

    Raises:
        BudgetError: Missing file, device column, ``arch`` column, or strings of another
            space (the message lists what the file has).
    """
    import pandas as pd

    path, device = parse_latency_spec(spec)
    if not path.is_file():
        raise BudgetError(f"latency table {path} not found")
    df = pd.read_csv(path, dtype={"arch": str})
    if "arch" not in df.columns:
        raise BudgetError(f"latency table {path} has no 'arch' column")
    devices = [c for c in df.columns if c not in ("index", "arch")]
    if device not in devices:
        raise BudgetError(
            f"latency table {path} has no device {device!r}; it has {', '.join(devices)}"
        )
    out = np.full(space.size, np.nan)
    bad = 0
    for arch, ms in zip(df["arch"], df[device].to_numpy(dtype=float), strict=True):
        try:
            out[space.index(space.from_string(arch))] = ms
        except ValueError:
            bad += 1
    if bad == len(df):
        raise BudgetError(f"latency table {path}: no row names a cell of space {space.name!r}")
    return device, out


@dataclass(frozen=True)
class CostTable:
    """FLOPs (M), parameters (M) and latency (ms, ``nan`` = unknown) of every cell.

    Args:
        flops: One value per cell index.
        params: One value per cell index.
        latency: One value per cell index, or ``None`` without a latency table.
        device: The latency table's device.
    """

    flops: np.ndarray
    params: np.ndarray
    latency: np.ndarray | None = None
    device: str | None = None

    @classmethod
    def compute(
        cls,
        space: SearchSpace[Any],
        *,
        num_classes: int,
        in_channels: int,
        input_shape: Sequence[int],
        cache_dir: str | Path | None = None,
        **build_kwargs: Any,
    ) -> CostTable:
        """Count every cell's FLOPs and parameters, as sums of per-position differences.

        Args:
            space: The search space.
            num_classes: Classes of the scored network.
            in_channels: Input channels.
            input_shape: ``(C, H, W)`` of one sample.
            cache_dir: Keep the table in this folder (keyed by all the arguments).
            **build_kwargs: Network size (e.g. ``C``, ``N``), as the proxies build it.
        """
        key = {
            "space": space.name,
            "classes": num_classes,
            "in": in_channels,
            "shape": list(input_shape),
            **build_kwargs,
        }
        digest = hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()[:12]
        file = Path(cache_dir) / f"costs_{space.name}_{digest}.npz" if cache_dir else None
        if file is not None and file.is_file():
            with np.load(file) as z:
                return cls(flops=z["flops"], params=z["params"])

        def cost(ops: Sequence[str]) -> tuple[float, float]:
            model = space.build(
                space.from_ops(ops), num_classes=num_classes, in_channels=in_channels,
                **build_kwargs,
            )  # fmt: skip
            c = complexity(model, input_shape)
            return c.flops / 1e6, c.params / 1e6

        base_ops = [space.ops[0]] * space.num_edges
        base = cost(base_ops)
        per = np.zeros((2, space.num_edges, len(space.ops)))  # [flops|params, position, op]
        for e in range(space.num_edges):
            for k, op in enumerate(space.ops[1:], start=1):
                ops = list(base_ops)
                ops[e] = op
                f, p = cost(ops)
                per[:, e, k] = (f - base[0], p - base[1])
        digits = space.op_digits()
        totals = [base[i] + per[i, np.arange(space.num_edges), digits].sum(1) for i in (0, 1)]
        table = cls(flops=totals[0], params=totals[1])
        if file is not None:
            file.parent.mkdir(parents=True, exist_ok=True)
            tmp = file.with_suffix(f".{os.getpid()}.tmp.npz")  # concurrent writers each own one
            np.savez(tmp, flops=table.flops, params=table.params)
            tmp.replace(file)
        return table

    def with_latency(self, device: str, latency: np.ndarray) -> CostTable:
        """This table with a latency column."""
        return CostTable(self.flops, self.params, np.asarray(latency, dtype=float), device)

    def column(self, limit: str) -> np.ndarray:
        """The values a limit (``max_flops``, ``max_params``, ``max_latency``) bounds.

        Raises:
            BudgetError: A latency limit without a latency table.
        """
        if limit == "max_flops":
            return self.flops
        if limit == "max_params":
            return self.params
        if self.latency is None:
            raise BudgetError("a latency budget needs a latency table (csv:PATH:DEVICE)")
        return self.latency

    def feasible(self, budget: ResourceBudget) -> np.ndarray:
        """Boolean per cell: every set limit is met (unknown latency never is)."""
        ok = np.ones(len(self.flops), dtype=bool)
        for limit, v in budget.to_dict().items():
            if v is not None:
                col = self.column(limit)
                ok &= np.isfinite(col) & (col <= v)
        return ok

    def check(self, budget: ResourceBudget, allowed: np.ndarray, *, what: str) -> np.ndarray:
        """The cells ``allowed`` (a mask's vector) that fit ``budget``; refuse an empty set.

        Args:
            budget: The limits.
            allowed: Boolean per cell (the op mask's cells).
            what: How to name ``allowed`` in a message ("the current mask").

        Raises:
            BudgetError: No cell fits; the message gives the nearest feasible value of each
                limit that no cell meets on its own.
        """
        ok = allowed & self.feasible(budget)
        if ok.any():
            return ok
        reasons = []
        for limit, v in budget.to_dict().items():
            if v is None:
                continue
            col = self.column(limit)
            vals = col[allowed & np.isfinite(col)]
            if not len(vals):
                reasons.append(f"no cell of {what} has a known {limit.removeprefix('max_')}")
            elif vals.min() > v:
                reasons.append(
                    f"no cell of {what} fits {v:g} {UNITS[limit]}; "
                    f"the smallest needs {vals.min():.3g}"
                )
        if not reasons:
            reasons.append(f"no cell of {what} meets all of {budget.describe()} at once")
        raise BudgetError("; ".join(reasons))


class Region:
    """The cells a strategy may ask: inside the op mask and, when given, the budget.

    Without a budget every method is the space's own masked one (same random draws).
    With one, sampling is uniform over the feasible cells of the mask, mutation picks a
    random feasible one-edit neighbour, and a parent with none is repaired by sampling.

    Args:
        space: The search space.
        mask: The op mask.
        feasible: Boolean per cell index (the budget), or ``None``.
    """

    def __init__(
        self, space: SearchSpace[Any], mask: OpMask, feasible: np.ndarray | None = None
    ) -> None:
        self.space = space
        self.mask = space.check_mask(mask)
        self.feasible = feasible
        self._cells: np.ndarray | None = None

    @property
    def cells(self) -> np.ndarray:
        """Indices of every cell in the region, ascending."""
        if self._cells is None:
            ok = self.space.mask_vector(self.mask)
            if self.feasible is not None:
                ok &= self.feasible
            self._cells = np.flatnonzero(ok)
        return self._cells

    @property
    def size(self) -> int:
        """Number of cells in the region."""
        return self.mask.size() if self.feasible is None else len(self.cells)

    def allows(self, arch: Any) -> bool:
        """Whether ``arch`` is inside the mask and the budget."""
        if not self.mask.allows(self.space.ops_of(arch)):
            return False
        return self.feasible is None or bool(self.feasible[self.space.index(arch)])

    def sample(self, rng: np.random.Generator) -> Any:
        """A uniform draw from the region."""
        if self.feasible is None:
            return self.space.sample(rng, self.mask)
        if not len(self.cells):
            raise BudgetError("no cell of the current mask fits the resource budget")
        return self.space.from_index(int(self.cells[int(rng.integers(len(self.cells)))]))

    def neighbours(self, arch: Any) -> list[Any]:
        """One-edit neighbours of ``arch`` inside the region."""
        return [a for _, _, a in self.space.neighbours(arch, self.mask) if self.allows(a)]

    def mutate(self, arch: Any, rng: np.random.Generator) -> Any:
        """A random one-edit neighbour inside the region (a fresh sample when none is)."""
        if self.feasible is None:
            return self.space.mutate(arch, rng, self.mask)
        near = self.neighbours(arch)
        if not near:
            return self.sample(rng)  # repair: nothing in budget one edit away
        return near[int(rng.integers(len(near)))]


def as_region(space: SearchSpace[Any], where: OpMask | Region) -> Region:
    """A :class:`Region` from a region or a bare mask (no budget)."""
    return where if isinstance(where, Region) else Region(space, where)
