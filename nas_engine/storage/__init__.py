"""Persistence of search runs in SQLite (WAL mode).

Every write is its own committed transaction before the runner publishes it in a
snapshot, so a process killed at any moment (``kill -9``) loses nothing that was shown.
Candidates have a ``(run_id, seq)`` primary key, so one can never be counted twice. The
runner's random-generator state is committed in the same transaction as each candidate,
so a resumed run continues the very stream it was drawing from.
"""

from __future__ import annotations

import csv
import json
import math
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from nas_engine.steering import SteeringEvent

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    status TEXT NOT NULL,
    config TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS candidates (
    run_id INTEGER NOT NULL REFERENCES runs(id),
    seq INTEGER NOT NULL,
    arch TEXT NOT NULL,
    mask_version INTEGER NOT NULL,
    strategy TEXT NOT NULL,
    scores TEXT NOT NULL,
    proxy_seconds TEXT NOT NULL,
    fitness REAL,
    oneshot REAL,
    trained_acc REAL,
    truth REAL,
    error TEXT,
    created REAL NOT NULL,
    seconds REAL NOT NULL,
    PRIMARY KEY (run_id, seq)
);
CREATE TABLE IF NOT EXISTS events (
    run_id INTEGER NOT NULL REFERENCES runs(id),
    seq INTEGER NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (run_id, seq)
);
CREATE TABLE IF NOT EXISTS supernet_curve (
    run_id INTEGER NOT NULL REFERENCES runs(id),
    step INTEGER NOT NULL,
    time REAL NOT NULL,
    loss REAL NOT NULL,
    acc REAL NOT NULL,
    lr REAL NOT NULL,
    images_per_s REAL NOT NULL,
    PRIMARY KEY (run_id, step)
);
CREATE TABLE IF NOT EXISTS train_curves (
    run_id INTEGER NOT NULL REFERENCES runs(id),
    arch TEXT NOT NULL,
    epoch INTEGER NOT NULL,
    train_loss REAL NOT NULL,
    train_acc REAL NOT NULL,
    val_acc REAL NOT NULL,
    seconds REAL NOT NULL,
    PRIMARY KEY (run_id, arch, epoch)
);
CREATE TABLE IF NOT EXISTS rng_state (
    run_id INTEGER PRIMARY KEY REFERENCES runs(id),
    seq INTEGER NOT NULL,
    state TEXT NOT NULL
);
"""


class StorageError(ValueError):
    """Raised for an unknown run or an invalid write."""


def _num(v: float | None) -> float | None:
    return None if v is None or (isinstance(v, float) and not math.isfinite(v)) else float(v)


@dataclass(frozen=True)
class CandidateRecord:
    """One evaluated candidate, as stored and as shown.

    Args:
        seq: 0-based position in the run.
        arch: Canonical arch string.
        mask_version: Version of the mask in force when it was asked.
        strategy: Strategy that proposed it.
        scores: Proxy name → score (``nan`` when undefined).
        proxy_seconds: Proxy name → seconds.
        fitness: Fitness given to the strategy.
        oneshot: Supernet one-shot accuracy estimate (percent).
        trained_acc: Test accuracy after short training from scratch (percent).
        truth: Benchmark ground truth (percent), when known.
        error: Error message when scoring or evaluation failed.
        created: Unix time of the commit.
        seconds: Wall time of the evaluation.
    """

    seq: int
    arch: str
    mask_version: int
    strategy: str
    scores: Mapping[str, float]
    proxy_seconds: Mapping[str, float] = field(default_factory=dict)
    fitness: float | None = None
    oneshot: float | None = None
    trained_acc: float | None = None
    truth: float | None = None
    error: str | None = None
    created: float = 0.0
    seconds: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "scores", MappingProxyType(dict(self.scores)))
        object.__setattr__(self, "proxy_seconds", MappingProxyType(dict(self.proxy_seconds)))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (non-finite numbers become ``None``)."""
        return {
            "seq": self.seq,
            "arch": self.arch,
            "mask_version": self.mask_version,
            "strategy": self.strategy,
            "scores": {k: _num(v) for k, v in self.scores.items()},
            "proxy_seconds": dict(self.proxy_seconds),
            "fitness": _num(self.fitness),
            "oneshot": _num(self.oneshot),
            "trained_acc": _num(self.trained_acc),
            "truth": _num(self.truth),
            "error": self.error,
            "created": self.created,
            "seconds": self.seconds,
        }


@dataclass(frozen=True)
class RunInfo:
    """A stored run.

    Args:
        id: Run id.
        created: Unix time.
        updated: Unix time of the last status change.
        status: Last recorded status.
        config: The run's configuration.
    """

    id: int
    created: float
    updated: float
    status: str
    config: Mapping[str, Any]


