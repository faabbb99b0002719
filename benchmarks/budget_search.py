"""Budget-aware guided search on NAS-Bench-201 CIFAR-10: what each strategy returns
inside a resource budget, in test accuracy, against the in-budget optimum.

Two settings: (a) ≤ 50 MFLOPs (exact per-cell counts of the scored network, C=16, N=5,
from :class:`~nas_engine.resources.CostTable`); (b) raspi4 latency ≤ its median over all
15,625 cells (HW-NAS-Bench table). Every strategy asks inside the budget's
:class:`~nas_engine.resources.Region` through ask/tell, as the runner drives it:

- ``random + fitness``: uniform sampling in the region;
- ``evolution``: aging evolution (P=20, S=5), no zero-cost aid;
- ``evolution + warm-up``: the initial population is the best of a pool of ``--warmup``
  random in-region cells by the cheap proxy;
- ``evolution + move``: a child is the parent's best-scoring unseen in-region neighbour
  by the cheap proxy (a random one with probability ``--move-p``);
- ``evolution + both``.

Fitness is the runner's: the online rank ensemble (``percentile_fitness``) of the fitness
members on the shared CIFAR-10 subset (batch 64, seed 0). The cell a run *returns* is
the best by rank ensemble over all its evaluated cells (the runner's ``best``), the
random baseline included; its truth comes from ``nb201_cifar10_test_acc.csv``.

Choosing the fitness without leakage: the members are the subset (≤ 3) of cheap-ish
candidates whose rank ensemble has the highest Spearman with **CIFAR-100** test accuracy
on seeded samples of in-budget cells (mean over both settings; a smaller subset wins
when within 0.01). CIFAR-10, the reported truth, is not looked at for any choice.

Cheap proxy (warm-up and move proposal): synflow, the engine default. It scores
thousands of cells (every warm-up pool and the unseen in-region neighbours of every
parent, up to ~10^4 cells over the whole run), and measured 0.055 s per in-budget cell
on the 2 shared cores before the run (0.078 s over the full run, 3,363 cells in ~4.4
minutes): affordable. It is also a fitness member here, so a cell already evaluated reads its
synflow from the fitness cache, and a neighbour scored for a move is kept in its own
cache. The free alternative, #params (exact, from the cost table; ``--cheap params``), had
a lower in-budget CIFAR-100 ρ (0.49 vs 0.65 mean over the two settings). Warm-up pool 500
and move_p 0.2 were fixed before any search ran (the pool is ~6 % of either region; 0.2
keeps some exploration), not tuned on the reported results.

torch is first imported through ``nas_engine``, so its ``OMP_WAIT_POLICY=PASSIVE`` default
holds (spin-waiting OpenMP threads were several times slower on the 2 shared cores).
Scores are cached in append-only CSVs under ``data/bench_cache/`` (one row per cell,
flushed), shared across settings and strategies, so a crash or rerun loses nothing.
Outputs: ``benchmarks/results/budget_search.json`` and ``budget_search_curves.csv`` (mean
best-so-far truth per evaluation; no matplotlib in the venv for a PNG).

    python benchmarks/budget_search.py                # 5 seeds x 150 evaluations
    python benchmarks/budget_search.py --seeds 0 --evals 30 --select-cells 20   # smoke
"""

from __future__ import annotations

import argparse
import datetime
import itertools
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import REPO, RESULTS, ScoreCache, markdown_table, shared_dir
from nas_engine.benchmarks import load_ground_truth
from nas_engine.data import load_dataset
from nas_engine.proxies import (
    ProxySuite,
    correlations,
    percentile_fitness,
    proxy_class,
    rank_ensemble,
)
from nas_engine.proxies.suite import torch_threads
from nas_engine.resources import CostTable, Region, ResourceBudget, load_latency
from nas_engine.search_spaces import create_space
from nas_engine.strategies import create_strategy

CACHE = REPO / "data" / "bench_cache"
CANDIDATES = "naswot,synflow,jacob_cov,snip,grad_norm,params,flops"
FREE = ("params", "flops")  # exact and free from the cost table


