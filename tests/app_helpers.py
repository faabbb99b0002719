"""Small, fast app set-ups shared by the app tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from app import AppController
from nas_engine.data import load_dataset
from nas_engine.runner import SearchConfig
from nas_engine.storage import SQLiteStorage

TINY = {
    "dataset": "synthetic",
    "proxies": ("zico", "naswot", "synflow", "params"),
    "proxy": "zico",
    "proxy_C": 4,
    "proxy_N": 1,
    "proxy_batch_size": 8,
    "supernet_batch_size": 16,
    "steps_per_candidate": 1,
    "budget": 400,
}


def make_controller(tmp: Path, *, db: str = "app.db", **overrides: Any) -> AppController:
    """A controller on the synthetic set with tiny networks and a PCA layout."""
    cfg = SearchConfig(**{**TINY, **overrides})
    storage = SQLiteStorage(tmp / db)
    data = load_dataset(cfg.dataset, seed=cfg.seed)
    return AppController(
        storage,
        defaults=cfg,
        cache_dir=tmp / "cache",
        layout_method="pca",
        data=data,
        checkpoint_dir=tmp / "ckpt",
    )
