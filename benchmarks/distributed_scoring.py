"""Scoring through the executor seam: in-process against a local Dask cluster.

One run measures, on one sample of NB201 cells (``nasnav score``'s defaults: every proxy,
``digits``, batch 64, the cells ``--sample N --seed 0`` picks):

1. Cells per minute, scored five ways: the plain loop ``suite.score(cell)`` the CLI ran
   before the seam ("today", at ``--threads`` and at 1 torch thread), ``score_to_csv``
   without an executor (what ``nasnav score`` runs in-process), ``score_to_csv`` through
   an ``InProcessExecutor`` (the task path: spec, per-process suite, ``ScoredCell``), and
   ``score_to_csv`` on ``DaskExecutor(workers=2)`` (a LocalCluster on 127.0.0.1, one
   thread per worker), timed once the cluster is up and every worker has scored one
   warm-up cell; the start-up and the warm-up are reported apart. Every way first scores
   the same warm-up cell, outside the sample and outside the timing.
2. Dask's per-task overhead: no-op tasks one at a time (submit → result) and submitted
   all at once; for score tasks sent one at a time, the client's wall time, the worker's
   task time (Dask's task stream) and the proxies' own seconds (``ScoredCell.seconds``).
3. A scaling *estimate* for more workers from a model fed with those figures:
   throughput = min(W / t, 1 / (o + w)), t the mean worker seconds per one-cell task,
   o the scheduler's serial seconds per task (the batched no-op figure), w one flushed
   and fsynced CSV row on the client. It is a model, not a measurement.

Dask spawns its worker processes, which import this script again: the cluster is only
started under ``if __name__ == "__main__"``. Ctrl+C, SIGTERM and errors close it. Results
go to ``benchmarks/results/<--name>.json`` and ``.md``; :func:`render` builds the README
block from that file alone.

    python benchmarks/distributed_scoring.py      # the README's run (30-45 min on 2 cores)
    python benchmarks/distributed_scoring.py --sample 3 --proxies synflow,params,naswot \
        --noop-tasks 20 --overhead-cells 2 --name distributed_scoring_trial  # smoke test, ~20 s
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import markdown_table, run_stamp, sample_cells, write_result

#: Row keys, in table order, and what each measures.
ROWS: dict[str, str] = {
    "today": "plain loop `suite.score(cell)` (before the seam)",
    "today_1t": "plain loop `suite.score(cell)`, 1 torch thread",
    "cli": "`score_to_csv`, no executor (`nasnav score` in-process)",
    "seam": "`score_to_csv` through `InProcessExecutor`",
    "dask": "`score_to_csv` on `DaskExecutor(workers=N)`",
}
#: What the scaling figures are, written into the result and the README.
MODEL_NOTE = (
    "Estimates from a model, not measurements: throughput = min(W / t, 1 / (o + w)) cells/s "
    "for W workers, with t the mean worker seconds per one-cell score task in the measured "
    "cluster run, o the scheduler's serial seconds per task (the batched no-op figure, an "
    "upper bound: client, scheduler and workers shared the same cores) and w the client's "
    "seconds to write one flushed and fsynced CSV row."
)
MODEL_ASSUMPTIONS = (
    "one task thread per worker, each as fast as one core of this machine was in the run",
    "the dataset already loaded on every worker (one warm-up task each, counted once)",
    "a network like loopback between the client, the scheduler and the workers",
    "no stragglers, no lost workers and no job-queue wait; cluster start-up not counted",
    "one cell per task, as `nasnav score` sends them",
)


# ------------------------------------------------------------------------ measurements
@dataclass
class Run:
    """One timed pass over the sample.

    Args:
        seconds: Wall time of the pass.
        load1: 1-minute load average before and after.
        values: Arch → proxy → value (kept to compare the ways, not written).
    """

    seconds: float
    load1: tuple[float | None, float | None]
    values: dict[str, dict[str, float]] = field(default_factory=dict)


def load1() -> float | None:
    """The 1-minute load average now (``None`` where the platform has none)."""
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


def values_of(cs: Any) -> dict[str, float]:
    """A ``CellScores``' values as plain floats."""
    return {n: float(r.value) for n, r in cs.results.items()}


