"""SVHN (cropped digits, ``train_32x32.mat`` / ``test_32x32.mat``) and CIFAR-10 (the official python or
binary batches, or the python tarball itself), read from a folder the user gives. Nothing is downloaded:
these files are large and not on every machine, so the error says where to get them and where to put them.

Both return 32x32x3 uint8 images (n, 32, 32, 3) with their official train/test split."""

from __future__ import annotations

import io
import os
import pickle
import tarfile
from pathlib import Path

import numpy as np

from latal.data.dataset import Dataset
from latal.exceptions import DataError

SVHN_URL = "http://ufldl.stanford.edu/housenumbers/"
CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar.html"
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


def _where(data_dir, sub: str) -> str:
    if data_dir is None and not os.environ.get("LATAL_DATA"):
        return "anywhere: no --data-dir (or LATAL_DATA) was given"
    return f"in {data_dir or os.environ['LATAL_DATA']!r} (nor in a {sub}/ folder there)"


def _folders(name: str, data_dir) -> list[Path]:
    if data_dir is None and os.environ.get("LATAL_DATA"):
        data_dir = os.environ["LATAL_DATA"]
    if data_dir is None:
        return []
    base = Path(data_dir)
    return [base / name, base / name.replace("-", ""), base / name.replace("-", "_"), base]


# ---------------------------------------------------------------------------------------------- SVHN

def _read_svhn(path: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    from scipy.io import loadmat

    try:
        mat = loadmat(path)
    except (ValueError, OSError, TypeError, NotImplementedError) as exc:
        raise DataError(f"{path} is not a readable SVHN .mat file ({type(exc).__name__}: {exc}); the file is "
                        f"corrupt or truncated: download it again from {SVHN_URL}.") from exc
    if "X" not in mat or "y" not in mat:
        raise DataError(f"{path}: an SVHN file holds arrays X and y; found {sorted(k for k in mat if not k.startswith('__'))}.")
    X, y = mat["X"], np.asarray(mat["y"]).reshape(-1)
    if X.ndim != 4 or X.shape[:3] != (32, 32, 3):
        raise DataError(f"{path}: SVHN images X have shape {X.shape}; expected (32, 32, 3, n).")
    if X.shape[3] != y.shape[0]:
        raise DataError(f"{path}: {X.shape[3]} images but {y.shape[0]} labels.")
    if y.size and (int(y.min()) < 1 or int(y.max()) > 10):
        raise DataError(f"{path}: SVHN labels run from 1 to 10 (10 is the digit 0); found {int(y.min())}..{int(y.max())}.")
    if X.dtype != np.uint8:
        raise DataError(f"{path}: SVHN images are uint8; found {X.dtype}.")
    return np.ascontiguousarray(np.moveaxis(X, 3, 0)), (y.astype(np.int64) % 10)


def load_svhn(data_dir=None) -> Dataset:
    """SVHN cropped digits from ``data_dir`` (or ``data_dir/svhn``): ``train_32x32.mat`` and
    ``test_32x32.mat``. Label 10 in the files is the digit 0; classes are ``"0"``..``"9"``."""
    for folder in _folders("svhn", data_dir):
        train, test = folder / "train_32x32.mat", folder / "test_32x32.mat"
        if train.is_file() and test.is_file():
            x, y = _read_svhn(train, "train")
            xt, yt = _read_svhn(test, "test")
            return Dataset(name="svhn", x=x, y=y, class_names=[str(i) for i in range(10)], x_test=xt, y_test=yt,
                           meta={"source": str(folder)})
    raise DataError(f"SVHN: train_32x32.mat and test_32x32.mat were not found {_where(data_dir, 'svhn')}."
                    f" Download the cropped-digit files (format 2) from {SVHN_URL}, put them in a "
                    "folder and pass it with --data-dir or LATAL_DATA.")


# ------------------------------------------------------------------------------------------ CIFAR-10

class _ArraysOnly(pickle.Unpickler):
    """The CIFAR-10 batches are pickles: load dicts, lists, bytes and numpy arrays, nothing else (a pickle
    can otherwise run any code)."""

    _ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
                ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")}

    def find_class(self, module, name):
        if (module, name) in self._ALLOWED:
            if module == "numpy":
                return getattr(np, name)
            if module == "_codecs":  # how protocol-2 pickles written by Python 3 store bytes
                import codecs

                return codecs.encode
            import importlib

            try:  # numpy 2 moved numpy.core to numpy._core; old pickles name the old path
                return importlib.import_module("numpy._core.multiarray")._reconstruct
            except ImportError:
                return importlib.import_module("numpy.core.multiarray")._reconstruct
        raise DataError(f"a CIFAR-10 batch refers to {module}.{name}; only numpy arrays are expected, so the "
                        "file is not an official CIFAR-10 batch.")


def _unpickle(raw: bytes, where: str) -> dict:
    try:
        d = _ArraysOnly(io.BytesIO(raw), encoding="bytes").load()
    except DataError:
        raise
    except Exception as exc:  # noqa: BLE001  (any unpickling failure means a damaged file)
        raise DataError(f"{where} is not a readable CIFAR-10 batch ({type(exc).__name__}: {exc}); the file is "
                        f"corrupt or truncated: download it again from {CIFAR10_URL}.") from exc
    if not isinstance(d, dict) or b"data" not in d or b"labels" not in d:
        raise DataError(f"{where}: a CIFAR-10 batch is a dict with data and labels.")
    return d


def _check_batch(data, labels, where: str) -> tuple[np.ndarray, np.ndarray]:
    data, labels = np.asarray(data), np.asarray(labels, dtype=np.int64).reshape(-1)
    if data.ndim != 2 or data.shape[1] != 3072 or data.dtype != np.uint8:
        raise DataError(f"{where}: CIFAR-10 data is uint8 of shape (n, 3072); found {data.dtype} {data.shape}.")
    if data.shape[0] != labels.shape[0]:
        raise DataError(f"{where}: {data.shape[0]} images but {labels.shape[0]} labels.")
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise DataError(f"{where}: CIFAR-10 labels run from 0 to 9; found {labels.min()}..{labels.max()}.")
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).copy(), labels


