"""Who may steer: read-only classrooms, a steering token, and each viewer's identity.

A page served beyond this machine (``nasnav serve --host 0.0.0.0``) is open to a whole
room, so :func:`check_exposure` refuses to serve it without either ``--read-only``
(everyone watches, nobody steers) or a steering token. Every steering callback (steer,
start, stop, train, budgets, whole-space scoring) asks :meth:`Access.viewer` first; a
viewer without the right token gets the reason in the alert line and nothing changes.

Each browser tab gets its own identity (a random key kept in the tab's session storage
and a default name, "viewer 3"), so undo reverts a viewer's own action and the history
shows who did what.
"""

from __future__ import annotations

import hmac
import ipaddress
import itertools
import secrets
import threading
from dataclasses import dataclass
from typing import Any

from app.controller import InputError

#: Longest accepted viewer name and token (longer ones are refused, not truncated).
MAX_NAME = 40
MAX_TOKEN = 200

LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


@dataclass(frozen=True)
class Viewer:
    """One browser tab's identity.

    Args:
        key: Stable random key of the tab (what undo matches on).
        name: Display name in the history ("viewer 3" unless the viewer typed one).
    """

    key: str
    name: str


def is_loopback(host: str) -> bool:
    """Whether ``host`` only listens on this machine (127.0.0.0/8, ::1, localhost)."""
    if host.strip().lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve beyond this machine


class Access:
    """The serve-wide steering policy and the viewer numbering.

    Args:
        read_only: Nobody may steer, start, stop or train.
        token: The steering token (``None``: no token needed).
    """

    def __init__(self, *, read_only: bool = False, token: str | None = None) -> None:
        if token is not None and not token.strip():
            raise InputError("the steering token must not be blank")
        self.read_only = read_only
        self.token = token
        self._numbers = itertools.count(1)
        self._lock = threading.Lock()

    @property
    def needs_token(self) -> bool:
        """Whether the page asks for a token before steering."""
        return self.token is not None and not self.read_only

    def new_viewer(self) -> dict[str, str]:
        """A new tab's identity, as stored in its session store."""
        with self._lock:
            n = next(self._numbers)
        return {"key": secrets.token_hex(8), "name": f"viewer {n}"}

    def viewer(self, store: Any, name: Any = None, token: Any = None) -> Viewer:
        """The steering viewer, or a refusal.

        Args:
            store: The tab's identity store (``{"key", "name"}``).
            name: The optional name the viewer typed.
            token: The token the viewer typed.

        Raises:
            InputError: Read-only, a missing or wrong token, or a malformed identity or
                name (the reason is in the message).
        """
        if self.read_only:
            raise InputError("this page is read-only: you can watch, but not steer")
        if self.token is not None:
            if not isinstance(token, str) or not token:
                raise InputError("steering needs the token: type it in the header's token box")
            if len(token) > MAX_TOKEN or not hmac.compare_digest(
                token.encode("utf-8", "replace"), self.token.encode("utf-8")
            ):
                raise InputError("wrong steering token: nothing was changed")
        key, default = _identity(store)
        if name is not None and not isinstance(name, str):
            raise InputError("the viewer name must be text")
        shown = (name or "").strip()
        if len(shown) > MAX_NAME:
            raise InputError(f"the viewer name is longer than {MAX_NAME} characters")
        return Viewer(key=key, name=shown or default)


def _identity(store: Any) -> tuple[str, str]:
    """The key and default name of a tab's identity store."""
    if not isinstance(store, dict):
        raise InputError("this tab has no identity yet; wait a second and try again")
    key, name = store.get("key"), store.get("name")
    if not (isinstance(key, str) and 8 <= len(key) <= 64 and key.isalnum()):
        raise InputError("this tab's identity is malformed; reload the page")
    if not (isinstance(name, str) and 0 < len(name) <= MAX_NAME):
        name = "viewer"
    return key, name


def check_exposure(host: str, *, read_only: bool, token: str | None) -> None:
    """Refuse to serve a steerable page beyond this machine without a token.

    Raises:
        InputError: ``host`` is not loopback and neither ``read_only`` nor ``token``.
    """
    if is_loopback(host) or read_only or token:
        return
    raise InputError(
        f"--host {host} serves the page beyond this machine, where anyone who can reach it "
        "could steer: add --read-only (everyone watches) or --token TOKEN (or NASNAV_TOKEN) "
        "so that only viewers with the token can steer"
    )
