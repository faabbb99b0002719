"""What a run returns and what it may ask: the ensemble's best and top-k order, checked by
hand, and the FLOPs and parameter budgets for every registered strategy."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import rankdata

from nas_engine.data import load_dataset
from nas_engine.runner import SearchConfig, SearchSession, Snapshot
from nas_engine.runner.ranking import best, top_archs
from nas_engine.storage import CandidateRecord, SQLiteStorage
from nas_engine.strategies import STRATEGIES, list_strategies
from tests.engine_helpers import tiny_config

DATA = load_dataset("synthetic")


def _rec(seq: int, arch: str, fitness: float, **scores: float) -> CandidateRecord:
    return CandidateRecord(seq=seq, arch=arch, mask_version=0, strategy="random",
                           scores=scores, fitness=fitness)  # fmt: skip


@pytest.mark.parametrize("aggregation", ["log_rank", "mean_rank"])
def test_ensemble_best_and_top_k_on_a_hand_ranked_run(aggregation: str) -> None:
    # c beats a beats d beats b on both members, so every aggregation orders them c, a, d,
    # b. The online fitness (each cell judged on the peers before it) says otherwise: the
    # first cell, alone when scored, holds the best possible fitness.
    cands = [
        _rec(0, "a", 0.0, naswot=3.0, synflow=30.0),
        _rec(1, "b", -5.0, naswot=1.0, synflow=10.0),
        _rec(2, "c", -1.0, naswot=4.0, synflow=40.0),
        _rec(3, "d", -2.0, naswot=2.0, synflow=20.0),
    ]
    cfg = tiny_config(proxy="ensemble", ensemble=("naswot", "synflow"), aggregation=aggregation)
    top = best(cands, config=cfg, fitness_kind="proxy")
    assert top is not None and top.arch == "c"
    assert top_archs(cands, 3, config=cfg, fitness_kind="proxy") == ["c", "a", "d"]
    # by fitness alone (not an ensemble run) the order is the fitness order
    single = tiny_config(proxy="naswot")
    assert top_archs(cands, 4, config=single, fitness_kind="proxy") == ["a", "c", "d", "b"]


def _by_hand(cands: list[CandidateRecord], members: tuple[str, ...]) -> list[str]:
    """AZ-NAS's log-rank ensemble written out: rank each member over the cells (1 worst,
    n best, ties share their average rank), sum log(rank / n), best first; equal sums keep
    their evaluation order."""
    n = len(cands)
    total = np.zeros(n)
    for m in members:
        total += np.log(rankdata([c.scores[m] for c in cands]) / n)
    assert len(set(np.round(total, 9))) > 2, "too many ties for the order to say anything"
    return [cands[int(i)].arch for i in np.argsort(-np.round(total, 9), kind="stable")]


def _run_to_end(storage: SQLiteStorage, cfg: SearchConfig) -> tuple[SearchSession, Snapshot]:
    """Create a run of ``cfg``, search to its budget, close it; the session and the last
    snapshot."""
    s = SearchSession.create(storage, cfg, data=DATA)
    try:
        s.start()
        snap = s.wait(lambda x: x.status == "finished", timeout=300)
    finally:
        s.close()
    return s, snap


@pytest.mark.slow
def test_a_runs_best_and_trained_top_k_follow_the_ensemble(tmp_path: Path) -> None:
    members = ("naswot", "synflow")
    cfg = tiny_config(budget=7, strategy="random", supernet=False, proxy="ensemble",
                      proxies=members, ensemble=members, aggregation="log_rank",
                      train_top_k=2, seed=1)  # fmt: skip
    storage = SQLiteStorage(tmp_path / "e.db")
    _, snap = _run_to_end(storage, cfg)
    order = _by_hand(list(snap.candidates), members)
    assert snap.best is not None and snap.best.arch == order[0]
    with sqlite3.connect(storage.path) as con:
        trained = [a for (a,) in con.execute(
            "SELECT arch FROM train_curves WHERE run_id = ? AND epoch = 1 ORDER BY rowid",
            (snap.run_id,))]  # fmt: skip
    assert trained == order[:2]  # trained in ensemble order, best first
    assert {c.arch for c in snap.candidates if c.trained_acc is not None} == set(order[:2])


@pytest.fixture(scope="module")
def cost_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("costs")  # one cost table for every budget test


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["flops", "params"])
@pytest.mark.parametrize("strategy", list_strategies())
def test_every_strategy_obeys_the_flops_and_params_budgets(
    cost_dir: Path, strategy: str, kind: str
) -> None:
    oneshot = STRATEGIES.get(strategy).fitness == "oneshot"  # type: ignore[attr-defined]
    base = tiny_config(strategy=strategy, supernet=oneshot, proxy="naswot")
    storage = SQLiteStorage(cost_dir / f"{strategy}-{kind}.db")
    probe = SearchSession.create(storage, base, data=DATA)
    costs = probe.costs()
    probe.close()
    values = np.asarray(getattr(costs, kind))
    limit = float(np.quantile(values, 0.2))  # 4 cells in 5 are over it: the limit binds
    other = "params" if kind == "flops" else "flops"
    cfg = tiny_config(strategy=strategy, supernet=oneshot, proxy="naswot", budget=10,
                      population_size=3, sample_size=2, **{f"max_{kind}": limit})  # fmt: skip
    s, snap = _run_to_end(storage, cfg)
    space = s.space
    asked = [space.index(space.from_string(c.arch)) for c in snap.candidates]
    assert len(asked) == 10
    over = [a for a in asked if values[a] > limit + 1e-12]
    assert not over, f"{strategy} asked {len(over)} cells over max_{kind}={limit:.4g}"
    assert getattr(snap.budget, f"max_{kind}") == limit
    assert getattr(snap.budget, f"max_{other}") is None  # only the one asked for is set
