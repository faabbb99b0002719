"""Proxy cost on this machine: seconds per cell, alone and in the shared-work suite.

For each of ``--cells`` NB201 cells (seeded, C=16, N=5, CIFAR-10 images at batch 64) the
script scores every proxy once on its own (a fresh context each: no sharing) and once as
a :class:`ProxySuite` (shared passes), alternating which goes first to cancel drift. It
prints per-proxy medians, the suite's median, and the speed-up measured in this one run
(sum of the separate times / sum of the suite times).

It then times the default rank ensemble's suite against the previous default's
(ZiCo + NASWOT + synflow + #params), alternating on the same cells, and prints their
median seconds per cell and the ratio.

Last, ZiCo alone against the authors' maths (``tests.proxy_reference.zico_authors``: one
``backward`` per batch, gradients read from ``.grad``, float32 numpy statistics per
layer) on the same cells, network weights, images and threads, alternating which goes
first; both include building the network. It prints each one's median seconds per cell,
the ratio, and Spearman ρ between the two score vectors.

torch is first imported through ``nas_engine``, so its ``OMP_WAIT_POLICY=PASSIVE``
default holds, as for every user of the library. Results go to
``benchmarks/results/proxy_cost.json``; :func:`render` builds the README's tables from
that file alone.

    python benchmarks/proxy_cost.py --cells 20
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import markdown_table, shared_dir, write_result
from nas_engine.data import load_dataset
from nas_engine.proxies import (
    DEFAULT_ENSEMBLE,
    ProxyContext,
    ProxySuite,
    correlations,
    rank_higher_better,
)
from nas_engine.proxies.suite import torch_threads
from nas_engine.proxies.zoo import ZiCo
from nas_engine.search_spaces import create_space
from tests.proxy_reference import zico_authors


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", default=None)
    ap.add_argument("--cells", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--synthetic", action="store_true", help="use generated 32x32 data")
    args = ap.parse_args()
    torch_threads(args.threads)
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
    ens = ensemble_cost(space, data, archs, seed=args.seed)
    zico = zico_vs_authors(space, data, archs, seed=args.seed)
    result = {
        "renderer": "benchmarks.proxy_cost",
        "cells": args.cells,
        "threads": args.threads,
        "data": "synthetic" if args.synthetic else "cifar10_subset.npz",
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
        "alone_median_s": {n: statistics.median(v) for n, v in alone.items()},
        "suite_median_s": statistics.median(shared_total),
        "one_by_one_median_s": statistics.median(alone_total),
        "suite_speedup": sum(alone_total) / sum(shared_total),
        "ensemble": ens,
        "zico_vs_authors": zico,
    }
    print(render(result))
    print(f"wrote {write_result('proxy_cost', result)}")


#: The default ensemble before the frontier proxies (mean rank of these four).
PREVIOUS_ENSEMBLE = ("zico", "naswot", "synflow", "params")


def ensemble_cost(space: Any, data: Any, archs: list, *, seed: int) -> dict[str, Any]:
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
    return {
        **med,
        "ratio": med["default"] / med["previous"],
        "members": list(DEFAULT_ENSEMBLE),
        "previous_members": list(PREVIOUS_ENSEMBLE),
    }


def zico_vs_authors(space: Any, data: Any, archs: list, *, seed: int) -> dict[str, Any]:
    """ZiCo alone (our context, its passes and maths) against the authors' steps on the
    same network and batches, alternating which goes first on each cell."""

    def context(arch: Any) -> ProxyContext:
        return ProxyContext(space, arch, data=data, batch_size=64, seed=seed)

    def ours(arch: Any) -> float:
        return ZiCo().score(context(arch)).value

    def authors(arch: Any) -> float:
        ctx = context(arch)  # the same seeded weights and images
        score = zico_authors(ctx.fresh_model(), [ctx.batch(0), ctx.batch(1)])
        return score if score != 0.0 else math.nan  # no layer with spread: undefined

    runs = {"ours": ours, "authors": authors}
    for f in runs.values():
        f(archs[0])  # warm-up
    times: dict[str, list[float]] = {k: [] for k in runs}
    values: dict[str, list[float]] = {k: [] for k in runs}
    for i, arch in enumerate(archs):
        for k in list(runs) if i % 2 == 0 else list(runs)[::-1]:
            t0 = time.perf_counter()
            values[k].append(runs[k](arch))
            times[k].append(time.perf_counter() - t0)
    med = {k: statistics.median(v) for k, v in times.items()}
    ranks = {k: rank_higher_better(v) for k, v in values.items()}
    ours_v, auth_v = np.array(values["ours"]), np.array(values["authors"])
    both = np.isfinite(ours_v) & np.isfinite(auth_v)
    rel = np.abs(ours_v[both] - auth_v[both]) / np.abs(auth_v[both])
    return {
        "ours_median_s": med["ours"],
        "authors_median_s": med["authors"],
        "ratio": med["ours"] / med["authors"],
        "ratio_of_sums": sum(times["ours"]) / sum(times["authors"]),
        "spearman": correlations(ranks["ours"], ranks["authors"])["spearman"],
        "max_rel_diff": float(rel.max()) if rel.size else math.nan,
        "undefined": {k: int(np.sum(~np.isfinite(v))) for k, v in values.items()},
        "values": values,
    }


def render(result: dict[str, Any]) -> str:
    """The README's cost tables and their caption, from ``proxy_cost.json`` alone."""
    alone = sorted(result["alone_median_s"].items(), key=lambda kv: -kv[1])
    rows: list[list[object]] = [[n, s] for n, s in alone]
    rows.append(["sum of proxies run one by one", result["one_by_one_median_s"]])
    rows.append(["**ProxySuite (shared passes)**", f"**{result['suite_median_s']:.3f}**"])
    cost = markdown_table(["proxy", "median s/cell"], rows)
    z = result["zico_vs_authors"]
    zico = markdown_table(
        ["ZiCo alone, same cells, weights, images and threads", "median s/cell"],
        [
            ["ours (`ZiCo`: shared-context passes, one flat float64 vector)", z["ours_median_s"]],
            ["authors' maths (`tests/proxy_reference.py::zico_authors`)", z["authors_median_s"]],
            ["**ratio ours / authors'**", f"**{z['ratio']:.2f}**"],
            ["Spearman ρ between the two scores", z["spearman"]],
        ],
    )
    ens = result["ensemble"]
    n, th = result["cells"], result["threads"]
    caption = (
        f"One run, {n} NB201 cells (C=16, N=5, batch 64, {th} torch threads, "
        f"OMP_WAIT_POLICY={result.get('omp_wait_policy') or 'unset'}): the suite is "
        f"**{result['suite_speedup']:.2f}×** faster than the proxies one by one (sum over the "
        f"cells); the default ensemble ({' + '.join(ens['members'])}) costs "
        f"**{ens['default']:.3f} s/cell** against {ens['previous']:.3f} for the previous "
        f"default ({' + '.join(ens.get('previous_members', PREVIOUS_ENSEMBLE))}), a ratio of "
        f"**{ens['ratio']:.2f}**; ZiCo alone costs **{z['ratio']:.2f}×** the authors' maths "
        f"(ρ {z['spearman']:.3f}), both timed alternately on the same cells."
    )
    return f"{cost}\n\n{zico}\n\n{caption}\n"


if __name__ == "__main__":
    main()
