"""Per-viewer (per-actor) undo and attribution of steering events."""

from __future__ import annotations

from pathlib import Path

import pytest

from nas_engine.resources import ResourceBudget
from nas_engine.search_spaces import MaskError, OpMask, create_space
from nas_engine.steering import Steering, SteeringEvent

SPACE = create_space("nb201")
A = {"actor": "tab-a", "actor_name": "viewer 1"}
B = {"actor": "tab-b", "actor_name": "viewer 2"}


def _full() -> OpMask:
    return SPACE.full_mask()


def _interleaved() -> Steering:
    """A prunes edge 0, B prunes edge 1, A prunes edge 2, B pins edge 3."""
    st = Steering(_full())
    st.apply("prune", 0, "none", **A)
    st.apply("prune", 1, "none", **B)
    st.apply("prune", 2, "avg_pool_3x3", **A)
    st.apply("pin", 3, "nor_conv_3x3", **B)
    return st


def _expected(*, e0: bool, e1: bool, e2: bool, e3: bool) -> OpMask:
    m = _full()
    if e0:
        m = m.prune(0, "none")
    if e1:
        m = m.prune(1, "none")
    if e2:
        m = m.prune(2, "avg_pool_3x3")
    if e3:
        m = m.pin(3, "nor_conv_3x3")
    return m


def test_events_carry_their_actor() -> None:
    st = _interleaved()
    assert [(e.actor, e.actor_name) for e in st.events] == [
        ("tab-a", "viewer 1"),
        ("tab-b", "viewer 2"),
        ("tab-a", "viewer 1"),
        ("tab-b", "viewer 2"),
    ]
    anon = st.apply("prune", 4, "none")
    assert (anon.actor, anon.actor_name) == ("", "")


def test_each_actor_undoes_its_own_latest_action() -> None:
    st = _interleaved()
    u = st.apply("undo", **A)  # A's prune on edge 2, not B's later pin
    assert u.undoes == 2 and (u.actor, u.actor_name) == ("tab-a", "viewer 1")
    assert st.mask == _expected(e0=True, e1=True, e2=False, e3=True)
    assert u.mask_before == _expected(e0=True, e1=True, e2=True, e3=True)
    assert u.mask_after == st.mask and u.edge is None
    u = st.apply("undo", **B)  # B's pin on edge 3
    assert u.undoes == 3 and st.mask == _expected(e0=True, e1=True, e2=False, e3=False)
    u = st.apply("undo", **A)  # A's prune on edge 0, below B's prune on edge 1
    assert u.undoes == 0 and st.mask == _expected(e0=False, e1=True, e2=False, e3=False)
    u = st.apply("undo", **B)
    assert u.undoes == 1 and st.mask == _full()
    assert [e.mask_version for e in st.events] == list(range(1, 9))


def test_an_actor_with_nothing_to_undo_is_refused_with_the_reason() -> None:
    st = Steering(_full())
    st.apply("prune", 0, "none", **A)
    with pytest.raises(MaskError) as err:
        st.apply("undo", **B)
    assert str(err.value) == (
        "nothing of yours to undo (viewer 2); other viewers' actions are theirs to undo"
    )
    assert st.mask == _full().prune(0, "none") and len(st.events) == 1  # nothing recorded
    st.apply("undo", **A)
    st.apply("prune", 1, "none", **B)
    with pytest.raises(MaskError, match=r"^nothing of yours to undo \(viewer 1\)"):
        st.apply("undo", **A)  # its one action is undone already
    with pytest.raises(MaskError, match=r"\(tab-c\)"):  # no display name: the key
        st.apply("undo", actor="tab-c")


def test_a_later_action_of_another_actor_on_the_same_edge_blocks_the_undo() -> None:
    st = Steering(_full())
    st.apply("prune", 3, "none", **A)
    st.apply("pin", 3, "nor_conv_3x3", **B)
    with pytest.raises(MaskError) as err:
        st.apply("undo", **A)
    assert str(err.value) == (
        "viewer 2's pin on edge 3 came after your prune on edge 3; it must be undone first"
    )
    assert len(st.events) == 2
    st.apply("undo", **B)  # once B's pin is undone, A may undo its prune
    st.apply("undo", **A)
    assert st.mask == _full()


