"""One-shot fidelity: how well the SPOS supernet's estimate ranks NB201 cells, against
minutes of training on this machine's CPU, with an ablation of training practices.

Every run trains the NB201 supernet on the shared CIFAR-10 subset (4,577 training
images; the estimates use the fixed 508-image validation split) and pauses its clock at
each checkpoint to estimate a fixed, seeded sample of cells (the first ``--cells`` of the
sample ``nasnav score --sample N --seed 0`` draws). It reports Spearman ρ, Kendall τ and
top-10 % precision against ``nb201_cifar10_test_acc.csv``, beside ZiCo, #params and the
default zero-cost ensemble on the same cells.

The ablation is a greedy forward selection: starting from round 1's setting, each
practice is added to the best setting so far and kept only if it raises ρ at the last
ablation checkpoint (``--ablation-minutes``). Every estimate protocol (accuracy or loss,
4 or 16 BatchNorm-recalibration batches) is measured on the same weights. The winner is
then trained on to ``--minutes``' last mark.

Runs save their state at every checkpoint (``data/bench_cache/oneshot_fidelity/``), so an
interrupted benchmark continues where it stopped. Writes
``benchmarks/results/oneshot_fidelity.{json,md,svg}``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import (
    REPO,
    RESULTS,
    ScoreCache,
    markdown_table,
    sample_cells,
    shared_dir,
    write_result,
)
from nas_engine.data import Dataset, load_dataset
from nas_engine.proxies import ProxySuite
from nas_engine.proxies.suite import DEFAULT_ENSEMBLE, ONESHOT, rank_ensemble
from nas_engine.search_spaces import SearchSpace, create_space
from nas_engine.supernet import SupernetConfig, SupernetTrainer

#: Round 1's supernet setting (the app's defaults before this benchmark).
BASE = SupernetConfig(C=8, N=1, batch_size=64, lr=0.05, schedule_steps=3000)

#: Practices tried one at a time, in this order; ``"schedule"`` is filled in at run time
#: with the steps the best setting so far reached in the ablation's minutes.
PRACTICES: tuple[tuple[str, dict[str, Any]], ...] = (
    ("augmentation (crop + flip)", {"augment": True}),
    ("fair path sampling", {"sampling": "fair"}),
    ("batch 128, lr 0.1", {"batch_size": 128, "lr": 0.1}),
    ("cosine over the whole budget", {"schedule_steps": "schedule"}),
    ("wider supernet (C=16)", {"C": 16}),
    ("deeper supernet (N=2)", {"N": 2}),
)

#: Estimate protocols: (BN-recalibration batches, validation images (0: all), metric).
PROTOCOLS: dict[str, tuple[int, int, str]] = {
    "acc, 4 BN batches": (4, 0, "acc"),
    "loss, 4 BN batches": (4, 0, "loss"),
    "acc, 16 BN batches": (16, 0, "acc"),
    "loss, 16 BN batches": (16, 0, "loss"),
}
CHEAP_PROTOCOLS = ("acc, 4 BN batches", "loss, 4 BN batches")  # one pass gives both
ZERO_COST = ("zico", "params", *DEFAULT_ENSEMBLE)
TRUTH_FILE = "nb201_cifar10_test_acc.csv"
INFORMATIVE = 0.3  # the engine's fidelity threshold


def quality(pred: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """Spearman, Kendall and top-10 % precision of ``pred`` (higher = better; undefined
    values rank worst, as the engine ranks them)."""
    pred = np.where(np.isfinite(pred), pred, -np.inf)
    k = max(1, len(truth) // 10)
    top_p, top_t = set(np.argsort(-pred)[:k]), set(np.argsort(-truth)[:k])
    return {
        "spearman": float(stats.spearmanr(pred, truth)[0]),
        "kendall": float(stats.kendalltau(pred, truth)[0]),
        "top10": len(top_p & top_t) / k,
    }


def estimate_all(
    trainer: SupernetTrainer, archs: Sequence[Any], protocols: Sequence[str]
) -> dict[str, np.ndarray]:
    """Each protocol's estimate (higher = better) of every cell."""
    out: dict[str, np.ndarray] = {}
    by_pass: dict[tuple[int, int], list[str]] = {}
    for p in protocols:
        by_pass.setdefault(PROTOCOLS[p][:2], []).append(p)
    for (calib, images), names in by_pass.items():
        ests = [trainer.estimate(a, calib_batches=calib, eval_images=images) for a in archs]
        for p in names:
            metric = PROTOCOLS[p][2]
            out[p] = np.array([e.acc if metric == "acc" else -e.loss for e in ests])
    return out


