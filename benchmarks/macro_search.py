"""Search quality on NAS-Bench-Macro inside a FLOPs budget: what each strategy returns after
``--evals`` evaluations, in CIFAR-10 accuracy (``mean_acc``), against baselines measured
from the truth table.

    nice -n 5 .venv/bin/python benchmarks/macro_search.py   # 5 seeds x 100 evals, ≤ 40 MFLOPs

The region is the runner's: ``CostTable.compute`` of the proxy network (the space's
``network_options("proxy")``, the benchmark's C=32), ``ResourceBudget(max_flops=...)`` and
its :class:`~nas_engine.resources.Region`. Each strategy asks inside it through ask/tell as
the runner drives it: fitness = the runner's default rank ensemble (``DEFAULT_ENSEMBLE``,
``DEFAULT_AGGREGATION``, online ``percentile_fitness``; scored on the CIFAR-10 subset,
batch 64, proxy seed 0 for every search seed); the returned cell is the best by rank
ensemble over every evaluated cell (the runner's ``best``). Warm-up uses the runner's
default cheap proxy (synflow, pool 500). A reference row uses ``flops`` alone as the
fitness (free, from the cost table; the runner's single-proxy path: raw value, max wins).
Nothing is chosen by looking at the truth.

Baselines from the truth table: the in-budget optimum; the oracle best of ``--evals``
distinct uniform in-budget cells (mean over ``--draws`` seeded draws, and its exact
expectation); the truth of the in-budget cell with the most parameters.
Scores are cached per cell under ``data/bench/`` (resumable; seeded from the
``macro_scores_seed0_b64*.csv`` files made with the same settings). Outputs:
``benchmarks/results/macro_search.{json,md}``; :func:`render` turns the JSON into the
README's tables (``python benchmarks/render_readme.py``).
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import (
    REPO,
    ScoreCache,
    markdown_table,
    run_stamp,
    shared_dir,
    write_result,
)
from nas_engine.benchmarks import load_ground_truth
from nas_engine.data import load_dataset
from nas_engine.proxies import (
    DEFAULT_AGGREGATION,
    DEFAULT_ENSEMBLE,
    ProxySuite,
    percentile_fitness,
    rank_ensemble,
)
from nas_engine.proxies.suite import torch_threads
from nas_engine.resources import CostTable, Region, ResourceBudget
from nas_engine.search_spaces import create_space
from nas_engine.strategies import create_strategy

CACHE = REPO / "data" / "bench"
TRUTH = {"macro": "nas_bench_macro_cifar10.csv:mean_acc", "nb201": "nb201_cifar10_test_acc.csv"}
#: Figures quoted in issue #12 (≤ 40 MFLOPs), printed beside ours; never used.
QUOTED = {"optimum": 91.51, "oracle_random": 91.23, "max_params": 82.51}
MARKS = (25, 50, 100)
Score = Callable[[str], dict[str, float]]


def plan(warmup: int) -> list[tuple[str, str, dict[str, Any], str]]:
    """(label, strategy, options, fitness) of each row; fitness ``ensemble`` or a proxy."""
    evo = {"population_size": 20, "sample_size": 5}
    return [
        ("random + fitness", "random", {}, "ensemble"),
        ("evolution", "evolution", evo, "ensemble"),
        ("evolution + warm-up", "evolution", {**evo, "warmup": warmup}, "ensemble"),
        ("reference: random + flops alone", "random", {}, "flops"),
    ]


def run_one(
    space: Any,
    region: Region,
    strategy: str,
    options: dict[str, Any],
    seed: int,
    evals: int,
    score: Score,
    members: Sequence[str],
    cheap: Callable[[Sequence[Any]], np.ndarray] | None = None,
) -> dict[str, Any]:
    """One search, as the runner drives it; truth-free.

    ``members`` = the ensemble (or one proxy: the runner's single-proxy fitness). Returns the
    evaluated cells in order and, after each evaluation, the index of the returned one.
    """
    rng = np.random.default_rng([seed, 0])
    strat = create_strategy(strategy, space, **options)
    if options.get("warmup") or options.get("move_p") is not None:
        strat.set_scorer(cheap)
    archs: list[str] = []
    hist: list[dict[str, float]] = []
    fits: list[float] = []
    returned: list[int] = []
    for _ in range(evals):
        arch = strat.ask(region, rng)
        if not region.allows(arch):
            raise AssertionError(f"{strategy} asked {space.to_string(arch)} outside the region")
        a = space.to_string(arch)
        scores = score(a)
        if len(members) > 1:
            fit = percentile_fitness(scores, hist, members, aggregation=DEFAULT_AGGREGATION)
        else:
            fit = scores[members[0]] if math.isfinite(scores[members[0]]) else -math.inf
        strat.tell(arch, fit)
        archs.append(a)
        hist.append(scores)
        fits.append(fit)
        if len(members) > 1:
            ens = rank_ensemble({m: [h[m] for h in hist] for m in members}, members,
                                aggregation=DEFAULT_AGGREGATION)  # fmt: skip
            returned.append(int(np.argmax(ens)))
        else:
            returned.append(int(np.argmax(fits)))
    return {"archs": archs, "returned_at": returned, "returned": archs[returned[-1]]}


def baselines(
    truth: np.ndarray, cells: np.ndarray, params: np.ndarray, k: int, draws: int, seed: int = 0
) -> dict[str, Any]:
    """In-region optimum, oracle best of ``k`` distinct uniform cells, max-params pick."""
    t = truth[cells]
    rng = np.random.default_rng([seed, 100])
    kk = min(k, len(t))
    mc = [float(t[rng.choice(len(t), size=kk, replace=False)].max()) for _ in range(draws)]
    s = np.sort(t)  # P(the best of k is the i-th smallest, 1-based) = C(i-1, k-1) / C(N, k)
    exact = sum(math.comb(i - 1, kk - 1) * s[i - 1] for i in range(kk, len(s) + 1))
    p = params[cells]
    top = cells[p == p.max()]
    return {
        "optimum": float(t.max()),
        "optimum_cell": int(cells[int(np.argmax(t))]),
        "oracle_random": statistics.mean(mc),
        "oracle_random_std": statistics.pstdev(mc),
        "oracle_random_exact": float(exact / math.comb(len(s), kk)),
        "max_params": float(np.mean(truth[top])),
        "max_params_cells": [int(i) for i in top],
    }


def summarise(
    runs: list[dict[str, Any]], truth: Callable[[str], float], base: dict[str, Any], evals: int
) -> dict[str, Any]:
    """Per-strategy figures over the seeds."""
    finals = [truth(r["returned"]) for r in runs]
    curves = np.array([[truth(r["archs"][i]) for i in r["returned_at"]] for r in runs])
    best = np.maximum.accumulate([[truth(a) for a in r["archs"]] for r in runs], axis=1)
    at = [m for m in MARKS if m <= evals]
    return {
        "finals": finals,
        "returned": [r["returned"] for r in runs],
        "mean": statistics.mean(finals),
        "std": statistics.pstdev(finals),
        "gap_to_optimum": base["optimum"] - statistics.mean(finals),
        "beat_oracle_random": sum(f > base["oracle_random"] for f in finals),
        "best_evaluated_mean": float(best[:, -1].mean()),
        "unique_cells_mean": statistics.mean(len(set(r["archs"])) for r in runs),
        "curve_at": {m: float(curves[:, m - 1].mean()) for m in at},
        "best_evaluated_at": {m: float(best[:, m - 1].mean()) for m in at},
        "mean_curve": [round(float(v), 4) for v in curves.mean(0)],
    }


def report(args: argparse.Namespace, out: dict[str, Any], stamp: dict[str, Any]) -> str:
    """The markdown report (``stamp``: this run's :func:`run_stamp`)."""
    b, reg, n = out["baselines"], out["region"], args.evals
    lines = [
        f"# NAS-Bench-Macro search quality: {reg['budget']} ({reg['cells']} of "
        f"{reg['space_size']} cells), {n} evaluations, seeds {args.seeds}\n",
        f"`{stamp['command']}`  \nrun: commit {stamp['commit']}, "
        f"{stamp['date']}, {stamp['cores']} cores, "
        f"{stamp['torch_threads']} torch thread(s); wall {out['wall_s'] / 60:.1f} min; "
        f"fitness cells scored {out['cells_scored']['fitness']}, cheap "
        f"{out['cells_scored']['cheap']}\n",
        "Truth: `mean_acc` (CIFAR-10 %). Fitness: rank ensemble "
        f"{'+'.join(DEFAULT_ENSEMBLE)} ({DEFAULT_AGGREGATION}), CIFAR-10 subset, batch 64, "
        f"proxy seed 0; warm-up: {args.cheap}, pool {args.warmup}; evolution P=20, S=5.\n",
        markdown_table(
            ["baseline (measured from the truth table)", "ours %", "issue #12 quoted %"],
            [["in-budget optimum", b["optimum"], QUOTED["optimum"]],
             [f"oracle best of {n} random in-budget (mean of {args.draws} draws; exact "
              f"{b['oracle_random_exact']:.3f})", b["oracle_random"], QUOTED["oracle_random"]],
             ["max-#params in-budget pick", b["max_params"], QUOTED["max_params"]]],
        ),
        "",
        markdown_table(
            ["strategy", "returned % (mean ± std)", "gap to optimum", "beat oracle-random mean",
             "best truth evaluated", "unique cells", *(f"@{m}" for m in MARKS if m <= n),
             "wall s (all seeds, shared cache)"],
            [[lab, f"{s['mean']:.2f} ± {s['std']:.2f}", s["gap_to_optimum"],
              f"{s['beat_oracle_random']}/{len(s['finals'])}", s["best_evaluated_mean"],
              s["unique_cells_mean"], *s["curve_at"].values(), s["wall_s"]]
             for lab, s in out["strategies"].items()],
        ),
        "\n@N: mean truth of the cell returned after N evaluations. std: population std over "
        "seeds. The reference row is not a strategy of the runner's default: its fitness is "
        "#FLOPs alone (free); it asks the same cells as `random + fitness` (same seeds). "
        "As in the runner, evolution's initial population (no warm-up) is drawn from the same "
        "seeded stream as random search, so its first 20 cells are random's first 20.",
    ]  # fmt: skip
    return "\n".join(lines) + "\n"


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--space", default="macro")
    ap.add_argument("--shared", default=None, help="folder with the shared data")
    ap.add_argument("--max-flops", type=float, default=40.0)
    ap.add_argument("--evals", type=int, default=100)
    ap.add_argument("--seeds", default="0,1,2,3,4")
    ap.add_argument("--warmup", type=int, default=500)
    ap.add_argument("--cheap", default="synflow", help="warm-up proxy (the runner's default)")
    ap.add_argument("--draws", type=int, default=1000, help="random-oracle draws")
    ap.add_argument("--seed-from", default="{space}_scores_seed0_b64*.csv", help="data/bench/")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default="macro_search")
    return ap.parse_args()


def main() -> None:
    args = parse_args()
    torch_threads(args.threads)
    t0 = time.perf_counter()
    shared = shared_dir(args.shared)
    space = create_space(args.space)
    net = space.network_options("proxy")
    data = load_dataset(f"npz:{shared / 'cifar10_subset.npz'}")
    costs = CostTable.compute(space, num_classes=data.num_classes, in_channels=data.in_channels,
                              input_shape=data.input_shape, cache_dir=CACHE, **net)  # fmt: skip
    budget = ResourceBudget(max_flops=args.max_flops)
    region = Region(space, space.full_mask(), costs.feasible(budget))
    gt = load_ground_truth(f"csv:{shared / TRUTH[args.space]}")
    truth = np.array([gt.lookup(space.to_string(space.from_index(i))) for i in range(space.size)],
                     dtype=float)  # fmt: skip
    base = baselines(truth, region.cells, costs.params, args.evals, args.draws)
    seeds_from = sorted(CACHE.glob(args.seed_from.format(space=args.space)))
    members = list(DEFAULT_ENSEMBLE)

    def cache(names: list[str], extra: Sequence[Path] = ()) -> ScoreCache:
        suite = ProxySuite(space, names, data=data, batch_size=64, seed=0, build_kwargs=net)
        path = CACHE / f"macro_search_{args.space}_{'-'.join(names)}.csv"
        return ScoreCache(path, suite, [*seeds_from, *extra])

    fit_cache = cache(members)
    cheap_cache = cache([args.cheap], [fit_cache.path])

    def cheap(archs: Sequence[Any]) -> np.ndarray:  # the runner's cheap_scores
        out = []
        for a in map(space.to_string, archs):
            s = fit_cache.scores.get(a) or cheap_cache.get(a)
            out.append(s[args.cheap] if math.isfinite(s[args.cheap]) else -math.inf)
        return np.asarray(out, dtype=float)

    def free(a: str) -> dict[str, float]:
        i = space.index(space.from_string(a))
        return {"flops": float(costs.flops[i]), "params": float(costs.params[i])}

    def truth_of(a: str) -> float:
        return float(truth[space.index(space.from_string(a))])

    seeds = [int(s) for s in args.seeds.split(",")]
    strategies: dict[str, Any] = {}
    for label, name, options, fitness in plan(args.warmup):
        score, ms = (fit_cache.get, members) if fitness == "ensemble" else (free, [fitness])
        runs, t1, c1 = [], time.perf_counter(), fit_cache.computed
        for seed in seeds:
            runs.append(run_one(space, region, name, options, seed, args.evals, score, ms, cheap))
            print(f"  {label:32s} seed {seed}: {truth_of(runs[-1]['returned']):.2f} "
                  f"({fit_cache.computed} fitness / {cheap_cache.computed} cheap cells scored, "
                  f"{time.perf_counter() - t0:.0f}s)", flush=True)  # fmt: skip
        strategies[label] = {
            **summarise(runs, truth_of, base, args.evals),
            "wall_s": time.perf_counter() - t1,
            "fitness_cells_scored": fit_cache.computed - c1,
        }
    cell = lambda i: space.to_string(space.from_index(i))  # noqa: E731
    base["optimum_cell"] = cell(base["optimum_cell"])
    base["max_params_cells"] = [cell(i) for i in base["max_params_cells"]]
    # fmt: off
    out = {
        "wall_s": time.perf_counter() - t0,
        "config": {**vars(args), "members": members, "aggregation": DEFAULT_AGGREGATION,
                   "network": net, "population_size": 20, "sample_size": 5,
                   "proxy_setting": "CIFAR-10 subset, batch 64, proxy seed 0"},
        "region": {"budget": budget.describe(), "cells": len(region.cells),
                   "space_size": space.size},
        "baselines": base, "quoted_issue_12": QUOTED, "strategies": strategies,
        "cells_scored": {"fitness": fit_cache.computed, "cheap": cheap_cache.computed},
        "seconds_per_cell": {"fitness": fit_cache.seconds / max(1, fit_cache.computed),
                             "cheap": cheap_cache.seconds / max(1, cheap_cache.computed)},
    }
    # fmt: on
    stamp = run_stamp()
    md = report(args, out, stamp)
    write_result(args.out, out, markdown=md, stamp=stamp)  # NaN and ±inf become null there
    print("\n" + md)


def render(out: dict[str, Any]) -> str:
    """The README's two tables (baselines, strategies), from ``macro_search.json`` alone."""
    b, q, cfg = out["baselines"], out["quoted_issue_12"], out["config"]
    n = cfg["evals"]
    labels = {
        "evolution": f"evolution (aging, P={cfg['population_size']}, S={cfg['sample_size']})",
        "evolution + warm-up": f"evolution + {cfg['cheap']} warm-up (pool {cfg['warmup']})",
        "reference: random + flops alone": "reference: random + FLOPs alone",
    }
    seeds = len(cfg["seeds"].split(","))
    base = markdown_table(
        ["baseline (measured from the truth table)", "%", "issue #12 quoted"],
        [["in-budget optimum", b["optimum"], f"{q['optimum']:g}"],
         [f"oracle best of {n} random in-budget cells (mean of {cfg['draws']:,} draws)",
          b["oracle_random"], f"{q['oracle_random']:g}"],
         ["max-#params in-budget pick", b["max_params"], f"{q['max_params']:g}"]],
    )  # fmt: skip
    strat = markdown_table(
        ["strategy", f"returned % (mean ± std, {seeds} seeds)", "gap to optimum",
         f"runs above the random-{n} oracle mean", "best truth evaluated"],
        [[labels.get(lab, lab), f"{s['mean']:.2f} ± {s['std']:.2f}",
          f"{s['gap_to_optimum']:.2f}", f"{s['beat_oracle_random']}/{len(s['finals'])}",
          f"{s['best_evaluated_mean']:.2f}"]
         for lab, s in out["strategies"].items()],
    )  # fmt: skip
    return f"{base}\n\n{strat}"


if __name__ == "__main__":
    main()
