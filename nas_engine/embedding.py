"""2-D layouts of a whole search space, computed once and cached on disk.

For NB201 the layout covers all 15,625 cells (one-hot encodings), so views only look
cells up by index. UMAP (``umap-learn``, optional) is the default; PCA is exact, fast and
used as a fallback while UMAP computes or when it is not installed.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from nas_engine.search_spaces import SearchSpace

METHODS = ("umap", "pca")


def space_encodings(space: SearchSpace[Any]) -> np.ndarray:
    """One-hot encodings of every cell of ``space``, in index order."""
    return np.stack([space.encode(space.from_index(i)) for i in range(space.size)]).astype(
        np.float32
    )


def compute_layout(space: SearchSpace[Any], *, method: str = "umap", seed: int = 0) -> np.ndarray:
    """Compute a 2-D layout of every cell (row ``i`` is the cell with index ``i``).

    Args:
        space: The search space (must be small enough to enumerate).
        method: ``umap`` or ``pca``.
        seed: Random seed (UMAP).

    Returns:
        ``(space.size, 2)`` float32 coordinates.

    Raises:
        ValueError: Unknown method.
        ImportError: ``umap`` requested but ``umap-learn`` is not installed.
    """
    if method not in METHODS:
        raise ValueError(f"unknown layout method {method!r}; use one of {METHODS}")
    x = space_encodings(space)
    if method == "pca":
        xc = x - x.mean(0)
        _, _, vt = np.linalg.svd(xc, full_matrices=False)
        xy = xc @ vt[:2].T
        # fix the sign so the layout does not flip between BLAS builds
        xy *= np.sign(xy[np.abs(xy).argmax(0), [0, 1]])
        return xy.astype(np.float32)
    import warnings

    import umap  # optional dependency (the ``app`` extra)

    reducer = umap.UMAP(
        n_components=2, n_neighbors=15, min_dist=0.1, metric="hamming", random_state=seed
    )
    with warnings.catch_warnings():  # seeded UMAP is single-threaded and has no inverse
        warnings.simplefilter("ignore", UserWarning)
        return reducer.fit_transform(x).astype(np.float32)


def layout_path(cache_dir: str | Path, space: SearchSpace[Any], method: str, seed: int) -> Path:
    """Cache file of a layout (named by space, size, method and seed)."""
    key = hashlib.sha1(f"{space.name}:{space.size}:{method}:{seed}:v1".encode()).hexdigest()[:10]
    return Path(cache_dir) / f"layout_{space.name}_{method}_{key}.npy"


def load_or_compute_layout(
    space: SearchSpace[Any], cache_dir: str | Path, *, method: str = "umap", seed: int = 0
) -> np.ndarray:
    """Read the cached layout, or compute it and write it atomically.

    Args:
        space: The search space.
        cache_dir: Folder of the cache.
        method: ``umap`` or ``pca``.
        seed: Random seed.

    Returns:
        ``(space.size, 2)`` coordinates.
    """
    path = layout_path(cache_dir, space, method, seed)
    if path.is_file():
        xy = np.load(path)
        if xy.shape == (space.size, 2):
            return xy
    xy = compute_layout(space, method=method, seed=seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npy")
    with os.fdopen(fd, "wb") as f:
        np.save(f, xy)
    os.chmod(tmp, 0o644)  # mkstemp creates 0600; the cache is meant to be shared
    os.replace(tmp, path)
    return xy
