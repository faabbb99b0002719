"""PyTorch modules of the NAS-Bench-Macro network (Su et al., CVPR'21) and its chain supernet.

A MobileNetV2-style chain: a 3×3 stem conv (``C`` channels) + BN + ReLU, eight searchable
layers in three stages of 2, 3 and 3 layers (the first layer of every stage has stride 2
and doubles the width), a 1×1 head conv to ``40·C`` channels + BN + ReLU, global average
pooling and a linear classifier. Each layer is one of three choices:

* ``id``: identity, or a 1×1 conv + BN where the layer changes stride or width;
* ``ir_k3_e3``: inverted residual, 3×3 depthwise kernel, expansion 3;
* ``ir_k5_e6``: inverted residual, 5×5 depthwise kernel, expansion 6.

With ``C=32`` (head 1280) and 10 classes the parameter counts equal the benchmark's own
(387,882 for ``00000000``). This file needs only torch, so it is exported as it is.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

#: The candidate ops of every layer, in the order of the benchmark's digits 0, 1, 2.
MACRO_OPS: tuple[str, ...] = ("id", "ir_k3_e3", "ir_k5_e6")
#: Searchable layers per stage.
MACRO_STAGES: tuple[int, ...] = (2, 3, 3)
#: Head channels per stem channel (1280 for the benchmark's stem of 32).
HEAD_PER_STEM = 40


class ShortcutIdentity(nn.Module):
    """The ``id`` choice: nothing, or a 1×1 conv + BN where stride or width changes."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.proj: nn.Module = (
            nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out)
            )
            if stride != 1 or c_in != c_out
            else nn.Identity()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x)


class InvertedResidual(nn.Module):
    """MobileNetV2's block: 1×1 expand + BN + ReLU, k×k depthwise (strided) + BN + ReLU,
    1×1 project + BN; the input is added back when stride and width are unchanged.

    Args:
        c_in: Input channels.
        c_out: Output channels.
        stride: Stride of the depthwise conv.
        kernel: Depthwise kernel size.
        expand: Expansion ratio of the hidden width.
    """

    def __init__(self, c_in: int, c_out: int, stride: int, *, kernel: int, expand: int) -> None:
        super().__init__()
        hidden = c_in * expand
        self.conv = nn.Sequential(
            nn.Conv2d(c_in, hidden, 1, bias=False),
            nn.BatchNorm2d(hidden),
            nn.ReLU(inplace=False),
            nn.Conv2d(
                hidden,
                hidden,
                kernel,
                stride=stride,
                padding=kernel // 2,
                groups=hidden,
                bias=False,
            ),
            nn.BatchNorm2d(hidden),
            nn.ReLU(inplace=False),
            nn.Conv2d(hidden, c_out, 1, bias=False),
            nn.BatchNorm2d(c_out),
        )
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        return x + y if self.residual else y


def make_layer(op: str, c_in: int, c_out: int, stride: int) -> nn.Module:
    """Create one choice of a layer.

    Args:
        op: One of :data:`MACRO_OPS`.
        c_in: Input channels.
        c_out: Output channels.
        stride: 1, or 2 at a stage's first layer.

    Returns:
        The module.
    """
    if op == "id":
        return ShortcutIdentity(c_in, c_out, stride)
    if op == "ir_k3_e3":
        return InvertedResidual(c_in, c_out, stride, kernel=3, expand=3)
    if op == "ir_k5_e6":
        return InvertedResidual(c_in, c_out, stride, kernel=5, expand=6)
    raise ValueError(f"unknown macro op {op!r}; known: {list(MACRO_OPS)}")


def layer_plan(C: int) -> list[tuple[int, int, int]]:
    """``(c_in, c_out, stride)`` of every searchable layer for stem width ``C``."""
    plan, c = [], C
    for n in MACRO_STAGES:
        for k in range(n):
            if k == 0:
                plan.append((c, 2 * c, 2))
                c *= 2
            else:
                plan.append((c, c, 1))
    return plan


