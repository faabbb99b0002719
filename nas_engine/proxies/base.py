"""The zero-cost proxy contract, its registry, and the per-cell scoring context.

A proxy scores one untrained network. Proxies that read the same gradients (ZiCo, snip,
grad_norm, fisher, GRASP, jacob_cov, NASWOT) do not run their own passes: they ask a
:class:`ProxyContext` for *artifacts* (weight gradients on batch 0 and 1, per-channel
Fisher terms, the ReLU code kernel, Hessian-gradient products, input Jacobians, the
params/FLOPs trace). The context computes each artifact once, and computes everything
that a set of proxies needs on batch 0 in a single forward pass, so a
:class:`~nas_engine.proxies.suite.ProxySuite` shares work exactly where the maths allows
while a proxy used alone pays only for what it reads.
"""

from __future__ import annotations

import abc
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from nas_engine.data import Dataset
from nas_engine.registry import Registry
from nas_engine.search_spaces import SearchSpace
from nas_engine.utils.complexity import Complexity, complexity

#: Artifact names a proxy can declare in :attr:`Proxy.requires`.
ARTIFACTS = frozenset(
    {
        "grads0",
        "grads1",
        "fisher",
        "relu_kernel",
        "relu_patterns",
        "hessian_grad",
        "input_jacobian",
        "complexity",
    }
)


class ProxyInputError(ValueError):
    """Raised when a proxy cannot run on the given inputs (e.g. needs data, got none)."""


@dataclass(frozen=True)
class ProxyResult:
    """The score of one proxy on one cell.

    Args:
        name: Proxy name.
        value: The score; ``nan`` when it is undefined (see ``reason``).
        seconds: Wall time spent in this proxy (shared artifacts are charged to the first
            proxy that asked for them).
        reason: Why the value is a fallback (constant output, zero spread, error), or
            ``None`` for a regular score.
        details: Extra per-layer information (ZiCo's per-layer terms, for instance).
    """

    name: str
    value: float
    seconds: float
    reason: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Whether the value is a regular, finite score."""
        return self.reason is None and math.isfinite(self.value)


@dataclass
class GradArtifacts:
    """What one pass over batch 0 (or 1) produced."""

    loss: float = math.nan
    grads: dict[str, torch.Tensor] = field(default_factory=dict)
    fisher: dict[str, float] = field(default_factory=dict)
    relu_kernel: np.ndarray | None = None
    relu_patterns: int | None = None
    hessian_grad: dict[str, torch.Tensor] = field(default_factory=dict)
    input_jacobian: torch.Tensor | None = None
    computed: frozenset[str] = frozenset()


def weight_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Return the ``Conv2d`` and ``Linear`` layers with their qualified names."""
    return [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Conv2d | nn.Linear)]


