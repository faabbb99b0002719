"""The zero-cost proxies, each written from its paper's definition.

References:
    ZiCo — Li et al., ICLR'23. Zen-score — Lin et al., ICCV'21. synflow — Tanaka et al.,
    NeurIPS'20, as a NAS proxy in Abdelfattah et al., ICLR'21. snip, grasp, fisher,
    grad_norm, jacob_cov — Abdelfattah et al., ICLR'21. NASWOT — Mellor et al., ICML'21.
"""

from __future__ import annotations

import copy
import math
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from nas_engine.proxies.base import (
    PROXIES,
    Proxy,
    ProxyContext,
    UndefinedScore,
    weight_layers,
)

_ZC_PAPER = "Abdelfattah et al., Zero-Cost Proxies for Lightweight NAS, ICLR 2021"


@PROXIES.register("zico")
class ZiCo(Proxy):
    """ZiCo: inverse coefficient of variation of gradients across batches.

    Per Conv/Linear layer ``l``, ``S_l = Σ_θ mean_n|g_θ| / std_n(g_θ)`` over parameters
    whose signed gradient has nonzero spread across the ``N=2`` batches; the score is
    ``Σ_l log S_l`` over layers with ``S_l > 0``.

    The default reads each batch's own gradient, as the paper defines ZiCo and as the
    authors' current ``compute_zico.py`` computes it (``zero_grad`` before each batch).

    Args:
        accumulate: The first release's accumulated-gradient variant: that release of the
            authors' code never zeroed gradients between the two batches, so its second
            sample is the sum of both batches' gradients. Off by default.
    """

    name = "zico"
    description = "Inverse coefficient of variation of weight gradients over 2 batches"
    needs_labels = True
    requires: ClassVar[frozenset[str]] = frozenset({"grads0", "grads1"})
    cost = "2 × forward+backward"
    definition = (
        "sum over layers of log of sum over weights of mean|g| / std(g), gradients over 2 batches"
    )
    paper = "Li et al., ZiCo: Zero-shot NAS via Inverse Coefficient of Variation, ICLR 2023"

    def __init__(self, *, accumulate: bool = False) -> None:
        self.accumulate = accumulate

    def compute(self, ctx: ProxyContext) -> tuple[float, dict[str, Any]]:
        g0 = ctx.artifacts(0, {"grads0"}).grads
        g1 = ctx.artifacts(1, {"grads1"}).grads
        terms = zico_layer_terms(g0, g1, accumulate=self.accumulate)
        if not terms:
            raise UndefinedScore("no layer has a gradient with nonzero spread (constant output)")
        return float(sum(terms.values())), {"layer_log_terms": terms}


def zico_layer_terms(
    g0: dict[str, torch.Tensor], g1: dict[str, torch.Tensor], *, accumulate: bool = False
) -> dict[str, float]:
    """Return ``{layer: log S_l}`` for the layers with ``S_l > 0``.

    With two samples ``a`` and ``b`` of a weight's gradient, ``mean|g| = (|a| + |b|) / 2``
    and the population ``std = |a - b| / 2``, so each weight adds ``(|a| + |b|) / |a - b|``
    when ``a != b``. All layers are done at once on one flat float64 vector (where the
    difference and sum of two float32 values carry no rounding error that matters), which
    leaves no per-layer tensor ops: those were most of ZiCo's cost beyond its two passes.

    With ``accumulate``, ``g0 + g1`` is summed in the gradients' own precision first, as
    ``.grad`` holds it when gradients are not zeroed between batches.

    Args:
        g0: Per-layer weight gradients on batch 0.
        g1: Per-layer weight gradients on batch 1.
        accumulate: Use ``g0 + g1`` as the second sample (the first release of the
            authors' code, which never zeroed gradients between the batches).

    Returns:
        The per-layer log terms, in layer order.
    """
    names = [n for n, g in g0.items() if g.numel()]
    if not names:
        return {}
    a = _flat([g0[n] for n in names])
    b = _flat([g1[n] for n in names])
    if accumulate:
        b = a + b  # in the gradients' own precision, as ``.grad`` accumulates
    a, b = a.astype(np.float64), b.astype(np.float64)
    spread = np.abs(a - b)
    # zero spread adds nothing; an infinite one is skipped, as its std would be nan
    ok = (spread > 0) & (spread < np.inf)
    ratio = np.zeros_like(spread)
    np.divide(np.abs(a) + np.abs(b), spread, out=ratio, where=ok)
    starts = np.cumsum([0] + [g0[n].numel() for n in names[:-1]])
    sums = np.add.reduceat(ratio, starts)
    return {name: math.log(s) for name, s in zip(names, sums.tolist(), strict=True) if s > 0}


