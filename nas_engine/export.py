"""Export one cell: a JSON spec and a standalone PyTorch source file."""

from __future__ import annotations

import inspect
import json
from collections.abc import Mapping
from typing import Any

from nas_engine.search_spaces import SearchSpace


def arch_spec(
    space: SearchSpace[Any],
    arch: Any,
    *,
    C: int = 16,
    N: int = 5,
    num_classes: int = 10,
    scores: Mapping[str, float] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A JSON-ready description of a cell and its macro network.

    Args:
        space: The search space.
        arch: The cell (value or string).
        C: First-stage channels.
        N: Cells per stage.
        num_classes: Output classes.
        scores: Optional proxy scores to include.
        extra: Optional further fields (ground truth, one-shot estimate...).

    Returns:
        A dict with the arch string, its index, the op of every edge and the network's
        hyper-parameters.
    """
    a = space.from_string(arch) if isinstance(arch, str) else arch
    edges = getattr(space, "edges", None)
    ops = space.ops_of(a)
    spec: dict[str, Any] = {
        "space": space.name,
        "arch": space.to_string(a),
        "index": space.index(a),
        "edges": [
            {
                "edge": e,
                "from": edges[e][0] if edges else None,
                "to": edges[e][1] if edges else None,
                "op": op,
            }
            for e, op in enumerate(ops)
        ],
        "network": {"C": C, "N": N, "num_classes": num_classes},
    }
    if scores:
        spec["scores"] = {k: (None if v != v else float(v)) for k, v in scores.items()}
    if extra:
        spec.update(extra)
    json.dumps(spec)  # fail here, not in the caller, if something is not serialisable
    return spec


def module_source(
    space: SearchSpace[Any], arch: Any, *, C: int = 16, N: int = 5, num_classes: int = 10
) -> str:
    """Python source of a standalone ``nn.Module`` for one cell (needs only torch).

    The file carries the NB201 building blocks and a ``build_model()`` whose state-dict
    keys match nasnav's own builder, so weights move between the two.

    Args:
        space: The search space (NB201).
        arch: The cell (value or string).
        C: First-stage channels (default for ``build_model``).
        N: Cells per stage.
        num_classes: Output classes.

    Returns:
        The source text.

    Raises:
        ValueError: The space has no source exporter.
    """
    if space.name != "nb201":
        raise ValueError(f"no PyTorch source export for space {space.name!r} yet")
    from nas_engine.search_spaces import nb201_model

    a = space.from_string(arch) if isinstance(arch, str) else arch
    s = space.to_string(a)
    body = inspect.getsource(nb201_model)
    tail = f'''

# ----------------------------------------------------------------- the exported cell
ARCH = {s!r}
OPS = {tuple(space.ops_of(a))!r}


def build_model(
    *, C: int = {C}, N: int = {N}, num_classes: int = {num_classes}, in_channels: int = 3
) -> NB201Network:
    """The NB201 network of ``ARCH``."""
    return build_nb201(OPS, C=C, N=N, num_classes=num_classes, in_channels=in_channels)


if __name__ == "__main__":
    model = build_model()
    n = sum(p.numel() for p in model.parameters())
    print(ARCH)
    print(f"{{n:,}} parameters;", tuple(model(torch.randn(2, 3, 32, 32)).shape))
'''
    head = f"# Standalone PyTorch model exported by nasnav.\n# Cell: {s}\n# Needs only torch.\n"
    return head + body + tail
