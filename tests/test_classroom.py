"""A classroom on one search (issue #17): shared figures at a bounded rate, a production
server with timeouts and a body limit, per-viewer undo, read-only pages and a token."""

from __future__ import annotations

import json
import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from app import Access, InputError, create_app, ids
from app.access import check_exposure
from app.serve import ServerOptions, make_server
from app.views import budget, embedding, graph, inspector, runs
from app.views.sharing import Published, SharedResults, ViewerCount
from tests.app_helpers import make_controller, post_callback
from tests.conftest import BEST_NB201

ALICE = {"key": "a1a1a1a1a1", "name": "viewer 1"}
BOB = {"key": "b2b2b2b2b2", "name": "viewer 2"}


def _chip(edge: int, op: str) -> dict[str, Any]:
    return {"edge": edge, "op": op, "type": graph.CHIP}


def _alert(res: Any) -> str:
    assert res.status_code in (200, 204), res.get_data(as_text=True)[-2000:]
    if res.status_code == 204:
        return ""
    return json.dumps(res.get_json()["response"].get(ids.ALERT, {}))


@pytest.fixture()
def paused(tmp_path: Path):
    """A controller with a paused run (steering then changes its mask at once)."""
    c = make_controller(tmp_path)
    try:
        c.start(strategy="random", proxy="zico", budget=400)
        c.pause()
        c.session.wait(lambda s: s.status == "paused", timeout=120)
        yield c
    finally:
        c.close()
        c.storage.close()


# ------------------------------------------------------------- shared, bounded views
def test_published_snapshot_changes_at_most_once_per_refresh_and_at_once_after_a_command():
    class Snap:
        def __init__(self, n: int) -> None:
            self.run_id, self.updated = 1, float(n)

    live = {"n": 0}
    now = {"t": 100.0}
    pub = Published(lambda: Snap(live["n"]), refresh_s=2.0, clock=lambda: now["t"])
    first = pub.get()[0]
    seen = {first}
    for _ in range(50):  # the engine publishes every 0.1 s for 5 s
        live["n"] += 1
        now["t"] += 0.1
        seen.add(pub.get()[0])
    assert len(seen) == 3, seen  # t=100 (first), ~102, ~104: one version per 2 s
    live["n"] += 1
    pub.refresh()  # a steering command: its sender sees the effect at the next poll
    assert pub.get()[0] == f"1:{float(live['n']):.6f}"


def test_the_published_interval_grows_with_the_room_so_the_total_rate_is_bounded() -> None:
    now = {"t": 0.0}
    room = ViewerCount(window_s=10.0, clock=lambda: now["t"])
    pub = Published(lambda: None, refresh_s=2.0, viewers=room, per_s=6.0)
    assert pub.interval() == 2.0
    for i in range(30):
        room.touch(f"tab{i}")
    assert room.count() == 30 and pub.interval() == 5.0  # 30 tabs x 1/5 s = 6 per second
    now["t"] = 11.0  # they left
    assert room.count() == 0 and pub.interval() == 2.0


def test_shared_results_build_once_for_concurrent_viewers() -> None:
    shared = SharedResults()
    calls = []
    gate = threading.Event()

    def build() -> str:
        calls.append(1)
        gate.wait(5)
        return "figure"

    got: list[str] = []
    threads = [
        threading.Thread(target=lambda: got.append(shared.get(("v", 1), build))) for _ in range(30)
    ]
    for t in threads:
        t.start()
    time.sleep(0.2)
    gate.set()
    for t in threads:
        t.join(10)
    assert got == ["figure"] * 30 and len(calls) == 1
    assert shared.builds == 1 and shared.hits == 29


def test_a_failed_build_is_not_kept() -> None:
    shared = SharedResults()
    with pytest.raises(RuntimeError):
        shared.get("k", lambda: (_ for _ in ()).throw(RuntimeError("boom")))
    assert shared.get("k", lambda: 3) == 3


