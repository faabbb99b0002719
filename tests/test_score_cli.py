"""`nasnav score` / `nasnav correlate`: rows per cell, resume after a crash, clear errors."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from nas_engine.cli import main
from nas_engine.proxies.io import score_header

SMALL = ["--dataset", "synthetic", "--C", "4", "--N", "1", "--batch-size", "8"]
ARCHS = [
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|",
    "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|",
    "|avg_pool_3x3~0|+|skip_connect~0|none~1|+|avg_pool_3x3~0|none~1|skip_connect~2|",
    "|nor_conv_1x1~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|nor_conv_3x3~0|none~1|skip_connect~2|",
]


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def test_score_archs_file_writes_one_row_per_cell(tmp_path: Path) -> None:
    archs = tmp_path / "archs.txt"
    archs.write_text("# cells\n" + "\n".join(ARCHS) + "\n" + ARCHS[0] + "\n")
    out = tmp_path / "s.csv"
    r = CliRunner().invoke(main, ["score", "--archs", str(archs), "--proxies", "zico,synflow",
                                  "--out", str(out), *SMALL])  # fmt: skip
    assert r.exit_code == 0, r.output
    rows = _rows(out)
    assert [row["arch"] for row in rows] == ARCHS  # duplicates scored once, order kept
    assert list(rows[0]) == score_header(["zico", "synflow"])
    assert float(rows[0]["zico"]) > 0 and float(rows[0]["zico_seconds"]) >= 0
    assert rows[1]["zico"] == "nan" and "zico:" in rows[1]["notes"]  # all-none cell


def test_resume_after_torn_write(tmp_path: Path) -> None:
    out = tmp_path / "s.csv"
    args = ["score", "--sample", "5", "--seed", "3", "--proxies", "params,naswot", "--out",
            str(out), *SMALL]  # fmt: skip
    assert CliRunner().invoke(main, args).exit_code == 0
    full = _rows(out)
    # simulate a crash: keep the header, two rows and half of the third
    text = out.read_text().splitlines(keepends=True)
    out.write_text("".join(text[:3]) + text[3][: len(text[3]) // 2])
    r = CliRunner().invoke(main, [*args, "--resume"])
    assert r.exit_code == 0, r.output
    assert "scored 3 cells, 2 already" in r.output
    again = _rows(out)
    assert [x["arch"] for x in again] == [x["arch"] for x in full]
    assert [x["naswot"] for x in again] == [x["naswot"] for x in full]  # deterministic


def test_score_refusals(tmp_path: Path) -> None:
    out = tmp_path / "s.csv"
    base = ["score", "--sample", "2", "--out", str(out), *SMALL]
    assert CliRunner().invoke(main, [*base, "--proxies", "params"]).exit_code == 0
    r = CliRunner().invoke(main, [*base, "--proxies", "params"])
    assert r.exit_code == 2 and "exists; pass --resume" in r.output
    r = CliRunner().invoke(main, [*base, "--proxies", "flops", "--resume"])
    assert r.exit_code == 2 and "Use the same --proxies" in r.output
    r = CliRunner().invoke(main, [*base, "--proxies", "zicoo", "--overwrite"])
    assert r.exit_code == 2 and "unknown proxy" in r.output
    r = CliRunner().invoke(main, ["score", "--out", str(out), *SMALL])
    assert r.exit_code == 2 and "exactly one of --archs FILE or --sample N" in r.output
    bad = tmp_path / "bad.txt"
    bad.write_text("|nor_conv_3x3~0|\n")
    r = CliRunner().invoke(main, ["score", "--archs", str(bad), "--out", str(out), *SMALL])
    assert r.exit_code == 2 and "bad.txt:1:" in r.output


def test_correlate_table_and_json(tmp_path: Path) -> None:
    scores = tmp_path / "s.csv"
    names = ["zico", "naswot", "synflow", "params"]
    with scores.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(score_header(names))
        for i, a in enumerate(ARCHS):
            w.writerow([a, i, i, i, 3 - i, *[0.1] * 4, ""])
    gt = tmp_path / "gt.csv"
    gt.write_text("arch,acc\n" + "".join(f"{a},{10 * i}\n" for i, a in enumerate(ARCHS[:3])))
    r = CliRunner().invoke(main, ["correlate", "--scores", str(scores), "--benchmark",
                                  f"csv:{gt}", "--json"])  # fmt: skip
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["cells"] == 4 and out["with_truth"] == 3
    assert out["proxies"]["zico"]["spearman"] == pytest.approx(1.0)
    assert out["proxies"]["params"]["spearman"] == pytest.approx(-1.0)
    # the file lacks the default ensemble's members: no ensemble row, and a note says so
    assert not any(k.startswith("ensemble(") for k in out["proxies"])
    assert "default ensemble" in out["note"]
    r = CliRunner().invoke(main, ["correlate", "--scores", str(scores), "--benchmark",
                                  f"csv:{gt}", "--json", "--ensemble", "zico,naswot",
                                  "--aggregation", "mean_rank"])  # fmt: skip
    assert "ensemble(zico+naswot; mean_rank)" in json.loads(r.output)["proxies"]
    r = CliRunner().invoke(main, ["correlate", "--scores", str(scores), "--benchmark",
                                  f"csv:{gt}", "--ensemble", "zico,meco"])  # fmt: skip
    assert r.exit_code != 0 and "meco" in r.output  # an explicit ensemble must be there
    r = CliRunner().invoke(
        main, ["correlate", "--scores", str(scores), "--benchmark", f"csv:{gt}"]
    )
    assert r.exit_code == 0 and "spearman" in r.output and "zico" in r.output
    r = CliRunner().invoke(main, ["correlate", "--scores", str(tmp_path / "x.csv"),
                                  "--benchmark", f"csv:{gt}"])  # fmt: skip
    assert r.exit_code == 2 and "no such score file" in r.output


def test_proxies_ensemble_writes_the_ensemble_column(tmp_path: Path) -> None:
    from nas_engine.proxies import rank_ensemble
    from nas_engine.proxies.io import ENSEMBLE_COLUMN
    from nas_engine.proxies.suite import DEFAULT_AGGREGATION, DEFAULT_ENSEMBLE

    out = tmp_path / "e.csv"
    args = ["score", "--sample", "6", "--seed", "1", "--proxies", "ensemble", "--out", str(out),
            *SMALL]  # fmt: skip
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    rows = _rows(out)
    members = list(DEFAULT_ENSEMBLE)
    assert list(rows[0]) == [*score_header(members), ENSEMBLE_COLUMN]  # just the members
    cols = {m: [float(x[m]) for x in rows] for m in members}
    want = rank_ensemble(cols, members, aggregation=DEFAULT_AGGREGATION)
    assert [float(x[ENSEMBLE_COLUMN]) for x in rows] == pytest.approx(want.tolist())
    # resuming a finished file drops the column, scores the rest, and recomputes it
    r = CliRunner().invoke(main, [*args[:2], "8", *args[3:], "--resume"])
    assert r.exit_code == 0, r.output
    assert "scored 2 cells, 6 already" in r.output
    rows = _rows(out)
    assert len(rows) == 8 and list(rows[0])[-1] == ENSEMBLE_COLUMN
    cols = {m: [float(x[m]) for x in rows] for m in members}
    want = rank_ensemble(cols, members, aggregation=DEFAULT_AGGREGATION)
    assert [float(x[ENSEMBLE_COLUMN]) for x in rows] == pytest.approx(want.tolist())
