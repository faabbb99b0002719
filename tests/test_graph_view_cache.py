"""The steering card's caches: a live run's poll gets an earlier snapshot's evidence at
once (same run, metric, selection, mask and budget) while the current one is computed in
the background; anything that changes the mask, or a run that is not running, gets the
exact evidence; the candidates frame parses each cell once and stays the same frame."""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import pandas as pd

from app.viewmodel import candidates_frame, graph_data
from app.viewmodel.steering import EVIDENCE_CACHE, snapshot_evidence
from nas_engine.runner import SearchConfig, Snapshot
from nas_engine.runner.evidence import Evidence, run_evidence
from nas_engine.search_spaces import create_space
from nas_engine.steering import Steering
from nas_engine.storage import CandidateRecord
from nas_engine.strategies import STRATEGIES

SPACE = create_space("nb201")
CFG = SearchConfig(proxies=("params",), proxy="params", supernet=False, strategy="random")
RUN = 424242  # a run id no other test uses (the cache is process-wide)


def _cands(n: int, seed: int = 0) -> tuple[CandidateRecord, ...]:
    rng = np.random.default_rng(seed)
    idx = rng.choice(SPACE.size, n, replace=False)
    out = []
    for i, k in enumerate(idx):
        arch = SPACE.to_string(SPACE.from_index(int(k)))
        # 'none' on edge 0 trails clearly, so the evidence has something to say
        fit = float(rng.normal()) - (3.0 if SPACE.ops_of(SPACE.from_string(arch))[0] == "none"
                                     else 0.0)  # fmt: skip
        out.append(CandidateRecord(i, arch, 0, "random", {"params": fit}, fitness=fit))
    return tuple(out)


CANDS = _cands(240)


def _snap(steering: Steering, n: int, *, status: str = "running", run: int = RUN) -> Snapshot:
    return Snapshot(
        run_id=run, status=status, config=CFG, mask=steering.mask,
        mask_version=steering.version, candidates=CANDS[:n], events=tuple(steering.events),
        supernet_curve=(), train_curves={}, best=None, supernet_step=0,
        candidates_per_min=0.0, message=None, updated=time.time() + n,
    )  # fmt: skip


def _exact(snap: Snapshot) -> Evidence:
    kind = STRATEGIES.get(snap.config.strategy).fitness  # type: ignore[attr-defined]
    return run_evidence(snap.candidates, SPACE, snap.mask, config=snap.config,
                        fitness_kind=kind, metric="fitness", seed=snap.config.seed)  # fmt: skip


def test_a_live_poll_gets_the_earlier_evidence_at_once_then_the_exact_one() -> None:
    steering = Steering(SPACE.full_mask())
    s1, s2 = _snap(steering, 220), _snap(steering, 230)
    ev1 = snapshot_evidence(s1, SPACE, metric="fitness", selection=None, stale_ok=True)
    assert ev1 == _exact(s1)  # nothing earlier to stand in: computed before returning
    stand_in = snapshot_evidence(s2, SPACE, metric="fitness", selection=None, stale_ok=True)
    assert stand_in is ev1  # 220 of 230 candidates: answered at once
    assert EVIDENCE_CACHE.wait_idle()
    ev2 = snapshot_evidence(s2, SPACE, metric="fitness", selection=None, stale_ok=True)
    assert ev2 == _exact(s2) and ev2 != ev1  # the background computed the current one
    # a caller that needs the current evidence (Accept) never gets a stand-in
    s3 = _snap(steering, 236)
    assert snapshot_evidence(s3, SPACE, metric="fitness", selection=None) == _exact(s3)


def test_after_a_prune_the_chips_show_it_and_the_evidence_is_the_new_masks() -> None:
    steering = Steering(SPACE.full_mask())
    snap = _snap(steering, 200, run=RUN + 1)
    before = graph_data(snap, candidates_frame(snap, SPACE), SPACE, metric="fitness",
                        stale_ok=True)  # fmt: skip
    assert before.chips[(0, "none")].state == "allowed"
    assert any(s.key == "prune:0:none" for s in before.evidence.suggestions)
    steering.apply("prune", 0, "none")
    snap = _snap(steering, 205, run=RUN + 1)
    after = graph_data(snap, candidates_frame(snap, SPACE), SPACE, metric="fitness",
                       stale_ok=True)  # fmt: skip
    assert after.chips[(0, "none")].state == "pruned"
    assert after.edges[0].allowed == tuple(op for op in SPACE.ops if op != "none")
    # not the full mask's evidence (which suggests pruning what is pruned already)
    assert after.evidence == _exact(snap)
    assert all(s.key != "prune:0:none" for s in after.evidence.suggestions)


def test_a_run_that_is_not_running_gets_the_exact_evidence() -> None:
    steering = Steering(SPACE.full_mask())
    snapshot_evidence(_snap(steering, 220, run=RUN + 2), SPACE, metric="fitness",
                      selection=None, stale_ok=True)  # fmt: skip
    paused = _snap(steering, 225, status="paused", run=RUN + 2)
    ev = snapshot_evidence(paused, SPACE, metric="fitness", selection=None, stale_ok=True)
    assert ev == _exact(paused)


def test_evidence_too_far_behind_is_not_shown() -> None:
    steering = Steering(SPACE.full_mask())
    snapshot_evidence(_snap(steering, 100, run=RUN + 3), SPACE, metric="fitness",
                      selection=None, stale_ok=True)  # fmt: skip
    late = _snap(steering, 200, run=RUN + 3)  # 100 of 200 candidates: too old to stand in
    ev = snapshot_evidence(late, SPACE, metric="fitness", selection=None, stale_ok=True)
    assert ev == _exact(late)


def test_the_frame_parses_each_cell_once_and_is_the_same_frame() -> None:
    steering = Steering(SPACE.full_mask())
    snap = _snap(steering, 50, run=RUN + 4)
    first = candidates_frame(snap, SPACE)
    again = candidates_frame(dataclasses.replace(snap, candidates=CANDS[:60]), SPACE)
    pd.testing.assert_frame_equal(again.iloc[:50], first)
    for c, row in zip(CANDS[:60], again.itertuples(), strict=True):
        a = SPACE.from_string(c.arch)
        assert row.index == SPACE.index(a)
        assert tuple(getattr(row, f"e{e}") for e in range(6)) == tuple(SPACE.ops_of(a))
