"""Running scoring, candidate evaluation and training in-process or on a Dask cluster."""

from nas_engine.distributed.executor import (
    SCHEDULER_ENV,
    DaskExecutor,
    Executor,
    ExecutorError,
    InProcessExecutor,
    WorkerStatus,
    make_executor,
    scheduler_from_env,
)
from nas_engine.distributed.tasks import DataSpec, ScoredCell, ScoreSpec, TrainedCell, TrainSpec

__all__ = [
    "SCHEDULER_ENV",
    "DaskExecutor",
    "DataSpec",
    "Executor",
    "ExecutorError",
    "InProcessExecutor",
    "ScoreSpec",
    "ScoredCell",
    "TrainSpec",
    "TrainedCell",
    "WorkerStatus",
    "make_executor",
    "scheduler_from_env",
]