def _flat(tensors: list[torch.Tensor]) -> np.ndarray:
    """The tensors' values, flattened and concatenated into one numpy array."""
    return np.concatenate([t.detach().cpu().reshape(-1).numpy() for t in tensors])


@PROXIES.register("zen")
class ZenScore(Proxy):
    """Zen-score: log of the expected feature-map change under a small input perturbation.

    Conv/Linear weights ~ N(0, 1), BN affine = (1, 0), BN in train mode; Gaussian inputs
    ``x1`` and ``x1 + 0.01·x2``. Score = ``log E_batch‖f(x1) − f(x1+0.01·x2)‖₁`` (pre-global
    pool features) + ``Σ_BN log sqrt(mean running_var)``.

    Args:
        mixup_gamma: Perturbation scale.
        repeats: Independent draws averaged.
    """

    name = "zen"
    description = "Expressivity: feature-map change under Gaussian input perturbation (Zen-NAS)"
    needs_data = False
    cost = "2 × forward"
    definition = (
        "log E|f(x) - f(x + 0.01 e)|_1 plus the sum of log BN scales, Gaussian weights and inputs"
    )
    paper = (
        "Lin et al., Zen-NAS: A Zero-Shot NAS for High-Performance Image Recognition, ICCV 2021"
    )

    def __init__(self, *, mixup_gamma: float = 0.01, repeats: int = 1) -> None:
        self.mixup_gamma = mixup_gamma
        self.repeats = repeats

    def compute(self, ctx: ProxyContext) -> float:
        scores = []
        for r in range(self.repeats):
            model = ctx.fresh_model()
            gen = torch.Generator().manual_seed(ctx.seed * 31 + r)
            with torch.no_grad():
                for m in model.modules():
                    if isinstance(m, nn.Conv2d | nn.Linear):
                        m.weight.normal_(generator=gen)
                        if m.bias is not None:
                            m.bias.zero_()
                    elif isinstance(m, nn.BatchNorm2d | nn.BatchNorm1d):
                        m.weight.fill_(1.0)
                        m.bias.zero_()
                model.train()
                x1 = ctx.gaussian_batch(2 * r)
                x2 = ctx.gaussian_batch(2 * r + 1)
                f1 = _features(model, x1)
                f2 = _features(model, x1 + self.mixup_gamma * x2)
                delta = (f1 - f2).abs().flatten(1).sum(1).mean()
                if not float(delta) > 0:
                    raise UndefinedScore("features do not change with the input (constant)")
                log_bn = 0.0
                for m in model.modules():
                    if isinstance(m, nn.BatchNorm2d) and m.running_var is not None:
                        log_bn += math.log(math.sqrt(float(m.running_var.mean())))
            scores.append(math.log(float(delta)) + log_bn)
        return float(np.mean(scores))


