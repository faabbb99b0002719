"""The weight-sharing NB201 supernet: every edge holds all five ops (SPOS, ECCV'20)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from nas_engine.search_spaces.nb201_model import (
    NB201_EDGES,
    NB201_OPS,
    NB201Network,
    build_nb201,
    cell_forward,
    make_op,
)


class MixedEdge(nn.Module):
    """All candidate ops of one edge; ``forward(x, op)`` runs one of them."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.ops = nn.ModuleDict({o: make_op(o, channels) for o in NB201_OPS})

    def forward(self, x: torch.Tensor, op: str) -> torch.Tensor:
        return self.ops[op](x)


class SuperCell(nn.Module):
    """An NB201 cell whose edges are :class:`MixedEdge` modules."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.edges = nn.ModuleList(MixedEdge(channels) for _ in NB201_EDGES)

    def forward(self, x: torch.Tensor, path: Sequence[str]) -> torch.Tensor:
        """Run the cell with op ``path[k]`` on edge ``k``."""
        return cell_forward(x, lambda k, h: self.edges[k](h, path[k]))


class NB201Supernet(NB201Network):
    """The NB201 macro network with a shared :class:`SuperCell` genotype in every cell.

    The skeleton (stem, stages, reduction blocks, head) is :class:`NB201Network`'s, built
    in the same order, so parameter names and seeded initial weights are unchanged.

    Args:
        C: First-stage channels.
        N: Cells per stage.
        num_classes: Output classes.
        in_channels: Input channels.
    """

    def __init__(self, *, C: int = 8, N: int = 1, num_classes: int = 10, in_channels: int = 3):
        super().__init__(SuperCell, C=C, N=N, num_classes=num_classes, in_channels=in_channels)

    def features(self, x: torch.Tensor, path: Sequence[str]) -> torch.Tensor:  # type: ignore[override]
        """Return the feature map just before global pooling, running ``path``."""
        x = self.stem(x)
        for cell in self.cells:
            x = cell(x, path) if isinstance(cell, SuperCell) else cell(x)
        return self.lastact(x)

    def forward(self, x: torch.Tensor, path: Sequence[str]) -> torch.Tensor:  # type: ignore[override]
        """Logits of the subnet that runs op ``path[k]`` on edge ``k`` of every cell."""
        # pooled with ``mean`` (not the parent's AdaptiveAvgPool2d), as it always was
        return self.classifier(self.features(x, path).mean((2, 3)))

    def subnet(self, path: Sequence[str]) -> NB201Network:
        """The standalone network of ``path`` with the weights it inherits (a copy).

        Its output equals ``self(x, path)`` in both modes, so a one-shot estimate can be
        checked against, or exported as, an ordinary network.
        """
        path = tuple(path)
        if len(path) != len(NB201_EDGES):
            raise ValueError(f"a path needs {len(NB201_EDGES)} ops, got {len(path)}")
        net = build_nb201(
            path,
            C=self.C,
            N=self.N,
            num_classes=self.num_classes,
            in_channels=self.stem[0].in_channels,
        )
        state = {}
        for key, value in self.state_dict().items():
            parts = key.split(".")
            # cells.<i>.edges.<k>.ops.<op>.<rest> -> cells.<i>.edges.<k>.<rest>
            if len(parts) > 6 and parts[0] == "cells" and parts[4] == "ops":
                if parts[5] != path[int(parts[3])]:
                    continue  # another candidate op of this edge
                key = ".".join(parts[:4] + parts[6:])
            state[key] = value.clone()
        net.load_state_dict(state)
        return net
