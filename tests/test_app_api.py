"""The app without a browser: controller commands, view models, figures, callbacks."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import pytest

from app import InputError, create_app, plots
from app.viewmodel import (
    allowed_indices,
    candidates_frame,
    colour_values,
    correlation_matrix,
    metric_options,
    snapshot_evidence,
    topk_overlap,
)
from nas_engine.search_spaces import create_space
from tests.app_helpers import make_controller
from tests.conftest import BEST_NB201


@pytest.fixture
def controller(tmp_path: Path):
    c = make_controller(tmp_path)
    yield c
    c.close()
    c.storage.close()


def test_create_app_does_no_io_and_serves_locally(tmp_path: Path) -> None:
    c = make_controller(tmp_path)
    app = create_app(c)
    assert c.session is None and not (tmp_path / "cache").exists()  # nothing started
    client = app.server.test_client()
    page = client.get("/").data.decode()
    assert "cdn" not in page.lower() and "https://" not in page  # no internet assets
    assert client.get("/_dash-layout").status_code == 200
    c.close()
    c.storage.close()


def test_bad_input_is_refused_and_state_kept(controller) -> None:
    for bad in ("0", "-3", "ten", "", None, "1e9"):
        with pytest.raises(InputError, match="budget"):
            controller.start(strategy="evolution", proxy="zico", budget=bad)
    assert controller.session is None and controller.storage.list_runs() == []
    with pytest.raises(InputError, match="no run yet"):
        controller.steer("prune", 0, "none")
    with pytest.raises(InputError, match="unknown architecture"):
        controller.parse_arch("|conv~0|+|")
    controller.start(strategy="evolution", proxy="zico", budget="50")
    s = controller.session
    s.wait(lambda sn: sn.n_evaluated >= 2, timeout=120)
    controller.steer("pin", 3, "skip_connect")
    for op in ("none", "skip_connect", "nor_conv_1x1", "avg_pool_3x3"):
        controller.steer("prune", 2, op)
    before = controller.snapshot().mask
    with pytest.raises(InputError, match="pinned"):
        controller.steer("prune", 3, "skip_connect")
    with pytest.raises(InputError, match="last"):
        controller.steer("prune", 2, "nor_conv_3x3")
    with pytest.raises(InputError):
        controller.steer("prune", 9, "none")
    with pytest.raises(InputError, match="strategy"):
        controller.start(strategy="nope", proxy="zico", budget=50)
    assert controller.snapshot().mask == before


def test_restart_with_same_db_resumes_the_run(tmp_path: Path) -> None:
    c = make_controller(tmp_path)
    c.start(strategy="random", proxy="zico", budget=12)
    snap = c.session.wait(lambda s: s.n_evaluated >= 4, timeout=120)
    c.steer("prune", 1, "avg_pool_3x3", note="pools look weak")
    c.close()
    shown = c.snapshot()
    c.storage.close()

    c2 = make_controller(tmp_path)
    assert c2.open_latest() == snap.run_id
    again = c2.snapshot()
    assert again.status == "paused"
    assert [x.arch for x in again.candidates] == [x.arch for x in shown.candidates]
    assert again.mask.state(1, "avg_pool_3x3") == "pruned"
    assert again.events[-1].note == "pools look weak"
    c2.start(strategy="random", proxy="zico", budget=12)
    done = c2.session.wait(lambda s: s.status == "finished", timeout=180)
    seqs = [x.seq for x in done.candidates]
    assert seqs == list(range(12))  # continued, nothing duplicated
    c2.close()
    c2.storage.close()


def test_background_jobs_neighbours_and_zico_layers(controller) -> None:
    controller.start(strategy="random", proxy="zico", budget=5)
    job = controller.neighbours(BEST_NB201, "zico")
    assert job.state in ("pending", "done")
    import time

    deadline = time.time() + 120
    while controller.neighbours(BEST_NB201, "zico").state == "pending" and time.time() < deadline:
        time.sleep(0.1)
    rows = controller.neighbours(BEST_NB201, "zico").result
    assert len(rows) == 24  # 6 edges × 4 alternatives
    assert {r["edge"] for r in rows} == set(range(6))
    assert all(math.isfinite(r["base_score"]) for r in rows)
    while controller.zico_layers(BEST_NB201).state == "pending" and time.time() < deadline:
        time.sleep(0.1)
    terms = controller.zico_layers(BEST_NB201).result
    assert terms and all(math.isfinite(v) for v in terms.values())


def test_viewmodel_and_figures_are_valid(controller) -> None:
    controller.start(strategy="evolution", proxy="zico", budget=30)
    snap = controller.session.wait(lambda s: s.n_evaluated >= 12, timeout=180)
    controller.pause()
    space = create_space("nb201")
    df = candidates_frame(snap, space)
    assert len(df) >= 12 and {"zico", "naswot", "e0", "index"} <= set(df.columns)
    opts = metric_options(df)
    assert "zico" in opts and "fitness" in opts and "truth" not in opts  # no benchmark
    ev = snapshot_evidence(snap, space, metric="zico", selection=None)
    ok = df[df.error.isna()]
    assert sum(i.n for i in ev.effects if i.position == 0) == ok["arch"].nunique() == ev.cells
    mask = snap.mask.prune(0, "none")
    allowed = allowed_indices(space, mask)
    assert allowed.sum() == mask.size()
    assert all(
        allowed[space.index(a)] == mask.allows(space.ops_of(a))
        for a in (space.sample(np.random.default_rng(i)) for i in range(50))
    )
    xy = controller.wait_layout()
    figs = [
        plots.embedding_figure(
            xy,
            allowed=allowed,
            evaluated=df,
            colour=colour_values(df["synflow"].to_numpy(), "log"),
            colour_label="synflow",
            selected_index=int(df["index"].iloc[0]),
        ),
        plots.progress_figure(df),
        plots.time_figure(df),
        plots.supernet_figure([p.__dict__ for p in snap.supernet_curve]),
        plots.cell_figure(space.edges, list(space.ops_of(space.from_string(BEST_NB201)))),
        plots.heatmap_figure(
            correlation_matrix(df, ["zico", "naswot", "params"], "kendall"), title="t"
        ),
        plots.heatmap_figure(topk_overlap(df, ["zico", "naswot"], 5), title="k", zmin=0),
        plots.zico_layers_figure({"a": 1.0, "b": 2.0}),
        plots.empty_figure("x"),
    ]
    for f in figs:
        go.Figure(f)  # raises on an invalid figure
        json.dumps(f, default=float)
    emb = figs[0]
    assert len(emb["data"][2]["x"]) == len(df)  # evaluated trace
    # the base traces (excluded, allowed, outside the budget) partition the whole space,
    # evaluated or not, so a new candidate changes the evaluated trace alone
    base = [t for i, t in enumerate(emb["data"][:4]) if i != plots.EVALUATED_TRACE]
    assert sorted(i for t in base for i in t["customdata"]) == list(range(space.size))


def test_hide_ground_truth_mode() -> None:
    import pandas as pd

    from app.views.common import dropdown_options as _dropdown_options
    from app.views.common import truth_hidden as _hidden

    df = pd.DataFrame({"arch": ["a", "b"], "zico": [1.0, 2.0], "fitness": [1.0, 2.0],
                       "truth": [90.0, 91.0]})  # fmt: skip
    assert "truth" in metric_options(df)
    assert "truth" not in metric_options(df, hide_truth=True)
    assert "truth" not in [o["value"] for o in _dropdown_options(True)]
    assert _hidden(["hide"], 0) and not _hidden(["hide"], 1) and not _hidden([], 0)
    fig = plots.progress_figure(df.assign(seq=[0, 1], oneshot=float("nan")), show_truth=False)
    assert all("truth" not in t["name"] for t in fig["data"])


def test_topk_overlap_counts_each_cell_once() -> None:
    import pandas as pd

    df = pd.DataFrame({"arch": ["a", "a", "b", "c", "d"], "zico": [5.0, 5.0, 4, 3, 1],
                       "naswot": [1.0, 1.0, 2, 3, 4]})  # fmt: skip
    ov = topk_overlap(df, ["zico", "naswot"], 2)
    assert ov.loc["zico", "zico"] == 1.0 and ov.loc["naswot", "naswot"] == 1.0
    assert ov.loc["zico", "naswot"] == 0.0  # {a, b} vs {d, c}


def test_colour_scales_handle_huge_ranges() -> None:
    v = np.array([1e-3, 1e2, 1e12, np.nan])
    r = colour_values(v, "rank")
    assert r[0] < r[1] < r[2] and math.isnan(r[3])
    lg = colour_values(v, "log")
    assert lg[2] == pytest.approx(12.0, abs=1e-6)


def test_serve_refuses_bad_options_clearly(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from nas_engine.cli import main

    runner = CliRunner()
    res = runner.invoke(main, ["serve", "--dataset", f"npz:{tmp_path}/missing.npz",
                               "--db", str(tmp_path / "x.db")])  # fmt: skip
    assert res.exit_code != 0 and "missing.npz" in res.output
    res = runner.invoke(main, ["serve", "--benchmark", f"csv:{tmp_path}/none.csv",
                               "--db", str(tmp_path / "x.db")])  # fmt: skip
    assert res.exit_code != 0 and "none.csv" in res.output
    res = runner.invoke(main, ["serve", "--set", "budget=0", "--db", str(tmp_path / "x.db")])
    assert res.exit_code != 0 and "budget" in res.output
    assert "--port" in runner.invoke(main, ["serve", "--help"]).output


def test_budget_and_aids_through_the_controller(controller) -> None:
    from nas_engine.resources import ResourceBudget

    msg = controller.set_resource_budget(max_flops="1000")  # before any run: new runs' budget
    assert msg == "budget for new runs: ≤ 1000 MFLOPs"
    controller.start(strategy="evolution", proxy="zico", budget=60)
    assert controller.snapshot().budget == ResourceBudget(max_flops=1000)
    controller.set_resource_budget(max_flops="")
    s = controller.session
    s.wait(lambda sn: sn.n_evaluated >= 3, timeout=120)
    costs = controller.costs()
    assert costs is not None and len(costs.flops) == controller.space.size
    for bad in ("-1", "ten", "0", "inf"):
        with pytest.raises(InputError, match="max FLOPs must be a positive number"):
            controller.set_resource_budget(max_flops=bad)
    tiny = costs.flops.min() / 2
    with pytest.raises(InputError, match=f"the smallest needs {costs.flops.min():.3g}"):
        controller.set_resource_budget(max_flops=f"{tiny}")
    with pytest.raises(InputError, match="latency table"):
        controller.set_resource_budget(max_latency="3")
    limit = float(np.quantile(costs.flops, 0.25))
    msg = controller.set_resource_budget(max_flops=str(limit), max_params=" ")
    assert "budget accepted" in msg
    assert controller.snapshot().budget == ResourceBudget(max_flops=limit)
    with pytest.raises(InputError, match="already"):
        controller.set_resource_budget(max_flops=str(limit))
    assert "warm-up pool 30, move proposal p=0.2" in controller.set_aids(warmup="30", move_p="0.2")
    with pytest.raises(InputError, match="warm-up"):
        controller.set_aids(warmup="-2", move_p="")
    with pytest.raises(InputError, match="move p"):
        controller.set_aids(warmup="0", move_p="2")
    v = controller.snapshot().mask_version
    snap = s.wait(lambda sn: sum(c.mask_version >= v for c in sn.candidates) >= 4, timeout=180)
    assert snap.config.warmup == 30 and snap.config.move_p == 0.2
    for c in snap.candidates:
        if c.mask_version >= v:
            assert (
                costs.flops[controller.space.index(controller.space.from_string(c.arch))] <= limit
            )
    controller.steer("undo")
    assert controller.snapshot().budget == ResourceBudget()


def test_serve_refuses_a_bad_latency_table(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from nas_engine.cli import main

    csv = tmp_path / "lat.csv"
    csv.write_text("index,arch,raspi4\n0,|none~0|+|none~0|none~1|+|none~0|none~1|none~2|,1.0\n")
    for spec, msg in ((f"csv:{csv}:tpu", "no device 'tpu'"), ("csv:nope.csv:raspi4", "not found")):
        res = CliRunner().invoke(main, ["serve", "--set", f"latency={spec}",
                                        "--db", str(tmp_path / "x.db")])  # fmt: skip
        assert res.exit_code != 0 and msg in res.output, res.output


def test_whole_space_scores_job_colours_every_scored_cell(controller) -> None:
    import time

    from app.viewmodel import embedding_data, space_colour_options

    assert controller.space_scores().done == 0
    assert "scoring all" in controller.start_space_scores()
    deadline = time.time() + 60
    while controller.space_scores().done < 64 and time.time() < deadline:
        time.sleep(0.2)
    controller.stop_space_scores()
    while controller.space_scores().running and time.time() < deadline:
        time.sleep(0.1)
    whole = controller.space_scores()
    assert not whole.running and whole.error is None and 64 <= whole.done < whole.total
    import os

    path = controller._space_path()
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1))  # "changed"
    progress = controller.space_scores(values=False)  # what the page polls: no parsing
    assert progress.values == {} and progress.done == whole.done
    assert controller._space_cache[1] is None  # counted, not parsed
    assert {"synflow", "meco"} <= set(progress.names)
    synflow = whole.values["synflow"]
    scored = np.flatnonzero(np.isfinite(synflow))
    assert 0 < len(scored) <= whole.done  # undefined cells (no path) have no colour
    space = controller.space
    snap, df = controller.snapshot(), candidates_frame(None, space)
    d = embedding_data(
        snap, df, space, colour_by="space:synflow", scale="rank", space_values=whole.values
    )
    assert d.evaluated["index"].tolist() == scored.tolist()  # every scored cell, not runs'
    assert np.isfinite(d.colour).all() and d.coloured_name == "scored (synflow)"
    assert "not finished" in d.info and "ground truth" not in d.info
    # with a truth vector, the info says how far the colouring can be trusted (never in
    # classroom mode)
    kw = {"colour_by": "space:synflow", "scale": "rank", "space_values": whole.values}
    d = embedding_data(snap, df, space, space_truth=synflow, space_done=whole.done, **kw)
    assert f"Spearman ρ with ground truth 1.00 (n={len(scored):,})" in d.info
    undefined = whole.done - len(scored)
    assert (f"({undefined:,} scored cells have no defined value)" in d.info) == (undefined > 0)
    d = embedding_data(snap, df, space, space_truth=-synflow, hide_truth=True, **kw)
    assert "ground truth" not in d.info
    fig = plots.embedding_figure(
        np.zeros((space.size, 2)), allowed=d.allowed, evaluated=d.evaluated, colour=d.colour,
        colour_label=d.colour_label, coloured_name=d.coloured_name,
    )  # fmt: skip
    go.Figure(fig)  # a valid figure
    values = [o["value"] for o in space_colour_options(list(whole.values))]
    assert {"space:synflow", "space:meco"} <= set(values)
    # the job resumes where it stopped: a second start adds cells, never rescoring
    controller.start_space_scores()
    while controller.space_scores().done < whole.done + 32 and time.time() < deadline + 60:
        time.sleep(0.2)
    controller.stop_space_scores()
    again = controller.space_scores().values["synflow"]
    np.testing.assert_array_equal(again[scored], synflow[scored])
