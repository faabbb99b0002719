"""Server-side latency of the app's callbacks while a search runs (p50/p95 table).

A real background search runs in this process (synthetic data, tiny proxy networks, no
supernet, so it reaches ``--candidates`` evaluated cells quickly and then keeps going).
Each callback is then requested through Dash's own HTTP endpoint
(``/_dash-update-component``, Flask test client: routing, JSON (de)serialisation and the
callback body; no network or browser rendering), ``--repeats`` times, interleaved, while
the engine thread keeps evaluating candidates. The chip click alternates prune/restore.

    python benchmarks/app_latency.py --candidates 1000
"""

from __future__ import annotations

import argparse
import json
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
from benchmarks._common import REPO, markdown_table
from nas_engine.data import load_dataset
from nas_engine.runner import SearchConfig
from nas_engine.storage import SQLiteStorage

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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--candidates", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=60)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--layout", default="umap", choices=["umap", "pca"])
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    tmp = Path(tempfile.mkdtemp())
    cfg = SearchConfig(
        dataset="synthetic", proxies=("zico", "naswot", "synflow", "params", "flops"),
        proxy_C=4, proxy_N=1, proxy_batch_size=8, supernet=False,
        budget=args.candidates * 3, strategy="evolution", proxy="zico",
    )  # fmt: skip
    storage = SQLiteStorage(tmp / "lat.db")
    controller = AppController(
        storage, defaults=cfg, cache_dir=REPO / "data" / "cache", layout_method=args.layout,
        data=load_dataset("synthetic"),
    )  # fmt: skip
    app = create_app(controller)
    client = app.server.test_client()
    deps = {d["output"]: d for d in client.get("/_dash-dependencies").json}
    controller.wait_layout()
    controller.start(strategy="evolution", proxy="zico", budget=args.candidates * 3)
    t0 = time.time()
    controller.session.wait(lambda s: s.n_evaluated >= args.candidates, timeout=3600)
    print(f"{args.candidates} candidates evaluated in {time.time() - t0:.0f}s; measuring "
          "while the search keeps running", flush=True)  # fmt: skip

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
    times: dict[str, list[float]] = {k: [] for k in [*views, "op chip click (prune/restore)"]}
    n_at = []
    for r in range(args.repeats):
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
        times["op chip click (prune/restore)"].append(1000 * (time.perf_counter() - t))
        if resp.status_code != 200 or b"error" in resp.data:
            raise SystemExit(f"chip click failed: {resp.data[:300]!r}")
        n_at.append(controller.snapshot().n_evaluated)
    controller.close()
    storage.close()

    rows = [[k, statistics.median(v), float(np.percentile(v, 95)), max(v)]
            for k, v in times.items()]  # fmt: skip
    print(f"\n### Callback latency (ms), {args.repeats} requests each, search running, "
          f"{n_at[0]:,}–{n_at[-1]:,} evaluated candidates, layout {args.layout}\n")  # fmt: skip
    print(markdown_table(["callback", "p50 ms", "p95 ms", "max ms"], rows))


if __name__ == "__main__":
    main()
