"""The proxy fidelity regression references: fixed cells, fixed settings, committed values.

``tests/test_proxy_reference.py`` recomputes these and compares them with the committed
``tests/data/proxy_reference.json``:

* every registered proxy's value on :data:`CELLS` (synthetic images, always available);
* every proxy's and the default ensemble's Spearman ρ against NB201 CIFAR-10 truth on a
  fixed, seeded 48-cell sample with the shared CIFAR-10 images (skipped without them).

:func:`zico_authors` is ZiCo computed step by step as the authors' code does it (one
``backward`` per batch, gradients read from ``.grad``, statistics in numpy); the tests
hold our ZiCo to it and ``benchmarks/proxy_cost.py`` times the two side by side.

A proxy whose definition changes, or a new proxy without references, fails the test.
After an intended change, regenerate and commit the file:

    python -m tests.proxy_reference
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from nas_engine.data import load_dataset
from nas_engine.proxies import ProxySuite, correlations, list_proxies, rank_ensemble
from nas_engine.proxies.suite import DEFAULT_AGGREGATION, DEFAULT_ENSEMBLE
from nas_engine.search_spaces import create_space

REFERENCE = Path(__file__).parent / "data" / "proxy_reference.json"
SHARED = Path(
    os.environ.get("NASNAV_SHARED_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data"
)
SETTINGS = {"C": 4, "N": 1, "batch_size": 16, "seed": 0}
CELLS = (
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|",
    "|nor_conv_1x1~0|+|skip_connect~0|avg_pool_3x3~1|+|nor_conv_3x3~0|none~1|skip_connect~2|",
    "|avg_pool_3x3~0|+|none~0|skip_connect~1|+|nor_conv_1x1~0|avg_pool_3x3~1|nor_conv_1x1~2|",
    "|skip_connect~0|+|nor_conv_3x3~0|none~1|+|none~0|nor_conv_1x1~1|avg_pool_3x3~2|",
    "|none~0|+|avg_pool_3x3~0|nor_conv_1x1~1|+|skip_connect~0|skip_connect~1|nor_conv_3x3~2|",
    "|nor_conv_3x3~0|+|nor_conv_1x1~0|nor_conv_3x3~1|+|avg_pool_3x3~0|nor_conv_3x3~1|none~2|",
)
FIDELITY_CELLS, FIDELITY_SEED = 48, 7


def _suite(data: Any) -> ProxySuite:
    return ProxySuite(
        create_space("nb201"),
        "all",
        data=data,
        batch_size=SETTINGS["batch_size"],
        seed=SETTINGS["seed"],
        build_kwargs={"C": SETTINGS["C"], "N": SETTINGS["N"]},
    )


def zico_authors(
    net: nn.Module,
    batches: list[tuple[torch.Tensor, torch.Tensor]],
    *,
    zero_grad: bool = True,
    dtype: Any = np.float32,
) -> float:
    """ZiCo the way the authors' ``compute_zico.py`` computes it.

    For each batch: zero the gradients, forward, cross-entropy, ``backward``, and keep a
    numpy copy of every ``Conv2d``/``Linear`` weight's ``.grad``. Per layer, over the
    weights whose gradient has nonzero std across the batches, sum ``mean|g| / std(g)``;
    the score adds the log of each nonzero per-layer sum.

    Args:
        net: The network (train mode); its ``.grad`` fields are overwritten.
        batches: ``(images, labels)`` per batch.
        zero_grad: ``False`` zeroes only before the first batch, as the first release
            did (each later sample then holds the running sum of gradients).
        dtype: Float type of the statistics (the authors' numpy arrays are float32).

    Returns:
        The score.
    """
    grads: dict[str, list[np.ndarray]] = {}
    net.zero_grad()
    for x, y in batches:
        if zero_grad:
            net.zero_grad()
        F.cross_entropy(net(x), y).backward()
        for name, mod in net.named_modules():
            if isinstance(mod, nn.Conv2d | nn.Linear) and mod.weight.grad is not None:
                g = mod.weight.grad.detach().reshape(-1).numpy().astype(dtype)  # a copy
                grads.setdefault(name, []).append(g)
    score = 0.0
    for per_batch in grads.values():
        g = np.array(per_batch)
        std = np.std(g, axis=0)
        keep = np.nonzero(std)[0]
        total = np.sum(np.mean(np.abs(g), axis=0)[keep] / std[keep])
        if total != 0:
            score += float(np.log(total))
    return score


def values_on_cells() -> dict[str, list[float]]:
    """Every registered proxy on :data:`CELLS`, synthetic images."""
    suite = _suite(load_dataset("synthetic"))
    rows = [suite.score(a).values() for a in CELLS]
    return {n: [float(r[n]) for r in rows] for n in list_proxies()}


def fidelity_sample() -> list[str]:
    """The seeded cells of the fidelity check."""
    space = create_space("nb201")
    cells = space.sample_distinct(FIDELITY_CELLS, np.random.default_rng(FIDELITY_SEED))
    return [space.to_string(a) for a in cells]


def fidelity() -> dict[str, float] | None:
    """Spearman ρ of every proxy and of the default ensemble (``None`` without the data)."""
    images = SHARED / "cifar10_subset.npz"
    truth_file = SHARED / "nb201_cifar10_test_acc.csv"
    if not (images.is_file() and truth_file.is_file()):
        return None
    from nas_engine.benchmarks import load_ground_truth

    gt = load_ground_truth(f"csv:{truth_file}")
    suite = _suite(load_dataset(f"npz:{images}"))
    cells = fidelity_sample()
    rows = [suite.score(a).values() for a in cells]
    truth = [gt.lookup(a) for a in cells]
    cols = {n: [r[n] for r in rows] for n in list_proxies()}
    out = {}
    from nas_engine.proxies import proxy_class, rank_higher_better

    for n, v in cols.items():
        ranks = rank_higher_better(v, higher_is_better=proxy_class(n).higher_is_better)
        out[n] = correlations(ranks, truth)["spearman"]
    ens = rank_ensemble(cols, DEFAULT_ENSEMBLE, aggregation=DEFAULT_AGGREGATION)
    out["ensemble"] = correlations(ens, truth)["spearman"]
    return out


def main() -> None:
    """Recompute and write the committed references."""
    ref = {
        "settings": SETTINGS,
        "cells": list(CELLS),
        "values": values_on_cells(),
        "ensemble": {"members": list(DEFAULT_ENSEMBLE), "aggregation": DEFAULT_AGGREGATION},
        "fidelity_cells": FIDELITY_CELLS,
        "fidelity_seed": FIDELITY_SEED,
        "fidelity_spearman": fidelity(),
    }
    REFERENCE.parent.mkdir(parents=True, exist_ok=True)
    REFERENCE.write_text(json.dumps(ref, indent=1) + "\n")
    print(f"wrote {REFERENCE}")


if __name__ == "__main__":
    main()
