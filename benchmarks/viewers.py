"""Classroom load: how a room of viewers of one ``nasnav serve`` slows its search.

    python benchmarks/viewers.py --viewers 0,1,5,10,20,30 --seconds 120

A teacher serves one search and the students open the page. For each level of
``--viewers`` a fresh server is started in its own process (``nasnav serve`` on
127.0.0.1, a free port, a fresh database in a temporary folder, the shared
``--cache-dir`` layout cache, ``--threads 1``, ``OMP_NUM_THREADS=1``, ``--set
budget=100000`` then the ``--set`` options, so the run cannot finish inside the window).
The script waits until ``GET /`` answers 200 and the layout is ready (the snapshot views,
requested once, no longer say "computing the layout"), presses Start as the browser does
(a teacher tab, simulated as a viewer below, opens the page, which gives it its identity,
then posts the header's command callback: ``btn-start.n_clicks`` = 1 and the tab's own
values of every other input and state; a refusal is retried after a poll, 5 times) and
starts the viewers at once, staggered over the first second. The teacher tab does not
poll afterwards. It does not care which WSGI server ``nasnav serve`` runs (Werkzeug,
waitress): it speaks HTTP only, and gives the server the signal a Ctrl+C would.

How a viewer is simulated (what Dash's renderer sends, without a browser): its own
``requests.Session`` (keep-alive, at most ``--parallel`` connections, 6 by default as a
browser's per-host limit). It opens the page (``GET /``, ``/_dash-layout``,
``/_dash-dependencies``, timed together as one "page load"; not the JavaScript bundles)
and fires every server callback without ``prevent_initial_call`` concurrently, as the
renderer's initial calls. Then on the poll's period (``poll.interval``: 1 s in the layout,
then whatever the server sets in a poll answer, as the renderer re-arms the interval; a
fixed grid, and a tick missed while it waits is skipped) it fires the poll callback
(input ``poll.n_intervals``, output ``snapshot-version.data``); when a response sets a
property to a new value (not to the one the viewer holds) that another callback takes
as an Input (the new ``snapshot-version`` fires every snapshot-driven view: graph,
suggestions, embedding, progress, comparison, Pareto...), it fires those callbacks
concurrently on its own thread pool of ``--parallel`` threads (``--parallel 1``:
sequentially), waits for all of them, then for their own chained callbacks (at most 3
deep), before the next poll. Callbacks and their inputs come from ``/_dash-dependencies``
and the component defaults from ``/_dash-layout``: each viewer keeps its own copy of
every component property, starting at the layout's defaults and updated from each
response (so a session store, a viewer identity or a token set by a callback, stays the
viewer's own, as in a browser tab); pattern-matching ``ALL`` ids are expanded over the
layout's components. Only the poll (``poll.n_intervals``), the version store
(``snapshot-version.data``), the Start button (``btn-start.n_clicks``) and the alert line
(``alert.children``) are named here. Callbacks with MATCH/ALLSMALLER ids and clientside
callbacks are not fired.

Measured per level: candidates evaluated in the ``--seconds`` window from the Start press
(``SELECT COUNT(*) FROM candidates`` on the server's SQLite database, opened read-only at
the window's end; the poll's status line if that fails), their ratio to this run's
0-viewer level, per callback (named by its first output id) the p50/p95 latency and the
count of the requests started inside the window and its errors (HTTP other than
200/204, exceptions, ``--timeout`` 10 s timeouts; a 204 is a success), the server's
largest RSS (its process tree, sampled each second from start to stop) and CPU seconds
in the window, and this script's own CPU seconds: the load generator shares the
machine's cores with the server, part of what slows the search on a small machine. The
window includes the supernet warm-up (``supernet_warmup`` steps before the first
candidate), so the table also gives when the first candidate was stored and the
supernet's last stored step. The server's output goes to a log in the temporary folder
(its tail is printed when it fails to start).
Results go to ``benchmarks/results/<--name>.json``; :func:`render` turns one into the
README's tables (``python benchmarks/render_readme.py``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import random
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psutil
import requests
from requests.adapters import HTTPAdapter

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import REPO, markdown_table, run_stamp, write_result

Prop = tuple[str, str]  # (component id as Dash writes it in responses, property)
Dep = dict[str, Any]  # one entry of /_dash-dependencies

POLL: Prop = ("poll", "n_intervals")
POLL_INTERVAL: Prop = ("poll", "interval")  # ms; the server may slow a big room's poll
VERSION: Prop = ("snapshot-version", "data")
START: Prop = ("btn-start", "n_clicks")
ALERT: Prop = ("alert", "children")
#: What a snapshot view says while the whole-space layout is still being computed.
PENDING = "computing the layout"
UPDATE = "/_dash-update-component"
PAGE_LOAD = "page load"
MAX_CHAIN = 3
STATUS_RE = re.compile(r"run (\d+) · (\w+) · (\d+)/(\d+) candidates")
MIB = 1024 * 1024


# --------------------------------------------------------------------------- Dash protocol


def _key(cid: Any) -> str:
    """A component id as Dash writes it in a response: the string, or a dict as sorted
    compact JSON."""
    return json.dumps(cid, sort_keys=True, separators=(",", ":")) if isinstance(cid, dict) else cid


def _parse_outputs(text: str) -> list[Prop]:
    """``..a.b...c.d..`` (several outputs) or ``a.b@hash`` (one, shared) → ``[(id, prop)]``."""
    parts = text[2:-2].split("...") if text.startswith("..") else [text]
    out = []
    for part in parts:
        id_text, prop = part.rsplit(".", 1)
        out.append((id_text, prop.split("@")[0]))
    return out


def _wildcards(id_text: str) -> set[str]:
    """The wildcards (``ALL``, ``MATCH``, ``ALLSMALLER``) of a pattern-matching id."""
    if not id_text.startswith("{"):
        return set()
    return {w for v in json.loads(id_text).values() if isinstance(v, list) for w in v}


def _matches(pattern: dict[str, Any], cid: Any) -> bool:
    """Whether a concrete component id matches a pattern-matching id."""
    if not isinstance(cid, dict) or set(cid) != set(pattern):
        return False
    return all(isinstance(v, list) or cid[k] == v for k, v in pattern.items())


def _walk(node: Any, found: list[dict[str, Any]]) -> None:
    """Collect every component with an id (``props.id``) of a layout tree."""
    if isinstance(node, list):
        for x in node:
            _walk(x, found)
    elif isinstance(node, dict):
        if "props" in node and "type" in node:
            if "id" in node["props"]:
                found.append(node)
            for v in node["props"].values():
                _walk(v, found)
        else:
            for v in node.values():
                _walk(v, found)


class Page:
    """The app as the renderer knows it: callbacks and the layout's component defaults."""

    def __init__(self, deps: list[Dep], layout: Any) -> None:
        components: list[dict[str, Any]] = []
        _walk(layout, components)
        self.ids = [c["props"]["id"] for c in components]
        self.plain_ids = {i for i in self.ids if not isinstance(i, dict)}
        self.defaults: dict[Prop, Any] = {
            (_key(c["props"]["id"]), p): v
            for c in components
            for p, v in c["props"].items()
            if p != "id"
        }
        self.deps = deps
        #: the callbacks a viewer fires (server-side, no MATCH/ALLSMALLER ids)
        self.fired = [d for d in deps if self._fireable(d)]
        self.skipped = [self.name(d) for d in deps if d not in self.fired]
        self._expanded: dict[str, list[Any]] = {}

    def _fireable(self, dep: Dep) -> bool:
        if dep.get("clientside_function"):
            return False
        items = [i for i, _ in _parse_outputs(dep["output"])]
        items += [x["id"] for x in dep["inputs"] + dep["state"]]
        return not any(_wildcards(i) - {"ALL"} for i in items)

    @classmethod
    def fetch(cls, session: requests.Session, base: str, timeout: float) -> Page:
        """Read ``/_dash-dependencies`` and ``/_dash-layout``."""
        deps = session.get(base + "/_dash-dependencies", timeout=timeout)
        layout = session.get(base + "/_dash-layout", timeout=timeout)
        deps.raise_for_status()
        layout.raise_for_status()
        return cls(deps.json(), layout.json())

    @staticmethod
    def name(dep: Dep) -> str:
        """A callback's name: its first output's component id."""
        return _parse_outputs(dep["output"])[0][0]

    @staticmethod
    def outputs(dep: Dep) -> list[Prop]:
        return _parse_outputs(dep["output"])

    @staticmethod
    def inputs(dep: Dep) -> list[Prop]:
        return [(x["id"], x["property"]) for x in dep["inputs"]]

    def find(self, *, output: Prop, input: Prop) -> Dep:
        """The callback with this output and this input."""
        for d in self.fired:
            if output in self.outputs(d) and input in self.inputs(d):
                return d
        raise SystemExit(f"no callback {input[0]}.{input[1]} → {output[0]}.{output[1]} in the app")

    def expand(self, id_text: str) -> list[Any]:
        """The layout's components an ``ALL`` pattern-matching id stands for."""
        if id_text not in self._expanded:
            pattern = json.loads(id_text)
            self._expanded[id_text] = [c for c in self.ids if _matches(pattern, c)]
        return self._expanded[id_text]

    def initial(self) -> list[Dep]:
        """The callbacks the renderer fires when the page opens: no
        ``prevent_initial_call`` and every plain input in the layout."""
        return [
            d
            for d in self.fired
            if not d.get("prevent_initial_call")
            and all(i.startswith("{") or i in self.plain_ids for i, _ in self.inputs(d))
        ]

    def triggers(self, dep: Dep, changed: set[Prop]) -> list[str]:
        """``changedPropIds`` of a request: its inputs among the changed properties."""
        out = []
        for id_text, prop in self.inputs(dep):
            cids = self.expand(id_text) if id_text.startswith("{") else [id_text]
            out += [f"{_key(c)}.{prop}" for c in cids if (_key(c), prop) in changed]
        return out

    def dependents(self, changed: set[Prop]) -> list[Dep]:
        """The callbacks with one of these properties as an Input."""
        return [d for d in self.fired if self.triggers(d, changed)]

    def body(self, dep: Dep, values: dict[Prop, Any], changed: list[str]) -> dict[str, Any]:
        """The request body the renderer posts to ``/_dash-update-component``."""

        def spec(id_text: str, prop: str, with_value: bool) -> Any:
            if not id_text.startswith("{"):
                one: dict[str, Any] = {"id": id_text, "property": prop}
                if with_value:
                    one["value"] = values.get((id_text, prop))
                return one
            return [
                {"id": c, "property": prop, **({"value": values.get((_key(c), prop))}
                                               if with_value else {})}
                for c in self.expand(id_text)
            ]  # fmt: skip

        outs = [spec(i, p, False) for i, p in self.outputs(dep)]
        return {
            "output": dep["output"],
            "outputs": outs if dep["output"].startswith("..") else outs[0],
            "inputs": [spec(x["id"], x["property"], True) for x in dep["inputs"]],
            "state": [spec(x["id"], x["property"], True) for x in dep["state"]],
            "changedPropIds": changed,
        }


