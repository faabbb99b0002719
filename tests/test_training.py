"""Short from-scratch training gives real accuracies and honours the stop event."""

from __future__ import annotations

import threading

import pytest
import torch

from nas_engine.data import load_dataset
from nas_engine.search_spaces import NB201Arch, create_space
from nas_engine.training import TrainConfig, train_from_scratch


def _model(ops: tuple[str, ...]) -> torch.nn.Module:
    torch.manual_seed(0)
    return create_space("nb201").build(NB201Arch(ops), num_classes=4, C=4, N=1)


def test_learns_synthetic_and_is_deterministic() -> None:
    data = load_dataset("synthetic")
    cfg = TrainConfig(epochs=3, batch_size=32, seed=1)
    a = train_from_scratch(_model(("nor_conv_3x3",) * 6), data, cfg)
    b = train_from_scratch(_model(("nor_conv_3x3",) * 6), data, cfg)
    assert a.test_acc > 60.0  # chance is 25 %
    assert a.test_acc == b.test_acc and [p.train_loss for p in a.curve] == [
        p.train_loss for p in b.curve
    ]
    assert [p.epoch for p in a.curve] == [1, 2, 3]


def test_stop_event_interrupts() -> None:
    stop = threading.Event()
    seen = []

    def on_epoch(p: object) -> None:
        seen.append(p)
        stop.set()

    res = train_from_scratch(
        _model(("nor_conv_1x1",) * 6),
        load_dataset("synthetic"),
        TrainConfig(epochs=5),
        on_epoch=on_epoch,
        stop=stop,
    )
    assert res.stopped and len(res.curve) == 1 and len(seen) == 1


def test_bad_config() -> None:
    with pytest.raises(ValueError):
        TrainConfig(epochs=0)
