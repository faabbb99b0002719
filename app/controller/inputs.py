"""Type checks of the values the browser sends: the controller's first line of defence.

A Dash callback hands the controller whatever the request body held: a crafted request can
put a JSON object, a list, ``null``, a non-finite number (Python's ``json`` reads
``1e309`` as ``inf`` and accepts ``NaN``) or a megabyte of text where a name belongs.
Each helper here either returns the value in the type the engine expects or raises
:class:`InputError` with a short message naming the field, which the page shows on its
alert line, so no such value reaches the engine to end as a 500 and a traceback.
"""

from __future__ import annotations

import math
from numbers import Integral, Real
from typing import Any

#: Longest name (strategy, proxy, metric, action, op) accepted.
MAX_NAME = 100
#: Longest architecture string accepted (the longest cell of any space is far shorter).
MAX_ARCH = 2_000
#: Longest steering note accepted (suggestion notes carry their evidence: a few hundred).
MAX_NOTE = 10_000
#: Longest text a number may be given as.
MAX_NUMBER_TEXT = 40


class InputError(ValueError):
    """Bad input from the UI; the message is shown to the user and nothing changes."""


def kind(value: Any) -> str:
    """A few words on what ``value`` is, for a message that must stay short whatever the
    value (a huge string is described by its length, never echoed)."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return f"a yes/no value ({value})"
    if isinstance(value, str):
        return f"{len(value):,} characters of text" if len(value) > 40 else repr(value)
    if isinstance(value, float) and not math.isfinite(value):
        return f"a non-finite number ({value})"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list | tuple):
        return "a list"
    text = repr(value)
    return f"a {type(value).__name__}" if len(text) > 40 else text


def name(what: str, value: Any, *, optional: bool = False) -> str | None:
    """A short name (``None`` allowed only when ``optional``).

    Raises:
        InputError: Not text, blank, or longer than :data:`MAX_NAME`.
    """
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_NAME:
        raise InputError(f"{what} must be a name, got {kind(value)}")
    return value


def text(what: str, value: Any, *, limit: int = MAX_NOTE) -> str:
    """Free text (``None``: empty), at most ``limit`` characters.

    Raises:
        InputError: Not text, or too long.
    """
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InputError(f"{what} must be text, got {kind(value)}")
    if len(value) > limit:
        raise InputError(f"{what} is too long ({len(value):,} characters; at most {limit:,})")
    return value


def whole(what: str, value: Any, *, optional: bool = False) -> int | None:
    """A whole number given as an int (not a bool) or as decimal text.

    Raises:
        InputError: Anything else (``None`` unless ``optional``).
    """
    if value is None and optional:
        return None
    if isinstance(value, Integral) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, str) and len(value) <= MAX_NUMBER_TEXT:
        t = value.strip()
        if t.isascii() and t.lstrip("-").isdigit():
            return int(t)
    raise InputError(f"{what} must be a whole number, got {kind(value)}")


def number_field(what: str, value: Any) -> Any:
    """A number field's raw value, checked for type only: ``None``, a finite int or float
    (not a bool), or short text (the caller parses it and judges its value).

    Raises:
        InputError: Any other type, a non-finite number, or text longer than
            :data:`MAX_NUMBER_TEXT`.
    """
    if value is None:
        return None
    if isinstance(value, Real) and not isinstance(value, bool):
        if not math.isfinite(float(value)):
            raise InputError(f"{what} must be a finite number, got {kind(value)}")
        return value
    if isinstance(value, str) and len(value) <= MAX_NUMBER_TEXT:
        return value
    raise InputError(f"{what} must be a number or blank, got {kind(value)}")


def arch_text(value: Any) -> str:
    """An architecture string as typed or stored by the page.

    Raises:
        InputError: Not text, blank, or longer than :data:`MAX_ARCH`.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        raise InputError("enter an architecture string")
    if not isinstance(value, str) or len(value) > MAX_ARCH:
        raise InputError(f"an architecture must be a string, got {kind(value)}")
    return value.strip()
