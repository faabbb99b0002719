"""The README's benchmark figures come from committed result files.

Every table under "## Benchmarks" sits between ``<!-- bench:<name> -->`` markers and is
what ``benchmarks/render_readme.py`` renders from ``benchmarks/results/<name>.json``, or
between ``<!-- bench-untraced -->`` markers with a visible note saying why it is not.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from benchmarks import render_readme
from benchmarks._common import RESULTS, dump_json, markdown_table

README = Path(__file__).resolve().parents[1] / "README.md"


def bench_section(text: str) -> str:
    start = text.index("## Benchmarks")
    nxt = text.find("\n## ", start + 1)
    return text[start : nxt if nxt != -1 else len(text)]


def test_readme_is_what_the_result_files_render() -> None:
    text = README.read_text()
    assert render_readme.render_text(text) == text, (
        "README.md's benchmark blocks differ from their result files: run "
        "python benchmarks/render_readme.py (a figure edited by hand?)"
    )


def test_every_marker_has_a_stamped_result_file() -> None:
    keys = render_readme.markers(README.read_text())
    assert keys, "no <!-- bench:... --> markers in README.md"
    for key in keys:
        name = key.split(":")[0]
        path = RESULTS / f"{name}.json"
        assert path.is_file(), f"{key}: {path} missing"
        result = json.loads(path.read_text())
        stamp = result.get("stamp") or {}
        for field in ("commit", "date", "cores", "command"):
            assert stamp.get(field), f"{path.name}: stamp lacks {field}"
        assert result.get("renderer"), f"{path.name}: names no renderer"


def test_every_benchmark_table_is_rendered_or_marked_untraced() -> None:
    section = bench_section(README.read_text())
    inside = re.sub(r"<!-- bench:([\w.:-]+) -->.*?<!-- /bench:\1 -->", "", section, flags=re.S)
    untraced = re.findall(r"<!-- bench-untraced -->(.*?)<!-- /bench-untraced -->", inside, re.S)
    for block in untraced:
        assert "_Not rendered from a result file" in block, "untraced table without its note"
    rest = re.sub(r"<!-- bench-untraced -->.*?<!-- /bench-untraced -->", "", inside, flags=re.S)
    rest = re.sub(r"```.*?```", "", rest, flags=re.S)  # code blocks are not tables
    stray = [ln for ln in rest.splitlines() if re.match(r"^\|[-| :]+\|$", ln)]
    assert not stray, f"{len(stray)} table(s) under ## Benchmarks outside any marker pair"


def test_a_hand_edited_figure_fails_the_check(tmp_path: Path) -> None:
    text = README.read_text()
    m = re.search(r"(<!-- bench:macro_search -->.*?\| in-budget optimum \| )([\d.]+)", text, re.S)
    assert m, "macro_search block not found"
    edited = text[: m.start(2)] + "99.999" + text[m.end(2) :]
    assert render_readme.render_text(edited) != edited
    readme = tmp_path / "README.md"
    readme.write_text(edited)
    assert render_readme.main(["--check", "--readme", str(readme)]) == 1


def test_missing_result_file_is_an_error(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("<!-- bench:no_such_result -->\nx\n<!-- /bench:no_such_result -->\n")
    assert render_readme.main(["--check", "--readme", str(readme)]) == 2
    with pytest.raises(render_readme.RenderError):
        render_readme.render_text(readme.read_text())


def test_parts_and_transcribed_results(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(render_readme, "RESULTS", tmp_path)
    result = {
        "stamp": {"commit": "abc1234", "date": "2026-11-29 10:00 UTC", "cores": 2,
                  "load1": 0.5, "command": "python benchmarks/x.py --n 3"},
        "renderer": "benchmarks._common:render_transcribed",
        "labels": {"old": "new"},
        "parts": {"a": [{"text": "caption"}, {"header": ["k", "v"], "rows": [["old", "1.0"]]}]},
    }  # fmt: skip
    (tmp_path / "x.json").write_text(dump_json(result))
    text = "<!-- bench:x:a -->\n<!-- /bench:x:a -->\n"
    out = render_readme.render_text(text)
    assert markdown_table(["k", "v"], [["new", "1.0"]]) in out
    stamp = "commit abc1234 · 2026-11-29 · 2 cores · load 0.5 · `python benchmarks/x.py --n 3`"
    assert stamp in out
    assert render_readme.render_text(out) == out
    with pytest.raises(render_readme.RenderError):
        render_readme.render_text("<!-- bench:x:b -->\n<!-- /bench:x:b -->\n")
