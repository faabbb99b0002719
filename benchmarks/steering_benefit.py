"""Does steering help? Paired searches with and without scripted users, NB201 CIFAR-10.

Every seed runs the same search three times, differing only in who steers:

* ``none``: nobody (the unsteered run);
* ``accept``: scripted user (b), who accepts every current suggestion of the engine
  (:func:`nas_engine.runner.evidence.run_evidence` on the run's fitness) every
  ``--every`` candidates, through :class:`~nas_engine.steering.Steering` like a chip
  click, the evidence as the note (``nasnav search --accept-suggestions``);
* ``cautious``: the README's cautious expert (round 1): every ``--every`` candidates it
  prunes, on each edge keeping at least 2 ops, the op whose cells' mean fitness
  percentile trails the others by more than 5 points (``nas_engine.analysis``).

Each search runs as the background runner does: the strategy asks inside the mask and
the resource budget, the online fitness is :func:`~nas_engine.runner.evaluation.fitness`
(the log-rank ensemble of ``--members``), and the cell the run *returns* after ``t``
evaluations is the first of :func:`~nas_engine.runner.ranking.ranked`. Its ground truth
(``nb201_cifar10_test_acc.csv``) after each evaluation is the curve. The proxy scores
come from the whole-space cache of the data-free members (scored once, resumable).

Per seed and user: the final returned truth, and the evaluations needed to reach the
unsteered run's final truth (the first ``t`` at which the returned cell is at least as
good; ``null`` when never reached). Over the seeds: paired differences against
``none`` with Wilcoxon signed-rank p-values; a never-reached count is ranked as
``budget + 1`` in the test.

    python benchmarks/steering_benefit.py --seeds 0-19 --budget 300 --max-flops none,50

Writes ``benchmarks/results/steering_benefit.{json,md,svg}`` (``--out`` names another
stem; the JSON always goes to ``benchmarks/results/``); :func:`render` turns the JSON into
the README's tables (``python benchmarks/render_readme.py``).
"""

from __future__ import annotations

import argparse
import contextlib
import math
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import REPO, RESULTS, markdown_table, shared_dir, write_result
from nas_engine.analysis import op_importance, worst_ops
from nas_engine.benchmarks import load_ground_truth
from nas_engine.evidence import MIN_CELLS
from nas_engine.proxies import ProxySuite
from nas_engine.proxies.space_scores import read_space_scores, score_space, space_score_path
from nas_engine.resources import CostTable, Region
from nas_engine.runner import SearchConfig
from nas_engine.runner.evaluation import Evaluation, fitness
from nas_engine.runner.evidence import accept, candidate_values, run_evidence
from nas_engine.runner.ranking import ranked
from nas_engine.runner.strategy import make_strategy
from nas_engine.search_spaces import MaskError, create_space
from nas_engine.steering import Steering
from nas_engine.storage import CandidateRecord

USERS = ("none", "accept", "cautious")
CACHE = REPO / "data" / "cache"


def parse_seeds(text: str) -> list[int]:
    """``0-19`` or ``0,1,2``."""
    out: list[int] = []
    for part in text.split(","):
        a, sep, b = part.partition("-")
        out += list(range(int(a), int(b) + 1)) if sep else [int(a)]
    return out


