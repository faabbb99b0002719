"""Issue #13's steering and budget points: the header's budget box is usable, a steering
note is used once, and an op a pin excludes looks blocked and cannot be pruned again."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app import AppController, create_app, ids
from app.controller import InputError
from app.views import graph
from nas_engine.search_spaces import MaskError, create_space
from nas_engine.steering import Steering
from tests.app_helpers import make_controller, post_callback
from tests.test_app_browser import served  # noqa: F401  (the served app fixture)


@pytest.mark.browser
@pytest.mark.slow
def test_budget_box_is_wide_enough_to_read_and_click(served) -> None:  # noqa: F811
    duo, _controller = served
    box = duo.find_element(f"#{ids.BUDGET}")
    assert box.size["width"] >= 80, box.size
    label = duo.driver.execute_script("return arguments[0].closest('label').innerText", box)
    assert label.strip().startswith("budget (candidates)")
    # a click on the middle of the box lands on the input, not on its container
    hit = duo.driver.execute_script(
        "const r = arguments[0].getBoundingClientRect();"
        "return document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2).id",
        box,
    )
    assert hit == ids.BUDGET


# ------------------------------------------------------------------ the note, used once
@pytest.fixture
def finished(tmp_path: Path) -> Iterator[AppController]:
    """A controller whose short run (params proxy, no supernet) has finished."""
    c = make_controller(tmp_path, proxy="params", proxies=("params",), supernet=False)
    try:
        c.start(strategy="random", proxy="params", budget=8)
        c.session.wait(lambda s: s.status == "finished", timeout=120)
        yield c
    finally:
        c.close()
        c.storage.close()


def _click(app: Any, target: Any, *, note: str | None, mode: str = "prune") -> dict[str, Any]:
    """Post the graph's steering callback for a click on ``target`` with ``note`` in the
    box; return the response's outputs."""
    res = post_callback(
        app, target, 1, output=graph.NOTE,
        state={(graph.NOTE, "value"): note, (graph.CLICK_MODE, "value"): mode},
    )  # fmt: skip
    assert res.status_code == 200, res.get_data(as_text=True)[-2000:]
    return json.loads(res.get_data(as_text=True))["response"]


def _chip(edge: int, op: str) -> tuple[dict[str, Any], str]:
    return {"type": graph.CHIP, "edge": edge, "op": op}, "n_clicks"


def test_a_note_goes_with_one_action_and_the_box_is_cleared(finished: AppController) -> None:
    app = create_app(finished)
    out = _click(app, _chip(0, "none"), note="none never helps")
    assert "accepted" in str(out[ids.ALERT]["children"])
    assert out[graph.NOTE]["value"] == ""  # the box is emptied once the note is used
    # the next click sends what the box now holds: the pin carries no note
    out = _click(app, _chip(1, "nor_conv_3x3"), note=out[graph.NOTE]["value"], mode="pin")
    assert "accepted" in str(out[ids.ALERT]["children"])
    undo = _click(app, (graph.UNDO, "n_clicks"), note="")
    assert "accepted" in str(undo[ids.ALERT]["children"])
    events = finished.snapshot().events
    assert [(e.action, e.note) for e in events] == [
        ("prune", "none never helps"), ("pin", ""), ("undo", ""),
    ]  # fmt: skip
    # a refused action keeps the note for the retry
    refused = _click(app, _chip(0, "none"), note="again", mode="pin")
    assert "error" in json.dumps(refused[ids.ALERT]) and graph.NOTE not in refused


# ---------------------------------------------------- ops a pin excludes: refused, shown
def _pinned_steering() -> Steering:
    """NB201 steering with edge 0 pinned to nor_conv_3x3 after avg_pool_3x3 was pruned on
    edge 1 (one event each)."""
    s = Steering(create_space("nb201").full_mask())
    s.apply("pin", 0, "nor_conv_3x3")
    s.apply("prune", 1, "avg_pool_3x3")
    return s


@pytest.mark.parametrize(
    ("action", "edge", "op", "reason"),
    [
        ("prune", 0, "avg_pool_3x3",
         "edge 0: 'avg_pool_3x3' is already excluded (the edge is pinned to 'nor_conv_3x3'); "
         "nothing to prune"),
        ("prune", 1, "avg_pool_3x3", "edge 1: 'avg_pool_3x3' is already pruned"),
        ("pin", 0, "nor_conv_3x3", "edge 0: 'nor_conv_3x3' is already pinned"),
        ("restore", 1, "none", "edge 1: 'none' is not pruned"),
        ("unpin", 1, None, "edge 1: nothing is pinned"),
    ],
)  # fmt: skip
def test_a_prune_pin_or_restore_that_changes_nothing_is_refused_with_the_reason(
    action: str, edge: int, op: str | None, reason: str
) -> None:
    s = _pinned_steering()
    mask, version, events = s.mask, s.version, list(s.events)
    with pytest.raises(MaskError) as refused:
        s.apply(action, edge, op, note="no-op")
    assert str(refused.value).startswith(reason)
    assert (s.mask, s.version, s.events) == (mask, version, events)  # no event, no version


