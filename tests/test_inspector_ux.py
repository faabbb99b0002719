"""The inspector as a new user meets it (#13): a training from scratch shows its progress
and result under the buttons; the cell's edge labels do not collide; the placeholder fits;
the attribution-metric control matches the other controls."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from types import MappingProxyType
from typing import Any

from app import create_app, ids
from app.viewmodel.views import training_status
from app.views import inspector
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


def _status(app: Any, arch: str, asked: Any) -> str:
    vc = app.view_context
    vc.published.refresh()
    res = post_callback(
        app, (ids.VERSION, "data"), vc.version(), output=f"{inspector.TRAIN_STATUS}.children",
        values={(ids.INSPECT, "data"): arch, (inspector.TRAIN_REQUESTS, "data"): asked},
    )  # fmt: skip
    assert res.status_code == 200, res.get_data(as_text=True)
    return res.get_json()["response"][inspector.TRAIN_STATUS]["children"]


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
        final = _status(app, arch, asked)
        acc = next(x.trained_acc for x in c.snapshot().candidates if x.arch == arch)
        assert final == f"trained from scratch: {acc:.1f} % test accuracy after 3 epochs"
        assert "queued" not in final
    finally:
        c.close()
        c.storage.close()
