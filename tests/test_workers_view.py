"""The progress view's workers line: how many Dask workers, busy or idle, tasks in flight,
and Dask's dashboard link; nothing for a run in this process."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import pytest

from app import create_app, ids
from app.viewmodel import candidates_frame, progress_data
from app.viewmodel.views import ProgressData
from app.views import progress
from nas_engine.distributed import WorkerStatus
from nas_engine.runner import SearchConfig, Snapshot
from nas_engine.search_spaces import SearchSpace, create_space
from tests.app_helpers import make_controller, post_callback

SPACE = create_space("nb201")
DASK = WorkerStatus(
    kind="dask", workers=2, busy=1, threads=2, in_flight=3,
    address="tcp://127.0.0.1:1234", dashboard="http://127.0.0.1:8787/status",
)  # fmt: skip


def _snap(workers: WorkerStatus | None, *, space: SearchSpace[Any] = SPACE) -> Snapshot:
    return Snapshot(
        run_id=1, status="running", config=SearchConfig(budget=50, supernet_warmup=0),
        mask=space.full_mask(), mask_version=0, candidates=(), events=(), supernet_curve=(),
        train_curves={}, best=None, supernet_step=0, candidates_per_min=0.0, message=None,
        updated=time.time(), workers=workers,
    )  # fmt: skip


def _progress(workers: WorkerStatus | None) -> ProgressData:
    snap = _snap(workers)
    return progress_data(snap, candidates_frame(snap, SPACE), show_truth=True)


def test_dask_workers_show_count_busy_idle_in_flight_scheduler_and_dashboard() -> None:
    d = _progress(DASK)
    assert d.workers.startswith("2 Dask workers (1 busy, 1 idle)")
    assert "3 tasks in flight" in d.workers
    assert "scheduler tcp://127.0.0.1:1234" in d.workers
    assert d.dashboard == "http://127.0.0.1:8787/status"
    one = _progress(dataclasses.replace(DASK, workers=1, busy=0, in_flight=1))
    assert "1 Dask worker (0 busy, 1 idle)" in one.workers and "1 task in flight" in one.workers
    gpu = _progress(dataclasses.replace(DASK, resources={"GPU": 2}))
    assert "GPU 2" in gpu.workers
    # no dashboard, or one that is not a web address: no link
    assert _progress(dataclasses.replace(DASK, dashboard=None)).dashboard is None
    assert _progress(dataclasses.replace(DASK, dashboard="javascript:alert(1)")).dashboard is None


@pytest.mark.parametrize(
    "workers", [None, WorkerStatus(kind="in-process", workers=1, busy=0, threads=1, in_flight=0)]
)
def test_a_run_in_this_process_shows_no_workers(workers: WorkerStatus | None) -> None:
    d = _progress(workers)
    assert d.workers == "" and d.dashboard is None
    empty = progress_data(None, candidates_frame(None, SPACE), show_truth=True)
    assert empty.workers == "" and empty.dashboard is None


def test_an_unreachable_scheduler_shows_why() -> None:
    lost = WorkerStatus(
        kind="dask", workers=0, busy=0, threads=0, in_flight=4, address="tcp://10.0.0.9:8786",
        error="OSError: Timed out trying to connect",
    )  # fmt: skip
    d = _progress(lost)
    assert d.workers.startswith("Dask scheduler tcp://10.0.0.9:8786 unreachable: OSError:")
    assert "Timed out trying to connect" in d.workers and "4 tasks in flight" in d.workers
    assert "idle" not in d.workers and d.dashboard is None


def test_the_progress_callback_renders_the_workers_and_the_dashboard_link(
    tmp_path: Path,
) -> None:
    c = make_controller(tmp_path)
    try:
        snaps = {"now": _snap(DASK, space=c.space)}
        c.snapshot = lambda: snaps["now"]  # type: ignore[method-assign]  # as the engine's
        app = create_app(c)
        vc = app.view_context

        def workers() -> object:
            res = post_callback(
                app, (ids.VERSION, "data"), vc.version(), output=f"{progress.WORKERS}.children"
            )
            assert res.status_code == 200, res.get_data(as_text=True)[-1500:]
            return res.get_json()["response"][progress.WORKERS]["children"]

        shown = workers()
        text = json.dumps(shown)
        assert "2 Dask workers (1 busy, 1 idle)" in text and "3 tasks in flight" in text
        link = shown[-1]
        assert link["type"] == "A" and link["props"]["children"] == "Dask dashboard"
        assert link["props"]["href"] == "http://127.0.0.1:8787/status"
        assert link["props"]["target"] == "_blank"
        # the next version runs in this process: the line empties
        snaps["now"] = dataclasses.replace(snaps["now"], workers=None, updated=time.time() + 1)
        vc.published.refresh()
        assert workers() == ""
    finally:
        c.close()
        c.storage.close()
