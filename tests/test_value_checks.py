"""Value checks where a shape check would let a wrong number through (issue #16, items 3–4).

Each test here is meant to break when the guarantee it names is broken by hand:

* the embedding's colour array is the chosen metric's values, whatever the menu says;
* the steering chips' colours are the op effects computed by hand;
* the UMAP layout runs (umap-learn is installed by the test set-up) and is seeded;
* Zen-score equals the paper's formula, BatchNorm term included, on a network small
  enough to compute with plain numpy;
* the one-shot estimate reads the architecture it is asked about.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from scipy.stats import rankdata
from torch import nn

from app import create_app, plots
from nas_engine.data import load_dataset
from nas_engine.proxies import ProxyContext, create_proxy, list_proxies, proxy_class
from nas_engine.runner import CurvePoint, SearchConfig, Snapshot
from nas_engine.search_spaces import NB201Arch, create_space
from nas_engine.storage import CandidateRecord
from nas_engine.supernet import SupernetConfig, SupernetTrainer
from tests.app_helpers import make_controller

NB201 = create_space("nb201")
OPS = NB201.ops


# ---------------------------------------------------------------- the app through Dash
def _arch(ops: tuple[str, ...]) -> str:
    i, j, k, l, m, n = ops
    return f"|{i}~0|+|{j}~0|{k}~1|+|{l}~0|{m}~1|{n}~2|"


def _snapshot(cands: list[CandidateRecord], *, strategy: str = "random") -> Snapshot:
    return Snapshot(
        run_id=1,
        status="running",
        config=SearchConfig(strategy=strategy, proxy="zico", budget=50, supernet_warmup=0),
        mask=NB201.full_mask(),
        mask_version=0,
        candidates=tuple(cands),
        events=(),
        supernet_curve=(CurvePoint(10, 0.0, 2.0, 30.0, 0.05, 1234.0),),
        train_curves={},
        best=None,
        supernet_step=10,
        candidates_per_min=6.0,
        message=None,
        updated=1.0,
    )


def _post(app: Any, prefix: str, values: dict[str, Any], outputs: list[Any] | None = None) -> Any:
    """Call the app callback whose output key starts with ``prefix`` as the browser would
    (one POST to ``/_dash-update-component``), inputs and states by component ID."""
    key = next(k for k in app.callback_map if k.startswith(prefix))
    cb = app.callback_map[key]
    outs = outputs or [
        {"id": o.component_id, "property": o.component_property} for o in cb["output"]
    ]
    body = {
        "output": key,
        "outputs": outs,
        "inputs": [{**i, "value": values.get(i["id"])} for i in cb["inputs"]],
        "state": [{**s, "value": values.get(s["id"])} for s in cb["state"]],
        "changedPropIds": [f"{cb['inputs'][1]['id']}.{cb['inputs'][1]['property']}"],
    }
    r = app.server.test_client().post("/_dash-update-component", json=body)
    assert r.status_code == 200, r.get_data(as_text=True)[:500]
    return r.get_json()["response"]


@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A controller whose snapshot is a hand-made run (monkeypatched in), and its app."""
    c = make_controller(tmp_path)
    c.wait_layout()
    holder: dict[str, Snapshot] = {}
    monkeypatch.setattr(c, "snapshot", lambda: holder.get("snap"))
    yield c, holder, create_app(c)
    c.close()
    c.storage.close()


def _metric_run() -> list[CandidateRecord]:
    """Fifteen distinct cells; every registered proxy scored with independent values,
    one-shot, trained accuracy (on a few, with a tie) and truth."""
    rng = np.random.default_rng(3)
    idx = rng.choice(NB201.size, size=15, replace=False)
    cands = []
    for seq, i in enumerate(idx):
        arch = NB201.to_string(NB201.from_index(int(i)))
        scores = {p: float(rng.normal(0, 10) ** 3) for p in list_proxies()}  # wide, signed
        cands.append(
            CandidateRecord(
                seq=seq,
                arch=arch,
                mask_version=0,
                strategy="random",
                scores=scores,
                fitness=float(rng.normal(50, 10)),
                oneshot=float(rng.uniform(20, 90)),
                trained_acc=[None, 61.0, 70.5, 61.0][seq % 4],
                truth=float(rng.uniform(10, 94)),
                created=1000.0 + seq,
                seconds=0.5,
            )
        )
    return cands


