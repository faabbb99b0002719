"""Ground-truth lookups from CSV tables (and the optional NATS-Bench path)."""

from __future__ import annotations

from pathlib import Path

import pytest

from nas_engine.benchmarks import GroundTruthError, load_ground_truth
from nas_engine.benchmarks.ground_truth import NatsGroundTruth
from nas_engine.search_spaces import NB201Arch
from tests.conftest import BEST_NB201, shared_file

OTHER = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"


def _table(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "t.csv"
    p.write_text(text)
    return p


def test_lookup_and_unknown(tmp_path: Path) -> None:
    p = _table(tmp_path, f"index,arch,cifar10_test_acc\n0,{BEST_NB201},94.3733\n")
    gt = load_ground_truth(f"csv:{p}")
    assert gt.lookup(BEST_NB201) == pytest.approx(94.3733)
    assert gt.lookup(NB201Arch.from_str(BEST_NB201)) == pytest.approx(94.3733)
    assert gt.lookup(f"  {BEST_NB201} ") == pytest.approx(94.3733)
    assert gt.lookup(OTHER) is None  # not in the table: unknown, never a guess
    assert gt.lookup("garbage") is None
    assert gt.metric == "cifar10_test_acc"


def test_column_selection(tmp_path: Path) -> None:
    p = _table(tmp_path, f"arch,c10_acc,c100_acc\n{BEST_NB201},94.0,73.0\n{OTHER},10.0,\n")
    with pytest.raises(GroundTruthError, match="name the accuracy column"):
        load_ground_truth(f"csv:{p}")
    gt = load_ground_truth(f"csv:{p}:c100_acc")
    assert gt.lookup(BEST_NB201) == 73.0
    assert gt.lookup(OTHER) is None  # empty cell = unknown
    with pytest.raises(GroundTruthError, match="no column 'top1'"):
        load_ground_truth(f"csv:{p}:top1")


def test_errors(tmp_path: Path) -> None:
    with pytest.raises(GroundTruthError, match="no such file"):
        load_ground_truth(f"csv:{tmp_path / 'nope.csv'}")
    with pytest.raises(GroundTruthError, match="bad benchmark spec"):
        load_ground_truth("table.csv")
    with pytest.raises(GroundTruthError, match="unknown benchmark scheme 'json'"):
        load_ground_truth(f"json:{tmp_path}")
    p = _table(tmp_path, "name,acc\nx,1\n")
    with pytest.raises(GroundTruthError, match="no arch column 'arch'"):
        load_ground_truth(f"csv:{p}")
    p = _table(tmp_path, f"arch,acc\n{BEST_NB201},high\n")
    with pytest.raises(GroundTruthError, match=":2: accuracy 'high' is not a number"):
        load_ground_truth(f"csv:{p}")
    p = _table(tmp_path, "arch,acc\n|bad~0|,1\n")
    with pytest.raises(GroundTruthError, match=":2: bad NB201 arch string"):
        load_ground_truth(f"csv:{p}")


def test_nats_needs_optional_package(tmp_path: Path) -> None:
    pytest.importorskip("nas_engine")  # always present; documents the intent
    try:
        import nats_bench  # noqa: F401
    except ImportError:
        with pytest.raises(GroundTruthError, match=r"pip install nasnav\[nats\]"):
            NatsGroundTruth(tmp_path)
    else:
        with pytest.raises(GroundTruthError, match="no such file"):
            NatsGroundTruth(tmp_path / "missing")


@pytest.mark.shared_data
def test_shared_table_best_cell() -> None:
    gt = load_ground_truth(f"csv:{shared_file('nb201_cifar10_test_acc.csv')}")
    assert len(gt) == 15625
    assert round(gt.lookup(BEST_NB201), 2) == 94.37
    assert max(acc for _, acc in gt.items()) == pytest.approx(94.3733)


@pytest.mark.shared_data
def test_shared_all_table_columns() -> None:
    path = shared_file("nb201_all_test_acc.csv")
    with pytest.raises(GroundTruthError, match="candidates"):
        load_ground_truth(f"csv:{path}")
    gt = load_ground_truth(f"csv:{path}:cifar100_test_acc")
    assert max(acc for _, acc in gt.items()) == pytest.approx(73.51, abs=0.01)
