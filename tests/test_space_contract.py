"""The search-space contract, checked for every registered space (a new space is tested
here for free, the way timm tests every registered model)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from nas_engine.export import module_source
from nas_engine.search_spaces import NETWORK_ROLES, create_space, list_spaces, space_of


@pytest.fixture(params=list_spaces())
def sp(request: pytest.FixtureRequest) -> Any:
    return create_space(request.param)


def _small(sp: Any, role: str = "proxy") -> dict[str, int]:
    """The smallest network of each size option (fast, still the real structure)."""
    return {k: (4 if k == "C" else 1) for k in sp.network_options(role)}


def test_strings_indices_and_encodings_round_trip(sp: Any) -> None:
    rng = np.random.default_rng(0)
    assert sp.size == len(sp.ops) ** sp.num_edges
    for _ in range(20):
        a = sp.sample(rng)
        s = sp.to_string(a)
        assert sp.from_string(s) == a and space_of(s) == sp.name
        assert sp.from_index(sp.index(a)) == a and sp.decode(sp.encode(a)) == a
        assert sp.from_ops(sp.ops_of(a)) == a and hash(a) == hash(sp.from_string(s))
    with pytest.raises(ValueError):
        sp.from_string("not an architecture")
    digits = sp.op_digits()
    assert digits.shape == (sp.size, sp.num_edges)
    i = int(rng.integers(sp.size))
    assert [sp.ops[d] for d in digits[i]] == list(sp.ops_of(sp.from_index(i)))


def test_graph_has_one_edge_and_label_per_position(sp: Any) -> None:
    g = sp.graph()
    assert g.kind in ("cell", "chain") and g.kind == sp.kind
    assert len(g.edges) == len(g.labels) == len(g.notes) == sp.num_edges
    assert len(set(g.labels)) == sp.num_edges  # positions are told apart
    assert {n for e in g.edges for n in e} == set(g.nodes)
    assert all(i < j for i, j in g.edges)  # a DAG in topological node order
    assert g.ops == sp.ops and all(g.op_label(o) for o in sp.ops)
    if g.kind == "chain":
        assert g.edges == tuple(zip(g.nodes[:-1], g.nodes[1:], strict=True))
    assert [sp.position_label(k) for k in range(sp.num_edges)] == list(g.labels)


def test_masks_bound_sampling_mutation_and_neighbours(sp: Any) -> None:
    rng = np.random.default_rng(1)
    mask = sp.full_mask().pin(0, sp.ops[-1]).prune(sp.num_edges - 1, sp.ops[0])
    assert int(sp.mask_vector(mask).sum()) == mask.size()
    for _ in range(20):
        a = sp.sample(rng, mask)
        assert mask.allows(sp.ops_of(a))
        child = sp.mutate(a, rng, mask)
        assert mask.allows(sp.ops_of(child))
        assert sum(x != y for x, y in zip(sp.ops_of(a), sp.ops_of(child), strict=True)) == 1
    for _e, _op, cell in sp.neighbours(a, mask):
        assert mask.allows(sp.ops_of(cell))


def test_network_options_cover_every_role(sp: Any) -> None:
    for role in NETWORK_ROLES:
        opts = sp.network_options(role)
        assert opts and all(isinstance(v, int) and v >= 1 for v in opts.values())
    with pytest.raises(ValueError, match="unknown network role"):
        sp.network_options("nonsense")
    with pytest.raises(ValueError, match="no network option"):
        sp.network_options("proxy", depth_multiplier=2)
    info = sp.info()
    assert info["cells"] == sp.size and info["name"] == sp.name


def test_build_gives_features_blocks_and_logits(sp: Any) -> None:
    a = sp.sample(np.random.default_rng(2))
    torch.manual_seed(0)
    net = sp.build(a, num_classes=3, in_channels=1, **_small(sp))
    x = torch.randn(2, 1, 8, 8)
    assert net(x).shape == (2, 3)
    assert net.features(x).dim() == 4 and len(net.blocks()) >= 2


def test_supernet_path_equals_the_standalone_subnet(sp: Any) -> None:
    torch.manual_seed(0)
    sup = sp.build_supernet(num_classes=3, in_channels=1, **_small(sp, "supernet")).eval()
    x = torch.randn(3, 1, 8, 8)
    for a in sp.sample_distinct(3, np.random.default_rng(3)):
        path = sp.ops_of(a)
        net = sup.subnet(path).eval()
        ref = sp.build(a, num_classes=3, in_channels=1, **_small(sp, "supernet"))
        assert list(net.state_dict()) == list(ref.state_dict())
        assert torch.allclose(sup(x, path), net(x), atol=1e-6)


def test_exported_source_builds_the_same_network(sp: Any) -> None:
    a = sp.sample(np.random.default_rng(4))
    src = module_source(sp, a, num_classes=3, **_small(sp))
    ns: dict[str, Any] = {}
    exec(compile(src, "exported.py", "exec"), ns)
    torch.manual_seed(5)
    mine = ns["build_model"](in_channels=1)
    torch.manual_seed(5)
    ref = sp.build(a, num_classes=3, in_channels=1, **_small(sp))
    x = torch.randn(2, 1, 8, 8)
    mine.eval(), ref.eval()
    assert torch.equal(mine(x), ref(x))