def run_one(
    space: Any,
    cfg: SearchConfig,
    user: str,
    every: int,
    scores: Callable[[int], dict[str, float]],
    truth: np.ndarray,
    costs: CostTable,
    *,
    min_cells: int = MIN_CELLS,
) -> dict[str, Any]:
    """One search with one scripted user; the returned cell's truth after each step."""
    budget = cfg.resource_budget()
    feasible = costs.feasible(budget) if budget.is_set else None

    def check(mask: Any, b: Any) -> None:
        if b.is_set:
            costs.check(b, space.mask_vector(mask), what="the mask")

    steering = Steering(space.full_mask(), budget=budget, check=check)
    strat = make_strategy(cfg.strategy, space, cfg, history=[],
                          mask=Region(space, steering.mask, feasible))  # fmt: skip
    rng = np.random.default_rng([cfg.seed, 0])  # as the session seeds a new run
    hist: list[CandidateRecord] = []
    curve: list[float] = []
    at: list[int] = []
    for t in range(cfg.budget):
        region = Region(space, steering.mask, feasible)
        arch = strat.ask(region, rng)
        if not region.allows(arch):
            raise AssertionError(f"asked {space.to_string(arch)} outside the region")
        idx = space.index(arch)
        ev = Evaluation(scores=scores(idx), seconds={}, oneshot=None, truth=None, error=None)
        fit = fitness(ev, kind="proxy", config=cfg, history=hist)
        strat.tell(arch, fit)
        hist.append(ev.record(seq=t, arch=space.to_string(arch), mask_version=steering.version,
                              strategy=cfg.strategy, fitness=fit, seconds=0.0))  # fmt: skip
        top = ranked(hist, config=cfg, fitness_kind="proxy")[0]
        curve.append(float(truth[space.index(space.from_string(top.arch))]))
        if user == "none" or (t + 1) % every or t + 1 >= cfg.budget:
            continue
        before = steering.version
        if user == "accept":
            evidence = run_evidence(
                hist, space, steering.mask, config=cfg, fitness_kind="proxy",
                budget=steering.budget, costs=costs, seed=cfg.seed, min_cells=min_cells,
            )  # fmt: skip
            accept(evidence.suggestions, steering.apply)
        else:
            ens = candidate_values(hist, "ensemble", config=cfg, fitness_kind="proxy")
            ops = [space.ops_of(space.from_string(h.arch)) for h in hist]
            imp = op_importance(ops, list(ens), op_names=space.ops)
            for e, op in worst_ops(imp, steering.mask, keep=2, margin=0.05):
                with contextlib.suppress(MaskError):  # e.g. a budget no cell would meet
                    steering.apply("prune", e, op, note="cautious expert")
        at += [t + 1] * (steering.version - before)  # evaluations before each event
        if steering.version != before:
            strat.on_mask_change(Region(space, steering.mask, feasible))
    return {
        "curve": curve,
        "final": curve[-1],
        "prunes": [(at[e.seq], e.edge, e.op, e.note) for e in steering.events],
        "cells": len({h.arch for h in hist}),
    }


def evals_to(curve: Sequence[float], target: float) -> int | None:
    """First evaluation count at which the returned cell reaches ``target``."""
    return next((i + 1 for i, v in enumerate(curve) if v >= target - 1e-9), None)


def wilcoxon_p(diffs: Sequence[float]) -> float | None:
    """Two-sided Wilcoxon signed-rank p-value (zeros dropped); ``None`` if all are 0."""
    from scipy.stats import wilcoxon

    d = [x for x in diffs if x != 0]
    if not d:
        return None
    return float(wilcoxon(d).pvalue)


def summarise(runs: dict[str, list[dict[str, Any]]], budget: int) -> dict[str, Any]:
    """Per user: finals, evaluations to the unsteered final, paired differences."""
    base = runs["none"]
    out: dict[str, Any] = {}
    for user, rs in runs.items():
        finals = [r["final"] for r in rs]
        need = [evals_to(r["curve"], b["final"]) for r, b in zip(rs, base, strict=True)]
        base_need = [evals_to(b["curve"], b["final"]) for b in base]
        cens = [budget + 1 if n is None else n for n in need]
        d_final = [r["final"] - b["final"] for r, b in zip(rs, base, strict=True)]
        d_evals = [c - (bn or budget + 1) for c, bn in zip(cens, base_need, strict=True)]
        ratio = [c / bn for c, bn in zip(cens, base_need, strict=True) if bn]
        out[user] = {
            "final_mean": float(np.mean(finals)),
            "final_std": float(np.std(finals)),
            "evals_to_unsteered": need,
            "reached": sum(n is not None for n in need),
            "evals_median": float(np.median(cens)),
            "unsteered_evals_median": float(np.median([bn or budget + 1 for bn in base_need])),
            "evals_ratio_median": float(np.median(ratio)) if ratio else None,
            "evals_ratio_of_means": float(
                np.mean(cens) / np.mean([bn or budget + 1 for bn in base_need])
            ),
            "final_diff_mean": float(np.mean(d_final)),
            "final_diff": d_final,
            "final_p": wilcoxon_p(d_final),
            "evals_diff_median": float(np.median(d_evals)),
            "evals_p": wilcoxon_p(d_evals),
            "prunes_mean": float(np.mean([len(r["prunes"]) for r in rs])),
            "first_prune_median": _median([r["prunes"][0][0] for r in rs if r["prunes"]]),
        }
    return out