def test_viewers_share_one_build_per_version_and_the_embedding_sends_only_what_changed(
    paused,
) -> None:
    c = paused
    app = create_app(c)
    vc = app.view_context
    c.layout()
    for _ in range(600):
        if c.layout()[0] is not None:
            break
        time.sleep(0.05)
    version = vc.version()
    inputs = {ids.VERSION: version, embedding.COLOUR_BY: "fitness", embedding.COLOUR_SCALE: "rank"}

    def embed(drawn: Any, trigger: str) -> dict[str, Any]:
        res = post_callback(
            app,
            (trigger, "data" if trigger == ids.VERSION else "value"),
            inputs[trigger],
            output="embedding.figure",
            state={(embedding.DRAWN, "data"): drawn},
            values={(k, "data" if k == ids.VERSION else "value"): v for k, v in inputs.items()},
        )
        assert res.status_code == 200, res.get_data(as_text=True)[-1500:]
        return res.get_json()["response"]

    builds = vc.shared.builds
    first = embed(None, embedding.COLOUR_BY)  # a new tab: the whole figure
    full = first[embedding.EMBEDDING]["figure"]
    assert sum(len(t["x"]) for t in full["data"][:4]) >= c.space.size
    for _ in range(5):  # five more tabs on the same version: no new build
        embed(None, embedding.COLOUR_BY)
    assert vc.shared.builds == builds + 1
    drawn = first[embedding.DRAWN]["data"]
    # the next version, for a tab that already shows this mask: a patch of one trace
    c.resume()
    c.session.wait(lambda s: s.n_evaluated >= 2, timeout=120)
    c.pause()
    vc.published.refresh()
    inputs[ids.VERSION] = vc.version()
    patched = embed(drawn, ids.VERSION)[embedding.EMBEDDING]["figure"]
    body = json.dumps(patched)
    assert "__dash_patch_update" in body and len(body) < len(json.dumps(full)) / 4
    assert embedding.DRAWN not in embed(drawn, ids.VERSION)  # unchanged base
    # a tab that does not show this base yet gets the whole figure again
    again = embed("another", ids.VERSION)[embedding.EMBEDDING]["figure"]
    assert "data" in again and len(again["data"]) >= 4


def test_identical_requests_at_one_version_share_one_answer_but_new_tabs_get_their_own(
    tmp_path: Path,
) -> None:
    c = make_controller(tmp_path)
    try:
        app = create_app(c)
        vc = app.view_context

        def poll(viewer: Any, tick: int) -> Any:
            res = post_callback(
                app, (ids.POLL, "n_intervals"), tick, output=f"{ids.VERSION}.data",
                state={(ids.VIEWER, "data"): viewer},
            )  # fmt: skip
            assert res.status_code == 200
            return res.get_json()["response"]

        client = app.server.test_client()
        layouts = [client.get("/_dash-layout").get_data() for _ in range(3)]
        assert layouts[0] == layouts[2] and vc.responses.hits == 2  # serialised once
        vc.responses.hits = vc.responses.misses = 0
        a, b = poll(ALICE, 1), poll(BOB, 7)  # two tabs, other ticks: one answer, shared
        assert a == b and vc.responses.hits == 1 and vc.responses.misses == 1
        new1, new2 = poll(None, 1), poll(None, 1)  # tabs without an identity: never shared
        assert new1[ids.VIEWER]["data"]["key"] != new2[ids.VIEWER]["data"]["key"]
        assert vc.responses.hits == 1
        # a steering callback is never answered from the cache
        shown = [_click(app, (graph.UNDO, "n_clicks"), ALICE) for _ in range(2)]
        assert all("no run yet" in m for m in shown) and vc.responses.hits == 1
    finally:
        c.close()
        c.storage.close()


# --------------------------------------------------------------- production server
@pytest.fixture()
def server(tmp_path: Path):
    c = make_controller(tmp_path)
    app = create_app(c)
    srv = make_server(
        app.server,
        host="127.0.0.1",
        port=0,
        options=ServerOptions(threads=2, idle_timeout_s=1, max_body_bytes=4 * 2**20),
    )
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    try:
        yield srv.effective_port
    finally:
        srv.close()
        thread.join(10)
        c.close()
        c.storage.close()


def _request(port: int, head: bytes, body: bytes = b"") -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=20) as s:
        s.sendall(head + body)
        return s.recv(4096)


def test_the_server_answers_a_page_and_refuses_a_5_mb_body_with_413(server: int) -> None:
    ok = _request(server, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert ok.startswith(b"HTTP/1.1 200"), ok[:200]
    head = (
        b"POST /_dash-update-component HTTP/1.1\r\nHost: x\r\n"
        b"Content-Type: application/json\r\nContent-Length: 5000000\r\n\r\n"
    )
    answer = _request(server, head, b"{" + b" " * 60_000)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]


