"""Proxy fidelity on real data: rank correlation with NAS-Bench-201 ground truth.

Population: ``--n`` NB201 cells sampled uniformly with ``--seed``, plus ``--naslib-n``
cells drawn with the same seed from the cells of ``naslib_zc_nb201.csv`` (CIFAR-10 rows),
so that NASLib's own scores sit beside ours on exactly the same cells. Images come from
``cifar10_subset.npz``; ground truth from ``nb201_cifar10_test_acc.csv``.

Scores are appended to a resumable CSV, so an interrupted run continues where it stopped.

    python benchmarks/proxy_fidelity.py --n 500 --naslib-n 250
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import RESULTS, bootstrap_ci, markdown_table, shared_dir, write_result
from nas_engine.benchmarks import load_ground_truth
from nas_engine.data import load_dataset
from nas_engine.proxies import ProxySuite, correlations, rank_ensemble
from nas_engine.proxies.io import read_scores, score_to_csv
from nas_engine.proxies.zoo import ZiCo
from nas_engine.search_spaces import create_space

PUBLISHED = {  # Spearman ρ, NB201 CIFAR-10 (ZiCo paper, Table 1; jacob_cov: Abdelfattah)
    "zico": 0.80, "naswot": 0.77, "synflow": 0.73, "params": 0.75, "flops": 0.73,
    "snip": 0.63, "grad_norm": 0.63, "grasp": 0.54, "fisher": 0.55, "zen": 0.38,
    "jacob_cov": 0.73,
}  # fmt: skip
NASLIB_NAMES = {  # ours -> NASLib column
    "flops": "flops", "params": "params", "synflow": "synflow", "grasp": "grasp",
    "fisher": "fisher", "grad_norm": "grad_norm", "naswot": "nwot", "jacob_cov": "jacov",
    "snip": "snip",
}  # fmt: skip
ENSEMBLES = {
    "ensemble (zico+naswot+synflow+params)": ["zico", "naswot", "synflow", "params"],
    "ensemble (zico+naswot+synflow)": ["zico", "naswot", "synflow"],
    "ensemble (zico+naswot)": ["zico", "naswot"],
}


def recompute_columns(space: object, data: object, args: argparse.Namespace, tick: object) -> None:
    """Recompute some proxies for every row of ``args.out`` and rewrite those columns."""
    names = [n.strip() for n in args.recompute.split(",") if n.strip()]
    main_df = pd.read_csv(args.out)
    side = Path(args.out).with_suffix(f".recompute-{'-'.join(names)}.csv")
    sub = ProxySuite(space, names, data=data, batch_size=args.batch_size, seed=args.seed)
    new, _ = score_to_csv(sub, list(main_df.arch), side, resume=True, on_cell=tick)
    fresh = pd.read_csv(side).set_index("arch")
    for n in names:
        for col in (n, f"{n}_seconds"):
            main_df[col] = fresh.loc[main_df.arch, col].to_numpy()
    tmp = Path(args.out).with_suffix(".tmp")
    main_df.to_csv(tmp, index=False)
    tmp.replace(args.out)
    side.unlink()
    print(f"recomputed {names} for {len(main_df)} cells ({new} computed in this call)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", default=None, help="folder with the shared data")
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--naslib-n", type=int, default=250)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=str(RESULTS / "fidelity_scores.csv"))
    ap.add_argument(
        "--recompute",
        default="",
        help="comma-separated proxies whose columns in --out are recomputed for every row "
        "(after a fix to those proxies); resumable through a side file",
    )
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    shared = shared_dir(args.shared)

    space = create_space("nb201")
    rng = np.random.default_rng(args.seed)
    uniform: dict[str, None] = {}
    while len(uniform) < args.n:
        uniform[space.to_string(space.sample(rng))] = None
    naslib = pd.read_csv(shared / "naslib_zc_nb201.csv")
    naslib = naslib[naslib.dataset == "cifar10"].drop_duplicates("arch").reset_index(drop=True)
    pick = np.random.default_rng(args.seed).choice(
        len(naslib), size=min(args.naslib_n, len(naslib)), replace=False
    )
    naslib = naslib.iloc[np.sort(pick)].reset_index(drop=True)
    naslib["arch"] = [space.to_string(space.from_string(a)) for a in naslib.arch]
    population = list(uniform) + [a for a in naslib.arch if a not in uniform]

    data = load_dataset(f"npz:{shared / 'cifar10_subset.npz'}")
    suite = ProxySuite(
        space,
        list(PUBLISHED),  # the proxies with a published figure (the frontier: proxy_frontier)
        data=data,
        batch_size=args.batch_size,
        seed=args.seed,
        extra_proxies={"zico_ref": ZiCo(accumulate=True)},
    )
    t0 = time.perf_counter()
    done = [0]

    def tick(_cs: object) -> None:
        done[0] += 1
        if done[0] % 25 == 0:
            rate = (time.perf_counter() - t0) / done[0]
            print(f"  {done[0]} new cells scored, {rate:.2f} s/cell", flush=True)

    new, skipped = score_to_csv(suite, population, args.out, resume=True, on_cell=tick)
    print(f"scored {new} new cells ({skipped} already in {args.out})")
    if args.recompute:
        recompute_columns(space, data, args, tick)

    archs, scores = read_scores(args.out)
    df = pd.DataFrame(scores, index=archs)
    gt = load_ground_truth(f"csv:{shared / 'nb201_cifar10_test_acc.csv'}")
    df["truth"] = [gt.lookup(a) for a in df.index]

    # ---------------------------------------------------------------- uniform sample
    uni = df.loc[list(uniform)]
    rows = []
    report: dict[str, Any] = {
        "settings": {"n": args.n, "naslib_n": args.naslib_n, "seed": args.seed,
                     "batch_size": args.batch_size, "C": 16, "N": 5},
        "uniform": {},
        "naslib": {},
    }  # fmt: skip
    order = sorted(PUBLISHED, key=lambda k: -PUBLISHED[k])
    for name in [*order, "zico_ref"]:
        c = correlations(uni[name].to_numpy(), uni.truth.to_numpy())
        pub = PUBLISHED.get(name.replace("_ref", ""), math.nan)
        nan_n = int(uni[name].isna().sum())
        rows.append([name, c["spearman"], c["kendall"], c["top_precision"], pub,
                     c["spearman"] - pub, nan_n])  # fmt: skip
        report["uniform"][name] = {**c, "published": pub, "undefined": nan_n}
    for label, members in ENSEMBLES.items():
        ens = rank_ensemble({m: uni[m].to_numpy() for m in members}, members)
        c = correlations(ens, uni.truth.to_numpy())
        rows.append([label, c["spearman"], c["kendall"], c["top_precision"], math.nan,
                     math.nan, 0])  # fmt: skip
        report["uniform"][label] = c
    print(f"\n### Fidelity: {len(uni)} uniform NB201 cells (seed {args.seed}), CIFAR-10 subset\n")
    print(markdown_table(
        ["proxy", "Spearman ρ", "Kendall τ", "top-10% prec.", "published ρ", "Δρ", "undefined"],
        rows,
    ))  # fmt: skip

    # ------------------------------------------------------------- NASLib's cells
    nl = naslib.set_index("arch")
    ours = df.loc[nl.index]
    rows = []
    for name, col in NASLIB_NAMES.items():
        theirs = nl[col].to_numpy(dtype=float)
        mine = ours[name].to_numpy()
        truth = ours.truth.to_numpy()
        agree = correlations(mine, theirs)["spearman"]
        c_ours = correlations(mine, truth)["spearman"]
        c_theirs = correlations(theirs, truth)["spearman"]
        rows.append([name, agree, c_ours, c_theirs])
        report["naslib"][name] = {"rho_ours_vs_naslib": agree, "rho_ours_truth": c_ours,
                                  "rho_naslib_truth": c_theirs, "n": len(nl)}  # fmt: skip
    print(f"\n### Against NASLib on the same {len(nl)} cells (their scores, batch 64)\n")
    print(markdown_table(
        ["proxy", "ρ(ours, NASLib)", "ρ(ours, truth)", "ρ(NASLib, truth)"], rows
    ))  # fmt: skip
    # NASLib's own scores on all its CIFAR-10 cells: a peer's figure on a second population
    full = pd.read_csv(shared / "naslib_zc_nb201.csv")
    full = full[full.dataset == "cifar10"].drop_duplicates("arch")
    full_truth = np.array([gt.lookup(a) for a in full.arch], dtype=float)
    rows = []
    for name, col in NASLIB_NAMES.items():
        c = correlations(full[col].to_numpy(dtype=float), full_truth)["spearman"]
        lo, hi = bootstrap_ci(uni[name].to_numpy(), uni.truth.to_numpy(), seed=args.seed)
        rows.append(
            [name, PUBLISHED[name], report["uniform"][name]["spearman"], f"{lo:.3f}–{hi:.3f}", c]
        )
        report["naslib"][name]["rho_naslib_truth_all"] = c
        report["uniform"][name]["ci95"] = [lo, hi]
    print(
        f"\n### Published gap check: bootstrap 95% CI of our ρ (500 cells, 1,000 resamples) "
        f"and NASLib's own ρ on all its {len(full)} CIFAR-10 cells\n"
    )
    print(markdown_table(
        ["proxy", "published ρ", "ours ρ", "ours 95% CI", "NASLib ρ (all its cells)"], rows
    ))  # fmt: skip
    secs = pd.read_csv(args.out)
    sec_cols = [c for c in secs.columns if c.endswith("_seconds")]
    print(f"\nsuite seconds/cell (median over {len(secs)} cells): "
          f"{secs[sec_cols].sum(axis=1).median():.2f}")  # fmt: skip
    report["naslib_all_cells"] = len(full)
    report["median_suite_seconds"] = float(secs[sec_cols].sum(axis=1).median())
    write_result("proxy_fidelity", report)


def render(result: dict[str, Any]) -> dict[str, str]:
    """The README's three tables, from ``proxy_fidelity.json`` alone: ``uniform`` (every
    proxy and ensemble on the uniform sample), ``naslib`` (ours against NASLib's scores on
    the same cells) and ``published`` (bootstrap interval and NASLib on all its cells)."""
    rows = []
    first = "zico_ref (first release: gradients accumulated)"
    for name, r in result["uniform"].items():
        if "published" in r:  # a proxy
            pub = r["published"]
            rows.append([first if name == "zico_ref" else name, r["spearman"], r["kendall"],
                         r["top_precision"], pub, r["spearman"] - pub,
                         r["undefined"]])  # fmt: skip
        else:  # an ensemble: no published figure
            rows.append([name, r["spearman"], r["kendall"], r["top_precision"], "—", "—", 0])
    uniform = markdown_table(
        ["proxy", "Spearman ρ", "Kendall τ", "top-10% prec.", "published ρ", "Δρ", "undefined"],
        rows,
    )
    nl = result["naslib"]
    naslib = markdown_table(
        ["proxy", "ρ(ours, NASLib)", "ρ(ours, truth)", "ρ(NASLib, truth)"],
        [[n, r["rho_ours_vs_naslib"], r["rho_ours_truth"], r["rho_naslib_truth"]]
         for n, r in nl.items()],
    )  # fmt: skip
    uni = result["uniform"]
    published = markdown_table(
        ["proxy", "published ρ", "ours ρ", "ours 95% CI",
         f"NASLib ρ (all its {result['naslib_all_cells']} cells)"],
        [[n, uni[n]["published"], uni[n]["spearman"],
          "{:.3f}–{:.3f}".format(*uni[n]["ci95"]), r["rho_naslib_truth_all"]]
         for n, r in nl.items()],
    )  # fmt: skip
    return {"uniform": uniform, "naslib": naslib, "published": published}


if __name__ == "__main__":
    main()
