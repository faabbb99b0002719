"""Single-path one-shot training (SPOS, Guo et al., ECCV'20) of any space's supernet.

The space builds the supernet (:meth:`SearchSpace.build_supernet`): every position holds
all its candidate ops, and a forward pass runs one path (one op per position). Training
samples a uniform path **among the ops the current mask allows**. A subnet's one-shot
accuracy is measured with inherited weights after recalibrating BatchNorm statistics on a
few training batches.
"""

from __future__ import annotations

import io
import math
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from nas_engine.data import Dataset
from nas_engine.search_spaces import OpMask, SearchSpace


@dataclass(frozen=True)
class SupernetConfig:
    """Supernet size and SPOS training schedule.

    Args:
        C: Width option of the space's supernet (``None``: the space's default).
        N: Depth option (``None``: the space's default; spaces without one refuse it).
        batch_size: Training batch size.
        lr: Peak SGD learning rate.
        momentum: SGD momentum.
        weight_decay: Weight decay.
        schedule_steps: Cosine schedule length; afterwards the rate stays at ``lr_floor·lr``.
        lr_floor: Final fraction of the peak rate.
        calib_batches: Training batches used to recalibrate BN before a one-shot eval.
        eval_images: Validation images per one-shot eval (the first ones of the fixed
            validation split; ``0``: all of them).
        sampling: ``uniform`` (an independent uniform op per edge, SPOS) or ``fair``
            (every allowed op of an edge trained equally often: each edge walks through a
            seeded permutation of its allowed ops, FairNAS-style, without FairNAS's
            gradient accumulation).
        augment: Random crop (4-pixel zero padding) and horizontal flip of training
            batches.
        estimate: What :meth:`SupernetTrainer.evaluate` returns: ``accuracy`` (percent
            correct) or ``likelihood`` (``100·exp(−loss)``, the geometric-mean probability
            given to the true class, in percent: the validation loss's order on a
            percent scale, which ranks cells better; see ``benchmarks/oneshot_fidelity.py``).
        seed: Seed for weights, paths and batch order.
    """

    C: int | None = None
    N: int | None = None
    batch_size: int = 64
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 4e-5
    schedule_steps: int = 3000
    lr_floor: float = 0.05
    calib_batches: int = 4
    eval_images: int = 512
    sampling: str = "uniform"
    augment: bool = False
    estimate: str = "accuracy"
    seed: int = 0

    def __post_init__(self) -> None:
        sizes = [v for v in (self.C, self.N) if v is not None]
        if min(*sizes, self.batch_size, self.schedule_steps, self.calib_batches) < 1:
            raise ValueError("C, N, batch_size, schedule_steps and calib_batches must be >= 1")
        if not self.lr > 0:
            raise ValueError("lr must be > 0")
        if self.eval_images < 0:
            raise ValueError("eval_images must be >= 0 (0: the whole validation split)")
        if self.sampling not in SAMPLINGS:
            raise ValueError(f"sampling must be one of {SAMPLINGS}, got {self.sampling!r}")
        if self.estimate not in ESTIMATES:
            raise ValueError(f"estimate must be one of {ESTIMATES}, got {self.estimate!r}")


#: Path-sampling rules of the SPOS trainer.
SAMPLINGS = ("uniform", "fair")
#: What a one-shot evaluation reports.
ESTIMATES = ("accuracy", "likelihood")


@dataclass(frozen=True)
class Estimate:
    """A one-shot estimate of one subnet.

    Args:
        acc: Validation accuracy (percent) with inherited weights.
        loss: Mean validation cross-entropy.
        images: Validation images it was measured on.
    """

    acc: float
    loss: float
    images: int

    @property
    def likelihood(self) -> float:
        """``100·exp(−loss)``: the geometric-mean probability of the true class (%)."""
        return 100.0 * math.exp(-self.loss)


@dataclass(frozen=True)
class StepResult:
    """One SPOS training step.

    Args:
        step: Steps done so far (1-based after the step).
        loss: Training loss.
        acc: Training accuracy of the batch (percent).
        lr: Learning rate used.
        path: The sampled ops.
        images: Images in the batch.
        seconds: Wall time of the step.
    """

    step: int
    loss: float
    acc: float
    lr: float
    path: tuple[str, ...]
    images: int
    seconds: float