def _expected(values: np.ndarray, scale: str, higher: bool) -> list[float | None]:
    """The colour a metric's values should get: the scale the UI documents (percentile
    rank with ties averaged, signed log10(1+|v|), or the values), computed here."""
    v = np.asarray(values, dtype=float)
    ok = np.isfinite(v)
    out = np.full(len(v), np.nan)
    if scale == "linear":
        out = v
    elif scale == "log":
        out = np.sign(v) * np.log10(1 + np.abs(v))
    elif ok.sum() > 1:
        r = rankdata(v[ok] if higher else -v[ok])
        out[ok] = (r - 1) / (ok.sum() - 1)
    return [None if not math.isfinite(x) else round(float(x), 5) for x in out]


def _trace(fig: dict[str, Any], name: str) -> dict[str, Any] | None:
    return next((t for t in fig["data"] if t["name"] == name), None)


@pytest.mark.parametrize("scale", ["linear", "rank", "log"])
def test_every_colour_by_option_colours_by_its_own_metric(served: Any, scale: str) -> None:
    """The README's "colour by any proxy": each option of the menu, through the Dash
    callback, gives the evaluated points exactly that metric's values (on the scale)."""
    controller, holder, app = served
    cands = _metric_run()
    snap = _snapshot(cands)
    # a run that computed every proxy and has a benchmark: the menu offers what it has
    config = dataclasses.replace(snap.config, proxies=tuple(list_proxies()), benchmark="csv:b")
    holder["snap"] = dataclasses.replace(snap, config=config)
    space_vals = {
        n: np.where(np.arange(NB201.size) % 97 == 0, np.arange(NB201.size) * (-1.0) ** k, np.nan)
        for k, n in enumerate(("synflow", "meco", "params", "flops", "zico"))
    }
    whole = controller.space_scores(values=False)
    fake = type(whole)(space_vals, tuple(space_vals), NB201.size, NB201.size, False)
    controller.space_scores = lambda values=True: fake  # the whole-space cache, by hand

    base = {"snapshot-version": 1, "colour-scale": scale}
    options = _post(app, "..embedding.figure", {**base, "colour-by": "fitness"})["colour-by"]
    values = [o["value"] for o in options["options"]]
    per_cell = {
        "fitness": [c.fitness for c in cands],
        "oneshot": [c.oneshot for c in cands],
        "trained_acc": [c.trained_acc for c in cands],
        "truth": [c.truth for c in cands],
        **{p: [c.scores[p] for c in cands] for p in list_proxies()},
    }
    # every metric and every whole-space colouring is offered
    assert set(per_cell) <= set(values)
    assert {f"space:{n}" for n in space_vals} <= set(values)
    wrong = []
    for value in values:
        fig = _post(app, "..embedding.figure", {**base, "colour-by": value})["embedding"]
        fig = fig["figure"]
        if value.startswith("space:"):
            name = value.removeprefix("space:")
            trace = _trace(fig, f"scored ({name})")
            idx = np.flatnonzero(np.isfinite(space_vals[name]))
            vals = space_vals[name][idx]
        else:
            name = value
            trace = _trace(fig, "evaluated")
            idx = np.array([NB201.index(NB201.from_string(c.arch)) for c in cands])
            vals = np.array([math.nan if v is None else v for v in per_cell[name]], dtype=float)
        higher = proxy_class(name).higher_is_better if name in list_proxies() else True
        if trace is None or trace["customdata"] != idx.tolist():
            wrong.append(f"{value} (not the cells it scores)")
        elif trace["marker"]["color"] != _expected(vals, scale, higher):
            wrong.append(value)
    assert wrong == [], f"coloured by something else than the menu says: {wrong}"


