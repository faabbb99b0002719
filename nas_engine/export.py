"""Export one cell: a JSON spec and a standalone PyTorch source file."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from nas_engine.search_spaces import SearchSpace


def arch_spec(
    space: SearchSpace[Any],
    arch: Any,
    *,
    num_classes: int = 10,
    scores: Mapping[str, float] | None = None,
    extra: Mapping[str, Any] | None = None,
    **network: int | None,
) -> dict[str, Any]:
    """A JSON-ready description of a cell and its network.

    Args:
        space: The search space.
        arch: The cell (value or string).
        num_classes: Output classes.
        scores: Optional proxy scores to include.
        extra: Optional further fields (ground truth, one-shot estimate...).
        **network: Network size options (e.g. ``C``, ``N``); unset ones are the space's
            defaults for the proxy network.

    Returns:
        A dict with the arch string, its index, the op of every position and the
        network's size options.
    """
    a = space.from_string(arch) if isinstance(arch, str) else arch
    labels = space.graph().labels
    spec: dict[str, Any] = {
        "space": space.name,
        "arch": space.to_string(a),
        "index": space.index(a),
        "edges": [
            {
                "edge": e,
                "from": space.edges[e][0],
                "to": space.edges[e][1],
                "op": op,
            }
            for e, op in enumerate(space.ops_of(a))
        ],
        "positions": list(labels),
        "network": {**space.network_options("proxy", **network), "num_classes": num_classes},
    }
    if scores:
        spec["scores"] = {k: (None if v != v else float(v)) for k, v in scores.items()}
    if extra:
        spec.update(extra)
    json.dumps(spec)  # fail here, not in the caller, if something is not serialisable
    return spec


def module_source(
    space: SearchSpace[Any], arch: Any, *, num_classes: int = 10, **network: int | None
) -> str:
    """Python source of a standalone ``nn.Module`` for one cell (needs only torch).

    Args:
        space: The search space; it writes the file (:meth:`SearchSpace.module_source`).
        arch: The cell (value or string).
        num_classes: Output classes.
        **network: Network size options (unset: the space's proxy-network defaults).

    Returns:
        The source text.

    Raises:
        ValueError: The space has no source exporter.
    """
    a = space.from_string(arch) if isinstance(arch, str) else arch
    try:
        return space.module_source(
            a, num_classes=num_classes, **space.network_options("proxy", **network)
        )
    except NotImplementedError as exc:
        raise ValueError(str(exc)) from None