def calibration(
    space: Any, runs: int, cells: int, shift: float, *, min_cells: int = MIN_CELLS
) -> dict[str, Any]:
    """How often one round of suggestions fires on pure noise (false alarms), and how
    often it names exactly a planted bad op (power), on ``cells`` random distinct cells.

    The metric is standard normal noise; in the planted runs the cells using one random
    op at one random position lose ``shift`` standard deviations.
    """
    from nas_engine.evidence import op_effects, suggest

    null_hits, found, wrong = 0, 0, 0
    for i in range(runs):
        rng = np.random.default_rng([i, 11])
        archs = space.sample_distinct(cells, rng)
        ops = [space.ops_of(a) for a in archs]
        noise = rng.normal(size=cells)
        eff = op_effects(ops, noise, op_names=space.ops, seed=i)
        null_hits += bool(suggest(eff, space.full_mask(), metric="noise", min_cells=min_cells))
        pos, op = int(rng.integers(space.num_edges)), space.ops[int(rng.integers(len(space.ops)))]
        planted = noise - shift * np.array([o[pos] == op for o in ops])
        got = suggest(op_effects(ops, planted, op_names=space.ops, seed=i), space.full_mask(),
                      metric="planted", min_cells=min_cells)  # fmt: skip
        found += any((s.position, s.op) == (pos, op) for s in got)
        wrong += any((s.position, s.op) != (pos, op) for s in got)
    return {"runs": runs, "cells": cells, "shift_sd": shift,
            "null_rounds_with_a_suggestion": null_hits, "planted_found": found,
            "planted_rounds_with_another_suggestion": wrong}  # fmt: skip


def _median(xs: Sequence[float]) -> float | None:
    return float(np.median(xs)) if len(xs) else None


