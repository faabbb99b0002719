"""Export one cell: a JSON spec and a standalone PyTorch source file."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from nas_engine.search_spaces import SearchSpace

#: What each figure of a spec is, and on which network.
ABOUT = {
    "oneshot": "the supernet's one-shot accuracy estimate (%), with weights shared",
    "trained_acc": "test accuracy (%) of `network` trained from scratch",
    "truth": "the benchmark's ground-truth accuracy (%) of the cell",
}


def _about(spec: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, str]:
    """Which network each figure of ``spec`` is for, in words."""

    def size(net: Mapping[str, Any]) -> str:
        return ", ".join(f"{k} {v}" for k, v in net.items() if k != "num_classes")

    about = {"network": f"the network this file describes ({size(spec['network'])})"}
    if "scores" in spec:
        where = "scores_network" if "scores_network" in spec else "network"
        about["scores"] = (
            f"zero-cost proxy scores computed on `{where}` ({size(spec[where])}); params and "
            "flops in millions, of that network"
        )
    about.update({k: ABOUT[k] for k in extra if k in ABOUT})
    return about


def arch_spec(
    space: SearchSpace[Any],
    arch: Any,
    *,
    num_classes: int = 10,
    scores: Mapping[str, float] | None = None,
    extra: Mapping[str, Any] | None = None,
    scores_network: Mapping[str, int] | None = None,
    **network: int | None,
) -> dict[str, Any]:
    """A JSON-ready description of a cell and its network.

    Each figure says which network it is for: ``network`` is the one this spec describes,
    ``scores_network`` the one the proxy scores (``params`` and ``flops`` among them) were
    computed on, when it is given; ``about`` says so in words.

    Args:
        space: The search space.
        arch: The cell (value or string).
        num_classes: Output classes.
        scores: Optional proxy scores to include.
        extra: Optional further fields (ground truth, one-shot estimate...).
        scores_network: Size options of the network the scores were computed on (the
            run's proxy network), when it is not this one.
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
        if scores_network is not None:
            spec["scores_network"] = {**scores_network, "num_classes": num_classes}
    if extra:
        spec.update(extra)
    if scores or extra:
        spec["about"] = _about(spec, extra or {})
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
