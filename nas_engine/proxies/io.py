"""Score files: one CSV row per cell, written as it is computed, resumable after a crash."""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from nas_engine.proxies.suite import (
    DEFAULT_AGGREGATION,
    DEFAULT_ENSEMBLE,
    CellScores,
    ProxySuite,
    rank_ensemble,
)


class ScoreFileError(ValueError):
    """Raised when an existing score file cannot be resumed."""


def score_header(proxies: Sequence[str]) -> list[str]:
    """Return the CSV header for these proxies: arch, each score, each time, notes."""
    return ["arch", *proxies, *(f"{p}_seconds" for p in proxies), "notes"]


def _row(cs: CellScores, proxies: Sequence[str]) -> list[str]:
    vals = [repr(float(cs.results[p].value)) for p in proxies]
    secs = [f"{cs.results[p].seconds:.4f}" for p in proxies]
    notes = "; ".join(f"{p}: {cs.results[p].reason}" for p in proxies if cs.results[p].reason)
    return [cs.arch, *vals, *secs, notes]


def read_done(path: Path, proxies: Sequence[str]) -> set[str]:
    """Return the arch strings already in a score file, after dropping a torn last line.

    Args:
        path: Existing score CSV.
        proxies: The proxies the run will compute (must match the file's header).

    Returns:
        Arch strings of complete rows.

    Raises:
        ScoreFileError: The header does not match ``proxies``.
    """
    raw = path.read_bytes()
    if raw and not raw.endswith(b"\n"):
        # The process died mid-row: cut the partial row so it is recomputed.
        cut = raw.rfind(b"\n") + 1
        with path.open("r+b") as f:
            f.truncate(cut)
        raw = raw[:cut]
    if not raw:
        return set()
    lines = raw.decode().splitlines()
    header = next(csv.reader([lines[0]]))
    want = score_header(proxies)
    if header == [*want, ENSEMBLE_COLUMN]:
        # a finished file: drop its ensemble column, which is recomputed at the end
        rows = [r[:-1] for r in csv.reader(lines[1:]) if len(r) == len(header)]
        _write_rows(path, want, rows)
        return {row[0] for row in rows}
    if header != want:
        raise ScoreFileError(
            f"{path} was written for columns {header[1 : (len(header) - 1) // 2 + 1]}; "
            f"this run computes {list(proxies)}. Use the same --proxies or a new --out."
        )
    return {row[0] for row in csv.reader(lines[1:]) if len(row) == len(want)}


#: The column with the default rank ensemble over the file's cells.
ENSEMBLE_COLUMN = "ensemble"


def _write_rows(path: Path, header: Sequence[str], rows: Iterable[Sequence[str]]) -> None:
    """Replace ``path`` atomically with ``header`` and ``rows``."""
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)


def add_ensemble_column(
    path: str | Path,
    members: Sequence[str] = DEFAULT_ENSEMBLE,
    *,
    aggregation: str = DEFAULT_AGGREGATION,
) -> bool:
    """Append (or refresh) the ``ensemble`` column of a finished score file.

    The value is the rank ensemble of ``members`` over all cells of the file, so it is
    relative to that population (rescoring a different set of cells changes it).

    Args:
        path: A file written by :func:`score_to_csv`.
        members: Ensemble members; nothing is written unless the file has them all.
        aggregation: See :func:`~nas_engine.proxies.suite.rank_ensemble`.

    Returns:
        Whether the column was written.
    """
    path = Path(path)
    with path.open(newline="") as f:
        rows = list(csv.reader(f))
    if len(rows) < 2:
        return False
    header, body = rows[0], rows[1:]
    if header[-1] == ENSEMBLE_COLUMN:
        header, body = header[:-1], [r[:-1] for r in body]
    if any(m not in header for m in members):
        return False
    body = [r for r in body if len(r) == len(header)]
    cols = {m: [_float(r[header.index(m)]) for r in body] for m in members}
    ens = rank_ensemble(cols, members, aggregation=aggregation)
    _write_rows(
        path,
        [*header, ENSEMBLE_COLUMN],
        ([*r, repr(float(e))] for r, e in zip(body, ens, strict=True)),
    )
    return True


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return math.nan


