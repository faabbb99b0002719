"""The background search session: steering, latency, crashes, concurrency (kill -9 and
resume: tests/test_persistence.py)."""

from __future__ import annotations

import itertools
import threading
import time
from pathlib import Path

import pytest

from nas_engine.data import load_dataset
from nas_engine.runner import CommandError, SearchSession
from nas_engine.search_spaces import MaskError, create_space
from nas_engine.storage import SQLiteStorage
from tests.engine_helpers import mask_at, tiny_config

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def storage(tmp_path: Path) -> SQLiteStorage:
    return SQLiteStorage(tmp_path / "n.db")


def _session(storage: SQLiteStorage, **kw: object) -> SearchSession:
    return SearchSession.create(storage, tiny_config(**kw), data=load_dataset("synthetic"))


def test_search_runs_to_budget_and_persists(storage: SQLiteStorage) -> None:
    s = _session(storage, budget=8, strategy="evolution")
    try:
        assert s.snapshot().status == "idle"
        s.start()
        snap = s.wait(lambda x: x.status == "finished", timeout=120)
    finally:
        s.close()
    assert [c.seq for c in snap.candidates] == list(range(8))
    assert snap.best is not None and snap.best.fitness == max(
        c.fitness for c in snap.candidates if c.fitness is not None
    )
    assert all(c.oneshot is not None and "zico" in c.scores for c in snap.candidates)
    assert snap.supernet_step == 16 and snap.supernet_curve
    stored = storage.candidates(snap.run_id)
    assert [c.arch for c in stored] == [c.arch for c in snap.candidates]
    assert storage.get_run(snap.run_id).status == "finished"


def test_no_candidate_violates_the_mask_in_force(storage: SQLiteStorage) -> None:
    s = _session(storage, budget=40, strategy="evolution", steps_per_candidate=1)
    initial = create_space("nb201").full_mask()
    try:
        s.start()
        s.wait(lambda x: x.n_evaluated >= 6, timeout=120)
        s.steer("prune", 0, "none", note="dead edge")
        s.steer("prune", 0, "avg_pool_3x3")
        s.wait(lambda x: x.n_evaluated >= 14, timeout=120)
        s.steer("pin", 3, "nor_conv_3x3")
        s.steer("prune", 5, "none")
        s.wait(lambda x: x.n_evaluated >= 24, timeout=120)
        s.steer("undo")
        s.steer("unpin", 3)
        snap = s.wait(lambda x: x.status == "finished", timeout=180)
    finally:
        s.close()
    events = list(snap.events)
    assert [e.action for e in events] == ["prune", "prune", "pin", "prune", "undo", "unpin"]
    assert events[0].note == "dead edge"
    versions = set()
    for c in snap.candidates:
        m = mask_at(c.mask_version, initial, events)
        assert m.allows(create_space("nb201").from_string(c.arch).ops), (c.seq, c.arch)
        versions.add(c.mask_version)
    assert len(versions) >= 3  # candidates were really asked under several masks
    # later candidates obey the final mask
    last = snap.candidates[-1]
    assert snap.mask.allows(create_space("nb201").from_string(last.arch).ops)
    assert storage.events(snap.run_id)[0].note == "dead edge"


def test_refused_commands_raise_and_leave_state(storage: SQLiteStorage) -> None:
    s = _session(storage, budget=3)
    try:
        for op in ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3"):
            s.steer("prune", 1, op)
        before = s.snapshot()
        with pytest.raises(MaskError, match="last allowed op"):
            s.steer("prune", 1, "avg_pool_3x3")
        with pytest.raises(MaskError, match="unknown op"):
            s.steer("pin", 0, "conv9x9")
        with pytest.raises(CommandError, match="positive integer"):
            s.set_budget(0)
        with pytest.raises(CommandError, match="positive integer"):
            s.set_budget("ten")
        with pytest.raises(CommandError, match="unknown strategy"):
            s.set_strategy("bayesian")
        with pytest.raises(CommandError, match="bad NB201 arch string"):
            s.train("|nope~0|")
        after = s.snapshot()
        assert after.mask == before.mask and after.mask_version == before.mask_version == 4
    finally:
        s.close()
    with pytest.raises(CommandError, match="positive integer"):
        tiny_config(budget=0)


def test_pause_resume_stop_latency_in_steps(storage: SQLiteStorage) -> None:
    s = _session(storage, budget=1000, steps_per_candidate=40)
    tr = s._trainer
    assert tr is not None
    try:
        s.start()
        s.wait(lambda x: tr.step >= 5, timeout=60)
        at_pause = tr.step
        s.pause()
        s.wait(lambda x: x.status == "paused", timeout=60)
        assert tr.step - at_pause <= 1, "pause took more than one training step"
        held = tr.step
        time.sleep(0.5)
        assert tr.step == held  # nothing trains while paused
        s.resume_search()
        s.wait(lambda x: tr.step >= held + 3, timeout=60)
        at_stop = tr.step
        s.stop()
        snap = s.wait(lambda x: x.status == "stopped", timeout=60)
        assert tr.step - at_stop <= 1, "stop took more than one training step"
        assert s.checkpoint_path.is_file() and snap.status == "stopped"
    finally:
        s.close()