class SQLiteStorage:
    """Runs, candidates, steering events and curves in one SQLite file (WAL mode).

    Thread safety: one connection guarded by a lock; every public method is atomic and
    may be called from any thread. Readers in other processes see committed data.

    Args:
        path: Database file (created with its folder if missing); ``":memory:"`` for tests.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).expanduser().parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.execute("PRAGMA busy_timeout=5000")
        with self._lock:
            self._db.executescript(SCHEMA)

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction under the lock: committed when the block ends, rolled
        back (and the error raised) when it fails."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def _write(self, sql: str, args: Iterable[Any] = ()) -> sqlite3.Cursor:
        with self._transaction() as db:
            return db.execute(sql, tuple(args))

    def _read(self, sql: str, args: Iterable[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            cur = self._db.execute(sql, tuple(args))
            cur.row_factory = sqlite3.Row  # type: ignore[assignment]
            return cur.fetchall()

    # ----------------------------------------------------------------------- runs
    def create_run(self, config: Mapping[str, Any]) -> int:
        """Store a new run with its configuration; return its id."""
        now = time.time()
        cur = self._write(
            "INSERT INTO runs (created, updated, status, config) VALUES (?, ?, ?, ?)",
            (now, now, "created", json.dumps(dict(config), sort_keys=True)),
        )
        return int(cur.lastrowid)  # type: ignore[arg-type]

    def discard_run(self, run_id: int) -> None:
        """Delete a run that holds nothing yet (no candidate, event or curve point); a run
        with data is refused with :class:`StorageError`."""
        with self._transaction() as db:
            for table in ("candidates", "events", "supernet_curve", "train_curves"):
                row = db.execute(
                    f"SELECT 1 FROM {table} WHERE run_id = ? LIMIT 1", (run_id,)
                ).fetchone()
                if row is not None:
                    raise StorageError(f"run {run_id} holds {table}; it is kept")
            db.execute("DELETE FROM rng_state WHERE run_id = ?", (run_id,))
            db.execute("DELETE FROM runs WHERE id = ?", (run_id,))

    def get_run(self, run_id: int) -> RunInfo:
        """Return a run, or raise :class:`StorageError` naming the known ids."""
        rows = self._read("SELECT * FROM runs WHERE id = ?", (run_id,))
        if not rows:
            known = [r.id for r in self.list_runs()]
            raise StorageError(f"no run {run_id} in {self.path}; runs: {known or 'none'}")
        r = rows[0]
        return RunInfo(r["id"], r["created"], r["updated"], r["status"], json.loads(r["config"]))

    def list_runs(self) -> list[RunInfo]:
        """All runs, oldest first."""
        return [
            RunInfo(r["id"], r["created"], r["updated"], r["status"], json.loads(r["config"]))
            for r in self._read("SELECT * FROM runs ORDER BY id")
        ]

    def set_status(self, run_id: int, status: str) -> None:
        """Record the run's status."""
        self._write(
            "UPDATE runs SET status = ?, updated = ? WHERE id = ?", (status, time.time(), run_id)
        )

    def update_config(self, run_id: int, config: Mapping[str, Any]) -> None:
        """Replace the stored configuration (e.g. after a strategy change)."""
        self._write(
            "UPDATE runs SET config = ?, updated = ? WHERE id = ?",
            (json.dumps(dict(config), sort_keys=True), time.time(), run_id),
        )

    # ----------------------------------------------------------------- candidates
    def add_candidate(
        self, run_id: int, c: CandidateRecord, *, rng_state: Mapping[str, Any] | None = None
    ) -> None:
        """Insert a candidate (committed on return). A duplicate ``seq`` is refused.

        Args:
            run_id: The run.
            c: The candidate.
            rng_state: The runner's generator state after drawing ``c`` (a numpy
                ``bit_generator.state``), stored in the same transaction.
        """
        row = (
            run_id,
            c.seq,
            c.arch,
            c.mask_version,
            c.strategy,
            json.dumps({k: _num(v) for k, v in c.scores.items()}),
            json.dumps(dict(c.proxy_seconds)),
            _num(c.fitness),
            _num(c.oneshot),
            _num(c.trained_acc),
            _num(c.truth),
            c.error,
            c.created,
            c.seconds,
        )
        try:
            with self._transaction() as db:
                db.execute("INSERT INTO candidates VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)", row)
                if rng_state is not None:
                    db.execute(
                        "INSERT OR REPLACE INTO rng_state VALUES (?, ?, ?)",
                        (run_id, c.seq, json.dumps(dict(rng_state))),
                    )
        except sqlite3.IntegrityError as exc:
            raise StorageError(f"run {run_id}: candidate {c.seq} already stored") from exc

    def rng_state(self, run_id: int) -> tuple[int, dict[str, Any]] | None:
        """``(seq, state)``: the generator state stored with the run's latest candidate
        (``None`` for a run without one, e.g. from before states were stored)."""
        rows = self._read("SELECT seq, state FROM rng_state WHERE run_id = ?", (run_id,))
        return (int(rows[0]["seq"]), json.loads(rows[0]["state"])) if rows else None

    def set_trained_acc(self, run_id: int, arch: str, acc: float) -> int:
        """Store a trained accuracy on every candidate row of ``arch``; return rows hit."""
        cur = self._write(
            "UPDATE candidates SET trained_acc = ? WHERE run_id = ? AND arch = ?",
            (float(acc), run_id, arch),
        )
        return int(cur.rowcount)

    def candidates(self, run_id: int) -> list[CandidateRecord]:
        """The run's candidates in order."""
        rows = self._read("SELECT * FROM candidates WHERE run_id = ? ORDER BY seq", (run_id,))
        out = []
        for r in rows:
            scores = {
                k: (math.nan if v is None else v) for k, v in json.loads(r["scores"]).items()
            }
            out.append(
                CandidateRecord(
                    seq=r["seq"],
                    arch=r["arch"],
                    mask_version=r["mask_version"],
                    strategy=r["strategy"],
                    scores=scores,
                    proxy_seconds=json.loads(r["proxy_seconds"]),
                    fitness=r["fitness"],
                    oneshot=r["oneshot"],
                    trained_acc=r["trained_acc"],
                    truth=r["truth"],
                    error=r["error"],
                    created=r["created"],
                    seconds=r["seconds"],
                )
            )
        return out

    # --------------------------------------------------------------------- events
    def add_event(self, run_id: int, event: SteeringEvent) -> None:
        """Insert a steering event (committed on return)."""
        self._write(
            "INSERT INTO events VALUES (?, ?, ?)",
            (run_id, event.seq, json.dumps(event.to_dict())),
        )

    def events(self, run_id: int) -> list[SteeringEvent]:
        """The run's steering events in order."""
        rows = self._read("SELECT body FROM events WHERE run_id = ? ORDER BY seq", (run_id,))
        return [SteeringEvent.from_dict(json.loads(r["body"])) for r in rows]

    # --------------------------------------------------------------------- curves
    def add_supernet_point(
        self, run_id: int, *, step: int, loss: float, acc: float, lr: float, images_per_s: float
    ) -> None:
        """Record a supernet training-curve point (a repeated step replaces the old one)."""
        self._write(
            "INSERT OR REPLACE INTO supernet_curve VALUES (?, ?, ?, ?, ?, ?, ?)",
            (run_id, step, time.time(), loss, acc, lr, images_per_s),
        )

    def supernet_curve(self, run_id: int) -> list[dict[str, float]]:
        """The supernet curve in step order."""
        rows = self._read(
            "SELECT step, time, loss, acc, lr, images_per_s FROM supernet_curve "
            "WHERE run_id = ? ORDER BY step",
            (run_id,),
        )
        return [dict(r) for r in rows]

    def add_train_point(
        self,
        run_id: int,
        arch: str,
        *,
        epoch: int,
        train_loss: float,
        train_acc: float,
        val_acc: float,
        seconds: float,
    ) -> None:
        """Record one epoch of a from-scratch training curve."""
        self._write(
            "INSERT OR REPLACE INTO train_curves VALUES (?, ?, ?, ?, ?, ?, ?)",
            (run_id, arch, epoch, train_loss, train_acc, val_acc, seconds),
        )

    def train_curves(self, run_id: int) -> dict[str, list[dict[str, float]]]:
        """Arch → epochs of its from-scratch training curve."""
        rows = self._read(
            "SELECT arch, epoch, train_loss, train_acc, val_acc, seconds FROM train_curves "
            "WHERE run_id = ? ORDER BY arch, epoch",
            (run_id,),
        )
        out: dict[str, list[dict[str, float]]] = {}
        for r in rows:
            d = dict(r)
            out.setdefault(d.pop("arch"), []).append(d)
        return out

    # --------------------------------------------------------------------- export
    def export_json(self, run_id: int, path: str | Path) -> None:
        """Write the whole run (config, candidates, events, curves) as JSON."""
        run = self.get_run(run_id)
        doc = {
            "run": {
                "id": run.id,
                "created": run.created,
                "status": run.status,
                "config": dict(run.config),
            },
            "candidates": [c.to_dict() for c in self.candidates(run_id)],
            "events": [e.to_dict() for e in self.events(run_id)],
            "supernet_curve": self.supernet_curve(run_id),
            "train_curves": self.train_curves(run_id),
        }
        Path(path).write_text(json.dumps(doc, indent=2))

    def export_csv(self, run_id: int, path: str | Path) -> None:
        """Write one row per candidate with every score flattened into columns."""
        self.get_run(run_id)
        cands = self.candidates(run_id)
        proxies = sorted({k for c in cands for k in c.scores})
        head = ["seq", "arch", "mask_version", "strategy", "fitness", "oneshot", "trained_acc",
                "truth", *proxies, "seconds", "error"]  # fmt: skip
        with Path(path).open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(head)
            for c in cands:
                d = c.to_dict()
                w.writerow(
                    [
                        c.seq,
                        c.arch,
                        c.mask_version,
                        c.strategy,
                        d["fitness"],
                        d["oneshot"],
                        d["trained_acc"],
                        d["truth"],
                        *[d["scores"].get(p) for p in proxies],
                        f"{c.seconds:.4f}",
                        c.error or "",
                    ]
                )
