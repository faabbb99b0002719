"""NB201 genotype, string round-trips, encodings, masks, sampling and mutation."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from nas_engine.search_spaces import MaskError, NB201Arch, OpMask, SearchSpace, create_space
from tests.conftest import BEST_NB201

OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")


@pytest.fixture(scope="module")
def space() -> SearchSpace:
    return create_space("nb201")


def _string(ops: tuple[str, ...]) -> str:
    # Independent construction of the standard string, node by node.
    nodes, k = [], 0
    for j in range(1, 4):
        nodes.append("|" + "|".join(f"{ops[k + i]}~{i}" for i in range(j)) + "|")
        k += j
    return "+".join(nodes)


def test_every_string_round_trips(space: SearchSpace) -> None:
    seen_strings, seen_archs = set(), set()
    for ops in itertools.product(OPS, repeat=6):
        s = _string(ops)
        arch = space.from_string(s)
        assert arch.ops == ops
        assert space.to_string(arch) == s
        assert space.decode(space.encode(arch)) == arch
        assert space.from_index(space.index(arch)) == arch
        seen_strings.add(s)
        seen_archs.add(arch)
    assert len(seen_strings) == len(seen_archs) == 15625


def test_enumeration_covers_space_in_index_order(space: SearchSpace) -> None:
    archs = list(space.enumerate())
    assert len(archs) == 15625 == space.size
    assert [space.index(a) for a in archs] == list(range(15625))


def test_arch_is_frozen_and_hashable() -> None:
    a = NB201Arch.from_str(BEST_NB201)
    b = NB201Arch.from_str(" " + BEST_NB201 + "\n")
    assert a == b and hash(a) == hash(b) and len({a, b}) == 1
    with pytest.raises(AttributeError):
        a.ops = ("none",) * 6  # type: ignore[misc]


def test_one_hot(space: SearchSpace) -> None:
    v = space.encode(NB201Arch.from_str(BEST_NB201))
    assert v.shape == (30,) and v.sum() == 6
    assert v.reshape(6, 5)[0].tolist() == [0, 0, 0, 1, 0]  # nor_conv_3x3 on edge 0->1
    assert v.reshape(6, 5)[3].tolist() == [0, 1, 0, 0, 0]  # skip_connect on edge 0->3


@pytest.mark.parametrize(
    "bad, why",
    [
        ("", "3 '\\+'-separated nodes"),
        ("|nor_conv_3x3~0|+|nor_conv_3x3~0|", "3 '\\+'-separated nodes"),
        ("|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|", "unknown op 'conv'"),
        ("|none~1|+|none~0|none~1|+|none~0|none~1|none~2|", "input 0 names node 1"),
        ("|none~0|+|none~0|+|none~0|none~1|none~2|", "node 2 needs 2 inputs, got 1"),
        ("|none~0|+|none~0|none~1|none~2|+|none~0|none~1|none~2|", "node 2 needs 2"),
        ("none~0+none~0|none~1+none~0|none~1|none~2", "node 1 is"),
    ],
)
def test_bad_strings_are_refused_with_reason(space: SearchSpace, bad: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        space.from_string(bad)


def test_bad_ops_tuple() -> None:
    with pytest.raises(ValueError, match="6 edges"):
        NB201Arch(("none",) * 5)
    with pytest.raises(ValueError, match="unknown NB201 op"):
        NB201Arch(("none",) * 5 + ("conv",))


def _random_mask(rng: np.random.Generator) -> OpMask:
    mask = OpMask.full(num_edges=6, ops=OPS)
    for e in range(6):
        r = rng.random()
        if r < 0.25:
            mask = mask.pin(e, OPS[int(rng.integers(5))])
        elif r < 0.75:
            for op in rng.permutation(OPS)[: int(rng.integers(1, 5))]:
                mask = mask.prune(e, str(op))
    return mask


def test_sampling_respects_mask_and_is_uniform(space: SearchSpace) -> None:
    rng = np.random.default_rng(0)
    for _ in range(50):
        mask = _random_mask(rng)
        allowed = mask.allowed_all()
        for _ in range(40):
            a = space.sample(rng, mask)
            assert all(op in allowed[e] for e, op in enumerate(a.ops))
    # uniformity on one edge with 2 allowed ops: about half each
    mask = space.full_mask().prune(0, "none").prune(0, "skip_connect").prune(0, "nor_conv_1x1")
    draws = [space.sample(rng, mask).ops[0] for _ in range(2000)]
    assert set(draws) == {"nor_conv_3x3", "avg_pool_3x3"}
    assert 0.45 < draws.count("nor_conv_3x3") / 2000 < 0.55


def test_sampling_is_seeded(space: SearchSpace) -> None:
    a = [space.sample(np.random.default_rng(7)) for _ in range(1)]
    b = [space.sample(np.random.default_rng(7)) for _ in range(1)]
    assert a == b


def test_mutation_changes_one_edge_inside_mask(space: SearchSpace) -> None:
    rng = np.random.default_rng(1)
    for _ in range(50):
        mask = _random_mask(rng)
        parent = space.sample(rng, mask)
        for _ in range(20):
            child = space.mutate(parent, rng, mask)
            diff = [e for e in range(6) if child.ops[e] != parent.ops[e]]
            if mask.size() == 1:
                assert child == parent
            else:
                assert len(diff) == 1
                assert len(mask.allowed(diff[0])) > 1
            assert mask.allows(child.ops)
            parent = child


def test_mutation_refuses_parent_outside_mask(space: SearchSpace) -> None:
    mask = space.full_mask().prune(0, "none")
    parent = NB201Arch(("none",) * 6)
    with pytest.raises(ValueError, match="violates the mask on edges \\[0\\]"):
        space.mutate(parent, np.random.default_rng(0), mask)
    fixed = space.repair(parent, np.random.default_rng(0), mask)
    assert mask.allows(fixed.ops) and fixed.ops[1:] == parent.ops[1:]


def test_enumerate_under_mask(space: SearchSpace) -> None:
    mask = space.full_mask().pin(0, "skip_connect").prune(5, "none").prune(5, "avg_pool_3x3")
    cells = list(space.enumerate(mask))
    assert len(cells) == mask.size() == 1 * 5 * 5 * 5 * 5 * 3
    assert all(mask.allows(c.ops) for c in cells)
    assert len(set(cells)) == len(cells)


def test_neighbours(space: SearchSpace) -> None:
    a = NB201Arch.from_str(BEST_NB201)
    nb = space.neighbours(a)
    assert len(nb) == 24 and len({c for _, _, c in nb}) == 24
    mask = space.full_mask().pin(2, "nor_conv_3x3")
    assert len(space.neighbours(a, mask)) == 20


def test_mask_semantics() -> None:
    m = OpMask.full(num_edges=6, ops=OPS)
    assert m.is_full and m.size() == 15625
    m2 = m.prune(0, "none")
    assert m.allowed(0) == OPS  # immutability: the old mask is unchanged
    assert m2.allowed(0) == OPS[1:] and m2.state(0, "none") == "pruned"
    m3 = m2.pin(0, "nor_conv_3x3")
    assert m3.allowed(0) == ("nor_conv_3x3",) and m3.state(0, "skip_connect") == "blocked"
    m4 = m3.unpin(0)
    assert m4 == m2  # unpin brings back the pruned state from before the pin
    assert m4.restore(0, "none") == m
    assert m3.reset() == m
    assert OpMask.from_dict(m3.to_dict()) == m3


def test_mask_refusals() -> None:
    m = OpMask.full(num_edges=6, ops=OPS)
    for op in OPS[:-1]:
        m = m.prune(1, op)
    with pytest.raises(MaskError, match="last allowed op"):
        m.prune(1, OPS[-1])
    with pytest.raises(MaskError, match="unknown edge 6"):
        m.prune(6, "none")
    with pytest.raises(MaskError, match="unknown op 'conv5x5'"):
        m.prune(0, "conv5x5")
    with pytest.raises(MaskError, match="already pruned"):
        m.prune(1, "none")
    with pytest.raises(MaskError, match="pruned; restore it"):
        m.pin(1, "none")
    with pytest.raises(MaskError, match="nothing is pinned"):
        m.unpin(0)
    with pytest.raises(MaskError, match="is pinned; unpin"):
        m.pin(0, "none").prune(0, "none")
    with pytest.raises(MaskError, match="integer"):
        m.prune("0", "none")  # type: ignore[arg-type]


def test_sample_distinct_keeps_first_draw_order_and_refuses_too_many() -> None:
    sp = create_space("nb201")
    got = sp.sample_distinct(50, np.random.default_rng(3))
    rng, first = np.random.default_rng(3), []
    while len(first) < 50:
        a = sp.sample(rng)
        if a not in first:
            first.append(a)
    assert got == first and len(set(got)) == 50
    mask = sp.full_mask()
    for e in range(1, sp.num_edges):
        mask = mask.pin(e, sp.ops[0])  # 5 cells left
    with pytest.raises(ValueError, match="distinct"):
        sp.sample_distinct(mask.size() + 1, np.random.default_rng(0), mask)
