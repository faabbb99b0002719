"""Zero-cost proxies: registry coverage, hand-checkable values, invariances, edge cases."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from nas_engine.data import load_dataset
from nas_engine.proxies import (
    PROXIES,
    ProxyContext,
    ProxyInputError,
    ProxySuite,
    correlations,
    create_proxy,
    list_proxies,
    proxy_class,
    rank_ensemble,
    rank_higher_better,
    resolve_proxy_names,
    zico_layer_terms,
)
from nas_engine.search_spaces import NB201Arch, create_space
from tests.engine_helpers import fixed_context

OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
EXPECTED = {
    "az_expressivity", "az_progressivity", "az_trainability", "meco", "swap", "swap_reg",
    "zico", "zen", "synflow", "snip", "grasp", "fisher", "grad_norm", "jacob_cov", "naswot",
    "params", "flops",
}  # fmt: skip
SMALL = {"C": 4, "N": 1}


@pytest.fixture(scope="module")
def data() -> Any:
    return load_dataset("synthetic")


_ctx = fixed_context


# ----------------------------------------------------------------------------- registry
def test_registry_lists_every_proxy() -> None:
    assert set(list_proxies()) == EXPECTED


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_declared_metadata(name: str) -> None:
    cls = proxy_class(name)
    info = cls.info()
    assert info["name"] == name and info["description"]
    assert isinstance(info["higher_is_better"], bool) and info["default_batch_size"] >= 2
    if info["needs_labels"]:
        assert info["needs_data"]


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_proxy_on_every_op(name: str, op: str, data: Any) -> None:
    """Each proxy on a cell with ``op`` on every edge: finite, or nan with a reason."""
    sp = create_space("nb201")
    ctx = ProxyContext(sp, NB201Arch((op,) * 6), data=data, batch_size=8, build_kwargs=SMALL)
    res = create_proxy(name).score(ctx)
    assert res.name == name and res.seconds >= 0
    if op == "none" and name in {
        "zico",
        "zen",
        "synflow",
        "naswot",
        "jacob_cov",
        "az_trainability",
    }:
        assert math.isnan(res.value) and res.reason  # constant output: defined fallback
    else:
        assert res.ok, res.reason
    # the shared network is never modified by a proxy
    ref = ProxyContext(sp, NB201Arch((op,) * 6), data=data, batch_size=8, build_kwargs=SMALL)
    for a, b in zip(ctx.model.state_dict().values(), ref.model.state_dict().values()):
        if a.dtype.is_floating_point and a.dim() > 1:
            assert torch.equal(a, b)


def test_duplicate_proxy_rejected() -> None:
    with pytest.raises(KeyError, match="already registered"):
        PROXIES.register("zico")(object)


def test_resolve_names() -> None:
    assert resolve_proxy_names("all") == list_proxies()
    assert resolve_proxy_names("zico, synflow,zico") == ["zico", "synflow"]
    with pytest.raises(ProxyInputError, match="unknown proxy \\['zicoo'\\]"):
        resolve_proxy_names("zicoo")


# ------------------------------------------------------------------ hand-checked values
def test_zico_layer_terms_by_hand() -> None:
    g0 = {"a": torch.tensor([1.0, 2.0]), "b": torch.tensor([5.0]), "c": torch.tensor([1.0])}
    g1 = {"a": torch.tensor([3.0, 2.0]), "b": torch.tensor([5.0]), "c": torch.tensor([-1.0])}
    terms = zico_layer_terms(g0, g1)
    # a: std=[1, 0] -> only the first param counts: mean|g|=2, std=1 -> S=2
    assert terms["a"] == pytest.approx(math.log(2.0))
    assert "b" not in terms  # zero spread everywhere: S_l = 0, layer skipped
    # c: the std is of the *signed* gradient (1 vs -1): std=1, mean|g|=1 -> log 1 = 0
    assert terms["c"] == pytest.approx(0.0)
    # first release's accumulated-gradient variant: the second sample is g0 + g1
    acc = zico_layer_terms({"x": torch.tensor([1.0])}, {"x": torch.tensor([1.0])}, accumulate=True)
    assert acc["x"] == pytest.approx(math.log(1.5 / 0.5))


def test_zico_details_are_per_layer_terms(data: Any) -> None:
    sp = create_space("nb201")
    ctx = ProxyContext(
        sp, NB201Arch(("nor_conv_3x3",) * 6), data=data, batch_size=8, build_kwargs=SMALL
    )
    res = create_proxy("zico").score(ctx)
    terms = res.details["layer_log_terms"]
    assert sum(terms.values()) == pytest.approx(res.value)
    model_layers = [
        n for n, m in ctx.model.named_modules() if isinstance(m, nn.Conv2d | nn.Linear)
    ]
    assert set(terms) <= set(model_layers) and "classifier" in terms
    assert len(terms) > 20


def _two_layer_linear() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(4, 3, bias=False), nn.Linear(3, 2, bias=False))


def test_synflow_linear_chain_by_hand() -> None:
    # For an L-layer linear chain on |w| with input ones, each layer contributes exactly
    # R = sum of the output, so synflow = L * R.
    ctx = _ctx(_two_layer_linear, input_shape=(1, 2, 2), num_classes=2)
    m = _two_layer_linear()
    w1, w2 = m[1].weight.detach().abs().double(), m[2].weight.detach().abs().double()
    r = float((w2 @ w1 @ torch.ones(4, dtype=torch.float64)).sum())
    assert create_proxy("synflow").score(ctx).value == pytest.approx(2 * r, rel=1e-12)


def test_synflow_is_data_independent(data: Any) -> None:
    sp = create_space("nb201")
    arch = NB201Arch.from_str(
        "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+"
        "|avg_pool_3x3~0|nor_conv_3x3~1|skip_connect~2|"
    )
    other = load_dataset("synthetic", seed=9)
    vals = {
        create_proxy("synflow")
        .score(
            ProxyContext(
                sp, arch, data=d, build_kwargs=SMALL, input_shape=(3, 8, 8), num_classes=4
            )
        )
        .value
        for d in (None, data, other)
    }
    assert len(vals) == 1
    # but not weight-independent: another seed changes it
    v2 = (
        create_proxy("synflow")
        .score(
            ProxyContext(
                sp, arch, seed=1, build_kwargs=SMALL, input_shape=(3, 8, 8), num_classes=4
            )
        )
        .value
    )
    assert v2 not in vals


def _manual_grads(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> list[torch.Tensor]:
    model.train()
    model.zero_grad()
    F.cross_entropy(model(x), y).backward()
    return [m.weight.grad.clone() for m in model.modules() if isinstance(m, nn.Linear)]


def _mlp() -> nn.Module:
    torch.manual_seed(3)
    return nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 5), nn.ReLU(), nn.Linear(5, 4))


def test_snip_grad_norm_by_definition(data: Any) -> None:
    ctx = _ctx(_mlp, data=data, batch_size=16)
    x, y = ctx.batch(0)
    m = _mlp()
    grads = _manual_grads(m, x, y)
    ws = [l.weight.detach() for l in m.modules() if isinstance(l, nn.Linear)]
    snip = sum(float((w * g).abs().sum()) for w, g in zip(ws, grads))
    gn = sum(float(g.norm()) for g in grads)
    assert create_proxy("snip").score(ctx).value == pytest.approx(snip, rel=1e-5)
    assert create_proxy("grad_norm").score(ctx).value == pytest.approx(gn, rel=1e-5)


def test_grasp_matches_finite_difference_hessian(data: Any) -> None:
    ctx = _ctx(_mlp, data=data, batch_size=16)
    x, y = ctx.batch(0)
    x = x.double()
    m = _mlp().double()
    layers = [l for l in m.modules() if isinstance(l, nn.Linear)]
    g = _manual_grads(m, x, y)
    eps = 1e-5

    def grads_at(sign: float) -> list[torch.Tensor]:
        mm = _mlp().double()
        with torch.no_grad():
            for l, gi in zip([l for l in mm.modules() if isinstance(l, nn.Linear)], g):
                l.weight.add_(sign * eps * gi)
        return _manual_grads(mm, x, y)

    hg = [(a - b) / (2 * eps) for a, b in zip(grads_at(1.0), grads_at(-1.0))]
    expected = sum(float((-l.weight.detach() * h).sum()) for l, h in zip(layers, hg))
    got = create_proxy("grasp").score(ctx).value
    assert got == pytest.approx(expected, rel=1e-3)


def test_fisher_by_definition(data: Any) -> None:
    ctx = _ctx(_mlp, data=data, batch_size=16)
    x, y = ctx.batch(0)
    m = _mlp()
    acts: list[torch.Tensor] = []

    def keep(_m: nn.Module, _i: Any, o: torch.Tensor) -> None:
        o.retain_grad()
        acts.append(o)

    lin = [l for l in m.modules() if isinstance(l, nn.Linear)]
    h = [l.register_forward_hook(keep) for l in lin]
    F.cross_entropy(m(x), y).backward()
    for hh in h:
        hh.remove()
    # per-channel terms, credited to each of the channel's in_features weights (fan-in)
    expected = sum(
        float(((a * a.grad) ** 2).mean(0).mul(0.5).sum()) * l.in_features
        for a, l in zip(acts, lin, strict=True)
    )
    assert create_proxy("fisher").score(ctx).value == pytest.approx(expected, rel=1e-5)


def test_naswot_kernel_by_hand() -> None:
    class Codes(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.relu = nn.ReLU()
            self.head = nn.Linear(2, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.head(self.relu(x.flatten(1)[:, :2]))

    class Data:  # three images whose first two pixels give codes 10, 01, 11
        input_shape = (1, 1, 2)
        num_classes = 2

        def batch(self, size: int, *, seed: int) -> tuple[np.ndarray, np.ndarray]:
            x = np.array([[[[1.0, -1.0]]], [[[-1.0, 2.0]]], [[[3.0, 1.0]]]], np.float32)
            return x, np.array([0, 1, 0])

    ctx = _ctx(Codes, data=Data(), batch_size=3)
    # K_ij = number of units where codes agree: [[2,0,1],[0,2,1],[1,1,2]] -> det = 4
    assert create_proxy("naswot").score(ctx).value == pytest.approx(math.log(4.0))


def test_jacob_cov_identical_jacobians_by_hand(data: Any) -> None:
    def linear() -> nn.Module:
        torch.manual_seed(1)
        return nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 4))

    n = 8
    ctx = _ctx(linear, data=data, batch_size=n)
    # a linear model has the same input Jacobian for every image: correlation matrix of
    # ones, eigenvalues (n, 0, ..., 0)
    k = 1e-5
    expected = -(math.log(n + k) + 1 / (n + k)) - (n - 1) * (math.log(k) + 1 / k)
    assert create_proxy("jacob_cov").score(ctx).value == pytest.approx(expected, rel=1e-4)


def test_params_flops_and_signs(data: Any) -> None:
    sp = create_space("nb201")
    big = ProxyContext(sp, NB201Arch(("nor_conv_3x3",) * 6), data=data, build_kwargs=SMALL)
    small = ProxyContext(sp, NB201Arch(("nor_conv_1x1",) * 6), data=data, build_kwargs=SMALL)
    for name in ("params", "flops"):
        assert create_proxy(name).score(big).value > create_proxy(name).score(small).value > 0
    assert create_proxy("params").score(big).value == pytest.approx(big.complexity().params / 1e6)
    # snip, grad_norm, fisher, synflow are sums of non-negative terms
    for name in ("snip", "grad_norm", "fisher", "synflow"):
        assert create_proxy(name).score(big).value > 0


def test_zen_is_data_free_and_seeded(data: Any) -> None:
    sp = create_space("nb201")
    arch = NB201Arch(("nor_conv_3x3",) * 6)
    kw = {"build_kwargs": SMALL, "input_shape": (3, 8, 8), "num_classes": 4, "batch_size": 8}
    a = create_proxy("zen").score(ProxyContext(sp, arch, **kw)).value
    b = create_proxy("zen").score(ProxyContext(sp, arch, data=data, **kw)).value
    c = create_proxy("zen").score(ProxyContext(sp, arch, seed=3, **kw)).value
    assert a == b and a != c and math.isfinite(a)


# ------------------------------------------------------------- suite, seeds, edge cases
def test_suite_equals_separate_and_is_deterministic(data: Any) -> None:
    sp = create_space("nb201")
    arch = (
        "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|avg_pool_3x3~0|nor_conv_3x3~1|none~2|"
    )
    suite = ProxySuite(sp, "all", data=data, batch_size=8, build_kwargs=SMALL)
    shared = suite.score(arch).values()
    alone = suite.score_separately(arch).values()
    again = suite.score(arch).values()
    for name in EXPECTED:
        assert shared[name] == pytest.approx(alone[name], rel=1e-5), name
        assert shared[name] == again[name], name
    other_seed = ProxySuite(sp, "zico", data=data, batch_size=8, seed=1, build_kwargs=SMALL)
    assert other_seed.score(arch).values()["zico"] != shared["zico"]


def test_suite_needs_data_for_data_proxies() -> None:
    with pytest.raises(ProxyInputError, match="need data"):
        ProxySuite(create_space("nb201"), "zico,synflow")
    ProxySuite(create_space("nb201"), "synflow,zen,params,flops")  # data-free is fine


def test_nan_network_never_crashes(data: Any) -> None:
    class NaNNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3)
            self.fc = nn.Linear(4, 4)
            self.relu = nn.ReLU()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h = self.relu(self.conv(x)).mean((2, 3)) * float("nan")
            return self.fc(h)

    ctx = _ctx(NaNNet, data=data, batch_size=8)
    for name in sorted(EXPECTED):
        res = create_proxy(name).score(ctx)
        assert res.ok or (math.isnan(res.value) and res.reason), name


@pytest.mark.slow
def test_memory_stays_bounded_over_many_cells(data: Any) -> None:
    def rss_mb() -> float:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * 4096 / 2**20

    sp = create_space("nb201")
    suite = ProxySuite(sp, "all", data=data, batch_size=8, build_kwargs=SMALL)
    rng = np.random.default_rng(0)
    for _ in range(10):
        suite.score(sp.sample(rng))
    base = rss_mb()
    for _ in range(60):
        suite.score(sp.sample(rng))
    assert rss_mb() - base < 40, "RSS grew by more than 40 MB over 60 cells"


# ----------------------------------------------------------------- ranks and ensembles
def test_ranks_and_ensemble() -> None:
    r = rank_higher_better([3.0, float("nan"), 1.0, 2.0])
    assert r.tolist() == [4.0, 1.0, 2.0, 3.0]  # nan ranks worst
    scores = {"zico": [1, 2, 3], "naswot": [3, 2, 1], "synflow": [1, 2, 3], "params": [1, 2, 3]}
    ens = rank_ensemble(scores, list(scores), aggregation="mean_rank")
    assert ens.tolist() == [1.5, 2.0, 2.5]
    with pytest.raises(ProxyInputError, match="needs scores for \\['zen'\\]"):
        rank_ensemble(scores, ["zen"])


def test_correlations() -> None:
    t = list(range(20))
    assert correlations(t, t)["spearman"] == pytest.approx(1.0)
    assert correlations(t[::-1], t)["kendall"] == pytest.approx(-1.0)
    assert correlations(t, t, top=0.1)["top_precision"] == 1.0
    c = correlations([float("nan")] + t[1:], [100.0] + t[1:])
    assert c["spearman"] < 1.0  # an undefined score on the best cell is penalised
    assert correlations(t, [math.nan] * 18 + [1.0, 2.0])["n"] == 2
