"""Safety guarantees found while probing (issue #16, item 9).

* A supernet checkpoint records what it belongs to (configuration, space, dataset, network
  size, owner) and is refused, with the difference named, by any other supernet.
* Checkpoints are read with ``torch.load(weights_only=True)`` and CIFAR batches with a
  restricted unpickler: a planted file cannot run code.
* The controller type-checks every value the browser sends: a crafted callback payload
  gets a message, never a 500.
"""

from __future__ import annotations

import dataclasses
import json
import math
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from app import InputError, create_app, ids
from nas_engine.data import DatasetError, load_dataset
from nas_engine.data.datasets import _load_cifar_pickle
from nas_engine.runner import CommandError, SearchConfig
from nas_engine.runner.resources import checkpoint_file
from nas_engine.runner.spos import make_trainer
from nas_engine.search_spaces import create_space
from nas_engine.storage import SQLiteStorage
from nas_engine.supernet import SupernetConfig, SupernetTrainer
from nas_engine.supernet.trainer import CheckpointError, CheckpointMismatchError
from tests.app_helpers import TINY, VIEWER_STORE, make_controller, post_callback
from tests.conftest import BEST_NB201

# ------------------------------------------------------------------ (a) checkpoints


@pytest.fixture(scope="module")
def synthetic():
    return load_dataset("synthetic")


def _trainer(data: Any, space: str = "nb201", owner: Any = None, **cfg: Any) -> SupernetTrainer:
    return SupernetTrainer(
        create_space(space), data, SupernetConfig(**{"C": 4, "batch_size": 8, **cfg}), owner=owner
    )


def test_checkpoint_records_what_it_belongs_to_and_resumes_exactly(
    tmp_path: Path, synthetic
) -> None:
    sp = create_space("nb201")
    mask = sp.full_mask()
    tr = _trainer(synthetic, owner={"db": "a.db", "run": 1})
    for _ in range(3):
        tr.train_step(mask)
    tr.save(tmp_path / "ck.pt")
    state = torch.load(tmp_path / "ck.pt", weights_only=True)  # plain types only
    ident = state["identity"]
    assert ident["space"] == "nb201"
    assert ident["dataset"] == {
        "name": "synthetic",
        "input_shape": list(synthetic.input_shape),
        "num_classes": synthetic.num_classes,
        "train_images": len(synthetic.x_train),
    }
    assert ident["network"] == sp.network_options("supernet", C=4)
    assert ident["owner"] == {"db": "a.db", "run": 1}
    a = [tr.train_step(mask) for _ in range(2)]
    again = _trainer(synthetic, owner={"db": "a.db", "run": 1})
    again.load(tmp_path / "ck.pt")
    assert again._rng.bit_generator.state == state["rng"]
    b = [again.train_step(mask) for _ in range(2)]
    assert [r.path for r in a] == [r.path for r in b]
    assert [r.loss for r in a] == pytest.approx([r.loss for r in b])


def test_checkpoint_of_another_supernet_is_refused_naming_the_difference(
    tmp_path: Path, synthetic
) -> None:
    ck = tmp_path / "ck.pt"
    _trainer(synthetic, owner="a-run_1.pt").save(ck)
    # same weight shapes, another dataset: refused before it can be inherited silently
    renamed = dataclasses.replace(synthetic, name="npz:other.npz")
    with pytest.raises(CheckpointMismatchError, match=r"dataset\.name: 'synthetic' there"):
        _trainer(renamed, owner="a-run_1.pt").load(ck)
    fewer = dataclasses.replace(synthetic, x_train=synthetic.x_train[:-8])
    with pytest.raises(CheckpointMismatchError, match="dataset.train_images"):
        _trainer(fewer, owner="a-run_1.pt").load(ck)
    with pytest.raises(CheckpointMismatchError, match="owner: 'a-run_1.pt' there, 'b"):
        _trainer(synthetic, owner="b-run_1.pt").load(ck)
    with pytest.raises(CheckpointMismatchError, match="space: 'nb201' there, 'macro' here"):
        _trainer(synthetic, space="macro", owner="a-run_1.pt").load(ck)
    digits = load_dataset("digits")  # another input shape and class count
    with pytest.raises(CheckpointMismatchError) as info:
        _trainer(digits, owner="a-run_1.pt").load(ck)
    assert {"dataset.name", "dataset.input_shape", "dataset.num_classes"} <= set(
        info.value.differences
    )
    with pytest.raises(ValueError, match="different supernet configuration.*config.C: 4 there"):
        _trainer(synthetic, owner="a-run_1.pt", C=8).load(ck)
    _trainer(synthetic, owner="a-run_1.pt").load(ck)  # its own supernet still loads


