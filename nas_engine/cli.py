"""The ``nasnav`` command line."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

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


if __name__ == "__main__":  # pragma: no cover
    main()
