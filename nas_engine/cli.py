"""The ``nasnav`` command line."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import click
import numpy as np

from nas_engine import __version__
from nas_engine.search_spaces import MaskError, OpMask, create_space, list_spaces

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def fail(message: str, code: int = 2) -> None:
    """Print ``message`` to stderr and exit with ``code``."""
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def parse_edge_op(text: str, space: Any) -> tuple[int, str]:
    """Parse ``EDGE:OP`` where EDGE is an index (0..5) or ``i->j`` (e.g. ``0->3``).

    Args:
        text: The option value.
        space: Search space the edge/op must belong to.

    Returns:
        ``(edge index, op name)``.
    """
    edge_s, sep, op = text.partition(":")
    if not sep or not op:
        raise click.BadParameter(f"{text!r}: expected EDGE:OP, e.g. 3:none or 0->3:none")
    edge_s = edge_s.strip()
    if "->" in edge_s:
        try:
            pair = tuple(int(p) for p in edge_s.split("->"))
        except ValueError:
            raise click.BadParameter(f"{text!r}: bad edge {edge_s!r}") from None
        if pair not in space.edges:
            raise click.BadParameter(f"{text!r}: no edge {edge_s}; edges: {space.edges}")
        edge = space.edges.index(pair)
    else:
        try:
            edge = int(edge_s)
        except ValueError:
            raise click.BadParameter(f"{text!r}: bad edge {edge_s!r}") from None
        if not 0 <= edge < space.num_edges:
            raise click.BadParameter(f"{text!r}: edge must be 0..{space.num_edges - 1}")
    if op not in space.ops:
        raise click.BadParameter(f"{text!r}: unknown op {op!r}; ops: {', '.join(space.ops)}")
    return edge, op


def build_mask(space: Any, prune: tuple[str, ...], pin: tuple[str, ...]) -> OpMask:
    """Apply ``--prune`` and ``--pin`` options to the full mask of ``space``."""
    mask = space.full_mask()
    try:
        for item in prune:
            mask = mask.prune(*parse_edge_op(item, space))
        for item in pin:
            mask = mask.pin(*parse_edge_op(item, space))
    except MaskError as exc:
        raise click.BadParameter(str(exc)) from None
    return mask


def space_option(f: Any) -> Any:
    """Positional SPACE argument restricted to registered spaces."""
    return click.argument("space_name", metavar="SPACE", type=click.Choice(list_spaces()))(f)


def dataset_options(f: Any) -> Any:
    """``--dataset`` and ``--data-dir``, as score, search and serve take them."""
    f = click.option("--data-dir", default=None, help="Folder for CIFAR pickles.")(f)
    return click.option(
        "--dataset",
        default="digits",
        show_default=True,
        help="digits | synthetic | cifar10 | cifar100 | npz:PATH",
    )(f)


@click.group(context_settings=CONTEXT)
@click.version_option(__version__, prog_name="nasnav")
def main() -> None:
    """nasnav: interactive, human-in-the-loop neural architecture search."""


# ------------------------------------------------------------------------------ space
@main.group()
def space() -> None:
    """Inspect search spaces."""


@space.command("list")
def space_list() -> None:
    """List the registered search spaces."""
    for name in list_spaces():
        click.echo(name)


@space.command("info")
@space_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def space_info(space_name: str, as_json: bool) -> None:
    """Print the counts of a search space (nodes, edges, ops, cells)."""
    sp = create_space(space_name)
    info = sp.info()
    if as_json:
        click.echo(json.dumps(info, indent=2))
        return
    click.echo(f"space   {info['name']}")
    click.echo(f"nodes   {info['nodes']}")
    click.echo(f"edges   {info['edges']}  {' '.join(f'{i}->{j}' for i, j in sp.edges)}")
    click.echo(f"ops     {info['num_ops']}  {', '.join(info['ops'])}")
    click.echo(f"cells   {info['cells']:,}")


@space.command("sample")
@space_option
@click.option("-n", "--num", default=10, show_default=True, type=click.IntRange(min=1))
@click.option("--seed", default=0, show_default=True, type=int, help="Random seed.")
@click.option("--prune", multiple=True, metavar="EDGE:OP", help="Forbid OP on EDGE.")
@click.option("--pin", multiple=True, metavar="EDGE:OP", help="Fix EDGE to OP.")
@click.option("--unique", is_flag=True, help="Never print the same cell twice.")
def space_sample(
    space_name: str,
    num: int,
    seed: int,
    prune: tuple[str, ...],
    pin: tuple[str, ...],
    unique: bool,
) -> None:
    """Print NUM arch strings sampled uniformly (under an optional op mask)."""
    import numpy as np

    sp = create_space(space_name)
    mask = build_mask(sp, prune, pin)
    if unique and num > mask.size():
        fail(f"--unique: only {mask.size()} cells lie inside the mask, asked for {num}")
    rng = np.random.default_rng(seed)
    seen: set[Any] = set()
    while len(seen) < num if unique else num > 0:
        arch = sp.sample(rng, mask)
        if unique:
            if arch in seen:
                continue
            seen.add(arch)
        else:
            num -= 1
        click.echo(sp.to_string(arch))


@space.command("describe")
@space_option
@click.argument("arch")
@click.option("--C", "channels", default=16, show_default=True, type=click.IntRange(min=1))
@click.option("--N", "cells", default=5, show_default=True, type=click.IntRange(min=1))
@click.option("--classes", default=10, show_default=True, type=click.IntRange(min=1))
@click.option("--input", "input_shape", default="3,32,32", show_default=True, help="C,H,W.")
def space_describe(
    space_name: str, arch: str, channels: int, cells: int, classes: int, input_shape: str
) -> None:
    """Print the ops, #params and FLOPs of one cell's network."""
    from nas_engine.utils.complexity import complexity

    sp = create_space(space_name)
    try:
        a = sp.from_string(arch)
        shape = tuple(int(v) for v in input_shape.split(","))
        if len(shape) != 3:
            raise ValueError(f"--input must be C,H,W, got {input_shape!r}")
    except ValueError as exc:
        fail(str(exc))
    model = sp.build(a, num_classes=classes, in_channels=shape[0], C=channels, N=cells)
    c = complexity(model, shape)
    for (i, j), op in zip(sp.edges, sp.ops_of(a), strict=True):
        click.echo(f"edge {i}->{j}  {op}")
    click.echo(f"params  {c.params:,}")
    click.echo(f"flops   {c.flops:,}  (MACs, input {input_shape})")


