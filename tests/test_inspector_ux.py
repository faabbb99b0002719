"""The inspector as a new user meets it (#13): a training from scratch shows its progress
and result under the buttons; the cell's edge labels do not collide; the placeholder fits;
the attribution-metric control matches the other controls."""

from __future__ import annotations

import dataclasses
import itertools
import json
import re
import time
from pathlib import Path
from types import MappingProxyType, SimpleNamespace
from typing import Any

import pytest

from app import create_app, ids
from app.plots import cell
from app.viewmodel.views import training_status
from app.views import inspector
from app.views.common import ViewContext, fmt
from nas_engine.runner import SearchConfig, Snapshot
from nas_engine.search_spaces import create_space
from tests.app_helpers import make_controller, post_callback

SPACE = create_space("nb201")
ARCH = SPACE.to_string(SPACE.from_index(7))


def _snap(**kw: Any) -> Snapshot:
    base = Snapshot(
        run_id=1, status="running", config=SearchConfig(budget=5, train_epochs=3),
        mask=SPACE.full_mask(), mask_version=0, candidates=(), events=(), supernet_curve=(),
        train_curves={}, best=None, supernet_step=0, candidates_per_min=0.0, message=None,
        updated=time.time(),
    )  # fmt: skip
    return dataclasses.replace(base, **kw)


def _point(epoch: int, val: float) -> MappingProxyType[str, float]:
    return MappingProxyType({"epoch": epoch, "val_acc": val, "train_acc": 50.0})


def test_training_status_reads_queued_then_epoch_k_of_n_then_the_result() -> None:
    assert training_status(_snap(), ARCH, requested=True).startswith("training queued")
    assert training_status(_snap(), ARCH) == ""  # nobody asked: nothing to say
    running = _snap(training=ARCH, train_curves={ARCH: (_point(1, 40.0),)})
    assert training_status(running, ARCH, requested=True) == ("training from scratch: epoch 1/3")
    # another cell training: this one is still queued behind it
    other = _snap(training="|other|", train_curves={})
    assert "queued" in training_status(other, ARCH, requested=True)
    # done, for a cell the run did not evaluate: its last validation accuracy
    curve = (_point(1, 40.0), _point(2, 50.0), _point(3, 61.25))
    done = _snap(train_curves={ARCH: curve})
    text = training_status(done, ARCH, requested=True)
    assert text == "trained from scratch: 61.2 % validation accuracy after 3 epochs"


def _status(app: Any, arch: str, asked: Any, *, table: bool = False) -> Any:
    vc = app.view_context
    vc.published.refresh()
    res = post_callback(
        app, (ids.VERSION, "data"), vc.version(), output=f"{inspector.TRAIN_STATUS}.children",
        values={(ids.INSPECT, "data"): arch, (inspector.TRAIN_REQUESTS, "data"): asked},
    )  # fmt: skip
    assert res.status_code == 200, res.get_data(as_text=True)
    out = res.get_json()["response"]
    text = out[inspector.TRAIN_STATUS]["children"]
    return (text, json.dumps(out[inspector.INSPECT_SCORES]["children"])) if table else text


def test_train_shows_its_epochs_then_the_result_where_it_was_asked(tmp_path: Path) -> None:
    c = make_controller(tmp_path, budget=3, train_epochs=3)
    try:
        app = create_app(c, refresh_s=0.0)
        c.start(strategy="random", proxy="zico", budget=3)
        snap = c.session.wait(lambda s: s.status == "finished", timeout=120)
        arch = snap.candidates[0].arch
        assert _status(app, arch, []) == ""  # not asked, not trained: no line
        res = post_callback(
            app, (inspector.TRAIN_BTN, "n_clicks"), 1, output=f"{inspector.TRAIN_REQUESTS}.data",
            state={(ids.INSPECT, "data"): arch, (inspector.TRAIN_REQUESTS, "data"): []},
        )  # fmt: skip
        out = res.get_json()["response"]
        asked = out[inspector.TRAIN_REQUESTS]["data"]
        assert asked == [arch]
        assert "queued" not in str(out.get(ids.ALERT, ""))  # not left in the alert line
        seen = []
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            seen.append(_status(app, arch, asked))
            s = c.snapshot()
            if s is not None and any(x.arch == arch and x.trained_acc for x in s.candidates):
                break
            time.sleep(0.05)
        assert any(t.startswith("training from scratch: epoch ") for t in seen), seen
        final, scores = _status(app, arch, asked, table=True)
        acc = next(x.trained_acc for x in c.snapshot().candidates if x.arch == arch)
        assert final == f"trained from scratch: {acc:.1f} % test accuracy after 3 epochs"
        assert "queued" not in final
        # the scores table, drawn again with the snapshot, lists the trained accuracy
        assert "trained accuracy" in scores and fmt(acc) in scores
    finally:
        c.close()
        c.storage.close()


# ------------------------------------------------------------ labels, placeholder, fonts
#: Cells whose labels crowded the middle of the diagram (e2, e3 and e4 around x = 1.5-2).
CROWDED = (10, 97, 2037, 6305, 8342)


