"""Server-side latency of the app's callbacks while a search runs (p50/p95 table).

A real background search runs in this process (synthetic data, tiny proxy networks, no
supernet, so it reaches ``--candidates`` evaluated cells and then keeps going). Each
callback is then requested through Dash's own HTTP endpoint (``/_dash-update-component``,
Flask test client: routing, JSON (de)serialisation and the callback body; no network or
browser rendering), ``--repeats`` times, interleaved, while the engine thread keeps
evaluating candidates. The chip click alternates prune/restore. The whole block is
repeated ``--rounds`` times; the table gives the median over rounds of each round's
p50/p95/max, the range of the per-round p95 and the slowest single request, with the
load average and the candidates evaluated during the measurement.

``--reuse-warmup`` keeps the warm-up database (``data/cache/app_latency_warm_<N>.db``)
and later runs resume a copy of its run, so they skip the warm-up (the search still
runs during the measurement). Results go to ``benchmarks/results/<--name>.json``.

    python benchmarks/app_latency.py --candidates 1000 --repeats 60 --rounds 3
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app import AppController, create_app, ids
from app.views import compare, embedding, graph, progress
from benchmarks._common import REPO, markdown_table, write_result
from nas_engine.data import load_dataset
from nas_engine.runner import SearchConfig
from nas_engine.storage import SQLiteStorage

CLICK = "op chip click (prune/restore)"
#: The figure the README used to claim for every p95.
LIMIT_MS = 300.0

CHIP_IDS = [
    {"edge": e, "op": op, "type": graph.CHIP}
    for e in range(6)
    for op in ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
]


def _key(cid: Any) -> str:
    return json.dumps(cid, sort_keys=True, separators=(",", ":")) if isinstance(cid, dict) else cid


def _parse_outputs(text: str) -> list[tuple[str, str]]:
    parts = text[2:-2].split("...") if text.startswith("..") else [text]
    # an output that several callbacks share is named "id.prop@hash"
    return [tuple(p.split("@")[0].rsplit(".", 1)) for p in parts]  # type: ignore[misc]


def _specs(items: list[tuple[str, str]], values: dict[tuple[str, str], Any], *, value: bool):
    out: list[Any] = []
    for id_, prop in items:
        if id_.startswith("{"):
            out.append([
                {"id": c, "property": prop, **({"value": values.get((_key(c), prop))}
                                                if value else {})}
                for c in CHIP_IDS
            ])  # fmt: skip
        else:
            out.append({"id": id_, "property": prop,
                        **({"value": values.get((id_, prop))} if value else {})})  # fmt: skip
    return out


def payload(dep: dict[str, Any], values: dict[tuple[str, str], Any], changed: str) -> dict:
    """The request body dash-renderer sends for one callback."""
    outs = _parse_outputs(dep["output"])
    body = {
        "output": dep["output"],
        "outputs": _specs(outs, values, value=False),
        "inputs": _specs([(i["id"], i["property"]) for i in dep["inputs"]], values, value=True),
        "state": _specs([(s["id"], s["property"]) for s in dep["state"]], values, value=True),
        "changedPropIds": [changed],
    }
    if len(outs) == 1:
        body["outputs"] = body["outputs"][0]
    return body


def _percentile(v: list[float], q: float) -> float:
    return float(np.percentile(v, q))


def _load() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):  # not on every platform
        return []


def _warm_storage(path: Path, candidates: int, tmp: Path) -> tuple[SQLiteStorage, bool]:
    """A working copy of the kept warm-up database when it holds a run with at least
    ``candidates`` evaluated cells (returned with ``True``), else a fresh database."""
    work = tmp / "lat.db"
    if path.is_file():
        with sqlite3.connect(path) as src, sqlite3.connect(work) as dst:
            src.backup(dst)
        storage = SQLiteStorage(work)
        runs = storage.list_runs()
        if runs and len(storage.candidates(max(r.id for r in runs))) >= candidates:
            return storage, True
        storage.close()
        work.unlink()
    return SQLiteStorage(work), False


def measure_round(
    client: Any,
    views: dict[str, tuple[dict[str, Any], str]],
    command: dict[str, Any],
    values: dict[tuple[str, str], Any],
    repeats: int,
    start: int,
    evaluated: Any,
) -> dict[str, Any]:
    """One block of ``repeats`` requests per callback (interleaved); times in ms."""
    times: dict[str, list[float]] = {k: [] for k in [*views, CLICK]}
    n_at = [evaluated()]
    load_before = _load()
    for r in range(start, start + repeats):
        values[(ids.POLL, "n_intervals")] = r + 1
        values[(ids.VERSION, "data")] = f"v{r}"
        for name, (dep, changed) in views.items():
            body = payload(dep, values, changed)
            t = time.perf_counter()
            resp = client.post("/_dash-update-component", json=body)
            times[name].append(1000 * (time.perf_counter() - t))
            if resp.status_code not in (200, 204):
                raise SystemExit(f"{name}: HTTP {resp.status_code}: {resp.data[:300]!r}")
        chip = CHIP_IDS[0]
        clicks = {(_key(c), "n_clicks"): 0 for c in CHIP_IDS}
        clicks[(_key(chip), "n_clicks")] = r + 1
        body = payload(command, {**values, **clicks}, f"{_key(chip)}.n_clicks")
        t = time.perf_counter()
        resp = client.post("/_dash-update-component", json=body)
        times[CLICK].append(1000 * (time.perf_counter() - t))
        if resp.status_code != 200 or b"error" in resp.data:
            raise SystemExit(f"chip click failed: {resp.data[:300]!r}")
    n_at.append(evaluated())
    return {
        "times_ms": {k: [round(x, 2) for x in v] for k, v in times.items()},
        "evaluated": n_at,
        "load_before": load_before,
        "load_after": _load(),
    }


def summary(result: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Per callback: p50, p95 and max of each round, then their median over the rounds,
    the range of the per-round p95 and the worst single request."""
    out: dict[str, dict[str, float]] = {}
    for name in result["callbacks"]:
        per = [r["times_ms"][name] for r in result["rounds"]]
        p50 = [statistics.median(v) for v in per]
        p95 = [_percentile(v, 95) for v in per]
        mx = [max(v) for v in per]
        out[name] = {
            "p50": statistics.median(p50),
            "p95": statistics.median(p95),
            "max": statistics.median(mx),
            "p95_low": min(p95),
            "p95_high": max(p95),
            "worst": max(mx),
        }
    return out


