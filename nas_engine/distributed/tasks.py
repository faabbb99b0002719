"""The work an executor runs, described by small picklable specs.

A task carries *what* to compute (a :class:`ScoreSpec` or :class:`TrainSpec` and cell
strings), never tensors: the process that runs it builds the dataset and the proxy suite
from the spec and keeps them in a per-process cache, so a worker loads a dataset once
however many tasks it runs. In-process execution uses the same functions and the same
cache, primed with the dataset the caller already holds (:func:`remember_dataset`).
"""

from __future__ import annotations

import math
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nas_engine.data import Dataset, load_dataset

#: Datasets and suites a process keeps (each a few MiB to a few hundred MiB).
CACHE_SIZE = 4


@dataclass(frozen=True)
class DataSpec:
    """How to load a dataset anywhere: :func:`~nas_engine.data.load_dataset`'s arguments.

    Paths are made absolute where the spec is made (:meth:`of`), so a worker with
    another working directory reads the same files (on a shared file system).

    Args:
        name: Dataset name (``digits``, ``cifar10``, ``npz:PATH``...).
        data_dir: Folder of the CIFAR pickles (``None``: the default).
        seed: Seed of the train/validation split.
    """

    name: str
    data_dir: str | None = None
    seed: int = 0

    @classmethod
    def of(cls, name: str, *, data_dir: str | None = None, seed: int = 0) -> DataSpec:
        """A spec with its paths made absolute against this process's directory."""
        if name.startswith("npz:"):
            name = "npz:" + str(Path(name[4:]).expanduser().absolute())
        root = data_dir or os.environ.get("NASNAV_DATA_DIR")
        return cls(name, str(Path(root).expanduser().absolute()) if root else None, seed)

    def load(self) -> Dataset:
        """Load it (never downloads: the caller loaded it first, which downloads)."""
        return load_dataset(self.name, data_dir=self.data_dir, seed=self.seed, download=False)


@dataclass(frozen=True)
class ScoreSpec:
    """Everything that fixes a proxy score: the suite a task builds.

    Args:
        space: Search space name.
        proxies: Proxy names, in column order.
        data: The dataset, or ``None`` for data-free proxies.
        batch_size: Proxy batch size.
        seed: Weights and batch seed.
        build: Network size options (``C``, ``N``) as sorted pairs.
    """

    space: str
    proxies: tuple[str, ...]
    data: DataSpec | None
    batch_size: int
    seed: int
    build: tuple[tuple[str, Any], ...] = ()

    @classmethod
    def of_suite(cls, suite: Any, data: DataSpec | None) -> ScoreSpec:
        """The spec of an existing :class:`~nas_engine.proxies.ProxySuite` (its proxies
        must all be registered ones: variants under other column names cannot travel).

        Raises:
            ValueError: An unregistered proxy column, or a suite with data and no
                ``data`` spec to load it from.
        """
        from nas_engine.proxies import list_proxies

        odd = [n for n in suite.names if n not in list_proxies()]
        if odd:
            raise ValueError(f"proxy columns {odd} are not registered proxies")
        if suite.data is not None and data is None:
            raise ValueError("the suite reads a dataset: give its DataSpec")
        return cls(
            space=suite.space.name,
            proxies=tuple(suite.names),
            # even data-free proxies read the input shape and classes from the data
            data=data if suite.data is not None else None,
            batch_size=suite.batch_size,
            seed=suite.seed,
            build=tuple(sorted(suite.build_kwargs.items())),
        )


@dataclass(frozen=True)
class TrainSpec:
    """A from-scratch training: the network and the schedule.

    Args:
        space: Search space name.
        data: The dataset.
        build: Network size options as sorted pairs.
        epochs: Epochs.
        seed: Weights and batch-order seed.
        device: ``"cpu"``, ``"cuda"`` or ``"auto"`` (CUDA when the worker has it).
    """

    space: str
    data: DataSpec
    build: tuple[tuple[str, Any], ...]
    epochs: int
    seed: int
    device: str = "cpu"


@dataclass(frozen=True)
class ScoredCell:
    """One cell's proxy results as they travel back: plain values.

    Args:
        arch: The cell's canonical string.
        values: Proxy name → value (``nan`` when undefined).
        seconds: Proxy name → seconds.
        notes: Proxy name → why a value is a fallback (the result's ``reason``).
        worker: Where it was computed (the process id, or a Dask worker's address).
    """

    arch: str
    values: Mapping[str, float]
    seconds: Mapping[str, float]
    notes: Mapping[str, str] = field(default_factory=dict)
    worker: str = ""

    @classmethod
    def of(cls, cs: Any, *, worker: str = "") -> ScoredCell:
        """The travelling form of a :class:`~nas_engine.proxies.suite.CellScores`."""
        return cls(
            arch=cs.arch,
            values={n: r.value for n, r in cs.results.items()},
            seconds={n: r.seconds for n, r in cs.results.items()},
            notes={n: r.reason for n, r in cs.results.items() if r.reason},
            worker=worker,
        )

    def cell_scores(self) -> Any:
        """As a :class:`~nas_engine.proxies.suite.CellScores` (for the score files)."""
        from nas_engine.proxies.base import ProxyResult
        from nas_engine.proxies.suite import CellScores

        return CellScores(
            arch=self.arch,
            results={
                n: ProxyResult(
                    name=n, value=v, seconds=self.seconds.get(n, math.nan),
                    reason=self.notes.get(n),
                )
                for n, v in self.values.items()
            },
        )  # fmt: skip