def test_old_checkpoints_refused_only_for_a_recorded_difference(synthetic) -> None:
    state = _trainer(synthetic, owner="x").state_dict()
    legacy = {k: v for k, v in state.items() if k != "identity"}  # written before identity
    _trainer(synthetic, owner="y").load_state_dict(legacy)
    n = synthetic.num_classes
    partial = {**state, "identity": {"format": 2, "dataset": {"num_classes": n}}}
    _trainer(synthetic, owner="y").load_state_dict(partial)  # missing fields: accepted
    partial["identity"]["dataset"]["num_classes"] = n + 4
    with pytest.raises(CheckpointMismatchError, match=f"dataset.num_classes: {n + 4} there"):
        _trainer(synthetic).load_state_dict(partial)
    # an old checkpoint of another network: a clear refusal, not a shape traceback
    wide = _trainer(load_dataset("digits")).state_dict()
    wide.pop("identity")
    with pytest.raises(CheckpointMismatchError, match="weights of another network"):
        _trainer(synthetic).load_state_dict(wide)


class _Planted:
    """Unpickling this object creates a file (harmless, observable)."""

    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self) -> Any:
        return (Path.touch, (self.target,))


def test_checkpoint_that_would_run_code_is_refused_unrun(tmp_path: Path, synthetic) -> None:
    tr = _trainer(synthetic)
    state = tr.state_dict()
    state["extra"] = _Planted(tmp_path / "pwned")
    torch.save(state, tmp_path / "ck.pt")
    with pytest.raises(CheckpointError, match="cannot read supernet checkpoint"):
        _trainer(synthetic).load(tmp_path / "ck.pt")
    assert not (tmp_path / "pwned").exists()


def test_make_trainer_refuses_another_runs_checkpoint_and_keeps_it(
    tmp_path: Path, synthetic
) -> None:
    cfg = SearchConfig(**TINY)
    ck = tmp_path / "db-1234-run_1.pt"
    tr = make_trainer(create_space("nb201"), synthetic, cfg, checkpoint_path=ck)
    tr.save(ck)
    before = ck.read_bytes()
    digits = load_dataset("digits")
    with pytest.raises(CommandError, match=r"(?s)does not fit this run.*Delete that file") as e:
        make_trainer(create_space("nb201"), digits, cfg, checkpoint_path=ck)
    assert str(ck) in str(e.value) and "dataset.name" in str(e.value)
    assert ck.read_bytes() == before  # refused, never overwritten
    moved = tmp_path / "db-1234-run_2.pt"  # the file name is the default owner tag
    moved.write_bytes(before)
    with pytest.raises(CommandError, match="owner"):
        make_trainer(create_space("nb201"), synthetic, cfg, checkpoint_path=moved)
    again = make_trainer(create_space("nb201"), synthetic, cfg, checkpoint_path=ck)
    assert again is not None and again.owner == ck.name


def test_app_start_over_a_stale_checkpoint_is_a_message_not_a_500(tmp_path: Path) -> None:
    """A database deleted and created again at the same path starts at run 1 again: the
    old run 1's checkpoint (here of another dataset) is refused with the file named."""
    c = make_controller(tmp_path, dataset="digits")
    try:
        ck = checkpoint_file(c.storage, 1, c.checkpoint_dir)
        stale = make_trainer(
            create_space("nb201"),
            load_dataset("synthetic"),
            SearchConfig(**TINY),
            checkpoint_path=ck,
        )
        stale.save(ck)
        with pytest.raises(InputError, match=r"(?s)checkpoint.*Delete that file"):
            c.start(strategy="random", proxy="zico", budget=5)
        assert ck.is_file()
    finally:
        c.close()
        c.storage.close()