def test_chip_colours_are_the_op_effects_computed_by_hand(served: Any) -> None:
    """Six cells with known fitness: each chip's colour (and its tip's effect and n) is
    the op's effect worked out here: mean percentile with the op minus without."""
    _, holder, app = served
    cells = [
        ("nor_conv_3x3", "nor_conv_3x3", "skip_connect", "nor_conv_1x1", "none", "nor_conv_3x3"),
        ("nor_conv_3x3", "avg_pool_3x3", "skip_connect", "nor_conv_3x3", "none", "nor_conv_1x1"),
        ("nor_conv_1x1", "nor_conv_3x3", "none", "nor_conv_3x3", "skip_connect", "nor_conv_3x3"),
        ("avg_pool_3x3", "none", "nor_conv_1x1", "skip_connect", "nor_conv_3x3", "avg_pool_3x3"),
        ("none", "avg_pool_3x3", "nor_conv_1x1", "none", "nor_conv_3x3", "skip_connect"),
        ("skip_connect", "skip_connect", "avg_pool_3x3", "avg_pool_3x3", "avg_pool_3x3", "none"),
    ]
    fitness = [60.0, 45.0, 52.0, 20.0, 33.0, 10.0]
    holder["snap"] = _snapshot(
        [
            CandidateRecord(
                seq=s,
                arch=_arch(ops),
                mask_version=0,
                strategy="random",
                scores={"zico": f},
                fitness=f,
                created=1000.0 + s,
                seconds=0.1,
            )
            for s, (ops, f) in enumerate(zip(cells, fitness, strict=True))
        ]
    )
    # by hand: percentiles (rank - 1) / (n - 1) of the fitness, all distinct
    order = sorted(fitness)
    pct = [order.index(f) / (len(fitness) - 1) for f in fitness]
    chip_ids = [{"type": "chip", "edge": e, "op": op} for e in range(6) for op in OPS]
    key = next(k for k in app.callback_map if k.startswith("..cell-graph.figure"))
    outputs = []
    for o in app.callback_map[key]["output"]:
        if isinstance(o.component_id, dict):
            outputs.append([{"id": i, "property": o.component_property} for i in chip_ids])
        else:
            outputs.append({"id": o.component_id, "property": o.component_property})
    got = _post(
        app, "..cell-graph.figure", {"snapshot-version": 1, "importance-metric": "fitness"},
        outputs,
    )  # fmt: skip
    checked = 0
    for cid in chip_ids:
        e, op = cid["edge"], cid["op"]
        chip = got[json.dumps(cid, sort_keys=True, separators=(",", ":"))]
        with_op = [p for p, ops in zip(pct, cells, strict=True) if ops[e] == op]
        without = [p for p, ops in zip(pct, cells, strict=True) if ops[e] != op]
        if not with_op or not without:
            assert chip["style"]["backgroundColor"] == "#eceff1", (e, op)  # unknown: grey
            continue
        delta = sum(with_op) / len(with_op) - sum(without) / len(without)
        assert chip["style"]["backgroundColor"] == plots.importance_colour(delta), (e, op)
        shown = re.search(r"effect ([+−]?\d+) percentile points", chip["title"])
        assert shown, chip["title"]
        assert float(shown.group(1).replace("−", "-")) == pytest.approx(100 * delta, abs=0.5)
        assert f"n = {len(with_op)}" in chip["title"]
        checked += 1
    assert checked >= 20
    # the colour scale itself: ±0.4 saturates, 0 is the neutral grey-blue
    assert plots.importance_colour(0.4) == "rgb(102,187,106)"
    assert plots.importance_colour(-0.4) == "rgb(229,115,115)"
    assert plots.importance_colour(0.0) == "rgb(236,239,241)"


