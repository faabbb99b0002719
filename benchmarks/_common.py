"""Helpers shared by the benchmark scripts (paths to ../shared/data, table printing)."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"


def shared_dir(arg: str | None) -> Path:
    """Return the shared data folder (flag, ``$NASNAV_SHARED_DATA`` or ``../shared/data``)."""
    path = Path(arg or os.environ.get("NASNAV_SHARED_DATA") or REPO.parent / "shared" / "data")
    if not path.is_dir():
        sys.exit(f"shared data folder {path} not found; pass --shared or set NASNAV_SHARED_DATA")
    return path


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Format rows as a GitHub markdown table (floats to 3 decimals)."""

    def fmt(v: object) -> str:
        if isinstance(v, float):
            return "—" if v != v else f"{v:.3f}"
        return str(v)

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(fmt(v) for v in r) + " |" for r in rows]
    return "\n".join(lines)
