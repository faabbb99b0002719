"""Training one candidate from scratch for its real accuracy on the dataset."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

import torch

from nas_engine.data import Dataset
from nas_engine.runner.config import SearchConfig
from nas_engine.search_spaces import SearchSpace
from nas_engine.storage import SQLiteStorage
from nas_engine.training import CurvePoint as EpochPoint
from nas_engine.training import TrainConfig, train_from_scratch

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
    arch = space.from_string(arch_s)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        model = space.build(
            arch,
            num_classes=data.num_classes,
            in_channels=data.in_channels,
            **config.network(space, "train"),
        )
    points: list[Mapping[str, float]] = []

    def record(p: EpochPoint) -> None:
        points.append(
            MappingProxyType(
                {
                    "epoch": p.epoch,
                    "train_loss": p.train_loss,
                    "train_acc": p.train_acc,
                    "val_acc": p.val_acc,
                    "seconds": p.seconds,
                }
            )
        )
        on_epoch(p, tuple(points))

    res = train_from_scratch(
        model,
        data,
        TrainConfig(epochs=config.train_epochs, seed=config.seed),
        on_epoch=record,
        stop=threading.Event(),
    )
    return res.test_acc


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