def time_loop(suite: Any, cells: Sequence[str]) -> Run:
    """The pre-seam path: ``suite.score`` on each cell, in order."""
    before, got = load1(), {}
    t0 = time.perf_counter()
    for a in cells:
        cs = suite.score(a)
        got[cs.arch] = values_of(cs)
    return Run(time.perf_counter() - t0, (before, load1()), got)


def time_score_to_csv(
    suite: Any, cells: Sequence[str], out: Path, executor: Any, data_spec: Any
) -> Run:
    """``score_to_csv`` as ``nasnav score`` calls it (``executor=None``: in-process)."""
    from nas_engine.proxies.io import score_to_csv

    before, got = load1(), {}

    def keep(cs: Any) -> None:
        got[cs.arch] = values_of(cs)

    t0 = time.perf_counter()
    score_to_csv(
        suite,
        cells,
        out,
        overwrite=True,
        on_cell=keep,
        ensemble=True,
        executor=executor,
        data_spec=data_spec,
    )
    return Run(time.perf_counter() - t0, (before, load1()), got)


def differences(ref: dict[str, dict[str, float]], got: dict[str, dict[str, float]]) -> dict:
    """How far ``got``'s scores are from ``ref``'s: the largest relative difference of a
    value both define, and the count of values defined in one and not the other."""
    worst, nan_mismatch, missing = 0.0, 0, 0
    for arch, vals in ref.items():
        other = got.get(arch)
        if other is None:
            missing += 1
            continue
        for name, x in vals.items():
            y = other.get(name, math.nan)
            if math.isnan(x) or math.isnan(y):
                nan_mismatch += math.isnan(x) != math.isnan(y)
                continue
            worst = max(worst, abs(x - y) / max(abs(x), abs(y), 1e-12))
    return {"max_rel_diff": worst, "nan_mismatch": nan_mismatch, "missing_cells": missing}


def row_write_seconds(path: Path, n: int, width: int) -> list[float]:
    """Seconds per CSV row written, flushed and fsynced, as ``score_to_csv`` writes them."""
    out = []
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        for i in range(n):
            t0 = time.perf_counter()
            w.writerow([f"cell{i}", *(repr(0.1 * j + i) for j in range(width))])
            f.flush()
            os.fsync(f.fileno())
            out.append(time.perf_counter() - t0)
    return out


def spread(xs: Sequence[float], scale: float = 1.0) -> dict[str, float | int]:
    """Median, p95, mean and count of ``xs`` (times ``scale``)."""
    import numpy as np

    a = np.asarray(xs, dtype=float) * scale
    if not len(a):
        return {"median": math.nan, "p95": math.nan, "mean": math.nan, "n": 0}
    return {
        "median": float(np.median(a)),
        "p95": float(np.percentile(a, 95)),
        "mean": float(a.mean()),
        "n": len(a),
    }


# ------------------------------------------------------------------ in-process phase
def in_process_phase(args: argparse.Namespace, ctx: dict[str, Any]) -> dict[str, list[Run]]:
    """Warm up, then time the in-process ways ``--repeats`` times (order reversed on odd
    repeats, so a drifting load favours no way)."""
    import torch

    from nas_engine.distributed import InProcessExecutor
    from nas_engine.distributed.tasks import remember_dataset

    suite, cells, warm, spec, tmp = (ctx[k] for k in ("suite", "cells", "warm", "spec", "tmp"))
    remember_dataset(spec, ctx["data"])  # as an in-process caller that holds the dataset
    seam = InProcessExecutor()
    ways = {
        "today": lambda: time_loop(suite, cells),
        "cli": lambda: time_score_to_csv(suite, cells, tmp / "cli.csv", None, spec),
        "seam": lambda: time_score_to_csv(suite, cells, tmp / "seam.csv", seam, spec),
    }
    if not args.skip_one_thread:
        ways["today_1t"] = lambda: time_loop(suite, cells)
    t0 = time.perf_counter()
    suite.score(warm)
    time_score_to_csv(suite, [warm], tmp / "warm.csv", seam, spec)  # builds the task suite
    ctx["in_process_warmup_s"] = time.perf_counter() - t0
    runs: dict[str, list[Run]] = {k: [] for k in ways}
    for r in range(args.repeats):
        for key in ways if r % 2 == 0 else reversed(list(ways)):
            torch.set_num_threads(1 if key == "today_1t" else args.threads)
            runs[key].append(ways[key]())
            say(f"{key}: {len(cells)} cells in {runs[key][-1].seconds:.1f} s")
    torch.set_num_threads(args.threads)
    return runs