def test_a_paced_run_keeps_its_pace_and_still_obeys_commands_at_once(
    storage: SQLiteStorage,
) -> None:
    s = _session(storage, budget=4, supernet=False, pace_s=0.4)
    try:
        s.start()
        snap = s.wait(lambda x: x.status == "finished", timeout=120)
    finally:
        s.close()
    created = [c.created for c in snap.candidates]
    assert min(b - a for a, b in itertools.pairwise(created)) >= 0.4 - 0.01
    # a pace far longer than the test: commands do not wait for the next candidate
    s = _session(storage, budget=10, supernet=False, pace_s=600)
    try:
        s.start()
        s.wait(lambda x: x.n_evaluated >= 1, timeout=60)
        t0 = time.monotonic()
        s.steer("prune", 0, "none")
        s.wait(lambda x: x.mask.state(0, "none") == "pruned", timeout=10)
        s.pause()
        snap = s.wait(lambda x: x.status == "paused", timeout=10)
        assert time.monotonic() - t0 < 10 and snap.n_evaluated == 1
        s.stop()
        s.wait(lambda x: x.status == "stopped", timeout=10)
    finally:
        s.close()
    for bad in (-1.0, float("nan"), None, "2"):
        with pytest.raises(CommandError, match="pace_s"):
            tiny_config(pace_s=bad)


def test_crash_in_one_candidate_does_not_stop_search(storage: SQLiteStorage) -> None:
    s = _session(storage, budget=6, strategy="random")
    real = s._suite.score
    calls = {"n": 0}

    def flaky(arch: object) -> object:
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("simulated out-of-memory in a proxy")
        return real(arch)

    s._suite.score = flaky  # type: ignore[method-assign]
    try:
        s.start()
        snap = s.wait(lambda x: x.status == "finished", timeout=120)
    finally:
        s.close()
    errors = [c for c in snap.candidates if c.error]
    assert len(errors) == 1 and "simulated out-of-memory" in errors[0].error
    assert errors[0].fitness is None and snap.n_evaluated == 6
    assert storage.candidates(snap.run_id)[1].error == errors[0].error


def test_concurrent_snapshot_reads_while_writing(storage: SQLiteStorage) -> None:
    s = _session(storage, budget=25, steps_per_candidate=1)
    problems: list[str] = []
    stop = threading.Event()

    def reader() -> None:
        last_n = 0
        while not stop.is_set():
            snap = s.snapshot()
            n = snap.n_evaluated
            if [c.seq for c in snap.candidates] != list(range(n)):
                problems.append("non-contiguous candidates")
            if n < last_n:
                problems.append(f"snapshot went backwards {last_n} -> {n}")
            if snap.best is not None and snap.best not in snap.candidates:
                problems.append("best not among candidates")
            if snap.events and snap.events[-1].mask_after != snap.mask:
                problems.append("mask and events disagree")
            last_n = n
            time.sleep(0.002)  # readers poll (as the UI does), they do not spin

    readers = [threading.Thread(target=reader) for _ in range(4)]
    for t in readers:
        t.start()
    try:
        s.start()
        for op in ("none", "avg_pool_3x3", "skip_connect"):
            s.steer("prune", 2, op)
            time.sleep(0.05)
            s.steer("undo")
        s.wait(lambda x: x.status == "finished", timeout=180)
    finally:
        stop.set()
        for t in readers:
            t.join()
        s.close()
    assert not problems, problems[:5]


def test_budget_constraint_and_ground_truth(storage: SQLiteStorage, tmp_path: Path) -> None:
    sp = create_space("nb201")
    table = tmp_path / "gt.csv"
    rows = [f"{sp.to_string(a)},{i % 97}.5" for i, a in enumerate(sp.enumerate())]
    table.write_text("arch,acc\n" + "\n".join(rows[::2]) + "\n")  # half the cells known
    s = _session(storage, budget=10, strategy="random", supernet=False, max_params=0.012,
                 benchmark=f"csv:{table}")  # fmt: skip
    try:
        s.start()
        snap = s.wait(lambda x: x.status == "finished", timeout=120)
    finally:
        s.close()
    known = dict(r.split(",") for r in rows[::2])
    for c in snap.candidates:
        assert c.scores["params"] <= 0.012 and c.oneshot is None
        assert c.truth == (float(known[c.arch]) if c.arch in known else None)


def test_train_request_gives_real_accuracy(storage: SQLiteStorage) -> None:
    s = _session(storage, budget=2, train_epochs=2)
    arch = (
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|"
        "+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"
    )
    try:
        s.start()
        s.wait(lambda x: x.status == "finished", timeout=120)
        s.train(arch)
        snap = s.wait(lambda x: arch in x.train_curves and x.training is None, timeout=120)
    finally:
        s.close()
    assert [p["epoch"] for p in snap.train_curves[arch]] == [1, 2]
    assert len(storage.train_curves(snap.run_id)[arch]) == 2


def test_resume_in_process_continues_without_duplicates(storage: SQLiteStorage) -> None:
    s = _session(storage, budget=10, strategy="proxy_evolution")
    s.start()
    s.wait(lambda x: x.n_evaluated >= 4, timeout=120)
    s.steer("prune", 4, "none")
    s.close()
    seen = [c.arch for c in storage.candidates(s.run_id)]
    r = SearchSession.resume(storage, s.run_id, data=load_dataset("synthetic"))
    try:
        assert r.snapshot().status == "paused" and r.snapshot().mask_version == 1
        r.start()
        snap = r.wait(lambda x: x.status == "finished", timeout=120)
    finally:
        r.close()
    assert [c.seq for c in snap.candidates] == list(range(10))
    assert [c.arch for c in snap.candidates][: len(seen)] == seen
