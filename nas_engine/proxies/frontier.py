"""Zero-cost proxies from the 2023–2024 frontier, written from the papers' definitions.

References:
    AZ-NAS — J. Lee and B. Ham, "AZ-NAS: Assembling Zero-Cost Proxies for Network
    Architecture Search", CVPR 2024 (expressivity, progressivity, trainability; FLOPs is
    :class:`~nas_engine.proxies.zoo.Flops`). MeCo — T. Jiang, H. Wang and R. Bie, "MeCo:
    Zero-Shot NAS with One Data and Single Forward Pass via Minimum Eigenvalue of
    Correlation", NeurIPS 2023. SWAP — Y. Peng, A. Song, H. M. Fayek, V. Ciesielski and
    X. Chang, "SWAP-NAS: Sample-Wise Activation Patterns for Ultra-fast NAS", ICLR 2024.

The AZ-NAS components read the output of each block of the network in depth order. The
network says what its blocks are through a ``blocks()`` method (the search space's model
defines it); a network without one cannot be scored by them.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from nas_engine.proxies.base import (
    PROXIES,
    Proxy,
    ProxyContext,
    UndefinedScore,
)

_AZ_PAPER = "Lee & Ham, AZ-NAS: Assembling Zero-Cost Proxies for NAS, CVPR 2024"


@dataclass(frozen=True)
class AZStats:
    """What one AZ-NAS pass measured on a network.

    Args:
        entropies: Per block, the entropy of the normalised eigenvalues of the covariance
            of its output channels (block order, stem first).
        sigmas: Per consecutive block pair, the gain ``‖Jᵀv‖ / ‖v‖`` of the later block's
            Jacobian on a random ±1 vector ``v``; ``0`` where the output ignores the input.
    """

    entropies: tuple[float, ...]
    sigmas: tuple[float, ...]


def eigen_entropy(features: torch.Tensor) -> float:
    """Entropy of the normalised covariance spectrum of a feature map's channels.

    The map ``(B, C, H, W)`` (or ``(B, C)``) is read as ``B·H·W`` samples of ``C``
    channels. With ``λ`` the eigenvalues of the channels' covariance and ``p = λ / Σλ``,
    the value is ``−Σ p log p``: ``log C`` when every direction carries equal variance,
    ``0`` when one direction carries all of it (or the map is constant).

    Args:
        features: The feature map.

    Returns:
        The entropy in nats.
    """
    f = features.detach().double()
    f = f.movedim(1, -1).reshape(-1, f.shape[1]) if f.dim() > 2 else f
    f = f - f.mean(0, keepdim=True)
    n = max(f.shape[0] - 1, 1)
    cov = (f.T @ f) / n
    eig = torch.linalg.eigvalsh(cov).clamp_min(0.0)
    total = float(eig.sum())
    if not total > 0:
        return 0.0
    p = eig / total
    p = p[p > 0]
    return float(-(p * p.log()).sum())


def _kaiming_init(model: nn.Module) -> None:
    """Kaiming-normal (fan-in) weights, zero biases, BN affine ``(1, 0)``; in place."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Conv2d | nn.Linear):
                nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
                if m.bias is not None:
                    m.bias.zero_()
            elif isinstance(m, nn.BatchNorm2d | nn.BatchNorm1d) and m.affine:
                m.weight.fill_(1.0)
                m.bias.zero_()


def az_stats(ctx: ProxyContext) -> AZStats:
    """Run AZ-NAS's single pass on ``ctx``'s cell (shared by its three components).

    A private copy of the network is re-initialised (Kaiming normal, fan-in, seeded by the
    context), one batch of Gaussian noise goes forward in train mode, and one random ±1
    vector per block is propagated back through that block alone.

    Raises:
        UndefinedScore: When the network does not expose its ``blocks()``.
    """
    return ctx.memo("az_stats", lambda: _az_pass(ctx))


