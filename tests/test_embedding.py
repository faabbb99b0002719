"""Whole-space layouts: shape, determinism, on-disk cache."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nas_engine.embedding import compute_layout, layout_path, load_or_compute_layout
from nas_engine.search_spaces import create_space


def test_pca_layout_is_deterministic_and_cached(tmp_path: Path) -> None:
    sp = create_space("nb201")
    xy = load_or_compute_layout(sp, tmp_path, method="pca")
    assert xy.shape == (sp.size, 2) and np.isfinite(xy).all()
    path = layout_path(tmp_path, sp, "pca", 0)
    assert path.is_file()
    np.save(path, xy * 0 + 7)  # a cached file is read, not recomputed
    assert (load_or_compute_layout(sp, tmp_path, method="pca") == 7).all()
    assert np.allclose(compute_layout(sp, method="pca"), xy)
    # cells that differ on one edge land closer than average
    a = sp.from_index(0)
    near = [sp.index(n) for _, _, n in sp.neighbours(a)]
    d_near = np.linalg.norm(xy[near] - xy[0], axis=1).mean()
    d_all = np.linalg.norm(xy - xy[0], axis=1).mean()
    assert d_near < d_all


def test_unknown_layout_method_is_refused() -> None:
    with pytest.raises(ValueError, match="layout method"):
        compute_layout(create_space("nb201"), method="tsne")
