"""The NAS-Bench-Macro space end to end: strings, exact networks, proxies, supernet,
ground truth, search, steering, budgets, resume and export."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from nas_engine.benchmarks import GroundTruthError, load_ground_truth
from nas_engine.cli import main
from nas_engine.data import load_dataset
from nas_engine.export import arch_spec, module_source
from nas_engine.proxies import ProxyContext, create_proxy, list_proxies
from nas_engine.runner import CommandError, SearchConfig, SearchSession
from nas_engine.search_spaces import create_space, list_spaces, space_of
from nas_engine.storage import SQLiteStorage
from nas_engine.supernet import SupernetConfig, SupernetTrainer
from nas_engine.utils.complexity import complexity
from tests.conftest import SHARED_DATA
from tests.engine_helpers import TINY, mask_at

SHARED = SHARED_DATA  # NASNAV_SHARED_DATA or ../shared/data, as every shared-data test
MACRO_CSV = SHARED / "nas_bench_macro_cifar10.csv"
needs_macro_csv = pytest.mark.skipif(
    not MACRO_CSV.is_file(), reason=f"shared data absent: {MACRO_CSV} (CI has it)"
)
#: The tiny macro run: the engine helpers' settings with macro's one size option.
MACRO_TINY = {
    **{k: v for k, v in TINY.items() if not k.endswith("_N")},
    "space": "macro",
}


@pytest.fixture(scope="module")
def sp() -> Any:
    return create_space("macro")


@pytest.fixture(scope="module")
def data() -> Any:
    return load_dataset("synthetic")


def params_of(space: Any, code: str, **kw: Any) -> int:
    model = space.build(space.from_string(code), num_classes=10, **kw)
    return complexity(model, (3, 32, 32)).params


# ------------------------------------------------------------------------- the space
def test_registered_with_6561_codes(sp: Any) -> None:
    assert "macro" in list_spaces() and sp.size == 6561 == 3**8
    assert sp.kind == "chain" and sp.num_edges == 8
    for i in (0, 1, 6560, 4242):
        a = sp.from_index(i)
        assert sp.index(a) == i and sp.from_string(sp.to_string(a)) == a
    a = sp.from_string(" 22212220 ")
    assert sp.to_string(a) == "22212220" and sp.index(a) == int("22212220", 3)
    assert sp.ops_of(a)[:4] == ("ir_k5_e6", "ir_k5_e6", "ir_k5_e6", "ir_k3_e3")
    assert space_of("00000000") == "macro"
    assert space_of("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|") == "nb201"
    for bad in ("2221222", "222122201", "2221222x", "", 22212220):
        with pytest.raises(ValueError, match="macro|arch string"):
            sp.from_string(bad)  # type: ignore[arg-type]


def test_graph_describes_a_chain(sp: Any) -> None:
    g = sp.graph()
    assert g.kind == "chain" and g.nodes == tuple(range(9))
    assert g.edges == tuple((k, k + 1) for k in range(8))
    assert g.labels == tuple(f"L{k}" for k in range(1, 9))
    assert [g.op_label(o) for o in sp.ops] == ["id", "k3e3", "k5e6"]
    assert g.notes[0] == "stride 2, 32→64" and g.notes[1] == "64 ch"
    assert g.notes[2] == "stride 2, 64→128" and g.notes[5] == "stride 2, 128→256"


@pytest.mark.parametrize(
    ("code", "params"), [("00000000", 387_882), ("22212220", 1_985_514), ("12012100", 899_082)]
)
def test_parameter_counts_equal_the_benchmarks(sp: Any, code: str, params: int) -> None:
    assert params_of(sp, code) == params


@needs_macro_csv
def test_every_choice_at_every_layer_costs_what_the_benchmark_says(sp: Any) -> None:
    """Build the network with each choice at each layer (17 networks); their params and
    FLOPs equal the benchmark's rows, and so do the counts they imply for all 6,561."""
    import pandas as pd

    df = pd.read_csv(MACRO_CSV, dtype={"arch": str}).set_index("arch")
    assert len(df) == 6561

    def cost(code: str) -> tuple[int, int]:
        c = complexity(sp.build(sp.from_string(code), num_classes=10), (3, 32, 32))
        return c.params, c.flops

    base = cost("00000000")
    delta = np.zeros((2, 8, 3), dtype=np.int64)
    for layer in range(8):
        for choice in (1, 2):
            code = "0" * layer + str(choice) + "0" * (7 - layer)
            p, f = cost(code)
            # FLOPs: ours count the classifier's 10 bias additions, the benchmark's do not
            assert (p, f - 10) == (df.params[code], df.flops[code]), code
            delta[:, layer, choice] = (p - base[0], f - base[1])
    digits = sp.op_digits()
    rows = np.arange(8)
    params = base[0] + delta[0][rows, digits].sum(axis=1)
    flops = base[1] - 10 + delta[1][rows, digits].sum(axis=1)
    codes = [sp.to_string(sp.from_index(i)) for i in range(sp.size)]
    assert np.array_equal(params, df.params[codes].to_numpy())
    assert np.array_equal(flops, df.flops[codes].to_numpy())