def render(result: dict[str, Any]) -> str:
    """The README's table and caption, from the result file alone."""
    s = result["settings"]
    stats = summary(result)
    rounds = result["rounds"]
    rows = [
        [name, f"{v['p50']:.1f}", f"{v['p95']:.1f}", f"{v['p95_low']:.1f}–{v['p95_high']:.1f}",
         f"{v['max']:.1f}", f"{v['worst']:.1f}"]
        for name, v in stats.items()
    ]  # fmt: skip
    table = markdown_table(
        ["callback", "p50 ms", "p95 ms", "p95 range over rounds", "max ms", "worst ms"], rows
    )
    limit = s.get("limit_ms", LIMIT_MS)
    worst_name, worst = max(((k, v["p95_high"]) for k, v in stats.items()), key=lambda t: t[1])
    over = [k for k, v in stats.items() if v["p95_high"] >= limit]
    loads = [x[0] for r in rounds for x in (r["load_before"], r["load_after"]) if x]
    first, last = rounds[0]["evaluated"][0], rounds[-1]["evaluated"][-1]
    text = (
        f"Each figure is the median over {len(rounds)} rounds of {s['repeats']} requests per "
        f"callback (p95 range: the lowest and highest p95 of a single round; worst: the "
        f"slowest single request of any round). The search kept running: {first:,} → "
        f"{last:,} evaluated candidates during the measurement; 1-minute load average "
        f"{min(loads):.1f}–{max(loads):.1f} on {result['stamp'].get('cores', '?')} cores "
        f"(other work on the machine slows every timing); layout {s['layout']}. "
    )
    if not over:
        text += (
            f"Every callback's p95 stayed under {limit:.0f} ms in every round (the highest: "
            f"{worst:.1f} ms, {worst_name})."
        )
    else:
        text += (
            f"Not every p95 is under {limit:.0f} ms: {', '.join(over)} reached "
            f"{worst:.1f} ms in a round (the highest p95, {worst_name})."
        )
    rates = [  # candidates the engine evaluated per minute of back-to-back requests
        60.0
        * (r["evaluated"][-1] - r["evaluated"][0])
        / max(sum(sum(v) for v in r["times_ms"].values()) / 1000.0, 1e-9)
        for r in rounds
    ]
    text += (
        f" Meanwhile the search evaluated {min(rates):.0f}–{max(rates):.0f} candidates per "
        "minute of requests (per round: candidates over the summed request time)."
    )
    slow_name, slow = max(((k, v["worst"]) for k, v in stats.items()), key=lambda t: t[1])
    text += f" The slowest single request took {slow:.0f} ms ({slow_name})."
    if s.get("warmup_note"):
        text += f" Note: {s['warmup_note']}."
    return f"{table}\n\n{text}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--candidates", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=60)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--layout", default="umap", choices=["umap", "pca"])
    ap.add_argument(
        "--reuse-warmup",
        action="store_true",
        help="keep the warm-up database and resume a copy of it next time",
    )
    ap.add_argument("--name", default="app_latency", help="result file name")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    tmp = Path(tempfile.mkdtemp())
    cfg = SearchConfig(
        dataset="synthetic", proxies=("zico", "naswot", "synflow", "params", "flops"),
        proxy_C=4, proxy_N=1, proxy_batch_size=8, supernet=False,
        budget=args.candidates * 3, strategy="evolution", proxy="zico",
    )  # fmt: skip
    warm = REPO / "data" / "cache" / f"app_latency_warm_{args.candidates}.db"
    storage, reused = _warm_storage(warm, args.candidates, tmp) if args.reuse_warmup else (
        SQLiteStorage(tmp / "lat.db"), False)  # fmt: skip
    controller = AppController(
        storage, defaults=cfg, cache_dir=REPO / "data" / "cache", layout_method=args.layout,
        data=load_dataset("synthetic"),
    )  # fmt: skip
    if reused:
        controller.open_latest()
    app = create_app(controller)
    client = app.server.test_client()
    deps = {d["output"]: d for d in client.get("/_dash-dependencies").json}
    controller.start(strategy="evolution", proxy="zico", budget=args.candidates * 3)
    controller.wait_layout(timeout=3600)
    t0 = time.time()
    controller.session.wait(lambda s: s.n_evaluated >= args.candidates, timeout=3 * 3600)
    if args.reuse_warmup and not reused:
        warm.parent.mkdir(parents=True, exist_ok=True)
        with sqlite3.connect(tmp / "lat.db") as src, sqlite3.connect(warm) as dst:
            src.backup(dst)
    how = "resumed from the kept warm-up" if reused else f"evaluated in {time.time() - t0:.0f}s"
    print(f"{controller.snapshot().n_evaluated} candidates {how}; measuring while the search "
          "keeps running", flush=True)  # fmt: skip

    values: dict[tuple[str, str], Any] = {
        (graph.IMPORTANCE_METRIC, "value"): "fitness", (embedding.COLOUR_BY, "value"): "zico",
        (embedding.COLOUR_SCALE, "value"): "rank", (ids.HIDE_TRUTH, "value"): [],
        (compare.CMP_X, "value"): "zico", (compare.CMP_Y, "value"): "naswot",
        (compare.CMP_METHOD, "value"): "spearman", (compare.CMP_K, "value"): 10,
        (graph.CLICK_MODE, "value"): "prune", (graph.NOTE, "value"): "",
        (ids.BUDGET, "value"): str(args.candidates * 3), (ids.STRATEGY, "value"): "evolution",
        (ids.PROXY, "value"): "zico",
    }  # fmt: skip

    def first_output(component: str) -> dict[str, Any]:
        return next(d for d in deps.values() if d["output"].startswith(f"..{component}."))

    changed = f"{ids.VERSION}.data"
    views = {
        "poll (status)": (first_output(ids.VERSION), f"{ids.POLL}.n_intervals"),
        "supernet graph + chips": (first_output(graph.CELL_GRAPH), changed),
        "embedding (15,625 points)": (first_output(embedding.EMBEDDING), changed),
        "progress": (first_output(progress.PROGRESS), changed),
        "proxy comparison": (first_output(compare.CMP_SCATTER), changed),
    }
    command = next(
        d
        for d in deps.values()
        if d["output"].startswith(f"{ids.ALERT}.children")
        and any(isinstance(i["id"], str) and i["id"].startswith("{") for i in d["inputs"])
    )

    def evaluated() -> int:
        return controller.snapshot().n_evaluated

    rounds = []
    for k in range(args.rounds):
        rounds.append(measure_round(client, views, command, values, args.repeats,
                                    k * args.repeats, evaluated))  # fmt: skip
        ev = rounds[-1]["evaluated"]
        print(f"round {k + 1}/{args.rounds}: {ev[0]:,}–{ev[1]:,} evaluated, load "
              f"{rounds[-1]['load_after']}", flush=True)  # fmt: skip
    controller.close()
    storage.close()

    result = {
        "settings": {
            "candidates": args.candidates, "repeats": args.repeats, "rounds": args.rounds,
            "threads": args.threads, "layout": args.layout, "limit_ms": LIMIT_MS,
            "warmup_reused": reused,
        },
        "callbacks": list(rounds[0]["times_ms"]),
        "rounds": rounds,
    }  # fmt: skip
    path = write_result(args.name, result, renderer="benchmarks.app_latency")
    print(f"\n### Callback latency (ms), {args.name}\n")
    print(render(json.loads(path.read_text())))
    print(f"\nwrote {path.relative_to(REPO)}")


if __name__ == "__main__":
    main()
