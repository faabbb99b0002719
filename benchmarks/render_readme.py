"""Render the README's benchmark tables from the result files in ``benchmarks/results/``.

Every rendered block in ``README.md`` sits between a marker pair::

    <!-- bench:<name> -->
    ...replaced...
    <!-- /bench:<name> -->

``<name>`` is a result file, ``benchmarks/results/<name>.json``; ``<name>:<part>`` picks
one part when the renderer returns several (a dict of markdown strings). The file names
its ``renderer``, a module (``benchmarks.macro_search``) whose ``render(result)`` builds
the markdown from the file alone, or ``module:function``. Each block ends with a stamp
line: the file, the run's commit, date, cores, load and command.

    python benchmarks/render_readme.py           # rewrite README.md
    python benchmarks/render_readme.py --check   # exit 1 (with a diff) if it is stale

A marker whose result file is missing is an error.
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import REPO, RESULTS

README = REPO / "README.md"
#: ``<!-- bench:name -->`` or ``<!-- bench:name:part -->``, then its closing twin.
MARKER = re.compile(
    r"(?P<open><!-- bench:(?P<key>(?P<name>[\w.-]+)(?::(?P<part>[\w.-]+))?) -->\n)"
    r"(?P<body>.*?)"
    r"(?P<close><!-- /bench:(?P=key) -->)",
    re.S,
)
OPEN = re.compile(r"<!-- bench:([\w.:-]+) -->")


class RenderError(Exception):
    """A marker that cannot be rendered (no result file, no renderer, unknown part)."""


def markers(text: str) -> list[str]:
    """The keys (``name`` or ``name:part``) of every opening marker, in order."""
    return OPEN.findall(text)


def load_result(name: str) -> dict[str, Any]:
    """``benchmarks/results/<name>.json``."""
    path = RESULTS / f"{name}.json"
    if not path.is_file():
        raise RenderError(f"<!-- bench:{name} -->: {path.relative_to(REPO)} does not exist")
    return json.loads(path.read_text())


def renderer(result: dict[str, Any], name: str) -> Callable[[dict[str, Any]], Any]:
    """The function the result names: ``"module"`` (its ``render``) or ``"module:func"``."""
    spec = result.get("renderer")
    if not spec:
        raise RenderError(f"{name}.json names no renderer")
    mod, _, func = spec.partition(":")
    return getattr(importlib.import_module(mod), func or "render")


def stamp_line(name: str, result: dict[str, Any]) -> str:
    """``_benchmarks/results/<name>.json · commit … · date · N cores · load … · `cmd`_``."""
    s = result.get("stamp") or {}
    bits = [f"benchmarks/results/{name}.json"]
    if s.get("converted_from"):
        bits.append(f"converted from {s['converted_from']}")
    bits.append(f"commit {s.get('commit', 'unknown')}")
    if s.get("date"):
        bits.append(str(s["date"]).split(" ")[0].split("T")[0])
    if s.get("cores"):
        bits.append(f"{s['cores']} cores")
    if s.get("load1") is not None:
        bits.append(f"load {s['load1']:.1f}")
    if s.get("command"):
        bits.append(f"`{s['command']}`")
    return "_" + " · ".join(bits) + "_"


def render_block(key: str) -> str:
    """The text that belongs between the markers of ``key``."""
    name, _, part = key.partition(":")
    result = load_result(name)
    out = renderer(result, name)(result)
    if isinstance(out, dict):
        if part not in out:
            raise RenderError(f"<!-- bench:{key} -->: the renderer has parts {sorted(out)}")
        out = out[part]
    elif part:
        raise RenderError(f"<!-- bench:{key} -->: the renderer returns one block, not parts")
    return f"{out.strip()}\n\n{stamp_line(name, result)}\n"


def render_text(text: str) -> str:
    """``text`` with every marker pair's content rendered afresh."""
    opened = markers(text)
    closed = re.findall(r"<!-- /bench:([\w.:-]+) -->", text)
    if sorted(opened) != sorted(closed) or len(set(opened)) != len(opened):
        raise RenderError(f"unbalanced or repeated markers: opened {opened}, closed {closed}")
    cache: dict[str, str] = {}

    def sub(m: re.Match[str]) -> str:
        key = m["key"]
        if key not in cache:
            cache[key] = render_block(key)
        return m["open"] + cache[key] + m["close"]

    out = MARKER.sub(sub, text)
    if len(cache) != len(opened):
        raise RenderError("a marker pair is malformed (the opening marker must end its line)")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="only check; exit 1 when stale")
    ap.add_argument("--readme", default=str(README))
    args = ap.parse_args(argv)
    path = Path(args.readme)
    text = path.read_text()
    try:
        new = render_text(text)
    except RenderError as e:
        print(f"render_readme: {e}", file=sys.stderr)
        return 2
    if args.check:
        if new != text:
            sys.stdout.writelines(
                difflib.unified_diff(
                    text.splitlines(True), new.splitlines(True), "README.md", "rendered"
                )
            )
            print("README.md is not what the result files render: run "
                  "python benchmarks/render_readme.py", file=sys.stderr)  # fmt: skip
            return 1
        print(f"README.md is up to date ({len(markers(text))} rendered blocks)")
        return 0
    if new != text:
        path.write_text(new)
        print(f"rewrote {path} ({len(markers(text))} rendered blocks)")
    else:
        print(f"{path} already up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
