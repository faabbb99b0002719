"""The data behind every view, computed apart from figure building (no Dash, no Plotly).

``frame`` turns a snapshot into a candidates frame and holds the metric helpers; ``views``
has one pure data function per view. With the controller, this package is the only part
of ``app/`` that imports the engine.
"""

from __future__ import annotations

from app.viewmodel.budget import (
    COSTS,
    ParetoData,
    best_in_budget_text,
    pareto_data,
    pareto_front,
)
from app.viewmodel.frame import (
    EXTRA_METRICS,
    TRUTH_METRICS,
    all_metric_names,
    allowed_indices,
    candidates_frame,
    chip_importance,
    colour_values,
    correlation_matrix,
    higher_is_better,
    in_budget,
    metric_label,
    metric_options,
    metric_values,
    proxy_catalogue,
    proxy_names,
    score_percentiles,
    strategy_catalogue,
    topk_overlap,
)
from app.viewmodel.views import (
    ChipView,
    ComparisonData,
    EdgeView,
    EmbeddingData,
    GraphData,
    InspectorData,
    ProgressData,
    best_rows,
    comparison_data,
    embedding_data,
    export_scores,
    graph_data,
    inspector_data,
    progress_data,
    space_colour_options,
)

__all__ = [
    "COSTS",
    "EXTRA_METRICS",
    "TRUTH_METRICS",
    "ChipView",
    "ComparisonData",
    "EdgeView",
    "EmbeddingData",
    "GraphData",
    "InspectorData",
    "ParetoData",
    "ProgressData",
    "all_metric_names",
    "allowed_indices",
    "best_in_budget_text",
    "best_rows",
    "candidates_frame",
    "chip_importance",
    "colour_values",
    "comparison_data",
    "correlation_matrix",
    "embedding_data",
    "export_scores",
    "graph_data",
    "higher_is_better",
    "in_budget",
    "inspector_data",
    "metric_label",
    "metric_options",
    "metric_values",
    "pareto_data",
    "pareto_front",
    "progress_data",
    "proxy_catalogue",
    "proxy_names",
    "score_percentiles",
    "space_colour_options",
    "strategy_catalogue",
    "topk_overlap",
]
