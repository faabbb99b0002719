"""Building a run's search strategy from its configuration and evaluated history."""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

from nas_engine.runner.config import SearchConfig
from nas_engine.search_spaces import OpMask, SearchSpace
from nas_engine.storage import CandidateRecord
from nas_engine.strategies import STRATEGIES, Strategy, create_strategy


def make_strategy(
    name: str,
    space: SearchSpace[Any],
    config: SearchConfig,
    *,
    history: Sequence[CandidateRecord],
    mask: OpMask,
) -> Strategy:
    """Create strategy ``name``, restored from the evaluated history, under ``mask``.

    Args:
        name: Strategy name.
        space: The search space.
        config: Gives the population and tournament sizes (passed where accepted).
        history: Candidates evaluated so far (failed ones are skipped).
        mask: The mask in force.

    Returns:
        The strategy, ready to ask.
    """
    params = inspect.signature(STRATEGIES.get(name)).parameters
    kw = {
        k: v
        for k, v in {
            "population_size": config.population_size,
            "sample_size": min(config.sample_size, config.population_size),
        }.items()
        if k in params
    }
    strat = create_strategy(name, space, **kw)
    strat.restore([(space.from_string(c.arch), c.fitness) for c in history if c.error is None])
    strat.on_mask_change(mask)
    return strat