def test_resets_conflict_with_every_edge_and_budgets_with_budgets() -> None:
    st = Steering(_full())
    st.apply("prune", 0, "none", **A)
    st.apply("reset", **B)
    with pytest.raises(MaskError, match="viewer 2's reset came after your prune on edge 0"):
        st.apply("undo", **A)
    st.apply("prune", 5, "none", actor="tab-c")  # unnamed third actor
    with pytest.raises(MaskError, match="tab-c's prune on edge 5 came after your reset"):
        st.apply("undo", **B)
    st.apply("prune", 5, "avg_pool_3x3")
    with pytest.raises(MaskError, match="an unattributed prune on edge 5 came after"):
        st.apply("undo", actor="tab-c")
    small, smaller = ResourceBudget(max_params=1e6), ResourceBudget(max_params=5e5)
    bt = Steering(_full(), budget=ResourceBudget())
    bt.apply("budget", budget=small, **A)
    bt.apply("prune", 0, "none", **B)  # does not touch the budget
    u = bt.apply("undo", **A)
    assert bt.budget == ResourceBudget() and bt.mask == _full().prune(0, "none")
    assert u.budget_after == ResourceBudget() and u.mask_after == u.mask_before
    bt.apply("budget", budget=smaller, **A)
    bt.apply("undo", **B)  # B's prune, below A's budget change: the budget stays A's
    assert bt.budget == smaller and bt.mask == _full()
    bt.apply("prune", 0, "none", **B)
    bt.apply("reset", **B)
    bt.apply("budget", budget=small, **A)
    bt.apply("undo", **B)  # B's reset: its mask comes back, A's later budget stays
    assert bt.budget == small and bt.mask == _full().prune(0, "none")
    bt.apply("budget", budget=smaller, **A)
    bt.apply("budget", budget=small, **B)
    with pytest.raises(MaskError, match="viewer 2's budget change came after your budget"):
        bt.apply("undo", **A)


def test_undone_events_do_not_conflict() -> None:
    st = Steering(_full())
    st.apply("prune", 0, "none", **A)
    st.apply("prune", 0, "avg_pool_3x3", **B)
    st.apply("undo", **B)  # B's prune is undone; the undo event itself is B's
    st.apply("prune", 1, "none", **B)
    u = st.apply("undo", **A)
    assert u.undoes == 0 and st.mask == _full().prune(1, "none")


def test_anonymous_undo_keeps_the_shared_stack() -> None:
    st = _interleaved()
    undone = [st.apply("undo").undoes for _ in range(4)]
    assert undone == [3, 2, 1, 0] and st.mask == _full()
    with pytest.raises(MaskError, match="^nothing to undo$"):
        st.apply("undo")
    with pytest.raises(MaskError, match="^nothing to undo$"):
        st.apply("undo", **A)
    # after an actor's out-of-order undo, anonymous undo reverts anyone's latest left
    st = _interleaved()
    st.apply("undo", **A)  # A's prune on edge 2
    u = st.apply("undo")
    assert u.undoes == 3 and (u.actor, u.actor_name) == ("", "")
    assert st.mask == _expected(e0=True, e1=True, e2=False, e3=False)
    assert st.apply("undo").undoes == 1
    assert st.mask == _expected(e0=True, e1=False, e2=False, e3=False)


def test_undo_reverts_against_the_current_mask_and_runs_the_check() -> None:
    seen: list[OpMask] = []
    st = Steering(_full(), check=lambda m, _b: seen.append(m))
    st.apply("prune", 0, "none", **A)
    st.apply("prune", 0, "skip_connect", **A)
    st.apply("prune", 4, "none", **B)
    st.apply("undo", **A)
    assert st.mask == _full().prune(0, "none").prune(4, "none") and seen[-1] == st.mask

    def refuse(m: OpMask, _b: ResourceBudget) -> None:
        if not m.pruned[4]:
            raise MaskError("no cell left")

    st.check = refuse
    with pytest.raises(MaskError, match="no cell left"):
        st.apply("undo", **B)
    assert len(st.events) == 4
    st.check = None
    assert st.apply("undo", **B).undoes == 2  # the refused undo left it undoable