class SupernetTrainer:
    """Trains a space's supernet single-path under an op mask and evaluates subnets.

    Thread safety: not thread-safe; the search runner owns it from one thread.

    Args:
        space: The search space (it builds the supernet and gives ops and masks).
        data: Training/validation data.
        config: Size and schedule.
        owner: Optional tag of what the trainer's checkpoints belong to (e.g. the run's
            checkpoint file name, or a dict the caller gives: plain values only); a
            checkpoint recording another owner is refused.
    """

    def __init__(
        self,
        space: SearchSpace[Any],
        data: Dataset,
        config: SupernetConfig | None = None,
        *,
        owner: str | Mapping[str, Any] | None = None,
    ) -> None:
        self.space = space
        self.data = data
        self.owner = _plain(owner)
        self.config = cfg = config or SupernetConfig()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed)
            self.model = space.build_supernet(
                num_classes=data.num_classes,
                in_channels=data.in_channels,
                **space.network_options("supernet", C=cfg.C, N=cfg.N),
            )
        self.opt = torch.optim.SGD(
            self.model.parameters(),
            lr=cfg.lr,
            momentum=cfg.momentum,
            weight_decay=cfg.weight_decay,
            nesterov=True,
        )
        self.step = 0
        self._epoch = 0
        self._pos = 0
        self._perm = self._permutation(0)
        self._rng = np.random.default_rng(cfg.seed + 17)

    # ---------------------------------------------------------------------- training
    def _permutation(self, epoch: int) -> np.ndarray:
        return np.random.default_rng(self.config.seed * 1000 + epoch).permutation(
            len(self.data.x_train)
        )

    def _next_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        bs = self.config.batch_size
        if self._pos + bs > len(self._perm):
            self._epoch += 1
            self._pos = 0
            self._perm = self._permutation(self._epoch)
        idx = self._perm[self._pos : self._pos + bs]
        self._pos += bs
        x = self.data.x_train[idx]
        if self.config.augment:
            x = self._augment(x)
        return torch.from_numpy(x), torch.from_numpy(self.data.y_train[idx])

    def lr_at(self, step: int) -> float:
        """Learning rate of step ``step`` (cosine to ``lr_floor``, then constant)."""
        cfg = self.config
        t = min(step, cfg.schedule_steps) / cfg.schedule_steps
        return cfg.lr * (cfg.lr_floor + (1 - cfg.lr_floor) * 0.5 * (1 + math.cos(math.pi * t)))

    def sample_path(self, mask: OpMask) -> tuple[str, ...]:
        """Draw the next single path among the ops the mask allows (see ``sampling``)."""
        allowed = mask.allowed_all()
        if self.config.sampling == "fair":
            return tuple(self._fair_op(e, a) for e, a in enumerate(allowed))
        return tuple(a[int(self._rng.integers(len(a)))] for a in allowed)

    def _fair_op(self, edge: int, ops: Sequence[str]) -> str:
        # step s of edge e walks cycle s // m of a seeded permutation of its m allowed ops;
        # stateless, so checkpoints need nothing more (a mask change restarts the cycle)
        m = len(ops)
        cycle, k = divmod(self.step, m)
        perm = np.random.default_rng([self.config.seed, 29, edge, m, cycle]).permutation(m)
        return ops[int(perm[k])]

    def _augment(self, x: np.ndarray) -> np.ndarray:
        """Random 4-pixel-padded crop and horizontal flip, seeded by the step."""
        rng = np.random.default_rng([self.config.seed, 31, self.step])
        n, _, h, w = x.shape
        padded = np.pad(x, ((0, 0), (0, 0), (4, 4), (4, 4)))
        dy, dx = rng.integers(0, 9, size=n), rng.integers(0, 9, size=n)
        flip = rng.random(n) < 0.5
        out = np.empty_like(x)
        for i in range(n):
            crop = padded[i, :, dy[i] : dy[i] + h, dx[i] : dx[i] + w]
            out[i] = crop[:, :, ::-1] if flip[i] else crop
        return out

    def train_step(self, mask: OpMask) -> StepResult:
        """Run one SPOS step on a path sampled under ``mask``.

        Args:
            mask: Op mask in force.

        Returns:
            The :class:`StepResult`.
        """
        t0 = time.perf_counter()
        path = self.sample_path(mask)
        x, y = self._next_batch()
        lr = self.lr_at(self.step)
        for g in self.opt.param_groups:
            g["lr"] = lr
        self.model.train()
        out = self.model(x, path)
        loss = F.cross_entropy(out, y)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(self.model.parameters(), 5.0)
        self.opt.step()
        self.step += 1
        acc = 100.0 * float((out.argmax(1) == y).float().mean())
        return StepResult(
            step=self.step,
            loss=float(loss.detach()),
            acc=acc,
            lr=lr,
            path=path,
            images=len(x),
            seconds=time.perf_counter() - t0,
        )

    # -------------------------------------------------------------------- evaluation
    def evaluate(self, arch: Any) -> float:
        """The one-shot estimate of ``arch`` (percent, higher is better): validation
        accuracy or likelihood, as ``config.estimate`` says (see :meth:`estimate`)."""
        est = self.estimate(arch)
        return est.acc if self.config.estimate == "accuracy" else est.likelihood

    @torch.no_grad()
    def estimate(
        self, arch: Any, *, calib_batches: int | None = None, eval_images: int | None = None
    ) -> Estimate:
        """One-shot accuracy and loss of ``arch`` with inherited weights.

        BatchNorm statistics are reset and recalibrated on ``calib_batches`` fixed training
        batches (cumulative average) for this path, then the subnet is measured on the
        first ``eval_images`` images of the validation split (``0``: all of them).

        Args:
            arch: The cell.
            calib_batches: Overrides the configured recalibration batches.
            eval_images: Overrides the configured validation images.
        """
        path = tuple(self.space.ops_of(arch))
        cfg = self.config
        n_calib = cfg.calib_batches if calib_batches is None else calib_batches
        n_eval = cfg.eval_images if eval_images is None else eval_images
        bns = [m for m in self.model.modules() if isinstance(m, nn.BatchNorm2d)]
        saved = [m.momentum for m in bns]
        for m in bns:
            m.reset_running_stats()
            m.momentum = None
        self.model.train()
        rng = np.random.default_rng(cfg.seed * 7 + 3)
        n = len(self.data.x_train)
        for _ in range(n_calib):
            idx = rng.choice(n, size=min(cfg.batch_size, n), replace=False)
            self.model(torch.from_numpy(self.data.x_train[idx]), path)
        for m, mom in zip(bns, saved, strict=True):
            m.momentum = mom
        self.model.eval()
        stop = n_eval if n_eval > 0 else len(self.data.x_val)
        x, y = self.data.x_val[:stop], self.data.y_val[:stop]
        correct, loss = 0, 0.0
        for i in range(0, len(x), 256):
            out = self.model(torch.tensor(x[i : i + 256]), path)
            yb = torch.as_tensor(np.array(y[i : i + 256]))
            correct += int((out.argmax(1) == yb).sum())
            loss += float(F.cross_entropy(out, yb, reduction="sum"))
        self.model.train()
        k = max(1, len(x))
        return Estimate(acc=100.0 * correct / k, loss=loss / k, images=len(x))

    # ------------------------------------------------------------------- checkpoints
    def identity(self) -> dict[str, Any]:
        """What a checkpoint of this trainer belongs to, beyond its :class:`SupernetConfig`:
        the space, the dataset (name, input shape, classes, training images), the
        supernet's resolved size options and the caller's ``owner`` tag. Plain Python
        types only, so a checkpoint loads with ``torch.load(weights_only=True)``."""
        d = self.data
        return _plain(
            {
                "format": CHECKPOINT_FORMAT,
                "space": self.space.name,
                "dataset": {
                    "name": d.name,
                    "input_shape": list(d.input_shape),
                    "num_classes": int(d.num_classes),
                    "train_images": len(d.x_train),
                },
                "network": self.space.network_options(
                    "supernet", C=self.config.C, N=self.config.N
                ),
                "owner": self.owner,
            }
        )

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue training exactly where it stopped, and what it
        belongs to (:meth:`identity`)."""
        return {
            "config": _plain(asdict(self.config)),
            "identity": self.identity(),
            "model": self.model.state_dict(),
            "opt": self.opt.state_dict(),
            "step": self.step,
            "epoch": self._epoch,
            "pos": self._pos,
            "rng": _plain(self._rng.bit_generator.state),
        }

    def check_state(self, state: Mapping[str, Any]) -> None:
        """Refuse a :meth:`state_dict` written for another supernet.

        Raises:
            CheckpointMismatchError: Its configuration or identity differs from this
                trainer's; the message names every field that differs.
            CheckpointError: It is no supernet checkpoint at all.
        """
        if not isinstance(state, Mapping) or not isinstance(state.get("config"), Mapping):
            raise CheckpointError("not a supernet checkpoint (no configuration recorded)")
        # checkpoints written before a setting existed were trained with its old value
        old = {"sampling": "uniform", "augment": False, "estimate": "accuracy"}
        ours = asdict(self.config)
        theirs = {**old, **state["config"]}
        diffs = {
            f"config.{k}": (theirs.get(k, "(missing)"), ours.get(k, "(missing)"))
            for k in sorted(set(ours) | set(theirs))
            if theirs.get(k, "(missing)") != ours.get(k, "(missing)")
        }
        # Checkpoints written before the identity was recorded hold none of it, and an
        # older format may lack single fields: a field counts only when both sides record
        # it (a missing one, or an owner of None, is "not recorded", not "different").
        # Such a checkpoint is still refused when its configuration differs, and its
        # weights must still fit the model (a shape mismatch is refused in load_state_dict).
        mine = _flatten(self.identity())
        recorded = state.get("identity")
        theirs_id = _flatten(recorded) if isinstance(recorded, Mapping) else {}
        for k, v in theirs_id.items():
            if k == "format" or v is None or k not in mine or mine[k] is None:
                continue
            if v != mine[k] and f"config.{k.removeprefix('network.')}" not in diffs:
                diffs[k] = (v, mine[k])  # (a size the configuration gives is named once)
        if diffs:
            raise CheckpointMismatchError(diffs)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict`, after :meth:`check_state` accepted it.

        Raises:
            CheckpointMismatchError: It belongs to another supernet (nothing is restored
                then, unless only the weights' shapes differ: the model may then be
                partly overwritten, so discard this trainer).
        """
        self.check_state(state)
        try:
            self.model.load_state_dict(state["model"])
        except RuntimeError as exc:  # an old checkpoint of another network
            first = str(exc).strip().splitlines()
            raise CheckpointMismatchError(
                {"model": ("weights of another network", first[-1].strip() if first else "")}
            ) from None
        self.opt.load_state_dict(state["opt"])
        self.step = int(state["step"])
        self._epoch = int(state["epoch"])
        self._pos = int(state["pos"])
        self._perm = self._permutation(self._epoch)
        self._rng.bit_generator.state = state["rng"]

    def save(self, path: str | Path) -> None:
        """Write a checkpoint atomically (temp file + rename), so a crash never leaves a
        half-written file."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        buf = io.BytesIO()
        torch.save(self.state_dict(), buf)
        tmp = path.with_suffix(path.suffix + ".tmp")
        with tmp.open("wb") as f:
            f.write(buf.getvalue())
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(path)

    def load(self, path: str | Path) -> None:
        """Load a checkpoint written by :meth:`save`.

        It is read with ``torch.load(weights_only=True)``: tensors and plain containers
        only, so a planted file cannot run code.

        Raises:
            CheckpointMismatchError: It belongs to another supernet (see
                :meth:`check_state`).
            CheckpointError: The file cannot be read as a supernet checkpoint.
        """
        path = Path(path)
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # corrupt, truncated, or holding more than weights
            raise CheckpointError(f"cannot read supernet checkpoint {str(path)!r}: {exc}") from exc
        self.load_state_dict(state)


#: Layout version of :meth:`SupernetTrainer.state_dict` (2: with ``identity``).
CHECKPOINT_FORMAT = 2


class CheckpointError(ValueError):
    """A supernet checkpoint cannot be used; the message says why."""


class CheckpointMismatchError(CheckpointError):
    """A checkpoint written for another supernet (configuration, space, dataset, network
    size or owner differ).

    Args:
        differences: Field → ``(checkpoint's value, this trainer's value)``.
    """

    def __init__(self, differences: Mapping[str, tuple[Any, Any]]) -> None:
        self.differences = dict(differences)
        what = "; ".join(f"{k}: {a!r} there, {b!r} here" for k, (a, b) in self.differences.items())
        if any(k.startswith("config.") for k in self.differences):
            head = "checkpoint was written with a different supernet configuration"
        else:
            head = "checkpoint was written for another supernet"
        super().__init__(f"{head} ({what})")


def _plain(value: Any) -> Any:
    """``value`` as plain Python types (dicts, lists, str, int, float, bool, None), so
    that ``torch.load(weights_only=True)`` reads it back exactly."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def _flatten(value: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` → ``{"a.b": 1}`` (lists and tuples compare as lists)."""
    out: dict[str, Any] = {}
    for k, v in value.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping) and k != "owner":
            out |= _flatten(v, key + ".")
        else:
            out[key] = _plain(v)
    return out