def _updates(data: Any) -> dict[Prop, Any]:
    """The properties a ``/_dash-update-component`` response sets."""
    response = data.get("response", {}) if isinstance(data, dict) else {}
    return {(cid, p): v for cid, props in response.items() for p, v in props.items()}


# --------------------------------------------------------------------------- measurements


class Recorder:
    """Latencies (ms) and errors per callback for one level, from every viewer thread."""

    def __init__(self, end: float) -> None:
        self.end = end  # time.monotonic() at the window's end: no request starts after it
        self.lock = threading.Lock()
        self.times: dict[str, list[float]] = {}
        self.errors: dict[str, int] = {}
        self.samples: list[str] = []
        self.status: str | None = None

    def open(self) -> bool:
        return time.monotonic() < self.end

    def ok(self, name: str, ms: float) -> None:
        with self.lock:
            self.times.setdefault(name, []).append(ms)

    def error(self, name: str, what: str) -> None:
        with self.lock:
            self.errors[name] = self.errors.get(name, 0) + 1
            if len(self.samples) < 10:
                self.samples.append(f"{name}: {what}")

    def summary(self) -> dict[str, dict[str, Any]]:
        names = list(dict.fromkeys([*self.times, *self.errors]))
        out = {}
        for name in names:
            v = sorted(self.times.get(name, []))
            out[name] = {
                "n": len(v),
                "errors": self.errors.get(name, 0),
                "p50": _pct(v, 50),
                "p95": _pct(v, 95),
                "max": v[-1] if v else None,
            }
        return out


