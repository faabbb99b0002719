"""Each view's data function on a hand-made run, without a browser or a search."""

from __future__ import annotations

import dataclasses
import math
import time

import numpy as np
import pandas as pd
import pytest

from app import plots
from app.viewmodel import (
    best_rows,
    candidates_frame,
    comparison_data,
    embedding_data,
    evidence_rows,
    graph_data,
    inspector_data,
    metric_values,
    progress_data,
)
from nas_engine.runner import CurvePoint, SearchConfig, Snapshot
from nas_engine.runner.fidelity import Fidelity
from nas_engine.search_spaces import create_space
from nas_engine.steering import Steering
from nas_engine.storage import CandidateRecord

SPACE = create_space("nb201")
OPS = SPACE.ops


def _by_ops(ops: tuple[str, ...]) -> str:
    (i, j, k, l, m, n) = ops
    return f"|{i}~0|+|{j}~0|{k}~1|+|{l}~0|{m}~1|{n}~2|"


def _run(*, truth: bool = True) -> tuple[Snapshot, pd.DataFrame, list[str]]:
    """Twelve cells whose zico is high exactly when edge 1 holds nor_conv_3x3, a prune of
    ``none`` on edge 0 and a pin of nor_conv_1x1 on edge 5 with a note."""
    rng = np.random.default_rng(0)
    steering = Steering(SPACE.full_mask())
    steering.apply("prune", 0, "none", note="")
    steering.apply("pin", 5, "nor_conv_1x1", note="1x1 last")
    cands, archs = [], []
    for seq in range(12):
        ops = [OPS[int(x)] for x in rng.integers(1, 5, size=6)]
        ops[1] = "nor_conv_3x3" if seq % 2 else "avg_pool_3x3"
        ops[5] = "nor_conv_1x1"
        arch = _by_ops(tuple(ops))
        archs.append(arch)
        zico = 100.0 + seq if seq % 2 else 10.0 + seq
        cands.append(
            CandidateRecord(
                seq=seq,
                arch=arch,
                mask_version=2,
                strategy="random",
                scores={"zico": zico, "naswot": float(seq), "params": float(12 - seq)},
                fitness=zico,
                oneshot=50.0 + seq,
                truth=80.0 + seq if truth else None,
                created=1000.0 + seq,
                seconds=0.5,
            )
        )
    snap = Snapshot(
        run_id=1,
        status="running",
        config=SearchConfig(budget=50, supernet_warmup=0),
        mask=steering.mask,
        mask_version=steering.version,
        candidates=tuple(cands),
        events=tuple(steering.events),
        supernet_curve=(CurvePoint(10, time.time(), 2.0, 30.0, 0.05, 1234.0),),
        train_curves={},
        best=None,
        supernet_step=10,
        candidates_per_min=6.0,
        message=None,
        updated=time.time(),
    )
    return snap, candidates_frame(snap, SPACE), archs


def test_graph_data_mask_chips_and_history() -> None:
    snap, df, _ = _run()
    d = graph_data(snap, df, SPACE, metric="zico")
    assert d.metric == "zico"
    assert "none" not in d.edges[0].allowed and d.edges[0].pinned is None
    assert d.edges[5].pinned == "nor_conv_1x1" and d.edges[5].allowed == ("nor_conv_1x1",)
    assert d.chips[(0, "none")].state == "pruned"
    assert d.chips[(5, "nor_conv_1x1")].state == "pinned"
    assert len(d.chips) == len(OPS) * SPACE.num_edges
    # conv3x3 on edge 1 is in every high-zico cell: the largest possible effect
    assert d.chips[(1, "nor_conv_3x3")].delta == pytest.approx(6 / 11)
    assert d.chips[(1, "avg_pool_3x3")].delta < 0
    assert math.isnan(d.chips[(1, "none")].delta)  # no candidate has it
    tip = d.chips[(1, "nor_conv_3x3")].tip
    assert "effect +55 percentile points, 95 % CI [" in tip and "n = 6" in tip
    # its interval excludes zero: the chip carries the mark, the table says so
    assert d.chips[(1, "nor_conv_3x3")].mark == "sig-pos"
    assert all(c.mark == "" for k, c in d.chips.items() if math.isnan(c.delta))
    rows = evidence_rows(d.evidence, SPACE, snap)
    row = next(r for r in rows if r["position"].startswith("e1 ") and r["op"] == "nor_conv_3x3")
    assert row["sig"] == "yes" and row["ci_low"] > 0 and row["n"] == 6
    assert [r["effect"] for r in rows if r["effect"] is not None] == sorted(
        r["effect"] for r in rows if r["effect"] is not None
    )
    # newest event first, with its note
    assert [h[1].split()[0] for h in d.history] == ["pin", "prune"]
    assert d.history[0][2] == "1x1 last"
    # a metric the run lacks falls back to fitness; truth is no metric when hidden
    assert graph_data(snap, df, SPACE, metric="fisher").metric == "fitness"
    assert graph_data(snap, df, SPACE, metric="truth", hide_truth=True).metric == "fitness"
    # the lasso selection restricts the importance to the selected cells
    sel = [int(i) for i in df["index"].iloc[:4]]
    small = graph_data(snap, df, SPACE, metric="zico", selection=sel)
    assert "n = 2" in small.chips[(1, "nor_conv_3x3")].tip
    assert small.evidence is not None and small.evidence.cells == 4


