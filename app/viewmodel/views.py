"""Per-view data: one pure function per view, snapshot data in, everything it draws out.

The views only wire these to Plotly figures and Dash components, so each is tested
without a browser.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from app.viewmodel.budget import best_in_budget_text
from app.viewmodel.frame import (
    EXTRA_METRICS,
    allowed_indices,
    colour_values,
    correlation_matrix,
    fitness_is_oneshot,
    higher_is_better,
    in_budget,
    is_oneshot_metric,
    metric_options,
    metric_values,
    oneshot_fidelity,
    oneshot_note,
    score_percentiles,
    topk_overlap,
)
from nas_engine.analysis import percentiles
from nas_engine.distributed import WorkerStatus
from nas_engine.proxies.space_scores import CHEAP_PROXIES
from nas_engine.runner import Snapshot
from nas_engine.search_spaces import SearchSpace


@dataclass(frozen=True)
class EmbeddingData:
    """Data of the embedding view (the 2-D layout itself comes from the controller).

    Args:
        allowed: Boolean per cell: inside the mask.
        evaluated: Evaluated cells without errors (``index``, ``arch``).
        colour: One colour value per evaluated row (``nan`` = undefined).
        colour_label: Colour-bar title.
        selected_index: The inspected cell's index, if any.
        info: One line about the layout and coverage.
        in_budget: Boolean per cell: inside the resource budget (``None``: no budget).
        coloured_name: Legend name of the coloured cells.
        hover: One hover line per evaluated row: the raw value with its unit and, on a
            rank or log scale, the colour's value (``flops 13.74 M (rank 0.997)``).
    """

    allowed: np.ndarray
    evaluated: pd.DataFrame
    colour: np.ndarray
    colour_label: str
    selected_index: int | None
    info: str
    in_budget: np.ndarray | None = None
    coloured_name: str = "evaluated"
    hover: tuple[str, ...] = ()


#: Units of the raw values the page shows: the cost proxies count millions, the
#: accuracies are percentages.
UNITS = {
    **dict.fromkeys(("params", "flops"), " M"),
    **dict.fromkeys(("oneshot", "trained_acc", "truth"), " %"),
}


#: The metrics that count millions (their inspector rows say so).
COUNTS_IN_MILLIONS = ("params", "flops")


def value_text(metric: str, value: float) -> str:
    """A metric's raw value with its unit: ``flops 13.74 M``, ``fitness 0.5231``."""
    v = float(value)
    if not math.isfinite(v):
        return f"{metric} undefined"
    return f"{metric} {v:.4g}{UNITS.get(metric, '')}"


def hover_lines(metric: str, raw: np.ndarray, colour: np.ndarray, scale: str) -> tuple[str, ...]:
    """Per point: the raw value with its unit, then the colour's value when the scale is
    not linear (``fitness 93.12 (rank 0.997)``)."""
    out = []
    for v, c in zip(np.asarray(raw, dtype=float), np.asarray(colour, dtype=float), strict=True):
        text = value_text(metric, v)
        if scale != "linear" and math.isfinite(c):
            text += f" ({scale} {c:.3g})"
        out.append(text)
    return tuple(out)


