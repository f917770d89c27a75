"""SVHN and CIFAR-10 loaders, on tiny synthetic files in the official formats (the real files are not on
this machine)."""

import pickle
import tarfile

import numpy as np
import pytest

from latal.data import load_dataset
from latal.exceptions import DataError


def write_svhn(folder, n_train=7, n_test=3, seed=0):
    from scipy.io import savemat

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for split, n in (("train", n_train), ("test", n_test)):
        X = rng.integers(0, 256, size=(32, 32, 3, n), dtype=np.uint8)
        y = (np.arange(n) % 10 + 1).astype(np.uint8).reshape(-1, 1)  # 1..10, 10 = digit 0
        savemat(folder / f"{split}_32x32.mat", {"X": X, "y": y})
        out[split] = (X, y)
    return out


def test_svhn_reads_the_mat_format(tmp_path):
    written = write_svhn(tmp_path / "svhn")
    ds = load_dataset("svhn", tmp_path)
    X, y = written["train"]
    assert ds.x.shape == (7, 32, 32, 3) and ds.x.dtype == np.uint8 and ds.x_test.shape == (3, 32, 32, 3)
    np.testing.assert_array_equal(ds.x[4], X[:, :, :, 4])  # item axis moved first, pixels untouched
    assert ds.y.tolist() == [1, 2, 3, 4, 5, 6, 7] and ds.class_names[0] == "0"
    write_svhn(tmp_path / "ten", n_train=10)
    assert load_dataset("svhn", tmp_path / "ten").y[9] == 0  # label 10 is the digit 0


def test_svhn_missing_or_damaged_files_say_what_to_do(tmp_path, monkeypatch):
    with pytest.raises(DataError, match="train_32x32.mat and test_32x32.mat were not found.*--data-dir"):
        load_dataset("svhn", tmp_path)
    monkeypatch.delenv("LATAL_DATA", raising=False)
    with pytest.raises(DataError, match="not found anywhere: no --data-dir"):
        load_dataset("svhn")
    write_svhn(tmp_path)
    (tmp_path / "train_32x32.mat").write_bytes((tmp_path / "train_32x32.mat").read_bytes()[:300])
    with pytest.raises(DataError, match="corrupt or truncated"):
        load_dataset("svhn", tmp_path)
    from scipy.io import savemat

    savemat(tmp_path / "train_32x32.mat", {"X": np.zeros((28, 28, 3, 2), np.uint8), "y": np.ones((2, 1))})
    with pytest.raises(DataError, match=r"expected \(32, 32, 3, n\)"):
        load_dataset("svhn", tmp_path)
    savemat(tmp_path / "train_32x32.mat", {"X": np.zeros((32, 32, 3, 2), np.uint8), "y": np.array([[0], [11]])})
    with pytest.raises(DataError, match="labels run from 1 to 10"):
        load_dataset("svhn", tmp_path)


def cifar_batches(n=4, seed=0):
    rng = np.random.default_rng(seed)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    return {name: {b"batch_label": name.encode(), b"labels": [int(v) for v in rng.integers(0, 10, n)],
                   b"data": rng.integers(0, 256, size=(n, 3072), dtype=np.uint8),
                   b"filenames": [f"{name}_{i}.png".encode() for i in range(n)]} for name in names}


def test_cifar10_python_folder_binary_folder_and_tarball_agree(tmp_path):
    batches = cifar_batches()
    py = tmp_path / "py" / "cifar-10-batches-py"
    py.mkdir(parents=True)
    for name, d in batches.items():
        (py / name).write_bytes(pickle.dumps(d, protocol=2))
    a = load_dataset("cifar10", tmp_path / "py")
    assert a.x.shape == (20, 32, 32, 3) and a.x_test.shape == (4, 32, 32, 3) and a.class_names[0] == "airplane"
    first = batches["data_batch_1"]
    # row layout: 1,024 red, then green, then blue values, each row-major 32 x 32
    np.testing.assert_array_equal(a.x[0, :, :, 1], first[b"data"][0, 1024:2048].reshape(32, 32))
    assert a.y[:4].tolist() == first[b"labels"]

    binary = tmp_path / "bin" / "cifar-10-batches-bin"
    binary.mkdir(parents=True)
    for name, d in batches.items():
        rec = np.concatenate([np.asarray(d[b"labels"], np.uint8)[:, None], d[b"data"]], axis=1)
        rec.tofile(binary / f"{name}.bin")
    b = load_dataset("cifar-10", tmp_path / "bin")
    np.testing.assert_array_equal(a.x, b.x)
    np.testing.assert_array_equal(a.y_test, b.y_test)

    with tarfile.open(tmp_path / "cifar-10-python.tar.gz", "w:gz") as tar:
        tar.add(py, arcname="cifar-10-batches-py")
    c = load_dataset("cifar10", tmp_path)
    np.testing.assert_array_equal(a.x, c.x)


def test_cifar10_refuses_damaged_and_foreign_files(tmp_path):
    with pytest.raises(DataError, match="no cifar-10-batches-py/.*--data-dir"):
        load_dataset("cifar10", tmp_path)
    binary = tmp_path / "cifar-10-batches-bin"
    binary.mkdir()
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        (binary / f"{name}.bin").write_bytes(b"\0" * 3073 * 2)
    (binary / "test_batch.bin").write_bytes(b"\0" * 5000)
    with pytest.raises(DataError, match="not a whole number of 3,073-byte records"):
        load_dataset("cifar10", tmp_path)

    py = tmp_path / "p" / "cifar-10-batches-py"
    py.mkdir(parents=True)
    for name, d in cifar_batches().items():
        (py / name).write_bytes(pickle.dumps(d))

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    (py / "test_batch").write_bytes(pickle.dumps({b"data": Evil(), b"labels": []}))
    with pytest.raises(DataError, match="only numpy arrays are expected"):
        load_dataset("cifar10", tmp_path / "p")
    (py / "test_batch").write_bytes(b"\x80\x04garbage")
    with pytest.raises(DataError, match="corrupt or truncated"):
        load_dataset("cifar10", tmp_path / "p")
