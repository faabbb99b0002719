"""Engine throughput on this machine for the default demo configuration (digits).

Two figures: SPOS supernet training images/s (trainer alone, median of ``--repeats``
timed blocks of steps), and candidates per minute of a full background search session
with its default configuration (proxies + supernet steps + one-shot estimate per
candidate), measured from the session's own snapshots.

    python benchmarks/throughput.py
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import markdown_table, write_result
from nas_engine.data import load_dataset
from nas_engine.runner import SearchConfig, SearchSession
from nas_engine.runner.spos import make_trainer
from nas_engine.search_spaces import create_space
from nas_engine.storage import SQLiteStorage


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=50, help="supernet steps per timed block")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--candidates", type=int, default=60)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cfg = SearchConfig()
    data = load_dataset(cfg.dataset, seed=cfg.seed)
    space = create_space(cfg.space)

    with tempfile.TemporaryDirectory() as tmp:  # the run's own trainer, from the config
        trainer = make_trainer(space, data, cfg, checkpoint_path=Path(tmp) / "none.pt")
    assert trainer is not None
    mask = space.full_mask()
    for _ in range(5):  # warm-up
        trainer.train_step(mask)
    rates = []
    for _ in range(args.repeats):
        t = time.perf_counter()
        for _ in range(args.steps):
            trainer.train_step(mask)
        rates.append(args.steps * cfg.supernet_batch_size / (time.perf_counter() - t))
    evals = []
    rng = np.random.default_rng(0)
    for _ in range(args.repeats):
        arch = space.sample(rng)
        t = time.perf_counter()
        trainer.evaluate(arch)
        evals.append(time.perf_counter() - t)

    with tempfile.TemporaryDirectory() as tmp:
        storage = SQLiteStorage(Path(tmp) / "bench.db")
        session = SearchSession.create(
            storage, SearchConfig(budget=args.candidates), data=data, checkpoint_dir=tmp
        )
        t = time.perf_counter()
        session.start()
        snap = session.wait(lambda s: s.status == "finished", timeout=3600)
        wall = time.perf_counter() - t
        session.close()
        per_cand = [c.seconds for c in snap.candidates if c.seconds is not None]
        storage.close()

    result = {
        "threads": torch.get_num_threads(),
        "dataset": cfg.dataset,
        "supernet": {"C": 8, "N": 1, "batch": cfg.supernet_batch_size, "steps": args.steps},
        "train_img_per_s": statistics.median(rates),
        "estimate_s": statistics.median(evals),
        "candidates": args.candidates,
        "candidates_per_min": 60 * len(snap.candidates) / wall,
        "s_per_candidate": statistics.median(per_cand) if per_cand else None,
        "proxies": list(cfg.all_proxies),
        "fitness": cfg.proxy,
        "steps_per_candidate": cfg.steps_per_candidate,
    }
    md = render(result)
    print(f"\n### Throughput, {result['threads']} threads, dataset {cfg.dataset}\n\n{md}")
    write_result("throughput", result)


def render(r: dict[str, Any]) -> str:
    """The README's table, from ``throughput.json`` alone."""
    sn, spc = r["supernet"], r["s_per_candidate"]
    rows = [
        [f"supernet SPOS training (C={sn['C']}, N={sn['N']}, batch {sn['batch']})",
         f"{r['train_img_per_s']:,.0f} img/s"],
        ["one-shot estimate per subnet (BN recalibration + validation)",
         f"{r['estimate_s']:.2f} s"],
        [f"search session, {r['candidates']} candidates (defaults)",
         f"{r['candidates_per_min']:.1f} candidates/min"],
        [f"seconds per candidate ({', '.join(r['proxies'])} + one-shot)",
         "—" if spc is None else f"{spc:.2f} s"],
    ]  # fmt: skip
    return markdown_table(["what", "median"], rows)


if __name__ == "__main__":
    main()
