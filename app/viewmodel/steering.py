"""Data of the steering card: the mask per position, the chips coloured by each op's
effect with its interval, the evidence table, the suggestions and the history.

The effects and suggestions come from :func:`nas_engine.runner.evidence.run_evidence`,
the same function ``nasnav suggest`` and a search that accepts suggestions use.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from app.viewmodel.frame import is_oneshot_metric, metric_options
from app.viewmodel.positions import action_text, position_title, space_named
from nas_engine.evidence import OpEffect, Suggestion
from nas_engine.runner import Snapshot
from nas_engine.runner.evidence import ACCEPTED, Evidence, run_evidence
from nas_engine.search_spaces import SearchSpace
from nas_engine.strategies import STRATEGIES


@dataclass(frozen=True)
class EdgeView:
    """One position of the supernet graph under the mask.

    Args:
        edge: Position index.
        allowed: Ops the mask allows there.
        pinned: The pinned op, if any.
    """

    edge: int
    allowed: tuple[str, ...]
    pinned: str | None


@dataclass(frozen=True)
class ChipView:
    """One steering chip: the op's mask state and its effect on the chosen metric.

    Args:
        state: ``allowed``, ``pruned``, ``pinned`` or ``blocked``.
        delta: Effect as a fraction (percentile points / 100; ``nan`` = unknown).
        tip: Hover text.
        mark: ``sig-neg`` / ``sig-pos`` when the effect's interval excludes zero (below /
            above), else ``""``.
    """

    state: str
    delta: float
    tip: str
    mark: str = ""


@dataclass(frozen=True)
class GraphData:
    """Data of the supernet graph & steering view.

    Args:
        edges: One :class:`EdgeView` per position.
        chips: ``(position, op)`` → :class:`ChipView`.
        history: Latest steering events first, as ``(clock, text, note)``.
        metric: The metric the chips are coloured by (``None``: no data yet).
        evidence: The evidence behind the chips (``None``: nothing evaluated).
    """

    edges: tuple[EdgeView, ...]
    chips: Mapping[tuple[int, str], ChipView]
    history: tuple[tuple[str, str, str], ...]
    metric: str | None
    evidence: Evidence | None = None


#: While a run is running, the newest evidence of an earlier snapshot (same run, metric,
#: selection, mask and budget) stands in for the current one when it covers at least this
#: fraction of the current candidates.
STALE_FRACTION = 0.9


class _EvidenceCache:
    """The evidence per snapshot, metric and selection, so the chips, the table and the
    suggestions (and every viewer) share one computation.

    The evidence of a live run changes with every candidate and its bootstrap costs about
    a second at a thousand cells, so a poll that waited for it would wait at every
    snapshot. :meth:`get` with ``stale_ok`` returns at once with the newest evidence of
    the same ``family`` (run, metric, selection, mask, budget) when it covers at least
    :data:`STALE_FRACTION` of the current candidates, and computes the exact one on a
    background thread (one computation at a time, the newest snapshot asked for next,
    resting as long as each took); a later poll gets it. Anything else (a new mask,
    metric or selection, a run that is not running, no close enough evidence) is
    computed before returning.
    """

    def __init__(self, size: int = 16) -> None:
        self._lock = threading.Lock()
        self._items: OrderedDict[Any, Evidence] = OrderedDict()
        self._newest: dict[Any, tuple[int, Any]] = {}  # family → (candidates, key)
        self._pending: tuple[Any, Any, int, Callable[[], Evidence]] | None = None
        self._worker: threading.Thread | None = None
        self.size = size
        self.misses = 0  # computations, in the caller's thread or the background
        self.stale = 0  # answers from an earlier snapshot's evidence

    def get(
        self,
        key: Any,
        make: Callable[[], Evidence],
        *,
        family: Any = None,
        n: int = 0,
        stale_ok: bool = False,
    ) -> Evidence:
        """The evidence of ``key`` (``make`` computes it); see the class docstring.

        Args:
            key: The exact snapshot, metric and selection.
            make: Computes the evidence.
            family: What an earlier snapshot's evidence must share to stand in.
            n: Candidates of the snapshot (how far an earlier one may lag).
            stale_ok: Whether an earlier snapshot's evidence may stand in.
        """
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
            if stale_ok and family is not None:
                n_old, old = self._newest.get(family, (-1, None))
                if old in self._items and n_old >= STALE_FRACTION * n:
                    self.stale += 1
                    self._pending = (key, family, n, make)
                    if self._worker is None:
                        self._worker = threading.Thread(
                            target=self._work, name="evidence", daemon=True
                        )
                        self._worker.start()
                    return self._items[old]
        value = make()
        self._put(key, family, n, value)
        return value

    def _put(self, key: Any, family: Any, n: int, value: Evidence) -> None:
        with self._lock:
            self.misses += 1
            self._items[key] = value
            self._items.move_to_end(key)
            if family is not None and n >= self._newest.get(family, (-1, None))[0]:
                self._newest[family] = (n, key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)
            alive = set(self._items)
            for f in [f for f, (_, k) in self._newest.items() if k not in alive]:
                del self._newest[f]

    def _work(self) -> None:
        """Compute the newest pending evidence until none is left."""
        while True:
            with self._lock:
                job, self._pending = self._pending, None
                if job is None:
                    self._worker = None
                    return
                if job[0] in self._items:
                    continue
            key, family, n, make = job
            t0 = time.perf_counter()
            try:
                value = make()
            except Exception:  # the next request that waits for it raises it
                continue
            self._put(key, family, n, value)
            # rest as long as that took: at most half a core, so a poll loop that finds a
            # new snapshot every time does not starve the search itself
            time.sleep(time.perf_counter() - t0)

    def wait_idle(self, timeout: float = 60.0) -> bool:
        """Block until no background computation is running or pending (tests)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if self._worker is None and self._pending is None:
                    return True
            time.sleep(0.005)
        return False