def embedding_data(
    snap: Snapshot | None,
    df: pd.DataFrame,
    space: SearchSpace[Any],
    *,
    colour_by: str | None,
    scale: str,
    inspected: str | None = None,
    hide_truth: bool = False,
    method: str = "umap",
    space_values: Mapping[str, np.ndarray] | None = None,
    space_truth: np.ndarray | None = None,
    space_done: int | None = None,
) -> EmbeddingData:
    """Which cells the mask allows, and the colour of every evaluated cell.

    A ``colour_by`` of ``space:NAME`` colours every cell that the whole-space cache has
    scored with proxy ``NAME`` (``space_values``), evaluated or not.

    Args:
        snap: The snapshot.
        df: Its candidates frame.
        space: The search space.
        colour_by: Requested colour metric (falls back to fitness when missing).
        scale: ``rank``, ``log`` or ``linear`` (see :func:`colour_values`).
        inspected: Arch string of the inspected cell, to ring it.
        hide_truth: Classroom mode.
        method: The layout's method, for the info line.
        space_values: Proxy name → value per cell index (``nan``: not scored yet).
        space_truth: Ground truth per cell index, for the whole-space colouring's
            Spearman ρ (how far that colouring can be trusted); hidden in classroom mode.
        space_done: Cells the whole-space job has scored (``None``: count the defined
            values).
    """
    if colour_by and colour_by.startswith(SPACE_PREFIX):
        return _whole_space_embedding(
            snap, space, colour_by[len(SPACE_PREFIX) :], scale, inspected, method,
            space_values or {}, None if hide_truth else space_truth, space_done,
        )  # fmt: skip
    mask = snap.mask if snap is not None else space.full_mask()
    opts = metric_options(df, hide_truth=hide_truth)
    colour_by = colour_by if colour_by in opts else ("fitness" if "fitness" in opts else None)
    ok = df if df.empty else df[df["error"].isna()]
    vals = metric_values(ok, colour_by) if colour_by else np.zeros(len(ok))
    label = f"{colour_by or '-'} ({scale})"
    fid = oneshot_fidelity(snap, hide_truth=hide_truth)
    if fid is not None and is_oneshot_metric(snap, colour_by):
        ens = metric_values(ok, "ensemble")
        if colour_by == "fitness" and not fid.informative and np.isfinite(ens).any():
            # the default colouring never shows an uninformative estimate
            colour_by, vals = "ensemble", ens
            label = f"zero-cost ensemble ({scale}); fitness is the one-shot estimate: "
            label += fid.short()
        else:
            label += f" · {fid.short()}"
    sel = None
    if inspected:
        try:
            sel = space.index(space.from_string(inspected))
        except ValueError:
            sel = None
    budget = in_budget(snap)
    colour = colour_values(vals, scale, higher=higher_is_better(colour_by or "fitness"))
    info = f"{method.upper()} layout · {len(ok):,} evaluated of {space.size:,}"
    if budget is not None:
        info += f" · {int(budget.sum()):,} cells within {snap.budget.describe()}"
    return EmbeddingData(
        allowed=allowed_indices(space, mask),
        evaluated=ok,
        colour=colour,
        colour_label=label,
        selected_index=sel,
        info=info
        + (f" · {fid.label()}" if fid is not None and is_oneshot_metric(snap, colour_by) else ""),
        in_budget=budget,
        hover=hover_lines(colour_by or "fitness", vals, colour, scale),
    )


#: Colour-by values that colour the whole space from the cheap-proxy cache.
SPACE_PREFIX = "space:"


def space_colour_options(available: Sequence[str] = ()) -> list[dict[str, str]]:
    """Colour-by options for the whole-space scores: the cheap proxies (offered before
    their cache exists, so a chosen value never vanishes) and whatever else is there."""
    names = list(dict.fromkeys([*CHEAP_PROXIES, *available]))
    return [{"label": f"all cells · {n}", "value": SPACE_PREFIX + n} for n in names]


def _inspected_index(space: SearchSpace[Any], inspected: str | None) -> int | None:
    if not inspected:
        return None
    try:
        return space.index(space.from_string(inspected))
    except ValueError:
        return None


def _whole_space_embedding(
    snap: Snapshot | None,
    space: SearchSpace[Any],
    name: str,
    scale: str,
    inspected: str | None,
    method: str,
    space_values: Mapping[str, np.ndarray],
    truth: np.ndarray | None,
    done: int | None,
) -> EmbeddingData:
    """Every scored cell coloured by a cheap proxy from the whole-space cache."""
    mask = snap.mask if snap is not None else space.full_mask()
    vals = space_values.get(name)
    idx = np.flatnonzero(np.isfinite(vals)) if vals is not None else np.zeros(0, dtype=int)
    scored = pd.DataFrame({"index": idx, "arch": [f"cell {i}" for i in idx]})
    higher = higher_is_better(name)
    done = len(idx) if done is None else done
    info = f"{method.upper()} layout · {name} on {len(idx):,} of {space.size:,} cells"
    if done > len(idx):
        info += f" ({done - len(idx):,} scored cells have no defined value)"
    if truth is not None and len(idx) >= 3:
        both = idx[np.isfinite(truth[idx])]
        if len(both) >= 3:
            sign = 1.0 if higher else -1.0
            rho = float(spearmanr(sign * vals[both], truth[both]).statistic)  # defined only
            info += f" · Spearman ρ with ground truth {rho:.2f} (n={len(both):,})"
    if done < space.size:
        info += " (whole-space scores not finished: press 'score all cells')"
    colour = colour_values(vals[idx], scale, higher=higher) if len(idx) else np.zeros(0)
    return EmbeddingData(
        allowed=allowed_indices(space, mask),
        evaluated=scored,
        colour=colour,
        colour_label=f"{name}, all cells ({scale})",
        selected_index=_inspected_index(space, inspected),
        info=info,
        in_budget=in_budget(snap),
        coloured_name=f"scored ({name})",
        hover=hover_lines(name, vals[idx], colour, scale) if len(idx) else (),
    )