def run_key(cfg: SupernetConfig) -> str:
    """The state file's key: every setting that changes training (``estimate`` only
    changes what ``evaluate`` reports, and every protocol is measured anyway)."""
    d = {k: v for k, v in asdict(cfg).items() if k != "estimate"}
    return hashlib.sha1(json.dumps(d, sort_keys=True).encode()).hexdigest()[:12]


def train_run(
    name: str,
    cfg: SupernetConfig,
    *,
    space: SearchSpace[Any],
    data: Dataset,
    archs: Sequence[Any],
    truth: np.ndarray,
    marks: Sequence[float],
    full_marks: Sequence[float] = (),
    state_dir: Path,
) -> dict[str, Any]:
    """Train ``cfg`` and estimate ``archs`` at each mark (minutes of training); resumable.

    Every protocol is measured at ``full_marks``, the cheap ones elsewhere. A run whose
    state is cached continues from its last mark (and adds protocols missing there).
    """
    import torch

    state_file = state_dir / f"{run_key(cfg)}.pt"
    trainer = SupernetTrainer(space, data, cfg)
    points: list[dict[str, Any]] = []
    train_s = 0.0
    if state_file.is_file():
        saved = torch.load(state_file, map_location="cpu", weights_only=True)
        trainer.load_state_dict(saved["trainer"])
        points, train_s = saved["points"], saved["train_s"]
    mask = space.full_mask()
    for mark in marks:
        want = list(PROTOCOLS) if mark in full_marks else list(CHEAP_PROTOCOLS)
        point = next((p for p in points if p["minutes"] == mark), None)
        if point is not None and (set(want) <= set(point["protocols"]) or point is not points[-1]):
            continue
        if point is None and train_s > 60.0 * mark + 1.0:
            raise RuntimeError(f"{name}: cached state is past {mark} min; delete {state_file}")
        t_mark = time.perf_counter()
        while train_s < 60.0 * mark:
            t0 = time.perf_counter()
            trainer.train_step(mask)
            train_s += time.perf_counter() - t0
        t_eval = time.perf_counter()
        missing = [p for p in want if point is None or p not in point["protocols"]]
        est = estimate_all(trainer, archs, missing)
        if point is None:
            point = {"minutes": mark, "steps": trainer.step, "train_seconds": round(train_s, 1)}
            point["protocols"] = {}
            points.append(point)
        point["protocols"].update({p: quality(v, truth) for p, v in est.items()})
        point.setdefault("estimates", {}).update({p: v.round(5).tolist() for p, v in est.items()})
        point["eval_seconds"] = round(time.perf_counter() - t_eval, 1)
        best = max(point["protocols"].items(), key=lambda kv: kv[1]["spearman"])
        print(
            f"  {name}: {mark:g} min, {trainer.step} steps, best ρ {best[1]['spearman']:.3f}"
            f" ({best[0]}; {time.perf_counter() - t_mark:.0f} s wall)",
            flush=True,
        )
        state_dir.mkdir(parents=True, exist_ok=True)
        tmp = state_file.with_suffix(".tmp")
        torch.save({"trainer": trainer.state_dict(), "points": points, "train_s": train_s}, tmp)
        tmp.replace(state_file)
        # the weights at each mark, for estimators elsewhere (search_quality.py)
        torch.save(trainer.state_dict(), state_dir / f"{run_key(cfg)}@{mark:g}min.pt")
    return {"name": name, "config": asdict(cfg), "points": points}


def best_rho(
    run: dict[str, Any], minutes: float, protocols: Sequence[str] = CHEAP_PROTOCOLS
) -> tuple[float, str]:
    """The best ρ (and its protocol) of ``run`` at ``minutes`` among ``protocols``."""
    point = next(p for p in run["points"] if p["minutes"] == minutes)
    proto, q = max(
        ((k, v) for k, v in point["protocols"].items() if k in protocols),
        key=lambda kv: kv[1]["spearman"],
    )
    return q["spearman"], proto