# --------------------------------------------------------------------- cluster phase
def _worker_torch_threads() -> int:
    """A worker's torch thread count (run on every worker)."""
    import torch

    return torch.get_num_threads()


def cluster_phase(args: argparse.Namespace, ctx: dict[str, Any]) -> dict[str, Any]:
    """Start the LocalCluster, warm every worker, time the sample ``--repeats`` times, then
    the overhead probes; the cluster is closed whatever happens."""
    from nas_engine.distributed import DaskExecutor

    ex = None
    t0 = time.perf_counter()
    try:
        ex = DaskExecutor(workers=args.workers)
        ex.client.wait_for_workers(args.workers)
        out: dict[str, Any] = {"startup_s": time.perf_counter() - t0}
        say(f"cluster up in {out['startup_s']:.1f} s at {ex.address}")
        out["worker_torch_threads"] = sorted(ex.client.run(_worker_torch_threads).values())
        out["warmup_s"] = warm_workers(ex, ctx)
        say(f"workers warm in {out['warmup_s']:.1f} s")
        out["runs"], out["task_s"] = [], []
        for _ in range(args.repeats):
            run, task_s = timed_cluster_run(ex, ctx)
            out["runs"].append(run)
            out["task_s"] += task_s
            say(f"dask: {len(ctx['cells'])} cells in {run.seconds:.1f} s")
        out["score_tasks"] = score_task_overhead(ex, ctx, args.overhead_cells)
        out["noop"] = noop_overhead(ex, args.noop_tasks, args.noop_repeats)
        return out
    finally:
        if ex is not None:
            ex.close()
            say("cluster closed")


def warm_workers(ex: Any, ctx: dict[str, Any]) -> float:
    """Seconds for every worker to score the warm-up cell once (dataset load, suite
    build, first cell), all at once; each task is pinned to its worker."""

    from nas_engine.distributed.tasks import score_cells

    addrs = list(ex.client.scheduler_info(n_workers=-1)["workers"])
    t0 = time.perf_counter()
    futs = [
        ex.client.submit(
            score_cells,
            ctx["score_spec"],
            [ctx["warm"]],
            workers=[a],
            allow_other_workers=False,
            pure=False,
        )
        for a in addrs
    ]
    ex.client.gather(futs)
    return time.perf_counter() - t0


def compute_seconds(records: Sequence[dict[str, Any]], prefix: str) -> dict[str, float]:
    """Task key → seconds the worker spent computing it, from Dask's task stream."""
    out: dict[str, float] = {}
    for rec in records:
        key = str(rec.get("key", ""))
        if key.startswith(prefix):
            out[key] = sum(
                s["stop"] - s["start"]
                for s in rec.get("startstops", ())
                if s.get("action") == "compute"
            )
    return out


def timed_cluster_run(ex: Any, ctx: dict[str, Any]) -> tuple[Run, list[float]]:
    """One timed ``score_to_csv`` pass on the cluster, and each task's worker seconds."""
    import distributed

    with distributed.get_task_stream(client=ex.client) as ts:
        run = time_score_to_csv(
            ctx["suite"], ctx["cells"], ctx["tmp"] / "dask.csv", ex, ctx["spec"]
        )
    return run, list(compute_seconds(ts.data, "score_cells").values())


