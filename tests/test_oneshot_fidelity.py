"""One-shot estimates: the path is honoured, training practices, the live fidelity figure,
ranking while the estimate is not informative, the hybrid ensemble and warm-up."""

from __future__ import annotations

import collections
import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import stats

from nas_engine.data import load_dataset
from nas_engine.proxies.suite import ONESHOT, percentile_fitness, rank_ensemble
from nas_engine.runner import SearchConfig, SearchSession
from nas_engine.runner.config import LEGACY
from nas_engine.runner.fidelity import (
    INFORMATIVE,
    MIN_CELLS,
    Fidelity,
    oneshot_fidelity,
    search_fidelity,
    spearman_interval,
)
from nas_engine.runner.ranking import ranked
from nas_engine.search_spaces import NB201Arch, create_space
from nas_engine.search_spaces.nb201_supernet import NB201Supernet
from nas_engine.storage import CandidateRecord, SQLiteStorage
from nas_engine.supernet import SupernetConfig, SupernetTrainer
from tests.engine_helpers import tiny_config

MEMBERS = ("jacob_cov", "meco", "synflow")


# ------------------------------------------------------------------ the path is honoured
@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_subnet_equals_the_supernet_on_its_path(seed: int, mode: str) -> None:
    """The supernet's output on a path is the standalone network of that path with the
    inherited weights; a supernet that ignored (part of) the path fails this."""
    torch.manual_seed(seed)
    net = NB201Supernet(C=4, N=2, num_classes=3, in_channels=1)
    rng = np.random.default_rng(seed)
    ops = create_space("nb201").ops
    net.train()
    for _ in range(3):  # move BN statistics off their initial values
        net(torch.randn(6, 1, 8, 8), [ops[int(i)] for i in rng.integers(len(ops), size=6)])
    path = tuple(ops[int(i)] for i in rng.integers(len(ops), size=6))
    sub = net.subnet(path)
    getattr(net, mode)()
    getattr(sub, mode)()
    x = torch.randn(5, 1, 8, 8)
    with torch.no_grad():
        assert torch.allclose(net(x, path), sub(x), atol=1e-5)


def test_estimate_reads_the_cell_it_is_asked_about() -> None:
    sp = create_space("nb201")
    tr = SupernetTrainer(sp, load_dataset("synthetic"), SupernetConfig(C=4, N=1, batch_size=32))
    for _ in range(60):
        tr.train_step(sp.full_mask().pin(0, "nor_conv_3x3").pin(5, "nor_conv_3x3"))
    conv = tr.estimate(NB201Arch(("nor_conv_3x3",) * 6))
    empty = tr.estimate(NB201Arch(("none",) * 6))  # constant logits: one class predicted
    counts = np.bincount(tr.data.y_val[: conv.images])
    assert conv.acc > 40.0 and conv.images == min(512, len(tr.data.x_val))
    assert empty.acc <= 100.0 * counts.max() / counts.sum() + 1e-9
    assert conv.loss < empty.loss


def test_fair_sampling_trains_every_allowed_op_equally() -> None:
    sp = create_space("nb201")
    tr = SupernetTrainer(sp, load_dataset("synthetic"), SupernetConfig(C=4, sampling="fair"))
    mask = sp.full_mask().prune(1, "none").prune(1, "skip_connect")  # 3 ops on edge 1
    counts = [collections.Counter() for _ in range(6)]
    for step in range(30):
        tr.step = step  # the walk is a function of the step
        for e, op in enumerate(tr.sample_path(mask)):
            counts[e][op] += 1
    assert all(set(c.values()) == {6} for e, c in enumerate(counts) if e != 1)
    assert counts[1] == {"nor_conv_1x1": 10, "nor_conv_3x3": 10, "avg_pool_3x3": 10}


def test_augmentation_is_seeded_and_keeps_shape() -> None:
    sp = create_space("nb201")
    tr = SupernetTrainer(sp, load_dataset("synthetic"), SupernetConfig(C=4, augment=True))
    x = tr.data.x_train[:16]
    a, b = tr._augment(x), tr._augment(x)
    assert a.shape == x.shape and np.array_equal(a, b) and not np.array_equal(a, x)