def test_an_idle_connection_is_closed_after_the_timeout(server: int) -> None:
    with socket.create_connection(("127.0.0.1", server), timeout=15) as s:
        t0 = time.monotonic()
        assert s.recv(1) == b""  # the server closed it: the socket reads end-of-file
        waited = time.monotonic() - t0
    assert 0.5 <= waited < 10, waited


def test_server_options_are_checked() -> None:
    with pytest.raises(InputError, match="threads"):
        ServerOptions(threads=0)
    with pytest.raises(InputError, match="max_body_bytes"):
        ServerOptions(max_body_bytes=1.5)  # type: ignore[arg-type]


# ------------------------------------------------------------------ per-viewer undo
def _click(
    app: Any, target: tuple[Any, str], viewer: dict[str, str], state: dict | None = None
) -> str:
    """Click ``target`` as ``viewer``; the alert line's answer."""
    states = {(ids.VIEWER, "data"): viewer, **(state or {})}
    return _alert(post_callback(app, target, 1, output=ids.ALERT, state=states))


def test_two_viewers_undos_each_revert_their_own_action(paused) -> None:
    c = paused
    app = create_app(c)
    mode = {(graph.CLICK_MODE, "value"): "prune"}
    assert "accepted" in _click(app, (_chip(0, "nor_conv_3x3"), "n_clicks"), ALICE, mode)
    assert "accepted" in _click(app, (_chip(1, "avg_pool_3x3"), "n_clicks"), BOB, mode)
    # Alice's undo reverts Alice's prune, not Bob's later one
    assert "accepted" in _click(app, (graph.UNDO, "n_clicks"), ALICE)
    mask = c.snapshot().mask
    assert mask.state(0, "nor_conv_3x3") != "pruned"
    assert mask.state(1, "avg_pool_3x3") == "pruned"
    # Alice has nothing left to undo: refused with the reason, Bob's prune stays
    refused = _click(app, (graph.UNDO, "n_clicks"), ALICE)
    assert "error" in refused and "nothing" in refused and "undo" in refused
    assert c.snapshot().mask.state(1, "avg_pool_3x3") == "pruned"
    assert "accepted" in _click(app, (graph.UNDO, "n_clicks"), BOB)
    assert c.snapshot().mask.is_full
    # the history says who did what
    events = c.snapshot().events
    assert [(e.action, e.actor_name) for e in events] == [
        ("prune", "viewer 1"),
        ("prune", "viewer 2"),
        ("undo", "viewer 1"),
        ("undo", "viewer 2"),
    ]
    assert [e.actor for e in events] == [ALICE["key"], BOB["key"], ALICE["key"], BOB["key"]]


# ---------------------------------------------------- read-only viewers and the token
#: Every steering callback and a click that triggers it (the test below checks that
#: this lists exactly the callbacks the app guards).
STEERING: dict[str, tuple[Any, dict[tuple[str, str], Any]]] = {
    "page.command": ((ids.START, "n_clicks"), {}),
    "graph.command": ((_chip(0, "nor_conv_3x3"), "n_clicks"), {(graph.CLICK_MODE, "value"): "x"}),
    "graph.accept": (({"type": graph.ACCEPT, "key": "prune-0-none"}, "n_clicks"), {}),
    "embedding.score_all": ((embedding.SPACE_RUN, "n_clicks"), {}),
    "inspector.train": ((inspector.TRAIN_BTN, "n_clicks"), {(ids.INSPECT, "data"): BEST_NB201}),
    "budget.apply": ((budget.APPLY, "n_clicks"), {(budget.MAX_FLOPS, "value"): "5"}),
    "runs.act": ((runs.RUNS_FORK, "n_clicks"), {(runs.RUNS_ONE, "value"): 1}),
}  # fmt: skip


def _state_of(c: Any) -> tuple[Any, ...]:
    s = c.snapshot()
    return (
        len(c.storage.list_runs()),
        s.status,
        s.mask_version,
        len(s.events),
        s.training,
        c.defaults,
        c.space_scores(values=False).running,
    )


