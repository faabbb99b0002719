"""PyTorch modules of the NAS-Bench-201 macro network (Dong & Yang, ICLR'20).

The macro skeleton: a 3×3 stem conv + BN, three stages of ``N`` cells with ``C``, ``2C``
and ``4C`` channels separated by residual reduction blocks, then BN-ReLU, global
average pooling and a linear head. With ``C=16, N=5`` and 10 classes the parameter
counts equal NAS-Bench-201's own (e.g. 1,531,546 for nor_conv_3x3 on every edge).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

NB201_OPS: tuple[str, ...] = (
    "none",
    "skip_connect",
    "nor_conv_1x1",
    "nor_conv_3x3",
    "avg_pool_3x3",
)
#: Edges as (from_node, to_node), in the order of the standard arch string.
NB201_EDGES: tuple[tuple[int, int], ...] = ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))


class Zero(nn.Module):
    """The ``none`` op: outputs zeros of the input's shape (keeps the graph connected)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mul(0.0)


class ReLUConvBN(nn.Module):
    """ReLU → Conv2d (no bias) → BatchNorm2d, NAS-Bench-201's ``nor_conv`` op.

    Args:
        c_in: Input channels.
        c_out: Output channels.
        kernel_size: Kernel size.
        stride: Stride.
        padding: Padding.
    """

    def __init__(
        self, c_in: int, c_out: int, kernel_size: int, *, stride: int = 1, padding: int = 0
    ) -> None:
        super().__init__()
        self.op = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_out, kernel_size, stride=stride, padding=padding, bias=False),
            nn.BatchNorm2d(c_out),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


def make_op(name: str, channels: int) -> nn.Module:
    """Create one NB201 candidate op acting on ``channels`` → ``channels``.

    Args:
        name: One of :data:`NB201_OPS`.
        channels: Channel count.

    Returns:
        The module.
    """
    if name == "none":
        return Zero()
    if name == "skip_connect":
        return nn.Identity()
    if name == "nor_conv_1x1":
        return ReLUConvBN(channels, channels, 1)
    if name == "nor_conv_3x3":
        return ReLUConvBN(channels, channels, 3, padding=1)
    if name == "avg_pool_3x3":
        return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
    raise ValueError(f"unknown NB201 op {name!r}; known: {list(NB201_OPS)}")


def cell_forward(
    x: torch.Tensor, run_edge: Callable[[int, torch.Tensor], torch.Tensor]
) -> torch.Tensor:
    """Run one NB201 cell: node j = Σ_{i<j} edge_{i→j}(node i); the output is node 3.

    The one implementation of the cell's wiring, shared by :class:`NB201Cell` and the
    supernet's cell, which differ only in how an edge's op is chosen.

    Args:
        x: Input of the cell (node 0).
        run_edge: ``run_edge(k, h)`` applies edge ``k``'s op (``k`` indexes
            :data:`NB201_EDGES`) to ``h``, the output of the edge's source node.

    Returns:
        Node 3. Edges run in :data:`NB201_EDGES` order and each node sums its inputs left
        to right, so results are reproducible bit for bit.
    """
    nodes = [x]
    k = 0
    for j in range(1, 4):
        total = None
        for i in range(j):
            y = run_edge(k, nodes[i])
            total = y if total is None else total + y
            k += 1
        nodes.append(total)
    return nodes[-1]


class NB201Cell(nn.Module):
    """A 4-node NB201 cell: node j = Σ_{i<j} op_{i→j}(node i); the output is node 3.

    Args:
        ops: One op name per edge, in :data:`NB201_EDGES` order.
        channels: Channel count (cells keep it constant).
    """

    def __init__(self, ops: Sequence[str], channels: int) -> None:
        super().__init__()
        if len(ops) != len(NB201_EDGES):
            raise ValueError(f"NB201 cell needs {len(NB201_EDGES)} ops, got {len(ops)}")
        self.ops_names = tuple(ops)
        self.edges = nn.ModuleList(make_op(o, channels) for o in ops)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return cell_forward(x, lambda k, h: self.edges[k](h))


class ResNetBasicBlock(nn.Module):
    """NB201's reduction block: two ReLUConvBN 3×3 (first strided) + avgpool/1×1 shortcut.

    Args:
        c_in: Input channels.
        c_out: Output channels.
        stride: Stride of the first conv (2 in the macro network).
    """

    def __init__(self, c_in: int, c_out: int, *, stride: int = 2) -> None:
        super().__init__()
        self.conv_a = ReLUConvBN(c_in, c_out, 3, stride=stride, padding=1)
        self.conv_b = ReLUConvBN(c_out, c_out, 3, padding=1)
        if stride == 2:
            self.downsample: nn.Module = nn.Sequential(
                nn.AvgPool2d(kernel_size=2, stride=2, padding=0),
                nn.Conv2d(c_in, c_out, 1, bias=False),
            )
        elif c_in != c_out:
            self.downsample = ReLUConvBN(c_in, c_out, 1)
        else:
            self.downsample = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.downsample(x) + self.conv_b(self.conv_a(x))


class NB201Network(nn.Module):
    """The NB201 macro network around one cell genotype (or any cell factory).

    Args:
        cell_factory: Called with the channel count, returns a cell module.
        C: Channels of the first stage.
        N: Cells per stage.
        num_classes: Output classes.
        in_channels: Input image channels.
    """

    def __init__(
        self,
        cell_factory: object,
        *,
        C: int = 16,
        N: int = 5,
        num_classes: int = 10,
        in_channels: int = 3,
    ) -> None:
        super().__init__()
        if C < 1 or N < 1 or num_classes < 1 or in_channels < 1:
            raise ValueError("C, N, num_classes and in_channels must all be >= 1")
        self.C, self.N, self.num_classes = C, N, num_classes
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, C, 3, padding=1, bias=False), nn.BatchNorm2d(C)
        )
        layers: list[nn.Module] = []
        c = C
        for stage in range(3):
            if stage > 0:
                layers.append(ResNetBasicBlock(c, 2 * c, stride=2))
                c *= 2
            for _ in range(N):
                layers.append(cell_factory(c))  # type: ignore[operator]
        self.cells = nn.ModuleList(layers)
        self.lastact = nn.Sequential(nn.BatchNorm2d(c), nn.ReLU(inplace=False))
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c, num_classes)

    def blocks(self) -> list[nn.Module]:
        """The chain of blocks whose outputs are the network's stage-wise features.

        Proxies that look at how features evolve through depth (AZ-NAS) read the output
        of each block in order: the stem, then every cell and reduction block.
        """
        return [self.stem, *self.cells]

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Return the feature map just before global pooling."""
        x = self.stem(x)
        for cell in self.cells:
            x = cell(x)
        return self.lastact(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feat = self.features(x)
        return self.classifier(self.global_pooling(feat).flatten(1))


def build_nb201(
    ops: Sequence[str], *, C: int = 16, N: int = 5, num_classes: int = 10, in_channels: int = 3
) -> NB201Network:
    """Build the NB201 network for one genotype.

    Args:
        ops: Per-edge op names.
        C: First-stage channels.
        N: Cells per stage.
        num_classes: Output classes.
        in_channels: Input image channels.

    Returns:
        A freshly initialised network (PyTorch default initialisation).
    """
    ops = tuple(ops)
    for o in ops:
        if o not in NB201_OPS:
            raise ValueError(f"unknown NB201 op {o!r}; known: {list(NB201_OPS)}")
    return NB201Network(
        lambda c: NB201Cell(ops, c), C=C, N=N, num_classes=num_classes, in_channels=in_channels
    )
