"""The controller's background work: the whole-space layout, one-edit neighbour scores,
per-layer ZiCo terms and the whole-space scores of the cheap proxies, each computed on a
worker thread and cached, so no Dash callback ever waits on torch."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from app.controller import inputs
from app.controller.inputs import InputError
from nas_engine.embedding import load_or_compute_layout
from nas_engine.proxies import ProxySuite, list_proxies
from nas_engine.proxies.space_scores import (
    CHEAP_PROXIES,
    SpaceScoreProgress,
    count_scored,
    read_space_scores,
    score_space,
    space_score_path,
)


@dataclass(frozen=True)
class SpaceScores:
    """Whole-space scores of the cheap proxies, as far as the job has got.

    Args:
        values: Proxy name → one value per cell index (``nan`` = not scored yet); empty
            unless asked for.
        names: The proxies a whole-space colouring can offer.
        done: Cells scored.
        total: Cells in the space.
        running: Whether the job is running now.
        error: The job's error message, if it failed.
    """

    values: dict[str, np.ndarray]
    names: tuple[str, ...]
    done: int
    total: int
    running: bool
    error: str | None = None


@dataclass(frozen=True)
class Job:
    """State of a background computation.

    Args:
        state: ``pending``, ``done`` or ``error``.
        result: The result when done.
        error: The message when failed.
    """

    state: str
    result: Any = None
    error: str | None = None


class BackgroundJobs:
    """Mixed into :class:`~app.controller.AppController`, which provides ``space``,
    ``cache_dir``, ``layout_method``, ``data``, ``truth``, ``parse_arch``, ``_session``,
    ``_lock``, ``_pool``, ``_jobs``, ``_layout*``, ``_suites`` and ``_space*``."""

    def layout(self) -> tuple[np.ndarray | None, str]:
        """The whole-space 2-D layout and its method; starts computing it on first call.

        Returns:
            ``(coordinates or None while pending, method name or 'pending'/'error: ...')``.
        """
        with self._lock:
            if self._layout is None and self._layout_job is None:
                self._layout_job = self._pool.submit(self._compute_layout)
            job = self._layout_job
        if self._layout is None and job is not None and job.done() and job.exception():
            return None, f"error: {job.exception()}"
        return self._layout, self._layout_name

    def _compute_layout(self) -> None:
        method = self.layout_method
        try:
            xy = load_or_compute_layout(self.space, self.cache_dir, method=method)
        except ImportError:
            method = "pca"
            xy = load_or_compute_layout(self.space, self.cache_dir, method=method)
        self._layout, self._layout_name = xy, method

    def wait_layout(self, timeout: float = 300.0) -> np.ndarray:
        """Block until the layout exists (CLI warm-up and tests)."""
        self.layout()
        assert self._layout_job is not None
        self._layout_job.result(timeout)
        assert self._layout is not None
        return self._layout

    def _suite(self, names: tuple[str, ...]) -> ProxySuite:
        s = self._session
        cfg = s.config if s is not None else self.defaults
        key = (*names, cfg.dataset, cfg.proxy_C, cfg.proxy_N, cfg.proxy_batch_size)
        if key not in self._suites:
            self._suites[key] = ProxySuite.for_config(
                self.space,
                cfg,
                data=s.data if s is not None else self.data,  # the run's own dataset
                names=list(names),
            )
        return self._suites[key]

    def _job(self, key: tuple[Any, ...], fn: Callable[[], Any]) -> Job:
        with self._lock:
            fut = self._jobs.get(key)
            if fut is None:
                fut = self._jobs[key] = self._pool.submit(fn)
        if not fut.done():
            return Job("pending")
        exc = fut.exception()
        if exc is not None:
            return Job("error", error=f"{type(exc).__name__}: {exc}")
        return Job("done", result=fut.result())

    def neighbours(self, arch: str, metric: str) -> Job:
        """One-edit neighbours of ``arch`` with their ``metric`` score and ground truth.

        Computed once per (arch, metric) on the worker thread.

        Returns:
            A :class:`Job` whose result is a list of dicts
            ``{edge, op, arch, score, truth, base_score, base_truth}``; an ``error`` job
            at once, naming the problem, for a bad arch or an unknown metric.
        """
        try:
            a = self.parse_arch(arch)
            metric = inputs.name("metric", metric)
            if metric not in list_proxies():
                raise InputError(f"unknown metric {metric!r}; known: {', '.join(list_proxies())}")
        except InputError as exc:
            return Job("error", error=str(exc))
        return self._job(
            ("neighbours", self._run_key(), a, metric), lambda: self._neighbours(a, metric)
        )

    def _neighbours(self, arch: str, metric: str) -> list[dict[str, Any]]:
        suite = self._suite((metric,))
        truth = self.truth
        base = self.space.from_string(arch)
        base_score = float(suite.score(base).results[metric].value)
        base_truth = truth.lookup(arch) if truth is not None else math.nan
        rows = []
        for e, op, nb in self.space.neighbours(base):
            s = self.space.to_string(nb)
            rows.append(
                {
                    "edge": e,
                    "op": op,
                    "arch": s,
                    "score": float(suite.score(nb).results[metric].value),
                    "truth": truth.lookup(s) if truth is not None else math.nan,
                    "base_score": base_score,
                    "base_truth": base_truth,
                }
            )
        return rows

    def zico_layers(self, arch: str) -> Job:
        """Per-layer ZiCo terms of ``arch`` (worker thread, cached).

        Returns:
            A :class:`Job` whose result maps layer name → ``log S_l`` (an ``error`` job at
            once for a bad arch).
        """
        try:
            a = self.parse_arch(arch)
        except InputError as exc:
            return Job("error", error=str(exc))

        def run() -> dict[str, float]:
            res = self._suite(("zico",)).score(a).results["zico"]
            return dict(res.details.get("layer_log_terms", {})) if res.details else {}

        return self._job(("zico_layers", self._run_key(), a), run)

    def _run_key(self) -> int | None:
        """Cache scope: results depend on the live run's dataset and proxy network."""
        return self._session.run_id if self._session is not None else None

    # ------------------------------------------------------------ whole-space scores
    def _space_path(self) -> Any:
        cfg = self.defaults
        build = cfg.network(self.space, "proxy")
        return space_score_path(
            self.cache_dir, self.space, list(CHEAP_PROXIES), seed=cfg.seed, build_kwargs=build
        )

    def space_scores(self, *, values: bool = True) -> SpaceScores:
        """How far the whole-space job has got and, with ``values``, what it scored.

        The cache file is parsed only when values are asked for and the file changed
        since; progress alone costs a line count (once per change of the file).
        """
        path = self._space_path()
        stamp = path.stat().st_mtime_ns if path.is_file() else None
        with self._lock:
            cache = self._space_cache
            if cache is None or cache[0] != stamp:
                cache = (stamp, None, count_scored(path))
            if values and cache[1] is None:
                table = read_space_scores(self.space, path)
                cache = (stamp, table, table.done)
            self._space_cache = cache
            thread, error = self._space_thread, self._space_error
        costs = self.costs()
        vals = dict(cache[1].values) if values and cache[1] is not None else {}
        names = CHEAP_PROXIES
        if costs is not None:  # exact for every cell, from the run's cost table
            names = (*CHEAP_PROXIES, "params", "flops")
            if values:
                vals |= {"params": costs.params, "flops": costs.flops}
        running = thread is not None and thread.is_alive()
        return SpaceScores(vals, names, cache[2], self.space.size, running, error)

    def truth_by_index(self) -> np.ndarray | None:
        """Ground truth of every cell by cell index (``nan`` where unknown), or ``None``."""
        truth = self.truth
        if truth is None:
            return None
        with self._lock:
            if self._truth_vec is None:
                sp = self.space
                vals = (truth.lookup(sp.to_string(sp.from_index(i))) for i in range(sp.size))
                self._truth_vec = np.array([math.nan if v is None else v for v in vals])
            return self._truth_vec

    def start_space_scores(self) -> str:
        """Start (or resume) scoring every cell with the cheap proxies on its own thread.

        Returns:
            A message for the page.
        """
        import threading

        with self._lock:
            if self._space_thread is not None and self._space_thread.is_alive():
                return "whole-space scoring is already running"
            self._space_stop.clear()
            self._space_error = None
            self._space_thread = threading.Thread(
                target=self._run_space_scores, name="nasnav-space-scores", daemon=True
            )
            self._space_thread.start()
        return f"scoring all {self.space.size:,} cells with {', '.join(CHEAP_PROXIES)}…"

    def stop_space_scores(self, *, wait: float = 0.0) -> None:
        """Ask the whole-space job to stop after its current chunk (it can resume).

        Args:
            wait: Seconds to wait for the thread to finish (``0``: do not wait).
        """
        self._space_stop.set()
        thread = self._space_thread
        if wait > 0 and thread is not None:
            thread.join(wait)

    def _run_space_scores(self) -> SpaceScoreProgress | None:
        cfg = self.defaults
        suite = ProxySuite(
            self.space,
            list(CHEAP_PROXIES),
            seed=cfg.seed,
            batch_size=cfg.proxy_batch_size,
            build_kwargs=cfg.network(self.space, "proxy"),
        )
        try:
            return score_space(
                suite, self._space_path(), chunk_size=32, should_stop=self._space_stop.is_set
            )
        except Exception as exc:  # reported on the page, never lost silently
            self._space_error = f"{type(exc).__name__}: {exc}"
            return None