def score_task_overhead(ex: Any, ctx: dict[str, Any], n: int) -> dict[str, Any]:
    """Score tasks of one cell sent one at a time: the client's wall time (submit →
    result), the worker's task time and the proxies' seconds, per task."""
    import distributed

    from nas_engine.distributed.tasks import score_cells

    walls: dict[str, float] = {}
    proxies: dict[str, float] = {}
    with distributed.get_task_stream(client=ex.client) as ts:
        for arch in ctx["cells"][:n]:
            t0 = time.perf_counter()
            fut = ex.submit(score_cells, ctx["score_spec"], [arch])
            cells = ex.result(fut)
            walls[fut.key] = time.perf_counter() - t0
            proxies[fut.key] = sum(sum(c.seconds.values()) for c in cells)
    worker = compute_seconds(ts.data, "score_cells")
    keys = [k for k in walls if k in worker]
    return {
        "client_s": spread([walls[k] for k in keys]),
        "worker_s": spread([worker[k] for k in keys]),
        "proxies_s": spread([proxies[k] for k in keys]),
        "client_minus_proxies_ms": spread([walls[k] - proxies[k] for k in keys], 1e3),
        "worker_minus_proxies_ms": spread([worker[k] - proxies[k] for k in keys], 1e3),
        "client_minus_worker_ms": spread([walls[k] - worker[k] for k in keys], 1e3),
    }


def noop_overhead(ex: Any, n: int, repeats: int) -> dict[str, Any]:
    """No-op tasks (the builtin ``int``: pickled by reference, no work) through the
    executor: ``n`` one at a time, and ``n`` submitted at once then gathered."""

    for i in range(10):  # warm the connections
        ex.result(ex.submit(int, i))
    trips: list[float] = []
    batch: list[float] = []
    for _ in range(repeats):
        for i in range(n):
            t0 = time.perf_counter()
            ex.result(ex.submit(int, i))
            trips.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        futs = [ex.submit(int, i) for i in range(n)]
        ex.client.gather(futs)  # waits for all, and fetches each result as the seam does
        batch.append((time.perf_counter() - t0) / n)
        del futs
    return {
        "one_at_a_time_ms": spread(trips, 1e3),
        "batch_ms_per_task": spread(batch, 1e3),
        "tasks": n,
        "repeats": repeats,
    }


# --------------------------------------------------------------------------- summary
def row_summary(key: str, runs: Sequence[Run], n_cells: int, threads: int) -> dict[str, Any]:
    """A row of the throughput table: median seconds over the repeats, cells per minute."""
    med = statistics.median(r.seconds for r in runs)
    return {
        "label": ROWS[key],
        "threads": threads,
        "seconds": [r.seconds for r in runs],
        "load1": [list(r.load1) for r in runs],
        "median_s": med,
        "cells_per_min": 60.0 * n_cells / med,
    }


def scaling(
    cluster: dict[str, Any],
    row_write_s: float,
    space_cells: int,
    workers: Sequence[int],
    measured_workers: int,
    measured_rate: float,
) -> dict[str, Any]:
    """The model's estimates (see :data:`MODEL_NOTE`), checked at the measured size."""
    task_s = cluster["task_s"]
    t = statistics.fmean(task_s) if task_s else math.nan
    o = cluster["noop"]["batch_ms_per_task"]["median"] / 1e3
    serial = o + row_write_s

    def rate(w: int) -> float:  # cells per second
        return min(w / t, 1.0 / serial)

    def est(w: int) -> dict[str, Any]:
        r = rate(w)
        return {
            "workers": w,
            "cells_per_min": 60.0 * r,
            "bound": "workers" if w / t <= 1.0 / serial else "scheduler and client",
            "hours_all_cells": (space_cells / r + cluster["warmup_s"]) / 3600.0,
        }

    return {
        "note": MODEL_NOTE,
        "assumptions": list(MODEL_ASSUMPTIONS),
        "t_mean_s": t,
        "t_median_s": statistics.median(task_s) if task_s else math.nan,
        "tasks_timed": len(task_s),
        "o_sched_s": o,
        "row_write_s": row_write_s,
        "warmup_s": cluster["warmup_s"],
        "space_cells": space_cells,
        "check": {
            "workers": measured_workers,
            "model_cells_per_min": 60.0 * rate(measured_workers),
            "measured_cells_per_min": measured_rate,
        },
        "estimates": [est(w) for w in workers],
    }


