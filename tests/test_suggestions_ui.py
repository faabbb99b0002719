"""The page's suggestions: Accept through the controller's steering path, Dismiss, and the
teaching mode that hides them until the student has steered."""

from __future__ import annotations

import dataclasses
import math
import time

import pytest

from app.controller import InputError
from app.viewmodel import graph_data, suggestions_view
from app.views.common import ViewContext
from app.views.graph import accept_suggestion
from nas_engine.evidence import OpEffect, Suggestion
from nas_engine.runner import SearchConfig, Snapshot
from nas_engine.runner.evidence import ACCEPTED, Evidence
from nas_engine.search_spaces import create_space
from nas_engine.steering import Steering
from tests.app_helpers import make_controller

SPACE = create_space("nb201")
# two ops per edge: 'none' has no parameters, so on #params it trails nor_conv_3x3
TWO_OPS = tuple(
    (e, op) for e in range(6) for op in SPACE.ops if op not in ("none", "nor_conv_3x3")
)


def _suggestion(position: int, op: str) -> Suggestion:
    eff = OpEffect(position, op, 40, 160, -20.0, -28.0, -12.0, 1e-5)
    return Suggestion("prune", position, op, "fitness", eff, 3e-4, SPACE.position_label(position))


def _snap(steering: Steering) -> Snapshot:
    return Snapshot(
        run_id=1, status="running", config=SearchConfig(), mask=steering.mask,
        mask_version=steering.version, candidates=(), events=tuple(steering.events),
        supernet_curve=(), train_curves={}, best=None, supernet_step=0,
        candidates_per_min=0.0, message=None, updated=time.time(),
    )  # fmt: skip


def test_plain_mode_lists_the_suggestions_but_not_the_dismissed_ones() -> None:
    steering = Steering(SPACE.full_mask())
    ev = Evidence("fitness", (), (_suggestion(3, "none"), _suggestion(4, "avg_pool_3x3")), 200)
    v = suggestions_view(ev, _snap(steering))
    assert [k for k, _ in v.items] == ["prune:3:none", "prune:4:avg_pool_3x3"]
    assert v.items[0][1].startswith("prune none on 0→3: effect −20 percentile points")
    v = suggestions_view(ev, _snap(steering), dismissed=["prune:3:none"])
    assert [k for k, _ in v.items] == ["prune:4:avg_pool_3x3"]
    none = suggestions_view(Evidence("fitness", (), (), 200, note=""), _snap(steering))
    assert none.items == () and none.message.startswith("no suggestion")


def test_teaching_mode_hides_until_the_student_steers_then_reveals_the_evidence() -> None:
    steering = Steering(SPACE.full_mask())
    ev = Evidence("fitness", (), (_suggestion(3, "none"),), 200)
    hidden = suggestions_view(ev, _snap(steering), teach=True)
    assert hidden.items == () and "hidden until you make your own choice" in hidden.message
    assert hidden.hidden_from == 0 and [d["key"] for d in hidden.held] == ["prune:3:none"]
    # the search goes on, the evidence changes: still hidden, the latest evidence held
    later = Evidence("fitness", (), (_suggestion(3, "none"), _suggestion(1, "none")), 250)
    still = suggestions_view(later, _snap(steering), teach=True, hidden_from=0,
                             held=hidden.held)  # fmt: skip
    assert still.items == () and len(still.held) == 2
    steering.apply("prune", 3, "none")  # the student's own choice
    shown = suggestions_view(later, _snap(steering), teach=True, hidden_from=0,
                             held=still.held)  # fmt: skip
    assert [k for k, _ in shown.items] == ["prune:3:none", "prune:1:none"]
    assert shown.message.startswith("your choice: prune e3 none.")
    assert "2 suggestion(s), 1 matching yours" in shown.message


def test_accept_goes_through_the_controllers_steering_path_and_undo_reverts(tmp_path) -> None:  # type: ignore[no-untyped-def]
    controller = make_controller(tmp_path, proxy="params", proxies=("params",),
                                 supernet=False, prune=TWO_OPS)  # fmt: skip
    vc = ViewContext(controller)
    try:
        controller.start(strategy="random", proxy="params", budget=60)
        snap = controller.session.wait(lambda s: s.status == "finished", timeout=120)
        f = vc.frame()
        data = graph_data(snap, f.df, SPACE, metric="fitness")
        assert data.evidence is not None and data.evidence.suggestions
        s = data.evidence.suggestions[0]
        assert s.op == "none" and s.effect.high < 0
        before = snap.mask
        msg = accept_suggestion(vc, s.key, "fitness", None, None, None)
        assert "prune accepted" in msg
        after = controller.snapshot()
        event = after.events[-1]
        assert (event.action, event.edge, event.op) == ("prune", s.position, "none")
        assert event.note == ACCEPTED + s.note()
        assert controller.storage.events(after.run_id)[-1].note == event.note
        controller.steer("undo")
        assert controller.snapshot().mask == before
        with pytest.raises(InputError, match="no longer supported"):
            accept_suggestion(vc, "prune:0:nor_conv_3x3", "fitness", None, None, None)
    finally:
        controller.close()


def test_suggestions_follow_the_lasso_and_the_metric(tmp_path) -> None:  # type: ignore[no-untyped-def]
    controller = make_controller(tmp_path, proxy="params", proxies=("params", "naswot"),
                                 supernet=False, prune=TWO_OPS)  # fmt: skip
    vc = ViewContext(controller)
    try:
        controller.start(strategy="random", proxy="params", budget=60)
        snap = controller.session.wait(lambda s: s.status == "finished", timeout=120)
        df = vc.frame().df
        full = graph_data(snap, df, SPACE, metric="params").evidence
        few = graph_data(snap, df, SPACE, metric="params",
                         selection=[int(i) for i in df["index"].iloc[:8]]).evidence  # fmt: skip
        assert full is not None and few is not None
        assert full.suggestions and few.suggestions == ()  # 8 cells are too few to act on
        assert few.cells <= 8 < full.cells
        other = graph_data(snap, df, SPACE, metric="naswot").evidence
        assert other is not None and other.metric == "naswot"
        assert any(
            not math.isclose(a.effect, b.effect)
            for a, b in zip(full.effects, other.effects, strict=True)
            if math.isfinite(a.effect) and math.isfinite(b.effect)
        )
    finally:
        controller.close()


def test_the_evidence_is_computed_once_per_snapshot_for_every_viewer() -> None:
    from app.viewmodel.steering import EVIDENCE_CACHE, snapshot_evidence

    steering = Steering(SPACE.full_mask())
    snap = dataclasses.replace(_snap(steering), run_id=987654)
    before = EVIDENCE_CACHE.misses
    a = snapshot_evidence(snap, SPACE, metric="fitness", selection=None)
    b = snapshot_evidence(snap, SPACE, metric="fitness", selection=None)
    assert a is b and EVIDENCE_CACHE.misses == before + 1