def zero_cost(
    space: SearchSpace[Any], data: Dataset, cells: list[str], seed: int
) -> dict[str, np.ndarray]:
    """ZiCo's, #params' and the default ensemble members' scores of the cells (cached)."""
    suite = ProxySuite(space, list(dict.fromkeys(ZERO_COST)), data=data, batch_size=64, seed=seed)
    cache = ScoreCache(
        REPO / "data" / "bench_cache" / "oneshot_fidelity_zc.csv",
        suite,
        seed_from=[REPO / "data" / "bench_cache" / "frontier_sample.csv"],
    )
    rows = [cache.get(c) for c in cells]
    return {n: np.array([r[n] for r in rows]) for n in suite.names}


def hybrid(
    scores: dict[str, np.ndarray], oneshot: np.ndarray, truth: np.ndarray
) -> dict[str, float]:
    """The hybrid ensemble: the default members plus the one-shot estimate, weighted by
    its fidelity against the zero-cost ensemble (the engine's rule when no ground truth
    or trained cell is used: ρ clipped to [0, 1], and 0 below 0.3). Truth only judges."""
    ens = rank_ensemble(scores, DEFAULT_ENSEMBLE)
    rho = float(stats.spearmanr(oneshot, ens)[0])
    w = rho if rho >= INFORMATIVE else 0.0
    mixed = rank_ensemble(
        {**scores, ONESHOT: oneshot}, [*DEFAULT_ENSEMBLE, ONESHOT], weights={ONESHOT: w}
    )
    return {**quality(mixed, truth), "weight": w, "fidelity_vs_ensemble": rho}