def test_resume_from_events_gives_the_same_undo_behaviour() -> None:
    st = _interleaved()
    st.apply("undo", **A)  # out of order: removes a non-top entry
    again = Steering(_full(), tuple(st.events))
    assert again.mask == st.mask and again.version == st.version
    assert again._undoable == st._undoable == [0, 1, 3]
    for s in (st, again):
        with pytest.raises(MaskError, match="nothing of yours"):
            s.apply("undo", actor="tab-c", actor_name="viewer 3")
        assert s.apply("undo", **A).undoes == 0
        assert s.apply("undo", **B).undoes == 3
        assert s.apply("undo").undoes == 1
    assert again.mask == st.mask == _full()
    assert [e.to_dict() for e in again.events[5:]] == [
        {**e.to_dict(), "time": a.time} for e, a in zip(st.events[5:], again.events[5:])
    ]


def test_to_dict_round_trip_and_old_dicts() -> None:
    st = _interleaved()
    u = st.apply("undo", **B)
    for e in st.events:
        assert SteeringEvent.from_dict(e.to_dict()) == e
    d = u.to_dict()
    assert (d["actor"], d["actor_name"], d["undoes"]) == ("tab-b", "viewer 2", 3)
    old = {k: v for k, v in st.events[0].to_dict().items() if k not in ("actor", "actor_name")}
    ev = SteeringEvent.from_dict(old)
    assert (ev.actor, ev.actor_name) == ("", "") and ev.mask_after == st.events[0].mask_after
    # a run stored before actors resumes with today's shared undo
    olds = [
        SteeringEvent.from_dict(
            {k: v for k, v in e.to_dict().items() if k not in ("actor", "actor_name")}
        )
        for e in _interleaved().events
    ]
    again = Steering(_full(), tuple(olds))
    assert again.apply("undo").undoes == 3
    with pytest.raises(MaskError, match="nothing of yours"):
        again.apply("undo", **A)


def test_with_edge_from_takes_one_edge() -> None:
    a = _full().prune(0, "none").pin(1, "skip_connect")
    b = _full().pin(0, "nor_conv_1x1").prune(2, "none")
    m = a.with_edge_from(b, 0)
    assert m.pinned[0] == "nor_conv_1x1" and not m.pruned[0]
    assert m.pinned[1] == "skip_connect" and not m.pruned[2] and hash(m) == hash(m)
    assert a.with_edge_from(b, 1).pinned[1] is None
    with pytest.raises(MaskError, match="unknown edge"):
        a.with_edge_from(b, 9)
    with pytest.raises(MaskError, match="another space"):
        a.with_edge_from(OpMask.full(num_edges=6, ops=("x", "y")), 0)


def test_two_actors_undo_through_a_session_and_storage_keeps_the_actor(tmp_path: Path) -> None:
    from nas_engine.data import load_dataset
    from nas_engine.runner import SearchSession
    from nas_engine.storage import SQLiteStorage
    from tests.engine_helpers import tiny_config

    storage = SQLiteStorage(tmp_path / "a.db")
    data = load_dataset("synthetic")
    s = SearchSession.create(storage, tiny_config(supernet=False, budget=4), data=data)
    try:
        s.steer("prune", 0, "none", **A)
        s.steer("prune", 1, "none", **B)
        s.steer("prune", 2, "none", note="cli")
        with pytest.raises(MaskError, match="^nothing of yours to undo"):
            s.steer("undo", actor="tab-c", actor_name="viewer 3")
        assert s.steer("undo", **A) == _full().prune(1, "none").prune(2, "none")
        assert s.steer("undo", **B) == _full().prune(2, "none")
        run_id = s.snapshot().run_id
    finally:
        s.close()
    stored = storage.events(run_id)
    assert [(e.action, e.actor, e.actor_name, e.undoes) for e in stored] == [
        ("prune", "tab-a", "viewer 1", None),
        ("prune", "tab-b", "viewer 2", None),
        ("prune", "", "", None),
        ("undo", "tab-a", "viewer 1", 0),
        ("undo", "tab-b", "viewer 2", 1),
    ]
    again = SearchSession.resume(storage, run_id, data=data)
    try:
        with pytest.raises(MaskError, match=r"nothing of yours to undo \(viewer 1\)"):
            again.steer("undo", **A)
        assert again.steer("undo") == _full()  # anonymous: the CLI prune
    finally:
        again.close()
