"""Issue #13's menus and classroom mode through the real callbacks: the metric menus offer
what the run has, a choice it cannot draw says so on the plot, the comparison's default
axes differ, the embedding's legend reads, and hiding ground truth is coherent."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
from dash.testing.errors import TestingTimeoutError
from dash.testing.wait import until

from app import create_app, ids, plots
from app.viewmodel import candidates_frame, default_axes
from app.views import compare, embedding
from tests import test_app_browser as browser
from tests.app_helpers import make_controller, post_callback


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A finished run of 8 candidates computing two proxies (params, naswot = fitness),
    without a supernet or a benchmark, and its app with the layout ready."""
    tmp = tmp_path_factory.mktemp("menus")
    c = make_controller(tmp, proxies=("params",), proxy="naswot", supernet=False)
    try:
        c.start(strategy="random", proxy="naswot", budget=8)
        c.session.wait(lambda s: s.status == "finished", timeout=180)
        app = create_app(c)
        app.view_context.published.refresh()
        for _ in range(600):
            if c.layout()[0] is not None:
                break
            time.sleep(0.05)
        yield app
    finally:
        c.close()
        c.storage.close()


def _answer(
    app: Any, target: tuple[str, str], value: Any, *, output: str, values: dict[Any, Any]
) -> Any:
    """The response of the callback writing ``output``, the other inputs from ``values``."""
    given = {(ids.VERSION, "data"): app.view_context.version(), **values}
    res = post_callback(app, target, value, output=output, values=given)
    assert res.status_code == 200, res.get_data(as_text=True)[-1500:]
    return res.get_json()["response"]


def _embed(app: Any, colour_by: str, hide: list[str] | None = None) -> dict[str, Any]:
    return _answer(
        app, (embedding.COLOUR_BY, "value"), colour_by, output="embedding.figure",
        values={(embedding.COLOUR_SCALE, "value"): "rank", (ids.HIDE_TRUTH, "value"): hide},
    )  # fmt: skip


def _compare(
    app: Any, x: str | None, y: str | None, hide: list[str] | None = None
) -> dict[str, Any]:
    return _answer(
        app, (compare.CMP_X, "value"), x, output="compare-scatter.figure",
        values={
            (compare.CMP_Y, "value"): y, (compare.CMP_METHOD, "value"): "spearman",
            (compare.CMP_K, "value"): 5, (ids.HIDE_TRUTH, "value"): hide,
        },
    )  # fmt: skip


def _values(options: list[dict[str, Any]], *, enabled: bool = True) -> list[str]:
    return [o["value"] for o in options if bool(o.get("disabled")) != enabled]


def _notes(figure: dict[str, Any]) -> str:
    return " | ".join(a["text"] for a in figure["layout"].get("annotations", []))


# ---------------------------------------------------------------- point 2: the menus
def test_colour_by_offers_what_the_run_has_and_a_stale_choice_says_so(finished) -> None:
    out = _embed(finished, "fisher")
    options = out[embedding.COLOUR_BY]["options"]
    metrics = [v for v in _values(options) if not v.startswith("space:")]
    assert metrics == ["params", "naswot", "fitness"]  # no other proxy, one-shot or truth
    # the whole-space colourings (offered before the job runs); not scored yet: it says so
    assert "space:synflow" in _values(options)
    notes = _notes(_embed(finished, "space:synflow")[embedding.EMBEDDING]["figure"])
    assert notes == "all cells · synflow: not scored yet (press 'score all cells')"
    assert _values(options, enabled=False) == ["fisher"]  # kept, disabled, labelled
    assert "not computed in this run" in next(o["label"] for o in options if o.get("disabled"))
    figure = out[embedding.EMBEDDING]["figure"]
    assert "fisher: not computed in this run" in _notes(figure)
    assert "colours show fitness" in _notes(figure)
    # a metric the run has: no note, nothing disabled
    out = _embed(finished, "params")
    assert _notes(out[embedding.EMBEDDING]["figure"]) == ""
    assert _values(out[embedding.COLOUR_BY]["options"], enabled=False) == []


def test_comparison_axes_offer_what_the_run_has_and_an_axis_it_cannot_draw_says_so(
    finished,
) -> None:
    out = _compare(finished, "fisher", "truth")
    for axis in (compare.CMP_X, compare.CMP_Y):
        assert _values(out[axis]["options"])[:3] == ["params", "naswot", "fitness"]
        assert len(_values(out[axis]["options"])) == 3
    assert _values(out[compare.CMP_X]["options"], enabled=False) == ["fisher"]
    assert _values(out[compare.CMP_Y]["options"], enabled=False) == ["truth"]
    notes = _notes(out[compare.CMP_SCATTER]["figure"])
    assert "fisher: not computed in this run" in notes
    assert "ground truth (%): this run has no benchmark" in notes
    out = _compare(finished, "params", "fitness")
    assert _notes(out[compare.CMP_SCATTER]["figure"]) == ""
    assert out[compare.CMP_SCATTER]["figure"]["data"]  # the scatter itself


