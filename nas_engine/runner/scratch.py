"""Training one candidate from scratch for its real accuracy on the dataset."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from nas_engine.data import Dataset
from nas_engine.distributed import Executor, ExecutorError, TrainSpec
from nas_engine.distributed.tasks import DataSpec, train_task
from nas_engine.runner.config import SearchConfig
from nas_engine.search_spaces import SearchSpace
from nas_engine.storage import CandidateRecord, SQLiteStorage
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


class ScratchTraining:
    """Training a candidate from scratch, here or on a worker (a mixin of the session)."""

    space: SearchSpace[Any]
    data: Dataset
    config: SearchConfig
    storage: SQLiteStorage
    run_id: int
    executor: Executor
    train_gpu: bool
    _training: str | None
    _message: str | None
    _train_curves: Mapping[str, tuple[Mapping[str, float], ...]]
    _candidates: list[CandidateRecord]
    _trained: set[str]
    _data_spec: DataSpec
    _closed: threading.Event

    if TYPE_CHECKING:

        def _publish(self) -> None: ...  # provided by the session

    def _train(self, arch_s: str) -> None:
        self._training = arch_s
        self._publish()
        if self.executor.kind == "in-process":

            def on_epoch(p: EpochPoint, curve: tuple[Mapping[str, float], ...]) -> None:
                store_epoch(self.storage, self.run_id, arch_s, p)
                self._train_curves = {**self._train_curves, arch_s: curve}
                self._publish()

            acc: float | None = train_cell(
                self.space, self.data, arch_s, self.config, on_epoch=on_epoch
            )
        else:
            acc = self._train_on_worker(arch_s)
        self._training = None
        if acc is None:
            return
        self.storage.set_trained_acc(self.run_id, arch_s, acc)
        self._candidates = [
            dataclasses.replace(c, trained_acc=acc) if c.arch == arch_s else c
            for c in self._candidates
        ]
        self._trained.add(arch_s)

    def _train_on_worker(self, arch_s: str) -> float | None:
        """Train on a Dask worker (claiming a GPU with ``train_gpu``); the curve is stored
        when the task returns. ``None`` (with the reason in the message) when it cannot."""
        if self.train_gpu and not self.executor.has_resource("GPU"):
            self._message = (
                f"cannot train {arch_s}: no worker declares a GPU resource "
                "(start workers with: dask worker --resources GPU=1 ADDRESS)"
            )
            return None
        spec = TrainSpec(
            space=self.space.name, data=self._data_spec,
            build=tuple(sorted(self.config.network(self.space, "train").items())),
            epochs=self.config.train_epochs, seed=self.config.seed,
            device="cuda" if self.train_gpu else "cpu",
        )  # fmt: skip
        fut = self.executor.submit(
            train_task, spec, arch_s, resources={"GPU": 1} if self.train_gpu else None
        )
        try:
            while not self.executor.wait_any([fut], 0.2):
                if self._closed.is_set():
                    fut.cancel()
                    return None
            done = self.executor.result(fut)
        except ExecutorError as exc:
            self._message = f"training {arch_s} was lost: {exc}"
            return None
        except Exception as exc:  # the task's own error (e.g. no CUDA on a GPU worker)
            self._message = f"training {arch_s} failed on a worker: {type(exc).__name__}: {exc}"
            return None
        for point in done.curve:
            store_epoch(self.storage, self.run_id, arch_s, EpochPoint(**point))
        curve = tuple(epoch_dict(EpochPoint(**point)) for point in done.curve)
        self._train_curves = {**self._train_curves, arch_s: curve}
        return done.test_acc
