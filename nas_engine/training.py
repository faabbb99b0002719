"""Short training from scratch: a real accuracy for a cell on the current dataset.

On the embedded ``digits`` default (8×8 images) a small NB201 network (C=8, N=1) trains
in seconds per cell on 2 CPU cores, which gives teaching demos true ground truth.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from nas_engine.data import Dataset


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of a short from-scratch training run.

    Args:
        epochs: Passes over the training split.
        batch_size: Mini-batch size.
        lr: Peak SGD learning rate (cosine-annealed to 0).
        momentum: SGD momentum.
        weight_decay: L2 weight decay.
        seed: Seed for initialisation and batch order.
    """

    epochs: int = 8
    batch_size: int = 64
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    seed: int = 0

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or not self.lr > 0:
            raise ValueError("epochs and batch_size must be >= 1 and lr > 0")


@dataclass(frozen=True)
class CurvePoint:
    """One point of a training curve.

    Args:
        epoch: Epoch just finished (1-based).
        step: Optimiser steps so far.
        train_loss: Mean training loss over the epoch.
        train_acc: Training accuracy over the epoch (percent).
        val_acc: Validation accuracy (percent).
        seconds: Wall time since the start.
    """

    epoch: int
    step: int
    train_loss: float
    train_acc: float
    val_acc: float
    seconds: float


@dataclass(frozen=True)
class TrainResult:
    """Outcome of :func:`train_from_scratch`.

    Args:
        val_acc: Final validation accuracy (percent).
        test_acc: Final test accuracy (percent).
        curve: One point per epoch.
        seconds: Total wall time.
        stopped: Whether training was interrupted by the stop event.
    """

    val_acc: float
    test_acc: float
    curve: tuple[CurvePoint, ...]
    seconds: float
    stopped: bool = False


@torch.no_grad()
def evaluate(
    model: nn.Module, x: np.ndarray, y: np.ndarray, *, batch_size: int = 256, device: str = "cpu"
) -> float:
    """Return the accuracy (percent) of ``model`` in eval mode on ``(x, y)``.

    Args:
        model: Classifier (on ``device``).
        x: Images, float32 NCHW.
        y: Labels.
        batch_size: Evaluation batch size.
        device: Where the model is.

    Returns:
        Accuracy in percent.
    """
    was = model.training
    model.eval()
    correct = 0
    try:
        for i in range(0, len(x), batch_size):
            xb = torch.tensor(x[i : i + batch_size], device=device)
            pred = model(xb).argmax(1).cpu().numpy()
            correct += int((pred == y[i : i + batch_size]).sum())
    finally:
        model.train(was)
    return 100.0 * correct / max(1, len(x))


def train_from_scratch(
    model: nn.Module,
    data: Dataset,
    config: TrainConfig | None = None,
    *,
    on_epoch: Callable[[CurvePoint], None] | None = None,
    stop: threading.Event | None = None,
    device: str = "cpu",
) -> TrainResult:
    """Train ``model`` with SGD + cosine schedule and report val/test accuracy.

    Args:
        model: A freshly built network (modified in place).
        data: The dataset.
        config: Hyper-parameters (defaults: :class:`TrainConfig`).
        on_epoch: Called after each epoch with the new curve point.
        stop: When set, training stops after the current step.
        device: Where to train (``cpu``, ``cuda``); the model is moved there.

    Returns:
        The :class:`TrainResult`.
    """
    cfg = config or TrainConfig()
    model.to(device)
    rng = np.random.default_rng(cfg.seed)
    opt = torch.optim.SGD(
        model.parameters(),
        lr=cfg.lr,
        momentum=cfg.momentum,
        weight_decay=cfg.weight_decay,
        nesterov=True,
    )
    n = len(data.x_train)
    steps_per_epoch = max(1, math.ceil(n / cfg.batch_size))
    total = cfg.epochs * steps_per_epoch
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, total) / total))
    )
    loss_fn = nn.CrossEntropyLoss()
    t0 = time.perf_counter()
    curve: list[CurvePoint] = []
    step = 0
    stopped = False
    model.train()
    for epoch in range(1, cfg.epochs + 1):
        perm = rng.permutation(n)
        loss_sum, correct, seen = 0.0, 0, 0
        for i in range(0, n, cfg.batch_size):
            if stop is not None and stop.is_set():
                stopped = True
                break
            idx = perm[i : i + cfg.batch_size]
            xb = torch.from_numpy(data.x_train[idx]).to(device)
            yb = torch.from_numpy(data.y_train[idx]).to(device)
            out = model(xb)
            loss = loss_fn(out, yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
            sched.step()
            step += 1
            loss_sum += float(loss.detach()) * len(idx)
            correct += int((out.argmax(1) == yb).sum())
            seen += len(idx)
        if seen:
            point = CurvePoint(
                epoch=epoch,
                step=step,
                train_loss=loss_sum / seen,
                train_acc=100.0 * correct / seen,
                val_acc=evaluate(model, data.x_val, data.y_val, device=device),
                seconds=time.perf_counter() - t0,
            )
            curve.append(point)
            if on_epoch is not None:
                on_epoch(point)
        if stopped:
            break
    val = curve[-1].val_acc if curve else evaluate(model, data.x_val, data.y_val, device=device)
    return TrainResult(
        val_acc=val,
        test_acc=evaluate(model, data.x_test, data.y_test, device=device),
        curve=tuple(curve),
        seconds=time.perf_counter() - t0,
        stopped=stopped,
    )


def train_cell_seeded(
    space: Any,
    arch: Any,
    data: Dataset,
    *,
    build: dict[str, Any],
    epochs: int,
    seed: int,
    on_epoch: Callable[[CurvePoint], None] | None = None,
    device: str = "cpu",
) -> TrainResult:
    """Build ``arch`` of ``space`` with weights seeded by ``seed`` and train it from
    scratch (the same network wherever it runs).

    Args:
        space: The search space.
        arch: The cell (value or string).
        data: The dataset.
        build: Network size options (``C``, ``N``).
        epochs: Epochs.
        seed: Weights and batch-order seed.
        on_epoch: Called after each epoch.
        device: Where to train.
    """
    if isinstance(arch, str):
        arch = space.from_string(arch)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = space.build(
            arch, num_classes=data.num_classes, in_channels=data.in_channels, **build
        )
    return train_from_scratch(
        model,
        data,
        TrainConfig(epochs=epochs, seed=seed),
        on_epoch=on_epoch,
        stop=threading.Event(),
        device=device,
    )
