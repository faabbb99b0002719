"""``nasnav data``, ``demo`` and ``serve``: datasets, the headless demo and the app."""

from __future__ import annotations

import json
from typing import Any

import click
import numpy as np

from nas_engine.cli.base import (
    dataset_options,
    executor_options,
    fail,
    main,
    open_executor,
    parse_set,
)
from nas_engine.search_spaces import DEFAULT_SPACE, create_space, list_spaces


# ------------------------------------------------------------------------------- data
@main.group()
def data() -> None:
    """Inspect datasets."""


@data.command("info")
@click.argument("name", default="digits")
@click.option("--data-dir", default=None, help="Folder for CIFAR pickles.")
@click.option("--no-download", is_flag=True, help="Fail instead of downloading CIFAR.")
def data_info(name: str, data_dir: str | None, no_download: bool) -> None:
    """Load dataset NAME (digits, synthetic, cifar10, cifar100, npz:PATH) and print its splits."""
    from nas_engine.data import DatasetError, load_dataset

    try:
        ds = load_dataset(name, data_dir=data_dir, download=not no_download)
    except DatasetError as exc:
        fail(str(exc))
    click.echo(json.dumps(ds.summary(), indent=2))


# ------------------------------------------------------------------------------- demo
@main.command()
@click.option("--dataset", default="digits", show_default=True, help="Dataset name.")
@click.option("-n", "--num", default=6, show_default=True, type=click.IntRange(min=1))
@click.option("--epochs", default=4, show_default=True, type=click.IntRange(min=1))
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--C", "channels", default=8, show_default=True, type=click.IntRange(min=1))
@click.option("--N", "cells", default=1, show_default=True, type=click.IntRange(min=1))
def demo(dataset: str, num: int, epochs: int, seed: int, channels: int, cells: int) -> None:
    """Headless demo: sample NB201 cells, train each briefly, print a ranked table."""
    import torch
    from tqdm import tqdm

    from nas_engine.data import DatasetError, load_dataset
    from nas_engine.training import TrainConfig, train_from_scratch
    from nas_engine.utils.complexity import complexity

    try:
        ds = load_dataset(dataset)
    except DatasetError as exc:
        fail(str(exc))
    sp = create_space("nb201", C=channels, N=cells)
    rng = np.random.default_rng(seed)
    archs: list[Any] = []
    while len(archs) < min(num, sp.size):
        a = sp.sample(rng)
        if a not in archs:
            archs.append(a)
    rows = []
    for i, arch in enumerate(tqdm(archs, desc="training cells", unit="cell")):
        torch.manual_seed(seed + i)
        model = sp.build(arch, num_classes=ds.num_classes, in_channels=ds.in_channels)
        cx = complexity(model, ds.input_shape)
        res = train_from_scratch(model, ds, TrainConfig(epochs=epochs, seed=seed + i))
        rows.append((res.test_acc, cx.params, cx.flops, res.seconds, sp.to_string(arch)))
    rows.sort(key=lambda r: -r[0])
    click.echo(f"\n{'test acc':>8}  {'params':>8}  {'MFLOPs':>7}  {'sec':>5}  arch")
    for acc, params, flops, sec, arch_s in rows:
        click.echo(f"{acc:8.2f}  {params:8,d}  {flops / 1e6:7.3f}  {sec:5.1f}  {arch_s}")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8050, show_default=True, type=click.IntRange(1, 65535))
@dataset_options
@click.option(
    "--space",
    default=DEFAULT_SPACE,
    show_default=True,
    type=click.Choice(list_spaces()),
    help="Search space of new runs (the latest stored run of it is reopened).",
)
@click.option("--benchmark", default=None, metavar="SPEC", help="Ground truth csv:PATH[:COLUMN].")
@click.option("--db", default="data/nasnav.db", show_default=True, help="SQLite database.")
@click.option("--cache-dir", default="data/cache", show_default=True, help="Layout cache.")
@click.option(
    "--layout",
    "layout_method",
    default="umap",
    show_default=True,
    type=click.Choice(["umap", "pca"]),
    help="Embedding of the whole space.",
)
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="Default for new runs, e.g. --set proxy=ensemble --set budget=500.",
)
@click.option("--threads", default=None, type=click.IntRange(min=1), help="torch threads.")
@click.option(
    "--read-only",
    is_flag=True,
    help="Everyone watches, nobody steers, starts, stops or trains (a classroom).",
)
@click.option(
    "--token",
    envvar="NASNAV_TOKEN",
    default=None,
    metavar="TOKEN",
    help="Steering token: viewers must type it to steer (env NASNAV_TOKEN). --host beyond "
    "127.0.0.1 needs this or --read-only.",
)
@click.option(
    "--server-threads",
    default=4,
    show_default=True,
    type=click.IntRange(min=1),
    help="Request threads of the web server.",
)
@click.option(
    "--idle-timeout",
    default=30,
    show_default=True,
    type=click.IntRange(min=1),
    help="Seconds before a silent connection is closed.",
)
@click.option(
    "--max-body-mb",
    default=4.0,
    show_default=True,
    type=click.FloatRange(min=0.01),
    help="Largest request body in MiB (larger: 413).",
)
@click.option(
    "--debug",
    is_flag=True,
    help="Werkzeug's development server with Dash's dev tools (reloader off).",
)
@executor_options
@click.option(
    "--train-gpu",
    is_flag=True,
    help="From-scratch training claims a worker with a GPU resource and trains on CUDA.",
)
def serve(
    host: str,
    port: int,
    dataset: str,
    data_dir: str | None,
    space: str,
    benchmark: str | None,
    db: str,
    cache_dir: str,
    layout_method: str,
    overrides: tuple[str, ...],
    threads: int | None,
    read_only: bool,
    token: str | None,
    server_threads: int,
    idle_timeout: int,
    max_body_mb: float,
    debug: bool,
    workers: int | None,
    scheduler: str | None,
    train_gpu: bool,
) -> None:
    """Start the background engine and the Dash app (resumes the latest run in --db).

    The page is served by waitress (threads, idle timeouts, a body limit); --debug swaps
    in Werkzeug's development server."""
    import torch

    try:
        from app.controller import InputError
        from app.serve import ServerOptions
        from app.serve import serve as serve_app
    except ImportError as exc:  # pragma: no cover - depends on the install
        fail(f"the app needs the 'app' extra: pip install -e '.[app]' ({exc})")
    if threads:
        torch.set_num_threads(threads)
    defaults = {"dataset": dataset, "data_dir": data_dir, "space": space, "benchmark": benchmark}
    if train_gpu and workers is None and not scheduler:
        fail("--train-gpu needs Dask workers: give --scheduler (or --workers)")
    ex = open_executor(workers, scheduler)
    try:
        serve_app(
            db=db,
            defaults={**defaults, **parse_set(overrides)},
            host=host,
            port=port,
            cache_dir=cache_dir,
            layout_method=layout_method,
            debug=debug,
            read_only=read_only,
            token=token or None,
            options=ServerOptions(
                threads=server_threads,
                idle_timeout_s=idle_timeout,
                max_body_bytes=int(max_body_mb * 2**20),
            ),
            echo=click.echo,
            executor=None if ex.kind == "in-process" else ex,
            train_gpu=train_gpu,
        )
    except InputError as exc:
        fail(str(exc))
    finally:
        ex.close()
