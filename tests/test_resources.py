"""Resource budgets: exact cost tables, regions, refusals, latency tables, strategies that
never ask outside the budget, and budget changes as undoable steering events."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nas_engine.resources import BudgetError, CostTable, Region, ResourceBudget, load_latency
from nas_engine.search_spaces import MaskError, create_space
from nas_engine.steering import Steering
from nas_engine.strategies import create_strategy, list_strategies
from nas_engine.utils.complexity import complexity

SPACE = create_space("nb201")
SHAPE = {"num_classes": 4, "in_channels": 3, "input_shape": (3, 8, 8)}


@pytest.fixture(scope="module")
def costs(tmp_path_factory) -> CostTable:
    return CostTable.compute(SPACE, cache_dir=tmp_path_factory.mktemp("c"), C=4, N=1, **SHAPE)


def test_cost_table_sums_match_whole_networks(costs: CostTable) -> None:
    rng = np.random.default_rng(0)
    for i in [0, SPACE.size - 1, *rng.integers(SPACE.size, size=25)]:
        arch = SPACE.from_index(int(i))
        model = SPACE.build(arch, num_classes=4, in_channels=3, C=4, N=1)
        c = complexity(model, (3, 8, 8))
        assert costs.flops[i] == pytest.approx(c.flops / 1e6, rel=1e-12, abs=1e-12)
        assert costs.params[i] == pytest.approx(c.params / 1e6, rel=1e-12, abs=1e-12)


def test_cost_table_is_cached(tmp_path: Path) -> None:
    a = CostTable.compute(SPACE, cache_dir=tmp_path, C=4, N=1, **SHAPE)
    (file,) = tmp_path.glob("costs_nb201_*.npz")
    b = CostTable.compute(SPACE, cache_dir=tmp_path, C=4, N=1, **SHAPE)
    np.testing.assert_array_equal(a.flops, b.flops)
    other = CostTable.compute(SPACE, cache_dir=tmp_path, C=8, N=1, **SHAPE)
    assert len(list(tmp_path.glob("costs_nb201_*.npz"))) == 2 and other.flops.max() > a.flops.max()
    assert file.is_file()


def test_region_only_yields_feasible_cells(costs: CostTable) -> None:
    limit = float(np.quantile(costs.flops, 0.2))
    budget = ResourceBudget(max_flops=limit)
    mask = SPACE.full_mask().prune(0, "nor_conv_1x1")
    region = Region(SPACE, mask, costs.feasible(budget))
    expected = SPACE.mask_vector(mask) & (costs.flops <= limit)
    assert region.size == int(expected.sum()) > 0
    rng = np.random.default_rng(1)
    for _ in range(200):
        a = region.sample(rng)
        assert region.allows(a) and costs.flops[SPACE.index(a)] <= limit
        b = region.mutate(a, rng)
        assert region.allows(b) and mask.allows(SPACE.ops_of(b))


def test_mask_vector_matches_the_mask() -> None:
    mask = SPACE.full_mask().prune(2, "none").pin(4, "skip_connect")
    vec = SPACE.mask_vector(mask)
    assert vec.sum() == mask.size()
    rng = np.random.default_rng(3)
    for i in rng.integers(SPACE.size, size=300):
        assert vec[i] == mask.allows(SPACE.ops_of(SPACE.from_index(int(i))))


def test_impossible_budgets_name_the_nearest_feasible_value(costs: CostTable) -> None:
    full = SPACE.mask_vector()
    smallest = costs.flops.min()
    with pytest.raises(BudgetError, match=f"the smallest needs {smallest:.3g}") as info:
        costs.check(ResourceBudget(max_flops=smallest / 2), full, what="the current mask")
    assert "no cell of the current mask fits" in str(info.value)
    # feasible alone, impossible with the mask: every edge pinned to a 3x3 conv
    mask = SPACE.full_mask()
    for e in range(SPACE.num_edges):
        mask = mask.pin(e, "nor_conv_3x3")
    need = costs.flops[SPACE.mask_vector(mask)].min()
    with pytest.raises(BudgetError, match=f"the smallest needs {need:.3g}"):
        costs.check(ResourceBudget(max_flops=need * 0.99), SPACE.mask_vector(mask), what="x")
    one = costs.check(ResourceBudget(max_flops=need), SPACE.mask_vector(mask), what="x")
    assert one.sum() == 1
    with pytest.raises(BudgetError, match="positive"):
        ResourceBudget(max_flops=0)


def _latency_csv(path: Path, rows: int = 40) -> Path:
    lines = ["index,arch,raspi4,pixel3"]
    for i in range(rows):
        arch = SPACE.to_string(SPACE.from_index(i))
        lines.append(f"{i},{arch},{1.0 + i},{2.0 + i}")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_latency_table_errors_and_unknown_cells(tmp_path: Path, costs: CostTable) -> None:
    csv = _latency_csv(tmp_path / "lat.csv")
    device, lat = load_latency(f"csv:{csv}:raspi4", SPACE)
    assert device == "raspi4" and lat[3] == 4.0 and np.isnan(lat[100])
    with pytest.raises(BudgetError, match="no device 'gpu'; it has raspi4, pixel3"):
        load_latency(f"csv:{csv}:gpu", SPACE)
    with pytest.raises(BudgetError, match="not found"):
        load_latency(f"csv:{tmp_path}/none.csv:raspi4", SPACE)
    with pytest.raises(BudgetError, match="csv:PATH:DEVICE"):
        load_latency(str(csv), SPACE)
    table = costs.with_latency(device, lat)
    ok = table.feasible(ResourceBudget(max_latency=1e9))
    assert ok.sum() == 40  # cells without a measured latency never fit
    with pytest.raises(BudgetError, match="fits 0.5 ms; the smallest needs 1"):
        table.check(ResourceBudget(max_latency=0.5), SPACE.mask_vector(), what="the space")
    with pytest.raises(BudgetError, match="needs a latency table"):
        costs.feasible(ResourceBudget(max_latency=5))


@pytest.mark.parametrize("name", list_strategies())
@pytest.mark.parametrize("aids", [{}, {"warmup": 30, "move_p": 0.2}])
def test_no_strategy_asks_outside_the_budget(name: str, aids: dict, costs: CostTable) -> None:
    budget = ResourceBudget(max_flops=float(np.quantile(costs.flops, 0.1)))
    region = Region(SPACE, SPACE.full_mask().prune(1, "none"), costs.feasible(budget))
    kw = {"population_size": 5} if name != "random" else {}
    if name != "random" and aids:
        kw.update(aids)
    strat = create_strategy(name, SPACE, **kw)
    strat.set_scorer(lambda archs: np.array([costs.params[SPACE.index(a)] for a in archs]))
    rng = np.random.default_rng(0)
    for _ in range(60):
        a = strat.ask(region, rng)
        assert region.allows(a), f"{name} asked {a} outside the budget"
        strat.tell(a, float(rng.random()))


def test_warmup_seeds_the_best_pool_cells_and_move_proposal_picks_the_best() -> None:
    score = {a: float(SPACE.index(a)) for a in SPACE.enumerate()}
    scorer = lambda archs: np.array([score[a] for a in archs])  # noqa: E731
    strat = create_strategy("evolution", SPACE, population_size=4, sample_size=2, warmup=50)
    strat.set_scorer(scorer)
    rng = np.random.default_rng(0)
    region = Region(SPACE, SPACE.full_mask())
    first = [strat.ask(region, rng) for _ in range(4)]
    for a in first:
        strat.tell(a, score[a])
    pool_rng = np.random.default_rng(0)
    pool = {region.sample(pool_rng) for _ in range(50)}
    assert sorted(first, key=score.get, reverse=True) == sorted(pool, key=score.get)[::-1][:4]
    mover = create_strategy("proxy_evolution", SPACE, population_size=2, move_p=0.0)
    mover.set_scorer(scorer)
    for a in first[:2]:
        mover.tell(a, 1.0)
    child = mover.ask(region, rng)
    parents = first[:2]
    assert any(
        child == max((n for n in region.neighbours(p) if n not in first[:2]), key=score.get)
        for p in parents
    )


def test_budget_changes_are_undoable_steering_events(costs: CostTable) -> None:
    def check(mask, budget):
        costs.check(budget, SPACE.mask_vector(mask), what="the current mask")

    st = Steering(SPACE.full_mask(), budget=ResourceBudget(), check=check)
    tight = ResourceBudget(max_flops=float(np.quantile(costs.flops, 0.05)))
    ev = st.apply("budget", budget=tight, note="small cells")
    assert st.budget == tight and ev.budget_before == ResourceBudget() and ev.edge is None
    with pytest.raises(MaskError, match="already"):
        st.apply("budget", budget=tight)
    with pytest.raises(BudgetError, match="smallest needs"):
        st.apply("budget", budget=ResourceBudget(max_flops=costs.flops.min() / 2))
    st.apply("prune", 0, "none")
    st.apply("undo")  # undoes the prune, keeps the budget
    assert st.budget == tight and st.mask.is_full
    st.apply("undo")  # undoes the budget
    assert st.budget == ResourceBudget()
    # resuming from the stored events gives the same state
    again = Steering(SPACE.full_mask(), tuple(st.events), budget=ResourceBudget())
    assert again.budget == st.budget and again.version == st.version
    from nas_engine.steering import SteeringEvent

    rt = SteeringEvent.from_dict(ev.to_dict())
    assert rt == ev


def test_a_run_obeys_its_budget_and_budget_changes(tmp_path: Path) -> None:
    from nas_engine.data import load_dataset
    from nas_engine.runner import CommandError, SearchSession
    from nas_engine.storage import SQLiteStorage
    from tests.engine_helpers import tiny_config

    data = load_dataset("synthetic")
    storage = SQLiteStorage(tmp_path / "b.db")
    table = CostTable.compute(SPACE, cache_dir=tmp_path / "cache", C=4, N=1, **SHAPE)
    limit = float(np.quantile(table.flops, 0.3))
    with pytest.raises(CommandError, match="the smallest needs"):
        SearchSession.create(storage, tiny_config(max_flops=table.flops.min() / 2), data=data)
    with pytest.raises(CommandError, match="no device 'tpu'"):
        csv = _latency_csv(tmp_path / "lat.csv")
        SearchSession.create(storage, tiny_config(latency=f"csv:{csv}:tpu"), data=data)
    assert storage.list_runs() == []  # nothing stored for refused runs
    cfg = tiny_config(max_flops=limit, supernet=False, budget=40, strategy="evolution")
    s = SearchSession.create(storage, cfg, data=data, checkpoint_dir=tmp_path / "ck")
    try:
        s.start()
        s.wait(lambda sn: sn.n_evaluated >= 12, timeout=120)
        tighter = ResourceBudget(max_flops=float(np.quantile(table.flops, 0.1)))
        s.steer("budget", budget=tighter, note="smaller")
        v = s.snapshot().mask_version
        snap = s.wait(lambda sn: sn.status == "finished", timeout=180)
    finally:
        s.close()
    assert snap.costs is not None and snap.budget == tighter
    np.testing.assert_allclose(snap.costs.flops, table.flops)
    for c in snap.candidates:
        f = table.flops[SPACE.index(SPACE.from_string(c.arch))]
        assert f <= (tighter.max_flops if c.mask_version >= v else limit)
    assert any(c.mask_version >= v for c in snap.candidates)
    ev = snap.events[-1]
    assert ev.action == "budget" and ev.note == "smaller" and ev.budget_after == tighter
    again = SearchSession.resume(storage, snap.run_id, data=data, checkpoint_dir=tmp_path / "ck")
    try:
        assert again.snapshot().budget == tighter
        again.steer("undo")
        assert again.snapshot().budget == ResourceBudget(max_flops=limit)
    finally:
        again.close()


def test_search_cli_refuses_bad_budgets_clearly(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from nas_engine.cli import main
    from tests.engine_helpers import tiny_overrides

    csv = _latency_csv(tmp_path / "lat.csv")
    base = ["search", "--dataset", "synthetic", "--db", str(tmp_path / "c.db"), "--budget", "3",
            "--no-supernet", *tiny_overrides()]  # fmt: skip
    cases = [
        (["--latency", f"csv:{csv}:tpu", "--max-latency", "5"], "no device 'tpu'"),
        (["--max-latency", "5"], "max_latency needs a latency table"),
        (["--latency", f"csv:{csv}:raspi4", "--max-latency", "0.5"], "the smallest needs 1"),
        (["--max-flops", "0.00001"], "no cell of the current mask fits 1e-05 MFLOPs"),
        (["--max-flops", "-3"], "max_flops must be a positive number"),
    ]
    for extra, msg in cases:
        r = CliRunner().invoke(main, [*base, *extra])
        assert r.exit_code != 0 and msg in r.output, (extra, r.output)
    ok = CliRunner().invoke(main, [*base, "--latency", f"csv:{csv}:raspi4", "--max-latency", "30",
                                   "--warmup", "10", "--move-p", "0.2"])  # fmt: skip
    assert ok.exit_code == 0, ok.output
    assert "status finished: 3 candidates" in ok.output