def test_a_recreated_database_does_not_inherit_the_old_runs_supernet(tmp_path: Path) -> None:
    """Same path, same run id, same dataset and sizes: only the run's creation time tells
    the old run 1 from the new one. Its checkpoint is refused, and the refused run is not
    left behind as an empty run."""
    from nas_engine.data import load_dataset as load
    from nas_engine.runner import SearchSession
    from tests.engine_helpers import tiny_config

    db = tmp_path / "n.db"
    cfg = tiny_config(budget=2)
    old = SearchSession.create(SQLiteStorage(db), cfg, data=load("synthetic"))
    old.start()
    old.wait(lambda x: x.status == "finished", timeout=120)
    old.close()
    ck = old.checkpoint_path
    assert ck.is_file()
    old.storage.close()
    for f in tmp_path.glob("n.db*"):
        f.unlink()
    fresh = SQLiteStorage(db)
    with pytest.raises(CommandError, match=r"(?s)owner.*Delete that file"):
        SearchSession.create(fresh, cfg, data=load("synthetic"))
    assert fresh.list_runs() == []  # no empty run left behind
    s = SearchSession.create(fresh, cfg, data=load("synthetic"))  # ids are never reused,
    assert s.run_id == 2 and s.checkpoint_path != ck  # so the stale file is not read again
    s.close()
    assert ck.is_file()  # refused, never overwritten


# ------------------------------------------------------------------ (b) CIFAR pickles


def _global_pickle(module: str, name: str) -> bytes:
    """A protocol-2 pickle of ``{b"data": <module.name>}``: it names the global but never
    calls it, so even an unguarded load runs nothing."""
    return (
        b"\x80\x02}q\x00C\x04dataq\x01c" + module.encode() + b"\n" + name.encode() + b"\nq\x02s."
    )


@pytest.mark.parametrize(
    "module,name",
    [("os", "system"), ("posix", "system"), ("builtins", "eval"), ("subprocess", "Popen"),
     ("__builtin__", "getattr"), ("numpy", "load")],
)  # fmt: skip
def test_cifar_pickle_naming_a_foreign_global_is_refused(
    tmp_path: Path, module: str, name: str
) -> None:
    assert pickle.loads(_global_pickle("builtins", "len")) == {b"data": len}  # well formed
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    (folder / "data_batch_1").write_bytes(_global_pickle(module, name))
    with pytest.raises(DatasetError, match=f"refusing to load {module}.{name}"):
        load_dataset("cifar10", data_dir=tmp_path, download=False)


def _py2_style(obj: Any) -> bytes:
    """``obj`` pickled as the official (Python 2) CIFAR files are: protocol 2, numpy's
    ``numpy.core.multiarray._reconstruct``."""
    raw = pickle.dumps(obj, protocol=2)
    return raw.replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n")


def test_genuine_cifar_batches_load(tmp_path: Path) -> None:
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(0)
    imgs = {}
    for i, fname in enumerate([*(f"data_batch_{k}" for k in range(1, 6)), "test_batch"]):
        data = rng.integers(0, 256, size=(4, 3072), dtype=np.uint8)
        imgs[fname] = data
        batch = {
            b"batch_label": f"batch {i}".encode(),
            b"labels": [int(v) for v in rng.integers(0, 10, size=4)],
            b"data": data,
            b"filenames": [f"img{i}_{j}.png".encode() for j in range(4)],
        }
        raw = _py2_style(batch)
        assert b"cnumpy.core.multiarray\n_reconstruct" in raw
        (folder / fname).write_bytes(raw)
    meta = {b"label_names": [f"c{k}".encode() for k in range(10)], b"num_vis": 3072}
    (folder / "batches.meta").write_bytes(_py2_style(meta))
    got = _load_cifar_pickle(folder / "data_batch_2")
    assert np.array_equal(got[b"data"], imgs["data_batch_2"]) and len(got[b"labels"]) == 4
    d = load_dataset("cifar10", data_dir=tmp_path, download=False, val_fraction=0.25)
    assert d.input_shape == (3, 32, 32) and len(d.x_train) + len(d.x_val) == 20
    assert d.classes == tuple(f"c{k}" for k in range(10)) and len(d.x_test) == 4
    # numpy 2's own pickles (protocol 5, numpy._core) load too
    (folder / "test_batch").write_bytes(
        pickle.dumps({b"data": imgs["test_batch"], b"labels": [1] * 4})
    )
    assert np.array_equal(_load_cifar_pickle(folder / "test_batch")[b"data"], imgs["test_batch"])


