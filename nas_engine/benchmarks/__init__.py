"""Benchmark ground truth: ``load_ground_truth("csv:PATH[:COLUMN]")``."""

from __future__ import annotations

from nas_engine.benchmarks.ground_truth import (
    CsvGroundTruth,
    GroundTruth,
    GroundTruthError,
    NatsGroundTruth,
    load_ground_truth,
)

__all__ = [
    "CsvGroundTruth",
    "GroundTruth",
    "GroundTruthError",
    "NatsGroundTruth",
    "load_ground_truth",
]
