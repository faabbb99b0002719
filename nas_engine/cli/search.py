"""``nasnav search``, ``runs`` and ``export``: headless searches and their stored runs."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import click

from nas_engine.cli.base import (
    advance,
    dataset_options,
    executor_options,
    fail,
    main,
    open_executor,
    parse_edge_op,
    parse_set,
    progress_bar,
    space_flag,
)
from nas_engine.runner.config import SearchConfig
from nas_engine.search_spaces import MaskError, create_space

# ----------------------------------------------------------------------------- search
#: The longest arch string the best table shows in its rows (longer ones go below it).
ARCH_INLINE = 24


def _best_table(snap: Any, top: int = 10) -> str:
    """The best distinct cells in the run's own order (for the ensemble: the rank ensemble
    over every evaluated cell, not an early cell's online fitness)."""
    from nas_engine.runner.ranking import ranked
    from nas_engine.strategies import STRATEGIES

    kind = STRATEGIES.get(snap.config.strategy).fitness  # type: ignore[attr-defined]
    seen: dict[str, Any] = {}
    fid = snap.search_fidelity
    for c in ranked(snap.candidates, config=snap.config, fitness_kind=kind, fidelity=fid):
        seen.setdefault(c.arch, c)
    rows = list(seen.values())[:top]
    proxies = list(snap.config.all_proxies)
    ens = snap.config.proxy == "ensemble" and kind == "proxy"
    head = f"{'#':>4} {'fitness' + ('*' if ens else ''):>9} "
    head += " ".join(f"{p[:9]:>9}" for p in proxies)
    head += f" {'one-shot':>8} {'trained':>7} {'truth':>6}"
    # a long arch string (NB201's is 90 characters) would wrap each row in a terminal, so
    # long ones are listed below the table by row number, where a wrap misaligns nothing
    inline = all(len(c.arch) <= ARCH_INLINE for c in rows)
    lines = [head + ("  arch" if inline else "")]

    def f(v: Any, w: int, d: int = 2) -> str:
        if not isinstance(v, float) or v != v:
            return f"{'-':>{w}}"
        return f"{v:{w}.{d}f}" if abs(v) < 10**5 else f"{v:{w}.2e}"

    for c in rows:
        lines.append(
            f"{c.seq:>4} {f(c.fitness, 9, 3)} "
            + " ".join(f(c.scores.get(p), 9, 3) for p in proxies)
            + f" {f(c.oneshot, 8)} {f(c.trained_acc, 7)} {f(c.truth, 6)}"
            + (f"  {c.arch}" if inline else "")
        )
    if not inline:
        lines += [f"{'#':>4}  arch"] + [f"{c.seq:>4}  {c.arch}" for c in rows]
    if ens:
        lines.append(
            "* online fitness when the cell was evaluated (judged on the cells before it); "
            f"rows are ordered by the {snap.config.aggregation} ensemble over all cells"
            + (" with the one-shot estimate weighted by its fidelity" if snap.config.hybrid
               else "")
        )  # fmt: skip
    if kind == "oneshot" and not fid.informative:
        lines.append("rows are ordered by the zero-cost ensemble: one-shot " + fid.label())
    if snap.config.supernet:
        lines.append(f"one-shot estimate: {snap.fidelity.label()}")
    return "\n".join(lines)


