"""Search strategies with an ask/tell interface behind a registry.

Each strategy proposes one candidate at a time (``ask``) under the mask in force *at that
moment*, and learns its fitness afterwards (``tell``), so a new mask takes effect on the
very next candidate. ``on_mask_change`` drops population members the new mask forbids,
so they are never used as parents and never evaluated again.
"""

from __future__ import annotations

import abc
import math
from collections import deque
from collections.abc import Iterable
from typing import Any, ClassVar

import numpy as np

from nas_engine.registry import Registry
from nas_engine.search_spaces import OpMask, SearchSpace

STRATEGIES: Registry[Strategy] = Registry("strategy")


def _fit(v: float | None) -> float:
    return -math.inf if v is None or not math.isfinite(v) else float(v)


class Strategy(abc.ABC):
    """Ask/tell search strategy.

    Contract: ``ask`` returns a cell the given mask allows; ``tell`` receives the fitness
    (higher is better; ``None``/``nan`` for a failed candidate). ``fitness`` names what the
    runner must supply: ``"proxy"`` (the chosen proxy or ensemble) or ``"oneshot"`` (the
    supernet's accuracy estimate). Not thread-safe: the runner thread owns it.

    Args:
        space: The search space.
    """

    name: ClassVar[str]
    description: ClassVar[str]
    fitness: ClassVar[str] = "proxy"

    def __init__(self, space: SearchSpace[Any]) -> None:
        self.space = space

    @abc.abstractmethod
    def ask(self, mask: OpMask, rng: np.random.Generator) -> Any:
        """Propose the next candidate inside ``mask``."""

    def tell(self, arch: Any, fitness: float | None) -> None:  # noqa: B027 - optional hook
        """Record the fitness of an evaluated candidate."""

    def on_mask_change(self, mask: OpMask) -> int:
        """Drop members the new mask forbids; return how many were dropped."""
        return 0

    def restore(self, history: Iterable[tuple[Any, float | None]]) -> None:
        """Rebuild internal state from the evaluated candidates, in order (for resume)."""
        for arch, fit in history:
            self.tell(arch, fit)


@STRATEGIES.register("random")
class RandomSearch(Strategy):
    """Uniform sampling among the cells the mask allows."""

    name = "random"
    description = "Uniform random sampling inside the mask"

    def ask(self, mask: OpMask, rng: np.random.Generator) -> Any:
        return self.space.sample(rng, mask)


class _Population(Strategy):
    def __init__(self, space: SearchSpace[Any], *, population_size: int = 20) -> None:
        super().__init__(space)
        if population_size < 2:
            raise ValueError("population_size must be >= 2")
        self.population_size = population_size
        self.population: deque[tuple[Any, float]] = deque()

    def on_mask_change(self, mask: OpMask) -> int:
        keep = [(a, f) for a, f in self.population if mask.allows(self.space.ops_of(a))]
        dropped = len(self.population) - len(keep)
        self.population = deque(keep)
        return dropped

    def _valid(self, mask: OpMask) -> list[tuple[Any, float]]:
        return [(a, f) for a, f in self.population if mask.allows(self.space.ops_of(a))]


@STRATEGIES.register("evolution")
class RegularizedEvolution(_Population):
    """Regularised (aging) evolution (Real et al., AAAI'19): tournament selection, one-edge
    mutation, and the *oldest* member leaves the population.

    Args:
        space: The search space.
        population_size: Population size P.
        sample_size: Tournament size S.
    """

    name = "evolution"
    description = "Regularised (aging) evolution with proxy fitness"

    def __init__(
        self, space: SearchSpace[Any], *, population_size: int = 20, sample_size: int = 5
    ) -> None:
        super().__init__(space, population_size=population_size)
        if not 1 <= sample_size <= population_size:
            raise ValueError("sample_size must be in 1..population_size")
        self.sample_size = sample_size

    def ask(self, mask: OpMask, rng: np.random.Generator) -> Any:
        members = self._valid(mask)
        if len(members) < self.population_size:
            return self.space.sample(rng, mask)
        idx = rng.choice(len(members), size=self.sample_size, replace=False)
        parent = max((members[int(i)] for i in idx), key=lambda af: af[1])[0]
        return self.space.mutate(parent, rng, mask)

    def tell(self, arch: Any, fitness: float | None) -> None:
        self.population.append((arch, _fit(fitness)))
        while len(self.population) > self.population_size:
            self.population.popleft()


@STRATEGIES.register("supernet_evolution")
class SupernetEvolution(RegularizedEvolution):
    """Aging evolution whose fitness is the supernet's one-shot accuracy estimate."""

    name = "supernet_evolution"
    description = "Regularised evolution with one-shot (supernet) fitness"
    fitness = "oneshot"


@STRATEGIES.register("proxy_evolution")
class ProxyEvolution(_Population):
    """Proxy-guided elitist evolution in the style of Zen-NAS / ZiCo: mutate a random
    member of the population; the *worst* member leaves.

    Args:
        space: The search space.
        population_size: Population size.
    """

    name = "proxy_evolution"
    description = "Elitist evolution on a zero-cost proxy (Zen-NAS style)"

    def ask(self, mask: OpMask, rng: np.random.Generator) -> Any:
        members = self._valid(mask)
        if len(members) < self.population_size:
            return self.space.sample(rng, mask)
        parent = members[int(rng.integers(len(members)))][0]
        return self.space.mutate(parent, rng, mask)

    def tell(self, arch: Any, fitness: float | None) -> None:
        if any(a == arch for a, _ in self.population):
            return
        self.population.append((arch, _fit(fitness)))
        if len(self.population) > self.population_size:
            worst = min(range(len(self.population)), key=lambda i: self.population[i][1])
            del self.population[worst]


def list_strategies() -> list[str]:
    """Names of the registered strategies."""
    return STRATEGIES.list()


def create_strategy(name: str, space: SearchSpace[Any], **kwargs: Any) -> Strategy:
    """Create a registered strategy.

    Args:
        name: Registry name.
        space: The search space.
        **kwargs: Strategy options.

    Returns:
        The strategy.
    """
    return STRATEGIES.create(name, space=space, **kwargs)