class MacroNetwork(nn.Module):
    """The macro chain around one layer factory (fixed choices or choice blocks).

    Args:
        layer_factory: ``layer_factory(position, c_in, c_out, stride)`` returns a layer.
        C: Stem channels (the benchmark's 32).
        num_classes: Output classes.
        in_channels: Input image channels.
    """

    def __init__(
        self,
        layer_factory: Callable[[int, int, int, int], nn.Module],
        *,
        C: int = 32,
        num_classes: int = 10,
        in_channels: int = 3,
    ) -> None:
        super().__init__()
        if C < 1 or num_classes < 1 or in_channels < 1:
            raise ValueError("C, num_classes and in_channels must all be >= 1")
        self.C, self.num_classes = C, num_classes
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, C, 3, padding=1, bias=False),
            nn.BatchNorm2d(C),
            nn.ReLU(inplace=False),
        )
        plan = layer_plan(C)
        self.layers = nn.ModuleList(
            layer_factory(p, c_in, c_out, s) for p, (c_in, c_out, s) in enumerate(plan)
        )
        head = HEAD_PER_STEM * C
        self.head = nn.Sequential(
            nn.Conv2d(plan[-1][1], head, 1, bias=False),
            nn.BatchNorm2d(head),
            nn.ReLU(inplace=False),
        )
        self.classifier = nn.Linear(head, num_classes)

    def blocks(self) -> list[nn.Module]:
        """The stem and every searchable layer, in order (AZ-NAS reads their outputs)."""
        return [self.stem, *self.layers]

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Return the head's feature map, just before global pooling."""
        x = self.stem(x)
        for layer in self.layers:
            x = layer(x)
        return self.head(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x).mean((2, 3)))


def build_macro(
    ops: Sequence[str], *, C: int = 32, num_classes: int = 10, in_channels: int = 3
) -> MacroNetwork:
    """Build the macro network of one architecture.

    Args:
        ops: One op name per searchable layer (8 of them).
        C: Stem channels.
        num_classes: Output classes.
        in_channels: Input image channels.

    Returns:
        A freshly initialised network (PyTorch default initialisation).
    """
    ops = tuple(ops)
    if len(ops) != sum(MACRO_STAGES):
        raise ValueError(f"a macro architecture has {sum(MACRO_STAGES)} layers, got {len(ops)}")
    for o in ops:
        if o not in MACRO_OPS:
            raise ValueError(f"unknown macro op {o!r}; known: {list(MACRO_OPS)}")
    return MacroNetwork(
        lambda p, c_in, c_out, s: make_layer(ops[p], c_in, c_out, s),
        C=C,
        num_classes=num_classes,
        in_channels=in_channels,
    )


class ChoiceLayer(nn.Module):
    """All choices of one layer; ``forward(x, op)`` runs one of them."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.ops = nn.ModuleDict({o: make_layer(o, c_in, c_out, stride) for o in MACRO_OPS})

    def forward(self, x: torch.Tensor, op: str) -> torch.Tensor:
        return self.ops[op](x)


class MacroSupernet(MacroNetwork):
    """The chain supernet of SPOS: one :class:`ChoiceLayer` per layer, one path per pass.

    Stem, head and classifier are shared by every path; the skeleton is
    :class:`MacroNetwork`'s, so parameter names match the standalone network's.

    Args:
        C: Stem channels.
        num_classes: Output classes.
        in_channels: Input channels.
    """

    def __init__(self, *, C: int = 16, num_classes: int = 10, in_channels: int = 3) -> None:
        super().__init__(
            lambda _p, c_in, c_out, s: ChoiceLayer(c_in, c_out, s),
            C=C,
            num_classes=num_classes,
            in_channels=in_channels,
        )

    def features(self, x: torch.Tensor, path: Sequence[str]) -> torch.Tensor:  # type: ignore[override]
        """The head's feature map of the subnet that runs ``path``."""
        x = self.stem(x)
        for layer, op in zip(self.layers, path, strict=True):
            x = layer(x, op)
        return self.head(x)

    def forward(self, x: torch.Tensor, path: Sequence[str]) -> torch.Tensor:  # type: ignore[override]
        """Logits of the subnet that runs op ``path[k]`` at layer ``k``."""
        return self.classifier(self.features(x, path).mean((2, 3)))

    def subnet(self, path: Sequence[str]) -> MacroNetwork:
        """The standalone network of ``path`` with the weights it inherits (a copy)."""
        path = tuple(path)
        net = build_macro(
            path, C=self.C, num_classes=self.num_classes, in_channels=self.stem[0].in_channels
        )
        state = {}
        for key, value in self.state_dict().items():
            parts = key.split(".")
            # layers.<k>.ops.<op>.<rest> -> layers.<k>.<rest>
            if parts[0] == "layers" and parts[2] == "ops":
                if parts[3] != path[int(parts[1])]:
                    continue  # another choice of this layer
                key = ".".join(parts[:2] + parts[4:])
            state[key] = value.clone()
        net.load_state_dict(state)
        return net
