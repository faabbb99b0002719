"""The configuration of one search run, validated when it is made."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from nas_engine.proxies import list_proxies, resolve_proxy_names
from nas_engine.proxies.suite import AGGREGATIONS, DEFAULT_AGGREGATION, DEFAULT_ENSEMBLE
from nas_engine.resources import BudgetError, ResourceBudget, parse_latency_spec
from nas_engine.search_spaces import DEFAULT_SPACE, OpMask, SearchSpace, list_spaces
from nas_engine.strategies import STRATEGIES, list_strategies
from nas_engine.supernet import ESTIMATES, SAMPLINGS

#: Values of settings added after round 1, for runs stored before they existed.
LEGACY: dict[str, Any] = {
    "aggregation": "mean_rank",
    "hybrid": False,
    "supernet_sampling": "uniform",
    "supernet_augment": "off",
    "supernet_schedule_steps": 3000,
    "supernet_calib_batches": 4,
    "supernet_estimate": "accuracy",
    "supernet_warmup": 0,
    "accept_suggestions": False,
    "suggest_every": 50,
}

#: Choices of ``supernet_augment``.
AUGMENT_CHOICES = ("auto", "on", "off")

#: The largest budget (candidates per run) a config accepts.
MAX_BUDGET = 100_000


class CommandError(ValueError):
    """Raised for a refused command; the message says why."""


@dataclass(frozen=True)
class SearchConfig:
    """Configuration of one search run (stored with the run).

    Args:
        space: Search-space name.
        dataset: Dataset name (``digits`` is the embedded default).
        data_dir: Folder for CIFAR pickles.
        strategy: Strategy name.
        proxy: Fitness proxy name, or ``"ensemble"`` (rank ensemble of ``ensemble``).
        proxies: Proxies computed for every candidate (the fitness proxy, or the
            ensemble's members, are added).
        ensemble: Members of the rank ensemble.
        aggregation: How the ensemble combines ranks (``mean_rank`` or ``log_rank``).
        hybrid: Add the one-shot estimate to the ensemble as a member weighted by its
            live fidelity (0 while it is not informative; ground truth never counts).
        budget: Candidates to evaluate.
        seed: Seed for everything.
        proxy_batch_size: Batch size of the proxies.
        proxy_C: Width option of the network the proxies score (``None``: the space's
            default; ``nasnav space info SPACE`` lists them).
        proxy_N: Depth option of that network (``None``: the space's default; a space
            without one refuses a value).
        supernet: Whether to train a supernet and give one-shot estimates.
        supernet_C: Supernet width option (``None``: the space's default).
        supernet_N: Supernet depth option (``None``: the space's default).
        supernet_batch_size: SPOS batch size.
        supernet_lr: SPOS peak learning rate.
        supernet_sampling: SPOS path sampling (``uniform`` or ``fair``).
        supernet_augment: Crop-and-flip augmentation of supernet batches: ``on``,
            ``off`` or ``auto`` (on for images of at least 16×16 pixels, where a 4-pixel
            crop keeps the content; off for the 8×8 digits and synthetic sets).
        supernet_schedule_steps: Length of the supernet's cosine learning-rate schedule.
        supernet_calib_batches: BatchNorm-recalibration batches per one-shot estimate.
        supernet_estimate: ``likelihood`` (``100·exp(−validation loss)``) or ``accuracy``.
        supernet_warmup: SPOS steps trained before the first candidate (the page shows
            "warming up" until then).
        steps_per_candidate: SPOS steps between two candidates.
        checkpoint_every: Supernet steps between checkpoints.
        population_size: Population size of evolutionary strategies.
        sample_size: Tournament size of aging evolution.
        max_flops: Optional FLOPs budget (millions, of the proxy network) for candidates.
        max_params: Optional parameter budget (millions, of the proxy network).
        max_latency: Optional latency budget (ms on the ``latency`` table's device).
        latency: Latency table ``csv:PATH:DEVICE`` (needed by ``max_latency``).
        warmup: Zero-cost warm-up pool of evolutionary strategies (0: off).
        move_p: Random-move probability of zero-cost move proposal (``None``: off).
        cheap_proxy: The proxy behind warm-up and move proposal.
        benchmark: Ground-truth spec (``csv:PATH[:COLUMN]``) or ``None``.
        train_top_k: Train the best k candidates from scratch when the budget is reached.
        train_epochs: Epochs of those trainings.
        train_C: Width option of the trained networks (``None``: the space's default).
        train_N: Depth option of the trained networks (``None``: the space's default).
        prune: Initial prunes as ``(edge, op)`` pairs.
        pin: Initial pins as ``(edge, op)`` pairs.
        accept_suggestions: Scripted steering: every ``suggest_every`` candidates, accept
            every current suggestion on the fitness (:mod:`nas_engine.runner.evidence`)
            through the ordinary steering path, its evidence as the note.
        suggest_every: Candidates between two rounds of accepted suggestions.
        pace_s: Least seconds from one candidate to the next (0: as fast as the machine
            goes). A teaching demo can slow a search to a pace a class can follow, and a
            paced search leaves CPU to the page; commands still apply the moment they
            arrive.
    """

    space: str = DEFAULT_SPACE
    dataset: str = "digits"
    data_dir: str | None = None
    strategy: str = "evolution"
    proxy: str = "ensemble"
    proxies: tuple[str, ...] = ("params", "flops")
    ensemble: tuple[str, ...] = DEFAULT_ENSEMBLE
    aggregation: str = DEFAULT_AGGREGATION
    hybrid: bool = False
    budget: int = 200
    seed: int = 0
    proxy_batch_size: int = 64
    proxy_C: int | None = None
    proxy_N: int | None = None
    supernet: bool = True
    supernet_C: int | None = None
    supernet_N: int | None = None
    supernet_batch_size: int = 128
    supernet_lr: float = 0.1
    supernet_sampling: str = "uniform"
    supernet_augment: str = "auto"
    supernet_schedule_steps: int = 3000
    supernet_calib_batches: int = 4
    supernet_estimate: str = "likelihood"
    supernet_warmup: int = 500
    steps_per_candidate: int = 4
    checkpoint_every: int = 100
    population_size: int = 20
    sample_size: int = 5
    max_flops: float | None = None
    max_params: float | None = None
    max_latency: float | None = None
    latency: str | None = None
    warmup: int = 0
    move_p: float | None = None
    cheap_proxy: str = "synflow"
    benchmark: str | None = None
    train_top_k: int = 0
    train_epochs: int = 6
    train_C: int | None = None
    train_N: int | None = None
    prune: tuple[tuple[int, str], ...] = ()
    pin: tuple[tuple[int, str], ...] = ()
    accept_suggestions: bool = False
    suggest_every: int = 50
    pace_s: float = 0.0

    def __post_init__(self) -> None:
        if isinstance(self.budget, str):  # text is parsed by the caller, not stored
            raise CommandError(f"budget must be an integer, not text: got {self.budget!r}")
        self.parse_budget(self.budget)
        if self.space not in list_spaces():
            raise CommandError(
                f"unknown search space {self.space!r}; known: {', '.join(list_spaces())}"
            )
        check_strategy(self.strategy)
        check_proxy(self.proxy)
        resolve_proxy_names(list(self.proxies) or ["params"])
        resolve_proxy_names(list(self.ensemble))
        if self.aggregation not in AGGREGATIONS:
            raise CommandError(
                f"unknown aggregation {self.aggregation!r}; known: {', '.join(AGGREGATIONS)}"
            )
        self._check_supernet()
        if self.hybrid and self.proxy != "ensemble":
            raise CommandError("hybrid needs the ensemble fitness (proxy=ensemble)")
        if self.hybrid and not self.supernet:
            raise CommandError("hybrid needs the supernet (supernet=True)")
        if self.steps_per_candidate < 0 or self.population_size < 2:
            raise CommandError("steps_per_candidate must be >= 0 and population_size >= 2")
        self.resource_budget()  # raises on a non-positive limit
        if self.max_latency is not None and not self.latency:
            raise CommandError("max_latency needs a latency table: latency=csv:PATH:DEVICE")
        if self.latency:
            try:
                parse_latency_spec(self.latency)
            except BudgetError as exc:
                raise CommandError(str(exc)) from None
        if not isinstance(self.pace_s, int | float) or not 0.0 <= self.pace_s <= 3600.0:
            raise CommandError(f"pace_s must be in [0, 3600] seconds, got {self.pace_s}")
        if self.suggest_every < 1:
            raise CommandError(f"suggest_every must be >= 1, got {self.suggest_every}")
        if self.warmup < 0 or (self.move_p is not None and not 0.0 <= self.move_p <= 1.0):
            raise CommandError("warmup must be >= 0 and move_p in [0, 1] (or None)")
        resolve_proxy_names([self.cheap_proxy])
        if STRATEGIES.get(self.strategy).fitness == "oneshot" and not self.supernet:  # type: ignore[attr-defined]
            raise CommandError(f"strategy {self.strategy!r} needs the supernet (supernet=True)")

    def _check_supernet(self) -> None:
        """Refuse an unknown supernet setting with the known choices."""
        if self.supernet_sampling not in SAMPLINGS:
            raise CommandError(
                f"unknown supernet_sampling {self.supernet_sampling!r}; known: "
                + ", ".join(SAMPLINGS)
            )
        if self.supernet_estimate not in ESTIMATES:
            raise CommandError(
                f"supernet_estimate must be one of {', '.join(ESTIMATES)}, "
                f"got {self.supernet_estimate!r}"
            )
        if self.supernet_augment not in AUGMENT_CHOICES:
            raise CommandError(
                f"supernet_augment must be one of {', '.join(AUGMENT_CHOICES)}, "
                f"got {self.supernet_augment!r}"
            )
        if min(self.supernet_schedule_steps, self.supernet_calib_batches) < 1:
            raise CommandError("supernet_schedule_steps and supernet_calib_batches must be >= 1")
        if self.supernet_warmup < 0:
            raise CommandError("supernet_warmup must be >= 0")

    @staticmethod
    def parse_budget(value: Any) -> int:
        """Validate a budget given as an int or as text from a form, a flag or a file.

        Args:
            value: An ``int``, or a string of decimal digits (surrounding blanks allowed).

        Returns:
            The budget, between 1 and :data:`MAX_BUDGET`.

        Raises:
            CommandError: For anything else (bools, floats, ``None``, ``"ten"``, ``"1e9"``,
                values below 1 or above :data:`MAX_BUDGET`); the message names the budget.
        """
        if isinstance(value, str):
            text = value.strip()
            if not (text.isascii() and text.isdigit()):
                raise CommandError(_not_positive(value))
            n = int(text)
        elif isinstance(value, int) and not isinstance(value, bool):
            n = value
        else:
            raise CommandError(_not_positive(value))
        if n < 1:
            raise CommandError(_not_positive(n))
        if n > MAX_BUDGET:
            raise CommandError(f"budget {n} is larger than this tool allows ({MAX_BUDGET:,})")
        return n

    def resource_budget(self) -> ResourceBudget:
        """The initial resource budget (steering may change it during the run).

        Raises:
            CommandError: A limit that is not a positive number.
        """
        try:
            return ResourceBudget(self.max_flops, self.max_params, self.max_latency)
        except BudgetError as exc:
            raise CommandError(str(exc)) from None

    @property
    def all_proxies(self) -> list[str]:
        """Proxies computed per candidate: the configured ones, the fitness proxy and,
        for the ensemble, its members."""
        extra = list(self.ensemble) if self.proxy == "ensemble" else [self.proxy]
        return list(dict.fromkeys([*self.proxies, *extra]))

    def network(self, space: SearchSpace[Any], role: str) -> dict[str, int]:
        """The size options of the run's ``role`` network (``proxy``, ``supernet`` or
        ``train``): the space's defaults with this config's values where set.

        Raises:
            CommandError: A size option the space does not have.
        """
        given = {k: getattr(self, f"{role}_{k}", None) for k in ("C", "N")}
        try:
            return space.network_options(role, **given)
        except ValueError as exc:
            raise CommandError(str(exc)) from None

    def initial_mask(self, space: SearchSpace[Any]) -> OpMask:
        """The full mask of ``space`` with the configured prunes, then pins, applied.

        Raises:
            MaskError: A prune or pin is refused (unknown edge/op, last op of an edge...).
        """
        mask = space.full_mask()
        for e, o in self.prune:
            mask = mask.prune(e, o)
        for e, o in self.pin:
            mask = mask.pin(e, o)
        return mask

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        d = dataclasses.asdict(self)
        d["prune"] = [list(p) for p in self.prune]
        d["pin"] = [list(p) for p in self.pin]
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SearchConfig:
        """Inverse of :meth:`to_dict` (unknown keys are refused)."""
        names = {f.name for f in dataclasses.fields(cls)}
        bad = set(d) - names
        if bad:
            raise CommandError(f"unknown config keys {sorted(bad)}")
        kw = dict(d)
        # runs stored before a setting existed keep the behaviour they had
        for k, v in LEGACY.items():
            kw.setdefault(k, v)
        for k in ("proxies", "ensemble"):
            if k in kw:
                kw[k] = tuple(kw[k])
        for k in ("prune", "pin"):
            if k in kw:
                kw[k] = tuple((int(e), str(o)) for e, o in kw[k])
        return cls(**kw)


def _not_positive(value: Any) -> str:
    # "positive integer" is what callers match on; "whole number" is what users read
    return f"budget must be a positive integer (a whole number of candidates), got {value!r}"


def check_strategy(name: str) -> None:
    """Refuse an unknown strategy name with :class:`CommandError` (listing the known)."""
    if name not in STRATEGIES:
        raise CommandError(f"unknown strategy {name!r}; known: {', '.join(list_strategies())}")


def check_proxy(name: str) -> None:
    """Refuse a fitness proxy that is neither registered nor ``"ensemble"``."""
    if name != "ensemble" and name not in list_proxies():
        raise CommandError(f"unknown proxy {name!r}; known: {', '.join(list_proxies())}, ensemble")
