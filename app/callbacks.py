"""Dash callbacks: read controller snapshots, send commands. Nothing here blocks on torch."""

from __future__ import annotations

import dataclasses
import json
import math
import time
from typing import Any

import numpy as np
import pandas as pd
from dash import ALL, Dash, Input, Output, State, ctx, dcc, html, no_update

from app import ids, plots
from app.controller import AppController, InputError
from app.viewmodel import (
    EXTRA_METRICS,
    allowed_indices,
    candidates_frame,
    chip_importance,
    colour_values,
    correlation_matrix,
    higher_is_better,
    metric_options,
    metric_values,
    score_percentiles,
    topk_overlap,
)
from nas_engine.export import arch_spec, module_source


class _FrameCache:
    """Candidates frame per snapshot version, so parallel callbacks build it once."""

    def __init__(self) -> None:
        self.key: Any = None
        self.df: pd.DataFrame | None = None

    def get(self, controller: AppController) -> tuple[Any, pd.DataFrame]:
        snap = controller.snapshot()
        key = None if snap is None else (snap.run_id, snap.updated, len(snap.candidates))
        if key != self.key or self.df is None:
            self.df, self.key = candidates_frame(snap, controller.space), key
        return snap, self.df


def _ok(msg: str) -> html.Div:
    return html.Div(msg, className="ok")


def _err(msg: str) -> html.Div:
    return html.Div(msg, className="error")


def _hidden(hide: list[str] | None, reveal_clicks: int | None) -> bool:
    return bool(hide) and "hide" in hide and not reveal_clicks


