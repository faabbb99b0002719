"""Single-path one-shot (SPOS) training of a space's weight-sharing supernet."""

from __future__ import annotations

from nas_engine.supernet.trainer import (
    ESTIMATES,
    SAMPLINGS,
    Estimate,
    StepResult,
    SupernetConfig,
    SupernetTrainer,
)

__all__ = [
    "ESTIMATES",
    "SAMPLINGS",
    "Estimate",
    "StepResult",
    "SupernetConfig",
    "SupernetTrainer",
]