def test_an_op_excluded_by_a_pin_can_be_restored_or_pruned_only_after_unpinning() -> None:
    s = _pinned_steering()
    s.apply("prune", 2, "none")
    s.apply("pin", 2, "skip_connect")
    with pytest.raises(MaskError, match="would stay excluded .* pinned to 'skip_connect'"):
        s.apply("restore", 2, "none")
    # pinning the only op an edge still allows changes nothing either
    for op in ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3"):
        s.apply("prune", 3, op)
    with pytest.raises(MaskError, match="'avg_pool_3x3' is already the only op allowed"):
        s.apply("pin", 3, "avg_pool_3x3")
    n = len(s.events)
    s.apply("unpin", 0)
    s.apply("prune", 0, "avg_pool_3x3")  # allowed again once the pin is gone
    assert s.mask.state(0, "avg_pool_3x3") == "pruned" and len(s.events) == n + 2


def test_a_session_refuses_a_prune_the_pin_already_makes(finished: AppController) -> None:
    c = finished
    c.steer("pin", 0, "nor_conv_3x3")
    before = c.snapshot()
    with pytest.raises(InputError, match="already excluded .* pinned to 'nor_conv_3x3'"):
        c.steer("prune", 0, "avg_pool_3x3", note="why")
    after = c.snapshot()
    assert after.mask_version == before.mask_version and after.events == before.events
    assert len(c.storage.events(after.run_id)) == len(before.events)


def _graph_chips(app: Any, chip_ids: list[dict[str, Any]]) -> dict[str, Any]:
    """The graph card's update as the page posts it: each chip's rendered props by id."""
    key = next(k for k in app.callback_map if k.startswith(f"..{graph.CELL_GRAPH}.figure"))
    cb = app.callback_map[key]
    outputs: list[Any] = []
    for o in cb["output"]:
        if isinstance(o.component_id, dict):
            outputs.append([{"id": i, "property": o.component_property} for i in chip_ids])
        else:
            outputs.append({"id": o.component_id, "property": o.component_property})
    values = {ids.VERSION: 1, graph.IMPORTANCE_METRIC: "fitness"}
    body = {
        "output": key,
        "outputs": outputs,
        "inputs": [{**i, "value": values.get(i["id"])} for i in cb["inputs"]],
        "state": [{**s, "value": None} for s in cb["state"]],
        "changedPropIds": [f"{ids.VERSION}.data"],
    }
    res = app.server.test_client().post("/_dash-update-component", json=body)
    assert res.status_code == 200, res.get_data(as_text=True)[-2000:]
    out = res.get_json()["response"]
    return {k: v for k, v in out.items() if k.startswith("{")}


def test_chips_a_pin_excludes_are_shown_blocked_with_the_reason(
    finished: AppController,
) -> None:
    c = finished
    c.steer("prune", 0, "none")
    c.steer("pin", 0, "nor_conv_3x3")
    ops = create_space("nb201").ops
    chip_ids = [{"type": graph.CHIP, "edge": e, "op": op} for e in (0, 1) for op in ops]
    chips = _graph_chips(create_app(c), chip_ids)

    def chip(edge: int, op: str) -> dict[str, Any]:
        return chips[json.dumps({"edge": edge, "op": op, "type": graph.CHIP},
                                separators=(",", ":"))]  # fmt: skip

    blocked = chip(0, "avg_pool_3x3")
    assert blocked["className"].split()[:2] == ["chip", "blocked"]
    assert "blocked by the pin on this edge (nor_conv_3x3 is pinned)" in blocked["title"]
    assert chip(0, "nor_conv_3x3")["className"].split()[:2] == ["chip", "pinned"]
    assert chip(0, "none")["className"].split()[:2] == ["chip", "pruned"]
    assert chip(1, "avg_pool_3x3")["className"].split()[:2] == ["chip", "allowed"]
    assert "blocked" not in chip(1, "avg_pool_3x3")["title"]
    # the stylesheet draws a blocked chip unlike an allowed or a pruned one
    css = (Path(__file__).resolve().parents[1] / "assets" / "nasnav.css").read_text()
    rules = dict(re.findall(r"^\.chip\.(\w+) \{([^}]*)\}", css, flags=re.MULTILINE))
    assert "background-image" in rules["blocked"] and rules["blocked"] != rules["pruned"]
