"""Proxy fidelity on NAS-Bench-Macro: every proxy and the ensemble against ground truth.

Population: ``--n`` distinct macro architectures sampled uniformly with ``--seed`` (the
cells ``nasnav score --space macro --sample N --seed S`` scores). Images come from
``cifar10_subset.npz``; the networks are the benchmark's own (stem 32, head 1280, batch
64); truth is ``mean_acc`` of ``nas_bench_macro_cifar10.csv`` (three trainings each).

Scoring is resumable and can be split across processes: ``--part K/P`` scores only every
P-th cell starting at K into its own file (skipping cells any other file of the run holds)
and exits; a run without ``--part`` scores what is left and writes the report from all
the files.

    python benchmarks/macro_fidelity.py --n 500 --part 0/2 &
    python benchmarks/macro_fidelity.py --n 500 --part 1/2 &
    wait; python benchmarks/macro_fidelity.py --n 500

It writes ``benchmarks/results/macro_fidelity.{json,md}``; :func:`render` turns the JSON
into the README's table (``python benchmarks/render_readme.py``).
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import (
    REPO,
    bootstrap_ci,
    markdown_table,
    run_stamp,
    sample_cells,
    shared_dir,
    write_result,
)
from nas_engine.benchmarks import load_ground_truth
from nas_engine.data import load_dataset
from nas_engine.proxies import DEFAULT_ENSEMBLE, ProxySuite, correlations, rank_ensemble
from nas_engine.proxies.io import read_scores, score_to_csv
from nas_engine.proxies.suite import DEFAULT_AGGREGATION
from nas_engine.search_spaces import create_space

#: Spearman ρ of the two cost measures with mean accuracy on all 6,561 cells, as the
#: shared data's README gives them: a reference, not our measurement.
REFERENCE = {"flops": 0.75, "params": 0.32}
SCORES = REPO / "data" / "bench"


def read_rows(path: Path) -> dict[str, dict[str, float]]:
    """Every complete row of a score file: arch → {column: value}, seconds included."""
    archs, _ = read_scores(path)  # validates the file and drops torn rows
    keep = set(archs)
    with path.open(newline="") as f:
        return {
            r["arch"]: {k: float(v) if v not in ("", None) else np.nan
                        for k, v in r.items() if k not in ("arch", "notes")}
            for r in csv.DictReader(f) if r["arch"] in keep
        }  # fmt: skip


def parse_part(text: str | None) -> tuple[int, int] | None:
    """``"K/P"`` → ``(K, P)``; ``None`` stays ``None``."""
    if text is None:
        return None
    k, _, p = text.partition("/")
    part = (int(k), int(p))
    if not 0 <= part[0] < part[1]:
        raise SystemExit(f"--part must be K/P with 0 <= K < P, got {text!r}")
    return part


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", default=None, help="folder with the shared data")
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--part", default=None, help="K/P: score only this share, then exit")
    ap.add_argument("--out", default="macro_fidelity", help="result name in benchmarks/results")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    shared = shared_dir(args.shared)
    part = parse_part(args.part)

    space = create_space("macro")
    population = sample_cells(space, args.n, args.seed)
    data = load_dataset(f"npz:{shared / 'cifar10_subset.npz'}")
    suite = ProxySuite(space, "all", data=data, batch_size=args.batch_size, seed=args.seed)
    SCORES.mkdir(parents=True, exist_ok=True)
    stem = f"macro_scores_seed{args.seed}_b{args.batch_size}"
    t0, done = time.perf_counter(), [0]

    def tick(_cs: object) -> None:
        done[0] += 1
        if done[0] % 10 == 0:
            rate = (time.perf_counter() - t0) / done[0]
            print(f"  {done[0]} new cells scored, {rate:.2f} s/cell", flush=True)

    done_elsewhere: set[str] = set()
    for f in sorted(SCORES.glob(f"{stem}*.csv")):
        if part is None or f.name != f"{stem}.part{part[0]}of{part[1]}.csv":
            done_elsewhere |= set(read_rows(f))
    if part is not None:
        k, p = part
        mine = [a for a in population[k::p] if a not in done_elsewhere]
        out = SCORES / f"{stem}.part{k}of{p}.csv"
        new, skipped = score_to_csv(suite, mine, out, resume=True, on_cell=tick)
        print(f"part {k}/{p}: scored {new} new cells ({skipped} already in {out})")
        return

    have: dict[str, dict[str, float]] = {}
    for f in sorted(SCORES.glob(f"{stem}*.csv")):
        have.update(read_rows(f))
    rest = [a for a in population if a not in have]
    if rest:
        out = SCORES / f"{stem}.csv"
        new, _ = score_to_csv(suite, rest, out, resume=True, on_cell=tick)
        print(f"scored {new} remaining cells into {out}")
        have.update(read_rows(out))

    gt = load_ground_truth(f"csv:{shared / 'nas_bench_macro_cifar10.csv'}:mean_acc")
    truth = np.array([gt.lookup(a) for a in population], dtype=float)
    names = [n for n in suite.names if not n.endswith("_seconds")]
    table = {n: np.array([have[a][n] for a in population], dtype=float) for n in names}
    secs = {
        n: float(np.median([have[a].get(f"{n}_seconds", np.nan) for a in population]))
        for n in names
    }
    rows, report = [], {}
    for name in names:
        c = correlations(table[name], truth)
        lo, hi = bootstrap_ci(table[name], truth, seed=args.seed)
        undefined = int(np.isnan(table[name]).sum())
        report[name] = {**c, "ci95": [lo, hi], "undefined": undefined,
                        "median_seconds": secs[name], "ref": REFERENCE.get(name)}  # fmt: skip
        rows.append([name, c["spearman"], f"{lo:.3f}–{hi:.3f}", c["kendall"],
                     c["top_precision"], undefined, secs[name]])  # fmt: skip
    label = f"ensemble ({'+'.join(DEFAULT_ENSEMBLE)}, {DEFAULT_AGGREGATION})"
    ens = rank_ensemble(table, DEFAULT_ENSEMBLE, aggregation=DEFAULT_AGGREGATION)
    c = correlations(ens, truth)
    lo, hi = bootstrap_ci(ens, truth, seed=args.seed)
    report[label] = {**c, "ci95": [lo, hi], "undefined": 0, "median_seconds": None,
                     "members": list(DEFAULT_ENSEMBLE)}  # fmt: skip
    rows.append([label, c["spearman"], f"{lo:.3f}–{hi:.3f}", c["kendall"], c["top_precision"],
                 0, float("nan")])  # fmt: skip
    rows.sort(key=lambda r: -r[1] if r[1] == r[1] else 1.0)
    stamp = run_stamp()
    title = (
        f"### Proxy fidelity on NAS-Bench-Macro: {len(population)} uniform architectures "
        f"(seed {args.seed}), CIFAR-10 subset, batch {args.batch_size}, benchmark network "
        "(stem 32, head 1280)"
    )
    header = ["proxy", "Spearman ρ", "95 % CI", "Kendall τ", "top-10 % prec.", "undefined",
              "median s/cell"]  # fmt: skip
    md = "\n".join([
        title, "",
        markdown_table(header, rows), "",
        "Truth: `mean_acc` of `nas_bench_macro_cifar10.csv`. CI: percentile bootstrap over "
        "the cells, 1,000 resamples. Reference from the shared data's README (all 6,561 "
        f"cells): FLOPs {REFERENCE['flops']}, #params {REFERENCE['params']}. Seconds: the "
        "suite shares passes, and charges each to the first proxy that needs it (the "
        "gradient pass to fisher, AZ-NAS's pass to az_expressivity), so the proxies that "
        "read a shared pass show almost nothing.",
        "",
        f"Run: commit {stamp['commit']}, {stamp['date']}, {stamp['cores']} "
        f"cores, {stamp['torch_threads']} torch thread(s) for the report (scoring: the "
        "parts' own processes, one thread each).",
        "",
        f"Command: `python benchmarks/macro_fidelity.py --n {args.n} --seed {args.seed}`",
    ])  # fmt: skip
    print(md)
    write_result(
        Path(args.out).name,
        {"cells": len(population), "seed": args.seed, "batch_size": args.batch_size,
         "proxies": report},
        markdown=md, stamp=stamp,
    )  # fmt: skip


def render(result: dict[str, Any]) -> str:
    """The README's table, from ``macro_fidelity.json`` alone."""
    rows = []
    for name, r in sorted(result["proxies"].items(), key=lambda kv: -kv[1]["spearman"]):
        lo, hi = r["ci95"]
        secs = r.get("median_seconds")
        rows.append([name, r["spearman"], f"{lo:.3f}–{hi:.3f}", r["kendall"],
                     r["top_precision"], r.get("undefined", 0),
                     "—" if secs is None else float(secs)])  # fmt: skip
    header = ["proxy", "Spearman ρ", "95 % CI", "Kendall τ", "top-10 % prec.", "undefined",
              "median s/cell"]  # fmt: skip
    return (
        f"Spearman ρ with `mean_acc` over {result['cells']} uniformly sampled architectures "
        f"(seed {result['seed']}), with a bootstrap 95 % interval.\n\n"
        + markdown_table(header, rows)
    )


if __name__ == "__main__":
    main()
