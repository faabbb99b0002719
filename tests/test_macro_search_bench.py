"""benchmarks/macro_search.py on a tiny setting, no shared data: asks stay in the region,
the returned cell is the rank-ensemble best, the string-keyed cache keeps leading zeros,
and the baselines match a hand-made truth table."""

from __future__ import annotations

import itertools
import statistics

import numpy as np
import pytest

from benchmarks._common import ScoreCache
from benchmarks.macro_search import baselines, run_one
from nas_engine.data import load_dataset
from nas_engine.proxies import ProxySuite, rank_ensemble
from nas_engine.resources import CostTable, Region, ResourceBudget
from nas_engine.search_spaces import create_space


@pytest.fixture(scope="module")
def setting():
    space = create_space("macro")
    costs = CostTable.compute(space, num_classes=4, in_channels=3, input_shape=(3, 8, 8), C=8)
    region = Region(space, space.full_mask(), costs.feasible(ResourceBudget(max_flops=0.1)))
    assert 0 < len(region.cells) < space.size
    return space, costs, region


@pytest.mark.parametrize(
    "strategy,options",
    [("random", {}), ("evolution", {"population_size": 4, "sample_size": 2, "warmup": 12})],
)
def test_asks_stay_in_region_and_returned_is_ensemble_best(setting, tmp_path, strategy, options):
    space, costs, region = setting
    data = load_dataset("synthetic")
    members = ["params", "flops"]
    suite = ProxySuite(space, members, data=data, batch_size=8, seed=0, build_kwargs={"C": 8})
    cache = ScoreCache(tmp_path / "scores.csv", suite, [])

    def cheap(archs):
        return np.array([costs.params[space.index(a)] for a in archs])

    r = run_one(space, region, strategy, options, 3, 10, cache.get, members, cheap)
    assert len(r["archs"]) == 10
    assert any(a.startswith("0") for a in r["archs"])  # leading zeros must survive
    assert all(region.allows(space.from_string(a)) for a in r["archs"])
    hist = [cache.scores[a] for a in r["archs"]]
    for t in range(1, 11):
        ens = rank_ensemble({m: [h[m] for h in hist[:t]] for m in members}, members)
        assert r["returned_at"][t - 1] == int(np.argmax(ens))
    assert r["returned"] == r["archs"][r["returned_at"][-1]]
    # the cache reloads under the same string keys (leading zeros kept), scoring nothing
    again = ScoreCache(tmp_path / "scores.csv", suite, [])
    assert set(again.scores) == set(r["archs"])
    for a in r["archs"]:
        assert again.get(a) == pytest.approx(cache.scores[a])
    assert again.computed == 0


def test_single_proxy_fitness_returns_its_max(setting):
    space, costs, region = setting

    def free(a):
        return {"flops": float(costs.flops[space.index(space.from_string(a))])}

    r = run_one(space, region, "random", {}, 0, 10, free, ["flops"])
    flops = [free(a)["flops"] for a in r["archs"]]
    assert r["returned"] == r["archs"][int(np.argmax(flops))]


def test_baselines_on_a_hand_made_truth():
    truth = np.array([50.0, 90.0, 60.0, 70.0, 99.0, 80.0, 65.0])
    params = np.array([1.0, 9.0, 3.0, 5.0, 9.0, 5.0, 2.0])
    cells = np.array([0, 2, 3, 5, 6])  # 1 and 4 are out of budget (higher truth, params)
    b = baselines(truth, cells, params, k=2, draws=4000)
    assert b["optimum"] == 80.0 and b["optimum_cell"] == 5
    pairs = [max(p) for p in itertools.combinations(truth[cells], 2)]
    assert b["oracle_random_exact"] == pytest.approx(
        statistics.mean(pairs)
    )  # (60 + 2·65 + 3·70 + 4·80) / 10 = 72
    assert b["oracle_random"] == pytest.approx(statistics.mean(pairs), abs=0.5)
    assert b["max_params"] == 75.0 and b["max_params_cells"] == [3, 5]  # tie: mean of both
    full = baselines(truth, cells, params, k=5, draws=20)
    assert full["oracle_random"] == full["oracle_random_exact"] == 80.0