def summarise(
    args: argparse.Namespace,
    ctx: dict[str, Any],
    runs: dict[str, list[Run]],
    cluster: dict[str, Any],
) -> dict[str, Any]:
    """The result file's payload."""
    n = len(ctx["cells"])
    runs = {**runs, "dask": cluster.pop("runs")}
    rows = {}
    for key in ROWS:
        if key in runs:
            threads = 1 if key in ("today_1t", "dask") else args.threads
            rows[key] = row_summary(key, runs[key], n, threads)
            rows[key]["vs_today"] = rows[key]["cells_per_min"] / rows["today"]["cells_per_min"]
            rows[key]["scores_vs_today"] = differences(
                runs["today"][0].values, runs[key][0].values
            )
    rows["dask"]["label"] = ROWS["dask"].replace("N", str(args.workers))
    writes = ctx["row_write_s"]
    return {
        "renderer": "benchmarks.distributed_scoring",
        "settings": {
            "space": "nb201",
            "dataset": args.dataset,
            "proxies": list(ctx["suite"].names),
            "proxy_spec": args.proxies,
            "batch_size": args.batch_size,
            "seed": args.seed,
            "cells": n,
            "warm_cell": ctx["warm"],
            "threads": args.threads,
            "workers": args.workers,
            "repeats": args.repeats,
            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
        },
        "rows": rows,
        "in_process_warmup_s": ctx["in_process_warmup_s"],
        "cluster": {k: cluster[k] for k in ("startup_s", "warmup_s", "worker_torch_threads")},
        "overhead": {
            "noop": cluster["noop"],
            "score_tasks": cluster["score_tasks"],
            "row_write_ms": spread(writes, 1e3),
        },
        "scaling": scaling(
            cluster,
            statistics.median(writes),
            ctx["space_cells"],
            args.scale,
            args.workers,
            rows["dask"]["cells_per_min"],
        ),
    }


# ---------------------------------------------------------------------------- render
def _num(x: float | None, digits: int = 1) -> str:
    return "—" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:,.{digits}f}"


def _hours(h: float | None) -> str:
    if h is None or math.isnan(h):
        return "—"
    return f"{h:.1f} h" if h >= 1 else f"{h * 60:.0f} min"


def render(result: dict[str, Any]) -> str:
    """The README block: throughput, overhead and the scaling estimate, from the file."""
    s, rows, cl = result["settings"], result["rows"], result["cluster"]
    parts = [render_throughput(s, rows, cl), render_overhead(result["overhead"])]
    parts.append(render_scaling(result["scaling"], s))
    return "\n\n".join(parts)


