"""``nasnav space ...`` and ``nasnav truth``: the search space and its ground truth."""

from __future__ import annotations

import json
import sys
from typing import Any

import click
import numpy as np

from nas_engine.cli.base import (
    build_mask,
    fail,
    main,
    network,
    network_options,
    space_option,
)
from nas_engine.search_spaces import create_space, list_spaces


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
    click.echo(f"space   {info['name']}  ({info['summary']})")
    click.echo(f"nodes   {info['nodes']}")
    if sp.kind == "chain":
        click.echo(f"layers  {info['edges']}  {' '.join(info['positions'])}")
    else:
        click.echo(f"edges   {info['edges']}  {' '.join(f'{i}->{j}' for i, j in sp.edges)}")
    click.echo(f"ops     {info['num_ops']}  {', '.join(info['ops'])}")
    nets = "; ".join(
        f"{role} " + " ".join(f"{k}={v}" for k, v in opts.items())
        for role, opts in info["networks"].items()
    )
    click.echo(f"network {nets}")
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
@network_options
@click.option("--classes", default=10, show_default=True, type=click.IntRange(min=1))
@click.option("--input", "input_shape", default="3,32,32", show_default=True, help="C,H,W.")
def space_describe(
    space_name: str,
    arch: str,
    channels: int | None,
    cells: int | None,
    classes: int,
    input_shape: str,
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
    model = sp.build(a, num_classes=classes, in_channels=shape[0], **network(sp, channels, cells))
    c = complexity(model, shape)
    g = sp.graph()
    for k, op in enumerate(sp.ops_of(a)):
        i, j = sp.edges[k]
        where = f"edge {i}->{j}" if sp.kind == "cell" else f"layer {g.labels[k]}"
        note = f"  ({g.notes[k]})" if g.notes[k] else ""
        click.echo(f"{where}  {op}{note}")
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
    sp = create_space(gt.space)
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
