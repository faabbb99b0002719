"""Search strategies with an ask/tell interface behind a registry.

Each strategy proposes one candidate at a time (``ask``) inside the region in force *at
that moment* (the op mask and the resource budget), and learns its fitness afterwards
(``tell``), so a new mask or budget takes effect on the very next candidate.
``on_mask_change`` drops population members the new region excludes, so they are never
used as parents and never evaluated again.

The evolutionary strategies take two zero-cost aids (Abdelfattah et al., ICLR'21), both
driven by a cheap proxy the runner hands over with :meth:`Strategy.set_scorer`:

- **warm-up**: score a pool of ``warmup`` random cells of the region and fill the initial
  population with the best of them instead of random cells;
- **move proposal**: mutate to the best-scoring unseen one-edit neighbour of the parent,
  or, with probability ``move_p``, to a random one.
"""

from __future__ import annotations

import abc
import math
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from typing import Any, ClassVar

import numpy as np

from nas_engine.registry import Registry
from nas_engine.resources import Region, as_region
from nas_engine.search_spaces import OpMask, SearchSpace

#: Scores cells with a cheap proxy (higher is better); used by warm-up and move proposal.
Scorer = Callable[[Sequence[Any]], np.ndarray]

STRATEGIES: Registry[Strategy] = Registry("strategy")


def _fit(v: float | None) -> float:
    return -math.inf if v is None or not math.isfinite(v) else float(v)


class Strategy(abc.ABC):
    """Ask/tell search strategy.

    Contract: ``ask`` returns a cell of the given region (or mask); ``tell`` receives the fitness
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
        self.scorer: Scorer | None = None

    @abc.abstractmethod
    def ask(self, where: Region | OpMask, rng: np.random.Generator) -> Any:
        """Propose the next candidate inside ``where`` (a region, or a bare mask)."""

    def tell(self, arch: Any, fitness: float | None) -> None:  # noqa: B027 - optional hook
        """Record the fitness of an evaluated candidate."""

    def on_mask_change(self, where: Region | OpMask) -> int:
        """Drop members the new region forbids; return how many were dropped."""
        return 0

    def set_scorer(self, scorer: Scorer | None) -> None:
        """Hand over the cheap proxy that warm-up and move proposal use."""
        self.scorer = scorer

    def restore(self, history: Iterable[tuple[Any, float | None]]) -> None:
        """Rebuild internal state from the evaluated candidates, in order (for resume)."""
        for arch, fit in history:
            self.tell(arch, fit)


@STRATEGIES.register("random")
class RandomSearch(Strategy):
    """Uniform sampling among the cells the mask allows."""

    name = "random"
    description = "Uniform random sampling inside the mask"

    def ask(self, where: Region | OpMask, rng: np.random.Generator) -> Any:
        return as_region(self.space, where).sample(rng)


class _Population(Strategy):
    """A population with the two zero-cost aids.

    Args:
        space: The search space.
        population_size: Population size.
        warmup: Pool size of the zero-cost warm-up (0: off).
        move_p: Probability of a random move under move proposal (``None``: off).
    """

    def __init__(
        self,
        space: SearchSpace[Any],
        *,
        population_size: int = 20,
        warmup: int = 0,
        move_p: float | None = None,
    ) -> None:
        super().__init__(space)
        if population_size < 2:
            raise ValueError("population_size must be >= 2")
        if warmup < 0:
            raise ValueError("warmup must be >= 0")
        if move_p is not None and not 0.0 <= move_p <= 1.0:
            raise ValueError("move_p must be in [0, 1]")
        self.population_size = population_size
        self.population: deque[tuple[Any, float]] = deque()
        self.warmup = warmup
        self.move_p = move_p
        self._pool: list[Any] | None = None  # warm-up cells, best first
        self._seen: set[Any] = set()

    def on_mask_change(self, where: Region | OpMask) -> int:
        region = as_region(self.space, where)
        keep = [(a, f) for a, f in self.population if region.allows(a)]
        dropped = len(self.population) - len(keep)
        self.population = deque(keep)
        return dropped

    def _valid(self, region: Region) -> list[tuple[Any, float]]:
        return [(a, f) for a, f in self.population if region.allows(a)]

    def _note(self, arch: Any) -> None:
        self._seen.add(arch)

    def _initial(self, region: Region, rng: np.random.Generator) -> Any:
        """A cell for the initial population: the next-best warm-up cell, else random."""
        if self.warmup and self.scorer is not None:
            if self._pool is None:
                pool = list(dict.fromkeys(region.sample(rng) for _ in range(self.warmup)))
                scores = np.asarray(self.scorer(pool), dtype=float)
                scores = np.where(np.isfinite(scores), scores, -np.inf)
                self._pool = [pool[int(i)] for i in np.argsort(-scores, kind="stable")]
            while self._pool:
                arch = self._pool.pop(0)
                if region.allows(arch) and arch not in self._seen:
                    return arch
        return region.sample(rng)

    def _child(self, parent: Any, region: Region, rng: np.random.Generator) -> Any:
        """A mutation of ``parent``: the move proposal's pick, or a random one."""
        if self.move_p is None or self.scorer is None or rng.random() < self.move_p:
            return region.mutate(parent, rng)
        near = [a for a in region.neighbours(parent) if a not in self._seen]
        if not near:
            return region.mutate(parent, rng)
        scores = np.asarray(self.scorer(near), dtype=float)
        scores = np.where(np.isfinite(scores), scores, -np.inf)
        return near[int(np.argmax(scores))]


@STRATEGIES.register("evolution")
class RegularizedEvolution(_Population):
    """Regularised (aging) evolution (Real et al., AAAI'19): tournament selection, one-edge
    mutation, and the *oldest* member leaves the population.

    Args:
        space: The search space.
        population_size: Population size P.
        sample_size: Tournament size S.
        warmup: Zero-cost warm-up pool size (0: off).
        move_p: Random-move probability of move proposal (``None``: off).
    """

    name = "evolution"
    description = "Regularised (aging) evolution with proxy fitness"

    def __init__(
        self,
        space: SearchSpace[Any],
        *,
        population_size: int = 20,
        sample_size: int = 5,
        warmup: int = 0,
        move_p: float | None = None,
    ) -> None:
        super().__init__(space, population_size=population_size, warmup=warmup, move_p=move_p)
        if not 1 <= sample_size <= population_size:
            raise ValueError("sample_size must be in 1..population_size")
        self.sample_size = sample_size

    def ask(self, where: Region | OpMask, rng: np.random.Generator) -> Any:
        region = as_region(self.space, where)
        members = self._valid(region)
        if len(members) < self.population_size:
            return self._initial(region, rng)
        idx = rng.choice(len(members), size=self.sample_size, replace=False)
        parent = max((members[int(i)] for i in idx), key=lambda af: af[1])[0]
        return self._child(parent, region, rng)

    def tell(self, arch: Any, fitness: float | None) -> None:
        self._note(arch)
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
        warmup: Zero-cost warm-up pool size (0: off).
        move_p: Random-move probability of move proposal (``None``: off).
    """

    name = "proxy_evolution"
    description = "Elitist evolution on a zero-cost proxy (Zen-NAS style)"

    def ask(self, where: Region | OpMask, rng: np.random.Generator) -> Any:
        region = as_region(self.space, where)
        members = self._valid(region)
        if len(members) < self.population_size:
            return self._initial(region, rng)
        parent = members[int(rng.integers(len(members)))][0]
        return self._child(parent, region, rng)

    def tell(self, arch: Any, fitness: float | None) -> None:
        self._note(arch)
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