def render_throughput(s: dict[str, Any], rows: dict[str, Any], cl: dict[str, Any]) -> str:
    """Table 1 and its caption."""
    table = markdown_table(
        [
            "how the cells are scored",
            "torch threads",
            "median s",
            "cells/min",
            "vs today",
            "largest score difference vs today",
        ],
        [
            [
                r["label"],
                r["threads"],
                _num(r["median_s"]),
                _num(r["cells_per_min"], 2),
                f"{r['vs_today']:.2f}",
                f"{r['scores_vs_today']['max_rel_diff']:.1e}"
                + (
                    f" ({r['scores_vs_today']['nan_mismatch']} nan mismatches)"
                    if r["scores_vs_today"]["nan_mismatch"]
                    else ""
                ),
            ]
            for r in rows.values()
        ],
    )
    d = rows["dask"]
    inproc = rows.get("cli") or rows["seam"]
    passes = f"{s['repeats']} pass" + "es" * (s["repeats"] != 1)
    one = rows.get("today_1t")
    per_core = (
        f"; against today on 1 thread: {d['cells_per_min'] / one['cells_per_min']:.2f}"
        if one
        else ""
    )
    cap = (
        f"{s['cells']} NB201 cells (`nasnav score --sample {s['cells']} --seed {s['seed']}`), "
        f"{len(s['proxies'])} proxies (`--proxies {s.get('proxy_spec', 'all')}`), "
        f"`{s['dataset']}`, batch {s['batch_size']}; median of {passes} per way, each way "
        f"after the same warm-up cell. In-process rows use {s['threads']} torch threads "
        "unless marked 1. The `score_to_csv` rows also write the CSV (a flushed, fsynced "
        "row per cell, then the ensemble column). The cluster's "
        f"{s['workers']} workers (torch threads per worker: "
        f"{', '.join(map(str, cl['worker_torch_threads']))}) were timed after a start-up of "
        f"{cl['startup_s']:.1f} s and a warm-up of {cl['warmup_s']:.1f} s (each worker loads "
        "the dataset, builds the suite and scores the warm-up cell), neither counted above. "
        f"**In-process `nasnav score`: {inproc['vs_today']:.2f}× today's cells per minute; "
        f"through `InProcessExecutor`: {rows['seam']['vs_today']:.2f}×; a "
        f"{s['workers']}-worker LocalCluster against in-process `nasnav score`: "
        f"{d['cells_per_min'] / inproc['cells_per_min']:.2f}×** (against today: "
        f"{d['vs_today']:.2f}{per_core})."
    )
    return f"{table}\n\n{cap}"


def render_overhead(o: dict[str, Any]) -> str:
    """Table 2: Dask's cost per task."""
    nb, st, rw = o["noop"], o["score_tasks"], o["row_write_ms"]

    def row(what: str, d: dict[str, Any], digits: int = 2, p95: bool = True) -> list[Any]:
        return [what, _num(d["median"], digits), _num(d["p95"], digits) if p95 else "—", d["n"]]

    table = markdown_table(
        ["per task", "median ms", "p95 ms", "n"],
        [
            row("no-op task, one at a time (submit → result)", nb["one_at_a_time_ms"]),
            row(
                f"no-op tasks, {nb['tasks']} submitted at once (wall / task; n: repeats)",
                nb["batch_ms_per_task"],
                3,
                p95=False,
            ),
            row(
                "score task (1 cell): client wall − proxies' seconds",
                st["client_minus_proxies_ms"],
                1,
            ),
            row(
                "… of which in the task, outside the proxies (worker − proxies)",
                st["worker_minus_proxies_ms"],
                1,
            ),
            row("… of which Dask's round trip (client − worker)", st["client_minus_worker_ms"], 1),
            row("client: one CSV row written, flushed, fsynced", rw, 3),
        ],
    )
    cap = (
        f"No-op tasks run the builtin `int` through `DaskExecutor.submit` ({nb['repeats']} "
        f"repeats of {nb['tasks']}). Score tasks were sent one at a time "
        f"({st['client_s']['n']} cells; median client wall {st['client_s']['median']:.2f} s, "
        f"worker task {st['worker_s']['median']:.2f} s, proxies "
        f"{st['proxies_s']['median']:.2f} s); the worker's task time comes from Dask's task "
        "stream."
    )
    return f"{table}\n\n{cap}"


def render_scaling(sc: dict[str, Any], s: dict[str, Any]) -> str:
    """Table 3: the model's estimates, labelled as such."""
    table = markdown_table(
        [
            "workers (estimate)",
            "cells/min (estimate)",
            "limited by",
            f"all {sc['space_cells']:,} cells, {len(s['proxies'])} proxies (estimate)",
        ],
        [
            [e["workers"], _num(e["cells_per_min"], 0), e["bound"], _hours(e["hours_all_cells"])]
            for e in sc["estimates"]
        ],
    )
    ck = sc["check"]
    cap = (
        f"**{sc['note']}** Here t = {sc['t_mean_s']:.2f} s (median {sc['t_median_s']:.2f} s, "
        f"{sc['tasks_timed']} tasks), o = {sc['o_sched_s'] * 1e3:.2f} ms, w = "
        f"{sc['row_write_s'] * 1e3:.2f} ms; the time for all cells adds one worker warm-up "
        f"({sc['warmup_s']:.1f} s). Assumed: " + "; ".join(sc["assumptions"]) + ". At the "
        f"measured {ck['workers']} workers the model gives {ck['model_cells_per_min']:.2f} "
        f"cells/min against {ck['measured_cells_per_min']:.2f} measured."
    )
    return f"{table}\n\n{cap}"


