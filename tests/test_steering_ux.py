"""Issue #13's steering and budget points: the header's budget box is usable, a steering
note is used once, and an op a pin excludes looks blocked and cannot be pruned again."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app import AppController, create_app, ids
from app.views import graph
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