def score_to_csv(
    suite: ProxySuite,
    archs: Iterable[Any],
    out: str | Path,
    *,
    resume: bool = False,
    overwrite: bool = False,
    on_cell: Callable[[CellScores], None] | None = None,
    ensemble: bool = False,
    executor: Any = None,
    data_spec: Any = None,
    cells_per_task: int = 1,
) -> tuple[int, int]:
    """Score cells and append one row per cell to ``out``, flushed and fsynced.

    With ``ensemble``, a finished file gets an ``ensemble`` column: the default rank
    ensemble over all its cells (when the file has every member). It is dropped on
    resume and recomputed at the end, so a crash never leaves a stale one.

    Args:
        suite: The proxy suite.
        archs: Cells (values or strings); duplicates are scored once.
        out: Output CSV.
        resume: Skip cells already in ``out`` and append the rest.
        overwrite: Replace an existing ``out``.
        on_cell: Called after each newly scored cell.
        ensemble: Add the ``ensemble`` column at the end.
        executor: Where cells are scored (a :class:`~nas_engine.distributed.Executor`;
            ``None``: here, with ``suite``). Rows are written here as results arrive, in
            any order, each cell once, so a retried task never duplicates a row.
        data_spec: How workers load the suite's dataset
            (:class:`~nas_engine.distributed.DataSpec`; needed when a proxy reads data).
        cells_per_task: Cells per remote task.

    Returns:
        ``(newly scored, skipped because already present)``.

    Raises:
        ScoreFileError: ``out`` exists and neither ``resume`` nor ``overwrite`` is set, or
            its columns differ from the suite's proxies.
    """
    path = Path(out)
    strings = list(
        dict.fromkeys(
            suite.space.to_string(suite.space.from_string(a) if isinstance(a, str) else a)
            for a in archs
        )
    )
    done: set[str] = set()
    if path.exists() and path.stat().st_size > 0 and not overwrite:
        if not resume:
            raise ScoreFileError(f"{path} exists; pass --resume to continue it or --overwrite")
        done = read_done(path, suite.names)
    path.parent.mkdir(parents=True, exist_ok=True)
    fresh = overwrite or not path.exists() or path.stat().st_size == 0
    todo = [a for a in strings if a not in done]
    new = 0
    with path.open("w" if fresh else "a", newline="") as f:
        writer = csv.writer(f)
        if fresh:
            writer.writerow(score_header(suite.names))
            f.flush()
        written: set[str] = set()
        for cs in _scored(suite, todo, executor, data_spec, cells_per_task):
            if cs.arch in written:
                continue
            written.add(cs.arch)
            writer.writerow(_row(cs, suite.names))
            f.flush()
            os.fsync(f.fileno())
            new += 1
            if on_cell is not None:
                on_cell(cs)
    if ensemble:
        add_ensemble_column(path)
    return new, len(strings) - len(todo)


def _scored(
    suite: ProxySuite,
    archs: Sequence[str],
    executor: Any,
    data_spec: Any,
    per_task: int,
) -> Iterable[CellScores]:
    """The cells' scores: computed here in order, or on the executor's workers as they
    finish (at most two tasks per task thread in flight)."""
    if executor is None:
        for arch in archs:
            yield suite.score(arch)
        return
    from nas_engine.distributed.tasks import ScoreSpec, score_cells

    spec = ScoreSpec.of_suite(suite, data_spec)
    parts = [list(archs[i : i + per_task]) for i in range(0, len(archs), per_task)]
    parts.reverse()
    flying: list[Any] = []
    while parts or flying:
        while parts and len(flying) < 2 * executor.slots:
            flying.append(executor.submit(score_cells, spec, parts.pop()))
        done = executor.wait_any(flying, 0.5)
        for fut in done:
            flying.remove(fut)
            for cell in executor.result(fut):
                yield cell.cell_scores()


def read_scores(path: str | Path) -> tuple[list[str], dict[str, list[float]]]:
    """Read a score CSV.

    Args:
        path: File written by :func:`score_to_csv` (or any CSV with an ``arch`` column
            and numeric proxy columns).

    Returns:
        ``(arch strings, {proxy: values})``; ``*_seconds`` and ``notes`` are left out.
    """
    p = Path(path)
    if not p.is_file():
        raise ScoreFileError(f"no such score file {str(p)!r}")
    with p.open(newline="") as f:
        reader = csv.DictReader(f)
        cols = list(reader.fieldnames or [])
        if "arch" not in cols:
            raise ScoreFileError(f"{p}: no 'arch' column; columns: {cols}")
        proxies = [c for c in cols if c not in ("arch", "notes") and not c.endswith("_seconds")]
        archs: list[str] = []
        values: dict[str, list[float]] = {c: [] for c in proxies}
        for row in reader:
            if row.get("arch") is None or any(row.get(c) is None for c in proxies):
                continue  # torn row
            archs.append(row["arch"])
            for c in proxies:
                values[c].append(_float(row[c]))
    return archs, values
