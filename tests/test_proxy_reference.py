"""Fidelity regression: every proxy against committed references on fixed cells.

See :mod:`tests.proxy_reference`; regenerate with ``python -m tests.proxy_reference``
after an intended change to a proxy.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest

from nas_engine.data import load_dataset
from nas_engine.proxies import ProxyContext, list_proxies
from nas_engine.proxies.zoo import ZiCo
from nas_engine.search_spaces import create_space
from tests.proxy_reference import (
    CELLS,
    REFERENCE,
    SETTINGS,
    SHARED,
    fidelity,
    values_on_cells,
    zico_authors,
)

REF = json.loads(REFERENCE.read_text())
MISSING = "no committed reference: run `python -m tests.proxy_reference` and commit it"


@pytest.fixture(scope="module")
def values() -> dict[str, list[float]]:
    return values_on_cells()


@pytest.fixture(scope="module")
def rho() -> dict[str, float]:
    got = fidelity()
    if got is None:
        pytest.skip(f"needs cifar10_subset.npz and nb201_cifar10_test_acc.csv in {SHARED}")
    return got


@pytest.mark.parametrize("name", list_proxies())
def test_values_match_the_references(name: str, values: Any) -> None:
    assert name in REF["values"], MISSING
    np.testing.assert_allclose(values[name], REF["values"][name], rtol=2e-3, equal_nan=True)


@pytest.mark.parametrize("name", [*list_proxies(), "ensemble"])
def test_fidelity_matches_the_references(name: str, rho: Any) -> None:
    ref = (REF["fidelity_spearman"] or {}).get(name)
    assert ref is not None, MISSING
    if math.isnan(ref):
        assert math.isnan(rho[name])
    else:
        assert rho[name] == pytest.approx(ref, abs=0.02), f"{name}: ρ {rho[name]:.3f} vs {ref:.3f}"


def test_the_ensemble_reference_is_the_default() -> None:
    from nas_engine.proxies.suite import DEFAULT_AGGREGATION, DEFAULT_ENSEMBLE

    assert REF["ensemble"] == {
        "members": list(DEFAULT_ENSEMBLE),
        "aggregation": DEFAULT_AGGREGATION,
    }, MISSING


@pytest.mark.parametrize("first_release", [False, True], ids=["default", "accumulated"])
def test_zico_equals_the_authors_maths(first_release: bool) -> None:
    """Our ZiCo (shared passes, one flat float64 vector) against the authors' steps
    (``backward`` per batch, ``.grad``, numpy per layer) in float64 on the same network
    and batches; the accumulated-gradient variant against zeroing only once."""
    space, data = create_space("nb201"), load_dataset("synthetic")
    for cell in CELLS:
        ctx = ProxyContext(
            space,
            space.from_string(cell),
            data=data,
            batch_size=SETTINGS["batch_size"],
            seed=SETTINGS["seed"],
            build_kwargs={"C": SETTINGS["C"], "N": SETTINGS["N"]},
        )
        ours = ZiCo(accumulate=first_release).score(ctx)
        ref = zico_authors(
            ctx.fresh_model(),
            [ctx.batch(0), ctx.batch(1)],
            zero_grad=not first_release,
            dtype=np.float64,
        )
        if ref == 0.0:  # no layer with spread: ours is undefined
            assert math.isnan(ours.value), cell
        else:
            assert ours.value == pytest.approx(ref, rel=1e-9, abs=1e-9), cell