class ProxyContext:
    """Everything needed to score one cell; computes and caches shared artifacts.

    The context builds the network once (seeded, so every proxy and every run sees the
    same initial weights) and never changes those weights: proxies that must alter a
    network (synflow, Zen-score) work on :meth:`fresh_model` copies.

    Thread safety: a context belongs to one thread; make one per cell and per thread.

    Args:
        space: The search space.
        arch: The cell.
        data: Dataset for data-dependent proxies (``None``: data-free proxies only).
        batch_size: Images per batch.
        seed: Seed for the weights and the batch draw.
        input_shape: ``(C, H, W)`` when no dataset is given.
        num_classes: Classes when no dataset is given.
        build_kwargs: Extra options for ``space.build`` (e.g. ``C``, ``N``).
    """

    def __init__(
        self,
        space: SearchSpace[Any],
        arch: Any,
        *,
        data: Dataset | None = None,
        batch_size: int = 64,
        seed: int = 0,
        input_shape: tuple[int, int, int] | None = None,
        num_classes: int | None = None,
        build_kwargs: dict[str, Any] | None = None,
    ) -> None:
        if batch_size < 2:
            raise ProxyInputError(f"batch_size must be >= 2, got {batch_size}")
        self.space = space
        self.arch = arch
        self.data = data
        self.batch_size = batch_size
        self.seed = seed
        self.input_shape = tuple(input_shape or (data.input_shape if data else (3, 32, 32)))
        self.num_classes = int(num_classes or (data.num_classes if data else 10))
        self.build_kwargs = dict(build_kwargs or {})
        self._model: nn.Module | None = None
        self._pass: dict[int, GradArtifacts] = {}
        self._complexity: Complexity | None = None
        self._memo: dict[str, Any] = {}
        self.planned: frozenset[str] = frozenset()

    # ------------------------------------------------------------------------ models
    def fresh_model(self) -> nn.Module:
        """Build the cell's network with the context's seeded initial weights."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            model = self.space.build(
                self.arch,
                num_classes=self.num_classes,
                in_channels=self.input_shape[0],
                **self.build_kwargs,
            )
        return model.train()

    @property
    def model(self) -> nn.Module:
        """The shared, never-modified network (train mode)."""
        if self._model is None:
            self._model = self.fresh_model()
        return self._model

    def batch(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Return the seeded batch ``index`` (0, 1, ...) of training images and labels."""
        if self.data is None:
            raise ProxyInputError("this proxy needs data; pass a dataset")
        x, y = self.data.batch(self.batch_size, seed=self.seed * 7919 + index)
        return torch.tensor(x), torch.tensor(y)

    def gaussian_batch(self, index: int, *, size: int | None = None) -> torch.Tensor:
        """Return a seeded batch of N(0, 1) inputs of the context's input shape."""
        gen = torch.Generator().manual_seed(self.seed * 104729 + index)
        return torch.randn((size or self.batch_size, *self.input_shape), generator=gen)

    # --------------------------------------------------------------------- artifacts
    def plan(self, needs: Iterable[str]) -> None:
        """Declare every artifact that will be read, so batch 0 is computed in one pass."""
        needs = frozenset(needs)
        unknown = needs - ARTIFACTS
        if unknown:
            raise ValueError(f"unknown artifacts {sorted(unknown)}")
        self.planned = self.planned | needs

    def memo(self, key: str, compute: Callable[[], Any]) -> Any:
        """Return ``compute()``, computed once per context under ``key``.

        Proxies that read one shared pass of their own (the three AZ-NAS components, for
        instance) use this so that the pass runs once when several of them are scored.
        """
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]

    def complexity(self) -> Complexity:
        """Parameters and FLOPs of the network (one trace, shared)."""
        if self._complexity is None:
            self._complexity = complexity(self.model, self.input_shape)
        return self._complexity

    def artifacts(self, index: int, needs: Iterable[str]) -> GradArtifacts:
        """Return batch ``index``'s artifacts, computing missing ones in one pass.

        Args:
            index: Batch index (0 or 1).
            needs: Artifact names needed now (merged with the planned ones for batch 0).

        Returns:
            The cached :class:`GradArtifacts`.
        """
        needs = {"grads" if n in ("grads0", "grads1") else n for n in needs} - {"complexity"}
        if index == 0:
            planned = {"grads" if n == "grads0" else n for n in self.planned}
            needs |= planned - {"grads1", "complexity"}
        have = self._pass.get(index)
        if have is not None:
            if needs <= have.computed:
                return have
            needs |= have.computed  # recompute the union, so the cache stays coherent
        art = self._run_pass(index, needs)
        self._pass[index] = art
        return art

    def _run_pass(self, index: int, needs: set[str]) -> GradArtifacts:
        model = self.model
        x, y = self.batch(index)
        need_fisher = "fisher" in needs
        need_k = "relu_kernel" in needs
        need_p = "relu_patterns" in needs
        need_hg = "hessian_grad" in needs
        need_jac = "input_jacobian" in needs
        need_grads = need_fisher or need_hg or "grads" in needs
        layers = weight_layers(model)
        art = GradArtifacts(computed=frozenset(needs))
        handles = []
        fisher_on = [True]
        kernel = np.zeros((len(x), len(x)), dtype=np.float64)
        patterns: list[np.ndarray] = []
        if need_k or need_p:
            handles += add_relu_hooks(
                model, kernel if need_k else None, patterns if need_p else None
            )
        if need_fisher:
            art.fisher = {name: 0.0 for name, _ in layers}
            handles += _add_fisher_hooks(layers, art.fisher, fisher_on)

        try:
            x.requires_grad_(need_jac)
            model.zero_grad(set_to_none=True)
            # a forward-only pass (NASWOT, SWAP) builds no autograd graph
            with torch.set_grad_enabled(need_grads or need_jac):
                out = model(x)
            weights = [m.weight for _, m in layers]
            if need_grads:
                loss = F.cross_entropy(out, y)
                art.loss = float(loss.detach())
                grads = torch.autograd.grad(
                    loss,
                    weights,
                    create_graph=need_hg,
                    retain_graph=need_hg or need_jac,
                    allow_unused=True,
                )
                fisher_on[0] = False
                # autograd.grad hands back tensors of its own: no copy needed
                art.grads = {
                    name: (g.detach() if g is not None else torch.zeros_like(w))
                    for (name, _), g, w in zip(layers, grads, weights, strict=True)
                }
                if need_hg:
                    z = sum(
                        (art.grads[name] * g).sum()
                        for (name, _), g in zip(layers, grads, strict=True)
                        if g is not None
                    )
                    hg = torch.autograd.grad(z, weights, retain_graph=need_jac, allow_unused=True)
                    art.hessian_grad = {
                        name: (h.detach() if h is not None else torch.zeros_like(w))
                        for (name, _), h, w in zip(layers, hg, weights, strict=True)
                    }
                del grads
            if need_jac:
                (jac,) = torch.autograd.grad(out.sum(), x)
                art.input_jacobian = jac.detach().reshape(len(x), -1)
            if need_k:
                art.relu_kernel = kernel
            if need_p:
                art.relu_patterns = count_distinct_patterns(patterns)
        finally:
            for h in handles:
                h.remove()
            model.zero_grad(set_to_none=True)
        return art