# ------------------------------------------------------------------------------ UMAP
class _FewCells:
    """Eight NB201 cells and their 24 one-edge neighbours each (200 cells): small enough
    for UMAP in a test, with pairs known to be near."""

    name = "nb201_few"

    def __init__(self) -> None:
        cells: dict[int, Any] = {}
        for i in range(0, NB201.size, NB201.size // 8)[:8]:
            base = NB201.from_index(i)
            cells[i] = base
            cells.update((NB201.index(n), n) for _, _, n in NB201.neighbours(base))
        self.cells = list(cells.values())
        self.size = len(self.cells)

    def from_index(self, i: int) -> Any:
        return self.cells[i]

    def encode(self, arch: Any) -> np.ndarray:
        return NB201.encode(arch)


@pytest.mark.slow
def test_umap_layout_runs_seeded_and_cached(tmp_path: Path) -> None:
    """The default layout method really runs (umap-learn is a test dependency)."""
    pytest.importorskip("umap", reason="umap-learn is installed by `make test` (the app extra)")
    from nas_engine.embedding import compute_layout, layout_path, load_or_compute_layout

    sp = _FewCells()
    xy = load_or_compute_layout(sp, tmp_path, method="umap", seed=0)  # type: ignore[arg-type]
    assert xy.shape == (sp.size, 2) and xy.dtype == np.float32 and np.isfinite(xy).all()
    assert layout_path(tmp_path, sp, "umap", 0).is_file()  # type: ignore[arg-type]
    np.testing.assert_array_equal(compute_layout(sp, method="umap", seed=0), xy)  # type: ignore[arg-type]
    assert np.ptp(xy, axis=0).min() > 0  # not collapsed to a line or a point
    # the encodings decide the layout: one edge apart lands closer than four apart
    enc = np.stack([sp.encode(a) for a in sp.cells])
    d = np.abs(enc[:, None, :] - enc[None, :, :]).sum(-1)  # Hamming distance × 2
    xy_d = np.linalg.norm(xy[:, None, :] - xy[None, :, :], axis=-1)
    near, far = d == 2, d >= 8  # one edge changed vs. four or more
    assert near.sum() >= 8 * 24 and far.any()
    assert xy_d[near].mean() < 0.5 * xy_d[far].mean()


# ------------------------------------------------------------------------- Zen-score
class _TinyNet(nn.Module):
    """conv(1→2, 3×3) → BN → ReLU → conv(2→3, 3×3) → BN → ReLU, then a head; it keeps
    the inputs and conv weights of every ``features`` call."""

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 2, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(2)
        self.conv2 = nn.Conv2d(2, 3, 3, padding=1, bias=True)
        self.bn2 = nn.BatchNorm2d(3)
        self.head = nn.Linear(3, num_classes)
        self.calls: list[tuple[np.ndarray, ...]] = []

    def features(self, x: torch.Tensor) -> torch.Tensor:
        self.calls.append(
            (x.double().numpy().copy(), self.conv1.weight.double().numpy().copy(),
             self.conv2.weight.double().numpy().copy(), self.conv2.bias.double().numpy().copy())
        )  # fmt: skip
        h = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(h)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).mean((2, 3)))


class _TinySpace:
    def __init__(self) -> None:
        self.built: list[_TinyNet] = []

    def build(self, arch: Any, *, num_classes: int, in_channels: int, **_: Any) -> _TinyNet:
        assert in_channels == 1
        self.built.append(_TinyNet(num_classes))
        return self.built[-1]


