"""Issue #13's steering and budget points: the header's budget box is usable, a steering
note is used once, and an op a pin excludes looks blocked and cannot be pruned again."""

from __future__ import annotations

import pytest

from app import ids
from tests.test_app_browser import served  # noqa: F401  (the served app fixture)


@pytest.mark.browser
@pytest.mark.slow
def test_budget_box_is_wide_enough_to_read_and_click(served) -> None:  # noqa: F811
    duo, _controller = served
    box = duo.find_element(f"#{ids.BUDGET}")
    assert box.size["width"] >= 80, box.size
    label = duo.driver.execute_script("return arguments[0].closest('label').innerText", box)
    assert label.strip().startswith("budget (candidates)")
    # a click on the middle of the box lands on the input, not on its container
    hit = duo.driver.execute_script(
        "const r = arguments[0].getBoundingClientRect();"
        "return document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2).id",
        box,
    )
    assert hit == ids.BUDGET
