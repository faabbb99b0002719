"""The weight-sharing NB201 supernet and its single-path (SPOS) trainer."""

from __future__ import annotations

from nas_engine.supernet.nb201_supernet import (
    ESTIMATES,
    SAMPLINGS,
    Estimate,
    MixedEdge,
    NB201Supernet,
    StepResult,
    SuperCell,
    SupernetConfig,
    SupernetTrainer,
)

__all__ = [
    "ESTIMATES",
    "SAMPLINGS",
    "Estimate",
    "MixedEdge",
    "NB201Supernet",
    "StepResult",
    "SuperCell",
    "SupernetConfig",
    "SupernetTrainer",
]
