"""The run's supernet: building its SPOS trainer and training it between candidates."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from nas_engine.data import Dataset
from nas_engine.runner.config import CommandError, SearchConfig
from nas_engine.runner.snapshot import CurvePoint
from nas_engine.search_spaces import OpMask, SearchSpace
from nas_engine.storage import SQLiteStorage
from nas_engine.supernet import SupernetConfig, SupernetTrainer
from nas_engine.supernet.trainer import CheckpointError


def augments(config: SearchConfig, data: Dataset) -> bool:
    """Whether the run's supernet batches are augmented (``auto``: images ≥ 16×16)."""
    if config.supernet_augment == "auto":
        return min(data.input_shape[1:]) >= 16
    return config.supernet_augment == "on"


def make_trainer(
    space: SearchSpace[Any],
    data: Dataset,
    config: SearchConfig,
    *,
    checkpoint_path: Path,
    owner: str | Mapping[str, Any] | None = None,
) -> SupernetTrainer | None:
    """Build the run's supernet trainer, restored from its checkpoint when there is one.

    A checkpoint written for another supernet (configuration, space, dataset, network
    size or owner differ) or one that cannot be read is refused, never silently
    overwritten: the user decides whether its training may be thrown away.

    Args:
        space: The search space.
        data: The dataset.
        config: Gives ``supernet`` (``False``: no trainer), its size, batch, rate and seed.
        checkpoint_path: The run's checkpoint file.
        owner: What the checkpoint belongs to, recorded in it and checked on loading
            (default: the checkpoint's file name, which names the database and the run).

    Returns:
        The trainer, or ``None`` for a run without a supernet.

    Raises:
        CommandError: The checkpoint belongs to another supernet or is unreadable; the
            message names what differs and the file to delete to start afresh.
    """
    if not config.supernet:
        return None
    trainer = SupernetTrainer(
        space,
        data,
        SupernetConfig(
            C=config.supernet_C,
            N=config.supernet_N,
            batch_size=config.supernet_batch_size,
            lr=config.supernet_lr,
            sampling=config.supernet_sampling,
            augment=augments(config, data),
            schedule_steps=config.supernet_schedule_steps,
            calib_batches=config.supernet_calib_batches,
            estimate=config.supernet_estimate,
            seed=config.seed,
        ),
        owner=owner if owner is not None else checkpoint_path.name,
    )
    if checkpoint_path.is_file():
        try:
            trainer.load(checkpoint_path)
        except CheckpointError as exc:
            raise CommandError(
                f"the supernet checkpoint {str(checkpoint_path)!r} does not fit this run, so "
                f"it was not used and is left untouched: {exc}. Delete that file to train "
                "this run's supernet afresh (its training so far is lost), or move it aside "
                "if it belongs to another database."
            ) from None
    return trainer


def train_chunk(
    trainer: SupernetTrainer,
    steps: int,
    *,
    mask: Callable[[], OpMask],
    after_step: Callable[[], bool],
    checkpoint_path: Path,
    checkpoint_every: int,
) -> CurvePoint | None:
    """Run up to ``steps`` SPOS steps, saving a checkpoint every ``checkpoint_every``.

    Args:
        trainer: The supernet trainer.
        steps: Steps to run.
        mask: Returns the mask in force (asked before every step).
        after_step: Called after every step; returning ``False`` ends the chunk early.
        checkpoint_path: Where checkpoints go.
        checkpoint_every: Steps between checkpoints.

    Returns:
        The curve point over the steps run, or ``None`` when none ran.
    """
    losses, accs, imgs, t0 = [], [], 0, time.perf_counter()
    for _ in range(steps):
        res = trainer.train_step(mask())
        losses.append(res.loss)
        accs.append(res.acc)
        imgs += res.images
        if res.step % checkpoint_every == 0:
            trainer.save(checkpoint_path)
        if not after_step():
            break
    if not losses:
        return None
    dt = max(time.perf_counter() - t0, 1e-9)
    return CurvePoint(
        step=trainer.step,
        time=time.time(),
        loss=float(np.mean(losses)),
        acc=float(np.mean(accs)),
        lr=trainer.lr_at(trainer.step),
        images_per_s=imgs / dt,
    )


def store_point(storage: SQLiteStorage, run_id: int, point: CurvePoint) -> None:
    """Commit a supernet curve point."""
    storage.add_supernet_point(
        run_id,
        step=point.step,
        loss=point.loss,
        acc=point.acc,
        lr=point.lr,
        images_per_s=point.images_per_s,
    )