def _pct(v: list[float], q: float) -> float | None:
    """Percentile of sorted values, linear between ranks (numpy's default)."""
    if not v:
        return None
    pos = (len(v) - 1) * q / 100
    lo = math.floor(pos)
    hi = min(lo + 1, len(v) - 1)
    return round(v[lo] + (v[hi] - v[lo]) * (pos - lo), 2)


def _default_sigint() -> None:
    """In the server's child process: SIGINT stops it (``nasnav serve`` shuts down)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class Viewer(threading.Thread):
    """One student's browser tab (see the module docstring)."""

    def __init__(
        self, page: Page, base: str, rec: Recorder, stop: threading.Event, *,
        start_at: float, parallel: int, timeout: float, poll_s: float = 1.0,
    ) -> None:  # fmt: skip
        super().__init__(daemon=True)
        self.page, self.base, self.rec, self.stop = page, base, rec, stop
        self.start_at, self.parallel, self.timeout, self.poll_s = (
            start_at, parallel, timeout, poll_s)  # fmt: skip
        self.values = dict(page.defaults)
        self.lock = threading.Lock()
        self.session = requests.Session()
        self.session.mount("http://", HTTPAdapter(
            pool_connections=1, pool_maxsize=parallel, pool_block=True))  # fmt: skip
        self.pool = ThreadPoolExecutor(parallel) if parallel > 1 else None
        self.poll = page.find(output=VERSION, input=POLL)

    def run(self) -> None:
        try:
            if self.stop.wait(max(0.0, self.start_at - time.monotonic())):
                return
            self.open_page()
            ticks = 0
            next_tick = time.monotonic() + self.poll_s
            while not self.stop.wait(max(0.0, next_tick - time.monotonic())):
                ticks += 1
                with self.lock:
                    self.values[POLL] = ticks
                self.cascade([self.poll], {POLL})
                # the renderer re-arms the interval when the server changes its period
                with self.lock:
                    every = self.values.get(POLL_INTERVAL)
                period = every / 1000 if isinstance(every, (int, float)) and every > 0 else 1.0
                now = time.monotonic()
                next_tick += period * max(1, math.ceil((now - next_tick) / period))
        finally:
            self.close()

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
        self.session.close()

    def open_page(self) -> None:
        t = time.perf_counter()
        try:
            for path in ("/", "/_dash-layout", "/_dash-dependencies"):
                r = self.session.get(self.base + path, timeout=self.timeout)
                if r.status_code != 200:
                    self.rec.error(PAGE_LOAD, f"GET {path}: HTTP {r.status_code}")
                    return
        except requests.RequestException as exc:
            self.rec.error(PAGE_LOAD, type(exc).__name__)
            return
        self.rec.ok(PAGE_LOAD, 1000 * (time.perf_counter() - t))
        self.cascade(self.page.initial(), set())

    def cascade(self, deps: list[Dep], changed: set[Prop]) -> None:
        """Fire ``deps`` concurrently, then the callbacks whose inputs they changed."""
        for _ in range(MAX_CHAIN + 1):
            if not deps or self.stop.is_set():
                return
            triggers = [self.page.triggers(d, changed) for d in deps]
            if self.pool is None or len(deps) == 1:
                results = [self.call(d, t) for d, t in zip(deps, triggers, strict=True)]
            else:
                results = list(self.pool.map(self.call, deps, triggers))
            changed = set().union(*results)
            deps = self.page.dependents(changed)

    def call(self, dep: Dep, changed: list[str]) -> set[Prop]:
        """One callback request; returns the properties whose value it changed."""
        if not self.rec.open():
            return set()
        name = self.page.name(dep)
        with self.lock:
            body = self.page.body(dep, self.values, changed)
        t = time.perf_counter()
        try:
            r = self.session.post(self.base + UPDATE, json=body, timeout=self.timeout)
        except requests.Timeout:
            self.rec.error(name, f"timeout ({self.timeout:.0f} s)")
            return set()
        except requests.RequestException as exc:
            self.rec.error(name, f"{type(exc).__name__}: {str(exc)[:120]}")
            return set()
        ms = 1000 * (time.perf_counter() - t)
        if r.status_code == 204:  # PreventUpdate: nothing changed
            self.rec.ok(name, ms)
            return set()
        if r.status_code != 200:
            self.rec.error(name, f"HTTP {r.status_code}: {r.text[:120]!r}")
            return set()
        try:
            updates = _updates(r.json())
        except ValueError:
            self.rec.error(name, f"not JSON: {r.text[:120]!r}")
            return set()
        self.rec.ok(name, ms)
        if dep is self.poll:
            for v in updates.values():
                if isinstance(v, str) and STATUS_RE.search(v):
                    self.rec.status = v
        with self.lock:
            changed_props = {k for k, v in updates.items() if self.values.get(k) != v}
            self.values.update(updates)
        return changed_props


