"""Zero-cost proxies behind a registry, the shared-work suite and the rank ensemble."""

from __future__ import annotations

from nas_engine.proxies import frontier as _frontier  # noqa: F401  (registers the proxies)
from nas_engine.proxies import zoo as _zoo  # noqa: F401  (registers the proxies)
from nas_engine.proxies.base import (
    ARTIFACTS,
    PROXIES,
    Proxy,
    ProxyContext,
    ProxyInputError,
    ProxyResult,
    UndefinedScore,
    create_proxy,
    list_proxies,
    proxy_class,
)
from nas_engine.proxies.suite import (
    AGGREGATIONS,
    DEFAULT_AGGREGATION,
    DEFAULT_ENSEMBLE,
    CellScores,
    ProxySuite,
    correlations,
    percentile_fitness,
    rank_ensemble,
    rank_higher_better,
    resolve_proxy_names,
)
from nas_engine.proxies.zoo import zico_layer_terms

__all__ = [
    "AGGREGATIONS",
    "ARTIFACTS",
    "DEFAULT_AGGREGATION",
    "DEFAULT_ENSEMBLE",
    "PROXIES",
    "CellScores",
    "Proxy",
    "ProxyContext",
    "ProxyInputError",
    "ProxyResult",
    "ProxySuite",
    "UndefinedScore",
    "correlations",
    "create_proxy",
    "list_proxies",
    "percentile_fitness",
    "proxy_class",
    "rank_ensemble",
    "rank_higher_better",
    "resolve_proxy_names",
    "zico_layer_terms",
]
