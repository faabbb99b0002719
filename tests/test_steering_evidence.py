"""Steering evidence: op effects with intervals, suggestions, and accepting them."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from click.testing import CliRunner

from nas_engine.cli import main
from nas_engine.evidence import holm, op_effects, suggest
from nas_engine.runner import SearchSession
from nas_engine.runner.evidence import ACCEPTED, accept, candidate_values, run_evidence
from nas_engine.search_spaces import MaskError, create_space
from nas_engine.steering import Steering
from nas_engine.storage import CandidateRecord, SQLiteStorage
from tests.engine_helpers import tiny_config

SPACE = create_space("nb201")
BAD = (3, "avg_pool_3x3")  # the planted bad op: position 3 (0→3)


def _records(n: int, *, planted: float, seed: int = 0) -> list[CandidateRecord]:
    """``n`` distinct random cells whose fitness is noise, minus ``planted`` for the
    cells that use the bad op."""
    rng = np.random.default_rng(seed)
    cells = SPACE.sample_distinct(n, rng)
    out = []
    for i, a in enumerate(cells):
        ops = SPACE.ops_of(a)
        fit = float(rng.normal() - planted * (ops[BAD[0]] == BAD[1]))
        rec = CandidateRecord(seq=i, arch=SPACE.to_string(a), mask_version=0,
                              strategy="random", scores={"synflow": fit}, fitness=fit)  # fmt: skip
        out.append(rec)
    return out


CFG = tiny_config(proxy="synflow", supernet=False, strategy="random")


def _evidence(cands: list[CandidateRecord], mask=None, **kw):  # type: ignore[no-untyped-def]
    return run_evidence(
        cands, SPACE, mask or SPACE.full_mask(), config=CFG, fitness_kind="proxy", **kw
    )


def test_a_planted_bad_op_yields_exactly_its_prune_with_an_interval_below_zero() -> None:
    ev = _evidence(_records(200, planted=1.5))
    assert [(s.action, s.position, s.op) for s in ev.suggestions] == [("prune", *BAD)]
    s = ev.suggestions[0]
    assert s.effect.high < 0 and s.effect.low < s.effect.effect < s.effect.high
    assert s.effect.significant and s.effect.n == sum(
        SPACE.ops_of(SPACE.from_string(c.arch))[BAD[0]] == BAD[1] for c in _records(200, planted=0)
    )
    note = s.note()
    assert note.startswith("prune avg_pool_3x3 on 0→3: effect −") and "95 % CI [−" in note
    assert f"n = {s.effect.n}" in note and "metric fitness" in note


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_no_real_effect_yields_no_suggestion(seed: int) -> None:
    ev = _evidence(_records(200, planted=0.0, seed=seed))
    assert ev.suggestions == ()
    assert ev.cells == 200 and len(ev.effects) == SPACE.num_edges * len(SPACE.ops)


def test_effects_are_percentile_points_with_or_without_the_op() -> None:
    ops = [("a", "x"), ("a", "y"), ("b", "x"), ("b", "y")]
    eff = {(e.position, e.op): e for e in op_effects(ops, [4, 3, 2, 1], op_names=["a", "b"])}
    # percentiles 100, 66.7, 33.3, 0: "a" at 0 → mean 83.3 against 16.7
    assert eff[(0, "a")].effect == pytest.approx(200 / 3)
    assert eff[(0, "b")].effect == pytest.approx(-200 / 3)
    assert eff[(0, "a")].n == 2 and eff[(0, "a")].n_without == 2
    lower = {(e.position, e.op): e for e in op_effects(ops, [4, 3, 2, 1], op_names=["a", "b"],
                                                        higher_is_better=False)}  # fmt: skip
    assert lower[(0, "a")].effect == pytest.approx(-200 / 3)


def test_undefined_values_are_left_out_and_an_empty_side_has_no_effect() -> None:
    ops = [("a",), ("a",), ("b",)]
    eff = op_effects(ops, [1.0, 2.0, math.nan], op_names=["a", "b"])
    a = next(e for e in eff if e.op == "a")
    assert a.n == 2 and a.n_without == 0 and math.isnan(a.effect) and not a.significant


def test_the_interval_is_seeded() -> None:
    cands = _records(120, planted=1.0)
    a, b = _evidence(cands, seed=3), _evidence(cands, seed=3)
    assert a.effects == b.effects
    assert _evidence(cands, seed=4).effects != a.effects


def test_holm_adjustment() -> None:
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])


def test_never_the_last_op_nor_a_pinned_position_nor_a_refused_prune() -> None:
    cands = _records(300, planted=2.0)
    e, op = BAD
    two = SPACE.full_mask()
    for other in SPACE.ops:
        if other not in (op, "nor_conv_3x3"):
            two = two.prune(e, other)
    assert [(s.position, s.op) for s in _evidence(cands, two).suggestions] == [BAD]
    only = two.prune(e, "nor_conv_3x3")  # the bad op is the last one left
    assert _evidence(cands, only).suggestions == ()
    pinned = SPACE.full_mask().pin(e, "nor_conv_3x3")
    assert _evidence(cands, pinned).suggestions == ()
    effects = _evidence(cands).effects

    def refuse(_m: object) -> None:
        raise MaskError("no cell would meet the budget")

    assert suggest(effects, SPACE.full_mask(), metric="fitness", check=refuse) == []


def test_the_evidence_follows_the_selection() -> None:
    cands = _records(200, planted=1.5)
    keep = [SPACE.index(SPACE.from_string(c.arch)) for c in cands[:60]]
    ev = _evidence(cands, selection=keep)
    assert ev.cells == 60
    assert max(e.n + e.n_without for e in ev.effects) == 60


def test_each_cell_counts_once() -> None:
    cands = _records(50, planted=0.0)
    again = [
        CandidateRecord(seq=50 + i, arch=c.arch, mask_version=0, strategy="random",
                        scores=c.scores, fitness=c.fitness)
        for i, c in enumerate(cands)
    ]  # fmt: skip
    assert _evidence(cands + again).cells == 50


def test_fitness_values_follow_the_runs_order() -> None:
    cands = _records(30, planted=0.0)
    vals = candidate_values(cands, "fitness", config=CFG, fitness_kind="proxy")
    fits = np.array([c.fitness for c in cands])
    assert list(np.argsort(vals)) == list(np.argsort(fits))
    with pytest.raises(ValueError, match="unknown metric 'nope'; known: "):
        candidate_values(cands, "nope", config=CFG, fitness_kind="proxy")


def test_an_uninformative_oneshot_estimate_suggests_nothing_and_says_why() -> None:
    cands = [
        CandidateRecord(seq=c.seq, arch=c.arch, mask_version=0, strategy="random",
                        scores={}, fitness=c.fitness, oneshot=c.fitness)
        for c in _records(200, planted=1.5)
    ]  # fmt: skip
    ev = _evidence(cands, metric="oneshot")
    assert ev.suggestions == () and "not informative" in ev.note
    assert any(e.significant for e in ev.effects)  # the chips still show the effects


def test_accept_goes_through_the_steering_path_and_undo_reverts_it() -> None:
    ev = _evidence(_records(200, planted=1.5))
    steering = Steering(SPACE.full_mask())
    done, refused = accept(ev.suggestions, steering.apply)
    assert refused == [] and len(done) == 1
    (event,) = steering.events
    assert (event.action, event.edge, event.op) == ("prune", *BAD)
    assert event.note == ACCEPTED + ev.suggestions[0].note()
    assert steering.mask.state(*BAD) == "pruned"
    steering.apply("undo")
    assert steering.mask == SPACE.full_mask()
    _, refused = accept(ev.suggestions, lambda *a, **k: (_ for _ in ()).throw(MaskError("no")))
    assert refused == ["prune:3:avg_pool_3x3: no"]


def test_a_search_that_accepts_suggestions_steers_through_the_session(tmp_path) -> None:  # type: ignore[no-untyped-def]
    storage = SQLiteStorage(tmp_path / "r.db")
    # three ops per edge: 'none' has no parameters, so on #params it trails both convs (a
    # run evaluates each cell once, so the region must outlast the budget after the prunes)
    keep = ("none", "nor_conv_1x1", "nor_conv_3x3")
    prune = tuple((e, op) for e in range(6) for op in SPACE.ops if op not in keep)
    cfg = tiny_config(proxy="params", proxies=("params",), supernet=False, strategy="random",
                      budget=110, accept_suggestions=True, suggest_every=100,
                      prune=prune)  # fmt: skip
    session = SearchSession.create(storage, cfg)
    session.start()
    snap = session.wait(lambda s: s.status == "finished", timeout=120)
    session.close()
    accepted = [e for e in snap.events if e.note.startswith(ACCEPTED)]
    assert accepted, "params punishes 'none': expected prunes"
    assert {e.op for e in accepted} == {"none"}
    assert all(e.action == "prune" and e.mask_version == i + 1 for i, e in enumerate(accepted))
    assert [e.note for e in storage.events(snap.run_id)] == [e.note for e in snap.events]
    after = [c for c in snap.candidates if c.seq >= 100]
    assert after  # the steered region still had cells to ask
    assert all(snap.mask.allows(SPACE.ops_of(SPACE.from_string(c.arch))) for c in after)
    before = [c for c in snap.candidates if c.seq < 100]
    assert all(c.mask_version == 0 for c in before)


def test_cli_suggest_prints_the_suggestions_as_json(tmp_path) -> None:  # type: ignore[no-untyped-def]
    storage = SQLiteStorage(tmp_path / "r.db")
    cfg = tiny_config(proxy="synflow", supernet=False, strategy="random", budget=200)
    run = storage.create_run(cfg.to_dict())
    for c in _records(200, planted=1.5):
        storage.add_candidate(run, c)
    r = CliRunner().invoke(main, ["suggest", "--db", str(tmp_path / "r.db"), "--run",
                                  str(run), "--json", "--all"])  # fmt: skip
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    (s,) = out["suggestions"]
    assert {k: s[k] for k in ("action", "position", "op", "metric")} == {
        "action": "prune", "position": 3, "op": "avg_pool_3x3", "metric": "fitness"}  # fmt: skip
    assert s["ci_high"] < 0 and s["ci_low"] < s["effect"] < s["ci_high"] and s["n"] > 10
    assert len(out["effects"]) == 30 and out["cells"] == 200
    text = CliRunner().invoke(main, ["suggest", "--db", str(tmp_path / "r.db"), "--run",
                                     str(run), "--metric", "synflow"])  # fmt: skip
    assert "prune avg_pool_3x3 on 0→3" in text.output
    bad = CliRunner().invoke(main, ["suggest", "--db", str(tmp_path / "r.db"), "--run",
                                    str(run), "--metric", "nope"])  # fmt: skip
    assert bad.exit_code == 2 and "unknown metric 'nope'" in bad.output


def test_the_holm_correction_counts_every_op_tested() -> None:
    (s,) = _evidence(_records(200, planted=1.5)).suggestions
    # 30 allowed ops, each with >= 10 cells on both sides: the smallest p is multiplied by 30
    assert s.p_holm == pytest.approx(min(1.0, 30 * s.effect.p))


def test_with_a_budget_the_evidence_uses_the_cells_inside_it() -> None:
    from nas_engine.resources import CostTable, ResourceBudget

    cands = _records(200, planted=1.5)
    flops = np.zeros(SPACE.size)
    outside = {SPACE.index(SPACE.from_string(c.arch)) for c in cands[::2]}
    flops[list(outside)] = 100.0
    costs = CostTable(flops=flops, params=np.zeros(SPACE.size))
    ev = _evidence(cands, budget=ResourceBudget(max_flops=50), costs=costs)
    assert ev.cells == 100
    assert _evidence(cands, budget=ResourceBudget(), costs=costs).cells == 200


def test_cli_search_accepts_suggestions_when_asked(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from tests.engine_helpers import tiny_overrides

    prune = [
        f"{e}:{op}" for e in range(6) for op in SPACE.ops if op not in ("none", "nor_conv_3x3")
    ]
    args = ["search", "--dataset", "synthetic", "--db", str(tmp_path / "c.db"), "--budget", "70",
            "--no-supernet", "--strategy", "random", "--proxy", "params",
            *[a for p in prune for a in ("--prune", p)],
            *tiny_overrides(proxies=("params",), proxy="params"),
            "--accept-suggestions", "--suggest-every", "60"]  # fmt: skip
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    assert "accepted (mask v" in r.output and "prune none on" in r.output
    cfg = SQLiteStorage(tmp_path / "c.db").get_run(1).config
    assert cfg["accept_suggestions"] is True and cfg["suggest_every"] == 60


def test_a_suggestion_needs_its_interval_to_exclude_zero() -> None:
    # with the Holm test and the minimum effect switched off, the interval still decides
    effects = _evidence(_records(200, planted=0.0)).effects
    loose = suggest(effects, SPACE.full_mask(), metric="fitness", alpha=1.01, min_effect=0.0)
    assert all(s.effect.high < 0 for s in loose)
    negative = {e.position for e in effects if e.effect < 0 and not e.significant}
    assert negative - {s.position for s in loose}, "some negative effects are not significant"