# --------------------------------------------------------------------------- the server


def _free_port() -> int:
    """A free port below Linux's ephemeral range (one the clients' own outgoing connections
    cannot take between the check and the server's bind)."""
    for _ in range(200):
        port = random.randrange(20000, 32000)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise SystemExit("no free port in 20000-32000")


def _nasnav() -> list[str]:
    exe = Path(sys.executable).with_name("nasnav")
    for path in (exe, REPO / ".venv" / "bin" / "nasnav"):
        if path.is_file():
            return [str(path)]
    return [sys.executable, "-m", "nas_engine.cli"]


class Server:
    """``nasnav serve`` in its own process, with an RSS sampler."""

    def __init__(self, cmd: list[str], log: Path) -> None:
        self.cmd, self.log = cmd, log
        env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
        with log.open("wb") as out:
            self.proc = subprocess.Popen(
                cmd, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT,
                # Ctrl+C's signal, even when this script runs in the background (a
                # shell then starts it with SIGINT ignored, and the server inherits that)
                preexec_fn=_default_sigint,
            )  # fmt: skip
        self.ps = psutil.Process(self.proc.pid)
        self.rss_max = 0
        self.rss_now = 0
        self._stop = threading.Event()
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._sampler.start()

    def _tree(self) -> list[psutil.Process]:
        try:
            return [self.ps, *self.ps.children(recursive=True)]
        except psutil.Error:
            return []

    def _sample(self) -> None:
        while True:
            rss = 0
            for p in self._tree():
                with contextlib.suppress(psutil.Error):
                    rss += p.memory_info().rss
            self.rss_now = rss
            self.rss_max = max(self.rss_max, rss)
            if self._stop.wait(1.0):
                return

    def cpu(self) -> float:
        """CPU seconds (user + system) of the process tree so far."""
        total = 0.0
        for p in self._tree():
            with contextlib.suppress(psutil.Error):
                t = p.cpu_times()
                total += t.user + t.system
        return total

    def tail(self, n: int = 30) -> str:
        lines = self.log.read_text(errors="replace").splitlines()
        return "\n".join(lines[-n:])

    def check(self) -> None:
        if self.proc.poll() is not None:
            raise RuntimeError(f"the server exited ({self.proc.returncode}):\n{self.tail()}")

    def wait_ready(self, base: str, *, timeout: float, layout_timeout: float) -> Page:
        """Wait for ``GET /`` to answer 200, then for the layout: the snapshot views,
        requested with the layout's defaults, no longer say they are computing it."""
        session = requests.Session()
        deadline = time.monotonic() + timeout
        while True:
            self.check()
            try:
                if session.get(base + "/", timeout=5).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"GET / did not answer 200 in {timeout:.0f} s:\n{self.tail()}")
            time.sleep(0.5)
        page = Page.fetch(session, base, timeout=30)
        views = page.dependents({VERSION})
        deadline = time.monotonic() + layout_timeout
        while True:
            self.check()
            pending = []
            for d in views:
                r = session.post(base + UPDATE, json=page.body(d, page.defaults, []), timeout=60)
                if r.status_code not in (200, 204):
                    raise RuntimeError(f"{page.name(d)}: HTTP {r.status_code}: {r.text[:300]}")
                if PENDING in r.text:
                    pending.append(page.name(d))
            if not pending:
                session.close()
                return page
            if time.monotonic() > deadline:
                raise RuntimeError(f"layout not ready in {layout_timeout:.0f} s ({pending})")
            time.sleep(2.0)

    def stop(self) -> dict[str, Any]:
        """SIGINT, then SIGKILL after 10 s."""
        t = time.monotonic()
        killed = False
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                killed = True
                self.proc.kill()
                self.proc.wait()
        self._stop.set()
        self._sampler.join()
        return {"stop_s": round(time.monotonic() - t, 2), "killed": killed,
                "exit_code": self.proc.returncode}  # fmt: skip