# ------------------------------------------------------------------------------ truth
@main.command()
@click.option(
    "--benchmark", required=True, metavar="SPEC", help="csv:PATH[:COLUMN] or nats:PATH[:DATASET]"
)
@click.argument("archs", nargs=-1, required=True)
def truth(benchmark: str, archs: tuple[str, ...]) -> None:
    """Print the ground-truth accuracy of each ARCH (or 'unknown').

    Exit status is 1 when any cell is unknown.
    """
    from nas_engine.benchmarks import GroundTruthError, load_ground_truth

    try:
        gt = load_ground_truth(benchmark)
    except GroundTruthError as exc:
        fail(str(exc))
    sp = create_space("nb201")
    missing = False
    for arch in archs:
        try:
            sp.from_string(arch)
        except ValueError as exc:
            fail(str(exc))
        acc = gt.lookup(arch)
        text = "unknown" if acc is None else f"{acc:.2f}"
        missing |= acc is None
        click.echo(text if len(archs) == 1 else f"{arch}\t{text}")
    if missing:
        sys.exit(1)


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
        click.echo(f"{i['name']:<10} {i['description']}  [{flags}; {i['cost']}]")


@main.command()
@click.option(
    "--space", "space_name", default="nb201", show_default=True, type=click.Choice(list_spaces())
)
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
    help="Comma-separated proxy names, or 'all'.",
)
@click.option("--batch-size", default=64, show_default=True, type=click.IntRange(min=2))
@click.option("--C", "channels", default=16, show_default=True, type=click.IntRange(min=1))
@click.option("--N", "cells", default=5, show_default=True, type=click.IntRange(min=1))
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Output CSV.")
@click.option("--resume", is_flag=True, help="Continue an interrupted --out file.")
@click.option("--overwrite", is_flag=True, help="Replace an existing --out file.")
@click.option("--threads", default=None, type=click.IntRange(min=1), help="torch threads.")
def score(
    space_name: str,
    archs_file: str | None,
    sample: int | None,
    seed: int,
    dataset: str,
    data_dir: str | None,
    proxy_spec: str,
    batch_size: int,
    channels: int,
    cells: int,
    out: str,
    resume: bool,
    overwrite: bool,
    threads: int | None,
) -> None:
    """Score cells with zero-cost proxies; one CSV row per cell (arch, scores, seconds)."""
    import numpy as np
    import torch
    from tqdm import tqdm

    from nas_engine.data import DatasetError, load_dataset
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
        rng = np.random.default_rng(seed)
        seen: dict[Any, None] = {}
        while len(seen) < sample:
            seen[sp.sample(rng)] = None
        archs = list(seen)
    try:
        ds = load_dataset(dataset, data_dir=data_dir)
        suite = ProxySuite(
            sp,
            proxy_spec,
            data=ds,
            batch_size=batch_size,
            seed=seed,
            build_kwargs={"C": channels, "N": cells},
        )
    except (DatasetError, ProxyInputError) as exc:
        fail(str(exc))
    bar = tqdm(total=len(archs), desc="scoring", unit="cell")
    try:
        new, skipped = score_to_csv(
            suite,
            archs,
            out,
            resume=resume,
            overwrite=overwrite,
            on_cell=lambda _cs: bar.update(1),
        )
    except ScoreFileError as exc:
        bar.close()
        fail(str(exc))
    bar.close()
    click.echo(
        f"scored {new} cells, {skipped} already in {out}; proxies: {', '.join(suite.names)}"
    )