def add_relu_hooks(
    model: nn.Module, kernel: np.ndarray | None, patterns: list[np.ndarray] | None
) -> list[Any]:
    """Hook every ReLU of ``model`` to read the on/off codes of its input.

    Args:
        model: The network.
        kernel: ``(n, n)`` float64 accumulator of NASWOT's code kernel, ``n`` the batch
            size (updated in place), or ``None``.
        patterns: List that receives, per distinct ReLU input, the units' across-batch
            patterns packed into bytes (``(units, ceil(n / 8))`` uint8), or ``None``.

    Returns:
        The hook handles (remove them after the pass).
    """
    last: dict[str, Any] = {}

    def relu_hook(_m: nn.Module, inp: tuple[torch.Tensor, ...]) -> None:
        t = inp[0]
        # One node often feeds several ReLUs: reuse its codes. Holding ``t`` keeps
        # its storage alive, so identity cannot be confused with a reused address.
        if last.get("t") is t and last.get("version") == t._version:
            if kernel is not None:
                kernel[:] += last["k"]
            return
        n = t.shape[0]
        codes = t.detach().reshape(n, -1) > 0
        last.update(t=t, version=t._version)
        if kernel is not None:
            # c·cᵀ + (1−c)(1−c)ᵀ = 2·c·cᵀ − s·1ᵀ − 1·sᵀ + n, with s = row sums;
            # float32 is exact here (integer counts far below 2**24 per layer).
            c = codes.float()
            s = c.sum(1, keepdim=True)
            last["k"] = (2.0 * (c @ c.T) - s - s.T + c.shape[1]).double().numpy()
            kernel[:] += last["k"]
        if patterns is not None:
            patterns.append(np.ascontiguousarray(np.packbits(codes.numpy(), axis=0).T))

    return [
        m.register_forward_pre_hook(relu_hook) for m in model.modules() if isinstance(m, nn.ReLU)
    ]


def count_distinct_patterns(patterns: list[np.ndarray]) -> int:
    """Count the distinct rows over the packed pattern arrays of :func:`add_relu_hooks`."""
    if not patterns:
        return 0
    rows = np.concatenate(patterns)
    width = rows.shape[1]
    if width <= 8:
        padded = np.zeros((rows.shape[0], 8), dtype=np.uint8)
        padded[:, :width] = rows
        return int(np.unique(padded.view(np.uint64).ravel()).size)
    return int(np.unique(rows, axis=0).shape[0])


def _add_fisher_hooks(
    layers: list[tuple[str, nn.Module]], fisher: dict[str, float], enabled: list[bool]
) -> list[Any]:
    """Hook each weight layer to add its per-channel Fisher term to ``fisher[name]``.

    Args:
        layers: The weight layers with their names (see :func:`weight_layers`).
        fisher: Name → accumulated Fisher value (updated in place).
        enabled: One-element flag; gradients arriving while ``enabled[0]`` is false (after
            the loss gradient) are ignored.

    Returns:
        The hook handles (remove them after the pass).
    """

    def make_hook(name: str) -> Any:
        def fwd(_m: nn.Module, _inp: Any, out: torch.Tensor) -> None:
            act = out.detach()

            def on_grad(g: torch.Tensor) -> None:
                if not enabled[0]:
                    return
                prod = (act * g.detach()).reshape(act.shape[0], act.shape[1], -1)
                per_channel = prod.sum(-1).pow(2).mean(0).mul(0.5)
                # The reference code credits each channel's value to every weight
                # of that channel before summing, i.e. weights it by the fan-in.
                fisher[name] += float(per_channel.sum()) * fan_in

            fan_in = _m.weight[0].numel()

            if out.requires_grad:
                out.register_hook(on_grad)

        return fwd

    return [m.register_forward_hook(make_hook(name)) for name, m in layers]


