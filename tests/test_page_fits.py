"""The page fits the window: no horizontal scroll at 1600, 1280 and 1024 px (headless
Chromium), with a run's tables and figures filled in, and the run controls in view."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import pytest
from dash.testing.errors import TestingTimeoutError
from dash.testing.wait import until

from app import ids
from app.views import progress
from tests.app_helpers import make_controller
from tests.test_app_browser import PACE_S, _serve, _start

pytestmark = [pytest.mark.browser, pytest.mark.slow]

#: The page's width, the viewport's, and the widest elements past the viewport's right
#: edge (the offenders, named by tag, id and class) that no scrolling box clips.
_MEASURE = """
const vw = document.documentElement.clientWidth;
const name = e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '')
    + (typeof e.className === 'string' && e.className
       ? '.' + e.className.trim().split(/\\s+/).join('.') : '');
const clipped = e => {
    for (let p = e.parentElement; p && p !== document.body; p = p.parentElement) {
        const o = getComputedStyle(p).overflowX;
        if (o !== 'visible') return true;
    }
    return false;
};
const over = [...document.body.querySelectorAll('*')]
    .map(e => [e, e.getBoundingClientRect()])
    .filter(([e, r]) => r.width > 0 && r.right > vw + 1 && !clipped(e))
    .sort((a, b) => b[1].width - a[1].width)
    .slice(0, 8)
    .map(([e, r]) => name(e) + ' ' + Math.round(r.left) + '..' + Math.round(r.right));
const figs = [...document.querySelectorAll('.dash-graph')]
    .map(g => [g, g.querySelector('.main-svg')])
    .filter(([g, svg]) => svg && svg.getBoundingClientRect().width > g.clientWidth + 1)
    .map(([g, svg]) => name(g) + ' ' + Math.round(svg.getBoundingClientRect().width)
         + ' in ' + g.clientWidth);
return {page: document.documentElement.scrollWidth, viewport: vw,
        inner: window.innerWidth, over: over, figs: figs};
"""


def _fits(duo: Any, width: int) -> dict[str, Any]:
    """Resize the window to ``width`` px, let the page settle, and measure it."""
    duo.driver.set_window_size(width, 900)
    until(lambda: duo.driver.execute_script("return window.innerWidth") <= width, 10)
    # plotly figures follow the window on its resize event: give them a moment
    duo.driver.execute_script("window.dispatchEvent(new Event('resize'));")
    sizes: dict[str, Any] = {}

    def settled() -> bool:
        sizes.update(duo.driver.execute_script(_MEASURE))
        return sizes["page"] <= sizes["viewport"] and not sizes["over"] and not sizes["figs"]

    with contextlib.suppress(TestingTimeoutError):  # the asserts report what overflows
        until(settled, 5)
    return sizes


def _start_in_view(duo: Any) -> bool:
    """The Start button is shown, inside the viewport, and the element at its centre."""
    return duo.driver.execute_script(
        """const b = document.getElementById(arguments[0]);
        const r = b.getBoundingClientRect();
        const x = r.left + r.width / 2, y = r.top + r.height / 2;
        return r.width > 0 && r.left >= 0 && r.right <= document.documentElement.clientWidth
            && document.elementFromPoint(x, y) === b;""",
        ids.START,
    )


def test_the_page_fits_1600_1280_and_1024_px(dash_duo: Any, tmp_path: Path) -> None:
    served = _serve(dash_duo, make_controller(tmp_path, pace_s=PACE_S))
    duo, controller = next(served)
    duo.driver.set_window_size(1280, 900)
    _start(duo, controller, min_n=4)
    controller.pause()
    # the views filled in: candidates in the best table, points in the progress figure
    until(lambda: len(duo.find_elements(f"#{progress.BEST_TABLE} td")) >= 4, 30)
    until(lambda: len(duo.find_elements(f"#{progress.PROGRESS} .scatterlayer .trace")) >= 1, 30)
    for width in (1600, 1280, 1024):
        sizes = _fits(duo, width)
        assert sizes["page"] <= sizes["viewport"], (width, sizes)  # no sideways scroll
        assert not sizes["over"], (width, sizes)  # nothing past the right edge
        assert not sizes["figs"], (width, sizes)  # no figure wider than its box
        duo.driver.execute_script("window.scrollTo(0, 0);")
        assert _start_in_view(duo), width  # the run controls stay usable
        # the name box keeps a usable width in the wrapped header (it shrank to 34 px)
        name_w = duo.find_element(f"#{ids.VIEWER_NAME}").size["width"]
        assert name_w >= 120, (width, name_w)
    next(served, None)  # no console errors; closes the controller