_PY_FILES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
_BIN_FILES = [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]


def _from_python(read, where: str):
    parts = [_check_batch(*(lambda d: (d[b"data"], d[b"labels"]))(_unpickle(read(f), f"{where}/{f}")), f"{where}/{f}")
             for f in _PY_FILES]
    return parts


def _from_binary(folder: Path):
    parts = []
    for f in _BIN_FILES:
        raw = np.fromfile(folder / f, dtype=np.uint8)
        if raw.size % 3073:
            raise DataError(f"{folder / f}: {raw.size} bytes is not a whole number of 3,073-byte records; the file "
                            f"is truncated: download it again from {CIFAR10_URL}.")
        rec = raw.reshape(-1, 3073)
        parts.append(_check_batch(rec[:, 1:], rec[:, 0], str(folder / f)))
    return parts


def load_cifar10(data_dir=None) -> Dataset:
    """CIFAR-10 from ``data_dir``: the folder ``cifar-10-batches-py`` (python version), ``cifar-10-batches-bin``
    (binary version), or the tarball ``cifar-10-python.tar.gz`` as downloaded (read without extracting)."""
    parts, source = None, None
    for folder in _folders("cifar10", data_dir) + _folders("cifar-10", data_dir):
        py, binary, tgz = folder / "cifar-10-batches-py", folder / "cifar-10-batches-bin", folder / "cifar-10-python.tar.gz"
        if all((py / f).is_file() for f in _PY_FILES):
            parts, source = _from_python(lambda f: (py / f).read_bytes(), str(py)), py
        elif all((binary / f).is_file() for f in _BIN_FILES):
            parts, source = _from_binary(binary), binary
        elif tgz.is_file():
            try:
                with tarfile.open(tgz, "r:gz") as tar:
                    def read(f):
                        member = tar.extractfile(f"cifar-10-batches-py/{f}")
                        if member is None:
                            raise KeyError(f)
                        return member.read()

                    parts, source = _from_python(read, str(tgz)), tgz
            except (tarfile.TarError, KeyError, EOFError, OSError) as exc:
                raise DataError(f"{tgz} is not a complete CIFAR-10 python tarball ({type(exc).__name__}: {exc}); "
                                f"download it again from {CIFAR10_URL}.") from exc
        if parts is not None:
            break
    if parts is None:
        raise DataError(f"CIFAR-10: no cifar-10-batches-py/, cifar-10-batches-bin/ or cifar-10-python.tar.gz "
                        f"{_where(data_dir, 'cifar10')}. Download CIFAR-10 from {CIFAR10_URL}, put it in a "
                        "folder and pass it with --data-dir or LATAL_DATA.")
    x = np.concatenate([p[0] for p in parts[:5]])
    y = np.concatenate([p[1] for p in parts[:5]])
    return Dataset(name="cifar10", x=x, y=y, class_names=list(CIFAR10_CLASSES), x_test=parts[5][0],
                   y_test=parts[5][1], meta={"source": str(source)})


RGB_DATASETS = {"svhn": load_svhn, "cifar10": load_cifar10, "cifar-10": load_cifar10}