def test_old_checkpoints_and_configs_keep_their_behaviour(tmp_path: Path) -> None:
    sp = create_space("nb201")
    data = load_dataset("synthetic")
    tr = SupernetTrainer(sp, data, SupernetConfig(C=4))
    state = tr.state_dict()
    for k in ("sampling", "augment"):  # a checkpoint written before they existed
        del state["config"][k]
    SupernetTrainer(sp, data, SupernetConfig(C=4)).load_state_dict(state)
    with pytest.raises(ValueError, match="different supernet configuration"):
        SupernetTrainer(sp, data, SupernetConfig(C=4, augment=True)).load_state_dict(state)
    stored = tiny_config().to_dict()
    for k in LEGACY:
        stored.pop(k)
    old = SearchConfig.from_dict(stored)
    assert all(getattr(old, k) == v for k, v in LEGACY.items())


# ----------------------------------------------------------------- the fidelity figure
def _cands(
    est: list[float], *, truth: list[float] | None = None, trained: list[float] | None = None
) -> list[CandidateRecord]:
    rng = np.random.default_rng(0)
    out = []
    for i, e in enumerate(est):
        scores = {m: float(v) for m, v in zip(MEMBERS, rng.random(3), strict=True)}
        out.append(
            CandidateRecord(
                seq=i, arch=f"a{i}", mask_version=0, strategy="random", scores=scores,
                fitness=e, oneshot=e, truth=None if truth is None else truth[i],
                trained_acc=None if trained is None else trained[i],
            )
        )  # fmt: skip
    return out


def test_fidelity_prefers_ground_truth_then_trained_then_ensemble() -> None:
    n = 40
    est = list(np.linspace(10, 60, n))
    kw = {"members": MEMBERS, "aggregation": "log_rank"}
    truth = [e + (5 if i % 2 else -5) for i, e in enumerate(est)]
    trained_rev = [-e for e in est]
    f = oneshot_fidelity(_cands(est, truth=truth, trained=trained_rev), **kw)
    expected = float(stats.spearmanr(est, truth)[0])
    assert f.source == "ground truth" and f.n == n and f.rho == pytest.approx(expected)
    assert f.low is not None and f.high is not None and f.low < f.rho < f.high
    # the search never acts on ground truth
    g = search_fidelity(_cands(est, truth=truth, trained=trained_rev), **kw)
    assert g.source == "trained from scratch" and g.rho == pytest.approx(-1.0)
    assert not g.informative and g.weight == 0.0 and g.label().startswith("not informative")
    h = oneshot_fidelity(_cands(est), **kw)
    ens = rank_ensemble({m: [c.scores[m] for c in _cands(est)] for m in MEMBERS}, MEMBERS)
    ens_rho = float(stats.spearmanr(est, ens)[0])
    assert h.source == "zero-cost ensemble" and h.rho == pytest.approx(ens_rho) and h.n == n


def test_fidelity_needs_enough_cells_and_covers_the_latest_window() -> None:
    kw = {"members": MEMBERS, "aggregation": "log_rank"}
    few = oneshot_fidelity(_cands([1.0] * (MIN_CELLS - 1), truth=[1.0] * (MIN_CELLS - 1)), **kw)
    assert few.rho is None and "needed" in few.reason and not few.informative
    # 30 old estimates agree with the truth, the 20 latest disagree; a window of 20 sees them
    est = list(range(50))
    truth = [float(e) for e in est[:30]] + [float(-e) for e in est[30:]]
    f = oneshot_fidelity(_cands(est, truth=truth), window=20, **kw)
    assert f.n == 20 and f.rho == pytest.approx(-1.0)
    assert oneshot_fidelity(_cands(est, truth=truth), window=50, **kw).n == 50


def test_interval_narrows_with_n() -> None:
    lo1, hi1 = spearman_interval(0.6, 20)
    lo2, hi2 = spearman_interval(0.6, 200)
    assert lo1 < lo2 < 0.6 < hi2 < hi1


def test_informative_threshold() -> None:
    assert Fidelity(INFORMATIVE, 50, "ground truth", 0.0, 0.5).informative
    assert not Fidelity(INFORMATIVE - 0.01, 50, "ground truth", 0.0, 0.5).informative
    assert Fidelity(0.7, 50, "ground truth", 0.5, 0.8).weight == pytest.approx(0.7)