# ------------------------------------------------- point 8: the comparison's defaults
def _with_truth(snap: Any) -> Any:
    """``snap`` as if a benchmark were loaded: a spec in the config, truth per candidate."""
    cands = tuple(dataclasses.replace(c, truth=50.0 + c.seq) for c in snap.candidates)
    config = dataclasses.replace(snap.config, benchmark="csv:bench.csv")
    return dataclasses.replace(snap, config=config, candidates=cands)


def test_the_comparison_defaults_to_two_different_metrics(finished) -> None:
    out = _compare(finished, None, None)  # a new tab: nothing chosen yet
    x, y = out[compare.CMP_X]["value"], out[compare.CMP_Y]["value"]
    assert (x, y) == ("fitness", "params")  # not naswot: fitness is naswot
    assert out[compare.CMP_SCATTER]["figure"]["data"]
    assert "params" in out[compare.CMP_SCATTER]["figure"]["layout"]["yaxis"]["title"]["text"]
    # a chosen pair is left alone
    out = _compare(finished, "naswot", "fitness")
    assert "value" not in out[compare.CMP_X] and "value" not in out[compare.CMP_Y]
    # with ground truth: fitness against it, unless it is hidden
    snap = _with_truth(finished.view_context.controller.snapshot())
    df = candidates_frame(snap, finished.view_context.space)
    assert default_axes(snap, df) == ("fitness", "truth")
    assert default_axes(snap, df, hide_truth=True) == ("fitness", "params")
    # a one-shot fitness is not compared with the one-shot estimate
    oneshot = dataclasses.replace(
        snap.config, strategy="supernet_evolution", proxies=(), supernet=True
    )
    cands = tuple(dataclasses.replace(c, oneshot=c.fitness) for c in snap.candidates)
    snap = dataclasses.replace(snap, config=oneshot, candidates=cands)
    x, y = default_axes(snap, candidates_frame(snap, finished.view_context.space))
    assert x == "fitness" and y not in ("fitness", "oneshot", None)


# ------------------------------------------------------ point 7: the embedding legend
def test_the_embedding_legend_tells_the_cells_that_are_not_evaluated_apart() -> None:
    n = 12
    evaluated = pd.DataFrame({"index": [0, 1], "arch": ["a", "b"]})
    fig = plots.embedding_figure(
        np.arange(2 * n, dtype=float).reshape(n, 2), allowed=np.arange(n) % 3 != 0,
        evaluated=evaluated, colour=np.array([0.2, 0.8]), colour_label="fitness (rank)",
        in_budget=np.arange(n) % 2 == 0,
    )  # fmt: skip
    go.Figure(fig)  # a valid figure
    base = {t["name"]: t["marker"] for t in fig["data"] if t["name"] != "evaluated"}
    assert set(base) == {"excluded by mask", "allowed by mask", "outside the budget"}
    assert len({m["color"] for m in base.values()}) == 3  # three hues, not two faint greys
    assert len({m["symbol"] for m in base.values()}) == 3  # and three shapes
    assert all(m["opacity"] >= 0.3 for m in base.values())
    assert fig["layout"]["legend"]["itemsizing"] == "constant"  # legend symbols readable
    assert fig["data"][plots.EVALUATED_TRACE]["name"] == "evaluated"


# ------------------------------------------------- point 15: classroom mode, coherent
def _classroom(app: Any, target: tuple[str, str], value: Any, **given: Any) -> dict[str, Any]:
    values = {(ids.HIDE_TRUTH, "value"): given.get("hide"), (ids.REVEAL_TRUTH, "n_clicks"): 0}
    res = post_callback(app, target, value, output=f"{ids.HIDE_TRUTH}.options", values=values)
    assert res.status_code == 200, res.get_data(as_text=True)[-1500:]
    return res.get_json()["response"]


def test_without_ground_truth_the_box_is_disabled_and_says_why(finished) -> None:
    out = _classroom(finished, (ids.HIDE_TRUTH, "value"), ["hide"], hide=["hide"])
    (opt,) = out[ids.HIDE_TRUTH]["options"]
    assert opt["disabled"] is True
    assert "no ground truth" in opt["label"]["props"]["title"]
    assert out[ids.HIDE_TRUTH]["value"] == []  # nothing to hide: not ticked
    assert out[ids.REVEAL_TRUTH]["disabled"] is True


