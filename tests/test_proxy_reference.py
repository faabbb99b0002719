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

from nas_engine.proxies import list_proxies
from tests.proxy_reference import REFERENCE, SHARED, fidelity, values_on_cells

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