@main.command()
@space_flag
@dataset_options
@click.option(
    "--strategy",
    default="evolution",
    show_default=True,
    help="random | evolution | proxy_evolution | supernet_evolution",
)
@click.option(
    "--proxy",
    default=SearchConfig.proxy,
    show_default=True,
    help="Fitness proxy, or 'ensemble' (the default rank ensemble).",
)
@click.option(
    "--budget",
    default=200,
    show_default=True,
    type=click.IntRange(min=1),
    help="Candidates to evaluate.",
)
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--db", default="data/nasnav.db", show_default=True, help="SQLite database.")
@click.option("--prune", multiple=True, metavar="EDGE:OP", help="Forbid OP on EDGE.")
@click.option("--pin", multiple=True, metavar="EDGE:OP", help="Fix EDGE to OP.")
@click.option("--benchmark", default=None, metavar="SPEC", help="Ground truth csv:PATH[:COLUMN].")
@click.option("--max-flops", type=float, default=None, help="FLOPs budget (millions).")
@click.option("--max-params", type=float, default=None, help="Parameter budget (millions).")
@click.option(
    "--latency",
    default=None,
    metavar="csv:PATH:DEVICE",
    help="Latency table (ms per cell on DEVICE), e.g. HW-NAS-Bench's.",
)
@click.option("--max-latency", type=float, default=None, help="Latency budget (ms).")
@click.option(
    "--warmup",
    default=0,
    show_default=True,
    type=click.IntRange(min=0),
    help="Zero-cost warm-up pool of the evolutionary strategies (0: off).",
)
@click.option(
    "--move-p",
    type=click.FloatRange(0, 1),
    default=None,
    help="Zero-cost move proposal, random move with this probability (off when absent).",
)
@click.option(
    "--cheap-proxy",
    default="synflow",
    show_default=True,
    help="Proxy behind warm-up and move proposal.",
)
@click.option("--no-supernet", is_flag=True, help="Skip the supernet (proxies only).")
@click.option(
    "--train-top-k",
    default=0,
    show_default=True,
    type=click.IntRange(min=0),
    help="Train the best k cells from scratch at the end.",
)
@click.option(
    "--resume",
    "resume_id",
    type=int,
    default=None,
    metavar="RUN_ID",
    help="Continue a stored run (other options are taken from the run).",
)
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override any search setting (e.g. proxy_C=8, steps_per_candidate=2).",
)
@click.option(
    "--accept-suggestions",
    is_flag=True,
    help="Scripted steering: accept every current suggestion (on the fitness) through "
    "the ordinary steering path, every --suggest-every candidates.",
)
@click.option(
    "--suggest-every",
    default=SearchConfig.suggest_every,
    show_default=True,
    type=click.IntRange(min=1),
    help="Candidates between two rounds of accepted suggestions.",
)
@click.option("--threads", default=None, type=click.IntRange(min=1), help="torch threads.")
@executor_options
@click.option(
    "--train-gpu",
    is_flag=True,
    help="From-scratch training claims a worker with a GPU resource and trains on CUDA.",
)
def search(
    space_name: str,
    dataset: str,
    data_dir: str | None,
    strategy: str,
    proxy: str,
    budget: int,
    seed: int,
    db: str,
    prune: tuple[str, ...],
    pin: tuple[str, ...],
    benchmark: str | None,
    max_flops: float | None,
    max_params: float | None,
    latency: str | None,
    max_latency: float | None,
    warmup: int,
    move_p: float | None,
    cheap_proxy: str,
    no_supernet: bool,
    train_top_k: int,
    resume_id: int | None,
    overrides: tuple[str, ...],
    accept_suggestions: bool,
    suggest_every: int,
    threads: int | None,
    workers: int | None,
    scheduler: str | None,
    train_gpu: bool,
) -> None:
    """Run a search headless, persisted in SQLite; print the best cells at the end.

    With --workers or --scheduler, candidates are scored on Dask workers, one in flight
    per worker thread; this process trains the supernet and stores every result."""
    import dataclasses

    import torch

    from nas_engine.benchmarks import GroundTruthError
    from nas_engine.data import DatasetError
    from nas_engine.runner import CommandError, SearchConfig, SearchSession
    from nas_engine.storage import SQLiteStorage, StorageError

    if threads:
        torch.set_num_threads(threads)
    if train_gpu and workers is None and not scheduler:
        fail("--train-gpu needs Dask workers: give --scheduler (or --workers)")
    storage = SQLiteStorage(db)
    ex = open_executor(workers, scheduler)
    where = {"executor": ex, "train_gpu": train_gpu}
    try:
        if resume_id is not None:
            session = SearchSession.resume(storage, resume_id, **where)
            if overrides:
                session.close()
                cfg = dataclasses.replace(session.config, **parse_set(overrides))
                storage.update_config(resume_id, cfg.to_dict())
                session = SearchSession.resume(storage, resume_id, **where)
        else:
            sp = create_space(space_name)
            cfg = SearchConfig(
                space=space_name,
                dataset=dataset,
                data_dir=data_dir,
                strategy=strategy,
                proxy=proxy,
                budget=budget,
                seed=seed,
                prune=tuple(parse_edge_op(p, sp) for p in prune),
                pin=tuple(parse_edge_op(p, sp) for p in pin),
                benchmark=benchmark,
                max_flops=max_flops,
                max_params=max_params,
                latency=latency,
                max_latency=max_latency,
                warmup=warmup,
                move_p=move_p,
                cheap_proxy=cheap_proxy,
                supernet=not no_supernet,
                train_top_k=train_top_k,
                accept_suggestions=accept_suggestions,
                suggest_every=suggest_every,
            )
            if overrides:
                cfg = dataclasses.replace(cfg, **parse_set(overrides))
            session = SearchSession.create(storage, cfg, **where)
    except (CommandError, StorageError, DatasetError, GroundTruthError, MaskError) as exc:
        ex.close()
        fail(str(exc))
    click.echo(
        f"run {session.run_id} in {db} ({session.config.strategy}, "
        f"fitness {session.config.proxy}); resume with --resume {session.run_id}"
    )
    snap = session.snapshot()
    bar = progress_bar(
        total=session.config.budget, initial=snap.n_evaluated, desc="candidates", unit="cell"
    )
    session.start()
    try:
        while True:
            snap = session.snapshot()
            best = snap.best
            bar.set_postfix(
                best=None if best is None else round(best.fitness, 3),
                step=snap.supernet_step,
                refresh=False,
            )
            advance(bar, snap.n_evaluated)
            if snap.status in ("finished", "stopped", "failed") or (
                snap.status == "paused" and snap.message
            ):
                break
            time.sleep(0.2)
    except KeyboardInterrupt:
        session.stop()
        snap = session.wait(lambda s: s.status == "stopped", timeout=60)
    finally:
        bar.close()
        session.close()
        ex.close()
    if snap.message:
        click.echo(snap.message.splitlines()[0])
    click.echo(
        f"status {snap.status}: {snap.n_evaluated} candidates, "
        f"{snap.supernet_step} supernet steps, mask v{snap.mask_version}"
    )
    click.echo(_best_table(snap))
    from nas_engine.runner.evidence import ACCEPTED

    accepted = [e for e in snap.events if e.note.startswith(ACCEPTED)]
    if accepted:
        n = len(accepted)
        click.echo(f"{n} suggestion{'s' * (n != 1)} accepted (mask v{snap.mask_version}):")
        for e in accepted:
            click.echo(f"  {e.note[len(ACCEPTED) :]}")
    if snap.status == "failed":
        sys.exit(1)


