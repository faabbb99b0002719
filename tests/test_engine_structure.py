"""Fast checks of the engine's shared pieces: budget parsing, suite building, cell wiring."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
import torch

from nas_engine.data import load_dataset
from nas_engine.proxies import ProxySuite
from nas_engine.runner import MAX_BUDGET, CommandError, SearchConfig, SearchSession
from nas_engine.search_spaces import create_space
from nas_engine.search_spaces.nb201_model import (
    NB201_EDGES,
    NB201Cell,
    NB201Network,
    build_nb201,
    cell_forward,
)
from nas_engine.search_spaces.nb201_supernet import NB201Supernet, SuperCell
from nas_engine.storage import SQLiteStorage
from tests.engine_helpers import tiny_config

PATH = ("nor_conv_3x3", "skip_connect", "nor_conv_1x1", "avg_pool_3x3", "none", "nor_conv_3x3")


# -------------------------------------------------------------------------- budget
@pytest.mark.parametrize(
    ("value", "expected"),
    [(1, 1), (200, 200), ("42", 42), ("  42\n", 42), ("007", 7), (MAX_BUDGET, MAX_BUDGET)],
)
def test_parse_budget_accepts_whole_numbers(value: Any, expected: int) -> None:
    assert SearchConfig.parse_budget(value) == expected
    assert type(SearchConfig.parse_budget(value)) is int


@pytest.mark.parametrize(
    "value",
    [0, -3, "0", "-3", "+3", True, False, None, "", "  ", "ten", "1e9", "3.5", 3.0, "٣", [3]],
)
def test_parse_budget_refuses_everything_else(value: Any) -> None:
    with pytest.raises(CommandError, match="budget"):
        SearchConfig.parse_budget(value)


def test_parse_budget_message_for_non_positive_values() -> None:
    with pytest.raises(CommandError, match="positive integer.*got 0"):
        SearchConfig.parse_budget(0)


@pytest.mark.parametrize("value", [MAX_BUDGET + 1, str(MAX_BUDGET + 1), 10**12])
def test_parse_budget_caps_at_max_budget(value: Any) -> None:
    assert MAX_BUDGET == 100_000
    with pytest.raises(CommandError, match=r"larger than this tool allows \(100,000\)"):
        SearchConfig.parse_budget(value)


def test_config_validates_its_budget_once() -> None:
    assert tiny_config(budget=MAX_BUDGET).budget == MAX_BUDGET
    for bad in (0, MAX_BUDGET + 1, True, 2.0):
        with pytest.raises(CommandError, match="budget"):
            tiny_config(budget=bad)
    with pytest.raises(CommandError, match="budget"):
        tiny_config(budget="5")  # text is parsed before a config is made


def test_session_set_budget_uses_the_config_rule(tmp_path: Any) -> None:
    st = SQLiteStorage(tmp_path / "b.db")
    s = SearchSession.create(
        st,
        tiny_config(budget=3, supernet=False, strategy="random"),
        data=load_dataset("synthetic"),
        checkpoint_dir=tmp_path,
    )
    try:
        for bad in ("ten", MAX_BUDGET + 1, 0, None):
            with pytest.raises(CommandError, match="budget"):
                s.set_budget(bad)
        s.set_budget(" 7 ")
        snap = s.wait(lambda x: x.config.budget == 7, timeout=30)
        assert snap.status == "idle"
    finally:
        s.close()
    assert st.get_run(snap.run_id).config["budget"] == 7


# ---------------------------------------------------------------------- proxy suite
def test_suite_for_config_matches_the_config() -> None:
    data = load_dataset("synthetic")
    sp = create_space("nb201")
    cfg = tiny_config(proxy="ensemble", ensemble=("synflow", "params"), seed=3)
    suite = ProxySuite.for_config(sp, cfg, data=data)
    assert suite.names == cfg.all_proxies == ["params", "naswot", "synflow"]
    assert suite.batch_size == cfg.proxy_batch_size == 8
    assert suite.seed == 3 and suite.data is data
    assert suite.build_kwargs == {"C": cfg.proxy_C, "N": cfg.proxy_N}
    only = ProxySuite.for_config(sp, cfg, data=data, names=("naswot",))
    assert only.names == ["naswot"] and only.build_kwargs == suite.build_kwargs
    # the config is duck-typed; a proxy's score equals the one from a hand-built suite
    duck = SimpleNamespace(
        all_proxies=["params"], proxy_batch_size=4, seed=1, proxy_C=4, proxy_N=1
    )
    a = ProxySuite.for_config(sp, duck, data=None)
    b = ProxySuite(sp, ["params"], batch_size=4, seed=1, build_kwargs={"C": 4, "N": 1})
    arch = sp.from_string("|nor_conv_3x3~0|+|skip_connect~0|none~1|+|none~0|none~1|none~2|")
    assert a.score(arch).values() == b.score(arch).values()


# ------------------------------------------------------------------------ the cell
def test_cell_forward_wires_nodes_in_edge_order() -> None:
    seen: list[tuple[int, float]] = []
    weights = [2.0, 3.0, 5.0, 7.0, 11.0, 13.0]

    def run_edge(k: int, h: torch.Tensor) -> torch.Tensor:
        seen.append((k, float(h)))
        return h * weights[k]

    out = cell_forward(torch.tensor(1.0), run_edge)
    n1 = 2.0
    n2 = 3.0 + 5.0 * n1
    n3 = 7.0 + 11.0 * n1 + 13.0 * n2
    assert float(out) == n3
    nodes = [1.0, n1, n2]
    assert seen == [(k, nodes[i]) for k, (i, _j) in enumerate(NB201_EDGES)]


def _share_weights(cell: NB201Cell, sup: SuperCell, path: tuple[str, ...]) -> None:
    """Copy the supernet cell's weights of ``path`` into ``cell``."""
    state = {}
    for key in cell.state_dict():
        _edges, k, rest = key.split(".", 2)
        state[key] = sup.state_dict()[f"edges.{k}.ops.{path[int(k)]}.{rest}"]
    cell.load_state_dict(state)


@pytest.mark.parametrize("path", [PATH, ("nor_conv_1x1",) * 3 + ("avg_pool_3x3",) * 3])
def test_nb201_cell_and_supercell_agree_on_a_path(path: tuple[str, ...]) -> None:
    torch.manual_seed(0)
    sup = SuperCell(4)
    cell = NB201Cell(path, 4)
    _share_weights(cell, sup, path)
    x = torch.randn(2, 4, 6, 6)
    assert torch.equal(cell(x), sup(x, path))


def test_supernet_is_the_nb201_skeleton_with_supercells() -> None:
    torch.manual_seed(0)
    sup = NB201Supernet(C=4, N=1, num_classes=3, in_channels=1)
    assert isinstance(sup, NB201Network)
    assert sum(isinstance(c, SuperCell) for c in sup.cells) == 3
    torch.manual_seed(0)
    net = build_nb201(PATH, C=4, N=1, num_classes=3, in_channels=1)
    sd = sup.state_dict()
    state = {}
    for key in net.state_dict():
        parts = key.split(".")
        if parts[0] == "cells" and isinstance(net.cells[int(parts[1])], NB201Cell):
            k = int(parts[3])
            key_sup = ".".join([*parts[:4], "ops", PATH[k], *parts[4:]])
        else:
            key_sup = key
        state[key] = sd[key_sup]
    net.load_state_dict(state)
    x = torch.randn(2, 1, 8, 8)
    torch.testing.assert_close(net(x), sup(x, PATH), rtol=1e-5, atol=1e-6)
