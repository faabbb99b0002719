"""Shared figure pieces: the font, the base layout, the empty figure with a message."""

from __future__ import annotations

from typing import Any

FONT = {"family": "system-ui, sans-serif", "size": 12}


def _base_layout(**kw: Any) -> dict[str, Any]:
    lay = {
        "margin": {"l": 40, "r": 10, "t": 30, "b": 35},
        "font": FONT,
        "paper_bgcolor": "white",
        "plot_bgcolor": "white",
        "uirevision": "keep",
    }
    lay.update(kw)
    return lay


def empty_figure(message: str) -> dict[str, Any]:
    """A blank figure carrying a centred message."""
    return {
        "data": [],
        "layout": _base_layout(
            xaxis={"visible": False},
            yaxis={"visible": False},
            annotations=[
                {
                    "text": message,
                    "showarrow": False,
                    "font": {"size": 14},
                    "xref": "paper",
                    "yref": "paper",
                    "x": 0.5,
                    "y": 0.5,
                }
            ],
        ),
    }
