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
        if v is None:  # a NaN after a JSON round trip
            return "—"
        if isinstance(v, float):
            return "—" if v != v else f"{v:.3f}"
        return str(v)

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(fmt(v) for v in r) + " |" for r in rows]
    return "\n".join(lines)


def members_text(members: Sequence[str]) -> str:
    """Ensemble members as the README writes them: ``synflow + jacob_cov + #params``."""
    return " + ".join("#params" if m == "params" else m for m in members)


def run_stamp() -> dict[str, Any]:
    """Where a result came from: commit (``+dirty`` with local changes), UTC date, CPU
    cores, the 1-minute load average when the run ended (other work on the machine slows
    every timing) and the command line; when torch is loaded, its thread count and the
    OpenMP wait policy (spin-waiting threads were several times slower on 2 shared cores)."""

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
    try:
        load1: float | None = round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):  # not on every platform
        load1 = None
    stamp: dict[str, Any] = {
        "commit": commit,
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cores": os.cpu_count(),
        "load1": load1,
        "command": "python " + " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]])
        if sys.argv and sys.argv[0]
        else "",
    }
    torch = sys.modules.get("torch")
    if torch is not None:
        stamp["torch_threads"] = torch.get_num_threads()
        stamp["omp_wait_policy"] = os.environ.get("OMP_WAIT_POLICY")
    return stamp


def _main_module() -> str | None:
    """``benchmarks.<x>`` when the running program is ``benchmarks/<x>.py``, else None."""
    main = getattr(sys.modules.get("__main__"), "__file__", None)
    if not main:
        return None
    path = Path(main).resolve()
    return f"benchmarks.{path.stem}" if path.parent == REPO / "benchmarks" else None


def _plain(v: Any) -> Any:
    """``v`` as plain JSON: numpy scalars and arrays to Python, NaN and ±inf to null."""
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if hasattr(v, "tolist") and not isinstance(v, (str, bytes)):  # numpy scalar or array
        return _plain(v.tolist())
    if isinstance(v, float) and (v != v or v in (float("inf"), float("-inf"))):
        return None
    return v


def dump_json(v: Any, ind: int = 0) -> str:
    """JSON with one key per line, but each list of scalars (a curve, a CI) on one line."""
    pad, inner = " " * ind, " " * (ind + 1)
    if isinstance(v, dict) and v:
        items = [f"{inner}{json.dumps(k)}: {dump_json(x, ind + 1)}" for k, x in v.items()]
        return "{\n" + ",\n".join(items) + f"\n{pad}}}"
    if isinstance(v, list) and any(isinstance(x, (dict, list)) for x in v):
        return "[\n" + ",\n".join(inner + dump_json(x, ind + 1) for x in v) + f"\n{pad}]"
    return json.dumps(v, ensure_ascii=False, allow_nan=False)


def write_result(
    name: str,
    payload: dict[str, Any],
    *,
    markdown: str | None = None,
    renderer: str | None = None,
    stamp: dict[str, Any] | None = None,
) -> Path:
    """Write ``benchmarks/results/<name>.json`` (``payload`` plus a ``stamp`` and the
    ``renderer``: the module whose ``render(result)`` turns it into the README's markdown,
    by default the running benchmark script) and, when given, ``<name>.md``; return the
    JSON path. ``stamp`` is a :func:`run_stamp` the caller already printed (default: a new
    one). ``python benchmarks/render_readme.py`` puts the rendered text between the
    README's ``<!-- bench:<name> -->`` markers."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    body = {"stamp": stamp or run_stamp(), "renderer": renderer or _main_module(), **payload}
    path.write_text(dump_json(_plain(body)) + "\n")
    if markdown is not None:
        (RESULTS / f"{name}.md").write_text(markdown.rstrip() + "\n")
    return path


def blocks_from_markdown(text: str) -> list[dict[str, Any]]:
    """A markdown report as blocks: ``{"text": paragraph}`` or ``{"header", "rows"}`` for a
    table (cells kept as printed), to keep an earlier run's report as a result file."""
    blocks: list[dict[str, Any]] = []
    for chunk in text.strip().split("\n\n"):
        lines = chunk.strip().splitlines()
        if lines and all(ln.startswith("|") for ln in lines) and len(lines) >= 2:
            cells = [[c.strip() for c in ln.strip().strip("|").split("|")] for ln in lines]
            blocks.append({"header": cells[0], "rows": cells[2:]})
        elif lines:
            blocks.append({"text": "\n".join(lines)})
    return blocks


def render_transcribed(result: dict[str, Any]) -> str | dict[str, str]:
    """Render a result transcribed from an earlier markdown report: its ``blocks`` (or
    ``parts``: name → blocks), with the row labels renamed by ``labels`` (when the run's
    wording is out of date; the figures are never touched)."""
    labels = result.get("labels", {})

    def one(blocks: list[dict[str, Any]]) -> str:
        out = []
        for b in blocks:
            if "text" in b:
                out.append(b["text"])
            else:
                rows = [[labels.get(r[0], r[0]), *r[1:]] for r in b["rows"]]
                out.append(markdown_table(b["header"], rows))
        return "\n\n".join(out)

    if "parts" in result:
        return {k: one(v) for k, v in result["parts"].items()}
    return one(result["blocks"])


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