@dataclass(frozen=True)
class ProgressData:
    """Data of the search-progress view.

    Args:
        df: Candidates frame (the curves are drawn from it).
        show_truth: Whether ground truth may be drawn.
        curve: Supernet training curve as dicts.
        best: The best cells by fitness (see :func:`best_rows`).
        throughput: Candidates per minute, supernet step and training speed.
        best_in_budget: The best cell by fitness inside the current resource budget, as
            text (empty without a budget).
        oneshot_note: The one-shot estimate's fidelity (empty without a supernet).
        oneshot_informative: Whether the estimate is informative (curve style).
        oneshot_short: Its short form (``ρ 0.62, n = 140``, ``not informative yet``) for a
            legend entry that fits the figure.
        best_note: How the best cells are ordered, when not by fitness.
        workers: Where the run's tasks run, as text (see :func:`workers_text`; empty for
            a run in this process).
        dashboard: Dask's dashboard link, when the scheduler serves one.
    """

    df: pd.DataFrame
    show_truth: bool
    curve: list[dict[str, float]]
    best: pd.DataFrame
    throughput: str
    best_in_budget: str = ""
    oneshot_note: str = ""
    oneshot_informative: bool = True
    oneshot_short: str = ""
    best_note: str = ""
    workers: str = ""
    dashboard: str | None = None


def workers_text(status: WorkerStatus | None) -> str:
    """The workers in one line: ``2 Dask workers (1 busy, 1 idle) · 3 tasks in flight ·
    scheduler tcp://…``, or why the scheduler cannot be read; empty for a run in this
    process (``None`` or kind ``in-process``)."""
    if status is None or status.kind == "in-process":
        return ""
    flight = f"{status.in_flight} task{'s' * (status.in_flight != 1)} in flight"
    if status.error:
        where = status.address or "(unknown address)"
        return f"Dask scheduler {where} unreachable: {status.error} · {flight}"
    s = "s" * (status.workers != 1)
    text = (
        f"{status.workers} Dask worker{s} ({status.busy} busy, {status.idle} idle) · "
        f"{status.threads} thread{'s' * (status.threads != 1)} · {flight}"
    )
    if status.resources:
        text += " · " + ", ".join(f"{k} {v:g}" for k, v in sorted(status.resources.items()))
    return text + (f" · scheduler {status.address}" if status.address else "")


def dashboard_link(status: WorkerStatus | None) -> str | None:
    """Dask's dashboard link, when there is one and it is a web address."""
    link = status.dashboard if status is not None and status.kind != "in-process" else None
    return link if link and link.startswith(("http://", "https://")) else None


def best_rows(
    df: pd.DataFrame, *, show_truth: bool, n: int = 8, by: str = "fitness"
) -> pd.DataFrame:
    """The ``n`` best distinct cells by ``by`` (``fitness`` or ``ensemble``), one row per
    cell with the mean of its estimates over its evaluations (truth when shown) and their
    count ``n``.

    A run evaluates a cell once, but a run stored before that rule (or its one-shot
    estimate at different supernet steps) may hold a cell several times."""
    vals = ["fitness", "oneshot", "trained_acc"] + (["truth"] if show_truth else [])
    cols = ["arch", *vals, "n"]
    if df.empty:
        return pd.DataFrame(columns=cols)
    key = np.where(df["fitness"].notna(), metric_values(df, by), np.nan)
    d = df.assign(_key=key)[np.isfinite(key)]
    g = d.groupby("arch", sort=False)
    agg = g[[*vals, "_key"]].mean().assign(n=g.size())
    agg = agg.sort_values("_key", ascending=False, kind="stable").head(n)
    return agg.reset_index()[cols]


