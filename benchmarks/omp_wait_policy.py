"""Per-cell proxy time under CPU contention, by OpenMP wait policy.

Run it while another process keeps both cores busy (e.g. any other benchmark). Compare
OpenMP's default with ``PASSIVE`` (what importing ``nas_engine`` sets when unset; this
script imports torch first, so the variable it starts with is the one in force):

    env -u OMP_WAIT_POLICY python benchmarks/omp_wait_policy.py
    OMP_WAIT_POLICY=PASSIVE python benchmarks/omp_wait_policy.py
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

POLICY = os.environ.get("OMP_WAIT_POLICY", "unset (OpenMP default)")  # before torch loads
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import torch

from nas_engine.data import load_dataset
from nas_engine.proxies import ProxySuite
from nas_engine.search_spaces import create_space


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cells", type=int, default=12)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    space = create_space("nb201")
    suite = ProxySuite(
        space, ["zico", "naswot", "synflow", "params", "flops"], data=load_dataset("synthetic"),
        batch_size=8, seed=0, build_kwargs={"C": 4, "N": 1},
    )  # fmt: skip
    rng = np.random.default_rng(0)
    secs = []
    for _ in range(args.cells):
        arch = space.sample(rng)
        t = time.perf_counter()
        suite.score(arch)
        secs.append(time.perf_counter() - t)
    print(f"OMP_WAIT_POLICY={POLICY}, {args.threads} threads: median {statistics.median(secs):.3f}"
          f" s/cell, max {max(secs):.3f} s over {args.cells} tiny cells")  # fmt: skip


if __name__ == "__main__":
    main()
