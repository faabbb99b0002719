"""The real app in headless Chromium (dash_duo). Each test ends with no console errors.

Set ``NASNAV_SCREENSHOTS_DIR`` to keep screenshots of each view (the README's come from
here: ``NASNAV_SCREENSHOTS_DIR=docs/screenshots make test``).
"""

from __future__ import annotations

import itertools
import os
import socket
from pathlib import Path

import pytest
from dash.testing.wait import until

from app import create_app, ids
from app.views import embedding, graph, inspector, progress
from tests.app_helpers import make_controller, make_macro_controller

pytestmark = [pytest.mark.browser, pytest.mark.slow]
SHOTS = os.environ.get("NASNAV_SCREENSHOTS_DIR")
#: The window the README's screenshots are taken in (px): the width the page is made for.
SHOTS_WINDOW = (1280, 1100)
#: The engine's pace in these tests: a candidate at most every half second leaves the CPU
#: to the page and the browser. At full speed the engine takes a core, and every candidate
#: rebuilds the page's figures; three of these tests used 77 CPU seconds unpaced and 34
#: paced (``/usr/bin/time``, one run each on a loaded machine).
PACE_S = 0.5


def _chip(edge: int, op: str) -> str:
    return f'button[id*=\'"edge":{edge}\'][id*=\'"op":"{op}"\']'


@pytest.fixture
def served(dash_duo, tmp_path: Path):
    if SHOTS:  # README screenshots: the embedded default data and the cached UMAP layout
        controller = make_controller(tmp_path, dataset="digits", proxy_C=8, proxy_N=1)
        controller.layout_method = "umap"
        controller.cache_dir = Path(__file__).resolve().parents[1] / "data" / "cache"
    else:
        controller = make_controller(tmp_path, pace_s=PACE_S)
    yield from _serve(dash_duo, controller)


_PORTS = itertools.count()


def _port() -> int:
    """A free port of this test process's own, below Linux's ephemeral range (32768 and
    up): dash_duo counts ports from 58050 in every process, so two xdist workers shared
    them, and a port up there can be held by any outgoing connection (chromedriver's
    included), which failed a server start with "Address already in use"."""
    worker = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
    while True:
        port = 20050 + 200 * worker + next(_PORTS)
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:  # in use: take the next one
                continue
        return port


def _serve(dash_duo, controller):
    """Serve the app on ``controller``; after the test, no console errors, then close."""
    app = create_app(controller, poll_ms=400)
    dash_duo.driver.set_window_size(*(SHOTS_WINDOW if SHOTS else (1500, 1100)))
    # dash waits 3 s for the first answer, then kills and restarts the server: too short
    # on 2 loaded cores, where the first request builds the whole page
    dash_duo.start_server(app, port=_port(), start_timeout=30)
    dash_duo.wait_for_element(f"#{ids.STATUS}")
    yield dash_duo, controller
    assert dash_duo.get_logs() == [], "browser console errors"
    controller.close()
    controller.storage.close()


def _start(duo, controller, *, budget: str = "400", min_n: int = 3):
    budget_box = duo.find_element(f"#{ids.BUDGET}")
    budget_box.clear()
    budget_box.send_keys(budget)
    duo.find_element(f"#{ids.START}").click()
    until(lambda: controller.session is not None, timeout=20)
    until(lambda: controller.snapshot().n_evaluated >= min_n, timeout=120)
    duo.wait_for_contains_text(f"#{ids.STATUS}", "running", timeout=20)