@dataclass(frozen=True)
class TrainedCell:
    """What a training task returns.

    Args:
        arch: The cell's string.
        test_acc: Test accuracy (percent).
        curve: Epoch points (``epoch``, ``train_loss``, ``train_acc``, ``val_acc``,
            ``seconds``).
        worker: Where it ran.
        device: The device it trained on.
    """

    arch: str
    test_acc: float
    curve: tuple[Mapping[str, float], ...]
    worker: str = ""
    device: str = "cpu"


# --------------------------------------------------------------------- per-process cache
_lock = threading.Lock()
_datasets: OrderedDict[DataSpec, Dataset] = OrderedDict()
_suites: OrderedDict[ScoreSpec, Any] = OrderedDict()
#: Datasets this process loaded from a spec (tests read it: one load per worker).
LOADS: list[DataSpec] = []


def _keep(cache: OrderedDict[Any, Any], key: Any, value: Any) -> None:
    cache[key] = value
    cache.move_to_end(key)
    while len(cache) > CACHE_SIZE:
        cache.popitem(last=False)


def remember_dataset(spec: DataSpec, data: Dataset) -> None:
    """Prime this process's cache with a dataset already in memory (in-process runs)."""
    with _lock:
        _keep(_datasets, spec, data)


def _cached(cache: OrderedDict[Any, Any], key: Any, build: Callable[[], Any]) -> Any:
    """``cache[key]``, built once with ``build()`` (outside the lock: a build may take
    seconds) and kept among the :data:`CACHE_SIZE` most recent."""
    with _lock:
        hit = cache.get(key)
        if hit is not None:
            cache.move_to_end(key)
            return hit
    value = build()
    with _lock:
        _keep(cache, key, value)
    return value


def dataset_for(spec: DataSpec) -> Dataset:
    """The dataset of ``spec``, loaded once per process."""

    def load() -> Dataset:
        data = spec.load()
        LOADS.append(spec)
        return data

    return _cached(_datasets, spec, load)


def suite_for(spec: ScoreSpec) -> Any:
    """The proxy suite of ``spec``, built once per process."""
    from nas_engine.proxies import ProxySuite
    from nas_engine.search_spaces import create_space

    return _cached(
        _suites,
        spec,
        lambda: ProxySuite(
            create_space(spec.space),
            list(spec.proxies),
            data=dataset_for(spec.data) if spec.data is not None else None,
            batch_size=spec.batch_size,
            seed=spec.seed,
            build_kwargs=dict(spec.build),
        ),
    )


def where() -> str:
    """This process's name in results: the Dask worker's address, else ``pid N``."""
    try:
        from distributed import get_worker

        return str(get_worker().address)
    except (ImportError, ValueError):
        return f"pid {os.getpid()}"


# --------------------------------------------------------------------------- the tasks
def score_cells(spec: ScoreSpec, archs: Sequence[str]) -> list[ScoredCell]:
    """Score cells with the suite of ``spec`` (a task: runs where the executor puts it).

    Undefined scores are ``nan`` with a note; an exception in one proxy is the suite's
    to report as such, so a task raises only on a broken spec or a lost worker.
    """
    suite = suite_for(spec)
    at = where()
    return [ScoredCell.of(suite.score(a), worker=at) for a in archs]


def train_task(spec: TrainSpec, arch: str) -> TrainedCell:
    """Train one cell from scratch with seeded weights (a task)."""
    import torch

    from nas_engine.search_spaces import create_space
    from nas_engine.training import train_cell_seeded

    device = spec.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    res = train_cell_seeded(
        create_space(spec.space), arch, dataset_for(spec.data), build=dict(spec.build),
        epochs=spec.epochs, seed=spec.seed, device=device,
    )  # fmt: skip
    curve = tuple(
        {"epoch": p.epoch, "step": p.step, "train_loss": p.train_loss,
         "train_acc": p.train_acc, "val_acc": p.val_acc, "seconds": p.seconds}
        for p in res.curve
    )  # fmt: skip
    return TrainedCell(arch=arch, test_acc=res.test_acc, curve=curve, worker=where(),
                       device=device)  # fmt: skip