def run_stamp() -> dict[str, Any]:
    """Git commit, date and CPU count of this run."""
    import torch  # loaded by nas_engine already, after its OMP_WAIT_POLICY default

    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = bool(
            subprocess.run(
                ["git", "status", "--porcelain", "--untracked-files=no"],
                cwd=REPO, capture_output=True, text=True, check=True,
            ).stdout.strip()
        )  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        commit, dirty = "unknown", None
    return {
        "git_commit": commit,
        "tracked_files_modified": dirty,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
    }


def truth_by_index(space: Any, path: Path, column: str) -> np.ndarray:
    """One accuracy per cell index from a CSV with an ``arch`` column."""
    df = pd.read_csv(path, usecols=["arch", column])
    out = np.full(space.size, np.nan)
    for arch, acc in zip(df["arch"], df[column], strict=True):
        out[space.index(space.from_string(arch))] = acc
    return out


def signed(name: str, values: Sequence[float]) -> np.ndarray:
    """Scores with higher = better."""
    v = np.asarray(values, dtype=float)
    return v if proxy_class(name).higher_is_better else -v


class CheapScorer:
    """The cheap proxy behind warm-up and move proposal (``fn(archs) -> scores``).

    ``params``/``flops`` are read from the cost table (free); another proxy is read from
    ``shared`` (the fitness cache) when that holds it, else scored and cached on disk.
    ``asked`` collects the cells one run asked for (reset per run).
    """

    def __init__(
        self, name: str, space: Any, costs: CostTable, data: Any, shared: ScoreCache
    ) -> None:
        self.name, self.space, self.asked = name, space, set()
        self.shared = shared if name in shared.names else None
        self.cache: ScoreCache | None = None
        if name in FREE:
            self.table = costs.params if name == "params" else costs.flops
        else:
            suite = ProxySuite(space, [name], data=data, batch_size=64, seed=0)
            self.cache = ScoreCache(
                CACHE / f"budget_cheap_{name}.csv", suite, sorted(CACHE.glob("budget_*.csv"))
            )

    def __call__(self, archs: Sequence[Any]) -> np.ndarray:
        self.asked.update(archs)
        if self.cache is None:
            return np.asarray([self.table[self.space.index(a)] for a in archs], dtype=float)
        return signed(self.name, [self._value(self.space.to_string(a)) for a in archs])

    def _value(self, s: str) -> float:
        if self.shared is not None and s in self.shared.scores:
            return self.shared.scores[s][self.name]
        assert self.cache is not None
        return self.cache.get(s)[self.name]


def strategy_plan(warmup: int, move_p: float) -> list[tuple[str, str, dict[str, Any]]]:
    """(label, strategy, options) of the five strategies."""
    evo = {"population_size": 20, "sample_size": 5}
    return [
        ("random + fitness", "random", {}),
        ("evolution", "evolution", evo),
        ("evolution + warm-up", "evolution", {**evo, "warmup": warmup}),
        ("evolution + move", "evolution", {**evo, "move_p": move_p}),
        ("evolution + both", "evolution", {**evo, "warmup": warmup, "move_p": move_p}),
    ]


def run_one(
    space: Any,
    region: Region,
    name: str,
    options: dict[str, Any],
    seed: int,
    evals: int,
    cache: ScoreCache,
    cheap: Callable[[Sequence[Any]], np.ndarray],
    truth: np.ndarray,
    members: list[str],
) -> dict[str, Any]:
    """One search; the returned cell's truth after each evaluation, as the runner ranks."""
    rng = np.random.default_rng([seed, 0])
    strat = create_strategy(name, space, **options)
    if options.get("warmup") or options.get("move_p") is not None:
        strat.set_scorer(cheap)
    hist: list[tuple[int, dict[str, float]]] = []
    curve: list[float] = []
    for _ in range(evals):
        arch = strat.ask(region, rng)
        if not region.allows(arch):
            raise AssertionError(f"{name} asked {space.to_string(arch)} outside the region")
        scores = cache.get(space.to_string(arch))
        strat.tell(arch, percentile_fitness(scores, [h[1] for h in hist], members))
        hist.append((space.index(arch), scores))
        ens = rank_ensemble({m: [h[1][m] for h in hist] for m in members}, members)
        curve.append(float(truth[hist[int(np.argmax(ens))][0]]))
    cells = {h[0] for h in hist}
    return {
        "curve": curve,
        "final": curve[-1],
        "returned": space.to_string(space.from_index(hist[int(np.argmax(ens))][0])),
        "best_evaluated": float(max(truth[i] for i in cells)),
        "unique_cells": len(cells),
    }


