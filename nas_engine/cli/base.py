"""The ``nasnav`` command group and the helpers its commands share."""

from __future__ import annotations

import sys
from typing import Any

import click

from nas_engine import __version__
from nas_engine.search_spaces import DEFAULT_SPACE, MaskError, OpMask, list_spaces

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def fail(message: str, code: int = 2) -> None:
    """Print ``message`` to stderr and exit with ``code``."""
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


#: Seconds between progress lines when stderr is not a terminal (a log file, CI): a bar
#: redrawn several times a second fills a log with hundreds of lines.
LOG_INTERVAL_S = 5.0


def progress_bar(**kwargs: Any) -> Any:
    """A tqdm bar on stderr (``kwargs``: tqdm's); when stderr is not a terminal, it draws
    at most one line every :data:`LOG_INTERVAL_S` seconds (and its last state at close)."""
    from tqdm import tqdm

    tty = sys.stderr.isatty()
    return tqdm(file=sys.stderr, mininterval=0.1 if tty else LOG_INTERVAL_S, **kwargs)


def advance(bar: Any, n: int) -> None:
    """Move ``bar`` to ``n``: redrawn at once on a terminal (its postfix may have changed),
    else only when the count moved and the bar's interval has passed."""
    if sys.stderr.isatty():
        bar.n = n
        bar.refresh()
    elif n != bar.n:
        bar.update(n - bar.n)


def parse_edge_op(text: str, space: Any) -> tuple[int, str]:
    """Parse ``EDGE:OP`` where EDGE is an index (``0..n-1``), ``i->j`` (e.g. ``0->3``) or
    the position's label (``L4`` for a macro layer).

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
    labels = space.graph().labels
    if edge_s in labels:  # the position's own name: L4 (macro), 0→3 (NB201)
        edge = labels.index(edge_s)
    elif "->" in edge_s:
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


def network_options(f: Any) -> Any:
    """``--C`` and ``--N``: the size of the network the cells are built as (unset: the
    space's default, e.g. NB201 C=16 N=5, macro C=32; ``nasnav space info`` lists them)."""
    f = click.option(
        "--N", "cells", default=None, type=click.IntRange(min=1), help="Depth option."
    )(f)
    return click.option(
        "--C", "channels", default=None, type=click.IntRange(min=1), help="Width option."
    )(f)


def network(space: Any, channels: int | None, cells: int | None, role: str = "proxy") -> dict:
    """The build options of ``space`` for ``--C``/``--N``; a clear error for one it lacks."""
    try:
        return space.network_options(role, C=channels, N=cells)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def space_flag(f: Any) -> Any:
    """``--space``: a registered space, the default one when not given."""
    return click.option(
        "--space",
        "space_name",
        default=DEFAULT_SPACE,
        show_default=True,
        type=click.Choice(list_spaces()),
        help="Search space.",
    )(f)


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


def executor_options(f: Any) -> Any:
    """``--workers N`` (a local Dask cluster) and ``--scheduler ADDR`` (an existing one,
    also ``$NASNAV_SCHEDULER``); neither runs everything in this process."""
    f = click.option(
        "--scheduler",
        default=None,
        envvar="NASNAV_SCHEDULER",
        metavar="tcp://HOST:PORT",
        help="Run tasks on this Dask scheduler's workers [env NASNAV_SCHEDULER].",
    )(f)
    return click.option(
        "--workers",
        default=None,
        type=click.IntRange(min=1),
        help="Run tasks on a local Dask cluster of N worker processes (127.0.0.1 only).",
    )(f)


def open_executor(workers: int | None, scheduler: str | None) -> Any:
    """The executor for ``--workers``/``--scheduler``; a clear error when it cannot start."""
    from nas_engine.distributed import ExecutorError, make_executor

    try:
        ex = make_executor(workers=workers, scheduler=scheduler)
    except ExecutorError as exc:
        fail(str(exc))
    if ex.kind != "in-process":
        click.echo(f"workers: {ex.status().label()}", err=True)
    return ex


@click.group(context_settings=CONTEXT)
@click.version_option(__version__, prog_name="nasnav")
def main() -> None:
    """nasnav: interactive, human-in-the-loop neural architecture search."""


def parse_set(items: tuple[str, ...]) -> dict[str, Any]:
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
        optional = "None" in hint or "Optional" in hint
        try:
            if raw.lower() == "none" and not optional:
                raise ValueError(raw)
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
            if isinstance(out[key], float) and out[key] != out[key]:
                raise ValueError(raw)  # NaN passes every range check
        except ValueError:
            kind = getattr(hints[key], "__name__", hint)
            raise click.BadParameter(f"{item!r}: bad value for {key} ({kind})") from None
    return out
