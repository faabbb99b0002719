"""``benchmarks/steering_benefit.py`` on made-up scores: the scripted users steer through
the engine, and the paired summary is what the README reports."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks import steering_benefit as sb
from nas_engine.resources import CostTable
from nas_engine.runner import SearchConfig
from nas_engine.search_spaces import create_space

SPACE = create_space("nb201")


def _world() -> tuple[dict[str, np.ndarray], np.ndarray, CostTable]:
    """Scores that punish 'none' on every edge (plus noise), truth that agrees, and FLOPs
    that grow with the number of convolutions."""
    rng = np.random.default_rng(0)
    digits = np.array([SPACE.ops_of(SPACE.from_index(i)) for i in range(SPACE.size)])
    n_none = (digits == "none").sum(axis=1)
    n_conv = np.char.startswith(digits.astype(str), "nor_conv").sum(axis=1)
    score = -n_none + 0.3 * rng.normal(size=SPACE.size)
    scores = {"synflow": score, "meco": score + 0.3 * rng.normal(size=SPACE.size)}
    truth = 90 - n_none + 0.1 * rng.normal(size=SPACE.size)
    costs = CostTable(flops=10.0 * n_conv, params=np.zeros(SPACE.size))
    return scores, truth, costs


def _cfg(seed: int, **kw: object) -> SearchConfig:
    return SearchConfig(proxy="ensemble", ensemble=("synflow", "meco"), aggregation="log_rank",
                        strategy="random", supernet=False, budget=120, seed=seed,
                        **kw)  # type: ignore[arg-type]  # fmt: skip


@pytest.mark.parametrize("max_flops", [None, 35.0])
def test_the_users_steer_through_the_engine_and_stay_in_budget(max_flops: float | None) -> None:
    scores, truth, costs = _world()

    def lookup(i: int) -> dict[str, float]:
        return {m: float(v[i]) for m, v in scores.items()}

    cfg = _cfg(0, max_flops=max_flops)
    none = sb.run_one(SPACE, cfg, "none", 40, lookup, truth, costs)
    acc = sb.run_one(SPACE, cfg, "accept", 40, lookup, truth, costs)
    assert none["prunes"] == [] and len(none["curve"]) == 120
    assert acc["prunes"], "the evidence against 'none' is strong: the user accepts prunes"
    assert all(op == "none" and note.startswith("accepted suggestion: prune none")
               for _, _, op, note in acc["prunes"])  # fmt: skip
    assert all(at % 40 == 0 for at, *_ in acc["prunes"])
    # the same seed, the same first 40 evaluations: the runs are paired
    assert none["curve"][:40] == acc["curve"][:40]


def test_the_paired_summary() -> None:
    budget = 10
    base = [{"curve": [1, 2, 3] + [3] * 7, "final": 3.0, "prunes": []} for _ in range(6)]
    fast = [{"curve": [1, 3] + [3] * 8, "final": 3.0, "prunes": [(5, 0, "none", "")]}
            for _ in range(6)]  # fmt: skip
    never = [{"curve": [1] * 10, "final": 1.0, "prunes": []} for _ in range(6)]
    s = sb.summarise({"none": base, "accept": fast, "cautious": never}, budget)
    assert s["none"]["evals_median"] == 3 and s["accept"]["evals_median"] == 2
    assert s["accept"]["evals_ratio_median"] == pytest.approx(2 / 3)
    assert s["accept"]["evals_diff_median"] == -1 and s["accept"]["final_p"] is None
    assert s["cautious"]["reached"] == 0 and s["cautious"]["evals_median"] == budget + 1
    assert s["cautious"]["final_diff_mean"] == -2.0
    assert s["accept"]["first_prune_median"] == 5 and s["none"]["first_prune_median"] is None
    assert sb.evals_to([1, 2, 3], 2.5) == 3 and sb.evals_to([1, 2], 5) is None
    assert sb.parse_seeds("0-3,7") == [0, 1, 2, 3, 7]
