"""The 2023–2024 proxies (AZ-NAS, MeCo, SWAP) on networks small enough to check by hand,
the log-rank aggregation, and the whole-space scoring job."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from nas_engine.proxies import (
    ProxyInputError,
    ProxySuite,
    create_proxy,
    percentile_fitness,
    rank_ensemble,
    resolve_proxy_names,
)
from nas_engine.proxies.frontier import (
    eigen_entropy,
    min_correlation_eigenvalue,
)
from nas_engine.proxies.space_scores import (
    cell_order,
    check_cheap,
    read_space_scores,
    score_space,
    space_score_path,
)
from nas_engine.proxies.suite import DEFAULT_ENSEMBLE
from nas_engine.search_spaces import create_space
from tests.engine_helpers import fixed_context

_ctx = fixed_context


# ------------------------------------------------------------------------------ AZ-NAS
def _orthogonal_map(n: int) -> torch.Tensor:
    """``(n, 2, 1, 1)``: two zero-mean, orthogonal channels of equal variance."""
    a = torch.tensor([1.0, -1.0, 1.0, -1.0]).repeat(n // 4)
    b = torch.tensor([1.0, 1.0, -1.0, -1.0]).repeat(n // 4)
    return torch.stack([a, b], 1).reshape(n, 2, 1, 1)


def test_eigen_entropy_by_hand() -> None:
    p = _orthogonal_map(64)
    assert eigen_entropy(p) == pytest.approx(math.log(2), abs=1e-12)
    # reversed in the batch, a and b become -a and -b: channels (a, b, -3a, -3b) span two
    # directions with variance 1 + 9 each, so the spectrum is two equal eigenvalues
    four = torch.cat([p, 3 * p.flip(0)], 1)
    assert eigen_entropy(four) == pytest.approx(math.log(2), abs=1e-12)
    assert eigen_entropy(torch.cat([p[:, :1], 2 * p[:, :1]], 1)) == pytest.approx(0, abs=1e-12)
    assert eigen_entropy(torch.ones(8, 3, 2, 2)) == 0.0


class _Fixed(nn.Module):
    """Ignores its input's values (but keeps it in the graph): outputs ``pattern``."""

    def __init__(self, pattern: torch.Tensor) -> None:
        super().__init__()
        self.pattern = pattern
        self.w = nn.Parameter(torch.ones(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pattern + 0.0 * self.w * x.sum()


class _Scale(nn.Module):
    def __init__(self, per_channel: list[float]) -> None:
        super().__init__()
        self.s = torch.tensor(per_channel).reshape(1, -1, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.s


class _Chain(nn.Module):
    """stem (fixed orthogonal map) -> ×2 -> keep channel 0 only."""

    def __init__(self) -> None:
        super().__init__()
        self.b = nn.ModuleList([_Fixed(_orthogonal_map(64)), _Scale([2, 2]), _Scale([1, 0])])

    def blocks(self) -> list[nn.Module]:
        return list(self.b)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for blk in self.b:
            x = blk(x)
        return x.flatten(1)


def test_az_components_by_hand() -> None:
    ctx = _ctx(_Chain, input_shape=(2, 1, 1), num_classes=2)
    # entropies: log 2 (stem), log 2 (scaling keeps the spectrum's shape), 0 (rank 1)
    assert create_proxy("az_expressivity").score(ctx).value == pytest.approx(2 * math.log(2))
    assert create_proxy("az_progressivity").score(ctx).value == pytest.approx(-math.log(2))
    # gains: J = 2I gives s = 2 exactly; J = diag(1, 0) halves |v|^2 for a ±1 vector
    s2 = math.sqrt(0.5)
    expected = ((-2 - 0.5 + 2) + (-s2 - 1 / s2 + 2)) / 2
    res = create_proxy("az_trainability").score(ctx)
    assert res.value == pytest.approx(expected, rel=1e-6)  # float32 gradients
    assert res.details["block_gains"] == pytest.approx([2.0, s2])


def test_az_pass_is_shared_and_needs_blocks() -> None:
    ctx = _ctx(_Chain, input_shape=(2, 1, 1), num_classes=2)
    create_proxy("az_expressivity").score(ctx)
    assert "az_stats" in ctx._memo  # the other two components read the same pass
    plain = _ctx(lambda: nn.Sequential(nn.Flatten(), nn.Linear(2, 2)), input_shape=(2, 1, 1))
    res = create_proxy("az_expressivity").score(plain)
    assert math.isnan(res.value) and "blocks()" in (res.reason or "")


def test_az_trainability_undefined_when_a_block_ignores_its_input() -> None:
    class Cut(_Chain):
        def __init__(self) -> None:
            super().__init__()
            self.b[2] = _Fixed(_orthogonal_map(64))  # replaces its input by a constant

    res = create_proxy("az_trainability").score(_ctx(Cut, input_shape=(2, 1, 1)))
    assert math.isnan(res.value) and "does not depend" in (res.reason or "")


# --------------------------------------------------------------------------------- MeCo
def test_min_correlation_eigenvalue_by_hand() -> None:
    a = torch.tensor([1.0, 0.0, -1.0, 0.0])
    b = torch.tensor([1.0, 1.0, -1.0, -1.0])
    # corr(a, b) = 2 / (sqrt(2) * 2) = 1/sqrt(2); eigenvalues 1 ± corr
    lam = min_correlation_eigenvalue(torch.stack([a, b]))
    assert lam == pytest.approx(1 - 1 / math.sqrt(2))
    ortho = torch.tensor([[1.0, -1.0, 1.0, -1.0], [1.0, 1.0, -1.0, -1.0]])
    assert min_correlation_eigenvalue(ortho) == pytest.approx(1.0)
    # a constant channel is left out; one varying channel is not enough
    assert min_correlation_eigenvalue(torch.stack([a, torch.ones(4)])) is None
    assert min_correlation_eigenvalue(torch.stack([a, -2 * a, b])) == pytest.approx(0, abs=1e-9)


def test_meco_sums_each_conv_layer() -> None:
    def net() -> nn.Module:
        torch.manual_seed(0)
        return nn.Sequential(
            nn.Conv2d(1, 3, 3, padding=1), nn.ReLU(), nn.Conv2d(3, 2, 1), nn.Flatten()
        )

    ctx = _ctx(net, input_shape=(1, 4, 4))
    res = create_proxy("meco").score(ctx)
    m, x = net(), ctx.gaussian_batch(11, size=1)
    with torch.no_grad():
        h1 = m[0](x)
        h2 = m[2](m[1](h1))
    expected = sum(
        float(min_correlation_eigenvalue(h[0].reshape(h.shape[1], -1))) for h in (h1, h2)
    )
    assert res.value == pytest.approx(expected, rel=1e-6)  # float32 gradients
    assert len(res.details["layer_terms"]) == 2


# --------------------------------------------------------------------------------- SWAP
class _Codes(nn.Module):
    """Three ReLU units: the first two pixels, and the first pixel again."""

    def __init__(self) -> None:
        super().__init__()
        self.relu = nn.ReLU()
        self.head = nn.Linear(3, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = x.flatten(1)
        return self.head(self.relu(torch.cat([f[:, :2], f[:, :1]], 1)))


class _Data:  # three images; unit patterns over the batch: (1,0,1), (0,1,1), (1,0,1)
    input_shape = (1, 1, 2)
    num_classes = 2

    def batch(self, size: int, *, seed: int) -> tuple[np.ndarray, np.ndarray]:
        x = np.array([[[[1.0, -1.0]]], [[[-1.0, 2.0]]], [[[3.0, 1.0]]]], np.float32)
        return x, np.array([0, 1, 0])


def test_swap_counts_distinct_patterns_by_hand() -> None:
    ctx = _ctx(_Codes, data=_Data(), batch_size=3)
    assert create_proxy("swap").score(ctx).value == 2.0  # the repeated unit counts once
    params = ctx.complexity().params / 1e6
    reg = create_proxy("swap", mu=1.0, sigma=0.5).score(ctx).value
    assert reg == pytest.approx(2.0 * math.exp(-((params - 1.0) ** 2) / 0.5))
    with pytest.raises(ValueError, match="sigma"):
        create_proxy("swap", sigma=0.0)


def test_swap_counts_wide_batches() -> None:
    # 70 samples need two packed words per unit; units 0 and 2 agree, unit 1 differs
    class Wide:
        input_shape = (1, 1, 1)
        num_classes = 2

        def batch(self, size: int, *, seed: int) -> tuple[np.ndarray, np.ndarray]:
            x = np.random.default_rng(seed).normal(size=(size, 1, 1, 1)).astype(np.float32)
            return x, np.zeros(size, dtype=np.int64)

    def model() -> nn.Module:
        return nn.Sequential(nn.Flatten(), _Dup(), nn.ReLU())

    ctx = _ctx(model, data=Wide(), batch_size=70)
    assert create_proxy("swap").score(ctx).value == 2.0


class _Dup(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x, -x, x], 1)


# -------------------------------------------------------------------------- aggregation
def test_log_rank_and_mean_rank_by_hand() -> None:
    scores = {"params": [1.0, 2.0, 3.0], "flops": [3.0, 1.0, 2.0]}
    mean = rank_ensemble(scores, ["params", "flops"], aggregation="mean_rank")
    assert mean.tolist() == pytest.approx([2.0, 1.5, 2.5])
    log = rank_ensemble(scores, ["params", "flops"], aggregation="log_rank")
    third = math.log(1 / 3)
    two = math.log(2 / 3)
    assert log.tolist() == pytest.approx([third, two + third, two])
    with pytest.raises(ProxyInputError, match="aggregation"):
        rank_ensemble(scores, ["params"], aggregation="median")


def test_online_log_rank_fitness_by_hand() -> None:
    prior = [{"params": 1.0, "flops": 5.0}, {"params": 2.0, "flops": 4.0}]
    new = {"params": 3.0, "flops": 1.0}  # best of three on params, worst on flops
    got = percentile_fitness(new, prior, ["params", "flops"], aggregation="log_rank")
    assert got == pytest.approx(math.log(3 / 3) + math.log(1 / 3))
    mean = percentile_fitness(new, prior, ["params", "flops"], aggregation="mean_rank")
    assert mean == pytest.approx(0.5)
    undefined = {"params": math.nan, "flops": 9.0}
    got = percentile_fitness(undefined, prior, ["params", "flops"], aggregation="log_rank")
    assert got == pytest.approx(math.log(1 / 3) + math.log(1))


def test_ensemble_name_expands_to_the_default_members() -> None:
    assert resolve_proxy_names("ensemble") == list(DEFAULT_ENSEMBLE)
    assert resolve_proxy_names("ensemble,flops")[-1] == "flops"


# -------------------------------------------------------------------------- whole space
def test_whole_space_job_resumes_and_stops(tmp_path: Path) -> None:
    space = create_space("nb201")
    suite = ProxySuite(space, ["synflow", "meco"], build_kwargs={"C": 2, "N": 1})
    path = space_score_path(tmp_path, space, suite.names, build_kwargs=suite.build_kwargs)
    first = score_space(suite, path, limit=6, chunk_size=4)
    assert first.done == 6 and not first.finished and first.total == space.size
    calls = []
    stopped = score_space(
        suite, path, limit=20, chunk_size=4, should_stop=lambda: bool(calls.append(1) or 0)
    )
    assert stopped.done == 20  # resumed: 14 more, not 20 more
    assert score_space(suite, path, limit=24, chunk_size=4, should_stop=lambda: True).done == 20
    table = read_space_scores(space, path)
    cols, order = table.values, cell_order(space)
    assert table.done == 20 and table.scored[order[:20]].all()  # the seeded order's prefix
    alone = ProxySuite(space, ["meco"], build_kwargs={"C": 2, "N": 1})
    a = space.from_index(int(order[3]))
    assert cols["meco"][order[3]] == pytest.approx(alone.score(a).results["meco"].value)
    empty = read_space_scores(space, tmp_path / "missing.csv")
    assert empty.values == {} and empty.done == 0
    # a job that has just created its file, or written part of its header, has no rows
    # yet: a reader polling at that moment sees an empty table, not an error
    for text in ("", "arch,syn", "arch,synflow,meco,synflow_seconds,meco_seconds,notes\n"):
        (tmp_path / "new.csv").write_text(text)
        assert read_space_scores(space, tmp_path / "new.csv").done == 0


def test_whole_space_job_refuses_data_proxies() -> None:
    assert check_cheap(["synflow", "meco"]) == ["synflow", "meco"]
    with pytest.raises(ValueError, match="data-free"):
        check_cheap(["zico"])