# ------------------------------------------------------ (c) hostile callback payloads

#: Values no browser field sends in a well-behaved page.
HOSTILE = [{"a": 1}, [1, 2], 1e309, -1e309, math.nan, True, "x" * 100_000, object()]
IDS = ["dict", "list", "inf", "-inf", "nan", "bool", "huge-str", "object"]


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """A controller with a live (paused) run, so commands reach their type checks rather
    than stopping at "no run yet"."""
    c = make_controller(tmp_path_factory.mktemp("live"))
    c.start(strategy="random", proxy="zico", budget=400)
    c.pause()
    c.session.wait(lambda s: s.status == "paused", timeout=120)
    yield c
    c.close()
    c.storage.close()


def _refused(call: Any, *, match: str) -> None:
    with pytest.raises(InputError, match=match) as info:
        call()
    assert len(str(info.value)) < 400  # a huge value is described, never echoed


@pytest.mark.parametrize("bad", [*HOSTILE, None], ids=[*IDS, "none"])
def test_start_refuses_hostile_values(tmp_path: Path, bad: Any) -> None:
    c = make_controller(tmp_path)
    try:
        _refused(lambda: c.start(strategy=bad, proxy="zico", budget=5), match="strategy")
        _refused(lambda: c.start(strategy="random", proxy=bad, budget=5), match="proxy")
        _refused(lambda: c.start(strategy="random", proxy="zico", budget=bad), match="budget")
        assert c.session is None and c.storage.list_runs() == []
    finally:
        c.close()
        c.storage.close()


@pytest.mark.parametrize("bad", HOSTILE, ids=IDS)
def test_live_commands_refuse_hostile_values(live, bad: Any) -> None:
    before, runs = live.snapshot(), len(live.storage.list_runs())
    _refused(lambda: live.start(strategy=bad, proxy="zico", budget=400), match="strategy")
    _refused(lambda: live.start(strategy="random", proxy=bad, budget=400), match="proxy")
    _refused(lambda: live.start(strategy="random", proxy="zico", budget=bad), match="budget")
    _refused(lambda: live.steer(bad, 0, "none"), match="action")
    _refused(lambda: live.steer("prune", bad, "none"), match="edge")
    _refused(lambda: live.steer("prune", 0, bad), match="op")
    _refused(lambda: live.steer("prune", 0, "none", note=bad), match="note")
    for field, label in (
        ("max_flops", "max FLOPs"),
        ("max_params", "max params"),
        ("max_latency", "max latency"),
    ):
        _refused(lambda f=field: live.set_resource_budget(**{f: bad}), match=label)
    _refused(lambda: live.set_resource_budget(max_flops=None, note=bad), match="note")
    _refused(lambda: live.set_aids(warmup=bad, move_p=None), match="warm-up")
    _refused(lambda: live.set_aids(warmup=0, move_p=bad), match="move p")
    for call in (live.train, live.parse_arch, live.export_module, live.export_spec):
        _refused(lambda c=call: c(bad), match="architecture")
    _refused(lambda: live.arch_of_index(bad), match="cell index")
    for job in (live.neighbours(bad, "zico"), live.neighbours(BEST_NB201, bad)):
        assert job.state == "error" and len(job.error) < 400
    assert live.zico_layers(bad).state == "error"
    after = live.snapshot()  # nothing changed
    assert (after.mask, after.budget, after.config) == (before.mask, before.budget, before.config)
    assert len(after.events) == len(before.events) and len(live.storage.list_runs()) == runs


def test_none_where_a_value_is_required_is_refused(live) -> None:
    _refused(lambda: live.steer(None), match="action")
    _refused(lambda: live.train(None), match="architecture")
    _refused(lambda: live.arch_of_index(None), match="cell index")
    _refused(lambda: live.arch_of_index(live.space.size), match="outside the space")
    _refused(lambda: live.arch_of_index(-1), match="outside the space")
    assert live.neighbours(BEST_NB201, None).state == "error"
    assert live.arch_of_index("0") == live.arch_of_index(0)  # an index given as text


