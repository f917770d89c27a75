import gzip

import numpy as np
import pytest

from latal.data import load_dataset, split_dataset
from latal.data.arrays import load_array_dataset
from latal.data.folders import load_image_folder
from latal.data.idx import IDX_DATASETS, IdxSpec, load_idx_dataset, md5sum, read_idx, write_idx
from latal.exceptions import DataError, DownloadError


# ------------------------------------------------------------------ real files
def test_mnist_facts(datasets_dir):
    ds = load_dataset("mnist", datasets_dir)
    assert ds.x.shape == (60000, 28, 28) and ds.x.dtype == np.uint8
    assert ds.x_test.shape == (10000, 28, 28)
    assert np.bincount(ds.y).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert ds.y[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert np.bincount(ds.y_test).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert ds.x.mean() == pytest.approx(33.318, abs=1e-3)
    assert ds.x.std() == pytest.approx(78.567, abs=1e-3)
    assert ds.class_names == [str(i) for i in range(10)]


def test_fashion_mnist_facts(datasets_dir, monkeypatch):
    monkeypatch.setenv("LATAL_DATA", str(datasets_dir))  # the environment variable route
    ds = load_dataset("fashion-mnist")
    assert ds.x.shape == (60000, 28, 28) and ds.x_test.shape == (10000, 28, 28)
    assert np.bincount(ds.y).tolist() == [6000] * 10
    assert np.bincount(ds.y_test).tolist() == [1000] * 10
    assert ds.class_names[0] == "T-shirt/top" and ds.class_names[9] == "Ankle boot"


def test_raw_and_gzip_read_the_same(datasets_dir, tmp_path):
    gz = datasets_dir / "mnist" / "t10k-labels-idx1-ubyte.gz"
    raw = tmp_path / "t10k-labels-idx1-ubyte"
    raw.write_bytes(gzip.decompress(gz.read_bytes()))
    assert np.array_equal(read_idx(gz), read_idx(raw))


# ------------------------------------------------------------------ corrupt files
def test_truncated_idx_is_reported(tmp_path):
    path = write_idx(tmp_path / "x-idx3-ubyte", np.zeros((5, 4, 4), np.uint8))
    data = path.read_bytes()
    path.write_bytes(data[:-7])
    with pytest.raises(DataError, match="truncated"):
        read_idx(path)


def test_truncated_gzip_is_reported(tmp_path):
    path = write_idx(tmp_path / "x-idx3-ubyte.gz", np.arange(5000, dtype=np.uint8).reshape(50, 10, 10) % 7)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="corrupt or truncated"):
        read_idx(path)


def test_bad_magic_is_reported(tmp_path):
    path = tmp_path / "junk"
    path.write_bytes(b"PK\x03\x04" + bytes(100))
    with pytest.raises(DataError, match="magic number"):
        read_idx(path)


def test_idx_round_trip_types(tmp_path):
    for arr in (np.arange(24, dtype=np.uint8).reshape(2, 3, 4), np.linspace(0, 1, 6, dtype=np.float32),
                np.arange(-3, 3, dtype=np.int32)):
        assert np.array_equal(read_idx(write_idx(tmp_path / "a.gz", arr)), arr)


def _fake_idx_folder(folder, n_train=12, n_test=6, seed=0):
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    write_idx(folder / "train-images-idx3-ubyte.gz", rng.integers(0, 255, (n_train, 28, 28), dtype=np.uint8))
    write_idx(folder / "train-labels-idx1-ubyte.gz", (np.arange(n_train) % 10).astype(np.uint8))
    write_idx(folder / "t10k-images-idx3-ubyte.gz", rng.integers(0, 255, (n_test, 28, 28), dtype=np.uint8))
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", (np.arange(n_test) % 10).astype(np.uint8))
    return folder


def test_image_label_count_mismatch(tmp_path):
    folder = _fake_idx_folder(tmp_path / "mnist")
    write_idx(folder / "train-labels-idx1-ubyte.gz", np.zeros(11, np.uint8))
    with pytest.raises(DataError, match="12 images but 11 labels"):
        load_idx_dataset("mnist", tmp_path, download=False)


# ------------------------------------------------------------------ download
def _local_mirror(tmp_path):
    mirror = _fake_idx_folder(tmp_path / "mirror")
    base = IDX_DATASETS["mnist"]
    md5 = {f"{stem}.gz": md5sum(mirror / f"{stem}.gz") for stem in base.files}
    spec = IdxSpec(name="mnist", class_names=base.class_names, mirrors=(mirror.as_uri() + "/",), md5=md5)
    return mirror, spec