def test_network_options_are_the_spaces_own(sp: Any) -> None:
    assert sp.network_options("proxy") == {"C": 32}
    assert sp.network_options("supernet", C=4, N=None) == {"C": 4}
    with pytest.raises(ValueError, match="no network option 'N'"):
        sp.network_options("proxy", N=5)
    with pytest.raises(TypeError, match="macro"):
        sp.build(sp.from_string("00000000"), num_classes=10, N=5)
    with pytest.raises(CommandError, match="no network option 'N'"):
        SearchConfig(space="macro", proxy_N=5).network(sp, "proxy")
    assert SearchConfig(space="macro").network(sp, "train") == {"C": 16}


# -------------------------------------------------------------------------- proxies
@pytest.mark.parametrize("name", sorted(list_proxies()))
def test_every_proxy_scores_a_macro_network(sp: Any, name: str, data: Any) -> None:
    """Each proxy on a small macro network (stem 4) is finite, identity-only included
    for the data-dependent and cost proxies."""
    for code in ("12012100", "00000000"):
        ctx = ProxyContext(
            sp, sp.from_string(code), data=data, batch_size=8, build_kwargs={"C": 4}
        )
        res = create_proxy(name).score(ctx)
        assert res.ok and math.isfinite(res.value), (code, res.reason)


# ------------------------------------------------------------------------- supernet
def test_chain_supernet_subnet_equals_its_path(sp: Any) -> None:
    torch.manual_seed(0)
    sup = sp.build_supernet(num_classes=3, in_channels=1, C=4)
    x = torch.randn(5, 1, 8, 8)
    for code in ("22212220", "00000000", "10201021"):
        path = sp.ops_of(sp.from_string(code))
        net = sup.subnet(path)
        ref = sp.build(sp.from_string(code), num_classes=3, in_channels=1, C=4)
        assert list(net.state_dict()) == list(ref.state_dict())
        sup.eval(), net.eval()
        assert torch.allclose(sup(x, path), net(x), atol=1e-6)
    # every layer holds all three choices, stem/head/classifier are shared
    assert [sorted(layer.ops) for layer in sup.layers] == [sorted(sp.ops)] * 8


def test_spos_trains_only_allowed_choices(sp: Any, data: Any) -> None:
    mask = sp.full_mask().pin(0, "ir_k3_e3").prune(3, "ir_k5_e6")
    tr = SupernetTrainer(sp, data, SupernetConfig(C=4, batch_size=16, seed=1))
    before = {k: v.clone() for k, v in tr.model.state_dict().items()}
    for _ in range(6):
        res = tr.train_step(mask)
        assert res.path[0] == "ir_k3_e3" and res.path[3] != "ir_k5_e6"
    after = tr.model.state_dict()
    for key in before:
        if key.startswith(
            ("layers.0.ops.id.", "layers.0.ops.ir_k5_e6.", "layers.3.ops.ir_k5_e6.")
        ):
            assert torch.equal(before[key], after[key]), key
    assert not torch.equal(before["stem.0.weight"], after["stem.0.weight"])
    est = tr.estimate(sp.from_string("10000000"))
    assert 0.0 <= est.acc <= 100.0 and est.images > 0
    # the supernet's size is the config's where set, else the space's own default
    assert tr.model.C == 4
    assert SupernetTrainer(sp, data, SupernetConfig(batch_size=16)).model.C == 16