def test_a_dict_strategy_posted_to_dash_answers_200_with_the_message(tmp_path: Path) -> None:
    c = make_controller(tmp_path)
    try:
        app = create_app(c)
        key = next(
            k
            for k, v in app.callback_map.items()
            if any(i["id"] == ids.START for i in v["inputs"])
        )
        out_id, prop = key.split(".", 1)
        buttons = (ids.START, ids.PAUSE, ids.RESUME, ids.STOP)
        body = {
            "output": key,
            "outputs": {"id": out_id, "property": prop},
            "inputs": [
                {"id": b, "property": "n_clicks", "value": 1 if b == ids.START else None}
                for b in buttons
            ],
            "changedPropIds": [f"{ids.START}.n_clicks"],
            "state": [
                {"id": ids.STRATEGY, "property": "value", "value": {"a": 1}},
                {"id": ids.PROXY, "property": "value", "value": "zico"},
                {"id": ids.BUDGET, "property": "value", "value": 5},
                {"id": ids.VIEWER, "property": "data", "value": VIEWER_STORE},
                {"id": ids.VIEWER_NAME, "property": "value", "value": None},
                {"id": ids.TOKEN, "property": "value", "value": None},
            ],
        }
        res = app.server.test_client().post(
            "/_dash-update-component", data=json.dumps(body), content_type="application/json"
        )
        assert res.status_code == 200, res.get_data(as_text=True)[-2000:]
        shown = json.dumps(res.get_json())
        assert "strategy must be a name" in shown and '"error"' in shown
        assert c.session is None and c.storage.list_runs() == []
    finally:
        c.close()
        c.storage.close()


HOSTILE_POINTS = [{"points": [{"customdata": {"a": 1}}]}, {"points": {"x": 1}}, [1, 2],
                  {"points": [{"customdata": 1e309}]}, {"points": [{"customdata": "x" * 9}]},
                  {"points": [{"customdata": True}]}, "text"]  # fmt: skip


@pytest.mark.parametrize("payload", HOSTILE_POINTS)
@pytest.mark.parametrize("prop", ["clickData", "selectedData"])
def test_hostile_plot_events_answer_without_a_500(tmp_path: Path, prop: str, payload) -> None:
    from app.views import embedding

    c = make_controller(tmp_path)
    try:
        res = post_callback(create_app(c), (embedding.EMBEDDING, prop), payload)
        assert res.status_code in (200, 204), res.get_data(as_text=True)[-2000:]
    finally:
        c.close()
        c.storage.close()


@pytest.mark.parametrize("arch", [{"a": 1}, [1], 7, "x" * 100_000, "|nonsense~0|"])
def test_a_hostile_inspected_cell_is_a_message_not_a_500(tmp_path: Path, arch) -> None:
    c = make_controller(tmp_path)
    try:
        from app.views import inspector

        app = create_app(c)
        for out in (inspector.INSPECT_CELL, inspector.DOWNLOAD):  # the views, the export
            if out == inspector.DOWNLOAD:
                res = post_callback(app, (inspector.EXPORT_JSON, "n_clicks"), 1, output=out,
                            state={(ids.INSPECT, "data"): arch})  # fmt: skip
            else:
                res = post_callback(app, (ids.INSPECT, "data"), arch, output=out)
            assert res.status_code == 200, res.get_data(as_text=True)[-2000:]
    finally:
        c.close()
        c.storage.close()


@pytest.mark.parametrize(
    "trig", [{"edge": "x", "op": "none"}, {"op": "none"}, "chip", {"edge": 1e309, "op": "a"}]
)
def test_a_forged_chip_id_is_refused_with_a_message(tmp_path: Path, trig) -> None:
    from app.access import Viewer
    from app.views import graph
    from app.views.common import ViewContext

    c = make_controller(tmp_path)
    try:
        vc = ViewContext(c)
        with pytest.raises(InputError, match="no such op chip"):
            graph.steer(vc, trig, "prune", None, viewer=Viewer("0123abcd", "viewer 1"))
    finally:
        c.close()
        c.storage.close()
