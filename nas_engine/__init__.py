"""nasnav's engine: search spaces, data, ground truth, proxies, supernet and search.

The engine never imports Dash or Plotly, so it runs from the CLI, tests and notebooks.
"""

from __future__ import annotations

__version__ = "0.1.0"