# -------------------------------------------------------- ranking and the hybrid member
def test_oneshot_fitness_is_not_ranked_by_while_not_informative() -> None:
    cfg = tiny_config(strategy="supernet_evolution", proxy="ensemble", ensemble=MEMBERS)
    cands = _cands(list(np.linspace(0, 1, 30)))
    bad = Fidelity(0.1, 30, "zero-cost ensemble", -0.2, 0.4)
    good = Fidelity(0.8, 30, "zero-cost ensemble", 0.6, 0.9)
    by_oneshot = sorted(cands, key=lambda c: -c.oneshot)
    ens = rank_ensemble({m: [c.scores[m] for c in cands] for m in MEMBERS}, MEMBERS)
    by_ensemble = [cands[int(i)] for i in np.argsort(-ens, kind="stable")]
    assert ranked(cands, config=cfg, fitness_kind="oneshot", fidelity=good) == by_oneshot
    assert ranked(cands, config=cfg, fitness_kind="oneshot", fidelity=bad) == by_ensemble


def test_hybrid_member_weighs_by_fidelity() -> None:
    cfg = tiny_config(proxy="ensemble", ensemble=MEMBERS, hybrid=True)
    cands = _cands(list(np.linspace(0, 1, 30)))
    plain = ranked(cands, config=cfg, fitness_kind="proxy", fidelity=Fidelity(0.1, 30, "x"))
    base = tiny_config(proxy="ensemble", ensemble=MEMBERS)
    assert plain == ranked(cands, config=base, fitness_kind="proxy")
    fid = Fidelity(0.9, 30, "zero-cost ensemble", 0.8, 0.95)
    mixed = ranked(cands, config=cfg, fitness_kind="proxy", fidelity=fid)
    values = {m: [c.scores[m] for c in cands] for m in MEMBERS} | {
        ONESHOT: [c.oneshot for c in cands]
    }
    score = rank_ensemble(values, [*MEMBERS, ONESHOT], weights={ONESHOT: 0.9})
    assert mixed == [cands[int(i)] for i in np.argsort(-score, kind="stable")] != plain
    # online: a weight of 0 is the plain ensemble, a weight > 0 rewards a better estimate
    prior = [{**c.scores, ONESHOT: c.oneshot} for c in cands]
    new = {**cands[0].scores}
    lo = percentile_fitness({**new, ONESHOT: -1.0}, prior, [*MEMBERS, ONESHOT],
                            weights={ONESHOT: 0.5})  # fmt: skip
    hi = percentile_fitness({**new, ONESHOT: 2.0}, prior, [*MEMBERS, ONESHOT],
                            weights={ONESHOT: 0.5})  # fmt: skip
    zero = percentile_fitness({**new, ONESHOT: 2.0}, prior, [*MEMBERS, ONESHOT],
                              weights={ONESHOT: 0.0})  # fmt: skip
    assert hi - lo == pytest.approx(0.5 * (math.log(31 / 31) - math.log(1 / 31)))
    assert zero == pytest.approx(percentile_fitness(new, prior, MEMBERS))


# ------------------------------------------------------------------ the live figure
@pytest.fixture
def storage(tmp_path: Path) -> SQLiteStorage:
    return SQLiteStorage(tmp_path / "n.db")


def test_a_run_with_a_benchmark_reports_its_fidelity(
    storage: SQLiteStorage, tmp_path: Path
) -> None:
    sp = create_space("nb201")
    table = tmp_path / "gt.csv"
    rows = [f"{sp.to_string(a)},{(i * 7919) % 1000 / 10}" for i, a in enumerate(sp.enumerate())]
    table.write_text("arch,acc\n" + "\n".join(rows) + "\n")
    cfg = tiny_config(budget=14, strategy="random", benchmark=f"csv:{table}", supernet_warmup=30)
    s = SearchSession.create(storage, cfg, data=load_dataset("synthetic"))
    try:
        assert s.snapshot().warmup_left == 30
        s.start()
        first = s.wait(lambda x: x.n_evaluated >= 1, timeout=120)
        assert first.supernet_step >= 30 and first.warmup_left == 0
        early = first.fidelity
        snap = s.wait(lambda x: x.status == "finished", timeout=180)
    finally:
        s.close()
    assert early.rho is None and "needed" in early.reason
    fid = snap.fidelity
    n = len({c.arch for c in snap.candidates if c.oneshot is not None})
    assert fid.source == "ground truth" and fid.n == n >= MIN_CELLS
    pairs = {c.arch: (c.oneshot, c.truth) for c in snap.candidates}
    est, tru = zip(*pairs.values(), strict=True)
    assert fid.rho == pytest.approx(float(stats.spearmanr(est, tru)[0]))
    assert f"n = {n}" in fid.label()