def _conv(x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
    """3×3 convolution, zero padding 1, stride 1, in float64 loops."""
    n, _, h, wd = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    out = np.zeros((n, w.shape[0], h, wd))
    for i in range(3):
        for j in range(3):
            out += np.einsum("nchw,oc->nohw", xp[:, :, i : i + h, j : j + wd], w[:, :, i, j])
    return out if b is None else out + b[None, :, None, None]


def _bn_relu(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Training-mode BatchNorm (weight 1, bias 0, eps 1e-5) and ReLU; also the unbiased
    batch variance per channel (what updates the running variance)."""
    mean = z.mean((0, 2, 3), keepdims=True)
    var = z.var((0, 2, 3), keepdims=True)
    k = z.shape[0] * z.shape[2] * z.shape[3]
    return np.maximum((z - mean) / np.sqrt(var + 1e-5), 0), var.ravel() * k / (k - 1)


def test_zen_score_is_the_papers_formula_with_its_bn_term() -> None:
    """Zen-NAS: log E_batch ‖f(x) − f(x + 0.01ε)‖₁ on the pre-pool features, plus
    Σ_BN log sqrt(mean running variance) after those two training-mode passes (running
    variance starts at 1, momentum 0.1). Worked out in numpy from the weights and inputs
    the proxy used; dropping the BN term moves the score by about 0.7."""
    space = _TinySpace()
    ctx = ProxyContext(space, "tiny", input_shape=(1, 5, 5), num_classes=3, batch_size=6)  # type: ignore[arg-type]
    res = create_proxy("zen").score(ctx)
    assert res.reason is None
    (net,) = space.built
    assert len(net.calls) == 2
    (x1, w1, w2, b2), (xm, w1b, w2b, _) = net.calls
    np.testing.assert_array_equal(w1, w1b)
    np.testing.assert_array_equal(w2, w2b)
    assert np.allclose(xm - x1, 0.01 * ctx.gaussian_batch(1).double().numpy(), atol=1e-6)
    assert abs(w1.std() - 1) < 0.6 and abs(w2.std() - 1) < 0.5 and not b2.any()  # N(0, 1), 0
    feats, running = [], [np.ones(2), np.ones(3)]
    for x in (x1, xm):
        h, v1 = _bn_relu(_conv(x, w1))
        f, v2 = _bn_relu(_conv(h, w2, b2))
        feats.append(f)
        running = [0.9 * r + 0.1 * v for r, v in zip(running, (v1, v2), strict=True)]
    delta = np.abs(feats[0] - feats[1]).reshape(len(x1), -1).sum(1).mean()
    bn_term = sum(math.log(math.sqrt(r.mean())) for r in running)
    assert abs(bn_term) > 0.5  # the BN term matters on this network
    assert res.value == pytest.approx(math.log(delta) + bn_term, rel=1e-5)


# -------------------------------------------------------------------------- one-shot
@pytest.fixture(scope="module")
def trained() -> SupernetTrainer:
    """A C=4 supernet after 60 SPOS steps on the synthetic set (paths through conv)."""
    torch.manual_seed(0)
    tr = SupernetTrainer(
        NB201, load_dataset("synthetic"), SupernetConfig(C=4, N=1, batch_size=32, eval_images=256)
    )
    mask = NB201.full_mask().pin(0, "nor_conv_3x3").pin(5, "nor_conv_3x3")
    for _ in range(60):
        tr.train_step(mask)
    return tr


def test_oneshot_estimate_reads_the_architecture_it_is_given(trained: SupernetTrainer) -> None:
    """A subnet's one-shot accuracy: the same cell gives the same estimate whatever was
    estimated in between; cells whose output edges are all ``none`` compute a constant,
    so they all score exactly the share of one class, whatever their other edges hold;
    a trained conv cell scores far above them."""
    tr = trained
    conv = NB201Arch(("nor_conv_3x3",) * 6)
    first = tr.estimate(conv)
    dead = [
        NB201Arch((a, b, c, "none", "none", "none"))
        for a, b, c in [
            ("none",) * 3,
            ("nor_conv_3x3", "nor_conv_3x3", "nor_conv_3x3"),
            ("skip_connect", "nor_conv_1x1", "avg_pool_3x3"),
            ("nor_conv_3x3", "skip_connect", "nor_conv_1x1"),
        ]
    ]
    dead_est = [tr.estimate(a) for a in dead]
    again = tr.estimate(conv)
    assert (again.acc, again.loss) == (first.acc, first.loss)
    y = tr.data.y_val[: first.images]
    shares = {100.0 * float(np.mean(y == k)) for k in np.unique(y)}
    for a, est in zip(dead, dead_est, strict=True):
        assert (est.acc, est.loss) == pytest.approx((dead_est[0].acc, dead_est[0].loss)), a
        assert min(abs(est.acc - s) for s in shares) < 1e-9, (a, est.acc)
    assert first.acc > dead_est[0].acc + 10 and first.loss < dead_est[0].loss - 0.1
    # live cells differ from each other: the estimate depends on the ops
    live = [
        NB201Arch(
            ("nor_conv_3x3", "skip_connect", "none", "nor_conv_1x1", "none", "nor_conv_3x3")
        ),
        NB201Arch(("avg_pool_3x3", "none", "none", "none", "none", "skip_connect")),
    ]
    losses = {round(tr.estimate(a).loss, 6) for a in [conv, *live]}
    assert len(losses) == 3