EVIDENCE_CACHE = _EvidenceCache()


def snapshot_evidence(
    snap: Snapshot,
    space: SearchSpace[Any],
    *,
    metric: str,
    selection: Sequence[int] | None,
    stale_ok: bool = False,
) -> Evidence:
    """The evidence of a snapshot's cells on ``metric`` (over the lasso ``selection``).

    With ``stale_ok`` and a running run, an earlier snapshot's evidence may be returned
    while this one's is computed in the background (see :class:`_EvidenceCache`); its
    ``cells`` says how many cells it covers."""
    sel = tuple(sorted(int(i) for i in selection)) if selection else None
    key = (snap.run_id, snap.updated, len(snap.candidates), snap.mask_version, metric, sel)
    family = (snap.run_id, metric, sel, snap.mask, snap.budget, snap.config)
    kind = STRATEGIES.get(snap.config.strategy).fitness  # type: ignore[attr-defined]

    def make() -> Evidence:
        return run_evidence(
            snap.candidates, space, snap.mask, config=snap.config, fitness_kind=kind,
            metric=metric, fidelity=snap.search_fidelity, budget=snap.budget,
            costs=snap.costs, selection=sel, seed=snap.config.seed,
        )  # fmt: skip

    return EVIDENCE_CACHE.get(
        key, make, family=family, n=len(snap.candidates),
        stale_ok=stale_ok and snap.status == "running",
    )  # fmt: skip


#: A blocked chip's state in its tip (the op is neither pruned nor pinned, but the pin of
#: another op on its position excludes it).
BLOCKED_TIP = "blocked by the pin on this edge ({pinned} is pinned): unpin it to prune {op}"


def chip_tip(
    space: SearchSpace[Any],
    e: int,
    op: str,
    state: str,
    eff: OpEffect | None,
    *,
    pinned: str | None = None,
) -> str:
    """``e3 0→3 · avg_pool_3x3 · allowed · effect −18 percentile points, 95 % CI
    [−24, −12], n = 140`` (a position's note, e.g. its stride, follows its name). A
    ``blocked`` chip's tip names the position's ``pinned`` op that blocks it."""
    note = space.position_note(e)
    what = BLOCKED_TIP.format(pinned=pinned, op=op) if state == "blocked" else state
    tip = f"{position_title(space, e)}{f' ({note})' if note else ''} · {op} · {what}"
    if eff is not None and eff.n:
        tip += " · " + eff.describe()
        if eff.significant:
            tip += " (the interval excludes 0)"
    return tip