def _boxes(
    fig: dict[str, Any], points: list[tuple[float, float]], sizes: list[tuple[float, float]]
) -> list[tuple[float, float, float, float]]:
    """Boxes (px) of ``points`` sized ``(w, h)`` px, in ``fig`` drawn CELL_WIDTH_PX wide."""
    lay = fig["layout"]
    (x0, x1), (y0, y1), m = lay["xaxis"]["range"], lay["yaxis"]["range"], lay["margin"]
    sx = (cell.CELL_WIDTH_PX - m["l"] - m["r"]) / (x1 - x0)
    sy = (lay["height"] - m["t"] - m["b"]) / (y1 - y0)
    return [
        (
            (x - x0) * sx - w / 2,
            (y - y0) * sy - h / 2,
            (x - x0) * sx + w / 2,
            (y - y0) * sy + h / 2,
        )
        for (x, y), (w, h) in zip(points, sizes, strict=True)
    ]


def _air(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    """The air between two boxes (px; negative when they overlap)."""
    return max(b[0] - a[2], a[0] - b[2], b[1] - a[3], a[1] - b[3])


@pytest.mark.parametrize("index", CROWDED)
def test_nb201_edge_labels_keep_a_line_of_air_and_clear_the_nodes(index: int) -> None:
    vc = SimpleNamespace(space=SPACE)
    fig = inspector.cell_diagram(vc, SPACE.ops_of(SPACE.from_index(index)))
    notes = fig["layout"]["annotations"]
    assert len(notes) == 6
    labels = _boxes(
        fig,
        [(a["x"], a["y"]) for a in notes],
        [(len(a["text"]) * cell.CHAR_PX + 4, cell.LINE_PX) for a in notes],
    )
    for (i, a), (j, b) in itertools.combinations(enumerate(labels), 2):
        assert _air(a, b) >= cell.LINE_PX, (notes[i]["text"], notes[j]["text"], _air(a, b))
    nodes = fig["data"][-1]
    dots = _boxes(fig, list(zip(nodes["x"], nodes["y"], strict=True)), [(30, 30)] * 4)
    assert all(_air(a, d) > 0 for a in labels for d in dots)


def test_the_placeholder_fits_the_half_card_figure(tmp_path: Path) -> None:
    c = make_controller(tmp_path)
    try:
        app = create_app(c)
        res = post_callback(
            app, (ids.INSPECT, "data"), None, output=f"{inspector.INSPECT_CELL}.figure"
        )
        fig = res.get_json()["response"][inspector.INSPECT_CELL]["figure"]
    finally:
        c.close()
        c.storage.close()
    text = fig["layout"]["annotations"][0]["text"]
    lines = text.split("<br>")
    assert " ".join(lines) == inspector.PLACEHOLDER and len(lines) > 1
    # 14 px letters, 7 px wide at most on average, inside the 260 px figure's margins
    m = fig["layout"]["margin"]
    assert max(len(line) for line in lines) * 7 <= cell.CELL_WIDTH_PX - m["l"] - m["r"]
    long = inspector.message_figure("scoring the 5 one-edit neighbours on meco in the background…")
    assert all(
        len(x) <= inspector.MESSAGE_CHARS
        for x in long["layout"]["annotations"][0]["text"].split("<br>")
    )


def _parents(node: Any, target: str, chain: tuple[Any, ...] = ()) -> tuple[Any, ...] | None:
    """The components from ``node`` down to the one whose id is ``target``."""
    if getattr(node, "id", None) == target:
        return chain
    kids = getattr(node, "children", None)
    for kid in kids if isinstance(kids, list) else [kids]:
        if kid is not None and not isinstance(kid, str):
            found = _parents(kid, target, (*chain, node))
            if found is not None:
                return found
    return None


def _font_px(css: str, cls: str) -> str:
    """The font size a rule of ``css`` gives class ``cls``."""
    rule = re.search(r"^\." + cls + r" \{([^}]*)\}", css, re.M)
    assert rule is not None, cls
    return re.search(r"font-size:\s*([\d.]+px)", rule.group(1)).group(1)


def test_the_attribution_metric_control_has_the_controls_font(tmp_path: Path) -> None:
    c = make_controller(tmp_path)
    try:
        vc = ViewContext(c)
        chain = _parents(inspector.layout(vc), inspector.ATTR_METRIC)
        other = _parents(inspector.layout(vc), inspector.ARCH_INPUT)
    finally:
        c.close()
        c.storage.close()
    assert chain is not None and other is not None
    classes = {cls for n in chain for cls in (getattr(n, "className", None) or "").split()}
    around_arch = {cls for n in other for cls in (getattr(n, "className", None) or "").split()}
    assert "row" in classes and "row" in around_arch  # the same font as the arch box's row
    css = (Path(__file__).resolve().parents[1] / "assets" / "nasnav.css").read_text()
    assert _font_px(css, "row") == _font_px(css, "controls") == "13px"