def test_download_from_mirror_with_checksum(tmp_path):
    mirror, spec = _local_mirror(tmp_path)
    cache = tmp_path / "cache"
    ds = load_idx_dataset("mnist", tmp_path / "nowhere", cache_dir=cache, spec=spec, progress=False)
    assert ds.x.shape == (12, 28, 28) and ds.x_test.shape == (6, 28, 28)
    assert (cache / "datasets" / "mnist" / "train-images-idx3-ubyte.gz").is_file()
    # the second load reads the cache, even with the mirror gone
    for f in mirror.iterdir():
        f.unlink()
    again = load_idx_dataset("mnist", tmp_path / "nowhere", cache_dir=cache, spec=spec, progress=False)
    assert np.array_equal(again.x, ds.x)


def test_download_checksum_mismatch_leaves_nothing(tmp_path):
    _, spec = _local_mirror(tmp_path)
    bad = IdxSpec(name="mnist", class_names=spec.class_names, mirrors=spec.mirrors,
                  md5={**spec.md5, "train-images-idx3-ubyte.gz": "0" * 32})
    cache = tmp_path / "cache"
    with pytest.raises(DownloadError, match="checksum mismatch"):
        load_idx_dataset("mnist", None, cache_dir=cache, spec=bad, progress=False)
    assert not (cache / "datasets" / "mnist" / "train-images-idx3-ubyte.gz").exists()
    assert not list((cache / "datasets" / "mnist").glob("*.part"))


def test_no_download_gives_clear_error(tmp_path, monkeypatch):
    monkeypatch.delenv("LATAL_DATA", raising=False)
    with pytest.raises(DataError, match="--data-dir or LATAL_DATA"):
        load_idx_dataset("mnist", tmp_path, download=False, cache_dir=tmp_path / "c")


# ------------------------------------------------------------------ other sources
def test_digits_embedded():
    ds = load_dataset("digits")
    assert ds.x.shape == (1797, 8, 8) and len(ds.class_names) == 10 and ds.x_test is None
    split = split_dataset(ds, 0.25, seed=0)
    assert split.n + split.x_test.shape[0] == 1797
    assert set(np.unique(split.y_test)) == set(range(10))
    assert np.array_equal(split_dataset(ds, 0.25, seed=0).y, split.y)


def test_npz_with_string_labels(tmp_path):
    x = np.random.default_rng(0).random((10, 3, 3)).astype(np.float32)
    y = np.array(["cat", "dog"] * 5)
    np.savez(tmp_path / "d.npz", x=x, y=y)
    ds = load_dataset(str(tmp_path / "d.npz"))
    assert ds.class_names == ["cat", "dog"] and ds.y.tolist() == [0, 1] * 5


def test_npy_is_unlabeled(tmp_path):
    np.save(tmp_path / "u.npy", np.zeros((4, 5), np.float32))
    ds = load_array_dataset(tmp_path / "u.npy")
    assert ds.y is None and ds.n == 4


def test_npz_nan_rejected(tmp_path):
    x = np.zeros((4, 2), np.float32)
    x[2, 1] = np.nan
    np.savez(tmp_path / "n.npz", x=x, y=np.arange(4) % 2)
    with pytest.raises(DataError, match="NaN"):
        load_dataset(str(tmp_path / "n.npz"))


def test_corrupt_npz(tmp_path):
    (tmp_path / "c.npz").write_bytes(b"PK\x03\x04garbage")
    with pytest.raises(DataError, match="corrupt"):
        load_dataset(str(tmp_path / "c.npz"))


def _png(path, value, size=(6, 5), mode="L"):
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, value).save(path)


def test_image_folder_labeled(tmp_path):
    for i in range(3):
        _png(tmp_path / "ants" / f"a{i}.png", 10 * i)
        _png(tmp_path / "bees" / f"b{i}.png", 200)
    ds = load_image_folder(tmp_path)
    assert ds.class_names == ["ants", "bees"] and ds.y.tolist() == [0, 0, 0, 1, 1, 1]
    assert ds.x.shape == (6, 5, 6) and ds.paths[0].endswith("a0.png")


def test_image_folder_unlabeled_and_sizes(tmp_path):
    _png(tmp_path / "x.png", 1)
    _png(tmp_path / "y.png", 2, size=(8, 8))
    with pytest.raises(DataError, match="--image-size"):
        load_image_folder(tmp_path)
    ds = load_image_folder(tmp_path, image_size=(4, 4))
    assert ds.y is None and ds.x.shape == (2, 4, 4)


def test_image_folder_corrupt_file(tmp_path):
    _png(tmp_path / "a" / "ok.png", 1)
    (tmp_path / "a" / "bad.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match="bad.png"):
        load_image_folder(tmp_path)


def test_unknown_dataset():
    with pytest.raises(DataError, match="unknown dataset"):
        load_dataset("cifar-99")
