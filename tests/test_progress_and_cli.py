"""The progress view's best cells (one row per cell, a table that fits its card), its
status texts, and the command line's progress output and run list (issue 13)."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from app import create_app, ids
from app.viewmodel import candidates_frame, progress_data
from app.views import progress
from nas_engine.data import load_dataset
from nas_engine.runner import SearchConfig, SearchSession, Snapshot
from nas_engine.search_spaces import SearchSpace, create_space
from nas_engine.storage import CandidateRecord, SQLiteStorage
from tests.app_helpers import TINY, make_controller, post_callback
from tests.engine_helpers import tiny_config

SPACE = create_space("nb201")


def _cand(seq: int, arch: str, fitness: float, oneshot: float) -> CandidateRecord:
    return CandidateRecord(
        seq=seq, arch=arch, mask_version=0, strategy="random", scores={"zico": fitness},
        fitness=fitness, oneshot=oneshot, truth=70.0 + seq % 3, created=1000.0 + seq,
    )  # fmt: skip


def _snap(
    cands: tuple[CandidateRecord, ...], *, space: SearchSpace[Any] = SPACE, **kw: Any
) -> Snapshot:
    fields: dict[str, Any] = dict(
        run_id=1, status="running", config=SearchConfig(budget=50, supernet_warmup=0),
        mask=space.full_mask(), mask_version=0, candidates=cands, events=(),
        supernet_curve=(), train_curves={}, best=None, supernet_step=0,
        candidates_per_min=0.0, message=None, updated=time.time(),
    )  # fmt: skip
    return Snapshot(**{**fields, **kw})


def _repeated(space: SearchSpace[Any] = SPACE) -> tuple[CandidateRecord, ...]:
    """Four cells, three of them evaluated twice with different one-shot estimates (a run
    stored before a run evaluated each cell once)."""
    archs = [space.to_string(space.from_index(i)) for i in (3, 17, 250, 9000)]
    fit = [90.0, 80.0, 70.0, 60.0]
    cands = [_cand(i, a, f, 40.0 + i) for i, (a, f) in enumerate(zip(archs, fit, strict=True))]
    cands += [_cand(4 + i, archs[i], fit[i] + 2.0, 60.0 + i) for i in range(3)]
    return tuple(cands)


def test_the_best_cells_show_each_cell_once_with_its_mean_and_count() -> None:
    snap = _snap(_repeated())
    d = progress_data(snap, candidates_frame(snap, SPACE), show_truth=True)
    best = d.best
    assert len(best) == 4 and best["arch"].is_unique
    assert list(best["n"]) == [2, 2, 2, 1]
    assert list(best["fitness"]) == [91.0, 81.0, 71.0, 60.0]  # mean, best first
    one = next(c for c in best.columns if c.startswith("one-shot"))
    assert list(best[one]) == [50.0, 51.0, 52.0, 43.0]  # (40 + 60) / 2, ...


def test_the_rendered_best_table_wraps_arch_strings_and_headers(tmp_path: Path) -> None:
    c = make_controller(tmp_path)
    try:
        snap = _snap(_repeated(c.space), space=c.space)
        c.snapshot = lambda: snap  # type: ignore[method-assign]  # as the engine's
        app = create_app(c)
        res = post_callback(
            app, (ids.VERSION, "data"), app.view_context.version(),
            output=f"{progress.BEST_TABLE}.children",
        )  # fmt: skip
        assert res.status_code == 200, res.get_data(as_text=True)[-1500:]
        shown = res.get_json()["response"][progress.BEST_TABLE]["children"]
        text = json.dumps(shown)
        assert "scroll-x" not in text  # the table fits: no horizontal scroll
        tbl = shown["props"]["children"][-1]
        assert tbl["type"] == "Table"
        head, *rows = tbl["props"]["children"]
        assert len(rows) == 4
        for r in rows:
            arch = r["props"]["children"][0]["props"]
            assert arch["className"] == progress.ARCH_CELL
            assert arch["style"]["overflowWrap"] == "anywhere"
        heads = head["props"]["children"]
        assert [h["props"].get("title") for h in heads][-1].startswith("evaluations")
        oneshot = next(h for h in heads if "one-shot" in json.dumps(h))
        assert oneshot["props"]["style"]["whiteSpace"] == "normal"  # wraps, never clipped
        assert oneshot["props"]["children"][1]["type"] == "Br"
    finally:
        c.close()
        c.storage.close()


# ------------------------------------------------------------------ status texts (point 11)
def test_throughput_freezes_and_a_steering_note_clears_when_the_run_finishes(
    tmp_path: Path,
) -> None:
    storage = SQLiteStorage(tmp_path / "n.db")
    cfg = tiny_config(budget=6, pace_s=0.2)
    s = SearchSession.create(storage, cfg, data=load_dataset("synthetic"))
    try:
        s.start()
        s.wait(lambda x: x.n_evaluated >= 1, timeout=120)
        s.steer("prune", 0, "none")
        assert "prune accepted" in (s.snapshot().message or "")
        done = s.wait(lambda x: x.status == "finished", timeout=120)
        assert done.message is None  # the acknowledgement does not outlive the run
        assert done.candidates_per_min > 0
        time.sleep(1.0)
        s.steer("prune", 0, "avg_pool_3x3")  # publishes a snapshot a second later
        later = s.snapshot()
        assert later.updated > done.updated
        assert later.candidates_per_min == pytest.approx(done.candidates_per_min)
    finally:
        s.close()
        storage.close()


def test_serve_says_the_status_the_reopened_run_has(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import app.serve

    c = make_controller(tmp_path, budget=3)
    try:
        c.start(strategy="random", proxy="zico", budget=3)
        c.session.wait(lambda x: x.status == "finished", timeout=120)  # type: ignore[union-attr]
    finally:
        c.close()
        c.storage.close()

    class _Server:
        def run(self) -> None:
            pass

        def close(self) -> None:
            pass

    monkeypatch.setattr(app.serve, "make_server", lambda *a, **kw: _Server())
    lines: list[str] = []
    app.serve.serve(
        db=tmp_path / "app.db", defaults={**TINY, "budget": 3}, cache_dir=tmp_path / "cache",
        layout_method="pca", echo=lines.append,
    )  # fmt: skip
    assert len(lines) == 1 and ", reopened run 1 finished" in lines[0], lines


def test_a_run_command_note_gives_way_to_the_status_another_tab_set(tmp_path: Path) -> None:
    c = make_controller(tmp_path, pace_s=0.5)
    try:
        app = create_app(c)
        vc = app.view_context
        alert = f"{ids.ALERT}.children"
        settings = {(ids.STRATEGY, "value"): "random", (ids.PROXY, "value"): "zico"}
        settings[(ids.BUDGET, "value")] = 50
        res = post_callback(app, (ids.START, "n_clicks"), 1, output=alert, state=settings)
        assert res.status_code == 200, res.get_data(as_text=True)[-1500:]
        note = res.get_json()["response"][ids.ALERT]["children"]
        assert note["props"]["children"] == "run 1 started"
        c.session.wait(lambda x: x.status == "running", timeout=60)  # type: ignore[union-attr]

        def refreshed(shown: object) -> object:
            vc.published.refresh()
            r = post_callback(
                app, (ids.VERSION, "data"), vc.version(), output=alert,
                state={(ids.ALERT, "children"): shown},
            )  # fmt: skip
            assert r.status_code in (200, 204), r.get_data(as_text=True)[-1500:]
            return None if r.status_code == 204 else r.get_json()["response"].get(ids.ALERT)

        res = post_callback(app, (ids.PAUSE, "n_clicks"), 1, output=alert)
        paused = res.get_json()["response"][ids.ALERT]["children"]
        assert paused["props"]["children"] == "pause sent to run 1"
        c.stop()  # another tab stops the run
        c.session.wait(lambda x: x.status == "stopped", timeout=60)  # type: ignore[union-attr]
        for shown in (note, paused):
            new = refreshed(shown)
            assert new is not None and new["children"]["props"]["children"] == "run 1 stopped"
        assert refreshed(new["children"]) is None  # the status it says: left as it is
        other = {"props": {"children": "prune accepted", "className": "ok"}, "type": "Div"}
        assert refreshed(other) is None  # a steering note is not a run command's
    finally:
        c.close()
        c.storage.close()


# ------------------------------------------------------------------ the CLI (point 14)
def test_a_search_logged_to_a_file_redraws_its_bar_rarely(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from nas_engine.cli import main
    from tests.engine_helpers import tiny_overrides

    args = ["search", "--dataset", "synthetic", "--db", str(tmp_path / "c.db"), "--budget", "8",
            "--strategy", "random", "--proxy", "zico",
            *tiny_overrides(pace_s=0.3)]  # fmt: skip
    t0 = time.monotonic()
    r = CliRunner().invoke(main, args)  # not a terminal, like a log file
    took = time.monotonic() - t0
    assert r.exit_code == 0, r.output
    draws = r.stderr.count("\r")  # each redraw starts with one
    assert took > 2.0  # the loop polled ten times or more
    assert 2 <= draws <= 3 + took / 5, r.stderr  # the first, one per 5 s, the last
    assert "8/8" in r.stderr  # the last state is drawn


def test_nasnav_runs_has_a_header_and_times(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from nas_engine.cli import main

    storage = SQLiteStorage(tmp_path / "r.db")
    storage.create_run(tiny_config(budget=5).to_dict())
    storage.close()
    r = CliRunner().invoke(main, ["runs", "--db", str(tmp_path / "r.db")])
    assert r.exit_code == 0, r.output
    head, row = r.output.splitlines()
    assert head.split()[:6] == ["run", "status", "cands/budget", "created", "updated", "strategy"]
    today = time.strftime("%Y-%m-%d")
    assert row.split()[0] == "1" and row.count(today) == 2 and "0/5" in row


def test_the_best_table_lists_long_arch_strings_below_its_rows() -> None:
    from types import SimpleNamespace

    from nas_engine.cli.search import _best_table
    from nas_engine.runner.fidelity import unknown

    cands = _repeated()[:4]
    none = unknown("4 cells estimated so far, 10 needed")
    cfg = SearchConfig(dataset="synthetic", proxy="zico", strategy="random")
    snap = SimpleNamespace(candidates=cands, config=cfg, fidelity=none, search_fidelity=none)
    lines = _best_table(snap).splitlines()
    rows = lines[1:5]
    assert len({len(r) for r in lines[:5]}) == 1  # the rows are aligned with the header
    assert all(len(r) < 80 for r in lines[:5]) and "arch" not in lines[0]
    assert lines[5].split() == ["#", "arch"]
    assert [ln.split() for ln in lines[6:10]] == [[r.split()[0], c.arch] for r, c in zip(
        rows, cands, strict=True)]  # fmt: skip


def test_the_readme_command_section_says_how_to_get_nasnav_on_path() -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme.split("## Command line", 1)[1].split("```bash", 1)[0]
    assert ". .venv/bin/activate" in section and ".venv/bin/nasnav" in section
    assert "make run" in section and "make test" in section


# ------------------------------------------------------------------ units in the hover (point 9)
def test_the_embedding_hover_shows_the_raw_value_with_its_unit_and_the_rank() -> None:
    from app import plots
    from app.viewmodel import embedding_data, inspector_data

    archs = [SPACE.to_string(SPACE.from_index(i)) for i in (3, 17, 250)]
    cands = tuple(
        dataclasses.replace(_cand(i, a, 90.0 - i, 50.0), scores={"flops": f, "params": p})
        for i, (a, f, p) in enumerate(zip(archs, [13.74, 2.5, 40.0], [1.53, 0.2, 3.0],
                                          strict=True))
    )  # fmt: skip
    snap = _snap(cands)
    df = candidates_frame(snap, SPACE)
    d = embedding_data(snap, df, SPACE, colour_by="flops", scale="rank")
    assert d.hover[0] == "flops 13.74 M (rank 0.5)" and d.hover[2] == "flops 40 M (rank 1)"
    p = embedding_data(snap, df, SPACE, colour_by="params", scale="linear")
    assert p.hover[0] == "params 1.53 M"  # linear: the colour is the raw value
    xy = np.zeros((SPACE.size, 2))
    fig = plots.embedding_figure(
        xy, allowed=d.allowed, evaluated=d.evaluated, colour=d.colour,
        colour_label=d.colour_label, hover=d.hover,
    )  # fmt: skip
    trace = fig["data"][plots.EVALUATED_TRACE]
    assert trace["text"][0] == f"{archs[0]}<br>flops 13.74 M (rank 0.5)"
    assert "(rank):" not in trace["hovertemplate"]
    # the inspector's rows say the cost proxies count millions
    rows = {r["metric"]: r for r in inspector_data(df, SPACE, archs[0], snap=snap).rows}
    assert rows["flops"]["note"] == "millions" and rows["flops"]["value"] == 13.74
    assert rows["params"]["note"] == "millions" and "note" not in rows["fitness"]


def test_the_exported_json_says_which_network_each_figure_is_for(tmp_path: Path) -> None:
    c = make_controller(tmp_path, train_C=16, train_N=2)  # proxies: C 4, N 1 (TINY)
    try:
        arch = c.space.to_string(c.space.from_index(5))
        extra = {"oneshot": 40.0, "trained_acc": None, "truth": 71.0}
        _, spec = c.export_spec(arch, scores={"params": 0.07, "zico": 3.0}, extra=extra)
    finally:
        c.close()
        c.storage.close()
    assert spec["network"]["C"] == 16 and spec["network"]["N"] == 2
    assert spec["scores_network"]["C"] == 4 and spec["scores_network"]["N"] == 1
    about = spec["about"]
    assert about["network"] == "the network this file describes (C 16, N 2)"
    assert "computed on `scores_network` (C 4, N 1)" in about["scores"]
    assert "params and flops in millions" in about["scores"]
    assert "supernet" in about["oneshot"] and "`network`" in about["trained_acc"]
    assert set(about) == {"network", "scores", "oneshot", "trained_acc", "truth"}
    json.dumps(spec)


@pytest.mark.browser
@pytest.mark.slow
def test_the_best_table_fits_its_card_in_a_browser(dash_duo: Any, tmp_path: Path) -> None:
    from dash.testing.wait import until

    from tests.test_app_browser import PACE_S, _serve, _start

    served = _serve(dash_duo, make_controller(tmp_path, pace_s=PACE_S))
    duo, controller = next(served)
    _start(duo, controller, min_n=4)
    controller.pause()
    until(lambda: len(duo.find_elements(f"#{progress.BEST_TABLE} td.arch-wrap")) >= 4, 30)
    sizes = duo.driver.execute_script(
        """const box = document.getElementById(arguments[0]);
        const t = box.querySelector('table');
        return {table: t.scrollWidth, box: box.clientWidth,
                clipped: [...t.querySelectorAll('th, td')]
                    .filter(c => c.scrollWidth > c.clientWidth + 1).length};""",
        progress.BEST_TABLE,
    )
    assert sizes["table"] <= sizes["box"], sizes  # no horizontal scroll
    assert sizes["clipped"] == 0, sizes  # no header or cell clipped
    next(served, None)  # no console errors; closes the controller


def test_a_run_without_ground_truth_has_no_truth_column_in_the_best_cells() -> None:
    import pandas as pd

    from app.viewmodel.views import progress_data

    rows = {"arch": ["a", "b"], "fitness": [2.0, 1.0], "oneshot": [10.0, 11.0],
            "trained_acc": [float("nan")] * 2}  # fmt: skip
    without = progress_data(None, pd.DataFrame({**rows, "truth": [float("nan")] * 2}),
                            show_truth=True)  # fmt: skip
    assert "truth" not in without.best.columns
    with_truth = progress_data(None, pd.DataFrame({**rows, "truth": [90.0, 91.0]}),
                               show_truth=True)  # fmt: skip
    assert with_truth.best["truth"].tolist() == [90.0, 91.0]
    hidden = progress_data(None, pd.DataFrame({**rows, "truth": [90.0, 91.0]}),
                           show_truth=False)  # fmt: skip
    assert "truth" not in hidden.best.columns


def test_the_progress_legend_sits_above_the_plot_and_fits() -> None:
    import pandas as pd

    from app import plots
    from app.viewmodel.views import ProgressData

    df = pd.DataFrame({"seq": [0, 1, 2], "fitness": [1.0, 3.0, 2.0],
                       "oneshot": [10.0, 11.0, 12.0], "truth": [float("nan")] * 3})  # fmt: skip
    fig = plots.progress_figure(df, oneshot_note="not informative yet",
                                oneshot_informative=False)  # fmt: skip
    legend, margin = fig["layout"]["legend"], fig["layout"]["margin"]
    assert legend["yanchor"] == "bottom" and legend["y"] >= 1 and margin["t"] >= 45
    assert all(len(t["name"]) <= 45 for t in fig["data"])  # one row in a half-width card
    assert "oneshot_short" in ProgressData.__dataclass_fields__
