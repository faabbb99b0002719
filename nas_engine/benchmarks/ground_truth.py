"""Benchmark ground truth: the true accuracy of a cell, looked up, never guessed.

Sources (given as a spec string, as on the command line):

* ``csv:PATH[:COLUMN]`` — a CSV table with an arch-string column (``arch`` by default)
  and an accuracy column. When ``COLUMN`` is omitted the table must have exactly one
  column whose name contains ``acc``.
* ``nats:PATH[:DATASET]`` — the official NATS-Bench topology file through the optional
  ``nats_bench`` package (``pip install nasnav[nats]``); ``DATASET`` defaults to
  ``cifar10``, and the 200-epoch test accuracy is reported.

A cell that the source lacks gives ``None`` ("unknown").
"""

from __future__ import annotations

import abc
import csv
import threading
from pathlib import Path
from typing import Any

from nas_engine.search_spaces import DEFAULT_SPACE, create_space, space_of


class GroundTruthError(ValueError):
    """Raised when a ground-truth source cannot be opened or is malformed."""


class GroundTruth(abc.ABC):
    """A source of true accuracies for cells of one search space.

    Thread safety: implementations are read-only after construction, so ``lookup`` may
    be called from many threads at once.
    """

    #: Human-readable description of the source (path and column).
    description: str
    #: Name of the metric, e.g. ``cifar10_test_acc``.
    metric: str
    #: Name of the search space whose cells the source knows.
    space: str

    @abc.abstractmethod
    def lookup(self, arch: Any) -> float | None:
        """Return the accuracy (percent) of ``arch`` (an arch value or string), or ``None``."""

    def __contains__(self, arch: object) -> bool:
        return self.lookup(arch) is not None


def _canonical(space: Any, arch: Any) -> str | None:
    """Canonical string of an arch value or string; ``None`` when it cannot be parsed."""
    if isinstance(arch, str):
        try:
            return space.to_string(space.from_string(arch))
        except ValueError:
            return None
    return space.to_string(arch)


