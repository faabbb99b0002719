"""NAS-Bench-Macro: a chain of 8 layers, 3 choices each, 6,561 architectures."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from nas_engine.search_spaces.base import SPACES, SearchSpace, standalone_source
from nas_engine.search_spaces.macro_model import (
    HEAD_PER_STEM,
    MACRO_OPS,
    MACRO_STAGES,
    MacroNetwork,
    MacroSupernet,
    build_macro,
    layer_plan,
)

_LAYERS = sum(MACRO_STAGES)


@dataclass(frozen=True, order=True)
class MacroArch:
    """One NAS-Bench-Macro architecture: the benchmark's code, one digit per layer.

    Digit ``d`` of the code is ``MACRO_OPS[d]`` at that layer (``0`` identity, ``1``
    inverted residual k3 e3, ``2`` inverted residual k5 e6).

    Args:
        code: Eight characters from ``012``, e.g. ``"22212220"``.
    """

    code: str

    def __post_init__(self) -> None:
        if not isinstance(self.code, str):
            raise ValueError(f"expected a macro code string, got {type(self.code).__name__}")
        if len(self.code) != _LAYERS or any(c not in "012" for c in self.code):
            raise ValueError(
                f"bad macro architecture {self.code!r}: expected {_LAYERS} digits from 012 "
                "(one per layer: 0 identity, 1 IR k3 e3, 2 IR k5 e6), e.g. 22212220"
            )

    @property
    def ops(self) -> tuple[str, ...]:
        """The op of every layer."""
        return tuple(MACRO_OPS[int(c)] for c in self.code)

    def __str__(self) -> str:
        return self.code


@SPACES.register("macro")
class MacroSpace(SearchSpace[MacroArch]):
    """The NAS-Bench-Macro chain space (Su et al., CVPR'21), MobileNetV2 blocks on CIFAR.

    Positions are the 8 layers; position ``k`` joins node ``k`` to node ``k + 1``.

    Args:
        C: Default stem channels for :meth:`build` (the benchmark's 32).
    """

    name = "macro"
    ops = MACRO_OPS
    edges = tuple((k, k + 1) for k in range(_LAYERS))
    kind = "chain"
    op_short: ClassVar[Mapping[str, str]] = {"id": "id", "ir_k3_e3": "k3e3", "ir_k5_e6": "k5e6"}
    network_defaults: ClassVar[Mapping[str, Mapping[str, int]]] = {
        "proxy": {"C": 32},
        "supernet": {"C": 16},
        "train": {"C": 16},
    }
    summary = "NAS-Bench-Macro: 8 MobileNetV2 layers in 3 stages (2/3/3), 3 choices each"

    def __init__(self, *, C: int = 32) -> None:
        self.C = C

    def position_label(self, position: int) -> str:
        return f"L{position + 1}"

    def position_note(self, position: int) -> str:
        c_in, c_out, stride = layer_plan(self.C)[position]
        return f"stride {stride}, {c_in}→{c_out}" if stride != 1 else f"{c_out} ch"

    def from_string(self, text: str) -> MacroArch:
        if not isinstance(text, str):
            raise ValueError(f"expected an arch string, got {type(text).__name__}")
        return MacroArch(text.strip())

    def to_string(self, arch: MacroArch) -> str:
        return arch.code

    def ops_of(self, arch: MacroArch) -> tuple[str, ...]:
        return arch.ops

    def from_ops(self, ops: Sequence[str]) -> MacroArch:
        ops = tuple(ops)
        bad = [o for o in ops if o not in MACRO_OPS]
        if bad:
            raise ValueError(f"unknown macro op {bad[0]!r}; known: {list(MACRO_OPS)}")
        return MacroArch("".join(str(MACRO_OPS.index(o)) for o in ops))

    def build(
        self,
        arch: MacroArch,
        *,
        num_classes: int,
        in_channels: int = 3,
        C: int | None = None,
        **kwargs: Any,
    ) -> MacroNetwork:
        """Build the macro network of ``arch`` (stem ``C``, head ``40·C``).

        Raises:
            TypeError: An option the macro space does not have (it has no ``N``).
        """
        if kwargs:
            raise TypeError(f"unexpected build options for the macro space: {sorted(kwargs)}")
        return build_macro(
            arch.ops, C=self.C if C is None else C, num_classes=num_classes,
            in_channels=in_channels,
        )  # fmt: skip

    def build_supernet(
        self, *, num_classes: int, in_channels: int = 3, C: int | None = None, **kwargs: Any
    ) -> MacroSupernet:
        if kwargs:
            raise TypeError(f"unexpected supernet options for the macro space: {sorted(kwargs)}")
        opts = self.network_options("supernet", C=C)
        return MacroSupernet(num_classes=num_classes, in_channels=in_channels, **opts)

    def module_source(
        self, arch: MacroArch, *, num_classes: int = 10, C: int | None = None, **kwargs: Any
    ) -> str:
        if kwargs:
            raise TypeError(f"unexpected export options for the macro space: {sorted(kwargs)}")
        C = self.network_options("proxy", C=C)["C"]
        from nas_engine.search_spaces import macro_model

        a = self.from_string(arch) if isinstance(arch, str) else arch
        build = f'''
def build_model(*, C: int = {C}, num_classes: int = {num_classes}, in_channels: int = 3):
    """The NAS-Bench-Macro network of ``ARCH`` (stem C, head {HEAD_PER_STEM}·C)."""
    return build_macro(OPS, C=C, num_classes=num_classes, in_channels=in_channels)
'''
        return standalone_source(
            macro_model, title=f"NAS-Bench-Macro {a.code}", arch=a.code, ops=a.ops, build=build
        )
