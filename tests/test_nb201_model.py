"""The NB201 macro network: shapes for every op on every edge, params and FLOPs."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from torch import nn

from nas_engine.search_spaces import NB201Arch, create_space
from nas_engine.search_spaces.nb201_model import NB201Cell
from nas_engine.utils.complexity import complexity, count_flops, count_params
from tests.conftest import BEST_NB201, shared_file

OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
CONV_K = {"nor_conv_1x1": 1, "nor_conv_3x3": 3}


def expected_params(
    ops: tuple[str, ...], *, C: int = 16, N: int = 5, classes: int = 10, in_ch: int = 3
) -> int:
    """Closed-form NB201 parameter count, derived by hand from the paper's skeleton."""
    total = in_ch * C * 9 + 2 * C  # stem conv + BN
    for c in (C, 2 * C, 4 * C):
        per_cell = sum(c * c * CONV_K[o] ** 2 + 2 * c for o in ops if o in CONV_K)
        total += N * per_cell
    for c in (C, 2 * C):  # residual reduction blocks c -> 2c
        total += c * 2 * c * 9 + 2 * (2 * c)  # conv_a + BN
        total += 2 * c * 2 * c * 9 + 2 * (2 * c)  # conv_b + BN
        total += c * 2 * c  # 1x1 shortcut conv after avg-pool
    total += 2 * 4 * C  # lastact BN
    total += 4 * C * classes + classes  # classifier
    return total


def expected_flops(
    ops: tuple[str, ...],
    *,
    C: int = 16,
    N: int = 5,
    classes: int = 10,
    hw: int = 32,
    in_ch: int = 3,
) -> int:
    """Closed-form conv/linear MACs of the NB201 network for one sample."""
    total = in_ch * 9 * C * hw * hw
    c, s = C, hw
    for stage in range(3):
        if stage:
            s //= 2
            total += c * 9 * 2 * c * s * s + 2 * c * 9 * 2 * c * s * s + c * 2 * c * s * s
            c *= 2
        total += N * sum(c * c * CONV_K[o] ** 2 * s * s for o in ops if o in CONV_K)
    return total + c * classes + classes


def test_published_parameter_count() -> None:
    sp = create_space("nb201")
    model = sp.build(NB201Arch(("nor_conv_3x3",) * 6), num_classes=10)
    assert count_params(model) == 1_531_546  # NAS-Bench-201's own figure


@pytest.mark.parametrize(
    "ops",
    [
        ("none",) * 6,
        ("skip_connect",) * 6,
        ("avg_pool_3x3",) * 6,
        ("nor_conv_1x1",) * 6,
        NB201Arch.from_str(BEST_NB201).ops,
    ],
)
def test_parameter_counts_match_closed_form(ops: tuple[str, ...]) -> None:
    model = create_space("nb201").build(NB201Arch(ops), num_classes=10)
    assert count_params(model) == expected_params(ops)


def test_parameter_free_cell_is_skeleton_only() -> None:
    # stem 464 + reduction blocks 14,464 + 57,600 + lastact 128 + head 650
    model = create_space("nb201").build(NB201Arch(("skip_connect",) * 6), num_classes=10)
    assert count_params(model) == 464 + 14_464 + 57_600 + 128 + 650


def test_params_and_flops_on_random_cells() -> None:
    sp = create_space("nb201")
    rng = np.random.default_rng(3)
    for _ in range(8):
        a = sp.sample(rng)
        c = complexity(sp.build(a, num_classes=10), (3, 32, 32))
        assert c.params == expected_params(a.ops)
        assert c.flops == expected_flops(a.ops)


def test_flops_hand_computed_small_net() -> None:
    net = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1, bias=False),  # 8*8 outputs * 4 ch * 27 = 6,912
        nn.Conv2d(4, 2, 1, stride=2, bias=True),  # 4*4*2 outputs * (4 + 1) = 160
        nn.Flatten(),
        nn.Linear(32, 5),  # 5 * (32 + 1) = 165
    )
    assert count_flops(net, (3, 8, 8)) == 6912 + 160 + 165


def test_all_3x3_flops_hand_computed() -> None:
    model = create_space("nb201").build(NB201Arch(("nor_conv_3x3",) * 6), num_classes=10)
    stem = 3 * 9 * 16 * 32 * 32
    cells = 30 * (16 * 16 * 9 * 32 * 32) * 3  # each stage has the same MACs per cell
    rb1 = 16 * 9 * 32 * 16 * 16 + 32 * 9 * 32 * 16 * 16 + 16 * 32 * 16 * 16
    rb2 = 32 * 9 * 64 * 8 * 8 + 64 * 9 * 64 * 8 * 8 + 32 * 64 * 8 * 8
    head = 64 * 10 + 10
    assert count_flops(model, (3, 32, 32)) == stem + cells + rb1 + rb2 + head == 220_119_690


@pytest.mark.parametrize("edge, op", list(itertools.product(range(6), OPS)))
def test_builder_shapes_each_op_on_each_edge(edge: int, op: str) -> None:
    ops = ["nor_conv_1x1"] * 6
    ops[edge] = op
    model = create_space("nb201").build(
        NB201Arch(tuple(ops)), num_classes=7, in_channels=1, C=4, N=1
    )
    x = torch.randn(2, 1, 8, 8)
    assert model(x).shape == (2, 7)
    assert model.features(x).shape == (2, 16, 2, 2)
    cell = NB201Cell(tuple(ops), 4)
    assert cell(torch.randn(2, 4, 5, 5)).shape == (2, 4, 5, 5)


def test_build_options_and_errors() -> None:
    sp = create_space("nb201", C=8, N=2)
    m = sp.build(NB201Arch(("nor_conv_3x3",) * 6), num_classes=10)
    assert count_params(m) == expected_params(("nor_conv_3x3",) * 6, C=8, N=2)
    with pytest.raises(TypeError, match="unexpected build options"):
        sp.build(NB201Arch(("none",) * 6), num_classes=10, width=3)
    with pytest.raises(ValueError, match=">= 1"):
        sp.build(NB201Arch(("none",) * 6), num_classes=0)


@pytest.mark.shared_data
def test_params_equal_naslib_table() -> None:
    import pandas as pd

    df = pd.read_csv(shared_file("naslib_zc_nb201.csv"))
    df = df[df.dataset == "cifar10"].head(20)
    sp = create_space("nb201")
    for arch, params in zip(df.arch, df.params, strict=True):
        n = count_params(sp.build(sp.from_string(arch), num_classes=10))
        assert n / 1e6 == pytest.approx(params, abs=1e-6)
