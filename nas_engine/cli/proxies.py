"""``nasnav proxies``, ``score`` and ``correlate``: zero-cost proxies from the command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import numpy as np

from nas_engine.cli.base import (
    advance,
    dataset_options,
    executor_options,
    fail,
    main,
    network,
    network_options,
    open_executor,
    progress_bar,
    space_flag,
)
from nas_engine.proxies.suite import AGGREGATIONS, DEFAULT_AGGREGATION, DEFAULT_ENSEMBLE
from nas_engine.search_spaces import create_space


# ------------------------------------------------------------------------------ proxies
@main.command("proxies")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def proxies_cmd(as_json: bool) -> None:
    """List the zero-cost proxies with what they measure and need."""
    from nas_engine.proxies import list_proxies, proxy_class

    infos = [proxy_class(n).info() for n in list_proxies()]
    if as_json:
        click.echo(json.dumps(infos, indent=2))
        return
    for i in infos:
        flags = ("higher=better" if i["higher_is_better"] else "lower=better") + (
            ", needs labels" if i["needs_labels"] else ", needs data" if i["needs_data"] else ""
        )
        click.echo(f"{i['name']:<16} {i['description']}  [{flags}; {i['cost']}]")
        if i["definition"]:
            click.echo(f"{'':<16} = {i['definition']}")
        if i["paper"]:
            click.echo(f"{'':<16} ({i['paper']})")


@main.command()
@space_flag
@click.option(
    "--archs",
    "archs_file",
    type=click.Path(dir_okay=False),
    default=None,
    help="File with one arch string per line.",
)
@click.option(
    "--sample",
    type=click.IntRange(min=1),
    default=None,
    help="Score N distinct cells sampled uniformly.",
)
@click.option(
    "--seed",
    default=0,
    show_default=True,
    type=int,
    help="Seed for sampling, weights and batches.",
)
@dataset_options
@click.option(
    "--proxies",
    "proxy_spec",
    default="all",
    show_default=True,
    help="Comma-separated proxy names, 'all', or 'ensemble' (the default ensemble's members).",
)
@click.option("--batch-size", default=64, show_default=True, type=click.IntRange(min=2))
@network_options
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Output CSV.")
@click.option("--resume", is_flag=True, help="Continue an interrupted --out file.")
@click.option("--overwrite", is_flag=True, help="Replace an existing --out file.")
@click.option("--threads", default=None, type=click.IntRange(min=1), help="torch threads.")
@executor_options
def score(
    space_name: str,
    archs_file: str | None,
    sample: int | None,
    seed: int,
    dataset: str,
    data_dir: str | None,
    proxy_spec: str,
    batch_size: int,
    channels: int | None,
    cells: int | None,
    out: str,
    resume: bool,
    overwrite: bool,
    threads: int | None,
    workers: int | None,
    scheduler: str | None,
) -> None:
    """Score cells with zero-cost proxies; one CSV row per cell (arch, scores, seconds).

    With --workers or --scheduler, cells are scored on Dask workers (each loads the
    dataset itself) and rows are written here as they arrive, in any order.
    """
    import numpy as np
    import torch

    from nas_engine.data import DatasetError, load_dataset
    from nas_engine.distributed import DataSpec, ExecutorError
    from nas_engine.proxies import ProxyInputError, ProxySuite
    from nas_engine.proxies.io import ScoreFileError, score_to_csv

    if (archs_file is None) == (sample is None):
        fail("give exactly one of --archs FILE or --sample N")
    if resume and overwrite:
        fail("--resume and --overwrite exclude each other")
    if threads:
        torch.set_num_threads(threads)
    sp = create_space(space_name)
    if archs_file is not None:
        try:
            lines = Path(archs_file).read_text().splitlines()
        except OSError as exc:
            fail(f"cannot read --archs: {exc}")
        archs = []
        for lineno, line in enumerate(lines, start=1):
            if line.strip() and not line.lstrip().startswith("#"):
                try:
                    archs.append(sp.from_string(line))
                except ValueError as exc:
                    fail(f"{archs_file}:{lineno}: {exc}")
        if not archs:
            fail(f"{archs_file}: no arch strings")
    else:
        assert sample is not None
        if sample > sp.size:
            fail(f"--sample {sample} exceeds the space's {sp.size} cells")
        archs = sp.sample_distinct(sample, np.random.default_rng(seed))
    try:
        ds = load_dataset(dataset, data_dir=data_dir)
        suite = ProxySuite(
            sp,
            proxy_spec,
            data=ds,
            batch_size=batch_size,
            seed=seed,
            build_kwargs=network(sp, channels, cells),
        )
    except (DatasetError, ProxyInputError) as exc:
        fail(str(exc))
    ex = open_executor(workers, scheduler)
    bar = progress_bar(total=len(archs), desc="scoring", unit="cell")
    try:
        new, skipped = score_to_csv(
            suite,
            archs,
            out,
            resume=resume,
            overwrite=overwrite,
            on_cell=lambda _cs: bar.update(1),
            ensemble=True,
            executor=None if ex.kind == "in-process" else ex,
            data_spec=DataSpec.of(dataset, data_dir=data_dir),
        )
    except (ScoreFileError, ExecutorError) as exc:
        bar.close()
        fail(f"{exc} (the rows written so far are kept; continue with --resume)")
    finally:
        ex.close()
    bar.close()
    click.echo(
        f"scored {new} cells, {skipped} already in {out}; proxies: {', '.join(suite.names)}"
    )


@main.command()
@click.option("--scores", "scores_file", required=True, type=click.Path(dir_okay=False))
@click.option("--benchmark", required=True, metavar="SPEC", help="csv:PATH[:COLUMN]")
@click.option(
    "--ensemble",
    default=None,
    help=f"Proxies of the rank ensemble ('' for none) [default: {','.join(DEFAULT_ENSEMBLE)}, "
    "when the file has them].",
)
@click.option(
    "--aggregation",
    default=DEFAULT_AGGREGATION,
    show_default=True,
    type=click.Choice(AGGREGATIONS),
    help="How the ensemble combines ranks.",
)
@click.option(
    "--top",
    default=0.1,
    show_default=True,
    type=click.FloatRange(0, 1, min_open=True),
    help="Fraction for top-k precision.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def correlate(
    scores_file: str,
    benchmark: str,
    ensemble: str | None,
    aggregation: str,
    top: float,
    as_json: bool,
) -> None:
    """Rank correlation (Spearman, Kendall) and top-k precision of each proxy vs ground truth."""
    import math

    from nas_engine.benchmarks import GroundTruthError, load_ground_truth
    from nas_engine.proxies import ProxyInputError, correlations, list_proxies, rank_ensemble
    from nas_engine.proxies.io import ScoreFileError, read_scores

    try:
        archs, values = read_scores(scores_file)
        gt = load_ground_truth(benchmark)
    except (ScoreFileError, GroundTruthError) as exc:
        fail(str(exc))
    truth = [gt.lookup(a) for a in archs]
    known = sum(t is not None for t in truth)
    if known < 3:
        fail(f"only {known} of {len(archs)} cells have ground truth in {benchmark}")
    t = [math.nan if v is None else v for v in truth]
    rows = {}
    for name, vals in values.items():
        sign = 1.0
        if name in list_proxies():
            from nas_engine.proxies import proxy_class

            sign = 1.0 if proxy_class(name).higher_is_better else -1.0
        rows[name] = correlations([sign * v for v in vals], t, top=top)
    note = ""
    if ensemble is None:  # the default ensemble, when the file has its members
        members = list(DEFAULT_ENSEMBLE)
        if any(m not in values for m in members):
            lacking = [m for m in members if m not in values]
            note = f"no default ensemble row: the file lacks {lacking}"
            members = []
    else:
        members = [m.strip() for m in ensemble.split(",") if m.strip()]
    if members:
        try:
            ens = rank_ensemble(values, members, aggregation=aggregation)
        except ProxyInputError as exc:
            fail(str(exc))
        rows[f"ensemble({'+'.join(members)}; {aggregation})"] = correlations(list(ens), t, top=top)
    if as_json:
        click.echo(
            json.dumps(
                {"cells": len(archs), "with_truth": known, "proxies": rows, "note": note},
                indent=2,
            )
        )
        return
    click.echo(f"{len(archs)} cells, {known} with ground truth ({gt.metric})")
    if note:
        click.echo(note)
    click.echo(
        f"{'proxy':<40} {'spearman':>8} {'kendall':>8} {'top' + str(round(top * 100)) + '%':>7}"
    )
    for name, r in sorted(rows.items(), key=lambda kv: -np.nan_to_num(kv[1]["spearman"], nan=-9)):
        click.echo(
            f"{name:<40} {r['spearman']:8.3f} {r['kendall']:8.3f} {r['top_precision']:7.2f}"
        )


# -------------------------------------------------------------------------- space-scores
@main.command("space-scores")
@space_flag
@click.option(
    "--proxies",
    "proxy_spec",
    default="synflow,meco",
    show_default=True,
    help="Data-free proxies to score on every cell.",
)
@click.option("--cache-dir", default="data/cache", show_default=True, type=click.Path())
@click.option("--seed", default=0, show_default=True, type=int, help="Weights seed.")
@network_options
@click.option(
    "--limit", default=None, type=click.IntRange(min=1), help="Stop after this many cells."
)
@click.option("--threads", default=None, type=click.IntRange(min=1), help="torch threads.")
def space_scores(
    space_name: str,
    proxy_spec: str,
    cache_dir: str,
    seed: int,
    channels: int | None,
    cells: int | None,
    limit: int | None,
    threads: int | None,
) -> None:
    """Score every cell of the space with cheap proxies into the app's cache (resumable).

    Cells are visited in a seeded random order, so a stopped job has scored a uniform
    sample; run the command again to continue it. The app colours the whole embedding
    with what is there.
    """
    import torch

    from nas_engine.proxies import ProxyInputError, ProxySuite
    from nas_engine.proxies.space_scores import check_cheap, score_space, space_score_path

    if threads:
        torch.set_num_threads(threads)
    sp = create_space(space_name)
    try:
        names = check_cheap([n.strip() for n in proxy_spec.split(",") if n.strip()])
    except (ProxyInputError, ValueError) as exc:
        fail(str(exc))
    build = network(sp, channels, cells)
    suite = ProxySuite(sp, names, seed=seed, build_kwargs=build)
    path = space_score_path(cache_dir, sp, names, seed=seed, build_kwargs=build)
    bar = progress_bar(total=limit or sp.size, desc="scoring the space", unit="cell")

    def tick(p: Any) -> None:
        advance(bar, min(p.done, bar.total))

    prog = score_space(suite, path, limit=limit, on_progress=tick)
    bar.close()
    click.echo(f"{prog.done} of {prog.total} cells scored in {prog.path}")
