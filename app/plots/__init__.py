"""Pure figure builders: pandas/numpy in, Plotly figure dicts out (no Dash, no I/O).

Figures are plain dicts (the Plotly JSON schema) rather than ``go.Figure`` objects: the
embedding carries 15,625 points and is rebuilt on every poll, and dicts skip validation.
The tests validate each one with ``plotly.graph_objects.Figure``.
"""

from __future__ import annotations

from app.plots.base import FONT, empty_figure
from app.plots.cell import (
    NODE_XY,
    OP_COLOUR,
    OP_SHORT,
    cell_figure,
    importance_colour,
    mask_edge,
    op_colour,
    op_label,
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
from app.plots.space import embedding_figure, pareto_figure

__all__ = [
    "FONT",
    "NODE_XY",
    "OP_COLOUR",
    "OP_SHORT",
    "attribution_figure",
    "cell_figure",
    "embedding_figure",
    "empty_figure",
    "heatmap_figure",
    "importance_colour",
    "mask_edge",
    "op_colour",
    "op_label",
    "pareto_figure",
    "progress_figure",
    "rank_scatter",
    "supernet_figure",
    "time_figure",
    "zico_layers_figure",
]
