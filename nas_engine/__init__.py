"""nasnav's engine: search spaces, data, ground truth, proxies, supernet and search.

The engine never imports Dash or Plotly, so it runs from the CLI, tests and notebooks.

Importing it sets ``OMP_WAIT_POLICY=PASSIVE`` unless the variable is already set (it only
takes effect if torch is imported afterwards). The engine shares a small CPU with a UI
thread and other processes; under that contention OpenMP's default spin-waiting made
scoring small cells several times slower (``benchmarks/omp_wait_policy.py``).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
