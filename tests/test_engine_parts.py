"""Supernet, steering history, strategies and SQLite storage."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from nas_engine.data import load_dataset
from nas_engine.search_spaces import MaskError, NB201Arch, create_space
from nas_engine.search_spaces.nb201_supernet import NB201Supernet
from nas_engine.steering import Steering
from nas_engine.storage import CandidateRecord, SQLiteStorage, StorageError
from nas_engine.strategies import create_strategy, list_strategies
from nas_engine.supernet import SupernetConfig, SupernetTrainer

OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")


# ------------------------------------------------------------------------------ supernet
@pytest.mark.parametrize("op", OPS)
def test_supernet_runs_each_op_on_each_edge(op: str) -> None:
    net = NB201Supernet(C=4, N=1, num_classes=3, in_channels=1)
    for e in range(6):
        path = ["nor_conv_1x1"] * 6
        path[e] = op
        assert net(torch.randn(2, 1, 8, 8), path).shape == (2, 3)


def test_spos_samples_only_allowed_ops_and_checkpoints(tmp_path: Path) -> None:
    sp = create_space("nb201")
    data = load_dataset("synthetic")
    cfg = SupernetConfig(C=4, N=1, batch_size=16, seed=0)
    tr = SupernetTrainer(sp, data, cfg)
    mask = sp.full_mask().prune(0, "none").pin(3, "nor_conv_3x3").prune(5, "avg_pool_3x3")
    for _ in range(30):
        res = tr.train_step(mask)
        assert mask.allows(res.path) and math.isfinite(res.loss)
    acc = tr.evaluate(NB201Arch(("nor_conv_3x3",) * 6))
    assert 0.0 <= acc <= 100.0
    tr.save(tmp_path / "ck.pt")
    a = tr.train_step(mask)
    other = SupernetTrainer(sp, data, cfg)
    other.load(tmp_path / "ck.pt")
    b = other.train_step(mask)
    assert a.path == b.path and a.step == b.step == 31 and a.loss == pytest.approx(b.loss)
    with pytest.raises(ValueError, match="different supernet configuration"):
        SupernetTrainer(sp, data, SupernetConfig(C=8, N=1)).load(tmp_path / "ck.pt")


def test_supernet_learns_synthetic() -> None:
    sp = create_space("nb201")
    tr = SupernetTrainer(sp, load_dataset("synthetic"), SupernetConfig(C=4, N=1, batch_size=32))
    mask = sp.full_mask().pin(0, "nor_conv_3x3").pin(5, "nor_conv_3x3")
    for _ in range(60):
        tr.train_step(mask)
    assert tr.evaluate(NB201Arch(("nor_conv_3x3",) * 6)) > 40.0  # chance: 25 %


# ------------------------------------------------------------------------------ steering
def test_steering_history_and_undo() -> None:
    sp = create_space("nb201")
    st = Steering(sp.full_mask())
    e1 = st.apply("prune", 0, "none", note="never useful")
    e2 = st.apply("pin", 3, "nor_conv_3x3")
    assert (e1.mask_version, e2.mask_version) == (1, 2) and e1.note == "never useful"
    assert e2.mask_before == e1.mask_after and st.mask.allowed(3) == ("nor_conv_3x3",)
    u1 = st.apply("undo")
    assert u1.undoes == e2.seq and st.mask == e1.mask_after and u1.mask_version == 3
    u2 = st.apply("undo")
    assert st.mask == sp.full_mask() and u2.undoes == e1.seq
    with pytest.raises(MaskError, match="nothing to undo"):
        st.apply("undo")
    with pytest.raises(MaskError, match="nothing to reset"):
        st.apply("reset")
    # resuming from the stored events gives the same state
    again = Steering(sp.full_mask(), tuple(st.events))
    assert again.mask == st.mask and again.version == st.version == 4
    with pytest.raises(MaskError, match="unknown steering action"):
        st.apply("delete", 0, "none")


def test_steering_refusals_leave_state_intact() -> None:
    sp = create_space("nb201")
    st = Steering(sp.full_mask())
    for op in OPS[:-1]:
        st.apply("prune", 2, op)
    before = (st.mask, st.version, len(st.events))
    with pytest.raises(MaskError, match="last allowed op"):
        st.apply("prune", 2, "avg_pool_3x3")
    with pytest.raises(MaskError, match="unknown edge 7"):
        st.apply("pin", 7, "none")
    with pytest.raises(MaskError, match="needs an op"):
        st.apply("prune", 1)
    assert (st.mask, st.version, len(st.events)) == before


# ---------------------------------------------------------------------------- strategies
@pytest.mark.parametrize("name", list_strategies())
def test_strategy_asks_inside_the_mask(name: str) -> None:
    sp = create_space("nb201")
    kw = {"population_size": 6} if name != "random" else {}
    if name in ("evolution", "supernet_evolution"):
        kw["sample_size"] = 3
    strat = create_strategy(name, sp, **kw)
    rng = np.random.default_rng(0)
    mask = sp.full_mask()
    for i in range(120):
        if i == 40:
            mask = mask.prune(0, "none").prune(1, "none").pin(4, "skip_connect")
            strat.on_mask_change(mask)
        if i == 80:
            mask = mask.unpin(4).prune(4, "avg_pool_3x3")
            strat.on_mask_change(mask)
        arch = strat.ask(mask, rng)
        assert mask.allows(arch.ops), (name, i, arch)
        strat.tell(arch, float(rng.normal()))


def test_evolution_ages_and_proxy_evolution_is_elitist() -> None:
    sp = create_space("nb201")
    rng = np.random.default_rng(1)
    evo = create_strategy("evolution", sp, population_size=3, sample_size=2)
    elite = create_strategy("proxy_evolution", sp, population_size=3)
    archs = [sp.sample(rng) for _ in range(5)]
    fits = [5.0, 1.0, 4.0, 0.0, 3.0]
    for a, f in zip(archs, fits):
        evo.tell(a, f)
        elite.tell(a, f)
    assert [a for a, _ in evo.population] == archs[2:]  # oldest leave
    assert sorted(f for _, f in elite.population) == [3.0, 4.0, 5.0]  # worst leave
    # dropped on a mask change that forbids them
    mask = sp.full_mask().pin(0, "nor_conv_3x3")
    n_bad = sum(a.ops[0] != "nor_conv_3x3" for a, _ in elite.population)
    assert elite.on_mask_change(mask) == n_bad


def test_evolution_children_are_mutations_of_the_best() -> None:
    sp = create_space("nb201")
    evo = create_strategy("evolution", sp, population_size=4, sample_size=4)
    best = NB201Arch(("nor_conv_3x3",) * 6)
    evo.tell(best, 10.0)
    for _ in range(3):
        evo.tell(NB201Arch(("none",) * 6), float("nan"))
    child = evo.ask(sp.full_mask(), np.random.default_rng(0))
    assert sum(a != b for a, b in zip(child.ops, best.ops)) == 1


# ------------------------------------------------------------------------------- storage
def _rec(seq: int, **kw: object) -> CandidateRecord:
    base = dict(
        seq=seq,
        arch="|none~0|+|none~0|none~1|+|none~0|none~1|none~2|",
        mask_version=0,
        strategy="random",
        scores={"zico": 1.5, "naswot": math.nan},
    )
    base.update(kw)
    return CandidateRecord(**base)  # type: ignore[arg-type]


def test_storage_round_trip_and_export(tmp_path: Path) -> None:
    st = SQLiteStorage(tmp_path / "db" / "n.db")
    assert st._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    rid = st.create_run({"budget": 3})
    st.add_candidate(rid, _rec(0, truth=90.0, oneshot=50.0))
    st.add_candidate(rid, _rec(1, error="RuntimeError: boom"))
    with pytest.raises(StorageError, match="already stored"):
        st.add_candidate(rid, _rec(1))
    got = st.candidates(rid)
    assert [c.seq for c in got] == [0, 1] and got[0].truth == 90.0
    assert math.isnan(got[0].scores["naswot"]) and got[1].error == "RuntimeError: boom"
    assert st.set_trained_acc(rid, got[0].arch, 77.0) == 2
    st.add_supernet_point(rid, step=5, loss=1.0, acc=20.0, lr=0.1, images_per_s=100.0)
    st.add_train_point(rid, got[0].arch, epoch=1, train_loss=1.0, train_acc=50.0,
                       val_acc=40.0, seconds=0.5)  # fmt: skip
    st.export_csv(rid, tmp_path / "r.csv")
    st.export_json(rid, tmp_path / "r.json")
    lines = (tmp_path / "r.csv").read_text().splitlines()
    assert lines[0].startswith("seq,arch,mask_version") and len(lines) == 3
    doc = json.loads((tmp_path / "r.json").read_text())
    assert doc["run"]["config"] == {"budget": 3} and len(doc["candidates"]) == 2
    assert doc["candidates"][0]["scores"]["naswot"] is None  # JSON has no NaN
    assert doc["supernet_curve"][0]["step"] == 5 and doc["train_curves"]
    with pytest.raises(StorageError, match="no run 9"):
        st.get_run(9)
    # a second connection (another process, the app) sees committed data
    assert len(SQLiteStorage(tmp_path / "db" / "n.db").candidates(rid)) == 2