def test_weighted_rank_ensemble_by_hand() -> None:
    scores = {"synflow": [1.0, 2.0, 3.0], ONESHOT: [30.0, 10.0, 20.0]}
    names = ["synflow", ONESHOT]
    # ranks (1 = worst): synflow 1,2,3; oneshot 3,1,2
    log = rank_ensemble(scores, names, aggregation="log_rank", weights={ONESHOT: 0.5})
    expected = [math.log(r / 3) + 0.5 * math.log(o / 3) for r, o in ((1, 3), (2, 1), (3, 2))]
    np.testing.assert_allclose(log, expected)
    mean = rank_ensemble(scores, names, aggregation="mean_rank", weights={ONESHOT: 0.5})
    np.testing.assert_allclose(mean, [(1 + 1.5) / 1.5, (2 + 0.5) / 1.5, (3 + 1) / 1.5])
    with pytest.raises(ValueError, match="weights"):
        rank_ensemble(scores, names, weights={ONESHOT: -1.0})


def test_hybrid_fitness_uses_the_search_fidelity_as_weight() -> None:
    from nas_engine.runner.evaluation import Evaluation, fitness

    cfg = tiny_config(proxy="ensemble", ensemble=MEMBERS, hybrid=True)
    hist = _cands(list(np.linspace(0, 1, 20)))
    ev = Evaluation(scores=dict(hist[3].scores), seconds={}, oneshot=0.95, truth=None, error=None)
    prior = [{**c.scores, ONESHOT: c.oneshot} for c in hist]
    names = [*MEMBERS, ONESHOT]
    got = fitness(ev, kind="proxy", config=cfg, history=hist, oneshot_weight=0.4)
    want = percentile_fitness({**ev.scores, ONESHOT: 0.95}, prior, names, weights={ONESHOT: 0.4})
    assert got == pytest.approx(want)
    plain = fitness(ev, kind="proxy", config=cfg, history=hist, oneshot_weight=0.0)
    assert plain == pytest.approx(percentile_fitness(ev.scores, prior, MEMBERS)) != got


def test_augmentation_auto_follows_the_image_size() -> None:
    from nas_engine.runner.config import CommandError
    from nas_engine.runner.spos import augments

    small = load_dataset("synthetic")  # 8×8
    big = dataclasses.replace(small, x_train=np.zeros((4, 3, 32, 32), np.float32))
    assert not augments(tiny_config(), small) and augments(tiny_config(), big)
    assert augments(tiny_config(supernet_augment="on"), small)
    assert not augments(tiny_config(supernet_augment="off"), big)
    with pytest.raises(CommandError, match="supernet_augment"):
        tiny_config(supernet_augment="yes")


def test_likelihood_estimate_is_the_loss_on_a_percent_scale() -> None:
    sp = create_space("nb201")
    cfg = SupernetConfig(C=4, batch_size=16, estimate="likelihood")
    tr = SupernetTrainer(sp, load_dataset("synthetic"), cfg)
    for _ in range(10):
        tr.train_step(sp.full_mask())
    arch = NB201Arch(("nor_conv_3x3",) * 6)
    assert tr.evaluate(arch) == pytest.approx(100.0 * math.exp(-tr.estimate(arch).loss))
    with pytest.raises(ValueError, match="estimate"):
        SupernetConfig(estimate="loss")


def test_the_run_trainer_gets_every_supernet_setting(tmp_path: Path) -> None:
    from nas_engine.runner.spos import make_trainer

    cfg = tiny_config(
        supernet_sampling="fair", supernet_estimate="likelihood", supernet_augment="on",
        supernet_schedule_steps=77, supernet_calib_batches=3, supernet_lr=0.2,
    )  # fmt: skip
    tr = make_trainer(
        create_space("nb201"), load_dataset("synthetic"), cfg, checkpoint_path=tmp_path / "c.pt"
    )
    assert tr is not None
    got = tr.config
    assert (got.sampling, got.estimate, got.augment) == ("fair", "likelihood", True)
    assert (got.schedule_steps, got.calib_batches, got.lr) == (77, 3, 0.2)
    assert (got.C, got.N, got.batch_size) == (4, 1, 16)
