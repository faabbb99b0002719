"""``nasnav suggest``: a stored run's op evidence and the prunes it supports."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import click

from nas_engine.cli.base import fail, main
from nas_engine.evidence import ALPHA, MIN_CELLS, MIN_EFFECT


def run_state(storage: Any, run_id: int) -> dict[str, Any]:
    """A stored run's config, candidates, mask, budget and costs (when it has a budget).

    Raises:
        StorageError: No such run.
    """
    from nas_engine.runner import SearchConfig
    from nas_engine.search_spaces import create_space
    from nas_engine.steering import Steering

    info = storage.get_run(run_id)
    config = SearchConfig.from_dict(info.config)
    space = create_space(config.space)
    steering = Steering(
        config.initial_mask(space), tuple(storage.events(run_id)), budget=config.resource_budget()
    )
    costs = None
    if steering.budget.is_set:
        from nas_engine.data import load_dataset
        from nas_engine.runner.resources import RunResources, cache_dir

        data = load_dataset(config.dataset, data_dir=config.data_dir, seed=config.seed)
        costs = RunResources(space, data, config, cache_dir=cache_dir(storage)).costs
    return {
        "config": config,
        "space": space,
        "candidates": storage.candidates(run_id),
        "mask": steering.mask,
        "budget": steering.budget,
        "costs": costs,
    }


@main.command()
@click.option("--db", default="data/nasnav.db", show_default=True, help="SQLite database.")
@click.option("--run", "run_id", type=int, required=True, help="Run id.")
@click.option(
    "--metric",
    default="fitness",
    show_default=True,
    help="fitness (the run's order), ensemble, a proxy, oneshot, trained_acc or truth.",
)
@click.option("--min-cells", default=MIN_CELLS, show_default=True, type=click.IntRange(min=2))
@click.option(
    "--min-effect",
    default=MIN_EFFECT,
    show_default=True,
    type=click.FloatRange(min=0),
    help="Smallest effect worth a prune (percentile points).",
)
@click.option(
    "--alpha",
    default=ALPHA,
    show_default=True,
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    help="Family-wise error rate (Holm over the ops tested).",
)
@click.option("--all", "show_all", is_flag=True, help="Also print every op's effect.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def suggest(
    db: str,
    run_id: int,
    metric: str,
    min_cells: int,
    min_effect: float,
    alpha: float,
    show_all: bool,
    as_json: bool,
) -> None:
    """Print the steering actions the evidence of a stored run supports."""
    from nas_engine.runner.evidence import run_evidence
    from nas_engine.storage import SQLiteStorage, StorageError
    from nas_engine.strategies import STRATEGIES

    if not Path(db).is_file():
        fail(f"no database {db}")
    try:
        st = run_state(SQLiteStorage(db), run_id)
    except StorageError as exc:
        fail(str(exc))
    cfg, space = st["config"], st["space"]
    try:
        ev = run_evidence(
            st["candidates"], space, st["mask"], config=cfg,
            fitness_kind=STRATEGIES.get(cfg.strategy).fitness,  # type: ignore[attr-defined]
            metric=metric, budget=st["budget"], costs=st["costs"], min_cells=min_cells,
            min_effect=min_effect, alpha=alpha, seed=cfg.seed,
        )  # fmt: skip
    except ValueError as exc:
        fail(str(exc))
    if as_json:
        out: dict[str, Any] = {
            "run": run_id,
            "metric": metric,
            "cells": ev.cells,
            "note": ev.note,
            "suggestions": [s.to_dict() for s in ev.suggestions],
        }
        if show_all:
            out["effects"] = [
                {**e.to_dict(), "where": space.position_label(e.position),
                 "state": st["mask"].state(e.position, e.op)}
                for e in ev.effects
            ]  # fmt: skip
        click.echo(json.dumps(out, indent=2))
        return
    click.echo(f"run {run_id}: evidence on {metric} over {ev.cells} distinct cells")
    if ev.note:
        click.echo(ev.note)
    for s in ev.suggestions:
        click.echo(f"  {s.note()}")
    if not ev.suggestions and not ev.note:
        click.echo(
            f"no suggestion: no allowed op trails the others by more than {min_effect:g} "
            f"percentile points with Holm p < {alpha:g} (each side needs {min_cells} cells)"
        )
    if show_all:
        click.echo(f"\n{'where':>8} {'op':<14} {'state':<8} {'n':>5} {'effect':>7} "
                   f"{'95% CI':>15} {'p':>8}")  # fmt: skip
        rows = sorted(ev.effects, key=lambda e: e.effect if math.isfinite(e.effect) else 1e9)
        for e in rows:
            ci = f"[{e.low:+.0f}, {e.high:+.0f}]" if math.isfinite(e.low) else "-"
            eff = f"{e.effect:+.1f}" if math.isfinite(e.effect) else "-"
            pv = f"{e.p:.2g}" if math.isfinite(e.p) else "-"
            click.echo(
                f"{space.position_label(e.position):>8} {e.op:<14} "
                f"{st['mask'].state(e.position, e.op):<8} {e.n:>5} {eff:>7} {ci:>15} {pv:>8}"
                + (" *" if e.significant else "")
            )
