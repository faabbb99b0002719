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
    "supernet_warmup": 20,  # a short warm-up: the default 500 steps dominated these tests
    "budget": 400,
}


#: The macro chain's tiny networks: it has a width option only, so the ``*_N`` stay unset.
TINY_MACRO = {
    **{k: v for k, v in TINY.items() if k != "proxy_N"},
    "space": "macro",
    "proxy_C": 4,
    "supernet_C": 4,
    "train_C": 4,
}


def make_controller(tmp: Path, *, db: str = "app.db", **overrides: Any) -> AppController:
    """A controller on the synthetic set with tiny networks and a PCA layout."""
    return _controller(tmp, SearchConfig(**{**TINY, **overrides}), db=db)


def make_macro_controller(tmp: Path, *, db: str = "app.db", **overrides: Any) -> AppController:
    """:func:`make_controller` serving the macro space (tiny widths, no depth option)."""
    return _controller(tmp, SearchConfig(**{**TINY_MACRO, **overrides}), db=db)


def _controller(tmp: Path, cfg: SearchConfig, *, db: str) -> AppController:
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