@main.command()
@click.option("--db", default="data/nasnav.db", show_default=True, help="SQLite database.")
@click.option("--run", "run_id", type=int, required=True, help="Run id.")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False), default=None)
@click.option("--json", "json_path", type=click.Path(dir_okay=False), default=None)
def export(db: str, run_id: int, csv_path: str | None, json_path: str | None) -> None:
    """Export a run's candidates (CSV) or everything (JSON)."""
    from nas_engine.storage import SQLiteStorage, StorageError

    if not csv_path and not json_path:
        fail("give --csv PATH and/or --json PATH")
    if not Path(db).is_file():
        fail(f"no database {db}")
    storage = SQLiteStorage(db)
    try:
        if csv_path:
            storage.export_csv(run_id, csv_path)
        if json_path:
            storage.export_json(run_id, json_path)
    except StorageError as exc:
        fail(str(exc))
    click.echo(f"exported run {run_id}")


@main.command()
@click.option("--db", default="data/nasnav.db", show_default=True, help="SQLite database.")
def runs(db: str) -> None:
    """List the runs stored in a database."""
    from nas_engine.storage import SQLiteStorage

    if not Path(db).is_file():
        fail(f"no database {db}")
    storage = SQLiteStorage(db)
    runs = storage.list_runs()
    if not runs:
        click.echo(f"no runs in {db}")
        return
    click.echo(
        f"{'run':>4}  {'status':<9} {'cands/budget':>12}  {'created':<16}  {'updated':<16}  "
        "strategy  fitness  dataset"
    )
    for r in runs:
        n = len(storage.candidates(r.id))
        c = r.config
        done = f"{n}/{c.get('budget')}"
        click.echo(
            f"{r.id:>4}  {r.status:<9} {done:>12}  {_when(r.created)}  {_when(r.updated)}  "
            f"{c.get('strategy')}  {c.get('proxy')}  {c.get('dataset')}"
        )


def _when(t: float) -> str:
    """A Unix time as local ``YYYY-MM-DD HH:MM``."""
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(t))