def test_the_steering_list_is_every_guarded_callback_and_the_rest_cannot_steer(tmp_path):
    c = make_controller(tmp_path)
    try:
        app = create_app(c)
        assert sorted(app.view_context.steering_callbacks) == sorted(STEERING)
        guarded, unguarded = 0, []
        for key, cb in app.callback_map.items():
            if f"{ids.ALERT}.children" not in key:
                continue
            if any(s["id"] == ids.TOKEN for s in cb["state"]):
                guarded += 1
            else:
                unguarded.append(sorted(str(i["id"]) for i in cb["inputs"]))
        assert guarded == len(STEERING)
        # what writes the alert line unguarded only inspects, exports or dismisses (or
        # puts the run's status in place of a run command's note)
        assert sorted(unguarded) == sorted(
            [
                [ids.VERSION],
                [inspector.ARCH_INPUT, inspector.INSPECT_BTN],
                [inspector.EXPORT_JSON, inspector.EXPORT_PY],
                [json.dumps({"key": ["ALL"], "type": graph.DISMISS}, separators=(",", ":"))],
            ]
        )
    finally:
        c.close()
        c.storage.close()


REFUSALS = {
    "read-only": (Access(read_only=True), None, "read-only"),
    "no token": (Access(token="s3cret"), None, "needs the token"),
    "wrong token": (Access(token="s3cret"), "guess", "wrong steering token"),
}


@pytest.mark.parametrize("who", sorted(REFUSALS))
@pytest.mark.parametrize("callback", sorted(STEERING))
def test_a_viewer_who_may_not_steer_is_refused_on_every_steering_callback(
    paused, callback: str, who: str
) -> None:
    c = paused
    access, token, reason = REFUSALS[who]
    app = create_app(c, access=access)
    target, extra = STEERING[callback]
    before = _state_of(c)
    shown = _click(app, target, ALICE, {**extra, (ids.TOKEN, "value"): token})
    assert "error" in shown and reason in shown, shown
    time.sleep(0.05)
    assert _state_of(c) == before


def test_with_the_token_a_viewer_steers(paused) -> None:
    c = paused
    app = create_app(c, access=Access(token="s3cret"))
    target, extra = STEERING["graph.command"]
    shown = _click(app, target, ALICE, {**extra, (ids.TOKEN, "value"): "s3cret"})
    assert "accepted" in shown, shown
    assert c.snapshot().mask.state(0, "nor_conv_3x3") == "pruned"


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.0.0.2"])
def test_loopback_needs_no_token(host: str) -> None:
    check_exposure(host, read_only=False, token=None)


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.4", "::", "myhost.example"])
def test_serving_beyond_this_machine_needs_read_only_or_a_token(host: str) -> None:
    with pytest.raises(InputError, match="--read-only.*--token"):
        check_exposure(host, read_only=False, token=None)
    check_exposure(host, read_only=True, token=None)
    check_exposure(host, read_only=False, token="t")


def test_nasnav_serve_on_0000_without_a_token_stops_with_the_reason(
    monkeypatch, tmp_path: Path
) -> None:
    from app.controller import AppController
    from nas_engine.cli import main

    def opened(*_a: Any, **_k: Any) -> None:
        raise AssertionError("the controller was opened: the page would be served")

    monkeypatch.setattr(AppController, "open", opened)
    db = tmp_path / "x.db"
    res = CliRunner().invoke(
        main, ["serve", "--host", "0.0.0.0", "--db", str(db)], env={"NASNAV_TOKEN": ""}
    )
    assert res.exit_code != 0 and "--read-only" in res.output, res.output
    assert not db.exists()  # refused before anything was opened


def test_serve_defaults_to_loopback_without_a_token(monkeypatch, tmp_path: Path) -> None:
    import app.serve
    from nas_engine.cli import main

    seen: dict[str, Any] = {}
    monkeypatch.setattr(app.serve, "serve", lambda **kw: seen.update(kw))
    monkeypatch.delenv("NASNAV_TOKEN", raising=False)
    res = CliRunner().invoke(main, ["serve", "--db", str(tmp_path / "x.db")])
    assert res.exit_code == 0, res.output
    assert seen["host"] == "127.0.0.1" and seen["token"] is None and seen["read_only"] is False
    assert seen["debug"] is False  # the production server unless --debug
