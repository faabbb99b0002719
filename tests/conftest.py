"""Shared fixtures: seeded torch, the shared real-data folder (skipped when absent)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("NASNAV_SHARED_DATA", REPO.parent / "shared" / "data"))

#: torch threads per test process: the cores shared among the xdist workers (at most 2).
#: Two workers of 2 threads each on 2 cores made every parallel op wait for a descheduled
#: thread; a benchmark pair run that way scored cells 12x slower than one at a time.
THREADS = max(
    1, min(2, (os.cpu_count() or 1) // int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", 1)))
)
os.environ.setdefault("OMP_NUM_THREADS", str(THREADS))  # for the CLI subprocesses tests start

BEST_NB201 = (
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|"
    "+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"
)


def shared_file(name: str) -> Path:
    """Return ``SHARED_DATA/name`` or skip the test with a clear reason."""
    path = SHARED_DATA / name
    if not path.is_file():
        pytest.skip(
            f"real data {name} not found in {SHARED_DATA} (a fresh clone has no ../shared/; "
            "set NASNAV_SHARED_DATA to run this check)"
        )
    return path


@pytest.fixture(autouse=True)
def _seed_torch() -> None:
    torch.manual_seed(0)
    torch.set_num_threads(THREADS)


def pytest_configure(config: pytest.Config) -> None:
    # Browser tests: no display (CI, SSH) means headless Chromium, with or without --headless.
    if hasattr(config.option, "headless") and not os.environ.get("DISPLAY"):
        config.option.headless = True


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    import shutil

    if shutil.which("chromedriver"):
        return
    skip = pytest.mark.skip(
        reason="browser tests need Chromium and its driver: `make test` installs them "
        "(apt-get install chromium chromium-driver)"
    )
    for item in items:
        if "browser" in item.keywords:
            item.add_marker(skip)