def test_graph_data_before_any_run() -> None:
    d = graph_data(None, candidates_frame(None, SPACE), SPACE, metric="fitness")
    assert d.metric is None and d.history == ()
    assert all(e.allowed == OPS for e in d.edges)
    assert all(c.state == "allowed" and math.isnan(c.delta) for c in d.chips.values())


@pytest.mark.parametrize("metric", ["zico", "naswot", "params", "oneshot", "truth"])
def test_embedding_colours_are_the_chosen_metric(metric: str) -> None:
    snap, df, archs = _run()
    d = embedding_data(snap, df, SPACE, colour_by=metric, scale="linear", inspected=archs[3])
    np.testing.assert_array_equal(d.colour, df[metric].to_numpy(dtype=float))
    # a one-shot colour scale says how far it can be trusted
    note = " · not informative yet" if metric == "oneshot" else ""
    assert d.colour_label == f"{metric} (linear){note}"
    assert d.selected_index == SPACE.index(SPACE.from_string(archs[3]))
    assert d.allowed.sum() == snap.mask.size()
    assert (
        f"12 evaluated of {SPACE.size:,}" + (" · not informative yet" if note else "")
    ) in d.info


def test_embedding_rank_scale_and_fallbacks() -> None:
    snap, df, _ = _run(truth=False)
    d = embedding_data(snap, df, SPACE, colour_by="naswot", scale="rank")
    np.testing.assert_allclose(d.colour, np.arange(12) / 11)
    d = embedding_data(snap, df, SPACE, colour_by="truth", scale="linear", inspected="|bad|")
    np.testing.assert_array_equal(d.colour, df["fitness"].to_numpy(dtype=float))
    assert d.selected_index is None


def test_progress_data_best_table_and_throughput() -> None:
    snap, df, archs = _run()
    d = progress_data(snap, df, show_truth=True)
    one = "one-shot % (not informative yet)"
    assert list(d.best.columns) == ["arch", "fitness", one, "trained_acc", "truth", "n"]
    assert len(d.best) == 8 and d.best["fitness"].is_monotonic_decreasing
    assert d.best["arch"].iloc[0] == archs[11]  # zico 111, the highest fitness
    assert d.curve[0]["images_per_s"] == 1234.0
    assert d.throughput == "6.0 candidates/min · supernet step 10 · 1,234 img/s"
    warm = dataclasses.replace(snap, config=SearchConfig(budget=50, supernet_warmup=500))
    assert progress_data(warm, df, show_truth=True).throughput.endswith(
        "warming up the supernet: 10 of 500 steps before the first candidate"
    )
    assert d.oneshot_note.startswith("one-shot not informative yet") and d.best_note == ""
    # a candidate without a fitness (a failed one) is never a best cell
    failed = df.assign(fitness=np.where(df["seq"] == 11, np.nan, df["fitness"]))
    rows = best_rows(failed.head(12), show_truth=True, n=20)
    assert len(rows) == 11 and archs[11] not in set(rows["arch"])
    hidden = progress_data(snap, df, show_truth=False)
    assert "truth" not in hidden.best.columns
    empty = progress_data(None, candidates_frame(None, SPACE), show_truth=True)
    assert empty.best.empty and empty.throughput == "" and empty.curve == []


def test_inspector_data_percentiles() -> None:
    _snap, df, archs = _run()
    d = inspector_data(df, SPACE, archs[11])
    assert d.evaluated and d.n_neighbours == 24
    assert d.ops == SPACE.ops_of(SPACE.from_string(archs[11]))
    rows = {r["metric"]: r for r in d.rows}
    assert rows["zico"]["percentile"] == 100 and rows["zico"]["value"] == 111.0
    assert rows["params"]["percentile"] == 0  # the smallest
    assert "truth" in rows and "truth" not in {
        r["metric"] for r in inspector_data(df, SPACE, archs[11], hide_truth=True).rows
    }
    other = _by_ops(("none",) * 6)
    assert not inspector_data(df, SPACE, other).evaluated