# ---------------------------------------------------------------------- ground truth
def test_truth_csv_keeps_leading_zeros_and_detects_the_space(tmp_path: Path) -> None:
    table = tmp_path / "macro.csv"
    table.write_text("arch,mean_acc,params\n00000000,45.36,387882\n22212220,93.13,1985514\n")
    gt = load_ground_truth(f"csv:{table}:mean_acc")
    assert gt.space == "macro" and len(gt) == 2
    assert gt.lookup("00000000") == 45.36 and gt.lookup("22212220") == 93.13
    assert gt.lookup("11111111") is None
    with pytest.raises(GroundTruthError, match="holds 'macro' architectures, not 'nb201'"):
        load_ground_truth(f"csv:{table}:mean_acc", space="nb201")
    out = CliRunner().invoke(main, ["truth", "--benchmark", f"csv:{table}:mean_acc", "22212220"])
    assert out.exit_code == 0 and out.output.strip() == "93.13"
    out = CliRunner().invoke(main, ["truth", "--benchmark", f"csv:{table}:mean_acc", "2221"])
    assert out.exit_code == 2 and "bad macro architecture" in out.output


@needs_macro_csv
def test_truth_cli_on_the_shared_benchmark() -> None:
    out = CliRunner().invoke(
        main, ["truth", "--benchmark", f"csv:{MACRO_CSV}:mean_acc", "22212220"]
    )
    assert out.exit_code == 0 and out.output.strip() == "93.13"


def test_space_info_and_describe_cli() -> None:
    out = CliRunner().invoke(main, ["space", "info", "macro"])
    assert out.exit_code == 0 and "6,561" in out.output and "L1 L2" in out.output
    out = CliRunner().invoke(main, ["space", "describe", "macro", "12012100"])
    assert out.exit_code == 0 and "params  899,082" in out.output
    assert "layer L1  ir_k3_e3  (stride 2, 32→64)" in out.output
    out = CliRunner().invoke(
        main, ["space", "sample", "macro", "-n", "20", "--prune", "L8:ir_k5_e6", "--pin", "0:id"]
    )
    codes = out.output.split()
    assert out.exit_code == 0 and len(codes) == 20
    assert all(c[0] == "0" and c[7] != "2" for c in codes)
    out = CliRunner().invoke(main, ["space", "describe", "macro", "12012100", "--N", "2"])
    assert out.exit_code == 2 and "no network option 'N'" in out.output


# -------------------------------------------------------------------- search and run
def _session(storage: SQLiteStorage, **kw: Any) -> SearchSession:
    cfg = SearchConfig(**{**MACRO_TINY, **kw})
    return SearchSession.create(storage, cfg, data=load_dataset("synthetic"))


def test_search_steer_budget_resume_and_export(tmp_path: Path, sp: Any) -> None:
    storage = SQLiteStorage(tmp_path / "m.db")
    s = _session(
        storage, budget=12, strategy="evolution", max_flops=0.1, steps_per_candidate=1,
        proxies=("params", "flops"),
    )  # fmt: skip
    try:
        s.start()
        s.wait(lambda x: x.n_evaluated >= 4, timeout=120)
        s.steer("prune", 7, "ir_k5_e6", note="last layer: no k5")
        s.steer("pin", 0, "ir_k3_e3")
        s.wait(lambda x: x.n_evaluated >= 6, timeout=120)
        s.close()
        r = SearchSession.resume(storage, s.run_id, data=load_dataset("synthetic"))
        assert r.snapshot().mask_version == 2
        r.start()
        snap = r.wait(lambda x: x.status == "finished", timeout=180)
    finally:
        r.close()
    assert [c.seq for c in snap.candidates] == list(range(12))
    archs = [c.arch for c in snap.candidates]
    assert len(set(archs)) == len(archs)  # distinct cells, across the resume too
    events = storage.events(snap.run_id)
    initial = sp.full_mask()
    for c in snap.candidates:
        assert mask_at(c.mask_version, initial, events).allows(sp.ops_of(sp.from_string(c.arch)))
        assert c.scores["flops"] <= 0.1 and c.oneshot is not None
    assert snap.supernet_step > 0
    # the returned cell exports as a standalone file that builds the same network
    src = module_source(sp, snap.best.arch, C=4)
    ns: dict[str, Any] = {}
    exec(compile(src, "exported.py", "exec"), ns)
    model = ns["build_model"]()
    ref = sp.build(sp.from_string(snap.best.arch), num_classes=10, C=4)
    assert list(model.state_dict()) == list(ref.state_dict())
    assert complexity(model, (3, 32, 32)).params == complexity(ref, (3, 32, 32)).params
    spec = arch_spec(sp, snap.best.arch, C=4)
    assert spec["space"] == "macro" and spec["network"] == {"C": 4, "num_classes": 10}
    assert spec["positions"][0] == "L1" and len(spec["edges"]) == 8