def register_callbacks(app: Dash, controller: AppController) -> None:
    """Wire every view to ``controller``."""
    frames = _FrameCache()
    space = controller.space

    # ---------------------------------------------------------------- status poll
    @app.callback(
        Output(ids.VERSION, "data"),
        Output(ids.STATUS, "children"),
        Output(ids.THROUGHPUT, "children"),
        Input(ids.POLL, "n_intervals"),
        State(ids.VERSION, "data"),
    )
    def poll(_n: int | None, version: Any) -> tuple[Any, Any, Any]:
        snap = controller.snapshot()
        if snap is None:
            return "none", "no run yet — choose settings and press Start", ""
        key = f"{snap.run_id}:{snap.updated:.6f}"
        status = (
            f"run {snap.run_id} · {snap.status} · {snap.n_evaluated}/{snap.config.budget} "
            f"candidates · mask v{snap.mask_version} ({snap.mask.size():,} cells)"
            + (f" · training {snap.training}" if snap.training else "")
        )
        curve = snap.supernet_curve
        ips = curve[-1].images_per_s if curve else math.nan
        thr = (
            f"{snap.candidates_per_min:.1f} candidates/min · supernet step "
            f"{snap.supernet_step}" + (f" · {ips:,.0f} img/s" if math.isfinite(ips) else "")
        )
        if key == version:
            return no_update, status, thr
        return key, status, thr

    @app.callback(
        Output(ids.REVEAL_TRUTH, "n_clicks"),
        Input(ids.HIDE_TRUTH, "value"),
        prevent_initial_call=True,
    )
    def rehide(_hide: Any) -> int:
        return 0  # ticking "hide ground truth" again hides it until the next Reveal

    # ------------------------------------------------------- controls and alerts
    @app.callback(
        Output(ids.ALERT, "children"),
        Input(ids.START, "n_clicks"),
        Input(ids.PAUSE, "n_clicks"),
        Input(ids.RESUME, "n_clicks"),
        Input(ids.STOP, "n_clicks"),
        Input({"type": ids.CHIP, "edge": ALL, "op": ALL}, "n_clicks"),
        Input(ids.UNDO, "n_clicks"),
        Input(ids.RESET, "n_clicks"),
        Input(ids.TRAIN_BTN, "n_clicks"),
        State(ids.STRATEGY, "value"),
        State(ids.PROXY, "value"),
        State(ids.BUDGET, "value"),
        State(ids.CLICK_MODE, "value"),
        State(ids.NOTE, "value"),
        State(ids.INSPECT, "data"),
        prevent_initial_call=True,
    )
    def command(*args: Any) -> Any:
        strategy, proxy, budget, mode, note, inspected = args[-6:]
        trig = ctx.triggered_id
        if trig is None or not ctx.triggered or ctx.triggered[0].get("value") in (None, 0):
            return no_update
        try:
            if trig == ids.START:
                return _ok(controller.start(strategy=strategy, proxy=proxy, budget=budget))
            if trig == ids.PAUSE:
                return _ok(controller.pause())
            if trig == ids.RESUME:
                return _ok(controller.resume())
            if trig == ids.STOP:
                return _ok(controller.stop())
            if trig == ids.UNDO:
                return _ok(controller.steer("undo", note=note or ""))
            if trig == ids.RESET:
                return _ok(controller.steer("reset", note=note or ""))
            if trig == ids.TRAIN_BTN:
                return _ok(controller.train(inspected or ""))
            if isinstance(trig, dict) and trig.get("type") == ids.CHIP:
                e, op = int(trig["edge"]), str(trig["op"])
                snap = controller.snapshot()
                if snap is None:
                    raise InputError("no run yet: press Start before steering")
                state = snap.mask.state(e, op)
                if mode == "pin":
                    action = "unpin" if state == "pinned" else "pin"
                else:
                    action = "restore" if state == "pruned" else "prune"
                return _ok(
                    controller.steer(action, e, None if action == "unpin" else op, note=note or "")
                )
        except InputError as exc:
            return _err(str(exc))
        return no_update

    # --------------------------------------------------------- graph and chips
    @app.callback(
        Output(ids.CELL_GRAPH, "figure"),
        Output({"type": ids.CHIP, "edge": ALL, "op": ALL}, "className"),
        Output({"type": ids.CHIP, "edge": ALL, "op": ALL}, "style"),
        Output({"type": ids.CHIP, "edge": ALL, "op": ALL}, "title"),
        Output(ids.HISTORY, "children"),
        Output(ids.IMPORTANCE_METRIC, "options"),
        Input(ids.VERSION, "data"),
        Input(ids.IMPORTANCE_METRIC, "value"),
        Input(ids.ALERT, "children"),
        Input(ids.SELECTION, "data"),
        State(ids.HIDE_TRUTH, "value"),
        State(ids.REVEAL_TRUTH, "n_clicks"),
    )
    def graph_view(
        _v: Any, metric: str, _alert: Any, selection: Any, hide: Any, reveal: Any
    ) -> Any:
        snap, df = frames.get(controller)
        if selection and not df.empty:
            df = df[df["index"].isin(selection)]  # importance over the selected cells
        mask = snap.mask if snap is not None else space.full_mask()
        opts = metric_options(df, hide_truth=_hidden(hide, reveal))
        metric = metric if metric in opts else ("fitness" if "fitness" in opts else None)
        imp = chip_importance(df, metric, space) if metric else {}
        labels, colours = [], []
        for e in range(space.num_edges):
            allowed = mask.allowed(e)
            pinned = [op for op in space.ops if mask.state(e, op) == "pinned"]
            labels.append(
                plots.OP_SHORT[pinned[0]] + " (pinned)"
                if pinned
                else f"{len(allowed)}/{len(space.ops)} ops"
            )
            colours.append("#37474f" if len(allowed) > 1 else plots.OP_COLOUR[allowed[0]])
        fig = plots.cell_figure(space.edges, labels, colours=colours)
        classes, styles, tips = [], [], []
        # ALL outputs follow the order of the chips in the layout: edge-major, ops in order
        for out in ctx.outputs_list[1]:
            e, op = int(out["id"]["edge"]), str(out["id"]["op"])
            i, j = space.edges[e]
            state = mask.state(e, op)
            info = imp.get((e, op))
            delta = info.delta if info is not None else math.nan
            classes.append(f"chip {state}")
            styles.append({"backgroundColor": _importance_colour(delta)})
            tip = f"edge {e} ({i}→{j}) · {op} · {state}"
            if info is not None and math.isfinite(info.mean_pct):
                tip += f" · {info.count} candidates, mean percentile {100 * info.mean_pct:.0f}"
            tips.append(tip)
        hist = []
        events = snap.events if snap is not None else ()
        for ev in reversed(events[-30:]):
            what = (
                f"{ev.action}"
                + (f" e{ev.edge}" if ev.edge is not None else "")
                + (f" {ev.op}" if ev.op else "")
            )
            hist.append(
                html.Li(
                    [
                        html.Span(
                            time.strftime("%H:%M:%S", time.localtime(ev.time)), className="muted"
                        ),
                        f" {what} → v{ev.mask_version} ({ev.mask_after.size():,} cells)",
                        html.Em(f" “{ev.note}”") if ev.note else "",
                    ]
                )
            )
        metric_opts = _dropdown_options(_hidden(hide, reveal))
        return fig, classes, styles, tips, hist, metric_opts

    # ---------------------------------------------------------------- embedding
    @app.callback(
        Output(ids.EMBEDDING, "figure"),
        Output(ids.EMBED_INFO, "children"),
        Output(ids.COLOUR_BY, "options"),
        Input(ids.VERSION, "data"),
        Input(ids.COLOUR_BY, "value"),
        Input(ids.COLOUR_SCALE, "value"),
        Input(ids.INSPECT, "data"),
        Input(ids.HIDE_TRUTH, "value"),
        Input(ids.REVEAL_TRUTH, "n_clicks"),
    )
    def embedding(
        _v: Any, colour_by: str, scale: str, inspected: Any, hide: Any, reveal: Any
    ) -> Any:
        xy, method = controller.layout()
        snap, df = frames.get(controller)
        opts = metric_options(df, hide_truth=_hidden(hide, reveal))
        options = _dropdown_options(_hidden(hide, reveal))
        if xy is None:
            msg = (
                "computing the layout of all cells (UMAP, once; cached on disk)…"
                if method == "pending"
                else f"layout failed: {method}"
            )
            return plots.empty_figure(msg), msg, options
        mask = snap.mask if snap is not None else space.full_mask()
        colour_by = colour_by if colour_by in opts else ("fitness" if "fitness" in opts else None)
        ok = df if df.empty else df[df["error"].isna()]
        vals = metric_values(ok, colour_by) if colour_by else np.zeros(len(ok))
        col = colour_values(vals, scale, higher=higher_is_better(colour_by or "fitness"))
        sel = None
        if inspected:
            try:
                sel = space.index(space.from_string(inspected))
            except ValueError:
                sel = None
        fig = plots.embedding_figure(
            xy,
            allowed=allowed_indices(space, mask),
            evaluated=ok,
            colour=col,
            colour_label=f"{colour_by or '-'} ({scale})",
            selected_index=sel,
        )
        info = f"{method.upper()} layout · {len(ok):,} evaluated of {space.size:,}"
        return fig, info, options

    @app.callback(
        Output(ids.SELECTION, "data"),
        Input(ids.EMBEDDING, "selectedData"),
        prevent_initial_call=True,
    )
    def select(sel: Any) -> Any:
        if not sel or not sel.get("points"):
            return None
        return sorted({int(p["customdata"]) for p in sel["points"] if "customdata" in p})

    # ----------------------------------------------------------------- progress
    @app.callback(
        Output(ids.PROGRESS, "figure"),
        Output(ids.TIME_GRAPH, "figure"),
        Output(ids.SUPERNET, "figure"),
        Output(ids.BEST_TABLE, "children"),
        Input(ids.VERSION, "data"),
        Input(ids.HIDE_TRUTH, "value"),
        Input(ids.REVEAL_TRUTH, "n_clicks"),
    )
    def progress(_v: Any, hide: Any, reveal: Any) -> Any:
        snap, df = frames.get(controller)
        show_truth = not _hidden(hide, reveal)
        curve = [dataclasses.asdict(p) for p in snap.supernet_curve] if snap is not None else []
        return (
            plots.progress_figure(df, show_truth=show_truth),
            plots.time_figure(df),
            plots.supernet_figure(curve),
            _best_table(df, show_truth=show_truth),
        )

    # ----------------------------------------------------------------- inspector
    @app.callback(
        Output(ids.INSPECT, "data"),
        Output(ids.ARCH_INPUT, "value"),
        Output(ids.ALERT, "children", allow_duplicate=True),
        Input(ids.EMBEDDING, "clickData"),
        Input(ids.INSPECT_BTN, "n_clicks"),
        Input(ids.ARCH_INPUT, "n_submit"),
        State(ids.ARCH_INPUT, "value"),
        prevent_initial_call=True,
    )
    def choose(click: Any, _b: Any, _s: Any, text: str | None) -> Any:
        trig = ctx.triggered_id
        if trig == ids.EMBEDDING:
            if not click or not click.get("points"):
                return no_update, no_update, no_update
            idx = int(click["points"][0]["customdata"])
            arch = space.to_string(space.from_index(idx))
            return arch, arch, no_update
        try:
            arch = controller.parse_arch(text)
        except InputError as exc:
            return no_update, no_update, _err(str(exc))
        return arch, arch, no_update

    @app.callback(
        Output(ids.INSPECT_CELL, "figure"),
        Output(ids.INSPECT_SCORES, "children"),
        Output(ids.ATTRIBUTION, "figure"),
        Output(ids.ZICO_LAYERS, "figure"),
        Output(ids.INSPECT_POLL, "disabled"),
        Input(ids.INSPECT, "data"),
        Input(ids.ATTR_METRIC, "value"),
        Input(ids.INSPECT_POLL, "n_intervals"),
        Input(ids.HIDE_TRUTH, "value"),
        Input(ids.REVEAL_TRUTH, "n_clicks"),
    )
    def inspector(arch: str | None, metric: str, _n: Any, hide: Any, reveal: Any) -> Any:
        if not arch:
            msg = "click a point in the embedding, or paste an arch string"
            return (
                plots.empty_figure(msg),
                "",
                plots.empty_figure(""),
                plots.empty_figure(""),
                True,
            )
        show_truth = not _hidden(hide, reveal)
        a = space.from_string(arch)
        ops = space.ops_of(a)
        cell = plots.cell_figure(
            space.edges,
            [plots.OP_SHORT[o] for o in ops],
            colours=[plots.OP_COLOUR[o] for o in ops],
        )
        _snap, df = frames.get(controller)
        metrics = metric_options(df, hide_truth=not show_truth)
        rows = score_percentiles(df, arch, metrics) if not df.empty else []
        table = _scores_table(rows, evaluated=bool(len(df)) and arch in set(df["arch"]))
        nb = controller.neighbours(arch, metric)
        zl = controller.zico_layers(arch)
        if nb.state == "done":
            attr = plots.attribution_figure(
                nb.result,
                metric,
                show_truth=show_truth
                and any(math.isfinite(r["truth"] or math.nan) for r in nb.result),
            )
        elif nb.state == "error":
            attr = plots.empty_figure(f"failed: {nb.error}")
        else:
            attr = plots.empty_figure(
                f"scoring the {len(space.neighbours(a))} one-edit "
                f"neighbours on {metric} in the background…"
            )
        if zl.state == "done":
            zfig = plots.zico_layers_figure(zl.result)
        elif zl.state == "error":
            zfig = plots.empty_figure(f"failed: {zl.error}")
        else:
            zfig = plots.empty_figure("computing per-layer ZiCo terms…")
        pending = nb.state == "pending" or zl.state == "pending"
        return cell, table, attr, zfig, not pending

    @app.callback(
        Output(ids.DOWNLOAD, "data"),
        Output(ids.ALERT, "children", allow_duplicate=True),
        Input(ids.EXPORT_JSON, "n_clicks"),
        Input(ids.EXPORT_PY, "n_clicks"),
        State(ids.INSPECT, "data"),
        prevent_initial_call=True,
    )
    def export(_j: Any, _p: Any, arch: str | None) -> Any:
        if not arch:
            return no_update, _err("inspect a cell first, then export it")
        cfg = controller.session.config if controller.session else controller.defaults
        n_cls = controller.data.num_classes
        slug = f"nb201_{space.index(space.from_string(arch))}"
        if ctx.triggered_id == ids.EXPORT_PY:
            src = module_source(space, arch, C=cfg.train_C, N=cfg.train_N, num_classes=n_cls)
            return dcc.send_string(src, f"{slug}.py"), _ok(f"exported {slug}.py")
        _snap, df = frames.get(controller)
        hit = df[df["arch"] == arch] if not df.empty else df
        scores = {}
        extra: dict[str, Any] = {}
        if len(hit):
            r = hit.iloc[-1]
            scores = {m: float(r[m]) for m in metric_options(df) if m not in EXTRA_METRICS}
            extra = {
                k: (None if pd.isna(r[k]) else float(r[k]))
                for k in ("oneshot", "trained_acc", "truth")
            }
        spec = arch_spec(
            space,
            arch,
            C=cfg.train_C,
            N=cfg.train_N,
            num_classes=n_cls,
            scores=scores,
            extra=extra,
        )
        return dcc.send_string(json.dumps(spec, indent=2), f"{slug}.json"), _ok(
            f"exported {slug}.json"
        )

    # --------------------------------------------------------- proxy comparison
    @app.callback(
        Output(ids.CMP_SCATTER, "figure"),
        Output(ids.CMP_HEATMAP, "figure"),
        Output(ids.CMP_TOPK, "figure"),
        Output(ids.CMP_INFO, "children"),
        Output(ids.CMP_X, "options"),
        Output(ids.CMP_Y, "options"),
        Input(ids.VERSION, "data"),
        Input(ids.SELECTION, "data"),
        Input(ids.CMP_X, "value"),
        Input(ids.CMP_Y, "value"),
        Input(ids.CMP_METHOD, "value"),
        Input(ids.CMP_K, "value"),
        Input(ids.HIDE_TRUTH, "value"),
        Input(ids.REVEAL_TRUTH, "n_clicks"),
    )
    def compare(
        _v: Any, selection: Any, x: str, y: str, method: str, k: Any, hide: Any, reveal: Any
    ) -> Any:
        _snap, df = frames.get(controller)
        opts = metric_options(df, hide_truth=_hidden(hide, reveal))
        options = _dropdown_options(_hidden(hide, reveal))
        d = df if df.empty else df[df["error"].isna()]
        if selection:
            d = d[d["index"].isin(selection)]
        info = f"{len(d):,} selected cells" if selection else f"all {len(d):,} evaluated cells"
        if len(d) < 3:
            blank = plots.empty_figure("need at least 3 evaluated cells (in the selection)")
            return blank, blank, blank, info, options, options
        xv = metric_values(d, x) if x in opts else np.full(len(d), np.nan)
        yv = metric_values(d, y) if y in opts else np.full(len(d), np.nan)
        xs = xv if higher_is_better(x) else -xv
        ys = yv if higher_is_better(y) else -yv
        scatter = plots.rank_scatter(xs, ys, x_label=x, y_label=y, text=list(d["arch"]))
        metrics = [
            m for m in opts if m != "fitness" and np.isfinite(metric_values(d, m)).sum() >= 3
        ]
        mat = correlation_matrix(d, metrics, method)
        heat = plots.heatmap_figure(mat, title=f"{method.title()} over {info}")
        try:
            kk = max(1, int(k))
        except (TypeError, ValueError):
            kk = 10
        top = plots.heatmap_figure(
            topk_overlap(d, metrics, kk), title=f"top-{kk} overlap", zmin=0.0
        )
        return scatter, heat, top, info, options, options


