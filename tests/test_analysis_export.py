"""Pure analysis helpers (op importance, expert pruning) and cell export."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from nas_engine.analysis import op_importance, percentiles, worst_ops
from nas_engine.export import arch_spec, module_source
from nas_engine.proxies import percentile_fitness
from nas_engine.search_spaces import create_space

BEST = (
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|"
    "+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"
)


def test_percentiles_ranks_and_nan() -> None:
    p = percentiles([3.0, 1.0, math.nan, 2.0])
    assert p.tolist() == [1.0, 0.0, 0.0, 0.5]
    assert percentiles([5.0, 1.0], higher_is_better=False).tolist() == [0.0, 1.0]
    assert percentiles([7.0]).tolist() == [0.5]


def test_op_importance_finds_the_op_that_goes_with_high_scores() -> None:
    sp = create_space("nb201")
    rng = np.random.default_rng(0)
    archs = [sp.sample(rng) for _ in range(300)]
    # score = number of conv_3x3 edges: conv_3x3 must be best and none worst on every edge
    vals = [sum(o == "nor_conv_3x3" for o in sp.ops_of(a)) + 0.01 * rng.random() for a in archs]
    imp = op_importance([sp.ops_of(a) for a in archs], vals, op_names=sp.ops)
    assert len(imp) == 6 * 5
    for e in range(6):
        row = {i.op: i for i in imp if i.edge == e}
        assert max(row.values(), key=lambda i: i.mean_pct).op == "nor_conv_3x3"
        assert row["nor_conv_3x3"].delta > 0
        assert sum(i.count for i in row.values()) == 300
    picks = worst_ops(imp, sp.full_mask())
    assert len(picks) == 6 and all(op != "nor_conv_3x3" for _, op in picks)


def test_worst_ops_respects_mask_and_evidence() -> None:
    sp = create_space("nb201")
    rng = np.random.default_rng(1)
    archs = [sp.sample(rng) for _ in range(40)]
    vals = list(rng.random(40))
    imp = op_importance([sp.ops_of(a) for a in archs], vals, op_names=sp.ops)
    mask = sp.full_mask().pin(0, "skip_connect")
    picks = worst_ops(imp, mask)
    assert all(e != 0 for e, _ in picks)  # a pinned edge has one op left: never pruned
    assert all(op in mask.allowed(e) for e, op in picks)
    assert worst_ops(imp, mask, min_count=1000) == []
    with pytest.raises(ValueError, match="values"):
        op_importance([sp.ops_of(archs[0])], [1.0, 2.0], op_names=sp.ops)


def test_percentile_fitness() -> None:
    prior = [{"zico": 1.0, "params": 10.0}, {"zico": 3.0, "params": 30.0}]
    mean = {"aggregation": "mean_rank"}
    assert (
        percentile_fitness({"zico": 2.0, "params": 40.0}, prior, ["zico", "params"], **mean)
        == 0.75
    )
    assert percentile_fitness({"zico": math.nan}, prior, ["zico"], **mean) == 0.0
    assert percentile_fitness({"zico": 2.0}, [], ["zico"], **mean) == 0.5


def test_arch_spec_is_json_and_complete() -> None:
    sp = create_space("nb201")
    spec = arch_spec(sp, BEST, scores={"zico": 1.5, "naswot": math.nan})
    text = json.dumps(spec)
    back = json.loads(text)
    assert back["arch"] == BEST and back["index"] == sp.index(sp.from_string(BEST))
    assert [e["op"] for e in back["edges"]] == list(sp.ops_of(sp.from_string(BEST)))
    assert back["edges"][5] == {"edge": 5, "from": 2, "to": 3, "op": "nor_conv_1x1"}
    assert back["scores"] == {"zico": 1.5, "naswot": None}


def test_module_source_is_standalone_and_matches_builder(tmp_path) -> None:
    sp = create_space("nb201")
    src = module_source(sp, BEST, C=8, N=1)
    path = tmp_path / "cell.py"
    path.write_text(src)
    ns: dict[str, object] = {"__name__": "exported"}
    exec(compile(src, str(path), "exec"), ns)  # only torch is imported by the file
    assert "nas_engine" not in src
    model = ns["build_model"]()  # type: ignore[operator]
    ours = sp.build(sp.from_string(BEST), num_classes=10, C=8, N=1)
    assert model.state_dict().keys() == ours.state_dict().keys()
    model.load_state_dict(ours.state_dict())
    model.eval()
    ours.eval()
    x = torch.randn(2, 3, 32, 32)
    assert torch.allclose(model(x), ours(x))
    big = ns["build_model"](C=16, N=5)  # type: ignore[operator]
    ref = sp.build(sp.from_string(BEST), num_classes=10)
    assert sum(p.numel() for p in big.parameters()) == sum(p.numel() for p in ref.parameters())
