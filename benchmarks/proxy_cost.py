"""Proxy cost on this machine: seconds per cell, alone and in the shared-work suite.

For each of ``--cells`` NB201 cells (seeded, C=16, N=5, CIFAR-10 images at batch 64) the
script scores every proxy once on its own (a fresh context each: no sharing) and once as
a :class:`ProxySuite` (shared passes), alternating which goes first to cancel drift. It
prints per-proxy medians, the suite's median, and the speed-up measured in this one run
(sum of the separate times / sum of the suite times).

It then times the default rank ensemble's suite against the previous default's
(ZiCo + NASWOT + synflow + #params), alternating on the same cells, and prints their
median seconds per cell and the ratio. Results go to ``benchmarks/results/proxy_cost.json``.

    python benchmarks/proxy_cost.py --cells 20
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import RESULTS, markdown_table, shared_dir
from nas_engine.data import load_dataset
from nas_engine.proxies import DEFAULT_ENSEMBLE, ProxySuite
from nas_engine.search_spaces import create_space


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", default=None)
    ap.add_argument("--cells", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--synthetic", action="store_true", help="use generated 32x32 data")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.synthetic:
        data = load_dataset("synthetic")
    else:
        data = load_dataset(f"npz:{shared_dir(args.shared) / 'cifar10_subset.npz'}")
    space = create_space("nb201")
    suite = ProxySuite(space, "all", data=data, batch_size=64, seed=args.seed)
    rng = np.random.default_rng(args.seed + 1)
    archs = [space.sample(rng) for _ in range(args.cells)]
    suite.score(archs[0])  # warm-up (allocator, thread pool)

    alone: dict[str, list[float]] = {n: [] for n in suite.names}
    shared_total, alone_total = [], []
    for i, arch in enumerate(archs):
        order = ("suite", "alone") if i % 2 == 0 else ("alone", "suite")
        for what in order:
            t0 = time.perf_counter()
            if what == "suite":
                suite.score(arch)
                shared_total.append(time.perf_counter() - t0)
            else:
                res = suite.score_separately(arch)
                alone_total.append(time.perf_counter() - t0)
                for n, r in res.results.items():
                    alone[n].append(r.seconds)
    rows = [
        [n, statistics.median(v)]
        for n, v in sorted(alone.items(), key=lambda kv: -statistics.median(kv[1]))
    ]
    rows.append(["sum of proxies run one by one", statistics.median(alone_total)])
    rows.append(["ProxySuite (shared passes)", statistics.median(shared_total)])
    print(f"\n### Cost: {args.cells} NB201 cells, C=16 N=5, batch 64, {args.threads} threads\n")
    print(markdown_table(["proxy", "median s/cell"], rows))
    speedup = sum(alone_total) / sum(shared_total)
    print(
        f"\nspeed-up of the suite over one-by-one (sum over the {args.cells} cells, one run): "
        f"{speedup:.2f}x"
    )
    ens = ensemble_cost(space, data, archs, seed=args.seed)
    print(
        f"\ndefault ensemble {'+'.join(DEFAULT_ENSEMBLE)}: {ens['default']:.3f} s/cell; "
        f"previous {'+'.join(PREVIOUS_ENSEMBLE)}: {ens['previous']:.3f} s/cell; "
        f"ratio {ens['ratio']:.2f} (medians over {args.cells} cells, one run)"
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "proxy_cost.json").write_text(
        json.dumps(
            {
                "cells": args.cells,
                "threads": args.threads,
                "alone_median_s": {n: statistics.median(v) for n, v in alone.items()},
                "suite_median_s": statistics.median(shared_total),
                "one_by_one_median_s": statistics.median(alone_total),
                "suite_speedup": speedup,
                "ensemble": ens,
            },
            indent=2,
        )
    )


#: The default ensemble before the frontier proxies (mean rank of these four).
PREVIOUS_ENSEMBLE = ("zico", "naswot", "synflow", "params")


def ensemble_cost(space: object, data: object, archs: list, *, seed: int) -> dict:
    """Median s/cell of the default and the previous ensemble's suites, alternating."""
    suites = {
        "default": ProxySuite(space, list(DEFAULT_ENSEMBLE), data=data, batch_size=64, seed=seed),
        "previous": ProxySuite(
            space, list(PREVIOUS_ENSEMBLE), data=data, batch_size=64, seed=seed
        ),
    }
    times: dict[str, list[float]] = {k: [] for k in suites}
    for s in suites.values():
        s.score(archs[0])  # warm-up
    for i, arch in enumerate(archs):
        order = list(suites) if i % 2 == 0 else list(suites)[::-1]
        for k in order:
            t0 = time.perf_counter()
            suites[k].score(arch)
            times[k].append(time.perf_counter() - t0)
    med = {k: statistics.median(v) for k, v in times.items()}
    return {**med, "ratio": med["default"] / med["previous"], "members": list(DEFAULT_ENSEMBLE)}


if __name__ == "__main__":
    main()