class Proxy(abc.ABC):
    """A zero-cost proxy: scores an untrained network.

    Contract for implementations:

    * Set the class attributes below; ``requires`` lists the :data:`ARTIFACTS` read from
      the context so that a suite can compute them in one shared pass.
    * :meth:`compute` returns ``value`` or ``(value, details)``. It may raise
      :class:`UndefinedScore` with a reason for a cell where the score is undefined.
    * Never modify ``ctx.model``'s weights; use ``ctx.fresh_model()`` for a private copy.
    * Proxies hold no per-cell state, so one instance may score many cells, but a single
      instance must not be used from two threads at once.
    """

    name: ClassVar[str]
    description: ClassVar[str]
    higher_is_better: ClassVar[bool] = True
    needs_data: ClassVar[bool] = True
    needs_labels: ClassVar[bool] = False
    default_batch_size: ClassVar[int] = 64
    requires: ClassVar[frozenset[str]] = frozenset()
    #: Relative cost, for help texts ("forward", "forward+backward", ...).
    cost: ClassVar[str] = ""
    #: The score as a formula in words, for ``nasnav proxies`` and the app.
    definition: ClassVar[str] = ""
    #: The paper that defines it (authors, venue, year).
    paper: ClassVar[str] = ""

    @abc.abstractmethod
    def compute(self, ctx: ProxyContext) -> float | tuple[float, dict[str, Any]]:
        """Return the score (and optional details) for ``ctx``'s cell."""

    def score(self, ctx: ProxyContext) -> ProxyResult:
        """Compute the proxy with timing; undefined scores become ``nan`` with a reason.

        Args:
            ctx: The cell's scoring context.

        Returns:
            The :class:`ProxyResult`; it never raises for a bad cell.
        """
        if self.needs_data and ctx.data is None:
            raise ProxyInputError(f"proxy {self.name!r} needs data; pass a dataset")
        t0 = time.perf_counter()
        details: dict[str, Any] = {}
        reason: str | None = None
        try:
            out = self.compute(ctx)
            value, details = out if isinstance(out, tuple) else (out, {})
            value = float(value)
            if not math.isfinite(value):
                reason = f"non-finite score ({value})"
                value = math.nan
        except UndefinedScore as exc:
            value, reason = math.nan, str(exc)
        except (RuntimeError, ValueError, FloatingPointError, np.linalg.LinAlgError) as exc:
            value, reason = math.nan, f"error: {type(exc).__name__}: {exc}"
        return ProxyResult(
            name=self.name,
            value=value,
            seconds=time.perf_counter() - t0,
            reason=reason,
            details=details,
        )

    @classmethod
    def info(cls) -> dict[str, Any]:
        """Return the proxy's declared metadata."""
        return {
            "name": cls.name,
            "description": cls.description,
            "higher_is_better": cls.higher_is_better,
            "needs_data": cls.needs_data,
            "needs_labels": cls.needs_labels,
            "default_batch_size": cls.default_batch_size,
            "cost": cls.cost,
            "definition": cls.definition,
            "paper": cls.paper,
        }


class UndefinedScore(Exception):
    """Raised by :meth:`Proxy.compute` when the score is undefined for this cell."""


PROXIES: Registry[Proxy] = Registry("proxy")


def list_proxies() -> list[str]:
    """Return the registered proxy names."""
    return PROXIES.list()


def create_proxy(name: str, **kwargs: Any) -> Proxy:
    """Instantiate a registered proxy.

    Args:
        name: Registry name, e.g. ``"zico"``.
        **kwargs: Proxy options.

    Returns:
        The proxy.
    """
    return PROXIES.create(name, **kwargs)


def proxy_class(name: str) -> type[Proxy]:
    """Return the registered proxy class (for its metadata)."""
    return PROXIES.get(name)  # type: ignore[return-value]
