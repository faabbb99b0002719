"""The nasnav command line (click's runner: no subprocesses needed)."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from nas_engine.cli import main
from nas_engine.search_spaces import create_space
from tests.conftest import BEST_NB201, shared_file


def _all_commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = [prefix]
    for name, cmd in group.commands.items():
        if isinstance(cmd, click.Group):
            out += _all_commands(cmd, (*prefix, name))
        else:
            out.append((*prefix, name))
    return out


@pytest.mark.parametrize("path", _all_commands(main), ids=lambda p: " ".join(p) or "nasnav")
def test_help_on_every_command(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(main, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


def test_space_info() -> None:
    result = CliRunner().invoke(main, ["space", "info", "nb201"])
    assert result.exit_code == 0
    assert "cells   15,625" in result.output and "edges   6" in result.output
    assert "nodes   4" in result.output and "ops     5" in result.output


def test_space_sample_is_seeded_and_masked() -> None:
    r1 = CliRunner().invoke(main, ["space", "sample", "nb201", "-n", "10", "--seed", "0"])
    r2 = CliRunner().invoke(main, ["space", "sample", "nb201", "-n", "10", "--seed", "0"])
    assert r1.exit_code == 0 and r1.output == r2.output
    lines = r1.output.splitlines()
    assert len(lines) == 10
    sp = create_space("nb201")
    assert all(sp.from_string(s) for s in lines)
    r3 = CliRunner().invoke(
        main,
        [
            "space",
            "sample",
            "nb201",
            "-n",
            "30",
            "--prune",
            "0:none",
            "--pin",
            "2->3:nor_conv_1x1",
        ],
    )
    archs = [sp.from_string(s) for s in r3.output.splitlines()]
    assert all(a.ops[0] != "none" and a.ops[5] == "nor_conv_1x1" for a in archs)


def test_space_sample_errors() -> None:
    r = CliRunner().invoke(main, ["space", "sample", "nb201", "--prune", "9:none"])
    assert r.exit_code == 2 and "edge must be 0..5" in r.output
    r = CliRunner().invoke(main, ["space", "sample", "nb201", "--prune", "0:conv"])
    assert r.exit_code == 2 and "unknown op 'conv'" in r.output
    r = CliRunner().invoke(
        main, ["space", "sample", "nb201", "--pin", "0:none", "--unique", "-n", "5000"]
    )
    assert r.exit_code == 2 and "only 3125 cells" in r.output
    r = CliRunner().invoke(main, ["space", "sample", "nasbench101"])
    assert r.exit_code == 2


def test_space_describe() -> None:
    r = CliRunner().invoke(
        main,
        [
            "space",
            "describe",
            "nb201",
            "|nor_conv_3x3~0|+"
            + "|nor_conv_3x3~0|nor_conv_3x3~1|+"
            + "|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|",
        ],
    )
    assert r.exit_code == 0 and "params  1,531,546" in r.output


def test_truth_with_table(tmp_path: Path) -> None:
    p = tmp_path / "t.csv"
    p.write_text(f"arch,acc\n{BEST_NB201},94.3733\n")
    r = CliRunner().invoke(main, ["truth", "--benchmark", f"csv:{p}", BEST_NB201])
    assert r.exit_code == 0 and r.output.strip() == "94.37"
    other = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"
    r = CliRunner().invoke(main, ["truth", "--benchmark", f"csv:{p}", other])
    assert r.exit_code == 1 and r.output.strip() == "unknown"
    r = CliRunner().invoke(main, ["truth", "--benchmark", f"csv:{p}", "|x~0|"])
    assert r.exit_code == 2 and "bad NB201 arch string" in r.output


def test_data_info() -> None:
    r = CliRunner().invoke(main, ["data", "info", "digits"])
    assert r.exit_code == 0 and '"num_classes": 10' in r.output
    r = CliRunner().invoke(main, ["data", "info", "npz:/nonexistent.npz"])
    assert r.exit_code == 2 and "no such file" in r.output


@pytest.mark.shared_data
def test_truth_shared_table_prints_9437() -> None:
    path = shared_file("nb201_cifar10_test_acc.csv")
    r = CliRunner().invoke(main, ["truth", "--benchmark", f"csv:{path}", BEST_NB201])
    assert r.exit_code == 0 and r.output.strip() == "94.37"


def test_best_table_orders_by_the_ensemble_over_all_cells() -> None:
    from types import SimpleNamespace

    from nas_engine.cli.search import _best_table
    from nas_engine.runner import SearchConfig
    from nas_engine.runner.fidelity import unknown
    from nas_engine.storage import CandidateRecord

    cfg = SearchConfig(dataset="synthetic", proxy="ensemble", strategy="random")
    members = list(cfg.ensemble)
    archs = [
        "|none~0|+|none~0|none~1|+|none~0|none~1|nor_conv_3x3~2|",
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|",
    ]
    # the first cell is alone when evaluated (online fitness 0 = best possible); the second
    # beats it on every member, so the ensemble over both puts the second first
    cands = [
        CandidateRecord(seq=i, arch=a, mask_version=0, strategy="random",
                        scores={m: float(i) for m in members}, fitness=f, oneshot=None,
                        truth=None, created=0.0, seconds=0.1)
        for i, (a, f) in enumerate(zip(archs, [0.0, -0.1], strict=True))
    ]  # fmt: skip
    none = unknown("2 cells estimated so far, 10 needed")
    snap = SimpleNamespace(candidates=cands, config=cfg, fidelity=none, search_fidelity=none)
    table = _best_table(snap).splitlines()
    assert table[1].split()[0] == "1" and table[2].split()[0] == "0"
    assert table[-2].startswith("* online fitness")
    assert table[-1] == f"one-shot estimate: not informative yet: {none.reason}"


def test_set_refuses_none_and_nan_where_a_setting_needs_a_number() -> None:
    from nas_engine.cli.base import parse_set

    assert parse_set(("max_flops=none", "supernet_lr=0.05")) == {
        "max_flops": None,
        "supernet_lr": 0.05,
    }
    for bad in ("supernet_lr=none", "pace_s=nan", "budget=none", "supernet_lr=abc"):
        with pytest.raises(click.BadParameter, match="bad value"):
            parse_set((bad,))