def svg_plot(series: dict[str, list[tuple[float, float]]], lines: dict[str, float]) -> str:
    """A small SVG line chart of ρ against minutes (series) with reference lines."""
    w, h, left, bottom = 640, 360, 56, 40
    xs = [x for s in series.values() for x, _ in s] or [1.0]
    x_max = max(xs)
    y_lo = min([0.0, *[y for s in series.values() for _, y in s]])

    def px(x: float) -> float:
        return left + (w - left - 16) * x / x_max

    def py(y: float) -> float:
        return h - bottom - (h - bottom - 16) * (y - y_lo) / (1.0 - y_lo)

    colours = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2"]
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" '
        'font-family="sans-serif" font-size="11">',
        f'<rect width="{w}" height="{h}" fill="white"/>',
        f'<line x1="{left}" y1="{py(y_lo)}" x2="{w - 16}" y2="{py(y_lo)}" stroke="black"/>',
        f'<line x1="{left}" y1="{py(y_lo)}" x2="{left}" y2="{py(1.0)}" stroke="black"/>',
        f'<text x="{w / 2}" y="{h - 8}" text-anchor="middle">training minutes (2 CPU cores)'
        "</text>",
        f'<text x="14" y="{h / 2}" transform="rotate(-90 14 {h / 2})" text-anchor="middle">'
        "Spearman ρ vs NB201 CIFAR-10 test accuracy</text>",
    ]
    for t in np.linspace(y_lo, 1.0, 6):
        parts.append(f'<text x="{left - 6}" y="{py(t) + 4}" text-anchor="end">{t:.1f}</text>')
    for t in sorted({x for s in series.values() for x, _ in s}):
        parts.append(f'<text x="{px(t)}" y="{py(y_lo) + 14}" text-anchor="middle">{t:g}</text>')
    for i, (name, y) in enumerate(lines.items()):
        parts.append(
            f'<line x1="{left}" y1="{py(y)}" x2="{w - 16}" y2="{py(y)}" stroke="grey" '
            'stroke-dasharray="4 3"/>'
            f'<text x="{w - 18}" y="{py(y) - 3 - 0 * i}" text-anchor="end" fill="grey">'
            f"{name} {y:.2f}</text>"
        )
    for i, (name, pts) in enumerate(series.items()):
        c = colours[i % len(colours)]
        path = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in pts)
        parts.append(f'<polyline points="{path}" fill="none" stroke="{c}" stroke-width="2"/>')
        for x, y in pts:
            parts.append(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3" fill="{c}"/>')
        parts.append(f'<text x="{left + 8}" y="{28 + 14 * i}" fill="{c}">{name}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", default=None)
    ap.add_argument("--cells", type=int, default=200, help="cells estimated at each mark")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--minutes", default="1,3,10,20", help="marks of the winner's curve")
    ap.add_argument("--ablation-minutes", default="1,3,10", help="marks of every ablation run")
    ap.add_argument("--practices", default="all", help="comma-separated indices, or all")
    ap.add_argument("--state-dir", default=str(REPO / "data" / "bench_cache" / "oneshot_fidelity"))
    ap.add_argument("--out", default=str(RESULTS / "oneshot_fidelity"))
    ap.add_argument(
        "--headline-from",
        default=None,
        help="an ablation's JSON: train its chosen setting at --threads to --minutes only",
    )
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    shared = shared_dir(args.shared)
    space = create_space("nb201")
    data = load_dataset(f"npz:{shared / 'cifar10_subset.npz'}", seed=args.seed)
    truth_df = pd.read_csv(shared / TRUTH_FILE).set_index("arch")
    cells = sample_cells(space, args.cells, args.seed)  # the frontier table's first cells
    archs = [space.from_string(c) for c in cells]
    truth = truth_df.loc[cells, "cifar10_test_acc"].to_numpy(float)
    scores = zero_cost(space, data, cells, args.seed)
    zc = {n: quality(scores[n], truth) for n in ("zico", "params")}
    zc["zero-cost ensemble"] = quality(rank_ensemble(scores, DEFAULT_ENSEMBLE), truth)
    print("zero-cost on the same cells:", {k: round(v["spearman"], 3) for k, v in zc.items()})

    state_dir = Path(args.state_dir)
    common = dict(space=space, data=data, archs=archs, truth=truth, state_dir=state_dir)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if args.headline_from:
        result = headline(args, common, scores, zc)
    else:
        result = ablation(args, common, scores, zc)
    write_result(out.name, result, markdown=report(result))
    out.with_suffix(".svg").write_text(plot(result))
    print(report(result))


def ablation(
    args: argparse.Namespace,
    common: dict[str, Any],
    scores: dict[str, np.ndarray],
    zc: dict[str, dict[str, float]],
) -> dict[str, Any]:
    """The greedy ablation, then the winner trained on to the last of ``--minutes``."""
    ab_marks = [float(m) for m in args.ablation_minutes.split(",")]
    marks = sorted({*ab_marks, *(float(m) for m in args.minutes.split(","))})
    at = ab_marks[-1]
    chosen = [
        PRACTICES[int(i)] for i in args.practices.split(",")
    ] if args.practices != "all" else list(PRACTICES)  # fmt: skip
    runs = [train_run("round-1 setting", BASE, marks=ab_marks, full_marks=[at], **common)]
    best_cfg, best_run, kept = BASE, runs[0], []
    for label, change in chosen:
        change = dict(change)
        if change.get("schedule_steps") == "schedule":
            steps = next(p["steps"] for p in best_run["points"] if p["minutes"] == at)
            change["schedule_steps"] = max(100, int(round(steps, -2)))
        cfg = replace(best_cfg, **change)
        run = train_run(f"+ {label}", cfg, marks=ab_marks, **common)
        gain = best_rho(run, at)[0] - best_rho(best_run, at)[0]
        run["change"], run["gain"], run["kept"] = change, gain, gain > 0
        runs.append(run)
        print(f"{label}: Δρ {gain:+.3f} → {'kept' if gain > 0 else 'dropped'}", flush=True)
        if gain > 0:
            best_cfg, best_run = cfg, run
            kept.append(label)
    # the winner's protocols at the ablation marks are those it was chosen on
    winner = train_run(
        "chosen setting", best_cfg, marks=marks, full_marks=[m for m in marks if m > at],
        **common,
    )  # fmt: skip
    return finish(args, winner, scores, zc, at, common["truth"]) | {"runs": runs, "kept": kept}


def headline(
    args: argparse.Namespace,
    common: dict[str, Any],
    scores: dict[str, np.ndarray],
    zc: dict[str, dict[str, float]],
) -> dict[str, Any]:
    """The ablation's chosen setting (read from its JSON) trained at ``--threads``."""
    earlier = json.loads(Path(args.headline_from).read_text())
    # its own folder: the same setting at another thread count is another run
    common = {**common, "state_dir": Path(common["state_dir"]) / f"headline-{args.threads}t"}
    cfg = SupernetConfig(**earlier["winner"]["config"])
    marks = sorted(float(m) for m in args.minutes.split(","))
    at = earlier["ablation_minutes"]
    winner = train_run(
        f"chosen setting, {args.threads} threads", cfg, marks=marks,
        full_marks=[m for m in marks if m >= at], **common,
    )  # fmt: skip
    return finish(args, winner, scores, zc, at, common["truth"]) | {
        "runs": earlier["runs"],
        "kept": earlier.get("kept", earlier["winner"].get("kept", [])),
        "ablation": {"threads": earlier["threads"], "winner": earlier["winner"]},
    }


def finish(
    args: argparse.Namespace,
    winner: dict[str, Any],
    scores: dict[str, np.ndarray],
    zc: dict[str, dict[str, float]],
    at: float,
    truth: np.ndarray,
) -> dict[str, Any]:
    """The winner's protocol (its best at ``at`` minutes, or at its last mark when it
    stopped before), hybrid figures and metadata."""
    mark = at if any(p["minutes"] == at for p in winner["points"]) else None
    rho, proto = best_rho(winner, mark or winner["points"][-1]["minutes"], list(PROTOCOLS))
    for p in winner["points"]:
        if proto in p["estimates"]:
            p["hybrid"] = hybrid(scores, np.array(p["estimates"][proto]), truth)
    return {
        "cells": len(truth),
        "seed": args.seed,
        "truth": TRUTH_FILE,
        "threads": args.threads,
        "zero_cost": zc,
        "winner": {**winner, "protocol": proto, "rho_at_ablation": rho},
        "ablation_minutes": at,
        "machine_note": "wall-clock training time; evaluation paused the clock",
    }


def plot(result: dict[str, Any]) -> str:
    """ρ against minutes: the chosen setting, the round-1 setting, zero-cost lines."""
    win, zc = result["winner"], result["zero_cost"]
    proto = win["protocol"]
    series = {
        f"chosen setting ({result['threads']} threads)": [
            (p["minutes"], p["protocols"][proto]["spearman"])
            for p in win["points"]
            if proto in p["protocols"]
        ],
    }
    runs = result["runs"]
    ab_threads = result.get("ablation", {}).get("threads", result["threads"])
    series[f"round-1 setting ({ab_threads} thread{'s' if ab_threads > 1 else ''})"] = [
        (p["minutes"], best_rho(runs[0], p["minutes"])[0]) for p in runs[0]["points"]
    ]
    lines = {
        "ensemble": zc["zero-cost ensemble"]["spearman"],
        "#params": zc["params"]["spearman"],
        "ZiCo": zc["zico"]["spearman"],
    }
    return svg_plot(series, lines)


def render(result: dict[str, Any]) -> dict[str, str]:
    """The README's two tables, from the JSON alone: ``headline`` (the chosen setting's
    curve beside the zero-cost proxies) and ``ablation``."""
    blocks = report(result).split("\n\n")  # title, table, title, table
    return {"headline": blocks[1], "ablation": blocks[3]}


def report(result: dict[str, Any]) -> str:
    """The markdown tables of a result."""
    at, win = result["ablation_minutes"], result["winner"]
    ab_threads = result.get("ablation", {}).get("threads", result["threads"])
    proto = win["protocol"]
    curve = [
        [f"{p['minutes']:g}", p["steps"], *(p["protocols"][proto][k] for k in
         ("spearman", "kendall", "top10")),
         p.get("hybrid", {}).get("spearman", float("nan")),
         p.get("hybrid", {}).get("weight", float("nan"))]
        for p in win["points"] if proto in p["protocols"]
    ]  # fmt: skip
    zc = [
        [k, "—", v["spearman"], v["kendall"], v["top10"], "—", "—"]
        for k, v in result["zero_cost"].items()
    ]
    abl = []
    for run in result["runs"]:
        point = next(p for p in run["points"] if p["minutes"] == at)
        row = [run["name"], point["steps"]]
        row += [point["protocols"].get(p, {}).get("spearman", float("nan")) for p in PROTOCOLS]
        verdict = "baseline" if "gain" not in run else ("kept" if run["kept"] else "dropped")
        abl.append([*row, verdict])
    return "\n\n".join(
        [
            f"### One-shot estimate of the chosen setting ({result['cells']} cells, {proto}, "
            f"{result['threads']} threads)",
            markdown_table(
                [
                    "training minutes",
                    "SPOS steps",
                    "Spearman ρ",
                    "Kendall τ",
                    "top-10 % prec.",
                    "hybrid ensemble ρ",
                    "one-shot weight",
                ],
                curve + zc,
            ),
            f"### Ablation at {at:g} minutes, {ab_threads} thread(s) (Spearman ρ per estimate "
            "protocol; kept: " + (", ".join(result["kept"]) or "none") + ")",
            markdown_table(["setting", "steps", *PROTOCOLS, "verdict"], abl),
        ]
    )


if __name__ == "__main__":
    main()