class CsvGroundTruth(GroundTruth):
    """Ground truth from a CSV table.

    Args:
        path: CSV file.
        column: Accuracy column (default: the single column whose name contains ``acc``).
        arch_column: Arch-string column (always read as text: codes like ``00000000``
            keep their leading zeros).
        space: Search space name the strings belong to (``None``: the space whose
            strings the first row holds).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        column: str | None = None,
        arch_column: str = "arch",
        space: str | None = None,
    ) -> None:
        self.path = Path(path).expanduser()
        if not self.path.is_file():
            raise GroundTruthError(f"ground-truth table: no such file {str(self.path)!r}")
        with self.path.open(newline="") as f:
            reader = csv.DictReader(f)
            header = list(reader.fieldnames or [])
            if arch_column not in header:
                raise GroundTruthError(
                    f"{self.path.name}: no arch column {arch_column!r}; columns: {header}"
                )
            if column is None:
                acc_cols = [c for c in header if "acc" in c.lower()]
                if len(acc_cols) != 1:
                    raise GroundTruthError(
                        f"{self.path.name}: name the accuracy column (csv:PATH:COLUMN); "
                        f"candidates: {acc_cols or header}"
                    )
                column = acc_cols[0]
            if column not in header:
                raise GroundTruthError(
                    f"{self.path.name}: no column {column!r}; columns: {header}"
                )
            rows = list(reader)
            if space is None:
                first = next((r[arch_column] for r in rows if r[arch_column]), None)
                if first is None:
                    raise GroundTruthError(f"{self.path.name}: the table has no rows")
                try:
                    space = space_of(first)
                except ValueError:
                    space = DEFAULT_SPACE  # its parser says below what is wrong with the row
            self.space = space
            self._space = create_space(space)
            table: dict[str, float] = {}
            for lineno, row in enumerate(rows, start=2):
                raw_arch, raw_acc = row[arch_column], row[column]
                try:
                    key = self._space.to_string(self._space.from_string(raw_arch))
                except ValueError as exc:
                    raise GroundTruthError(f"{self.path.name}:{lineno}: {exc}") from exc
                if raw_acc in (None, "", "nan", "NaN"):
                    continue
                try:
                    table[key] = float(raw_acc)
                except ValueError as exc:
                    raise GroundTruthError(
                        f"{self.path.name}:{lineno}: accuracy {raw_acc!r} is not a number"
                    ) from exc
        self.metric = column
        self.description = f"csv:{self.path}:{column}"
        self._table = table

    def __len__(self) -> int:
        return len(self._table)

    def lookup(self, arch: Any) -> float | None:
        key = _canonical(self._space, arch)
        return None if key is None else self._table.get(key)

    def items(self) -> list[tuple[str, float]]:
        """Return ``(arch string, accuracy)`` pairs for every cell in the table."""
        return list(self._table.items())


class NatsGroundTruth(GroundTruth):
    """Ground truth from the official NATS-Bench topology (TSS) file.

    Args:
        path: The NATS-tss file or folder.
        dataset: ``cifar10``, ``cifar100`` or ``ImageNet16-120``.
    """

    def __init__(self, path: str | Path, *, dataset: str = "cifar10") -> None:
        try:
            from nats_bench import create as nats_create
        except ImportError as exc:
            raise GroundTruthError(
                "nats: the optional package nats_bench is not installed; "
                "run `pip install nasnav[nats]` (or use a csv: table)"
            ) from exc
        p = Path(path).expanduser()
        if not p.exists():
            raise GroundTruthError(f"nats: no such file or folder {str(p)!r}")
        self._api = nats_create(str(p), "tss", fast_mode=True, verbose=False)
        self._dataset = dataset
        self.space = "nb201"  # NATS-Bench's topology space is NAS-Bench-201
        self._space = create_space(self.space)
        self._lock = threading.Lock()  # the NATS API caches lazily; guard it
        self._cache: dict[str, float | None] = {}
        self.metric = f"{dataset}_test_acc"
        self.description = f"nats:{p}:{dataset}"

    def lookup(self, arch: Any) -> float | None:
        key = _canonical(self._space, arch)
        if key is None:
            return None
        with self._lock:
            if key not in self._cache:
                idx = self._api.query_index_by_arch(key)
                if idx is None or idx < 0:
                    self._cache[key] = None
                else:
                    info = self._api.get_more_info(idx, self._dataset, hp="200", is_random=False)
                    self._cache[key] = float(info["test-accuracy"])
            return self._cache[key]


def load_ground_truth(spec: str, *, space: str | None = None) -> GroundTruth:
    """Open a ground-truth source from a spec string.

    Args:
        spec: ``csv:PATH[:COLUMN]`` or ``nats:PATH[:DATASET]``.
        space: The search space the caller's cells belong to (``None``: whichever the
            table holds).

    Returns:
        The source.

    Raises:
        GroundTruthError: Unknown scheme, missing file, bad column, or a table of
            another space's architectures.
    """
    gt = _open(spec)
    if space is not None and gt.space != space:
        raise GroundTruthError(
            f"{spec}: the table holds {gt.space!r} architectures, not {space!r} ones"
        )
    return gt


def _open(spec: str) -> GroundTruth:
    scheme, sep, rest = spec.partition(":")
    if not sep or not rest:
        raise GroundTruthError(
            f"bad benchmark spec {spec!r}; use csv:PATH[:COLUMN] or nats:PATH[:DATASET]"
        )
    path, option = rest, None
    if not Path(rest).expanduser().exists() and ":" in rest:
        path, option = rest.rsplit(":", 1)
    if scheme == "csv":
        return CsvGroundTruth(path, column=option or None)
    if scheme == "nats":
        return NatsGroundTruth(path, dataset=option or "cifar10")
    raise GroundTruthError(f"unknown benchmark scheme {scheme!r}; use csv: or nats:")