@pytest.fixture()
def with_truth(finished, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The finished run's app, its published snapshot as if a benchmark were loaded."""
    published = finished.view_context.published
    key, snap = published.get()
    monkeypatch.setattr(published, "get", lambda: (f"{key}-truth", _with_truth(snap)))
    return finished


def test_reveal_unticks_the_box_and_every_view_hides_or_shows_truth_alike(with_truth) -> None:
    app = with_truth
    ticked = _classroom(app, (ids.HIDE_TRUTH, "value"), ["hide"], hide=["hide"])
    (opt,) = ticked[ids.HIDE_TRUTH]["options"]
    assert not opt["disabled"] and "every view" in opt["label"]["props"]["title"]
    assert ticked[ids.REVEAL_TRUTH]["n_clicks"] == 0  # hidden until the next Reveal
    assert ticked[ids.REVEAL_TRUTH]["disabled"] is False
    assert "value" not in ticked[ids.HIDE_TRUTH]  # the box stays ticked
    # hidden: no view offers ground truth, and a chosen truth axis says it is hidden
    out = _embed(app, "truth", hide=["hide"])
    assert "truth" not in _values(out[embedding.COLOUR_BY]["options"])
    assert "ground truth (%): hidden (classroom mode)" in _notes(
        out[embedding.EMBEDDING]["figure"]
    )
    out = _compare(app, "fitness", "truth", hide=["hide"])
    assert "truth" not in _values(out[compare.CMP_X]["options"])
    assert "hidden (classroom mode)" in _notes(out[compare.CMP_SCATTER]["figure"])
    assert "truth" not in out[compare.CMP_HEATMAP]["figure"]["data"][0]["x"]
    # Reveal: the box is un-ticked, Reveal has nothing left to show
    revealed = _classroom(app, (ids.REVEAL_TRUTH, "n_clicks"), 1, hide=["hide"])
    assert revealed[ids.HIDE_TRUTH]["value"] == []
    assert revealed[ids.REVEAL_TRUTH]["n_clicks"] == 0
    assert revealed[ids.REVEAL_TRUTH]["disabled"] is True
    # shown: every view offers it again
    out = _embed(app, "truth", hide=[])
    assert "truth" in _values(out[embedding.COLOUR_BY]["options"])
    assert _notes(out[embedding.EMBEDDING]["figure"]) == ""
    out = _compare(app, "fitness", "truth", hide=[])
    assert "truth" in _values(out[compare.CMP_Y]["options"])
    assert "truth" in out[compare.CMP_HEATMAP]["figure"]["data"][0]["x"]


# ------------------------------------------------------------ the same in a browser
@pytest.fixture()
def page(dash_duo: Any, tmp_path: Path) -> Iterator[Any]:
    """The app on a fresh controller in headless Chromium (see ``test_app_browser``)."""
    yield from browser._serve(dash_duo, make_controller(tmp_path, pace_s=browser.PACE_S))


@pytest.mark.browser
@pytest.mark.slow
def test_in_the_browser_the_menus_defaults_and_classroom_box_hold(page: Any) -> None:
    """Dash's dropdown keeps a disabled stale choice (it clears a value its options
    lose), the comparison fills in its two axes itself, and the box is disabled."""
    duo, controller = page
    browser._start(duo, controller, min_n=3)
    until(lambda: "fitness" in duo.find_element(f"#{compare.CMP_X}").text, timeout=30)
    y = duo.find_element(f"#{compare.CMP_Y}").text
    assert y and "fitness" not in y and "(auto)" not in y
    box = duo.find_element(f"#{ids.HIDE_TRUTH} input")
    until(lambda: box.get_attribute("disabled") is not None, timeout=20)
    assert duo.find_element(f"#{ids.REVEAL_TRUTH}").get_attribute("disabled") is not None
    notes = (
        f"const g=document.querySelector('#{embedding.EMBEDDING} .js-plotly-plot');"
        "return g && g.layout.annotations ? g.layout.annotations.map(a => a.text) : [];"
    )

    def stale_choice_noted() -> bool:
        return "fisher: not computed" in " ".join(duo.driver.execute_script(notes))

    # the forced value can race a menu refresh computed just before it (the refresh then
    # drops it, as Dash drops a value its options lose): set it again until it holds
    for _ in range(6):
        duo.driver.execute_script(
            f"window.dash_clientside.set_props('{embedding.COLOUR_BY}', {{value: 'fisher'}});"
        )
        try:
            until(stale_choice_noted, 10)
            break
        except TestingTimeoutError:
            continue
    assert stale_choice_noted()
    n = controller.snapshot().n_evaluated
    until(lambda: controller.snapshot().n_evaluated >= n + 2, timeout=60)  # new versions
    assert "fisher: not computed" in duo.find_element(f"#{embedding.COLOUR_BY}").text
    assert "fisher: not computed" in " ".join(duo.driver.execute_script(notes))