def graph_data(
    snap: Snapshot | None,
    df: pd.DataFrame,
    space: SearchSpace[Any],
    *,
    metric: str | None,
    selection: Sequence[int] | None = None,
    hide_truth: bool = False,
    history: int = 30,
    stale_ok: bool = False,
) -> GraphData:
    """Mask state per position, chips coloured by each op's effect, and the history.

    Args:
        snap: The snapshot (``None``: the full mask, nothing evaluated).
        df: Its candidates frame.
        space: The search space.
        metric: Requested chip metric (falls back to fitness when the run lacks it).
        selection: Cell indices (lasso): the evidence over these cells only.
        hide_truth: Classroom mode (ground truth is not a metric then).
        history: Number of latest events listed.
        stale_ok: While the run is running, the chips may show an earlier snapshot's
            evidence (same mask) while this one's is computed (see
            :func:`snapshot_evidence`); the mask and history are always this snapshot's.
    """
    mask = snap.mask if snap is not None else space.full_mask()
    opts = metric_options(df, hide_truth=hide_truth)
    metric = metric if metric in opts else ("fitness" if "fitness" in opts else None)
    ev = None
    if snap is not None and snap.candidates and metric is not None:
        ev = snapshot_evidence(snap, space, metric=metric, selection=selection, stale_ok=stale_ok)
    edges, chips = [], {}
    for e in range(space.num_edges):
        pinned = [op for op in space.ops if mask.state(e, op) == "pinned"]
        edges.append(EdgeView(e, tuple(mask.allowed(e)), pinned[0] if pinned else None))
        for op in space.ops:
            state = mask.state(e, op)
            eff = ev.effect(e, op) if ev is not None else None
            delta = eff.effect / 100 if eff is not None else math.nan
            mark = ""
            if eff is not None and eff.significant:
                mark = "sig-neg" if eff.effect < 0 else "sig-pos"
            tip = chip_tip(space, e, op, state, eff, pinned=mask.pinned[e])
            chips[(e, op)] = ChipView(state, delta, tip, mark)
    rows = []
    for event in reversed((snap.events if snap is not None else ())[-history:]):
        what = action_text(event.action, event.edge, event.op, space) + (
            f" {event.budget_after.describe()}" if event.action == "budget" else ""
        )
        who = getattr(event, "actor_name", "")  # who did it (a viewer's name), when known
        rows.append(
            (
                time.strftime("%H:%M:%S", time.localtime(event.time)),
                (f" {who}:" if who else "")
                + f" {what} → v{event.mask_version} ({event.mask_after.size():,} cells)",
                event.note,
            )
        )
    return GraphData(tuple(edges), chips, tuple(rows), metric, ev)


#: Columns of the evidence table.
EVIDENCE_COLUMNS = ("position", "op", "state", "n", "effect", "ci_low", "ci_high", "p", "sig")


def evidence_rows(
    ev: Evidence | None, space: SearchSpace[Any], snap: Snapshot | None
) -> list[dict[str, Any]]:
    """One row per position × op for the sortable evidence table (strongest first)."""
    if ev is None or snap is None:
        return []
    rows = []
    for e in ev.effects:
        ok = math.isfinite(e.effect)
        rows.append(
            {
                "position": position_title(space, e.position),
                "op": e.op,
                "state": snap.mask.state(e.position, e.op),
                "n": e.n,
                "effect": round(e.effect, 1) if ok else None,
                "ci_low": round(e.low, 1) if ok else None,
                "ci_high": round(e.high, 1) if ok else None,
                "p": float(f"{e.p:.2g}") if ok else None,
                "sig": "yes" if e.significant else "",
            }
        )
    rows.sort(key=lambda r: r["effect"] if r["effect"] is not None else math.inf)
    return rows


def evidence_caption(ev: Evidence | None, snap: Snapshot | None, metric: str | None) -> str:
    """What the chip colours and the table mean, with n and how far to trust them."""
    if ev is None or snap is None or metric is None:
        return "no evidence yet: the chips are coloured once candidates are evaluated"
    what = "the run's order (best first)" if metric == "fitness" else metric
    text = (
        f"effect on {what}, over {ev.cells} distinct cells: mean percentile with the op "
        "minus without it, in percentile points, with a 95 % bootstrap interval; "
        "▲/▼ = the interval excludes 0"
    )
    if is_oneshot_metric(snap, metric) and snap.config.supernet:
        text += f" · one-shot {snap.search_fidelity.label()}"
    return text