@main.command()
@click.option("--scores", "scores_file", required=True, type=click.Path(dir_okay=False))
@click.option("--benchmark", required=True, metavar="SPEC", help="csv:PATH[:COLUMN]")
@click.option(
    "--ensemble",
    default="zico,naswot,synflow,params",
    show_default=True,
    help="Proxies of the rank ensemble ('' for none).",
)
@click.option(
    "--top",
    default=0.1,
    show_default=True,
    type=click.FloatRange(0, 1, min_open=True),
    help="Fraction for top-k precision.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def correlate(scores_file: str, benchmark: str, ensemble: str, top: float, as_json: bool) -> None:
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
    members = [m.strip() for m in ensemble.split(",") if m.strip()]
    if members:
        try:
            ens = rank_ensemble(values, members)
        except ProxyInputError as exc:
            fail(str(exc))
        rows["ensemble(" + "+".join(members) + ")"] = correlations(list(ens), t, top=top)
    if as_json:
        click.echo(
            json.dumps({"cells": len(archs), "with_truth": known, "proxies": rows}, indent=2)
        )
        return
    click.echo(f"{len(archs)} cells, {known} with ground truth ({gt.metric})")
    click.echo(
        f"{'proxy':<40} {'spearman':>8} {'kendall':>8} {'top' + str(round(top * 100)) + '%':>7}"
    )
    for name, r in sorted(rows.items(), key=lambda kv: -np.nan_to_num(kv[1]["spearman"], nan=-9)):
        click.echo(
            f"{name:<40} {r['spearman']:8.3f} {r['kendall']:8.3f} {r['top_precision']:7.2f}"
        )


# ----------------------------------------------------------------------------- search
def _parse_set(items: tuple[str, ...]) -> dict[str, Any]:
    """Parse ``--set key=value`` overrides of :class:`SearchConfig` fields."""
    import dataclasses
    import typing

    from nas_engine.runner import SearchConfig

    hints = typing.get_type_hints(SearchConfig)
    names = {f.name for f in dataclasses.fields(SearchConfig)}
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or key not in names:
            raise click.BadParameter(
                f"{item!r}: expected KEY=VALUE with KEY one of {', '.join(sorted(names))}"
            )
        hint = str(hints[key])
        try:
            if "tuple" in hint:
                out[key] = tuple(v for v in raw.split(",") if v)
            elif "bool" in hint:
                if raw.lower() not in ("true", "false", "1", "0", "yes", "no"):
                    raise ValueError(raw)
                out[key] = raw.lower() in ("true", "1", "yes")
            elif "int" in hint and "float" not in hint:
                out[key] = int(raw)
            elif "float" in hint:
                out[key] = None if raw.lower() == "none" else float(raw)
            else:
                out[key] = None if raw.lower() == "none" else raw
        except ValueError:
            raise click.BadParameter(f"{item!r}: bad value for {key} ({hint})") from None
    return out


def _best_table(snap: Any, top: int = 10) -> str:
    cands = [c for c in snap.candidates if c.fitness is not None]
    seen: dict[str, Any] = {}
    for c in sorted(cands, key=lambda c: -c.fitness):
        seen.setdefault(c.arch, c)
    rows = list(seen.values())[:top]
    proxies = list(snap.config.all_proxies)
    head = f"{'#':>4} {'fitness':>9} " + " ".join(f"{p[:9]:>9}" for p in proxies)
    head += f" {'one-shot':>8} {'trained':>7} {'truth':>6}  arch"
    lines = [head]

    def f(v: Any, w: int, d: int = 2) -> str:
        if not isinstance(v, float) or v != v:
            return f"{'-':>{w}}"
        return f"{v:{w}.{d}f}" if abs(v) < 10**5 else f"{v:{w}.2e}"

    for c in rows:
        lines.append(
            f"{c.seq:>4} {f(c.fitness, 9, 3)} "
            + " ".join(f(c.scores.get(p), 9, 3) for p in proxies)
            + f" {f(c.oneshot, 8)} {f(c.trained_acc, 7)} {f(c.truth, 6)}  {c.arch}"
        )
    return "\n".join(lines)


@main.command()
@click.option(
    "--space", "space_name", default="nb201", show_default=True, type=click.Choice(list_spaces())
)
@dataset_options
@click.option(
    "--strategy",
    default="evolution",
    show_default=True,
    help="random | evolution | proxy_evolution | supernet_evolution",
)
@click.option("--proxy", default="zico", show_default=True, help="Fitness proxy, or 'ensemble'.")
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
@click.option("--threads", default=None, type=click.IntRange(min=1), help="torch threads.")
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
    threads: int | None,
) -> None:
    """Run a search headless, persisted in SQLite; print the best cells at the end."""
    import dataclasses

    import torch
    from tqdm import tqdm

    from nas_engine.benchmarks import GroundTruthError
    from nas_engine.data import DatasetError
    from nas_engine.runner import CommandError, SearchConfig, SearchSession
    from nas_engine.storage import SQLiteStorage, StorageError

    if threads:
        torch.set_num_threads(threads)
    storage = SQLiteStorage(db)
    try:
        if resume_id is not None:
            session = SearchSession.resume(storage, resume_id)
            if overrides:
                session.close()
                cfg = dataclasses.replace(session.config, **_parse_set(overrides))
                storage.update_config(resume_id, cfg.to_dict())
                session = SearchSession.resume(storage, resume_id)
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
            )
            if overrides:
                cfg = dataclasses.replace(cfg, **_parse_set(overrides))
            session = SearchSession.create(storage, cfg)
    except (CommandError, StorageError, DatasetError, GroundTruthError, MaskError) as exc:
        fail(str(exc))
    click.echo(
        f"run {session.run_id} in {db} ({session.config.strategy}, "
        f"fitness {session.config.proxy}); resume with --resume {session.run_id}"
    )
    snap = session.snapshot()
    bar = tqdm(
        total=session.config.budget, initial=snap.n_evaluated, desc="candidates", unit="cell"
    )
    session.start()
    try:
        while True:
            snap = session.snapshot()
            bar.n = snap.n_evaluated
            best = snap.best
            bar.set_postfix(
                best=None if best is None else round(best.fitness, 3),
                step=snap.supernet_step,
                refresh=False,
            )
            bar.refresh()
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
    if snap.message:
        click.echo(snap.message.splitlines()[0])
    click.echo(
        f"status {snap.status}: {snap.n_evaluated} candidates, "
        f"{snap.supernet_step} supernet steps, mask v{snap.mask_version}"
    )
    click.echo(_best_table(snap))
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
    for r in storage.list_runs():
        n = len(storage.candidates(r.id))
        c = r.config
        click.echo(
            f"{r.id:>4}  {r.status:<9} {n:>5}/{c.get('budget')}  {c.get('strategy')}  "
            f"{c.get('proxy')}  {c.get('dataset')}"
        )


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
    import numpy as np
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
@click.option("--debug", is_flag=True, help="Dash debug mode (dev tools, reloader off).")
def serve(
    host: str,
    port: int,
    dataset: str,
    data_dir: str | None,
    benchmark: str | None,
    db: str,
    cache_dir: str,
    layout_method: str,
    overrides: tuple[str, ...],
    threads: int | None,
    debug: bool,
) -> None:
    """Start the background engine and the Dash app (resumes the latest run in --db)."""
    import torch

    try:
        from app.controller import InputError
        from app.serve import serve as serve_app
    except ImportError as exc:  # pragma: no cover - depends on the install
        fail(f"the app needs the 'app' extra: pip install -e '.[app]' ({exc})")
    if threads:
        torch.set_num_threads(threads)
    defaults = {"dataset": dataset, "data_dir": data_dir, "benchmark": benchmark}
    try:
        serve_app(
            db=db,
            defaults={**defaults, **_parse_set(overrides)},
            host=host,
            port=port,
            cache_dir=cache_dir,
            layout_method=layout_method,
            debug=debug,
            echo=click.echo,
        )
    except InputError as exc:
        fail(str(exc))


if __name__ == "__main__":  # pragma: no cover
    main()
