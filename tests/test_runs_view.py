"""Stored runs compared (the Runs card): curves, the settings table, the view."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import pytest

from app.plots.runs import runs_figure
from app.viewmodel.runs import compare_runs, default_runs, fitness_kind
from nas_engine.data import load_dataset
from nas_engine.runner import SearchSession
from nas_engine.storage import CandidateRecord, SQLiteStorage
from tests.engine_helpers import tiny_config


def _tiny(**kw: Any) -> Any:
    return tiny_config(**{"supernet": False, "proxies": ("params", "synflow"),
                          "proxy": "synflow", **kw})  # fmt: skip


def _finished_run(storage: SQLiteStorage, **kw: Any) -> int:
    """A finished tiny run (no supernet) made by a real session."""
    s = SearchSession.create(storage, _tiny(**kw), data=load_dataset("synthetic"))
    try:
        s.start()
        snap = s.wait(lambda x: x.status in ("finished", "failed"), timeout=120)
    finally:
        s.close()
    assert snap.status == "finished"
    return s.run_id


def _stored_run(
    storage: SQLiteStorage, fitness: list[float], truth: list[float | None], **kw: Any
) -> int:
    """A run written straight to the database (hand-checked values)."""
    run_id = storage.create_run(dataclasses.asdict(_tiny(**kw)))
    for i, (f, t) in enumerate(zip(fitness, truth, strict=True)):
        storage.add_candidate(
            run_id,
            CandidateRecord(seq=i, arch=f"a{i}", mask_version=0, strategy="evolution",
                            scores={}, fitness=f, truth=t),
        )  # fmt: skip
    storage.set_status(run_id, "finished")
    return run_id


@pytest.fixture(scope="module")
def two_real_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[SQLiteStorage, int, int]:
    storage = SQLiteStorage(tmp_path_factory.mktemp("runs") / "r.db")
    a = _finished_run(storage, budget=3)
    b = _finished_run(storage, budget=4, seed=1, prune=((0, "none"),))
    return storage, a, b


def test_same_fitness_runs_compare_on_best_fitness_so_far(
    two_real_runs: tuple[SQLiteStorage, int, int],
) -> None:
    storage, a, b = two_real_runs
    cmp = compare_runs(storage, [a, b])
    assert cmp.metric == "fitness" and cmp.note == ""
    assert list(cmp.curves["run"].unique()) == [f"run {a}", f"run {b}"]
    for run_id in (a, b):
        fits = [c.fitness for c in sorted(storage.candidates(run_id), key=lambda c: c.seq)]
        d = cmp.curves[cmp.curves["run"] == f"run {run_id}"]
        assert d["n"].tolist() == list(range(1, len(fits) + 1))
        assert d["best"].tolist() == [max(fits[: i + 1]) for i in range(len(fits))]
    t = cmp.table.set_index("run")
    assert t.loc[a, "budget"] == 3 and t.loc[b, "budget"] == 4
    assert t.loc[a, "candidates"] == 3 and t.loc[b, "candidates"] == 4
    assert t.loc[a, "pruned"] == 0 and t.loc[b, "pruned"] == 1
    assert t.loc[b, "seed"] == 1 and t.loc[a, "status"] == "finished"
    assert t.loc[a, "fitness"] == "proxy synflow" and t.loc[a, "dataset"] == "synthetic"
    assert math.isnan(t.loc[a, "best truth"])
    fig = runs_figure(cmp.curves, metric=cmp.metric)
    assert [tr["name"] for tr in fig["data"]] == [f"run {a}", f"run {b}"]
    assert fig["layout"]["yaxis"]["title"]["text"] == "best fitness so far"


def test_different_fitness_compares_ground_truth_or_says_it_cannot(tmp_path: Path) -> None:
    storage = SQLiteStorage(tmp_path / "r.db")
    a = _stored_run(storage, [1.0, 3.0, 2.0], [0.5, 0.4, 0.9])
    b = _stored_run(storage, [0.2, 0.1], [0.7, 0.8], proxy="params")
    c = _stored_run(storage, [5.0], [None], strategy="supernet_evolution", supernet=True)
    assert fitness_kind(storage.get_run(c).config) == "one-shot accuracy"
    same = compare_runs(storage, [a, b])
    assert same.metric == "truth" and "proxy synflow" in same.note
    assert same.curves["best"].tolist() == [0.5, 0.5, 0.9, 0.7, 0.8]
    t = same.table.set_index("run")
    assert t.loc[a, "best fitness"] == 3.0 and t.loc[a, "best truth"] == 0.9
    hidden = compare_runs(storage, [a, b], show_truth=False)
    assert hidden.metric == "fitness" and "not on one scale" in hidden.note
    assert hidden.table["best truth"].isna().all()
    no_truth = compare_runs(storage, [a, c])
    assert no_truth.metric == "fitness" and "one-shot accuracy" in no_truth.note
    assert default_runs(storage.list_runs(), space="nb201", latest=2) == [b, c]
    assert runs_figure(compare_runs(storage, []).curves)["data"] == []


def test_the_runs_card_says_what_start_does_and_compares_the_stored_runs(
    tmp_path: Path,
) -> None:
    from app import create_app
    from app.views import runs as view
    from tests.app_helpers import make_controller, post_callback

    c = make_controller(tmp_path, supernet=False, proxies=("params", "synflow"),
                        proxy="synflow", budget=3)  # fmt: skip
    try:
        assert c.start(strategy="evolution", proxy="synflow", budget=3) == "run 1 started"
        c.session.wait(lambda s: s.status == "finished", timeout=120)
        msg = c.start(strategy="random", proxy="synflow", budget=2)
        assert msg == (
            "run 2 started with a fresh mask; run 1 (finished) stays stored: compare it under Runs"
        )
        c.session.wait(lambda s: s.status == "finished", timeout=120)
        app = create_app(c)
        res = post_callback(app, (view.RUNS_PICK, "value"), None, output=view.RUNS_GRAPH)
        assert res.status_code == 200
        out = res.get_json()["response"]
        assert out[view.RUNS_LIVE]["children"] == (
            "Live: run 2 (finished). Start opens a new run with a fresh mask; run 2 stays "
            "stored and comparable here."
        )
        assert out[view.RUNS_PICK]["value"] == [1, 2]
        labels = [o["label"] for o in out[view.RUNS_PICK]["options"]]
        assert labels == ["run 2 · random · finished (live)", "run 1 · evolution · finished"]
        assert [t["name"] for t in out[view.RUNS_GRAPH]["figure"]["data"]] == ["run 1", "run 2"]
        rows = out[view.RUNS_TABLE]["children"]["props"]["children"]
        assert len(rows) == 3  # header + two runs
        cells = [td["props"]["children"] for td in rows[2]["props"]["children"]]
        assert cells[:4] == ["2", "finished", "random", "proxy synflow"]
        one = post_callback(app, (view.RUNS_PICK, "value"), [1], output=view.RUNS_GRAPH)
        figure = one.get_json()["response"][view.RUNS_GRAPH]["figure"]
        assert [t["name"] for t in figure["data"]] == ["run 1"]
        bad = post_callback(app, (view.RUNS_PICK, "value"), "1; DROP", output=view.RUNS_GRAPH)
        assert bad.status_code == 200
        assert "list of at most" in bad.get_json()["response"][view.RUNS_NOTE]["children"]
    finally:
        c.close()
        c.storage.close()


def test_a_stored_run_is_viewed_and_a_new_run_copies_its_settings_and_mask(
    tmp_path: Path,
) -> None:
    from app import create_app, ids
    from app.views import runs as view
    from tests.app_helpers import make_controller, post_callback

    c = make_controller(tmp_path, supernet=False, proxies=("params", "synflow"),
                        proxy="synflow", budget=3)  # fmt: skip
    try:
        c.start(strategy="random", proxy="synflow", budget=3)
        c.session.wait(lambda s: s.status == "finished", timeout=120)
        c.steer("prune", 0, "none")
        c.steer("pin", 2, "nor_conv_3x3")
        mask1 = c.snapshot().mask
        c.start(strategy="evolution", proxy="synflow", budget=2)
        c.session.wait(lambda s: s.status == "finished", timeout=120)
        app = create_app(c)

        def click(button: str, run_id: Any) -> Any:
            res = post_callback(app, (button, "n_clicks"), 1, output=ids.ALERT,
                                state={(view.RUNS_ONE, "value"): run_id})  # fmt: skip
            assert res.status_code == 200
            return res.get_json()["response"][ids.ALERT]["children"]["props"]["children"]

        assert click(view.RUNS_VIEW, 1) == "run 1 opened (finished, read-only)"
        snap = c.snapshot()
        assert snap.run_id == 1 and snap.status == "finished" and snap.n_evaluated == 3
        assert click(view.RUNS_VIEW, 1) == "run 1 is already open"
        assert click(view.RUNS_VIEW, 9) == "no run 9 of the nb201 space is stored"
        assert click(view.RUNS_FORK, 1) == (
            "run 3 started from run 1's settings and mask (pruned ops: 1, pinned edges: 1)"
        )
        snap = c.session.wait(lambda s: s.status == "finished", timeout=120)
        assert snap.run_id == 3 and snap.mask == mask1
        cfg = snap.config
        assert (cfg.strategy, cfg.budget, cfg.proxy) == ("random", 3, "synflow")
        assert (2, "nor_conv_3x3") in cfg.pin and (0, "none") in cfg.prune
        assert c.open_run(2) == "run 2 opened (finished, read-only)"
        assert [r.id for r in c.stored_runs()] == [1, 2, 3]
    finally:
        c.close()
        c.storage.close()


def test_viewing_another_run_pauses_a_running_one_and_says_so(tmp_path: Path) -> None:
    from tests.app_helpers import make_controller

    c = make_controller(tmp_path, supernet=False, proxies=("params", "synflow"),
                        proxy="synflow", budget=2, pace_s=0.5)  # fmt: skip
    try:
        c.start(strategy="random", proxy="synflow", budget=2)
        c.session.wait(lambda s: s.status == "finished", timeout=120)
        c.start(strategy="random", proxy="synflow", budget=400)
        c.session.wait(lambda s: s.status == "running", timeout=60)
        assert c.open_run(1) == (
            "run 1 opened (finished, read-only); run 2 was running and is paused"
        )
        assert c.storage.get_run(2).status == "paused" and c.snapshot().run_id == 1
        assert c.open_run(2) == "run 2 opened (paused, read-only); Resume continues it"
    finally:
        c.close()
        c.storage.close()


def test_a_viewed_run_is_read_only_until_it_is_resumed(tmp_path: Path) -> None:
    from app.controller import InputError
    from tests.app_helpers import make_controller

    c = make_controller(tmp_path, supernet=False, proxies=("params", "synflow"),
                        proxy="synflow", budget=40, pace_s=0.2)  # fmt: skip
    try:
        c.start(strategy="random", proxy="synflow", budget=40)
        c.session.wait(lambda s: s.n_evaluated >= 1, timeout=120)
        c.pause()
        c.session.wait(lambda s: s.status == "paused", timeout=60)
        c.start(strategy="random", proxy="synflow", budget=40)  # continues run 1
        c.stop()
        c.session.wait(lambda s: s.status == "stopped", timeout=60)
        c.new_run_from(1)  # run 2 is live
        assert c.open_run(1).startswith("run 1 opened (paused, read-only)")
        before = (c.snapshot().mask_version, len(c.snapshot().events))
        arch = c.snapshot().candidates[0].arch
        refusals = {
            "steer": lambda: c.steer("prune", 0, "none"),
            "budget": lambda: c.set_resource_budget(max_params=1.0),
            "aids": lambda: c.set_aids(warmup=4, move_p=None),
            "train": lambda: c.train(arch),
        }
        for act in refusals.values():
            with pytest.raises(InputError, match="run 1 is open to view"):
                act()
        assert (c.snapshot().mask_version, len(c.snapshot().events)) == before
        assert c.snapshot().training is None and c.snapshot().status == "paused"
        c.resume()
        assert c.steer("prune", 0, "none").startswith("prune accepted")
    finally:
        c.close()
        c.storage.close()
