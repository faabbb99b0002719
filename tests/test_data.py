"""Datasets: the embedded default, npz and CIFAR pickle loading, and clear errors."""

from __future__ import annotations

import io
import pickle
import tarfile
import urllib.error
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

from nas_engine.data import DatasetError, load_dataset
from nas_engine.data import datasets as ds_mod
from tests.conftest import shared_file


def test_digits_default_is_real_and_seeded() -> None:
    a = load_dataset("digits")
    b = load_dataset("digits")
    assert a.input_shape == (1, 8, 8) and a.num_classes == 10
    assert len(a.x_train) + len(a.x_val) + len(a.x_test) == 1797
    assert np.array_equal(a.x_train, b.x_train) and np.array_equal(a.y_val, b.y_val)
    # normalised with training statistics
    assert abs(float(a.x_train.mean())) < 1e-4 and abs(float(a.x_train.std()) - 1) < 1e-3
    # every class is in every split (stratified test split)
    for y in (a.y_train, a.y_val, a.y_test):
        assert set(np.unique(y)) == set(range(10))
    # the test split does not depend on the validation seed; validation does
    c = load_dataset("digits", seed=5)
    assert np.array_equal(a.y_test, c.y_test)
    assert np.allclose(a.x_test * a.std[0] + a.mean[0], c.x_test * c.std[0] + c.mean[0], atol=1e-5)
    assert not np.array_equal(a.y_val, c.y_val)
    assert not a.x_train.flags.writeable


def test_synthetic_and_batches() -> None:
    d = load_dataset("synthetic")
    x, y = d.batch(16, seed=3)
    x2, y2 = d.batch(16, seed=3)
    assert x.shape == (16, 3, 8, 8) and np.array_equal(y, y2) and np.array_equal(x, x2)
    with pytest.raises(ValueError, match="unknown split"):
        d.split("holdout")


def _write_npz(path: Path, **overrides: object) -> Path:
    rng = np.random.default_rng(0)
    arrays = {
        "x_train": rng.integers(0, 255, size=(40, 6, 6, 3), dtype=np.uint8),
        "y_train": np.arange(40) % 4,
        "x_test": rng.integers(0, 255, size=(8, 6, 6, 3), dtype=np.uint8),
        "y_test": np.arange(8) % 4,
    }
    arrays.update(overrides)  # type: ignore[arg-type]
    arrays = {k: v for k, v in arrays.items() if v is not None}
    np.savez(path, **arrays)
    return path


def test_npz_loads(tmp_path: Path) -> None:
    d = load_dataset(f"npz:{_write_npz(tmp_path / 'ok.npz')}", val_fraction=0.25)
    assert d.num_classes == 4 and d.input_shape == (3, 6, 6)
    assert (len(d.x_train), len(d.x_val), len(d.x_test)) == (30, 10, 8)


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"y_test": None}, r"missing key\(s\) \['y_test'\]"),
        ({"x_train": np.zeros((40, 6, 6), np.uint8)}, "must be 4-D NHWC"),
        ({"x_train": np.zeros((40, 3, 6, 6), np.uint8)}, "channels last"),
        ({"x_train": np.zeros((40, 6, 6, 3), np.float32)}, "must be uint8"),
        ({"y_train": np.arange(39) % 4}, "40 images but 39 labels"),
        ({"y_train": np.arange(40) % 4 - 1}, "label out of range: min -1"),
        ({"y_train": np.arange(40) * 0.5}, "labels must be integers"),
        ({"x_test": np.zeros((8, 5, 5, 3), np.uint8)}, "differ in shape"),
    ],
)
def test_npz_errors_name_the_problem(tmp_path: Path, overrides: dict, message: str) -> None:
    path = _write_npz(tmp_path / "bad.npz", **overrides)
    with pytest.raises(DatasetError, match=message):
        load_dataset(f"npz:{path}")


def test_npz_label_out_of_range_with_class_names(tmp_path: Path) -> None:
    path = _write_npz(tmp_path / "c.npz", classes=np.array(["a", "b", "c"]))
    with pytest.raises(DatasetError, match="label out of range.*expected 0..2"):
        load_dataset(f"npz:{path}")


def test_bad_paths_and_names(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="no such file"):
        load_dataset(f"npz:{tmp_path / 'missing.npz'}")
    (tmp_path / "junk.npz").write_text("not a zip")
    with pytest.raises(DatasetError, match="cannot read"):
        load_dataset(f"npz:{tmp_path / 'junk.npz'}")
    with pytest.raises(DatasetError, match="unknown dataset 'mnist'"):
        load_dataset("mnist")
    with pytest.raises(DatasetError, match="did you mean npz:"):
        load_dataset("x.npz")


