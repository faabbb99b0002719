"""Tiny, fast search configurations shared by the engine tests."""

from __future__ import annotations

import dataclasses
from typing import Any

from nas_engine.proxies import ProxyContext
from nas_engine.runner import SearchConfig
from nas_engine.search_spaces import OpMask
from nas_engine.steering import SteeringEvent

TINY = {
    "dataset": "synthetic",
    "proxies": ("params", "naswot"),
    "proxy": "zico",
    "proxy_C": 4,
    "proxy_N": 1,
    "proxy_batch_size": 8,
    "supernet_C": 4,
    "supernet_N": 1,
    "supernet_batch_size": 16,
    "supernet_warmup": 0,
    "steps_per_candidate": 2,
    "population_size": 4,
    "sample_size": 2,
    "train_C": 4,
    "train_N": 1,
    "train_epochs": 1,
}


class FixedSpace:
    """A duck-typed 'space' whose build returns a given module (for hand-checked nets)."""

    def __init__(self, factory: Any) -> None:
        self.factory = factory

    def build(self, arch: Any, **_kw: Any) -> Any:
        return self.factory()


def fixed_context(factory: Any, data: Any = None, **kw: Any) -> ProxyContext:
    """A scoring context for the network ``factory()`` builds (hand-checked proxy tests)."""
    return ProxyContext(FixedSpace(factory), None, data=data, **kw)  # type: ignore[arg-type]


def tiny_config(**kw: Any) -> SearchConfig:
    return SearchConfig(**{**TINY, **kw})


def tiny_overrides(**kw: Any) -> list[str]:
    """``--set`` arguments for the CLI equivalent of :func:`tiny_config`."""
    cfg = {**TINY, **kw}
    cfg.pop("dataset")
    out = []
    for k, v in cfg.items():
        v = ",".join(v) if isinstance(v, tuple) else v
        out += ["--set", f"{k}={v}"]
    return out


def mask_at(version: int, initial: OpMask, events: list[SteeringEvent]) -> OpMask:
    """The mask in force at ``version`` (0 = initial, v = after the v-th event)."""
    if version == 0:
        return initial
    (ev,) = [e for e in events if e.mask_version == version]
    return ev.mask_after


__all__ = [
    "TINY",
    "FixedSpace",
    "dataclasses",
    "fixed_context",
    "mask_at",
    "tiny_config",
    "tiny_overrides",
]
