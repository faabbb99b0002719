"""Steering: the user's prune/pin actions on the op mask and changes of the resource
budget, as an undoable event history."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from nas_engine.resources import ResourceBudget
from nas_engine.search_spaces import MaskError, OpMask

ACTIONS = ("prune", "pin", "unpin", "restore", "reset", "undo", "budget")
EDGE_ACTIONS = ("prune", "pin", "unpin", "restore")


@dataclass(frozen=True)
class SteeringEvent:
    """One accepted steering command.

    Args:
        seq: Position in the run's history (0-based).
        time: Unix time it was accepted.
        action: One of :data:`ACTIONS`.
        edge: Edge index, or ``None`` for reset/undo.
        op: Op name, or ``None``.
        note: The user's free-text note.
        mask_before: Mask before the action.
        mask_after: Mask after the action.
        mask_version: Version number of ``mask_after`` (increments by one per event).
        undoes: For an undo, the ``seq`` of the event it reverted.
        budget_before: Resource budget before the action (``None`` in runs older than
            budgets: unchanged).
        budget_after: Resource budget after it.
        actor: Stable identity of who steered (e.g. a browser tab's random id); ``""``
            when unattributed (CLI, notebook, runs older than actors).
        actor_name: Display name of the actor (e.g. ``"viewer 3"``), or ``""``.
    """

    seq: int
    time: float
    action: str
    edge: int | None
    op: str | None
    note: str
    mask_before: OpMask
    mask_after: OpMask
    mask_version: int
    undoes: int | None = None
    budget_before: ResourceBudget | None = None
    budget_after: ResourceBudget | None = None
    actor: str = ""
    actor_name: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "seq": self.seq,
            "time": self.time,
            "action": self.action,
            "edge": self.edge,
            "op": self.op,
            "note": self.note,
            "mask_before": self.mask_before.to_dict(),
            "mask_after": self.mask_after.to_dict(),
            "mask_version": self.mask_version,
            "undoes": self.undoes,
            "budget_before": _budget_dict(self.budget_before),
            "budget_after": _budget_dict(self.budget_after),
            "actor": self.actor,
            "actor_name": self.actor_name,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SteeringEvent:
        """Inverse of :meth:`to_dict`."""
        return cls(
            seq=int(d["seq"]),
            time=float(d["time"]),
            action=str(d["action"]),
            edge=None if d["edge"] is None else int(d["edge"]),
            op=d["op"],
            note=d.get("note") or "",
            mask_before=OpMask.from_dict(d["mask_before"]),
            mask_after=OpMask.from_dict(d["mask_after"]),
            mask_version=int(d["mask_version"]),
            undoes=d.get("undoes"),
            budget_before=_budget(d.get("budget_before")),
            budget_after=_budget(d.get("budget_after")),
            actor=str(d.get("actor") or ""),
            actor_name=str(d.get("actor_name") or ""),
        )

    def touches(self, other: SteeringEvent) -> bool:
        """Whether this event and ``other`` act on the same thing: the same edge (or any
        edge, when either is a reset) or the resource budget."""
        if self.action == "budget" or other.action == "budget":
            return self.action == other.action
        if "reset" in (self.action, other.action):
            return True
        return self.edge is not None and self.edge == other.edge

    def describe(self) -> str:
        """Short wording of the action, e.g. ``"prune on edge 3"``."""
        if self.action == "budget":
            return "budget change"
        if self.action in EDGE_ACTIONS:
            return f"{self.action} on edge {self.edge}"
        return self.action

    def owner(self) -> str:
        """Possessive wording of the actor, e.g. ``"viewer 2's"`` or ``"an unattributed"``."""
        name = self.actor_name or self.actor
        return f"{name}'s" if name else "an unattributed"


def _budget_dict(b: ResourceBudget | None) -> dict[str, Any] | None:
    return None if b is None else b.to_dict()


def _budget(d: dict[str, Any] | None) -> ResourceBudget | None:
    return None if d is None else ResourceBudget.from_dict(d)


class Steering:
    """Applies steering commands to a mask and a resource budget, and keeps the history.

    Thread safety: not locked; the search session serialises access.

    Args:
        mask: Initial mask.
        events: Earlier events (when resuming a run).
        budget: Initial resource budget.
        check: Called with ``(mask, budget)`` before an action is accepted; it raises
            (e.g. :class:`~nas_engine.resources.BudgetError`) when no cell would be left.
    """

    def __init__(
        self,
        mask: OpMask,
        events: tuple[SteeringEvent, ...] = (),
        *,
        budget: ResourceBudget | None = None,
        check: Callable[[OpMask, ResourceBudget], object] | None = None,
    ) -> None:
        self.initial = mask
        self.events: list[SteeringEvent] = list(events)
        self.mask = events[-1].mask_after if events else mask
        self.version = events[-1].mask_version if events else 0
        self.budget = budget or ResourceBudget()
        for e in self.events:
            if e.budget_after is not None:
                self.budget = e.budget_after
        self.check = check
        # seqs (in order) of the events an undo may still revert: not undos, not undone
        self._undoable: list[int] = []
        for e in self.events:
            if e.action != "undo":
                self._undoable.append(e.seq)
            elif e.undoes in self._undoable:
                self._undoable.remove(e.undoes)

    def preview(
        self,
        action: str,
        edge: int | None = None,
        op: str | None = None,
        *,
        actor: str = "",
        actor_name: str = "",
    ) -> OpMask:
        """Return the mask the action would produce, or raise :class:`MaskError`.

        A prune, pin or restore that would leave the edge's allowed ops as they are (an op
        the edge's pin already excludes, a pin on the edge's only allowed op) is refused
        with the reason, so no event records a change that changes nothing.
        ``actor``/``actor_name`` matter for ``undo`` only (see :meth:`apply`).
        """
        m = self.mask
        if action == "budget":
            return m
        if action == "prune":
            return m.prune(_edge(edge), _op(op))
        if action == "pin":
            after = m.pin(_edge(edge), _op(op))
            if after.allowed(_edge(edge)) == m.allowed(_edge(edge)):
                raise MaskError(
                    f"edge {edge}: {op!r} is already the only op allowed there; nothing to pin"
                )
            return after
        if action == "unpin":
            return m.unpin(_edge(edge))
        if action == "restore":
            return m.restore(_edge(edge), _op(op))
        if action == "reset":
            if m.is_full:
                raise MaskError("nothing to reset: the mask already allows every op")
            return m.reset()
        if action == "undo":
            return self._reverted(self._undo_target(actor, actor_name))[0]
        raise MaskError(f"unknown steering action {action!r}; use one of {', '.join(ACTIONS)}")

    def apply(
        self,
        action: str,
        edge: int | None = None,
        op: str | None = None,
        *,
        note: str = "",
        now: float | None = None,
        budget: ResourceBudget | None = None,
        actor: str = "",
        actor_name: str = "",
    ) -> SteeringEvent:
        """Apply a command and record it.

        An ``undo`` with an ``actor`` reverts that actor's own latest event that is not
        undone yet; without one it reverts anyone's latest. Only the undone event's edge
        (its whole mask for a reset, the budget for a budget change) is restored; the rest
        stays as it is now. It is refused while a later, not undone event of another actor
        acts on the same edge (any edge for a reset) or budget.

        Args:
            action: One of :data:`ACTIONS`.
            edge: Edge index (prune/pin/unpin/restore).
            op: Op name (prune/pin/restore).
            note: Optional free-text note.
            now: Timestamp (default: now).
            budget: The new resource budget (``budget`` action only).
            actor: Stable identity of who steers (``""``: unattributed).
            actor_name: Display name of the actor, used in messages and the history.

        Returns:
            The new :class:`SteeringEvent`.

        Raises:
            MaskError: The action is refused (the reason is in the message).
        """
        undoes: int | None = None
        if action == "undo":
            target = self._undo_target(actor, actor_name)
            after, new_budget = self._reverted(target)
            undoes = target.seq
        else:
            after = self.preview(action, edge, op)
            new_budget = self._budget_after(action, budget)
        if action == "budget" and new_budget == self.budget:
            raise MaskError(f"the resource budget is already {self.budget.describe()}")
        if self.check is not None:
            self.check(after, new_budget)  # refuses a mask and budget that leave no cell
        if undoes is not None:
            self._undoable.remove(undoes)
        self.version += 1
        event = SteeringEvent(
            seq=len(self.events),
            time=time.time() if now is None else now,
            action=action,
            edge=edge if action not in ("reset", "undo", "budget") else None,
            op=op if action in ("prune", "pin", "restore") else None,
            note=str(note or ""),
            mask_before=self.mask,
            mask_after=after,
            mask_version=self.version,
            undoes=undoes,
            budget_before=self.budget,
            budget_after=new_budget,
            actor=str(actor or ""),
            actor_name=str(actor_name or ""),
        )
        if action != "undo":
            self._undoable.append(event.seq)
        self.events.append(event)
        self.mask = after
        self.budget = new_budget
        return event

    def _budget_after(self, action: str, budget: ResourceBudget | None) -> ResourceBudget:
        if action == "budget":
            if budget is None:
                raise MaskError("the budget action needs a resource budget")
            return budget
        return self.budget

    def _undo_target(self, actor: str, actor_name: str) -> SteeringEvent:
        """The event an undo by ``actor`` reverts; raises :class:`MaskError` if none or if
        a later event of another actor acts on the same thing."""
        if not self._undoable:
            raise MaskError("nothing to undo")
        if not actor:
            return self.events[self._undoable[-1]]  # anyone's latest: nothing comes after
        mine = [s for s in self._undoable if self.events[s].actor == actor]
        if not mine:
            raise MaskError(
                f"nothing of yours to undo ({actor_name or actor}); "
                "other viewers' actions are theirs to undo"
            )
        target = self.events[mine[-1]]
        for s in self._undoable:
            later = self.events[s]
            if s > target.seq and later.actor != target.actor and later.touches(target):
                raise MaskError(
                    f"{later.owner()} {later.describe()} came after your "
                    f"{target.describe()}; it must be undone first"
                )
        return target

    def _reverted(self, target: SteeringEvent) -> tuple[OpMask, ResourceBudget]:
        """Mask and budget with ``target`` reverted against the current state."""
        if target.action == "budget":
            before = target.budget_before
            return self.mask, self.budget if before is None else before
        if target.action == "reset":
            return target.mask_before, self.budget
        return self.mask.with_edge_from(target.mask_before, _edge(target.edge)), self.budget


def _edge(edge: int | None) -> int:
    if edge is None:
        raise MaskError("this action needs an edge")
    return edge


def _op(op: str | None) -> str:
    if op is None:
        raise MaskError("this action needs an op")
    return op