@dataclass(frozen=True)
class SuggestionsView:
    """What the suggestions panel shows.

    Args:
        items: ``(key, text)`` per suggestion offered (Accept / Dismiss each).
        message: A line above them (why none, hidden in teaching mode, your choice...).
        held: The suggestions to keep for the teaching reveal (JSON-ready dicts).
        hidden_from: Steering events seen when the suggestions were hidden (``None``:
            not hidden).
    """

    items: tuple[tuple[str, str], ...]
    message: str
    held: tuple[dict[str, Any], ...] = ()
    hidden_from: int | None = None


def suggestions_view(
    ev: Evidence | None,
    snap: Snapshot | None,
    *,
    dismissed: Sequence[str] = (),
    teach: bool = False,
    hidden_from: int | None = None,
    held: Sequence[dict[str, Any]] = (),
) -> SuggestionsView:
    """The suggestions panel, plain or in teaching mode.

    In teaching mode the suggestions stay hidden until the student steers: while no
    steering event is newer than ``hidden_from``, the panel says so and keeps the
    current suggestions (``held``); after the student's own action it reveals the held
    ones with their evidence, beside what the student did.

    Args:
        ev: The current evidence.
        snap: The snapshot.
        dismissed: Keys of the suggestions this viewer dismissed.
        teach: Teaching mode.
        hidden_from: Events seen when hiding began (``None``: start hiding now).
        held: The suggestions held while hidden.
    """
    if snap is None or ev is None:
        return SuggestionsView((), "no suggestions yet: start a run")
    current = [s for s in ev.suggestions if s.key not in set(dismissed)]
    n_events = len(snap.events)
    if teach:
        space = space_named(snap.config.space)  # the run's own, for its positions' names
        if hidden_from is None or hidden_from > n_events:
            hidden_from = n_events
        if n_events == hidden_from:  # still hidden: keep what the evidence says now
            held_now = tuple(_held(s, space) for s in ev.suggestions)
            return SuggestionsView(
                (), "suggestions are hidden until you make your own choice (prune or pin a "
                "chip); they are then revealed with their evidence", held_now, hidden_from,
            )  # fmt: skip
        mine = [action_text(e.action, e.edge, e.op, space) for e in snap.events[hidden_from:]]
        items = tuple((d["key"], d["note"]) for d in held if d["key"] not in set(dismissed))
        agreed = [d for d in held if any(d["what"] == w for w in mine)]
        msg = f"your choice: {'; '.join(mine)}. The evidence when you chose: " + (
            f"{len(held)} suggestion(s), {len(agreed)} matching yours"
            if held
            else "no suggestion (nothing passed the test)"
        )
        return SuggestionsView(items, msg, tuple(held), hidden_from)
    if current:
        msg = f"{len(current)} suggestion(s) on {ev.metric}; Accept steers like a chip click"
    else:
        msg = ev.note or (
            f"no suggestion: no allowed op trails the others clearly enough on {ev.metric} "
            f"({ev.cells} cells)"
        )
    return SuggestionsView(tuple((s.key, s.note()) for s in current), msg)


def _held(s: Suggestion, space: SearchSpace[Any]) -> dict[str, Any]:
    what = action_text(s.action, s.position, s.op, space)
    return {"key": s.key, "note": s.note(), "what": what}


def find_suggestion(ev: Evidence | None, key: str) -> Suggestion | None:
    """The current suggestion with ``key`` (``None`` when the evidence no longer
    supports it)."""
    if ev is None:
        return None
    return next((s for s in ev.suggestions if s.key == key), None)


__all__ = [
    "ACCEPTED",
    "EVIDENCE_COLUMNS",
    "ChipView",
    "EdgeView",
    "GraphData",
    "SuggestionsView",
    "evidence_caption",
    "evidence_rows",
    "find_suggestion",
    "graph_data",
    "snapshot_evidence",
    "suggestions_view",
]