def _shot(duo, index: int, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        width = duo.driver.execute_script("return window.innerWidth")
        assert width == SHOTS_WINDOW[0], (
            f"screenshots are taken {SHOTS_WINDOW[0]} px wide, not {width}"
        )
        el = duo.find_elements(".card")[index]
        duo.driver.execute_script("arguments[0].scrollIntoView();", el)
        el.screenshot(str(Path(SHOTS) / f"{name}.png"))


def test_load_start_and_watch_progress(served) -> None:
    duo, controller = served
    duo.wait_for_contains_text(f"#{ids.STATUS}", "no run yet")
    assert len(duo.find_elements(".chip")) == 30  # 6 edges × 5 ops
    _start(duo, controller, min_n=3)
    first = controller.snapshot().n_evaluated
    until(lambda: controller.snapshot().n_evaluated >= first + 3, timeout=120)
    # the page follows the engine: the status line shows the new count
    until(
        lambda: (
            f"{controller.snapshot().n_evaluated}/" in duo.find_element(f"#{ids.STATUS}").text
            or controller.snapshot().n_evaluated > first + 3
        ),
        timeout=20,
    )
    until(lambda: len(duo.find_elements(f"#{progress.PROGRESS} .scatterlayer .trace")) >= 1, 20)
    # with a handful of estimates the one-shot figure is not trusted yet, and says so
    duo.wait_for_contains_text(f"#{progress.THROUGHPUT}", "one-shot not informative yet", 20)
    # a second tab sees the same run
    main = duo.driver.current_window_handle
    duo.driver.switch_to.new_window("tab")
    duo.driver.get(duo.server_url)
    duo.wait_for_contains_text(f"#{ids.STATUS}", f"run {controller.session.run_id}", timeout=20)
    duo.driver.close()
    duo.driver.switch_to.window(main)
    until(lambda: len(duo.find_elements(f"#{embedding.EMBEDDING} .main-svg")) >= 1, 30)
    _shot(duo, 0, "supernet_graph")
    _shot(duo, 1, "embedding")
    _shot(duo, 2, "search_progress")
    _shot(duo, 4, "proxy_comparison")


def test_prune_and_pin_steer_the_engine(served) -> None:
    duo, controller = served
    _start(duo, controller)
    duo.find_element(_chip(0, "none")).click()
    until(lambda: controller.snapshot().mask.state(0, "none") == "pruned", timeout=20)
    v_prune = controller.snapshot().mask_version
    n0 = controller.snapshot().n_evaluated
    until(lambda: controller.snapshot().n_evaluated >= n0 + 3, timeout=120)
    duo.wait_for_element(_chip(0, "none") + ".pruned", timeout=10)
    after = [c for c in controller.snapshot().candidates if c.mask_version >= v_prune]
    assert after and all("|none~0|+" not in c.arch for c in after)

    # pin mode: pin edge 5 to conv_1x1, with a note
    duo.find_element(f"#{graph.NOTE}").send_keys("1x1 on the last edge")
    duo.find_elements(f"#{graph.CLICK_MODE} input")[1].click()
    duo.find_element(_chip(5, "nor_conv_1x1")).click()
    until(lambda: controller.snapshot().mask.state(5, "nor_conv_1x1") == "pinned", timeout=20)
    v_pin = controller.snapshot().mask_version
    n1 = controller.snapshot().n_evaluated
    until(lambda: controller.snapshot().n_evaluated >= n1 + 3, timeout=120)
    later = [c for c in controller.snapshot().candidates if c.mask_version >= v_pin]
    assert later and all(c.arch.endswith("|nor_conv_1x1~2|") for c in later)
    assert controller.snapshot().events[-1].note == "1x1 on the last edge"
    duo.wait_for_contains_text(f"#{graph.HISTORY}", "1x1 on the last edge", timeout=10)

    # refused: pruning the pinned (only) op shows a message and changes nothing
    duo.find_elements(f"#{graph.CLICK_MODE} input")[0].click()
    duo.find_element(_chip(5, "nor_conv_1x1")).click()
    duo.wait_for_element(f"#{ids.ALERT} .error", timeout=10)
    assert controller.snapshot().mask.state(5, "nor_conv_1x1") == "pinned"
    # undo the pin
    duo.find_element(f"#{graph.UNDO}").click()
    until(lambda: controller.snapshot().mask.state(5, "nor_conv_1x1") == "allowed", timeout=20)


def test_inspector_opens_from_the_embedding(served) -> None:
    duo, controller = served
    _start(duo, controller, min_n=4)
    until(lambda: controller.layout()[0] is not None, timeout=60)
    until(lambda: len(duo.find_elements(f"#{embedding.EMBEDDING} .main-svg")) >= 1, 30)
    # bad input first: an unknown arch string is refused visibly
    box = duo.find_element(f"#{inspector.ARCH_INPUT}")
    box.send_keys("|conv_9x9~0|+|nothing|")
    duo.find_element(f"#{inspector.INSPECT_BTN}").click()
    duo.wait_for_contains_text(f"#{ids.ALERT}", "unknown architecture", timeout=10)
    # click an evaluated point (the same event Plotly emits on a real click)
    until(
        lambda: duo.driver.execute_script(
            "const g=document.querySelector('#embedding .js-plotly-plot');"
            "return g && g.data && g.data.length > 2 && g.data[2].customdata.length;"
        ),
        timeout=30,
    )
    idx = duo.driver.execute_script(
        "const g=document.querySelector('#embedding .js-plotly-plot');"
        "g.emit('plotly_click', {points: [{curveNumber: 2, pointNumber: 0}]});"
        "return g.data[2].customdata[0];"
    )
    arch = controller.space.to_string(controller.space.from_index(int(idx)))
    until(lambda: duo.find_element(f"#{inspector.ARCH_INPUT}").get_attribute("value") == arch, 20)
    duo.wait_for_contains_text(f"#{inspector.INSPECT_SCORES}", "percentile", timeout=20)
    # the one-edit attribution arrives from the background worker
    until(lambda: len(duo.find_elements(f"#{inspector.ATTRIBUTION} .bars .point")) >= 20, 120)
    until(lambda: len(duo.find_elements(f"#{inspector.ZICO_LAYERS} .bars .point")) >= 1, 60)
    _shot(duo, 3, "inspector")


def test_pause_resume_and_stop(served) -> None:
    duo, controller = served
    box = duo.find_element(f"#{ids.BUDGET}")
    box.clear()
    box.send_keys("ten")
    duo.find_element(f"#{ids.START}").click()
    duo.wait_for_contains_text(f"#{ids.ALERT}", "budget must be a positive", timeout=10)
    assert controller.session is None  # refused: nothing started
    _start(duo, controller)
    duo.find_element(f"#{ids.PAUSE}").click()
    duo.wait_for_contains_text(f"#{ids.STATUS}", "paused", timeout=30)
    n = controller.snapshot().n_evaluated
    import time

    time.sleep(1.5)
    assert controller.snapshot().n_evaluated == n  # nothing evaluated while paused
    duo.find_element(f"#{ids.RESUME}").click()
    until(lambda: controller.snapshot().n_evaluated > n, timeout=120)
    duo.find_element(f"#{ids.STOP}").click()
    duo.wait_for_contains_text(f"#{ids.STATUS}", "stopped", timeout=30)
    m = controller.snapshot().n_evaluated
    time.sleep(1.5)
    assert controller.snapshot().n_evaluated == m


def test_budget_control_and_pareto_view(served) -> None:
    import numpy as np

    from app.views import budget

    duo, controller = served
    _start(duo, controller, min_n=4)
    box = duo.find_element(f"#{budget.MAX_FLOPS}")
    box.send_keys("abc")
    duo.find_element(f"#{budget.APPLY}").click()
    duo.wait_for_contains_text(f"#{ids.ALERT}", "max FLOPs must be a positive number", 10)
    limit = float(np.quantile(controller.costs().flops, 0.3))
    duo.clear_input(box)
    box.send_keys(f"{limit:.6f}")
    duo.find_element(f"#{budget.APPLY}").click()
    duo.wait_for_contains_text(f"#{ids.ALERT}", "budget accepted", timeout=10)
    assert controller.snapshot().budget.max_flops == pytest.approx(limit, rel=1e-5)
    duo.wait_for_contains_text(f"#{graph.HISTORY}", "budget ≤", timeout=10)
    duo.wait_for_contains_text(f"#{budget.INFO}", "in force: ≤", timeout=10)
    plot = f"document.querySelector('#{budget.PARETO} .js-plotly-plot')"
    until(
        lambda: duo.driver.execute_script(
            f"const g={plot}; return g && g.layout.shapes && g.layout.shapes.length === 1 "
            "&& g.data[2].name === 'Pareto front' && g.data[2].x.length >= 1;"
        ),
        timeout=30,
    )
    line = duo.driver.execute_script(f"return {plot}.layout.shapes[0].x0;")
    assert line == pytest.approx(limit, rel=1e-5)
    _shot(duo, 5, "budget_pareto")
    duo.find_element(f"#{graph.UNDO}").click()
    until(lambda: not controller.snapshot().budget.is_set, timeout=20)
    until(lambda: duo.driver.execute_script(f"return {plot}.layout.shapes.length === 0;"), 30)


def test_whole_space_colouring(served) -> None:
    duo, controller = served
    until(lambda: controller.layout()[0] is not None, timeout=60)
    duo.find_element(f"#{embedding.SPACE_RUN}").click()
    duo.wait_for_contains_text(f"#{ids.ALERT}", "scoring all", timeout=10)
    until(lambda: controller.space_scores().done >= 96, timeout=120)
    duo.select_dcc_dropdown(f"#{embedding.COLOUR_BY}", value="all cells · synflow")
    script = (
        "const g=document.querySelector('#embedding .js-plotly-plot');"
        "return g && g.data && g.data.length > 2 ? [g.data[2].name, g.data[2].x.length] : null;"
    )
    until(lambda: (duo.driver.execute_script(script) or [""])[0] == "scored (synflow)", 30)
    assert duo.driver.execute_script(script)[1] >= 96  # not the few evaluated cells: all scored
    duo.wait_for_contains_text(f"#{embedding.EMBED_INFO}", "synflow on", timeout=20)
    controller.stop_space_scores(wait=60)
    _shot(duo, 1, "embedding_all_cells")


TWO_OPS = tuple((e, op) for e in range(6) for op in
                ("skip_connect", "nor_conv_1x1", "avg_pool_3x3"))  # fmt: skip


@pytest.fixture
def served_params(dash_duo, tmp_path: Path):
    """Two ops per edge and #params as fitness: 'none' trails, so suggestions come."""
    controller = make_controller(tmp_path, proxy="params", proxies=("params",), supernet=False,
                                 prune=TWO_OPS, strategy="random")  # fmt: skip
    yield from _serve(dash_duo, controller)


def test_accept_a_suggestion_then_undo(served_params) -> None:
    duo, controller = served_params
    budget_box = duo.find_element(f"#{ids.BUDGET}")
    budget_box.clear()
    budget_box.send_keys("60")
    duo.find_element(f"#{ids.START}").click()  # #params is fast: it may finish at once
    until(lambda: controller.session is not None, timeout=20)
    until(lambda: controller.snapshot().status == "finished", timeout=120)
    duo.wait_for_contains_text(f"#{ids.STATUS}", "finished", timeout=20)
    # the chips carry the significance mark, the caption says what the colours mean
    duo.wait_for_element(".chip.sig-neg", timeout=20)
    duo.wait_for_contains_text(f"#{graph.EVIDENCE_CAPTION}", "95 % bootstrap interval", 20)
    duo.wait_for_contains_text(f"#{graph.SUGGESTIONS}", "prune none on", timeout=20)
    text = duo.find_element(f"#{graph.SUGGESTIONS} .suggestion-text").text
    n_events = len(controller.snapshot().events)
    duo.find_element(f"#{graph.SUGGESTIONS} button.primary").click()
    until(lambda: len(controller.snapshot().events) == n_events + 1, timeout=20)
    ev = controller.snapshot().events[-1]
    assert ev.action == "prune" and ev.op == "none"
    assert ev.note.startswith("accepted suggestion: prune none on")
    assert text.split(" (metric")[0] in ev.note  # the evidence as the page showed it
    duo.wait_for_contains_text(f"#{graph.HISTORY}", "accepted suggestion: prune none", 10)
    duo.find_element(f"#{graph.UNDO}").click()
    until(lambda: controller.snapshot().events[-1].action == "undo", timeout=20)
    assert controller.snapshot().mask.state(ev.edge, "none") == "allowed"
    # teaching mode hides them until the student steers
    duo.find_element(f"#{graph.TEACH} input").click()
    duo.wait_for_contains_text(f"#{graph.SUGGESTIONS_MSG}", "hidden until you make", 20)
    assert duo.find_elements(f"#{graph.SUGGESTIONS} li") == []
    duo.find_element(_chip(1, "none")).click()
    duo.wait_for_contains_text(f"#{graph.SUGGESTIONS_MSG}", "your choice: prune e1 none", 20)
    duo.wait_for_contains_text(f"#{graph.SUGGESTIONS}", "prune none on", timeout=20)
    # Dismiss hides a suggestion for this viewer only
    before = len(duo.find_elements(f"#{graph.SUGGESTIONS} li"))
    duo.find_elements(f"#{graph.SUGGESTIONS} button")[1].click()
    until(lambda: len(duo.find_elements(f"#{graph.SUGGESTIONS} li")) == before - 1, 20)


@pytest.fixture
def served_macro(dash_duo, tmp_path: Path):
    """The app serving the macro chain (tiny widths)."""
    yield from _serve(dash_duo, make_macro_controller(tmp_path, pace_s=PACE_S))


def test_macro_space_prune_pin_and_undo(served_macro) -> None:
    duo, controller = served_macro
    assert len(duo.find_elements(".chip")) == 24  # 8 layers × 3 ops
    labels = [el.text for el in duo.find_elements(".edge-label")]
    assert labels == [f"L{k}" for k in range(1, 9)]
    assert [el.text for el in duo.find_elements(".chip")[:3]] == ["id", "k3e3", "k5e6"]
    lines = f"document.querySelector('#{graph.CELL_GRAPH} .js-plotly-plot')"
    until(lambda: duo.driver.execute_script(f"const g={lines}; return g && g.data.length"), 20)
    ys = duo.driver.execute_script(f"return {lines}.data.slice(-1)[0].y;")
    assert len(ys) == 9 and set(ys) == {0}  # the chain's nodes, in one row
    _start(duo, controller)
    # prune the identity on layer 2
    duo.find_element(_chip(1, "id")).click()
    until(lambda: controller.snapshot().mask.state(1, "id") == "pruned", timeout=20)
    duo.wait_for_element(_chip(1, "id") + ".pruned", timeout=10)
    duo.wait_for_contains_text(f"#{graph.HISTORY}", "prune L2 id", timeout=10)
    # pin layer 3 to the wide block: its other ops are blocked, the diagram says so
    duo.find_elements(f"#{graph.CLICK_MODE} input")[1].click()
    duo.find_element(_chip(2, "ir_k5_e6")).click()
    until(lambda: controller.snapshot().mask.state(2, "ir_k5_e6") == "pinned", timeout=20)
    duo.wait_for_element(_chip(2, "ir_k5_e6") + ".pinned", timeout=10)
    duo.wait_for_element(_chip(2, "id") + ".blocked", timeout=10)
    duo.wait_for_contains_text(f"#{graph.HISTORY}", "pin L3 ir_k5_e6", timeout=10)
    duo.wait_for_contains_text(f"#{graph.CELL_GRAPH}", "k5e6 (pinned)", timeout=10)
    v_pin = controller.snapshot().mask_version
    n = controller.snapshot().n_evaluated
    until(lambda: controller.snapshot().n_evaluated >= n + 2, timeout=120)
    later = [c for c in controller.snapshot().candidates if c.mask_version >= v_pin]
    assert later and all(c.arch[1] != "0" and c.arch[2] == "2" for c in later)
    # undo the pin: the layer is open again, the prune stays
    duo.find_element(f"#{graph.UNDO}").click()
    until(lambda: controller.snapshot().mask.state(2, "ir_k5_e6") == "allowed", timeout=20)
    duo.wait_for_element(_chip(2, "id") + ".allowed", timeout=10)
    duo.wait_for_element(_chip(1, "id") + ".pruned", timeout=10)
    duo.wait_for_contains_text(f"#{graph.HISTORY}", "undo", timeout=10)
    assert controller.snapshot().mask.state(1, "id") == "pruned"