def _read_db(db: Path, wall0: float) -> dict[str, Any] | None:
    """The latest run, read-only: its id, status, candidates, when the first one was
    stored (seconds after ``wall0``, the Start press) and the supernet's last stored
    step (curve points are committed once per training block)."""
    try:
        con = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True, timeout=10)
        try:
            row = con.execute("SELECT id, status FROM runs ORDER BY id DESC LIMIT 1").fetchone()
            if row is None:
                return None
            n, first = con.execute(
                "SELECT COUNT(*), MIN(created) FROM candidates WHERE run_id = ?", (row[0],)
            ).fetchone()
            (step,) = con.execute(
                "SELECT MAX(step) FROM supernet_curve WHERE run_id = ?", (row[0],)
            ).fetchone()
        finally:
            con.close()
    except sqlite3.Error as exc:
        print(f"  reading {db} failed: {exc}", flush=True)
        return None
    return {
        "run_id": row[0], "run_status": row[1], "candidates": n, "source": "database",
        "first_candidate_s": None if first is None else round(first - wall0, 1),
        "supernet_step": step,
    }  # fmt: skip


def _press_start(page: Page, base: str, *, parallel: int, timeout: float) -> tuple[float, float]:
    """The teacher's tab: open the page (its initial callbacks, which may give the tab its
    identity), then click Start (the header's command callback with the tab's values);
    while Start is refused, poll once, wait a second and click again (5 tries). Returns
    the accepted click's latency (ms) and its ``time.monotonic()`` when sent."""
    rec = Recorder(math.inf)
    tab = Viewer(page, base, rec, threading.Event(), start_at=0.0, parallel=parallel,
                 timeout=timeout)  # fmt: skip
    dep = page.find(output=ALERT, input=START)
    try:
        tab.open_page()
        if rec.errors:
            raise RuntimeError(f"the teacher's page load failed: {rec.samples}")
        for attempt in range(1, 6):
            with tab.lock:
                tab.values[START] = attempt
                body = page.body(dep, tab.values, [f"{START[0]}.{START[1]}"])
            t, sent = time.perf_counter(), time.monotonic()
            r = tab.session.post(base + UPDATE, json=body, timeout=timeout)
            ms = 1000 * (time.perf_counter() - t)
            if r.status_code == 200 and '"error"' not in r.text:
                return ms, sent
            print(f"  Start refused (try {attempt}): HTTP {r.status_code}: {r.text[:200]}")
            tab.cascade([tab.poll], {POLL})
            time.sleep(1.0)
        raise RuntimeError("Start was refused 5 times")
    finally:
        tab.close()


