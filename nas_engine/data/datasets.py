"""Image-classification datasets behind one ``load_dataset(name, ...)``.

Names:

* ``digits`` — the embedded default: scikit-learn's real 8×8 handwritten digits
  (1,797 images, 1 channel, 10 classes) with a fixed, seeded, stratified split. Offline.
* ``cifar10`` / ``cifar100`` — the official Python-pickle folders under ``data_dir``;
  downloaded (with a progress bar and an MD5 check) when missing.
* ``npz:PATH`` — a ``.npz`` file with ``x_train y_train x_test y_test`` (uint8 NHWC).
* ``synthetic`` — a tiny generated, learnable set for tests.

Every dataset is returned as a frozen :class:`Dataset` of normalised float32 NCHW arrays;
normalisation statistics are computed per dataset from its training split.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import tarfile
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np


class DatasetError(ValueError):
    """Raised when a dataset cannot be loaded; the message names the problem."""


@dataclass(frozen=True, eq=False)
class Dataset:
    """A split, normalised image-classification dataset.

    Arrays are float32 NCHW (normalised with ``mean``/``std``) and int64 labels. They are
    marked read-only so that a dataset can be shared between threads.

    Args:
        name: Dataset name as given to :func:`load_dataset`.
        x_train: Training images.
        y_train: Training labels.
        x_val: Validation images (held out of the training split, seeded).
        y_val: Validation labels.
        x_test: Test images.
        y_test: Test labels.
        num_classes: Number of classes.
        mean: Per-channel mean of the raw training images (in [0, 1] units).
        std: Per-channel std of the raw training images.
        classes: Class names.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    classes: tuple[str, ...] = field(default=())

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """``(C, H, W)`` of one image."""
        return tuple(self.x_train.shape[1:])  # type: ignore[return-value]

    @property
    def in_channels(self) -> int:
        """Image channels."""
        return int(self.x_train.shape[1])

    def batch(
        self, size: int, *, seed: int = 0, split: str = "train"
    ) -> tuple[np.ndarray, np.ndarray]:
        """Return a seeded random batch from one split.

        Args:
            size: Batch size (capped at the split's size).
            seed: Seed for the draw.
            split: ``"train"``, ``"val"`` or ``"test"``.

        Returns:
            ``(images, labels)``.
        """
        x, y = self.split(split)
        rng = np.random.default_rng(seed)
        idx = rng.choice(len(x), size=min(size, len(x)), replace=False)
        return x[idx], y[idx]

    def split(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(images, labels)`` of ``"train"``, ``"val"`` or ``"test"``."""
        if split == "train":
            return self.x_train, self.y_train
        if split == "val":
            return self.x_val, self.y_val
        if split == "test":
            return self.x_test, self.y_test
        raise ValueError(f"unknown split {split!r}; use train, val or test")

    def summary(self) -> dict[str, Any]:
        """Return a JSON-ready description."""
        return {
            "name": self.name,
            "input_shape": list(self.input_shape),
            "num_classes": self.num_classes,
            "train": len(self.x_train),
            "val": len(self.x_val),
            "test": len(self.x_test),
            "mean": [round(m, 4) for m in self.mean],
            "std": [round(s, 4) for s in self.std],
        }


# ----------------------------------------------------------------------------- helpers
def _check_arrays(
    x: Any, y: Any, *, what: str, num_classes: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Validate a uint8 NHWC image array and an integer label vector."""
    x = np.asarray(x)
    y = np.asarray(y)
    if x.ndim != 4:
        raise DatasetError(
            f"{what}: images must be 4-D NHWC (N, H, W, C), got shape {tuple(x.shape)}"
        )
    if x.shape[-1] not in (1, 3):
        raise DatasetError(
            f"{what}: images must be NHWC with 1 or 3 channels last, got shape {tuple(x.shape)}"
        )
    if x.dtype != np.uint8:
        raise DatasetError(f"{what}: images must be uint8 in 0..255, got dtype {x.dtype}")
    if y.ndim != 1:
        raise DatasetError(f"{what}: labels must be 1-D, got shape {tuple(y.shape)}")
    if len(x) != len(y):
        raise DatasetError(f"{what}: {len(x)} images but {len(y)} labels")
    if len(x) == 0:
        raise DatasetError(f"{what}: the split is empty")
    if not np.issubdtype(y.dtype, np.integer):
        raise DatasetError(f"{what}: labels must be integers, got dtype {y.dtype}")
    if y.min() < 0 or (num_classes is not None and y.max() >= num_classes):
        hi = "" if num_classes is None else f"..{num_classes - 1}"
        raise DatasetError(
            f"{what}: label out of range: min {int(y.min())}, max {int(y.max())}; expected 0{hi}"
        )
    return x, y.astype(np.int64)


def _finish(
    name: str,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    *,
    num_classes: int,
    val_fraction: float,
    seed: int,
    classes: tuple[str, ...] = (),
) -> Dataset:
    """Split off validation, compute statistics from train, normalise, convert to NCHW."""
    if not 0.0 <= val_fraction < 1.0:
        raise DatasetError(f"val_fraction must be in [0, 1), got {val_fraction}")
    if x_train.shape[1:] != x_test.shape[1:]:
        raise DatasetError(
            f"{name}: train images {tuple(x_train.shape[1:])} and test images "
            f"{tuple(x_test.shape[1:])} differ in shape"
        )
    rng = np.random.default_rng(seed)
    perm = rng.permutation(len(x_train))
    n_val = round(len(x_train) * val_fraction)
    val_idx, tr_idx = np.sort(perm[:n_val]), np.sort(perm[n_val:])
    raw_train = x_train[tr_idx].astype(np.float32) / 255.0
    mean = raw_train.mean(axis=(0, 1, 2))
    std = raw_train.std(axis=(0, 1, 2))
    std = np.where(std < 1e-6, 1.0, std)

    def norm(x: np.ndarray) -> np.ndarray:
        out = (x.astype(np.float32) / 255.0 - mean) / std
        out = np.ascontiguousarray(out.transpose(0, 3, 1, 2), dtype=np.float32)
        out.setflags(write=False)
        return out

    def ro(y: np.ndarray) -> np.ndarray:
        y = np.ascontiguousarray(y, dtype=np.int64)
        y.setflags(write=False)
        return y

    return Dataset(
        name=name,
        x_train=norm(x_train[tr_idx]),
        y_train=ro(y_train[tr_idx]),
        x_val=norm(x_train[val_idx]),
        y_val=ro(y_train[val_idx]),
        x_test=norm(x_test),
        y_test=ro(y_test),
        num_classes=num_classes,
        mean=tuple(float(m) for m in mean),
        std=tuple(float(s) for s in std),
        classes=classes,
    )


# ----------------------------------------------------------------------------- sources
def _load_digits(*, seed: int, val_fraction: float) -> Dataset:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = np.round(bunch.images / 16.0 * 255.0).astype(np.uint8)[..., None]  # N,8,8,1
    labels = bunch.target.astype(np.int64)
    # Fixed, stratified 80/20 train/test split (seed 0, independent of ``seed``),
    # so that test accuracy is comparable across runs.
    rng = np.random.default_rng(0)
    test_mask = np.zeros(len(labels), dtype=bool)
    for c in range(10):
        idx = np.flatnonzero(labels == c)
        test_mask[rng.choice(idx, size=round(len(idx) * 0.2), replace=False)] = True
    return _finish(
        "digits",
        images[~test_mask],
        labels[~test_mask],
        images[test_mask],
        labels[test_mask],
        num_classes=10,
        val_fraction=val_fraction,
        seed=seed,
        classes=tuple(str(i) for i in range(10)),
    )


def _load_synthetic(
    *,
    seed: int,
    val_fraction: float,
    n_train: int = 256,
    n_test: int = 64,
    num_classes: int = 4,
    size: int = 8,
    channels: int = 3,
) -> Dataset:
    """Class-dependent blobs plus noise: learnable, tiny, fully deterministic."""
    rng = np.random.default_rng(1234)
    protos = rng.uniform(0, 255, size=(num_classes, size, size, channels))

    def make(n: int, r: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        y = np.arange(n) % num_classes
        x = protos[y] + r.normal(0, 40, size=(n, size, size, channels))
        return np.clip(x, 0, 255).astype(np.uint8), y.astype(np.int64)

    x_tr, y_tr = make(n_train, np.random.default_rng(1))
    x_te, y_te = make(n_test, np.random.default_rng(2))
    return _finish(
        "synthetic",
        x_tr,
        y_tr,
        x_te,
        y_te,
        num_classes=num_classes,
        val_fraction=val_fraction,
        seed=seed,
        classes=tuple(f"class{i}" for i in range(num_classes)),
    )


def _load_npz(path_str: str, *, seed: int, val_fraction: float) -> Dataset:
    path = Path(path_str).expanduser()
    if not path_str:
        raise DatasetError("npz dataset needs a path: use npz:PATH")
    if not path.is_file():
        raise DatasetError(f"npz dataset: no such file {str(path)!r}")
    try:
        with np.load(path, allow_pickle=False) as z:
            files = set(z.files)
            need = ["x_train", "y_train", "x_test", "y_test"]
            missing = [k for k in need if k not in files]
            if missing:
                raise DatasetError(
                    f"npz dataset {str(path)!r}: missing key(s) {missing}; "
                    f"found {sorted(files)}; expected x_train y_train x_test y_test"
                )
            arrays = {k: z[k] for k in need}
            classes = tuple(str(c) for c in z["classes"]) if "classes" in files else ()
    except DatasetError:
        raise
    except Exception as exc:  # zipfile/pickle errors: not a valid npz
        raise DatasetError(f"npz dataset {str(path)!r}: cannot read ({exc})") from exc
    y_all = np.concatenate([np.asarray(arrays["y_train"]), np.asarray(arrays["y_test"])])
    if y_all.size and not np.issubdtype(y_all.dtype, np.integer):
        raise DatasetError(f"npz dataset {str(path)!r}: labels must be integers")
    num_classes = len(classes) if classes else int(y_all.max()) + 1
    x_tr, y_tr = _check_arrays(
        arrays["x_train"], arrays["y_train"], what=f"{path.name} train", num_classes=num_classes
    )
    x_te, y_te = _check_arrays(
        arrays["x_test"], arrays["y_test"], what=f"{path.name} test", num_classes=num_classes
    )
    return _finish(
        f"npz:{path}",
        x_tr,
        y_tr,
        x_te,
        y_te,
        num_classes=num_classes,
        val_fraction=val_fraction,
        seed=seed,
        classes=classes,
    )


_CIFAR = {
    "cifar10": {
        "url": "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
        "md5": "c58f30108f718f92721af3b95e74349a",
        "folder": "cifar-10-batches-py",
        "train": [f"data_batch_{i}" for i in range(1, 6)],
        "test": ["test_batch"],
        "label_key": "labels",
        "meta": ("batches.meta", "label_names"),
        "num_classes": 10,
    },
    "cifar100": {
        "url": "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
        "md5": "eb9058c3a382ffc7106e4002c42a8d85",
        "folder": "cifar-100-python",
        "train": ["train"],
        "test": ["test"],
        "label_key": "fine_labels",
        "meta": ("meta", "fine_label_names"),
        "num_classes": 100,
    },
}


def _md5(path: Path) -> str:
    h = hashlib.md5()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def download_cifar(name: str, data_dir: str | os.PathLike[str], *, progress: bool = True) -> Path:
    """Download and unpack the official CIFAR archive into ``data_dir``.

    Args:
        name: ``"cifar10"`` or ``"cifar100"``.
        data_dir: Target folder (created if needed).
        progress: Show a tqdm progress bar.

    Returns:
        The unpacked batch folder.

    Raises:
        DatasetError: On network failure (with instructions) or a checksum mismatch.
    """
    spec = _CIFAR[name]
    root = Path(data_dir).expanduser()
    root.mkdir(parents=True, exist_ok=True)
    archive = root / str(spec["url"]).rsplit("/", 1)[1]
    how = (
        f"Provide the data by hand: download {spec['url']} on a machine with internet and "
        f"unpack it so that {root / str(spec['folder'])} holds the pickle batches, or pass "
        f"--data-dir pointing to such a folder."
    )
    if not archive.exists() or _md5(archive) != spec["md5"]:
        tmp = archive.with_suffix(archive.suffix + ".part")
        try:
            with urllib.request.urlopen(str(spec["url"]), timeout=30) as resp:
                total = int(resp.headers.get("Content-Length") or 0)
                from tqdm import tqdm

                with (
                    tmp.open("wb") as out,
                    tqdm(
                        total=total or None,
                        unit="B",
                        unit_scale=True,
                        desc=f"downloading {name}",
                        disable=not progress,
                    ) as bar,
                ):
                    for chunk in iter(lambda: resp.read(1 << 20), b""):
                        out.write(chunk)
                        bar.update(len(chunk))
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            tmp.unlink(missing_ok=True)
            raise DatasetError(f"{name}: download failed ({exc}). {how}") from exc
        digest = _md5(tmp)
        if digest != spec["md5"]:
            tmp.unlink(missing_ok=True)
            raise DatasetError(
                f"{name}: checksum mismatch for the downloaded archive (md5 {digest}, "
                f"expected {spec['md5']}). {how}"
            )
        tmp.replace(archive)
    with tarfile.open(archive, "r:gz") as tar:
        tar.extractall(root, filter="data")
    return root / str(spec["folder"])


#: The globals a CIFAR pickle may name: numpy's array/dtype reconstruction (``numpy.core``
#: in the official Python-2 files, ``numpy._core`` when re-pickled by numpy 2) and a few
#: harmless builtin constructors. Everything else (``os.system``, ``subprocess.Popen``,
#: ``builtins.eval``, ...) is refused before it is even imported.
_SAFE_BUILTINS = "bytes bytearray dict list tuple set frozenset int float complex str bool"
_CIFAR_GLOBALS = frozenset(
    {
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        *(
            (f"numpy.{c}.multiarray", n)
            for c in ("core", "_core")
            for n in ("_reconstruct", "scalar")
        ),
        *((f"numpy.{c}.numeric", "_frombuffer") for c in ("core", "_core")),
        ("_codecs", "encode"),  # bytes pickled by Python 3 at protocol 2
        *(("builtins", n) for n in _SAFE_BUILTINS.split()),
    }
)
#: Python 2 module names of those globals (``pickle`` maps them the same way).
_PY2_MODULES = {"__builtin__": "builtins", "copy_reg": "copyreg"}


class _CifarUnpickler(pickle.Unpickler):
    """Unpickles a CIFAR batch, admitting only the globals in :data:`_CIFAR_GLOBALS`: a
    planted batch file cannot run code (a plain ``pickle.load`` would run anything)."""

    def find_class(self, module: str, name: str) -> Any:
        if (_PY2_MODULES.get(module, module), name) not in _CIFAR_GLOBALS:
            raise pickle.UnpicklingError(
                f"refusing to load {module}.{name}: a CIFAR batch holds only numpy arrays, "
                "lists, bytes and numbers (is this file really a CIFAR batch?)"
            )
        return super().find_class(module, name)


def _load_cifar_pickle(path: Path) -> Any:
    """The object in the CIFAR pickle ``path``, read with :class:`_CifarUnpickler`.

    Raises:
        DatasetError: The file cannot be read, or names a global a CIFAR batch never holds.
    """
    try:
        with path.open("rb") as f:
            return _CifarUnpickler(f, encoding="bytes").load()
    except Exception as exc:
        raise DatasetError(f"cannot read CIFAR file {str(path)!r}: {exc}") from exc


def _read_cifar_batches(folder: Path, files: list[str], label_key: str) -> tuple[Any, Any]:
    xs, ys = [], []
    for fname in files:
        p = folder / fname
        if not p.is_file():
            raise DatasetError(f"CIFAR folder {str(folder)!r} lacks the batch file {fname!r}")
        d = _load_cifar_pickle(p)
        if not isinstance(d, dict):
            raise DatasetError(f"CIFAR batch {str(p)!r} holds no dict ({type(d).__name__})")
        d = {k.decode() if isinstance(k, bytes) else k: v for k, v in d.items()}
        if "data" not in d or label_key not in d:
            raise DatasetError(
                f"CIFAR batch {str(p)!r} lacks 'data' or {label_key!r}; found {sorted(d)}"
            )
        xs.append(np.asarray(d["data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
        ys.append(np.asarray(d[label_key], dtype=np.int64))
    return np.concatenate(xs).transpose(0, 2, 3, 1), np.concatenate(ys)


def _load_cifar(
    name: str, *, data_dir: str | os.PathLike[str], download: bool, seed: int, val_fraction: float
) -> Dataset:
    spec = _CIFAR[name]
    root = Path(data_dir).expanduser()
    folder = root / str(spec["folder"])
    if not folder.is_dir() and (root / str(spec["train"][0])).is_file():  # type: ignore[index]
        folder = root  # data_dir points straight at the batch folder
    if not folder.is_dir():
        if not download:
            raise DatasetError(
                f"{name}: no folder {str(folder)!r}; pass --data-dir to the folder that holds "
                f"{spec['folder']}/ or allow the download"
            )
        folder = download_cifar(name, root)
    x_tr, y_tr = _read_cifar_batches(folder, list(spec["train"]), str(spec["label_key"]))
    x_te, y_te = _read_cifar_batches(folder, list(spec["test"]), str(spec["label_key"]))
    n = int(spec["num_classes"])  # type: ignore[call-overload]
    x_tr, y_tr = _check_arrays(x_tr, y_tr, what=f"{name} train", num_classes=n)
    x_te, y_te = _check_arrays(x_te, y_te, what=f"{name} test", num_classes=n)
    classes: tuple[str, ...] = ()
    meta_file, meta_key = spec["meta"]  # type: ignore[misc]
    if (folder / meta_file).is_file():
        meta = _load_cifar_pickle(folder / meta_file)
        if not isinstance(meta, dict):
            raise DatasetError(f"CIFAR file {str(folder / meta_file)!r} holds no dict")
        names = meta.get(meta_key.encode(), meta.get(meta_key, []))
        classes = tuple(c.decode() if isinstance(c, bytes) else str(c) for c in names)
    return _finish(
        name,
        x_tr,
        y_tr,
        x_te,
        y_te,
        num_classes=n,
        val_fraction=val_fraction,
        seed=seed,
        classes=classes,
    )


DATASET_NAMES: tuple[str, ...] = ("digits", "synthetic", "cifar10", "cifar100", "npz:PATH")
DEFAULT_DATA_DIR = Path("data") / "datasets"


def load_dataset(
    name: str,
    *,
    data_dir: str | os.PathLike[str] | None = None,
    download: bool = True,
    seed: int = 0,
    val_fraction: float = 0.1,
) -> Dataset:
    """Load a dataset by name.

    Args:
        name: ``digits`` (default, embedded), ``synthetic``, ``cifar10``, ``cifar100`` or
            ``npz:PATH``.
        data_dir: Folder for CIFAR pickles (default ``$NASNAV_DATA_DIR`` or
            ``data/datasets``).
        download: Whether a missing CIFAR folder may be downloaded.
        seed: Seed of the train/validation split.
        val_fraction: Fraction of the training split held out for validation.

    Returns:
        The normalised :class:`Dataset`.

    Raises:
        DatasetError: Unknown name, missing files, wrong keys/shapes, labels out of range.
    """
    if not isinstance(name, str) or not name:
        raise DatasetError(f"dataset name must be a non-empty string; known: {DATASET_NAMES}")
    if name.startswith("npz:"):
        return _load_npz(name[4:], seed=seed, val_fraction=val_fraction)
    if name == "digits":
        return _load_digits(seed=seed, val_fraction=val_fraction)
    if name == "synthetic":
        return _load_synthetic(seed=seed, val_fraction=val_fraction)
    if name in _CIFAR:
        root = data_dir or os.environ.get("NASNAV_DATA_DIR") or DEFAULT_DATA_DIR
        return _load_cifar(
            name, data_dir=root, download=download, seed=seed, val_fraction=val_fraction
        )
    if name.endswith(".npz"):
        raise DatasetError(f"unknown dataset {name!r}; did you mean npz:{name}?")
    raise DatasetError(f"unknown dataset {name!r}; known: {', '.join(DATASET_NAMES)}")