def test_comparison_data_ranks_correlations_and_topk() -> None:
    _snap, df, _archs = _run()
    d = comparison_data(df, x="naswot", y="params", method="spearman", k="abc")
    assert d.enough and d.k == 10 and d.info == "all 12 evaluated cells"
    np.testing.assert_allclose(d.points["x"], 100 * np.arange(12) / 11)
    np.testing.assert_allclose(d.points["y"], 100 - 100 * np.arange(12) / 11)
    assert d.corr.loc["naswot", "params"] == pytest.approx(-1.0)
    assert "fitness" not in d.corr.index and "truth" in d.corr.index
    assert d.topk.loc["naswot", "naswot"] == 1.0
    hidden = comparison_data(df, x="naswot", y="truth", method="kendall", k=3, hide_truth=True)
    assert "truth" not in hidden.corr.index and hidden.points.empty and hidden.k == 3
    sel = [int(i) for i in df["index"].iloc[:2]]
    few = comparison_data(df, x="zico", y="naswot", method="spearman", k=5, selection=sel)
    assert not few.enough and few.info == "2 selected cells"


def _budget_run() -> tuple[Snapshot, pd.DataFrame, np.ndarray]:
    import dataclasses

    from nas_engine.resources import CostTable, ResourceBudget

    costs = CostTable.compute(SPACE, num_classes=4, in_channels=3, input_shape=(3, 8, 8), C=4, N=1)
    snap, df, _ = _run()
    flops = costs.flops[df["index"].to_numpy(dtype=int)]
    limit = float(np.median(flops))
    snap = dataclasses.replace(snap, costs=costs, budget=ResourceBudget(max_flops=limit))
    return snap, candidates_frame(snap, SPACE), flops


def test_pareto_front_by_hand() -> None:
    from app.viewmodel import pareto_front

    cost = np.array([1.0, 2.0, 2.0, 3.0, 4.0, 0.5, np.nan])
    value = np.array([5.0, 4.0, 7.0, 7.0, 9.0, np.nan, 10.0])
    assert pareto_front(cost, value).tolist() == [True, False, True, False, True, False, False]


def test_pareto_data_budget_line_and_in_budget() -> None:
    from app.viewmodel import pareto_data

    snap, df, flops = _budget_run()
    d = pareto_data(snap, df, snap.costs, cost="flops", metric="zico")
    assert d.message == "" and d.limit == snap.budget.max_flops and d.x_label == "FLOPs (M)"
    np.testing.assert_allclose(np.sort(d.points["cost"]), np.sort(flops))
    assert d.points["in_budget"].tolist() == (d.points["cost"] <= d.limit).tolist()
    front = d.points[d.points["frontier"]].sort_values("cost")
    assert front["value"].is_monotonic_increasing and len(front) >= 1
    best = d.points.loc[d.points["value"].idxmax()]
    assert bool(best["frontier"])  # the best cell is always on the front
    assert "latency table" in pareto_data(snap, df, snap.costs, cost="latency", metric="x").message
    assert "no run" in pareto_data(None, df, None, cost="flops", metric="zico").message


def test_budget_shows_in_embedding_progress_and_history() -> None:
    from app.viewmodel import best_in_budget_text

    snap, df, flops = _budget_run()
    e = embedding_data(snap, df, SPACE, colour_by="zico", scale="rank")
    np.testing.assert_array_equal(e.in_budget, snap.costs.flops <= snap.budget.max_flops)
    assert f"{int(e.in_budget.sum()):,} cells within ≤ " in e.info
    text = best_in_budget_text(snap, df)
    inside = df[flops <= snap.budget.max_flops]
    assert inside.loc[inside["fitness"].idxmax(), "arch"] in text and "MFLOPs" in text
    assert best_in_budget_text(_run()[0], df) == ""  # no budget, no line
    assert progress_data(snap, df, show_truth=True).best_in_budget == text


def test_history_names_budget_changes() -> None:
    import dataclasses

    from nas_engine.resources import ResourceBudget

    snap, df, _ = _run()
    st = Steering(snap.mask, snap.events)
    st.apply("budget", budget=ResourceBudget(max_flops=5, max_params=0.5), note="small")
    snap = dataclasses.replace(snap, events=tuple(st.events), budget=st.budget)
    h = graph_data(snap, df, SPACE, metric="zico").history[0]
    assert h[1].startswith(" budget ≤ 5 MFLOPs, ≤ 0.5 M params → v3") and h[2] == "small"