def run_level(n: int, args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    """One level: a fresh server, Start, ``n`` viewers for ``--seconds``, stop."""
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    db = tmp / f"v{n}.db"
    cmd = [*_nasnav(), "serve", "--db", str(db), "--port", str(port), "--host", "127.0.0.1",
           "--cache-dir", str(args.cache_dir), "--threads", "1", "--layout", args.layout,
           *args.serve_arg]  # fmt: skip
    for item in ["budget=100000", *args.set]:
        cmd += ["--set", item]
    server = Server(cmd, tmp / f"v{n}.log")
    try:
        t_boot = time.monotonic()
        page = server.wait_ready(base, timeout=args.startup_timeout,
                                 layout_timeout=args.layout_timeout)  # fmt: skip
        boot_s = time.monotonic() - t_boot
        start_ms, t0 = _press_start(page, base, parallel=args.parallel, timeout=args.timeout)
        end = t0 + args.seconds
        wall0 = time.time() - (time.monotonic() - t0)
        rss_start = server.rss_now
        cpu0, client0 = server.cpu(), time.process_time()
        rec, stop = Recorder(end), threading.Event()
        now = time.monotonic()
        viewers = [
            Viewer(page, base, rec, stop, start_at=now + i / max(n, 1), parallel=args.parallel,
                   timeout=args.timeout)
            for i in range(n)
        ]  # fmt: skip
        for v in viewers:
            v.start()
        while time.monotonic() < end:
            server.check()
            time.sleep(min(1.0, max(0.0, end - time.monotonic())))
        counted = _read_db(db, wall0)
        cpu1, client1 = server.cpu(), time.process_time()
        stop.set()
        for v in viewers:
            v.join(args.timeout + 5)
    finally:
        stopped = server.stop()
    level: dict[str, Any] = {"viewers": n, "port": port, "boot_s": round(boot_s, 1)}
    level.update(run_id=None, candidates=None, run_status=None, source=None,
                 first_candidate_s=None, supernet_step=None)  # fmt: skip
    if counted is not None:
        level.update(counted)
    elif rec.status and (m := STATUS_RE.search(rec.status)):
        level.update(run_id=int(m[1]), candidates=int(m[3]), run_status=m[2],
                     source="status line")  # fmt: skip
    callbacks = rec.summary()
    level.update(
        start_ms=round(start_ms, 1),
        requests=sum(c["n"] for c in callbacks.values()),
        errors=sum(c["errors"] for c in callbacks.values()),
        error_samples=rec.samples,
        callbacks=callbacks,
        rss_start_mib=round(rss_start / MIB, 1),
        rss_max_mib=round(server.rss_max / MIB, 1),
        server_cpu_s=round(cpu1 - cpu0, 1),
        client_cpu_s=round(client1 - client0, 1),
        load1=round(os.getloadavg()[0], 2),
        skipped_callbacks=page.skipped,
        **stopped,
    )
    return level


# --------------------------------------------------------------------------- report


def render(result: dict[str, Any]) -> str:
    """The README's tables and caption, from the result file alone."""
    s = result["settings"]
    levels = result["levels"]
    base = next((lv["candidates"] for lv in levels if lv["viewers"] == 0), None)
    rows = []
    for lv in levels:
        c, first = lv["candidates"], lv.get("first_candidate_s")
        ratio = c / base if base and c is not None else None
        rows.append([
            lv["viewers"],
            "—" if c is None else f"{c}{'*' if lv['source'] == 'status line' else ''}",
            "—" if ratio is None else f"{ratio:.2f}",
            "—" if first is None else f"{first:.0f}",
            "—" if lv.get("supernet_step") is None else lv["supernet_step"],
            lv["requests"], lv["errors"], f"{lv['rss_max_mib']:.0f}",
            f"{lv['server_cpu_s']:.0f}", f"{lv['client_cpu_s']:.0f}",
        ])  # fmt: skip
    sec = s["seconds"]
    head = markdown_table(
        ["viewers", f"candidates in {sec:g} s", "throughput vs 0 viewers",
         "1st candidate at s", "supernet steps", "requests", "errors", "server max RSS MiB",
         "server CPU s", "load generator CPU s"], rows,
    )  # fmt: skip
    watched = [lv for lv in levels if lv["callbacks"]]
    names = list(dict.fromkeys(k for lv in watched for k in lv["callbacks"]))

    def cell(cb: dict[str, Any] | None) -> str:
        if not cb or not cb["n"]:
            return "—" if not cb else f"— ({cb['errors']} errors)"
        txt = f"{cb['p50']:.0f} / {cb['p95']:.0f} ({cb['n']:,})"
        return txt + (f", {cb['errors']} err" if cb["errors"] else "")

    lat = markdown_table(
        ["callback (first output)", *[f"{lv['viewers']} viewers" for lv in watched]],
        [[name, *[cell(lv["callbacks"].get(name)) for lv in watched]] for name in names],
    )
    loads = [lv["load1"] for lv in levels if lv.get("load1") is not None]
    text = (
        f"One fresh `nasnav serve` per row (settings: {', '.join(s['sets']) or 'defaults'}; "
        f"layout {s['layout']}; 1 torch thread), one run started with the page's defaults; "
        f"candidates evaluated in the {sec:g} s from the Start press (the server's "
        "database; * from the status line), against this run's row without viewers. The "
        "window includes the supernet warm-up before the first candidate (its time and "
        "the supernet's last stored step are in the table). Each viewer is a simulated "
        "browser tab on its own keep-alive session: it opens the page, polls at the "
        "period the page sets (1 s; the server slows a big room's poll), and on each new "
        "snapshot requests every snapshot view "
        f"({s['parallel']} at a time), as Dash's renderer does; viewers started within "
        "the first second. Latency cells: p50 / p95 ms (requests started in the window); "
        f"an error is an HTTP status other than 200/204, a failed connection or a "
        f"{s['timeout_s']:g} s timeout. The load generator ran on the same "
        f"{result['stamp'].get('cores', '?')} cores (its CPU seconds above)"
    )
    text += f"; 1-minute load {min(loads):.1f}–{max(loads):.1f}." if loads else "."
    return f"{head}\n\n{lat}\n\n{text}"


def main() -> None:
    first = (__doc__ or "").strip().splitlines()[0]
    ap = argparse.ArgumentParser(description=first)
    ap.add_argument("--viewers", default="0,1,5,10,20,30", help="levels, comma-separated")
    ap.add_argument("--seconds", type=float, default=120.0, help="window from Start")
    ap.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="forwarded to nasnav serve (after budget=100000)",
    )
    ap.add_argument(
        "--serve-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="another nasnav serve argument: --serve-arg=--dataset=synthetic",
    )
    ap.add_argument(
        "--cache-dir",
        type=Path,
        default=REPO / "data" / "cache",
        help="layout cache shared by the levels",
    )
    ap.add_argument("--layout", default="umap", choices=["umap", "pca"])
    ap.add_argument("--parallel", type=int, default=6, help="requests in flight per viewer")
    ap.add_argument("--timeout", type=float, default=10.0, help="request timeout (s)")
    ap.add_argument("--startup-timeout", type=float, default=180.0)
    ap.add_argument("--layout-timeout", type=float, default=1800.0)
    ap.add_argument("--name", default="viewers", help="result file name")
    args = ap.parse_args()
    levels = [int(v) for v in args.viewers.split(",") if v.strip()]
    if args.parallel < 1 or any(v < 0 for v in levels):
        ap.error("--parallel and --viewers must not be negative (--parallel at least 1)")
    stamp = run_stamp()
    print(f"viewers {levels}, {args.seconds:g} s each; commit {stamp['commit']}", flush=True)

    results = []
    with tempfile.TemporaryDirectory(prefix="nasnav-viewers-") as tmp:
        for n in levels:
            print(f"- {n} viewers: starting a server", flush=True)
            level = run_level(n, args, Path(tmp))
            results.append(level)
            print(f"  {level['candidates']} candidates ({level['source']}, run "
                  f"{level['run_status']}), {level['requests']} requests, "
                  f"{level['errors']} errors, max RSS {level['rss_max_mib']:.0f} MiB, "
                  f"server CPU {level['server_cpu_s']:.0f} s, stop {level['stop_s']} s"
                  + (" (killed)" if level["killed"] else ""), flush=True)  # fmt: skip
            for sample in level["error_samples"][:3]:
                print(f"    {sample}", flush=True)
    stamp["load1"] = round(os.getloadavg()[0], 2)
    result = {
        "settings": {
            "viewers": levels, "seconds": args.seconds, "sets": ["budget=100000", *args.set],
            "serve_args": args.serve_arg, "layout": args.layout, "parallel": args.parallel,
            "timeout_s": args.timeout, "poll_s": 1.0, "cache_dir": str(args.cache_dir),
        },
        "levels": results,
    }  # fmt: skip
    path = write_result(args.name, result, stamp=stamp)
    print(f"\n### Viewers, {args.name}\n")
    print(render(json.loads(path.read_text())))
    print(f"\nwrote {path.relative_to(REPO)}")


if __name__ == "__main__":
    main()
