"""Helpers shared by the benchmark scripts (paths to ../shared/data, table printing, a
resumable proxy-score cache)."""

from __future__ import annotations

import csv
import datetime
import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nas_engine.proxies import ProxySuite

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"


def shared_dir(arg: str | None) -> Path:
    """Return the shared data folder (flag, ``$NASNAV_SHARED_DATA`` or ``../shared/data``)."""
    path = Path(arg or os.environ.get("NASNAV_SHARED_DATA") or REPO.parent / "shared" / "data")
    if not path.is_dir():
        sys.exit(f"shared data folder {path} not found; pass --shared or set NASNAV_SHARED_DATA")
    return path


def sample_cells(space: Any, n: int, seed: int) -> list[str]:
    """The cells ``nasnav score --sample n --seed seed`` scores, in its order (a prefix of
    a larger sample with the same seed)."""
    import numpy as np

    return [space.to_string(a) for a in space.sample_distinct(n, np.random.default_rng(seed))]


def bootstrap_ci(pred: Any, truth: Any, *, seed: int, n: int = 1000) -> tuple[float, float]:
    """95 % percentile-bootstrap interval of Spearman ρ over the cells."""
    import numpy as np

    from nas_engine.proxies import correlations

    rng = np.random.default_rng(seed)
    vals = []
    for _ in range(n):
        i = rng.integers(0, len(pred), len(pred))
        vals.append(correlations(pred[i], truth[i])["spearman"])
    return float(np.percentile(vals, 2.5)), float(np.percentile(vals, 97.5))


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Format rows as a GitHub markdown table (floats to 3 decimals)."""

    def fmt(v: object) -> str:
        if isinstance(v, float):
            return "—" if v != v else f"{v:.3f}"
        return str(v)

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(fmt(v) for v in r) + " |" for r in rows]
    return "\n".join(lines)


def run_stamp() -> dict[str, Any]:
    """Where a result came from: commit (``+dirty`` with local changes), UTC date, CPU
    cores and the command line."""

    def git(*args: str) -> str:
        try:
            out = subprocess.run(
                ["git", *args], cwd=REPO, capture_output=True, text=True, timeout=10
            )
        except (OSError, subprocess.SubprocessError):
            return ""
        return out.stdout.strip() if out.returncode == 0 else ""

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    if git("status", "--porcelain", "--untracked-files=no"):
        commit += "+dirty"
    return {
        "commit": commit,
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cores": os.cpu_count(),
        "command": "python " + " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]])
        if sys.argv and sys.argv[0]
        else "",
    }


def write_result(name: str, payload: dict[str, Any], *, markdown: str | None = None) -> Path:
    """Write ``benchmarks/results/<name>.json`` (``payload`` plus a ``stamp``) and, when
    given, ``<name>.md``; return the JSON path. The README's tables are rendered from
    these files by ``benchmarks/render_readme.py``."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    body = {"stamp": run_stamp(), **payload}
    path.write_text(json.dumps(body, indent=2, sort_keys=False, default=float) + "\n")
    if markdown is not None:
        (RESULTS / f"{name}.md").write_text(markdown.rstrip() + "\n")
    return path


class ScoreCache:
    """Proxy scores per arch string, appended to a CSV as they are computed.

    Each new row is flushed and synced, so an interrupted run loses nothing and a rerun
    continues where it stopped. ``seed_from`` names other score files made with the same
    settings; their rows are used (never rewritten) when they hold every proxy column.

    Args:
        path: The cache file (created with a header when missing).
        suite: Computes the scores of a cell the cache lacks.
        seed_from: Other score files to read.
    """

    def __init__(self, path: Path, suite: ProxySuite, seed_from: Sequence[Path]) -> None:
        self.path, self.suite, self.names = path, suite, list(suite.names)
        self.scores: dict[str, dict[str, float]] = {}
        self.computed = 0  # cells scored by this object
        self.seconds = 0.0  # time spent scoring them
        # the file itself first, then other score files made with the same settings
        for src in [path, *(s for s in seed_from if s != path)]:
            for arch, vals in self._read(src).items():
                self.scores.setdefault(arch, vals)
        fresh = not path.is_file()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._f = path.open("a", newline="")
        self._w = csv.writer(self._f)
        if fresh:
            self._w.writerow(["arch", *self.names])

    def _read(self, src: Path) -> dict[str, dict[str, float]]:
        """The complete rows of a score file holding every proxy column, keyed by the arch
        *text* (codes like ``00000122`` keep their zeros); a torn last row is skipped."""
        if not src.is_file():
            return {}
        with src.open(newline="") as f:
            rows = csv.reader(f)
            head = next(rows, [])
            if "arch" not in head or not all(n in head for n in self.names):
                return {}
            at, col = head.index("arch"), [head.index(n) for n in self.names]
            return {
                r[at]: {
                    n: float(r[i]) if r[i] else float("nan")
                    for n, i in zip(self.names, col, strict=True)
                }
                for r in rows
                if len(r) == len(head)
            }

    def get(self, arch: str) -> dict[str, float]:
        """The scores of ``arch`` (a cell string), computed and appended when missing."""
        if arch not in self.scores:
            t0 = time.perf_counter()
            cs = self.suite.score(arch)
            vals = {n: float(cs.results[n].value) for n in self.names}
            self.seconds += time.perf_counter() - t0
            self._w.writerow([arch, *(repr(vals[n]) for n in self.names)])
            self._f.flush()
            os.fsync(self._f.fileno())
            self.scores[arch] = vals
            self.computed += 1
        return self.scores[arch]
