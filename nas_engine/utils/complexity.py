"""Parameter and FLOPs counting for PyTorch models.

FLOPs here are forward multiply-accumulates (MACs) of ``Conv2d`` and ``Linear`` layers
for one input sample — the convention NAS-Bench-201 and the zero-cost-proxy papers use
when they quote "FLOPs" in millions. Pooling, BatchNorm, activations and additions are
not counted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class Complexity:
    """Model size and cost.

    Args:
        params: Trainable parameter count.
        flops: Forward MACs for one sample.
    """

    params: int
    flops: int


def count_params(model: nn.Module) -> int:
    """Return the number of trainable parameters.

    Args:
        model: Any module.

    Returns:
        The count.
    """
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def count_flops(model: nn.Module, input_shape: Sequence[int]) -> int:
    """Return the forward MACs of ``Conv2d`` and ``Linear`` layers for one sample.

    Args:
        model: The model (its train/eval mode and weights are left untouched).
        input_shape: ``(C, H, W)`` of one input sample.

    Returns:
        MACs, bias additions included.
    """
    total = 0

    def conv_hook(mod: nn.Conv2d, _inp: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        nonlocal total
        per_out = (mod.in_channels // mod.groups) * mod.kernel_size[0] * mod.kernel_size[1]
        if mod.bias is not None:
            per_out += 1
        total += int(out[0].numel()) * per_out

    def linear_hook(mod: nn.Linear, _inp: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        nonlocal total
        per_out = mod.in_features + (1 if mod.bias is not None else 0)
        total += int(out[0].numel()) * per_out

    handles = []
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            handles.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            handles.append(m.register_forward_hook(linear_hook))
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            param = next(model.parameters(), None)
            dtype = param.dtype if param is not None else torch.float32
            device = param.device if param is not None else torch.device("cpu")
            model(torch.zeros(1, *input_shape, dtype=dtype, device=device))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return total


def complexity(model: nn.Module, input_shape: Sequence[int]) -> Complexity:
    """Return parameters and FLOPs in one call.

    Args:
        model: The model.
        input_shape: ``(C, H, W)`` of one sample.

    Returns:
        The :class:`Complexity`.
    """
    return Complexity(params=count_params(model), flops=count_flops(model, input_shape))
