"""Training one candidate from scratch for its real accuracy on the dataset."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from nas_engine.data import Dataset
from nas_engine.runner.config import SearchConfig
from nas_engine.search_spaces import SearchSpace
from nas_engine.storage import SQLiteStorage
from nas_engine.training import CurvePoint as EpochPoint
from nas_engine.training import train_cell_seeded

#: ``on_epoch(point, curve)``: the new epoch point and the frozen curve so far.
EpochCallback = Callable[[EpochPoint, tuple[Mapping[str, float], ...]], None]


def train_cell(
    space: SearchSpace[Any],
    data: Dataset,
    arch_s: str,
    config: SearchConfig,
    *,
    on_epoch: EpochCallback,
) -> float:
    """Build ``arch_s`` with seeded weights and train it from scratch.

    Args:
        space: The search space.
        data: The dataset.
        arch_s: The cell's string.
        config: Gives the train network's size, ``train_epochs`` and ``seed``.
        on_epoch: Called after each epoch (the caller stores and publishes the point).

    Returns:
        The test accuracy (percent).
    """
    points: list[Mapping[str, float]] = []

    def record(p: EpochPoint) -> None:
        points.append(epoch_dict(p))
        on_epoch(p, tuple(points))

    res = train_cell_seeded(
        space, arch_s, data, build=config.network(space, "train"), epochs=config.train_epochs,
        seed=config.seed, on_epoch=record,
    )  # fmt: skip
    return res.test_acc


def epoch_dict(p: EpochPoint) -> Mapping[str, float]:
    """A frozen curve point as the snapshot and the stored curves hold it."""
    return MappingProxyType(
        {"epoch": p.epoch, "train_loss": p.train_loss, "train_acc": p.train_acc,
         "val_acc": p.val_acc, "seconds": p.seconds}
    )  # fmt: skip


def store_epoch(storage: SQLiteStorage, run_id: int, arch: str, p: EpochPoint) -> None:
    """Commit one epoch of a from-scratch training curve."""
    storage.add_train_point(
        run_id,
        arch,
        epoch=p.epoch,
        train_loss=p.train_loss,
        train_acc=p.train_acc,
        val_acc=p.val_acc,
        seconds=p.seconds,
    )