def _az_pass(ctx: ProxyContext) -> AZStats:
    model = ctx.fresh_model()
    blocks_fn = getattr(model, "blocks", None)
    if not callable(blocks_fn):
        raise UndefinedScore("the network does not expose blocks(); AZ-NAS needs them")
    blocks = list(blocks_fn())
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(ctx.seed * 7 + 3)
        _kaiming_init(model)
    model.train()
    seen: list[tuple[torch.Tensor, torch.Tensor]] = []

    def hook(_m: nn.Module, inp: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        seen.append((inp[0], out))

    handles = [b.register_forward_hook(hook) for b in blocks]
    try:
        model(ctx.gaussian_batch(0))
    finally:
        for h in handles:
            h.remove()
    if len(seen) != len(blocks):
        raise UndefinedScore("a block ran more or less than once; the chain is not a chain")
    entropies = tuple(eigen_entropy(out) for _, out in seen)
    gen = torch.Generator().manual_seed(ctx.seed * 104729 + 17)
    sigmas = []
    for inp, out in seen[1:]:
        v = torch.randint(0, 2, out.shape, generator=gen, dtype=out.dtype).mul_(2).sub_(1)
        g = None
        if out.requires_grad and inp.requires_grad:
            (g,) = torch.autograd.grad(out, inp, v, retain_graph=True, allow_unused=True)
        sigmas.append(0.0 if g is None else float(g.norm() / v.norm()))
    return AZStats(entropies=entropies, sigmas=tuple(sigmas))


@PROXIES.register("az_expressivity")
class AZExpressivity(Proxy):
    """AZ-NAS expressivity: ``Σ_l H_l``, the eigen-entropy of each block's output."""

    name = "az_expressivity"
    description = "How evenly each block's features spread over their channels (AZ-NAS)"
    definition = (
        "sum over blocks of the entropy of the normalised eigenvalues of the covariance "
        "of the block's output channels; Gaussian-noise input, Kaiming init"
    )
    paper = _AZ_PAPER
    needs_data = False
    cost = "forward+block-wise backward (shared by the AZ-NAS components)"

    def compute(self, ctx: ProxyContext) -> tuple[float, dict[str, Any]]:
        st = az_stats(ctx)
        return float(sum(st.entropies)), {"block_entropies": list(st.entropies)}


@PROXIES.register("az_progressivity")
class AZProgressivity(Proxy):
    """AZ-NAS progressivity: ``min_l (H_l − H_{l−1})``, the smallest entropy rise."""

    name = "az_progressivity"
    description = "Whether expressivity grows with depth, block after block (AZ-NAS)"
    definition = (
        "minimum over consecutive blocks of the rise of the eigen-entropy of the output "
        "features from one block to the next"
    )
    paper = _AZ_PAPER
    needs_data = False
    cost = "shared with az_expressivity"

    def compute(self, ctx: ProxyContext) -> float:
        h = az_stats(ctx).entropies
        if len(h) < 2:
            raise UndefinedScore("progressivity needs at least two blocks")
        return float(min(b - a for a, b in itertools.pairwise(h)))


@PROXIES.register("az_trainability")
class AZTrainability(Proxy):
    """AZ-NAS trainability: mean over block pairs of ``−σ − 1/σ + 2`` (0 at isometry)."""

    name = "az_trainability"
    description = "How close each block's Jacobian is to an isometry (AZ-NAS)"
    definition = (
        "mean over consecutive blocks of -s - 1/s + 2, with s = |J^T v| / |v| for the "
        "block's Jacobian J and a random +/-1 vector v (largest at s = 1)"
    )
    paper = _AZ_PAPER
    needs_data = False
    cost = "shared with az_expressivity"

    def compute(self, ctx: ProxyContext) -> tuple[float, dict[str, Any]]:
        sig = az_stats(ctx).sigmas
        if not sig:
            raise UndefinedScore("trainability needs at least two blocks")
        if min(sig) <= 0.0:
            raise UndefinedScore("a block's output does not depend on its input")
        terms = [-s - 1.0 / s + 2.0 for s in sig]
        return float(np.mean(terms)), {"block_gains": list(sig)}


@PROXIES.register("meco")
class MeCo(Proxy):
    """MeCo: ``Σ_l λ_min(P_l)``, ``P_l`` the Pearson correlation of conv ``l``'s channels.

    One Gaussian-noise sample goes forward; each Conv2d output ``(C, H, W)`` is read as
    ``C`` channel vectors over ``H·W`` positions. Channels that are constant (no defined
    correlation) are left out of their layer's matrix; a layer with fewer than two
    non-constant channels adds nothing. A map of one position (a 1×1 map of the single
    sample, as deep layers of a chain reach on 8×8 images) has no such channels, so its
    BatchNorm runs on its running statistics instead of failing on one value per channel;
    every term is unchanged by that.
    """

    name = "meco"
    description = "Smallest eigenvalue of each layer's channel correlation, summed (MeCo)"
    definition = (
        "sum over conv layers of the minimum eigenvalue of the Pearson correlation matrix "
        "of the layer's output channels, for one Gaussian-noise input"
    )
    paper = "Jiang, Wang & Bie, MeCo: Zero-Shot NAS with One Data ..., NeurIPS 2023"
    needs_data = False
    cost = "forward on 1 input"

    def compute(self, ctx: ProxyContext) -> tuple[float, dict[str, Any]]:
        maps: list[torch.Tensor] = []

        def hook(_m: nn.Module, _inp: Any, out: torch.Tensor) -> None:
            maps.append(out.detach()[0].reshape(out.shape[1], -1))

        model = ctx.model
        handles = [m.register_forward_hook(hook) for m in model.modules() if _is_conv(m)]
        switched: list[nn.Module] = []

        def single_position(m: nn.Module, inp: tuple[torch.Tensor, ...]) -> None:
            if m.training and inp[0][0, 0].numel() == 1 and inp[0].shape[0] == 1:
                m.training = False
                switched.append(m)

        handles += [
            m.register_forward_pre_hook(single_position)
            for m in model.modules()
            if isinstance(m, nn.modules.batchnorm._BatchNorm)
        ]
        try:
            with torch.no_grad():
                model(ctx.gaussian_batch(11, size=1))
        finally:
            for h in handles:
                h.remove()
            for m in switched:
                m.training = True
        terms = [t for t in (min_correlation_eigenvalue(m) for m in maps) if t is not None]
        if not terms:
            raise UndefinedScore("no conv layer has two non-constant channels")
        return float(sum(terms)), {"layer_terms": terms}


def _is_conv(m: nn.Module) -> bool:
    return isinstance(m, nn.Conv2d)


def min_correlation_eigenvalue(channels: torch.Tensor) -> float | None:
    """Smallest eigenvalue of the Pearson correlation between the rows of ``channels``.

    Args:
        channels: ``(C, P)``: ``C`` channels observed at ``P`` positions.

    Returns:
        ``λ_min`` (in ``[0, 1]``), or ``None`` when fewer than two rows vary.
    """
    x = channels.double()
    if x.shape[1] < 2:
        return None  # one position: no channel varies
    x = x[x.std(dim=1) > 0]
    if x.shape[0] < 2:
        return None
    corr = torch.corrcoef(x)
    return float(torch.linalg.eigvalsh(corr)[0].clamp_min(0.0))


@PROXIES.register("swap")
class Swap(Proxy):
    """SWAP: the number of distinct sample-wise activation patterns, optionally regularised.

    Every ReLU unit (a channel at a position) has, over the batch, a pattern of on/off
    bits; SWAP counts the distinct patterns over all units of the network. With ``mu``
    and ``sigma`` set, the count is multiplied by ``exp(−(P − mu)² / sigma)``, ``P`` the
    parameters in millions, which steers the score toward a model size.

    Args:
        mu: Centre of the size regulariser, in millions of parameters (``None``: off).
        sigma: Width of the size regulariser.
    """

    name = "swap"
    description = "Distinct on/off patterns of ReLU units over a batch of images (SWAP)"
    definition = (
        "number of distinct binary patterns, across the batch, of all ReLU units of the "
        "network (batch of real images, no labels)"
    )
    paper = "Peng et al., SWAP-NAS: Sample-Wise Activation Patterns for Ultra-fast NAS, ICLR 2024"
    requires: ClassVar[frozenset[str]] = frozenset({"relu_patterns"})
    cost = "forward (shared with NASWOT and the other batch-0 proxies)"

    def __init__(self, *, mu: float | None = None, sigma: float = 1.0) -> None:
        if sigma <= 0:
            raise ValueError(f"sigma must be > 0, got {sigma}")
        self.mu = mu
        self.sigma = sigma

    def compute(self, ctx: ProxyContext) -> float:
        count = ctx.artifacts(0, {"relu_patterns"}).relu_patterns
        assert count is not None
        if self.mu is None:
            return float(count)
        params = ctx.complexity().params / 1e6
        return float(count) * math.exp(-((params - self.mu) ** 2) / self.sigma)


@PROXIES.register("swap_reg")
class SwapRegularised(Swap):
    """SWAP with its size regulariser on (defaults chosen on CIFAR-100 truth, see README)."""

    name = "swap_reg"
    description = "SWAP times a Gaussian preference for model size (regularised SWAP)"
    definition = (
        "SWAP count times exp(-(P - mu)^2 / sigma), P the parameters in millions "
        "(mu = 1.0, sigma = 0.5 by default, chosen on CIFAR-100 truth)"
    )
    requires: ClassVar[frozenset[str]] = frozenset({"relu_patterns", "complexity"})

    def __init__(self, *, mu: float = 1.0, sigma: float = 0.5) -> None:
        super().__init__(mu=mu, sigma=sigma)