def progress_data(snap: Snapshot | None, df: pd.DataFrame, *, show_truth: bool) -> ProgressData:
    """Everything the progress view draws."""
    curve = [dataclasses.asdict(p) for p in snap.supernet_curve] if snap is not None else []
    thr = ""
    if snap is not None:
        ips = curve[-1]["images_per_s"] if curve else math.nan
        thr = f"{snap.candidates_per_min:.1f} candidates/min · supernet step " + (
            f"{snap.supernet_step}" + (f" · {ips:,.0f} img/s" if math.isfinite(ips) else "")
        )
        if snap.warmup_left:
            thr += (
                f" · warming up the supernet: {snap.supernet_step:,} of "
                f"{snap.config.supernet_warmup:,} steps before the first candidate"
            )
    fid = oneshot_fidelity(snap, hide_truth=not show_truth)
    by, note = "fitness", ""
    uninformative = fid is not None and fitness_is_oneshot(snap) and not fid.informative
    if uninformative and np.isfinite(metric_values(df, "ensemble")).any():
        by = "ensemble"
        note = "ranked by the zero-cost ensemble: the one-shot estimate is not informative yet"
    # a run without ground truth gets no column of dashes for it
    has_truth = "truth" in df and bool(df["truth"].notna().any())
    best = best_rows(df, show_truth=show_truth and has_truth, by=by)
    if fid is not None:
        best = best.rename(columns={"oneshot": f"one-shot % ({fid.short()})"})
    return ProgressData(
        df, show_truth, curve, best, thr, best_in_budget_text(snap, df),
        oneshot_note=oneshot_note(snap, hide_truth=not show_truth),
        oneshot_informative=fid is None or fid.informative,
        oneshot_short=fid.short() if fid is not None else "",
        best_note=note,
        workers=workers_text(snap.workers) if snap is not None else "",
        dashboard=dashboard_link(snap.workers) if snap is not None else None,
    )  # fmt: skip


@dataclass(frozen=True)
class InspectorData:
    """Data of the inspector about one cell.

    Args:
        arch: Canonical arch string.
        ops: The op of every position.
        rows: Every metric with its value and percentile (:func:`score_percentiles`).
        evaluated: Whether the run evaluated this cell.
        n_neighbours: Number of one-edit neighbours.
    """

    arch: str
    ops: tuple[str, ...]
    rows: list[dict[str, Any]]
    evaluated: bool
    n_neighbours: int


def inspector_data(
    df: pd.DataFrame,
    space: SearchSpace[Any],
    arch: str,
    *,
    hide_truth: bool = False,
    snap: Snapshot | None = None,
) -> InspectorData:
    """The cell's ops, and each metric with its percentile among the evaluated cells (a
    one-shot row carries its fidelity in ``note``)."""
    a = space.from_string(arch)
    metrics = metric_options(df, hide_truth=hide_truth)
    rows = score_percentiles(df, arch, metrics) if not df.empty else []
    fid = oneshot_fidelity(snap, hide_truth=hide_truth)
    for r in rows:
        if fid is not None and is_oneshot_metric(snap, r["metric"]):
            r["note"] = fid.short()
        elif r["metric"] in COUNTS_IN_MILLIONS:
            r["note"] = "millions"  # the cost proxies count millions: params 1.53 M
    return InspectorData(
        arch=arch,
        ops=tuple(space.ops_of(a)),
        rows=rows,
        evaluated=bool(len(df)) and arch in set(df["arch"]),
        n_neighbours=len(space.neighbours(a)),
    )


def training_status(snap: Snapshot | None, arch: str, *, requested: bool = False) -> str:
    """Where the from-scratch training of ``arch`` stands, in words.

    Args:
        snap: The published snapshot.
        arch: Canonical arch string of the inspected cell.
        requested: Whether this page asked for the training (then a training not begun yet
            reads as queued).

    Returns:
        ``training from scratch: epoch k/n`` while it trains, the test accuracy once done
        (the last validation accuracy for a cell the run did not evaluate), ``training
        queued…`` when requested and not begun, else ``""``.
    """
    if snap is None:
        return "training queued…" if requested else ""
    curve = snap.train_curves.get(arch, ())
    n = snap.config.train_epochs
    if snap.training == arch:
        return f"training from scratch: epoch {len(curve)}/{n}"
    acc = next(
        (c.trained_acc for c in snap.candidates if c.arch == arch and c.trained_acc is not None),
        None,
    )
    if acc is not None:
        return f"trained from scratch: {acc:.1f} % test accuracy after {len(curve) or n} epochs"
    if curve:
        return (
            f"trained from scratch: {curve[-1]['val_acc']:.1f} % validation accuracy after "
            f"{len(curve)} epochs"
        )
    return "training queued: it starts after the current step…" if requested else ""


