"""Building a run's search strategy from its configuration and evaluated history."""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

from nas_engine.resources import Region
from nas_engine.runner.config import SearchConfig
from nas_engine.search_spaces import OpMask, SearchSpace
from nas_engine.storage import CandidateRecord
from nas_engine.strategies import STRATEGIES, Scorer, Strategy, create_strategy


def make_strategy(
    name: str,
    space: SearchSpace[Any],
    config: SearchConfig,
    *,
    history: Sequence[CandidateRecord],
    mask: OpMask | Region,
    scorer: Scorer | None = None,
) -> Strategy:
    """Create strategy ``name``, restored from the evaluated history, under ``mask``.

    Args:
        name: Strategy name.
        space: The search space.
        config: Gives the population and tournament sizes (passed where accepted).
        history: Candidates evaluated so far (failed ones are skipped).
        mask: The region (or bare mask) in force.
        scorer: The cheap proxy, handed over when warm-up or move proposal is on.

    Returns:
        The strategy, ready to ask.
    """
    params = inspect.signature(STRATEGIES.get(name)).parameters
    kw = {
        k: v
        for k, v in {
            "population_size": config.population_size,
            "sample_size": min(config.sample_size, config.population_size),
            "warmup": config.warmup,
            "move_p": config.move_p,
        }.items()
        if k in params
    }
    strat = create_strategy(name, space, **kw)
    strat.restore([(space.from_string(c.arch), c.fitness) for c in history if c.error is None])
    strat.on_mask_change(mask)
    if config.warmup or config.move_p is not None:
        strat.set_scorer(scorer)
    return strat