def _features(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Pre-global-pool features: ``model.features`` when present, else the output."""
    feats = getattr(model, "features", None)
    return feats(x) if callable(feats) else model(x)


@PROXIES.register("synflow")
class SynFlow(Proxy):
    """synflow: ``Σ |θ ⊙ ∂R/∂θ|`` with ``R = Σ f(1)`` on |θ| in float64, BN bypassed.

    Data-independent: the input is all ones. Works on a private copy, so the context's
    network is untouched.
    """

    name = "synflow"
    description = "Synaptic flow: data-free saliency of |weights| with BN bypassed"
    needs_data = False
    cost = "forward+backward on 1 image (float64)"
    definition = "sum of |w * dR/dw|, R the output sum for an all-ones input, |w| weights, no BN"
    paper = "Tanaka et al., NeurIPS 2020; as a NAS proxy: " + _ZC_PAPER

    def compute(self, ctx: ProxyContext) -> float:
        model = copy.deepcopy(ctx.model)
        _bypass_batchnorm(model)
        model = model.double()
        with torch.no_grad():
            for p in model.parameters():
                p.abs_()
        model.zero_grad(set_to_none=True)
        x = torch.ones((1, *ctx.input_shape), dtype=torch.float64)
        model(x).sum().backward()
        total = 0.0
        for _, m in weight_layers(model):
            if m.weight.grad is not None:
                total += float((m.weight.detach() * m.weight.grad).abs().sum())
        if total == 0.0:
            raise UndefinedScore("no path carries signal from input to output")
        return total


def _bypass_batchnorm(model: nn.Module) -> None:
    """Replace every BatchNorm module by an identity, in place."""
    for name, child in list(model.named_children()):
        if isinstance(child, nn.BatchNorm1d | nn.BatchNorm2d):
            setattr(model, name, nn.Identity())
        else:
            _bypass_batchnorm(child)


@PROXIES.register("snip")
class Snip(Proxy):
    """SNIP: connection sensitivity ``Σ |θ ⊙ ∂L/∂θ|`` over Conv/Linear weights."""

    name = "snip"
    description = "Connection sensitivity |w · dL/dw| (SNIP)"
    needs_labels = True
    requires: ClassVar[frozenset[str]] = frozenset({"grads0"})
    cost = "forward+backward"
    definition = "sum over weights of |w * dL/dw| on one labelled batch"
    paper = "Lee et al., ICLR 2019; as a NAS proxy: " + _ZC_PAPER

    def compute(self, ctx: ProxyContext) -> float:
        g = ctx.artifacts(0, {"grads0"}).grads
        return float(sum((m.weight.detach() * g[n]).abs().sum() for n, m in _layers(ctx)))


@PROXIES.register("grad_norm")
class GradNorm(Proxy):
    """grad_norm: the sum over Conv/Linear layers of the L2 norm of the weight gradient."""

    name = "grad_norm"
    description = "Sum of per-layer gradient L2 norms"
    needs_labels = True
    requires: ClassVar[frozenset[str]] = frozenset({"grads0"})
    cost = "forward+backward"
    definition = "sum over layers of the L2 norm of dL/dw on one labelled batch"
    paper = _ZC_PAPER

    def compute(self, ctx: ProxyContext) -> float:
        g = ctx.artifacts(0, {"grads0"}).grads
        return float(sum(float(t.norm()) for t in g.values()))


@PROXIES.register("grasp")
class Grasp(Proxy):
    """GraSP: ``Σ −θ ⊙ (H g)``, the gradient-flow preservation saliency."""

    name = "grasp"
    description = "Gradient-signal preservation −w · Hg (GraSP)"
    needs_labels = True
    requires: ClassVar[frozenset[str]] = frozenset({"grads0", "hessian_grad"})
    cost = "forward+backward+double-backward"
    definition = "sum over weights of -w * (H g), H the Hessian and g the loss gradient"
    paper = "Wang et al., ICLR 2020; as a NAS proxy: " + _ZC_PAPER

    def compute(self, ctx: ProxyContext) -> float:
        hg = ctx.artifacts(0, {"hessian_grad"}).hessian_grad
        return float(sum((-m.weight.detach() * hg[n]).sum() for n, m in _layers(ctx)))


@PROXIES.register("fisher")
class Fisher(Proxy):
    """Fisher: ``Σ_layers fan_in_l · Σ_channels ½ · mean_n (Σ_spatial a ⊙ ∂L/∂a)²``.

    ``a`` is a Conv/Linear layer's output. Abdelfattah et al.'s reference code assigns
    each channel's value to every weight of that channel (``fan_in = C_in·k·k``) and sums
    per weight; we keep that weighting, which the published correlations were made with.
    """

    name = "fisher"
    description = "Fisher information of per-channel activations (activation × gradient)"
    needs_labels = True
    requires: ClassVar[frozenset[str]] = frozenset({"fisher"})
    cost = "forward+backward"
    definition = "sum over layers and channels of (activation * dL/dactivation)^2 / 2, by fan-in"
    paper = "Theis et al., 2018; as a NAS proxy: " + _ZC_PAPER

    def compute(self, ctx: ProxyContext) -> float:
        return float(sum(ctx.artifacts(0, {"fisher"}).fisher.values()))


@PROXIES.register("jacob_cov")
class JacobCov(Proxy):
    """jacob_cov: ``−Σ_i [log(λ_i + k) + 1/(λ_i + k)]`` over eigenvalues of the correlation
    matrix of per-image input Jacobians (``k = 1e-5``)."""

    name = "jacob_cov"
    description = "Correlation of input Jacobians across a batch"
    requires: ClassVar[frozenset[str]] = frozenset({"input_jacobian"})
    cost = "forward+backward"
    definition = (
        "-sum over eigenvalues l of the input-Jacobian correlation of log(l + k) + 1/(l + k)"
    )
    paper = "Mellor et al., NAS without training (v1), 2020; as a proxy: " + _ZC_PAPER

    def compute(self, ctx: ProxyContext) -> float:
        jac = ctx.artifacts(0, {"input_jacobian"}).input_jacobian
        assert jac is not None
        j = jac.double().numpy()
        if np.any(j.std(axis=1) == 0):
            raise UndefinedScore("an input Jacobian is constant (zero std)")
        corr = np.corrcoef(j)
        eig = np.linalg.eigvalsh(corr)
        k = 1e-5
        return float(-np.sum(np.log(eig + k) + 1.0 / (eig + k)))


@PROXIES.register("naswot")
class Naswot(Proxy):
    """NASWOT: ``log|det K|`` with ``K = c·cᵀ + (1−c)(1−c)ᵀ`` over binary ReLU-input codes."""

    name = "naswot"
    description = "Distinctness of ReLU activation patterns across a batch (NASWOT)"
    requires: ClassVar[frozenset[str]] = frozenset({"relu_kernel"})
    cost = "forward"
    definition = "log |det K|, K the Hamming-agreement kernel of ReLU on/off codes over a batch"
    paper = "Mellor et al., Neural Architecture Search without Training, ICML 2021"

    def compute(self, ctx: ProxyContext) -> float:
        k = ctx.artifacts(0, {"relu_kernel"}).relu_kernel
        assert k is not None
        sign, logdet = np.linalg.slogdet(k)
        if sign == 0 or not np.isfinite(logdet):
            raise UndefinedScore("ReLU code kernel is singular (identical activation patterns)")
        return float(logdet)


@PROXIES.register("params")
class Params(Proxy):
    """#params: trainable parameters of the network, in millions."""

    name = "params"
    description = "Number of trainable parameters (millions)"
    needs_data = False
    requires: ClassVar[frozenset[str]] = frozenset({"complexity"})
    cost = "trace"
    definition = "number of trainable parameters, in millions"
    paper = "baseline in " + _ZC_PAPER

    def compute(self, ctx: ProxyContext) -> float:
        return ctx.complexity().params / 1e6


@PROXIES.register("flops")
class Flops(Proxy):
    """FLOPs: forward Conv/Linear multiply-accumulates for one image, in millions."""

    name = "flops"
    description = "Forward multiply-accumulates per image (millions)"
    needs_data = False
    requires: ClassVar[frozenset[str]] = frozenset({"complexity"})
    cost = "trace"
    definition = "multiply-accumulates of one forward pass per image, in millions"
    paper = "baseline in " + _ZC_PAPER

    def compute(self, ctx: ProxyContext) -> float:
        return ctx.complexity().flops / 1e6


def _layers(ctx: ProxyContext) -> list[tuple[str, nn.Module]]:
    return weight_layers(ctx.model)