def _fake_cifar(folder: Path, n_per_batch: int = 6) -> None:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        d = {
            b"data": rng.integers(0, 255, size=(n_per_batch, 3072), dtype=np.uint8),
            b"labels": list(rng.integers(0, 10, size=n_per_batch)),
        }
        with (folder / name).open("wb") as f:
            pickle.dump(d, f)
    with (folder / "batches.meta").open("wb") as f:
        pickle.dump({b"label_names": [f"c{i}".encode() for i in range(10)]}, f)


def test_cifar10_from_pickle_folder(tmp_path: Path) -> None:
    _fake_cifar(tmp_path / "cifar-10-batches-py")
    d = load_dataset("cifar10", data_dir=tmp_path, download=False, val_fraction=0.2)
    assert d.input_shape == (3, 32, 32) and d.num_classes == 10
    assert len(d.x_train) + len(d.x_val) == 30 and len(d.x_test) == 6
    assert d.classes[0] == "c0"
    # pointing straight at the batch folder works too
    d2 = load_dataset("cifar10", data_dir=tmp_path / "cifar-10-batches-py", download=False)
    assert len(d2.x_test) == 6


def test_cifar_pickle_layout_is_channels_first(tmp_path: Path) -> None:
    folder = tmp_path / "cifar-10-batches-py"
    _fake_cifar(folder)
    # rewrite the test batch with one known image: red channel 255, others 0
    img = np.zeros((1, 3, 32, 32), np.uint8)
    img[0, 0] = 255
    with (folder / "test_batch").open("wb") as f:
        pickle.dump({b"data": img.reshape(1, -1), b"labels": [3]}, f)
    d = load_dataset("cifar10", data_dir=tmp_path, download=False)
    raw = d.x_test[0] * np.array(d.std)[:, None, None] + np.array(d.mean)[:, None, None]
    assert np.allclose(raw[0], 1.0, atol=1e-5) and np.allclose(raw[1:], 0.0, atol=1e-5)


def test_cifar_missing_folder_without_download(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="no folder .*--data-dir"):
        load_dataset("cifar10", data_dir=tmp_path, download=False)


def test_cifar_missing_batch_file(tmp_path: Path) -> None:
    _fake_cifar(tmp_path / "cifar-10-batches-py")
    (tmp_path / "cifar-10-batches-py" / "data_batch_3").unlink()
    with pytest.raises(DatasetError, match="lacks the batch file 'data_batch_3'"):
        load_dataset("cifar10", data_dir=tmp_path, download=False)


def test_cifar_offline_download_fails_with_instructions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_network(*_a: object, **_k: object) -> None:
        raise urllib.error.URLError("no route to host")

    monkeypatch.setattr(ds_mod.urllib.request, "urlopen", no_network)
    with pytest.raises(DatasetError, match="download failed.*Provide the data by hand"):
        load_dataset("cifar100", data_dir=tmp_path)
    assert not list(tmp_path.glob("*.part"))


class _FakeResponse(io.BytesIO):
    headers: ClassVar[dict[str, str]] = {"Content-Length": "0"}

    def __enter__(self) -> _FakeResponse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def test_cifar_download_checksum_mismatch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        ds_mod.urllib.request, "urlopen", lambda *a, **k: _FakeResponse(b"corrupted archive")
    )
    with pytest.raises(DatasetError, match="checksum mismatch"):
        load_dataset("cifar10", data_dir=tmp_path)


def test_cifar_download_unpacks_a_valid_archive(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = tmp_path / "src"
    _fake_cifar(src / "cifar-10-batches-py")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        tar.add(src / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    payload = buf.getvalue()
    import hashlib

    monkeypatch.setitem(ds_mod._CIFAR["cifar10"], "md5", hashlib.md5(payload).hexdigest())
    monkeypatch.setattr(ds_mod.urllib.request, "urlopen", lambda *a, **k: _FakeResponse(payload))
    d = load_dataset("cifar10", data_dir=tmp_path / "dl")
    assert len(d.x_test) == 6
    assert (tmp_path / "dl" / "cifar-10-python.tar.gz").is_file()


@pytest.mark.shared_data
def test_shared_cifar_subset() -> None:
    d = load_dataset(f"npz:{shared_file('cifar10_subset.npz')}")
    assert d.input_shape == (3, 32, 32) and d.num_classes == 10
    assert len(d.x_train) + len(d.x_val) == 5085 and len(d.x_test) == 1017
    assert np.allclose(d.mean, (0.494, 0.485, 0.448), atol=0.01)
