"""Per-cell proxy time under CPU contention, by OpenMP wait policy.

Run it while another process keeps both cores busy (e.g. any other benchmark). It
compares OpenMP's default with ``PASSIVE`` (what importing ``nas_engine`` sets when unset):
``--runs`` child processes per policy, alternating, each scoring the same tiny cells with
torch loaded *before* ``nas_engine`` so that the policy it starts with is the one in
force. Results: ``benchmarks/results/omp_wait_policy.json``.

    python benchmarks/omp_wait_policy.py --runs 4      # while another benchmark runs
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

POLICY = os.environ.get("OMP_WAIT_POLICY", "unset (OpenMP default)")  # before torch loads
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import torch

from nas_engine.data import load_dataset
from nas_engine.proxies import ProxySuite
from nas_engine.search_spaces import create_space

POLICIES = {"OpenMP default": None, "PASSIVE": "PASSIVE"}


def child(args: argparse.Namespace) -> None:
    """Score the cells in this process; print one JSON line of per-cell seconds."""
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
    print(json.dumps({"policy": POLICY, "seconds": secs}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cells", type=int, default=12)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=4, help="child processes per policy")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args)
        return
    from benchmarks._common import write_result

    runs: dict[str, list[list[float]]] = {k: [] for k in POLICIES}
    loads = []
    for _ in range(args.runs):
        for label, value in POLICIES.items():  # alternating, so drift hits both alike
            env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
            if value is not None:
                env["OMP_WAIT_POLICY"] = value
            cmd = [sys.executable, __file__, "--child", "--cells", str(args.cells),
                   "--threads", str(args.threads)]  # fmt: skip
            out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
            runs[label].append(json.loads(out.stdout.strip().splitlines()[-1])["seconds"])
            loads.append(os.getloadavg()[0])
            print(f"{label}: median {statistics.median(runs[label][-1]):.3f} s/cell", flush=True)
    result = {"cells": args.cells, "threads": args.threads, "runs": runs,
              "load_range": [min(loads), max(loads)]}  # fmt: skip
    write_result("omp_wait_policy", result)
    print(render(result))


def render(result: dict[str, Any]) -> str:
    """The README's table, from ``omp_wait_policy.json`` alone."""
    from benchmarks._common import markdown_table

    rows = []
    for label, runs in result["runs"].items():
        medians = ", ".join(f"{statistics.median(r):.3f}" for r in runs)
        rows.append([label, medians, f"{max(max(r) for r in runs):.2f} s"])
    n = len(next(iter(result["runs"].values())))
    lo, hi = result["load_range"]
    return (
        markdown_table(
            [f"policy ({n} alternating runs each)", "median s/cell per run", "worst cell"], rows
        )
        + f"\n\n{result['cells']} tiny NB201 cells per run (C=4, N=1, batch 8, synthetic "
        f"data, {result['threads']} torch threads), 1-minute load average {lo:.1f}–{hi:.1f} "
        "while the runs went on."
    )


if __name__ == "__main__":
    main()