def _dropdown_options(hide_truth: bool) -> list[dict[str, str]]:
    """Every metric, always (a dropdown whose options lose its value clears the value);
    metrics without data yet draw an explanatory empty figure instead."""
    from app.layout import metric_dropdown_options

    return [o for o in metric_dropdown_options() if not (hide_truth and o["value"] == "truth")]


def _importance_colour(delta: float) -> str:
    """Diverging colour for an op's importance (percentile difference in [-1, 1])."""
    if not math.isfinite(delta):
        return "#eceff1"
    t = max(-1.0, min(1.0, delta * 2.5))
    if t >= 0:
        r, g, b = (
            int(236 - t * (236 - 102)),
            int(239 - t * (239 - 187)),
            int(241 - t * (241 - 106)),
        )
    else:
        t = -t
        r, g, b = (
            int(236 - t * (236 - 229)),
            int(239 - t * (239 - 115)),
            int(241 - t * (241 - 115)),
        )
    return f"rgb({r},{g},{b})"


def _fmt(v: Any) -> str:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return "—"
    if not math.isfinite(f):
        return "—"
    return f"{f:.4g}" if abs(f) < 1e5 else f"{f:.3e}"


def _best_table(df: pd.DataFrame, *, show_truth: bool) -> Any:
    if df.empty:
        return ""
    d = df[df["fitness"].notna()].sort_values("fitness", ascending=False).head(8)
    cols = ["arch", "fitness", "oneshot", "trained_acc"] + (["truth"] if show_truth else [])
    head = html.Tr([html.Th(EXTRA_METRICS.get(c, c)) for c in cols])
    body = [
        html.Tr([html.Td(r["arch"], className="mono")] + [html.Td(_fmt(r[c])) for c in cols[1:]])
        for _, r in d.iterrows()
    ]
    return html.Div(html.Table([head, *body], className="best"), className="scroll-x")


def _scores_table(rows: list[dict[str, Any]], *, evaluated: bool) -> Any:
    if not rows or not evaluated:
        return html.P(
            "not evaluated in this run yet — its one-edit neighbours are scored "
            "below; Train gives it a real accuracy",
            className="muted",
        )
    head = html.Tr([html.Th("metric"), html.Th("value"), html.Th("percentile")])
    body = [
        html.Tr(
            [
                html.Td(EXTRA_METRICS.get(r["metric"], r["metric"])),
                html.Td(_fmt(r["value"])),
                html.Td("—" if not math.isfinite(r["percentile"]) else f"{r['percentile']:.0f}"),
            ]
        )
        for r in rows
    ]
    return html.Table([head, *body], className="scores")
