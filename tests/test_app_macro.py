"""The app draws any space from the space's own description: the layout function, the
names of positions and ops, and every view built for a macro (chain) controller."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import plotly.graph_objects as go
import pytest

from app import create_app, plots
from app.viewmodel import (
    action_text,
    candidates_frame,
    comparison_data,
    embedding_data,
    example_arch,
    graph_data,
    inspector_data,
    neighbour_labels,
    position_name,
    position_title,
)
from app.views import graph, inspector
from app.views.common import ViewContext
from nas_engine.search_spaces import create_space
from tests.app_helpers import make_macro_controller

NB201 = create_space("nb201")
MACRO = create_space("macro")


def test_node_layout_keeps_the_cell_and_rows_the_chain() -> None:
    # the four-node cell: x by topological generation, the middle ones at ±0.9
    assert plots.node_layout(NB201.graph()) == {
        0: (0.0, 0.0), 1: (1.0, 0.9), 2: (2.0, -0.9), 3: (3.0, 0.0)}  # fmt: skip
    # the chain: every node on one row, in order
    assert plots.node_layout(MACRO.graph()) == {k: (float(k), 0.0) for k in range(9)}
    # a cell whose edges form one path lies flat; two nodes of one generation spread
    path = SimpleNamespace(kind="cell", nodes=(0, 1, 2), edges=((0, 1), (1, 2)))
    assert {y for _, y in plots.node_layout(path).values()} == {0.0}
    fork = SimpleNamespace(kind="cell", nodes=(0, 1, 2, 3), edges=((0, 1), (0, 2), (1, 3), (2, 3)))
    xy = plots.node_layout(fork)
    assert xy[1][0] == xy[2][0] == 1.0 and xy[1][1] != xy[2][1]
    cycle = SimpleNamespace(kind="cell", nodes=(0, 1), edges=((0, 1), (1, 0)))
    with pytest.raises(ValueError, match="acyclic"):
        plots.node_layout(cycle)


def test_op_colours_and_names_come_from_the_space() -> None:
    # a palette by op index: the four-node cell keeps its colours, the chain's ops differ
    assert [plots.op_colour(NB201.ops, op) for op in NB201.ops] == [
        "#9e9e9e", "#2e7d32", "#1565c0", "#6a1b9a", "#ef6c00"]  # fmt: skip
    assert len({plots.op_colour(MACRO.ops, op) for op in MACRO.ops}) == 3
    assert plots.op_colour(MACRO.ops, "nor_conv_3x3") == "#555"
    g = MACRO.graph()
    assert plots.mask_edge(("id",), "id", g) == ("id (pinned)", plots.op_colour(g.ops, "id"))
    assert plots.mask_edge(MACRO.ops, None, g)[0] == "3/3 ops"
    # a cell's edge is e<k> beside its nodes, a chain's layer its label
    assert position_title(NB201, 3) == "e3 0→3" and position_name(NB201, 3) == "e3"
    assert position_title(MACRO, 3) == position_name(MACRO, 3) == "L4"
    assert action_text("pin", 3, "ir_k5_e6", MACRO) == "pin L4 ir_k5_e6"
    assert action_text("prune", 3, "none", NB201) == "prune e3 none"
    rows = [{"edge": 0, "op": "ir_k5_e6"}, {"edge": 7, "op": "id"}]
    assert neighbour_labels(rows, MACRO) == ["L1 → k5e6", "L8 → id"]
    assert MACRO.from_string(example_arch(MACRO)) and NB201.from_string(example_arch(NB201))


def _chip_rows(vc: ViewContext) -> list[tuple[str, list[str], list[int]]]:
    """``(row label, chip texts, chip positions)`` of every chip row of the graph card."""
    out = []
    for row in graph._chip_rows(vc):
        label, *rest = row.children
        chips = [c for c in rest if getattr(c, "id", None)]
        out.append((label.children, [c.children for c in chips], [c.id["edge"] for c in chips]))
    return out


def _wait(job_of, timeout: float = 120.0):
    deadline = time.time() + timeout
    while (job := job_of()).state == "pending" and time.time() < deadline:
        time.sleep(0.1)
    assert job.state == "done", job.error
    return job.result


@pytest.fixture
def macro(tmp_path: Path):
    c = make_macro_controller(tmp_path)
    yield c
    c.close()
    c.storage.close()


def test_every_view_builds_for_the_macro_space(macro) -> None:
    vc = ViewContext(macro)
    assert macro.space.name == "macro"
    # chips: one row per layer, named L1..L8, each with the space's short op names
    rows = _chip_rows(vc)
    assert [r[0] for r in rows] == [f"L{k}" for k in range(1, 9)]
    assert all(r[1] == ["id", "k3e3", "k5e6"] and set(r[2]) == {k} for k, r in enumerate(rows))
    page = create_app(macro).server.test_client().get("/_dash-layout").json
    assert "stride 2, 32→64" in json.dumps(page, ensure_ascii=False)  # the layer's note
    # the graph: 8 positions drawn as a chain, in one row
    _, data = graph.steering_data(vc, "fitness", None, [], 0)
    fig = graph.graph_figure(vc, data)
    go.Figure(fig)
    lines, nodes = fig["data"][:-1], fig["data"][-1]
    assert (
        len(lines) == 8 and set(nodes["y"]) == {0.0} and nodes["x"] == [float(k) for k in range(9)]
    )
    assert all(set(t["y"]) == {0.0} for t in lines)  # straight: a chain has no skips
    notes = [a["text"] for a in fig["layout"]["annotations"]]
    assert notes == [f"L{k}<br>3/3 ops" for k in range(1, 9)]

    macro.start(strategy="random", proxy="zico", budget=40)
    macro.session.wait(lambda s: s.n_evaluated >= 6, timeout=180)
    macro.steer("prune", 1, "id")
    macro.steer("pin", 2, "ir_k5_e6", note="wide at the stride")
    snap = macro.session.wait(lambda s: s.n_evaluated >= 10, timeout=180)
    macro.pause()
    df = candidates_frame(snap, macro.space)
    d = graph_data(snap, df, macro.space, metric="zico")
    assert d.chips[(1, "id")].state == "pruned" and d.chips[(2, "ir_k5_e6")].state == "pinned"
    assert d.chips[(2, "id")].state == "blocked"
    assert d.chips[(2, "ir_k5_e6")].tip.startswith("L3 (stride 2, 64→128) · ir_k5_e6 · pinned")
    assert [h[1].split("→")[0].strip() for h in d.history] == ["pin L3 ir_k5_e6", "prune L2 id"]
    notes = [a["text"] for a in graph.graph_figure(vc, d)["layout"]["annotations"]]
    assert notes[1] == "L2<br>2/3 ops" and notes[2] == "L3<br>k5e6 (pinned)"
    # the embedding: every one of the 6,561 architectures
    xy = macro.wait_layout()
    assert xy.shape == (6561, 2)
    e = embedding_data(snap, df, macro.space, colour_by="zico", scale="rank", method="pca")
    emb = plots.embedding_figure(xy, allowed=e.allowed, evaluated=e.evaluated, colour=e.colour,
                                 colour_label=e.colour_label)  # fmt: skip
    go.Figure(emb)
    base = [t for i, t in enumerate(emb["data"][:4]) if i != plots.EVALUATED_TRACE]
    assert sorted(i for t in base for i in t["customdata"]) == list(range(MACRO.size))
    assert e.allowed.sum() == snap.mask.size() == 3**6 * 2  # L2 pruned to 2, L3 pinned
    # the inspector: the chain diagram and the one-edit attribution
    arch = df["arch"].iloc[-1]
    ins = inspector_data(df, macro.space, arch, snap=snap)
    cell = inspector.cell_diagram(vc, ins.ops)
    go.Figure(cell)
    shown = [a["text"].split("<br>")[1] for a in cell["layout"]["annotations"]]
    assert shown == [MACRO.graph().op_label(o) for o in MACRO.ops_of(MACRO.from_string(arch))]
    nb = _wait(lambda: macro.neighbours(arch, "zico"))
    assert len(nb) == ins.n_neighbours == 16  # 8 layers × 2 alternatives
    attr = inspector.attribution(vc, nb, "zico", show_truth=False)
    go.Figure(attr)
    assert {y.split(" → ")[0] for y in attr["data"][0]["y"]} == {f"L{k}" for k in range(1, 9)}
    assert all(math.isfinite(r["score"]) for r in nb)
    # the comparison over the run's cells
    cmp = comparison_data(df, x="zico", y="naswot", method="spearman", k=5, snap=snap)
    assert cmp.enough
    go.Figure(plots.rank_scatter(cmp.points, x_label=cmp.x_label, y_label=cmp.y_label))
    go.Figure(plots.heatmap_figure(cmp.corr, title="t"))
    assert np.isfinite(cmp.corr.to_numpy(dtype=float)).any()


def test_serve_takes_the_space_and_reopens_only_its_runs(tmp_path: Path, monkeypatch) -> None:
    from click.testing import CliRunner

    import app.serve
    from nas_engine.cli import main

    seen = {}
    monkeypatch.setattr(app.serve, "serve", lambda **kw: seen.update(kw))
    res = CliRunner().invoke(main, ["serve", "--space", "macro", "--db", str(tmp_path / "x.db")])
    assert res.exit_code == 0, res.output
    assert seen["defaults"]["space"] == "macro"
    res = CliRunner().invoke(main, ["serve", "--space", "nope"])
    assert res.exit_code != 0 and "macro" in res.output and "nb201" in res.output
    # a database holding a run of another space reopens none of it
    from tests.app_helpers import make_controller

    c = make_controller(tmp_path, db="mixed.db")
    c.start(strategy="random", proxy="params", budget=2)
    c.session.wait(lambda s: s.status == "finished", timeout=120)
    c.close()
    c.storage.close()
    m = make_macro_controller(tmp_path, db="mixed.db")
    assert m.open_latest() is None and m.session is None
    m.close()
    m.storage.close()


def test_a_benchmark_of_another_space_is_refused(tmp_path: Path) -> None:
    from app import InputError
    from app.controller import AppController

    table = tmp_path / "nb201.csv"
    table.write_text("arch,acc\n|none~0|+|none~0|none~1|+|none~0|none~1|none~2|,10.0\n")
    with pytest.raises(InputError, match="holds 'nb201' architectures, not 'macro'"):
        AppController.open(
            tmp_path / "a.db",
            defaults={"space": "macro", "dataset": "synthetic", "benchmark": f"csv:{table}"},
        )
