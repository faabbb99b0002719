"""Search quality on real data: what each strategy returns, in NAS-Bench-201 test accuracy.

Every strategy runs through its ask/tell interface, exactly as the background runner
drives it, with the runner's fitness: the online rank ensemble (``percentile_fitness``) of
proxies computed on the shared CIFAR-10 subset (batch 64, seed 0). The cell a run
*returns* is the best by rank ensemble over all its evaluated cells (as the runner's
``best``); its ground truth comes from ``nb201_cifar10_test_acc.csv``. The supernet is
not used here (see ``benchmarks/throughput.py``).

The scripted expert steers like a person: every ``--expert-every`` candidates it prunes,
on each edge, the allowed op whose candidates score worst (``nas_engine.analysis``).

Proxy scores are cached in a resumable CSV (seeded from the fidelity run's scores, which
use the same settings), so an interrupted run continues and reruns are cheap.

    python benchmarks/search_quality.py --budget 300 --seeds 0,1,2,3,4
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import (
    REPO,
    RESULTS,
    ScoreCache,
    markdown_table,
    members_text,
    shared_dir,
    write_result,
)
from nas_engine.analysis import op_importance, worst_ops
from nas_engine.benchmarks import load_ground_truth
from nas_engine.data import load_dataset
from nas_engine.proxies import ProxySuite, percentile_fitness, rank_ensemble
from nas_engine.proxies.space_scores import read_space_scores, score_space, space_score_path
from nas_engine.runner import SearchConfig
from nas_engine.runner.evaluation import Evaluation, fitness
from nas_engine.runner.fidelity import search_fidelity
from nas_engine.runner.ranking import ranked
from nas_engine.search_spaces import create_space
from nas_engine.storage import CandidateRecord
from nas_engine.strategies import create_strategy
from nas_engine.supernet import SupernetConfig, SupernetTrainer

OPTIMUM = 94.37  # best NB201 CIFAR-10 test accuracy in the shared table


def run_one(
    space: Any,
    strategy: str,
    seed: int,
    budget: int,
    cache: ScoreCache,
    truth: Any,
    *,
    members: list[str],
    expert_every: int = 0,
    expert_keep: int = 1,
    expert_margin: float = 0.0,
) -> dict[str, Any]:
    """One search; returns the best-so-far ground truth after each evaluation."""
    rng = np.random.default_rng([seed, 0])
    strat = create_strategy(strategy, space)
    mask = space.full_mask()
    hist: list[tuple[str, dict[str, float]]] = []
    curve: list[float] = []
    prunes: list[tuple[int, int, str]] = []
    for t in range(budget):
        arch = strat.ask(mask, rng)
        assert mask.allows(space.ops_of(arch))
        s = space.to_string(arch)
        scores = cache.get(s)
        fit = percentile_fitness(scores, [h[1] for h in hist], members)
        strat.tell(arch, fit)
        hist.append((s, scores))
        ens = rank_ensemble({m: [h[1][m] for h in hist] for m in members}, members)
        curve.append(float(truth.lookup(hist[int(np.argmax(ens))][0])))
        if expert_every and (t + 1) % expert_every == 0 and t + 1 < budget:
            imp = op_importance(
                [space.ops_of(space.from_string(h[0])) for h in hist],
                list(ens),
                op_names=space.ops,
            )
            for e, op in worst_ops(imp, mask, keep=expert_keep, margin=expert_margin):
                mask = mask.prune(e, op)
                prunes.append((t + 1, e, op))
            strat.on_mask_change(mask)
    return {"curve": curve, "prunes": prunes, "final": curve[-1]}


def run_hybrid(
    space: Any,
    strategy: str,
    seed: int,
    budget: int,
    scores: Callable[[str], dict[str, float]],
    oneshot: Callable[[str], float] | None,
    truth: Any,
    *,
    members: list[str],
) -> dict[str, Any]:
    """One search through the runner's own fitness and ranking: the zero-cost ensemble
    of ``members`` (log rank), plus, when ``oneshot`` is given, the one-shot estimate as
    a member weighted by its search fidelity (never ground truth)."""
    cfg = SearchConfig(
        proxy="ensemble", ensemble=tuple(members), aggregation="log_rank",
        hybrid=oneshot is not None, strategy=strategy,
    )  # fmt: skip
    rng = np.random.default_rng([seed, 0])
    strat = create_strategy(strategy, space)
    mask = space.full_mask()
    hist: list[CandidateRecord] = []
    curve: list[float] = []
    weights: list[float] = []
    for t in range(budget):
        arch = strat.ask(mask, rng)
        s = space.to_string(arch)
        ev = Evaluation(scores=scores(s), seconds={}, oneshot=oneshot(s) if oneshot else None,
                        truth=None, error=None)  # fmt: skip
        fid = search_fidelity(hist, members=members, aggregation=cfg.aggregation)
        weights.append(fid.weight)
        fit = fitness(ev, kind="proxy", config=cfg, history=hist, oneshot_weight=fid.weight)
        strat.tell(arch, fit)
        hist.append(ev.record(seq=t, arch=s, mask_version=0, strategy=strategy, fitness=fit,
                              seconds=0.0))  # fmt: skip
        top = ranked(hist, config=cfg, fitness_kind="proxy")[0]
        curve.append(float(truth.lookup(top.arch)))
    return {"curve": curve, "final": curve[-1], "weight_end": weights[-1]}


def oneshot_estimator(state_path: Path, space: Any, data: Any) -> Callable[[str], float]:
    """The one-shot estimate (the engine's default, the likelihood ``100·exp(−loss)``) of
    a cell from a supernet saved by oneshot_fidelity.py (cached in a CSV beside the other
    benchmark caches, keyed by the weights file)."""
    import hashlib
    import os

    state = torch.load(state_path, map_location="cpu", weights_only=True)
    trainer = SupernetTrainer(space, data, SupernetConfig(**state["config"]))
    trainer.load_state_dict(state)
    key = hashlib.sha1(state_path.read_bytes()).hexdigest()[:12]
    path = REPO / "data" / "bench_cache" / f"oneshot_estimates_{key}.csv"
    cache: dict[str, float] = {}
    if path.is_file():
        for line in path.read_text().splitlines()[1:]:
            a, v = line.rsplit(",", 1)
            cache[a] = float(v)
    path.parent.mkdir(parents=True, exist_ok=True)
    f = path.open("a")
    if not cache:
        f.write("arch,oneshot\n")

    def estimate(arch: str) -> float:
        if arch not in cache:
            cache[arch] = trainer.estimate(space.from_string(arch)).likelihood
            f.write(f"{arch},{cache[arch]!r}\n")
            f.flush()
            os.fsync(f.fileno())
        return cache[arch]

    return estimate


def hybrid_section(args: argparse.Namespace, space: Any, data: Any, truth: Any) -> None:
    """Paired rows: the zero-cost ensemble against the hybrid ensemble, same seeds."""
    members = [m for m in args.hybrid_members.split(",") if m]
    build = {"C": 16, "N": 5}  # the whole-space job's settings (its cache is reused)
    path = space_score_path(REPO / "data" / "cache", space, members, build_kwargs=build)
    score_space(ProxySuite(space, members, seed=0, build_kwargs=build), path)
    table = read_space_scores(space, path)

    def scores(arch: str) -> dict[str, float]:
        i = space.index(space.from_string(arch))
        return {m: float(table.values[m][i]) for m in members}

    oneshot = oneshot_estimator(Path(args.oneshot_state), space, data)
    seeds = [int(s) for s in args.seeds.split(",")]
    result: dict[str, Any] = {"members": members, "state": args.oneshot_state, "rows": {}}
    rows = []
    for strategy in args.hybrid_strategies.split(","):
        plain = [run_hybrid(space, strategy, sd, args.budget, scores, None, truth,
                            members=members) for sd in seeds]  # fmt: skip
        mixed = [run_hybrid(space, strategy, sd, args.budget, scores, oneshot, truth,
                            members=members) for sd in seeds]  # fmt: skip
        for label, rs in (
            (f"{strategy} · zero-cost ensemble ({'+'.join(members)})", plain),
            (f"{strategy} · hybrid (+ one-shot, fidelity-weighted)", mixed),
        ):
            finals = [r["final"] for r in rs]
            rows.append([label, statistics.mean(finals), statistics.pstdev(finals),
                         min(finals), max(finals),
                         statistics.mean(r.get("weight_end", 0.0) for r in rs)])  # fmt: skip
            result["rows"][label] = [{"final": r["final"], "weight_end": r["weight_end"],
                                      "curve": r["curve"]} for r in rs]  # fmt: skip
        diff = [m["final"] - p["final"] for m, p in zip(mixed, plain, strict=True)]
        result["rows"][f"{strategy} paired difference"] = diff
        print(f"{strategy}: hybrid − zero-cost per seed {[round(d, 2) for d in diff]}")
    result["table"] = {
        "header": [f"search (budget {args.budget}, seeds {args.seeds})", "mean test acc. %",
                   "std", "min", "max", "one-shot weight at the end"],
        "rows": rows,
    }  # fmt: skip
    md = render(result)
    print(md)
    write_result("search_quality_hybrid", result, markdown=md)


def _label(row: str, budget: int) -> str:
    """The README's wording of a strategy row (the JSON keeps the run's labels)."""
    base, _, expert = row.partition(" + ")
    name = {
        "random": f"random (the proxy picks the best of {budget} random cells)",
        "evolution": "regularised evolution",
        "proxy_evolution": "proxy-guided evolution (elitist)",
    }.get(base, base)
    if expert:
        name = name.removesuffix(" (elitist)") + " + " + expert
    return name


def render(result: dict[str, Any]) -> str:
    """The README's table of a ``search_quality*.json`` (its ``table``), from the JSON alone:
    the strategies in words, the fitness members in the header and the best mean in bold."""
    header, rows = list(result["table"]["header"]), [list(r) for r in result["table"]["rows"]]
    if "members" in result and header[0] == "strategy":
        header[0] = f"strategy (fitness: rank ensemble of {members_text(result['members'])})"
        best = max(r[1] for r in rows)
        for r in rows:
            r[0] = _label(r[0], result["budget"])
            if r[1] == best:
                r[1] = f"**{r[1]:.3f}**"
    return markdown_table(header, rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", default=None, help="folder with the shared data")
    ap.add_argument("--budget", type=int, default=300)
    ap.add_argument("--seeds", default="0,1,2,3,4")
    ap.add_argument("--strategies", default="random,evolution,proxy_evolution")
    ap.add_argument("--expert-strategy", default="proxy_evolution")
    ap.add_argument("--expert-every", type=int, default=50)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument(
        "--members",
        default="naswot,synflow,params",
        help="rank-ensemble fitness members (default: the runner's default ensemble "
        "without ZiCo, whose two backward passes dominate the cost on 2 CPU cores)",
    )
    ap.add_argument(
        "--oneshot-state",
        default=None,
        help="supernet weights (from oneshot_fidelity.py): add paired hybrid-ensemble rows",
    )
    ap.add_argument("--hybrid-strategies", default="evolution")
    ap.add_argument(
        "--hybrid-members",
        default="synflow,meco",
        help="zero-cost members of the hybrid rows (the whole-space cache's proxies)",
    )
    ap.add_argument("--only-hybrid", action="store_true", help="skip the other rows")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    shared = shared_dir(args.shared)
    space = create_space("nb201")
    if args.oneshot_state:
        hybrid_section(
            args, space, load_dataset(f"npz:{shared / 'cifar10_subset.npz'}"),
            load_ground_truth(f"csv:{shared / 'nb201_cifar10_test_acc.csv'}"),
        )  # fmt: skip
        if args.only_hybrid:
            return
    members = [m.strip() for m in args.members.split(",") if m.strip()]
    data = load_dataset(f"npz:{shared / 'cifar10_subset.npz'}")
    suite = ProxySuite(space, members, data=data, batch_size=64, seed=0)
    cache = ScoreCache(
        RESULTS / f"search_scores_{'-'.join(members)}.csv",
        suite,
        [RESULTS / "fidelity_scores.csv", *sorted(RESULTS.glob("search_scores_*.csv"))],
    )
    truth = load_ground_truth(f"csv:{shared / 'nb201_cifar10_test_acc.csv'}")
    seeds = [int(s) for s in args.seeds.split(",")]

    t0 = time.perf_counter()
    runs: dict[str, list[dict[str, Any]]] = {}
    # (strategy, expert every, ops kept per edge, margin): the expert prunes the
    # worst op of every edge every 50 candidates; the cautious one keeps 2 ops per edge
    # and prunes only an op trailing the rest by more than 5 percentile points.
    plan = [(s, 0, 1, 0.0) for s in args.strategies.split(",")]
    if args.expert_every:  # --expert-every 0: strategies only
        plan += [
            (args.expert_strategy, args.expert_every, 1, 0.0),
            (args.expert_strategy, args.expert_every, 2, 0.05),
        ]
    for strategy, every, keep, margin in plan:
        label = strategy
        if every:
            label += (
                f" + expert (every {every})"
                if keep == 1
                else (f" + cautious expert (every {every}, keeps {keep}, margin {margin})")
            )
        runs[label] = []
        for seed in seeds:
            r = run_one(
                space, strategy, seed, args.budget, cache, truth,
                members=members, expert_every=every, expert_keep=keep, expert_margin=margin,
            )  # fmt: skip
            runs[label].append(r)
            print(f"  {label:40s} seed {seed}: {r['final']:.2f}  "
                  f"({cache.computed} cells scored so far, "
                  f"{time.perf_counter() - t0:.0f}s)", flush=True)  # fmt: skip

    rows = []
    for label, rs in runs.items():
        finals = [r["final"] for r in rs]
        rows.append([label, statistics.mean(finals), statistics.pstdev(finals),
                     min(finals), max(finals), OPTIMUM - statistics.mean(finals)])  # fmt: skip
    print(f"\n### Search quality: NB201, budget {args.budget}, seeds {args.seeds}, "
          f"fitness = rank ensemble ({'+'.join(members)}) on the CIFAR-10 subset\n")  # fmt: skip
    print(markdown_table(
        ["strategy", "mean test acc. %", "std", "min", "max", "gap to optimum"], rows
    ))  # fmt: skip

    print(f"cells scored in this call: {cache.computed}; wall {time.perf_counter() - t0:.0f}s")
    write_result(
        f"search_quality_{'-'.join(members)}",
        {"budget": args.budget, "seeds": args.seeds, "members": members,
         "table": {"header": ["strategy", "mean test acc. %", "std", "min", "max",
                              "gap to optimum"], "rows": rows},
         "runs": {k: [{"final": r["final"], "prunes": r["prunes"], "curve": r["curve"]}
                      for r in v] for k, v in runs.items()}},
    )  # fmt: skip
    if not args.expert_every or args.expert_strategy not in runs:
        return
    plain = np.mean([r["curve"] for r in runs[args.expert_strategy]], axis=0)
    steered = {
        k: np.mean([r["curve"] for r in v], axis=0) for k, v in runs.items() if "expert" in k
    }
    marks = [m for m in (25, 50, 75, 100, 150, 200, 250, 300) if m <= args.budget]
    print("\n### Best-so-far ground truth of the returned cell (mean over seeds)\n")
    print(markdown_table(
        ["evaluations", *map(str, marks)],
        [[args.expert_strategy, *(float(plain[m - 1]) for m in marks)]]
        + [[k, *(float(c[m - 1]) for m in marks)] for k, c in steered.items()],
    ))  # fmt: skip
    target = float(plain[-1])
    print(f"\nunsteered {args.expert_strategy} ends at {target:.2f}% after {args.budget}.")
    for k, c in steered.items():
        # first evaluation count from which the mean curve stays at or above the target
        stay = next((i + 1 for i in range(len(c)) if c[i:].min() >= target), None)
        print(f"{k}: at or above it from evaluation {stay} on" if stay
              else f"{k}: does not stay at or above it within the budget")  # fmt: skip


if __name__ == "__main__":
    main()