def test_proxy_help_gives_every_proxy_its_definition_and_paper() -> None:
    from app.viewmodel import proxy_catalogue, proxy_names

    rows = {r["proxy"]: r for r in proxy_catalogue()}
    assert set(rows) == set(proxy_names())
    for name, r in rows.items():
        assert r["definition"] and r["paper"], name
    assert "AZ-NAS" in rows["az_trainability"]["paper"] and "MeCo" in rows["meco"]["paper"]


# ------------------------------------------------------------ one-shot fidelity on the page
GOOD = Fidelity(0.72, 40, "ground truth", 0.53, 0.84)
BAD = Fidelity(0.12, 40, "zero-cost ensemble", -0.2, 0.41)


def _oneshot_run(fidelity: Fidelity, search: Fidelity) -> tuple[Snapshot, pd.DataFrame]:
    """A run whose fitness is the one-shot estimate (its ensemble members scored)."""
    snap, _, _ = _run()
    rng = np.random.default_rng(1)
    cands = []
    for c in snap.candidates:
        extra = {m: float(v) for m, v in zip(("jacob_cov", "meco", "synflow"), rng.random(3),
                                             strict=True)}  # fmt: skip
        cands.append(dataclasses.replace(c, scores={**c.scores, **extra}, fitness=c.oneshot))
    cfg = SearchConfig(budget=50, strategy="supernet_evolution")
    snap = dataclasses.replace(snap, config=cfg, candidates=tuple(cands), fidelity=fidelity,
                               search_fidelity=search)  # fmt: skip
    return snap, candidates_frame(snap, SPACE)


def test_uninformative_oneshot_neither_ranks_nor_colours_by_default() -> None:
    snap, df = _oneshot_run(BAD, BAD)
    ens = metric_values(df, "ensemble")
    d = progress_data(snap, df, show_truth=True)
    order = np.argsort(-ens, kind="stable")[:8]
    assert list(d.best["arch"]) == list(df["arch"].to_numpy()[order])
    assert "zero-cost ensemble" in d.best_note and not d.oneshot_informative
    assert "one-shot % (not informative yet)" in d.best.columns
    e = embedding_data(snap, df, SPACE, colour_by="fitness", scale="linear")
    np.testing.assert_allclose(e.colour, ens)
    assert (
        e.colour_label.startswith("zero-cost ensemble") and "not informative yet" in e.colour_label
    )
    # asked for explicitly, the estimate is shown, and labelled
    e = embedding_data(snap, df, SPACE, colour_by="oneshot", scale="linear")
    np.testing.assert_array_equal(e.colour, df["oneshot"].to_numpy(dtype=float))
    assert "not informative yet" in e.colour_label
    fig = plots.progress_figure(d.df, oneshot_note=d.oneshot_note, oneshot_informative=False)
    (os_trace,) = [t for t in fig["data"] if t["name"].startswith("best one-shot")]
    assert os_trace["line"]["dash"] == "dot" and "not informative yet" in os_trace["name"]


def test_informative_oneshot_ranks_and_shows_its_figure() -> None:
    snap, df = _oneshot_run(GOOD, GOOD)
    d = progress_data(snap, df, show_truth=True)
    assert d.best["fitness"].is_monotonic_decreasing and d.best_note == ""
    assert "one-shot % (ρ 0.72, n = 40)" in d.best.columns and d.oneshot_informative
    assert d.oneshot_note == "one-shot ρ 0.72 [0.53, 0.84] vs ground truth, n = 40"
    e = embedding_data(snap, df, SPACE, colour_by="fitness", scale="linear")
    np.testing.assert_array_equal(e.colour, df["fitness"].to_numpy(dtype=float))
    assert e.colour_label == "fitness (linear) · ρ 0.72, n = 40"
    rows = {r["metric"]: r for r in inspector_data(df, SPACE, df["arch"][0], snap=snap).rows}
    assert rows["oneshot"]["note"] == rows["fitness"]["note"] == "ρ 0.72, n = 40"
    assert "note" not in rows["zico"]
    c = comparison_data(df, x="oneshot", y="zico", method="spearman", k=5, snap=snap)
    assert c.x_label == "oneshot · ρ 0.72, n = 40" and c.y_label == "zico"


def test_classroom_shows_the_fidelity_that_ignores_ground_truth() -> None:
    snap, df = _oneshot_run(GOOD, BAD)
    d = progress_data(snap, df, show_truth=False)
    assert "zero-cost ensemble" in d.oneshot_note and "ground truth" not in d.oneshot_note
    assert not d.oneshot_informative
