"""Pure figure builders: pandas/numpy in, Plotly figure dicts out (no Dash, no I/O).

Figures are plain dicts (the Plotly JSON schema) rather than ``go.Figure`` objects: the
embedding carries every cell of the space (thousands of points) and is rebuilt on every
poll, and dicts skip validation.
The tests validate each one with ``plotly.graph_objects.Figure``.
"""

from __future__ import annotations

from app.plots.base import FONT, empty_figure
from app.plots.cell import (
    PALETTE,
    cell_figure,
    importance_colour,
    mask_edge,
    node_layout,
    op_colour,
)
from app.plots.charts import (
    attribution_figure,
    heatmap_figure,
    progress_figure,
    rank_scatter,
    supernet_figure,
    time_figure,
    zico_layers_figure,
)
from app.plots.space import EVALUATED_TRACE, embedding_figure, pareto_figure

__all__ = [
    "EVALUATED_TRACE",
    "FONT",
    "PALETTE",
    "attribution_figure",
    "cell_figure",
    "embedding_figure",
    "empty_figure",
    "heatmap_figure",
    "importance_colour",
    "mask_edge",
    "node_layout",
    "op_colour",
    "pareto_figure",
    "progress_figure",
    "rank_scatter",
    "supernet_figure",
    "time_figure",
    "zico_layers_figure",
]
