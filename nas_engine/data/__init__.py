"""Datasets behind one ``load_dataset(name, ...)``."""

from __future__ import annotations

from nas_engine.data.datasets import (
    DATASET_NAMES,
    Dataset,
    DatasetError,
    download_cifar,
    load_dataset,
)

__all__ = ["DATASET_NAMES", "Dataset", "DatasetError", "download_cifar", "load_dataset"]