def curve_band(rs: Sequence[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
    """Mean curve and the half-width of its 95 % interval (normal, over seeds)."""
    c = np.asarray([r["curve"] for r in rs])
    half = 1.96 * c.std(axis=0, ddof=1) / math.sqrt(len(c)) if len(c) > 1 else 0 * c[0]
    return c.mean(axis=0), half


def svg(results: dict[str, Any]) -> str:
    """Mean ± 95 % CI of the returned cell's truth against evaluations, one panel per
    setting."""
    colours = {"none": "#555555", "accept": "#1f77b4", "cautious": "#d62728"}
    pw, ph, left, bottom, top = 420, 300, 52, 36, 24
    settings = list(results["settings"])
    w = pw * len(settings)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{ph}" '
             'font-family="sans-serif" font-size="11">',
             f'<rect width="{w}" height="{ph}" fill="white"/>']  # fmt: skip
    for k, key in enumerate(settings):
        runs = results["settings"][key]["runs"]
        bands = {u: curve_band(runs[u]) for u in runs}
        skip = 10  # the first evaluations span several points; the y axis starts after
        lo = min(float((m - h)[skip:].min()) for m, h in bands.values())
        hi = max(float((m + h)[skip:].max()) for m, h in bands.values())
        lo, hi = math.floor(lo * 4) / 4, math.ceil(hi * 4) / 4
        n = len(next(iter(bands.values()))[0])
        x0 = k * pw

        def px(i: float, x0: float = x0, n: int = n) -> float:
            return x0 + left + (pw - left - 12) * i / max(n - 1, 1)

        def py(y: float, lo: float = lo, hi: float = hi) -> float:
            y = min(max(y, lo), hi)  # the first few evaluations are clipped at the bottom
            return ph - bottom - (ph - bottom - top) * (y - lo) / max(hi - lo, 1e-9)

        parts.append(f'<text x="{x0 + pw / 2}" y="14" text-anchor="middle" font-weight="bold">'
                     f'{results["settings"][key]["label"]}</text>')  # fmt: skip
        parts.append(f'<line x1="{px(0)}" y1="{py(lo)}" x2="{px(n - 1)}" y2="{py(lo)}" '
                     'stroke="black"/>'
                     f'<line x1="{px(0)}" y1="{py(lo)}" x2="{px(0)}" y2="{py(hi)}" '
                     'stroke="black"/>')  # fmt: skip
        for t in np.linspace(lo, hi, 5):
            parts.append(f'<text x="{px(0) - 4}" y="{py(t) + 4}" text-anchor="end">{t:.1f}'
                         "</text>")  # fmt: skip
        for i in range(0, n + 1, max(n // 6, 1)):
            parts.append(f'<text x="{px(max(i - 1, 0))}" y="{py(lo) + 14}" '
                         f'text-anchor="middle">{max(i, 1)}</text>')  # fmt: skip
        parts.append(f'<text x="{x0 + pw / 2}" y="{ph - 4}" text-anchor="middle">evaluations'
                     "</text>")  # fmt: skip
        if k == 0:
            ylab = "test acc. % of the returned cell"
            parts.append(f'<text x="12" y="{ph / 2}" transform="rotate(-90 12 {ph / 2})" '
                         f'text-anchor="middle">{ylab}</text>')  # fmt: skip
        for j, (u, (m, h)) in enumerate(bands.items()):
            c = colours.get(u, "#2ca02c")
            upper = " ".join(f"{px(i):.1f},{py(v):.1f}" for i, v in enumerate(m + h))
            lower = " ".join(
                f"{px(i):.1f},{py(v):.1f}" for i, v in reversed(list(enumerate(m - h)))
            )
            parts.append(f'<polygon points="{upper} {lower}" fill="{c}" fill-opacity="0.15" '
                         'stroke="none"/>')  # fmt: skip
            line = " ".join(f"{px(i):.1f},{py(v):.1f}" for i, v in enumerate(m))
            parts.append(f'<polyline points="{line}" fill="none" stroke="{c}" '
                         'stroke-width="1.6"/>')  # fmt: skip
            parts.append(f'<text x="{px(n - 1)}" y="{py(lo) - 8 - 13 * j}" text-anchor="end" '
                         f'fill="{c}">{u}</text>')  # fmt: skip
    parts.append("</svg>")
    return "\n".join(parts)


def report(results: dict[str, Any]) -> str:
    """The markdown tables."""
    out = []
    c = results.get("calibration")
    if c:
        out.append(
            f"Calibration ({c['runs']} runs of {c['cells']} random cells): a round of "
            f"suggestions on pure noise suggested something in "
            f"{c['null_rounds_with_a_suggestion']}/{c['runs']} runs; with one op made "
            f"{c['shift_sd']:g} SD worse it suggested exactly that op in "
            f"{c['planted_found']}/{c['runs']} runs, and another op in "
            f"{c['planted_rounds_with_another_suggestion']}/{c['runs']}.\n"
        )
    for s in results["settings"].values():
        b = results["budget"]
        out.append(f"**{s['label']}** ({len(results['seeds'])} paired seeds, budget {b})\n")
        rows = []
        for u, m in s["summary"].items():
            rows.append([
                u, m["final_mean"], m["final_std"],
                "—" if u == "none" else f"{m['final_diff_mean']:+.3f}",
                "—" if m["final_p"] is None or u == "none" else f"{m['final_p']:.3g}",
                f"{m['reached']}/{len(results['seeds'])}", m["evals_median"],
                "—" if m["evals_ratio_median"] is None else f"{m['evals_ratio_median']:.2f}",
                f"{m['evals_ratio_of_means']:.2f}",
                "—" if m["evals_p"] is None or u == "none" else f"{m['evals_p']:.3g}",
                m["prunes_mean"],
                "—" if m["first_prune_median"] is None else m["first_prune_median"],
            ])  # fmt: skip
        out.append(markdown_table(
            ["user", "final acc. %", "std", "paired Δ final", "Wilcoxon p (final)",
             "reached unsteered final", "median evals to it", "median ratio vs unsteered",
             "ratio of means", "Wilcoxon p (evals)", "prunes per run",
             "first prune after (median evals)"], rows))  # fmt: skip
        out.append("")
    return "\n".join(out)


def render(results: dict[str, Any]) -> str:
    """The README's block: :func:`report` of the JSON (calibration line and tables)."""
    return report(results)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", default="0-19")
    ap.add_argument("--budget", type=int, default=300)
    ap.add_argument("--max-flops", default="none,50",
                    help="settings: 'none' (unconstrained) and/or MFLOPs limits")  # fmt: skip
    ap.add_argument("--every", type=int, default=SearchConfig.suggest_every)
    ap.add_argument("--strategy", default=SearchConfig.strategy)
    ap.add_argument("--members", default="synflow,meco")
    ap.add_argument("--users", default=",".join(USERS))
    ap.add_argument("--shared", default=None)
    ap.add_argument("--min-cells", type=int, default=MIN_CELLS,
                    help="cells needed on each side of a suggestion's comparison")  # fmt: skip
    ap.add_argument("--calibration", type=int, default=200,
                    help="runs of the noise / planted-op check (0: skip)")  # fmt: skip
    ap.add_argument("--out", default=str(RESULTS / "steering_benefit"))
    args = ap.parse_args()
    shared = shared_dir(args.shared)
    space = create_space("nb201")
    members = [m for m in args.members.split(",") if m]
    build = {"C": 16, "N": 5}  # the whole-space job's settings (its cache is shared)
    path = space_score_path(CACHE, space, members, build_kwargs=build)
    t0 = time.time()
    done = score_space(ProxySuite(space, members, seed=0, build_kwargs=build), path,
                       on_progress=lambda p: print(f"\rscoring the space {p.done}/{p.total}",
                                                   end="", flush=True))  # fmt: skip
    print(f"\rwhole-space scores: {done.done} cells ({time.time() - t0:.0f} s this run)")
    table = read_space_scores(space, path)

    def scores(i: int) -> dict[str, float]:
        return {m: float(table.values[m][i]) for m in members}

    gt = load_ground_truth(f"csv:{shared / 'nb201_cifar10_test_acc.csv'}")
    truth = np.asarray([gt.lookup(space.to_string(space.from_index(i)))
                        for i in range(space.size)])  # fmt: skip
    costs = CostTable.compute(space, num_classes=10, in_channels=3, input_shape=(3, 32, 32),
                              cache_dir=CACHE, **build)  # fmt: skip
    seeds = parse_seeds(args.seeds)
    users = [u for u in args.users.split(",") if u]
    if users[0] != "none":
        sys.exit("--users must start with 'none' (the paired baseline)")
    results: dict[str, Any] = {
        "seeds": seeds, "budget": args.budget, "every": args.every, "strategy": args.strategy,
        "min_cells": args.min_cells,
        "members": members, "aggregation": "log_rank", "truth": "nb201_cifar10_test_acc.csv",
        "settings": {},
    }  # fmt: skip
    for mf in args.max_flops.split(","):
        limit = None if mf.strip().lower() == "none" else float(mf)
        key = "unconstrained" if limit is None else f"flops<={limit:g}"
        label = "unconstrained" if limit is None else f"≤ {limit:g} MFLOPs"
        runs: dict[str, list[dict[str, Any]]] = {u: [] for u in users}
        for sd in seeds:
            cfg = SearchConfig(
                proxy="ensemble", ensemble=tuple(members), aggregation="log_rank",
                strategy=args.strategy, supernet=False, budget=args.budget, seed=sd,
                max_flops=limit,
            )  # fmt: skip
            for u in users:
                t1 = time.time()
                r = run_one(space, cfg, u, args.every, scores, truth, costs,
                            min_cells=args.min_cells)  # fmt: skip
                runs[u].append(r)
                print(f"{key} seed {sd} {u}: final {r['final']:.2f} "
                      f"({len(r['prunes'])} prunes, {time.time() - t1:.1f} s)")  # fmt: skip
        results["settings"][key] = {
            "label": label, "max_flops": limit, "runs": runs,
            "summary": summarise(runs, args.budget),
        }  # fmt: skip
    if args.calibration:
        results["calibration"] = calibration(space, args.calibration, 200, 0.5,
                                             min_cells=args.min_cells)  # fmt: skip
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    md = report(results)
    write_result(out.name, results, markdown=md)
    out.with_suffix(".svg").write_text(svg(results))
    print(md)
    print(f"wrote {out}.{{json,md,svg}}")


if __name__ == "__main__":
    main()