# ------------------------------------------------------------------------------ main
def say(msg: str) -> None:
    """Progress on stderr, with the time."""
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _interrupt(signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sample", type=int, default=40, help="cells scored each way")
    ap.add_argument("--seed", type=int, default=0, help="sample, weights and batch seed")
    ap.add_argument("--dataset", default="digits", help="as nasnav score --dataset")
    ap.add_argument("--data-dir", default=None, help="as nasnav score --data-dir")
    ap.add_argument("--proxies", default="all", help="as nasnav score --proxies")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2, help="torch threads in-process")
    ap.add_argument("--workers", type=int, default=2, help="LocalCluster worker processes")
    ap.add_argument("--repeats", type=int, default=1, help="timed passes per way")
    ap.add_argument(
        "--skip-one-thread", action="store_true", help="leave out the 1-thread in-process row"
    )
    ap.add_argument(
        "--overhead-cells",
        type=int,
        default=4,
        help="score tasks sent one at a time for the overhead table",
    )
    ap.add_argument("--noop-tasks", type=int, default=200)
    ap.add_argument("--noop-repeats", type=int, default=3)
    ap.add_argument(
        "--scale",
        type=lambda t: [int(x) for x in t.split(",")],
        default=[16, 64, 256],
        help="worker counts to estimate",
    )
    ap.add_argument("--name", default="distributed_scoring", help="result file name")
    args = ap.parse_args(argv)
    for opt in ("sample", "threads", "workers", "repeats", "noop_tasks", "noop_repeats"):
        if getattr(args, opt) < 1:
            ap.error(f"--{opt.replace('_', '-')} must be >= 1")
    args.overhead_cells = max(1, min(args.overhead_cells, args.sample))
    return args


def setup(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    """Dataset, suite, cells and specs, as ``nasnav score`` builds them."""
    from nas_engine.data import load_dataset
    from nas_engine.distributed import DataSpec, ScoreSpec
    from nas_engine.proxies import ProxySuite
    from nas_engine.proxies.suite import torch_threads
    from nas_engine.search_spaces import create_space

    torch_threads(args.threads)
    space = create_space("nb201")
    data = load_dataset(args.dataset, data_dir=args.data_dir)
    suite = ProxySuite(
        space,
        args.proxies,
        data=data,
        batch_size=args.batch_size,
        seed=args.seed,
        build_kwargs=space.network_options("proxy"),
    )
    both = sample_cells(space, args.sample + 1, args.seed)  # the last one: the warm-up
    spec = DataSpec.of(args.dataset, data_dir=args.data_dir)
    return {
        "suite": suite,
        "data": data,
        "cells": both[:-1],
        "warm": both[-1],
        "spec": spec,
        "score_spec": ScoreSpec.of_suite(suite, spec),
        "tmp": tmp,
        "space_cells": space.size,
        "row_write_s": row_write_seconds(tmp / "rows.csv", 200, 2 * len(suite.names)),
    }


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)  # a kill closes the cluster like Ctrl+C
    with tempfile.TemporaryDirectory(prefix="nasnav-dist-bench-") as tmp:
        ctx = setup(args, Path(tmp))
        say(f"{len(ctx['cells'])} cells, {len(ctx['suite'].names)} proxies; in-process first")
        runs = in_process_phase(args, ctx)
        cluster = cluster_phase(args, ctx)
    result = summarise(args, ctx, runs, cluster)
    md = render(result)
    print(md)
    stamp = run_stamp()  # after torch is back at --threads
    print(f"wrote {write_result(args.name, result, markdown=md, stamp=stamp)}")


if __name__ == "__main__":
    main()