def export_scores(df: pd.DataFrame, arch: str) -> tuple[dict[str, float], dict[str, Any]]:
    """Proxy scores and estimates of ``arch``'s latest evaluation, for the export."""
    hit = df[df["arch"] == arch] if not df.empty else df
    if not len(hit):
        return {}, {}
    r = hit.iloc[-1]
    scores = {m: float(r[m]) for m in metric_options(df) if m not in EXTRA_METRICS}
    extra = {
        k: (None if pd.isna(r[k]) else float(r[k])) for k in ("oneshot", "trained_acc", "truth")
    }
    return scores, extra


@dataclass(frozen=True)
class ComparisonData:
    """Data of the proxy-comparison view.

    Args:
        info: What the comparison covers.
        enough: At least 3 evaluated cells (else the view draws a message).
        points: Cells with both metrics: ``x``, ``y`` (rank percentiles, 0–100), ``arch``.
        x_label: Name of the x metric.
        y_label: Name of the y metric.
        corr: Rank correlation matrix among the metrics with data.
        topk: Top-``k`` overlap matrix.
        method: ``spearman`` or ``kendall``.
        k: The ``k`` used.
    """

    info: str
    enough: bool
    points: pd.DataFrame
    x_label: str
    y_label: str
    corr: pd.DataFrame
    topk: pd.DataFrame
    method: str
    k: int


def comparison_data(
    df: pd.DataFrame,
    *,
    x: str,
    y: str,
    method: str,
    k: Any,
    selection: Sequence[int] | None = None,
    hide_truth: bool = False,
    snap: Snapshot | None = None,
) -> ComparisonData:
    """Two metrics on a rank scale, and all metrics' correlations and top-k overlaps.

    Args:
        df: Candidates frame.
        x: Metric on the x axis.
        y: Metric on the y axis.
        method: ``spearman`` or ``kendall``.
        k: Top-k size (text from the page; 10 when unreadable, at least 1).
        selection: Cell indices (lasso) to restrict to.
        hide_truth: Classroom mode.
        snap: The snapshot (a one-shot axis is labelled with its fidelity).
    """
    opts = metric_options(df, hide_truth=hide_truth)
    fid = oneshot_fidelity(snap, hide_truth=hide_truth)

    def axis(m: str) -> str:
        return f"{m} · {fid.short()}" if fid is not None and is_oneshot_metric(snap, m) else m

    d = df if df.empty else df[df["error"].isna()]
    if selection:
        d = d[d["index"].isin(selection)]
    info = f"{len(d):,} selected cells" if selection else f"all {len(d):,} evaluated cells"
    try:
        kk = max(1, int(k))
    except (TypeError, ValueError):
        kk = 10
    empty = pd.DataFrame()
    if len(d) < 3:
        return ComparisonData(info, False, empty, axis(x), axis(y), empty, empty, method, kk)
    xv = metric_values(d, x) if x in opts else np.full(len(d), np.nan)
    yv = metric_values(d, y) if y in opts else np.full(len(d), np.nan)
    xs = xv if higher_is_better(x) else -xv
    ys = yv if higher_is_better(y) else -yv
    both = np.isfinite(xs) & np.isfinite(ys)
    points = pd.DataFrame(
        {
            "x": 100 * percentiles(xs[both]),
            "y": 100 * percentiles(ys[both]),
            "arch": d["arch"].to_numpy()[both],
        }
    )
    metrics = [m for m in opts if m != "fitness" and np.isfinite(metric_values(d, m)).sum() >= 3]
    return ComparisonData(
        info=info,
        enough=True,
        points=points,
        x_label=axis(x),
        y_label=axis(y),
        corr=correlation_matrix(d, metrics, method),
        topk=topk_overlap(d, metrics, kk),
        method=method,
        k=kk,
    )