def sample_cells(region: Region, n: int, seed: int) -> np.ndarray:
    """A seeded sample of ``n`` in-region cell indices."""
    rng = np.random.default_rng([seed, 7])
    return np.sort(rng.choice(region.cells, size=min(n, len(region.cells)), replace=False))


def spearman_rows(
    space: Any,
    samples: dict[str, np.ndarray],
    cache: ScoreCache,
    truths: dict[str, np.ndarray],
    names: Sequence[str],
    ensembles: dict[str, list[str]],
) -> dict[str, dict[str, dict[str, float]]]:
    """Spearman ρ of each proxy (and ensemble) with each truth, per setting's sample."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for setting, cells in samples.items():
        sc = [cache.get(space.to_string(space.from_index(int(i)))) for i in cells]
        cols = {n: [s[n] for s in sc] for n in names}
        preds = {n: signed(n, cols[n]) for n in names}
        preds.update({label: rank_ensemble(cols, ms) for label, ms in ensembles.items()})
        out[setting] = {
            p: {t: correlations(v, truth[cells])["spearman"] for t, truth in truths.items()}
            for p, v in preds.items()
        }
    return out


def choose_members(
    space: Any,
    samples: dict[str, np.ndarray],
    cache: ScoreCache,
    c100: np.ndarray,
    names: Sequence[str],
    max_size: int,
) -> tuple[list[str], list[list[object]]]:
    """The subset with the best mean in-budget CIFAR-100 Spearman (smaller within 0.01)."""
    cols = {}
    for setting, cells in samples.items():
        sc = [cache.get(space.to_string(space.from_index(int(i)))) for i in cells]
        cols[setting] = {n: [s[n] for s in sc] for n in names}
    rows = []
    for k in range(1, max_size + 1):
        for subset in itertools.combinations(names, k):
            rho = [
                correlations(rank_ensemble(cols[s], list(subset)), c100[cells])["spearman"]
                for s, cells in samples.items()
            ]
            rows.append([list(subset), *rho, float(np.mean(rho))])
    rows.sort(key=lambda r: -r[-1])
    best = rows[0][-1]
    pick = min((r for r in rows if r[-1] >= best - 0.01), key=lambda r: (len(r[0]), -r[-1]))
    table = [["+".join(r[0]), *r[1:]] for r in rows]
    return list(pick[0]), table


def settings(space: Any, costs: CostTable) -> dict[str, tuple[ResourceBudget, Region]]:
    """The two budgets and their regions."""
    median = float(np.nanmedian(costs.latency))
    out = {}
    for key, budget in (
        ("flops", ResourceBudget(max_flops=50)),
        ("latency", ResourceBudget(max_latency=median)),
    ):
        out[key] = (budget, Region(space, space.full_mask(), costs.feasible(budget)))
    return out


def evals_to_target(curve: np.ndarray, target: float) -> int | None:
    """First evaluation count from which the mean curve stays at or above ``target``."""
    return next((i + 1 for i in range(len(curve)) if curve[i:].min() >= target - 1e-9), None)


def summarise(
    runs: dict[str, list[dict[str, Any]]], optimum: float, cost: dict[str, dict[str, float]]
) -> dict[str, Any]:
    """Per-strategy figures of one setting."""
    target = float(np.mean([r["final"] for r in runs["evolution"]]))
    out: dict[str, Any] = {"target_plain_evolution_final": target, "strategies": {}}
    for label, rs in runs.items():
        finals = [r["final"] for r in rs]
        curve = np.mean([r["curve"] for r in rs], axis=0)
        out["strategies"][label] = {
            "finals": finals,
            "mean": statistics.mean(finals),
            "std": statistics.pstdev(finals),
            "gap_to_optimum": optimum - statistics.mean(finals),
            "best_evaluated_mean": statistics.mean(r["best_evaluated"] for r in rs),
            "unique_cells_mean": statistics.mean(r["unique_cells"] for r in rs),
            "evals_to_target": evals_to_target(curve, target),
            "returned": [r["returned"] for r in rs],
            **cost[label],
            "mean_curve": [round(float(v), 4) for v in curve],
            "std_curve": [round(float(v), 4) for v in np.std([r["curve"] for r in rs], axis=0)],
        }
    return out


def print_setting(key: str, desc: str, info: dict[str, Any], evals: int) -> None:
    """Markdown tables of one setting."""
    opt, strat = info["optimum"], info["strategies"]
    print(f"\n### {key}: {desc} ({info['region_cells']} cells), {evals} evaluations, "
          f"in-budget optimum {opt:.2f} %\n")  # fmt: skip
    rows = [
        [label, f"{s['mean']:.2f} ± {s['std']:.2f}", min(s["finals"]), max(s["finals"]),
         s["gap_to_optimum"], s["best_evaluated_mean"],
         s["evals_to_target"] or "not reached", s["unique_cells_mean"],
         s["cheap_cells_mean"], s["est_standalone_s"], s["wall_s"],
         s["fitness_cells_scored"]]
        for label, s in strat.items()
    ]  # fmt: skip
    print(markdown_table(
        ["strategy", "returned CIFAR-10 % (mean ± std)", "min", "max", "gap to optimum",
         "best truth evaluated", f"evals to ≥ {info['target_plain_evolution_final']:.2f}",
         "cells evaluated (unique, mean)", "cheap-proxy cells / run",
         "est. s / standalone run", "wall s, all seeds (shared cache)", "fitness cells scored"],
        rows,
    ))  # fmt: skip
    marks = [m for m in (10, 20, 30, 50, 75, 100, 125, 150) if m <= evals]
    print("\nmean best-so-far CIFAR-10 % of the returned cell\n")
    print(markdown_table(
        ["evaluations", *map(str, marks)],
        [[label, *(s["mean_curve"][m - 1] for m in marks)] for label, s in strat.items()],
    ))  # fmt: skip


def print_spearman(rho: dict[str, Any], sizes: dict[str, int]) -> None:
    """Per-proxy in-budget Spearman, both truths, both settings."""
    sets = list(rho)
    proxies = list(rho[sets[0]])
    print("\n### Spearman ρ inside the budget (seeded samples: "
          + ", ".join(f"{s} {sizes[s]} cells" for s in sets) + ")\n")  # fmt: skip
    print(markdown_table(
        ["proxy", *(f"{s}: CIFAR-10" for s in sets), *(f"{s}: CIFAR-100" for s in sets)],
        [[p, *(rho[s][p]["cifar10"] for s in sets), *(rho[s][p]["cifar100"] for s in sets)]
         for p in proxies],
    ))  # fmt: skip


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", default=None, help="folder with the shared data")
    ap.add_argument("--evals", type=int, default=150)
    ap.add_argument("--seeds", default="0,1,2,3,4")
    ap.add_argument("--settings", default="flops,latency")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--candidates", default=CANDIDATES, help="fitness-member candidates")
    ap.add_argument("--max-members", type=int, default=3)
    ap.add_argument("--select-cells", type=int, default=150, help="sample per setting")
    ap.add_argument("--members", default="auto", help="'auto' (CIFAR-100 choice) or a list")
    ap.add_argument("--cheap", default="synflow", help="warm-up/move proxy (params: free)")
    ap.add_argument("--warmup", type=int, default=500, help="warm-up pool size")
    ap.add_argument("--move-p", type=float, default=0.2, help="random-move probability")
    ap.add_argument("--out", default="budget_search", help="results file stem")
    return ap.parse_args()


def select(
    args: argparse.Namespace, space: Any, data: Any, regions: dict[str, Any], c100: np.ndarray
) -> tuple[list[str], str, dict[str, np.ndarray], ScoreCache, dict[str, Any]]:
    """Score the selection samples; choose the members and the cheap proxy on CIFAR-100."""
    cands = [c.strip() for c in args.candidates.split(",") if c.strip()]
    suite = ProxySuite(space, cands, data=data, batch_size=64, seed=0)
    cache = ScoreCache(
        CACHE / f"budget_select_{'-'.join(cands)}.csv", suite, sorted(CACHE.glob("budget_*.csv"))
    )
    samples = {k: sample_cells(r, args.select_cells, 0) for k, (_, r) in regions.items()}
    t0 = time.perf_counter()
    for k, cells in samples.items():
        for j, i in enumerate(cells):
            cache.get(space.to_string(space.from_index(int(i))))
            if (j + 1) % 25 == 0:
                print(f"  selection sample {k}: {j + 1}/{len(cells)} cells "
                      f"({cache.computed} scored, {time.perf_counter() - t0:.0f}s)",
                      flush=True)  # fmt: skip
    sel_s = time.perf_counter() - t0
    members, table = choose_members(space, samples, cache, c100, cands, args.max_members)
    if args.members != "auto":
        members = [m.strip() for m in args.members.split(",") if m.strip()]
    rho100 = {}
    for n in (f for f in ("synflow", *FREE) if f in cands):
        rho100[n] = float(np.mean([
            correlations(signed(n, [cache.get(space.to_string(space.from_index(int(i))))[n]
                                    for i in cells]), c100[cells])["spearman"]
            for cells in samples.values()
        ]))  # fmt: skip
    cheap = args.cheap
    info = {
        "candidates": cands,
        "chosen_on": "CIFAR-100 test accuracy (nb201_all_test_acc.csv), in-budget samples",
        "rule": "best mean Spearman over the settings' samples; smaller subset within 0.01",
        "table": table,
        "members": members,
        "cheap": cheap,
        "cheap_rule": "synflow (engine default; ~0.055 s per in-budget cell, affordable)",
        "cheap_cifar100_rho": rho100,
        "sample_sizes": {k: len(v) for k, v in samples.items()},
        "selection_wall_s": sel_s,
        "selection_cells_scored": cache.computed,
        "selection_s_per_cell": cache.seconds / max(1, cache.computed),
    }
    print(f"\n### Fitness members chosen on CIFAR-100 (in-budget samples, "
          f"{', '.join(f'{k} {len(v)}' for k, v in samples.items())} cells; "
          f"top 12 of {len(table)} subsets)\n")  # fmt: skip
    print(markdown_table(["members", *(f"ρ {k}" for k in samples), "mean ρ"], table[:12]))
    rho_txt = ", ".join(f"{k} {v:.3f}" for k, v in rho100.items())
    print(f"\nchosen members: {'+'.join(members)}; cheap proxy: {cheap} "
          f"(mean in-budget CIFAR-100 ρ: {rho_txt})\n")  # fmt: skip
    return members, cheap, samples, cache, info


def check_free(space: Any, cache: ScoreCache, samples: dict[str, Any], costs: CostTable) -> None:
    """The cost table's params/FLOPs equal the proxies' on the scored sample."""
    for cells in samples.values():
        for i in cells:
            s = cache.scores[space.to_string(space.from_index(int(i)))]
            for n, col in (("params", costs.params), ("flops", costs.flops)):
                if n in s and not np.isclose(s[n], col[i], rtol=1e-6, atol=1e-9):
                    print(f"WARNING: cost table {n} {col[i]} != proxy {s[n]} for cell {i}")


def search_setting(
    args: argparse.Namespace,
    ctx: dict[str, Any],
    key: str,
    region: Region,
    t0: float,
) -> tuple[dict[str, list[dict[str, Any]]], dict[str, dict[str, float]]]:
    """All strategies and seeds of one setting."""
    space, cache, cheap, members = ctx["space"], ctx["cache"], ctx["cheap"], ctx["members"]
    runs: dict[str, list[dict[str, Any]]] = {}
    cost: dict[str, dict[str, float]] = {}
    for label, name, options in strategy_plan(args.warmup, args.move_p):
        runs[label], wall, scored, cheap_cells = [], 0.0, 0, []
        for seed in ctx["seeds"]:
            t1, c1 = time.perf_counter(), cache.computed
            cheap.asked = set()
            r = run_one(
                space, region, name, options, seed, args.evals, cache, cheap,
                ctx["truth"], members,
            )  # fmt: skip
            wall += time.perf_counter() - t1
            scored += cache.computed - c1
            cheap_cells.append(len(cheap.asked))
            runs[label].append(r)
            print(f"  [{key}] {label:22s} seed {seed}: {r['final']:.2f}  "
                  f"(unique {r['unique_cells']}, new {cache.computed - c1}, cheap "
                  f"{len(cheap.asked)}, {time.perf_counter() - t1:.0f}s; "
                  f"total {time.perf_counter() - t0:.0f}s)", flush=True)  # fmt: skip
        cost[label] = {
            "wall_s": wall,
            "fitness_cells_scored": scored,
            "cheap_cells_mean": float(np.mean(cheap_cells)),
        }
    return runs, cost


def update_timing(caches: dict[str, ScoreCache | None]) -> dict[str, float | None]:
    """Add this call's scoring time to ``budget_timing.json``; seconds per cell of each.

    The figure is cumulative over every call, so a rerun on warm caches keeps it.
    """
    path = CACHE / "budget_timing.json"
    book = json.loads(path.read_text()) if path.is_file() else {}
    out = {}
    for role, c in caches.items():
        if c is None:  # a proxy read from the cost table
            out[role] = 0.0
            continue
        rec = book.setdefault(c.path.name, {"cells": 0, "seconds": 0.0})
        rec["cells"] += c.computed
        rec["seconds"] += c.seconds
        out[role] = rec["seconds"] / rec["cells"] if rec["cells"] else None
    path.write_text(json.dumps(book, indent=1))
    return out


def finite(o: Any) -> Any:
    """``o`` with every non-finite float as ``None`` (strict JSON)."""
    if isinstance(o, dict):
        return {k: finite(v) for k, v in o.items()}
    if isinstance(o, list | tuple):
        return [finite(v) for v in o]
    if isinstance(o, float) and not np.isfinite(o):
        return None
    return o


def write_curves(path: Path, results: dict[str, Any]) -> None:
    """Mean (and std) best-so-far curves, one row per setting, strategy and evaluation."""
    rows = [
        [key, label, t + 1, m, sd]
        for key, info in results.items()
        for label, s in info["strategies"].items()
        for t, (m, sd) in enumerate(zip(s["mean_curve"], s["std_curve"], strict=True))
    ]
    pd.DataFrame(
        rows, columns=["setting", "strategy", "evaluation", "mean_best_so_far", "std"]
    ).to_csv(path, index=False)


def main() -> None:
    args = parse_args()
    torch_threads(args.threads)
    t0 = time.perf_counter()
    stamp = run_stamp()
    shared = shared_dir(args.shared)
    space = create_space("nb201")
    data = load_dataset(f"npz:{shared / 'cifar10_subset.npz'}")
    costs = CostTable.compute(
        space, num_classes=10, in_channels=3, input_shape=(3, 32, 32), cache_dir=CACHE,
        C=16, N=5,
    )  # fmt: skip
    costs = costs.with_latency(
        *load_latency(f"csv:{shared / 'nb201_latency_ms.csv'}:raspi4", space)
    )
    regions = {k: v for k, v in settings(space, costs).items() if k in args.settings.split(",")}
    gt = load_ground_truth(f"csv:{shared / 'nb201_cifar10_test_acc.csv'}")
    c10 = np.asarray([gt.lookup(space.to_string(space.from_index(i))) for i in range(space.size)])
    c100 = truth_by_index(space, shared / "nb201_all_test_acc.csv", "cifar100_test_acc")

    members, cheap_name, samples, sel_cache, sel_info = select(args, space, data, regions, c100)
    check_free(space, sel_cache, samples, costs)
    suite = ProxySuite(space, members, data=data, batch_size=64, seed=0)
    cache = ScoreCache(
        CACHE / f"budget_fitness_{'-'.join(members)}.csv",
        suite,
        sorted(CACHE.glob("budget_*.csv")),
    )
    cheap = CheapScorer(cheap_name, space, costs, data, cache)
    ctx = {"space": space, "cache": cache, "cheap": cheap, "members": members, "truth": c10,
           "seeds": [int(s) for s in args.seeds.split(",")]}  # fmt: skip

    results: dict[str, Any] = {}
    for key, (budget, region) in regions.items():
        runs, cost = search_setting(args, ctx, key, region, t0)
        opt_i = int(region.cells[np.nanargmax(c10[region.cells])])
        results[key] = {
            "budget": budget.describe(),
            "region_cells": len(region.cells),
            "optimum": float(c10[opt_i]),
            "optimum_arch": space.to_string(space.from_index(opt_i)),
            **summarise(runs, float(c10[opt_i]), cost),
        }
    spc = update_timing({"fitness": cache, "cheap": cheap.cache, "selection": sel_cache})
    for info in results.values():
        for st in info["strategies"].values():
            st["est_standalone_s"] = st["unique_cells_mean"] * (spc["fitness"] or 0.0) + st[
                "cheap_cells_mean"
            ] * (spc["cheap"] or 0.0)
    rho = spearman_rows(
        space, samples, sel_cache, {"cifar10": c10, "cifar100": c100},
        sel_info["candidates"], {f"ensemble {'+'.join(members)}": members},
    )  # fmt: skip
    for key in results:
        results[key]["spearman_in_budget"] = rho[key]

    total = time.perf_counter() - t0
    print(f"\nfitness = rank ensemble ({'+'.join(members)}) on the CIFAR-10 subset, members "
          f"chosen on CIFAR-100; cheap proxy {cheap_name}; warm-up pool {args.warmup}; "
          f"move_p {args.move_p}; P=20, S=5; seeds {args.seeds}")  # fmt: skip
    for key, info in results.items():
        print_setting(key, info["budget"], info, args.evals)
    print_spearman(rho, sel_info["sample_sizes"])
    cheap_new = cheap.cache.computed if cheap.cache is not None else 0
    print(f"\ncells scored in this call: fitness {cache.computed}, cheap proxy {cheap_new}, "
          f"selection {sel_info['selection_cells_scored']}; seconds per cell (all calls): "
          + ", ".join(f"{k} {v:.3f}" for k, v in spc.items() if v is not None)
          + f"; wall {total:.0f}s")  # fmt: skip

    RESULTS.mkdir(parents=True, exist_ok=True)
    out = {
        "stamp": stamp,
        "config": {
            "space": "nb201", "dataset": "CIFAR-10 subset, batch 64, seed 0, C=16, N=5",
            "evals": args.evals, "seeds": ctx["seeds"], "population_size": 20,
            "sample_size": 5, "warmup": args.warmup, "move_p": args.move_p,
            "members": members, "cheap_proxy": cheap_name,
            "returned_cell": "best by rank ensemble over all evaluated cells",
            "std": "population std over seeds",
        },
        "selection": sel_info,
        "settings": results,
        "cost": {
            "total_wall_s": total,
            "fitness_cells_scored": cache.computed,
            "cheap_cells_scored": cheap_new,
            "selection_cells_scored": sel_info["selection_cells_scored"],
            "s_per_cell_all_calls": spc,
        },
    }  # fmt: skip
    (RESULTS / f"{args.out}.json").write_text(json.dumps(finite(out), indent=1, allow_nan=False))
    write_curves(RESULTS / f"{args.out}_curves.csv", results)
    print(f"wrote {RESULTS / f'{args.out}.json'} and {RESULTS / f'{args.out}_curves.csv'}")


if __name__ == "__main__":
    main()
