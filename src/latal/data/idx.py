"""The IDX format (MNIST, Fashion-MNIST): reader, dataset loader and checksummed download."""

from __future__ import annotations

import gzip
import hashlib
import os
import tempfile
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from latal.data.dataset import Dataset
from latal.exceptions import DataError, DownloadError

# IDX type byte -> big-endian numpy dtype
_IDX_TYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def _read_bytes(path: Path) -> bytes:
    try:
        with open(path, "rb") as fh:
            head = fh.read(2)
        if head == b"\x1f\x8b":
            with gzip.open(path, "rb") as fh:
                return fh.read()
        return path.read_bytes()
    except (EOFError, gzip.BadGzipFile, zlib.error, OSError) as exc:
        if isinstance(exc, FileNotFoundError):
            raise DataError(f"IDX file not found: {path}") from exc
        raise DataError(
            f"{path} is not a readable IDX file ({type(exc).__name__}: {exc}). "
            "The file is corrupt or truncated: delete it and download it again."
        ) from exc


def read_idx(path) -> np.ndarray:
    """Read an IDX file (gzip-compressed or raw) into a native-endian numpy array.

    The magic number, the type byte, the number of dimensions and the payload size are
    checked; a truncated or corrupt file raises :class:`~latal.exceptions.DataError`.
    """
    path = Path(path)
    raw = _read_bytes(path)
    if len(raw) < 4:
        raise DataError(f"{path}: {len(raw)} bytes is too short for an IDX header; the file is truncated.")
    zero0, zero1, type_byte, ndim = raw[0], raw[1], raw[2], raw[3]
    if zero0 != 0 or zero1 != 0 or type_byte not in _IDX_TYPES or ndim == 0:
        raise DataError(
            f"{path}: bad IDX magic number 0x{raw[:4].hex()} (expected 0x0000 then a type byte among "
            f"{sorted(hex(t) for t in _IDX_TYPES)} and the number of dimensions). Is this an IDX file?"
        )
    header_len = 4 + 4 * ndim
    if len(raw) < header_len:
        raise DataError(f"{path}: the header announces {ndim} dimensions but the file ends before them.")
    dims = tuple(int(v) for v in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = _IDX_TYPES[type_byte]
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    payload = len(raw) - header_len
    if payload != expected:
        what = "truncated" if payload < expected else "longer than its header says"
        raise DataError(
            f"{path}: the header announces dimensions {dims} ({expected} bytes of data) but the file holds "
            f"{payload}; the file is {what}. Delete it and download it again."
        )
    arr = np.frombuffer(raw, dtype=dtype, offset=header_len).reshape(dims)
    return arr.astype(dtype.newbyteorder("="), copy=True)


@dataclass(frozen=True)
class IdxSpec:
    """Where a named IDX dataset lives and how to check it."""

    name: str
    class_names: tuple[str, ...]
    mirrors: tuple[str, ...]
    md5: dict  # file name -> md5 of the official (gzip) file
    image_shape: tuple[int, int] = (28, 28)
    train_images: str = "train-images-idx3-ubyte"
    train_labels: str = "train-labels-idx1-ubyte"
    test_images: str = "t10k-images-idx3-ubyte"
    test_labels: str = "t10k-labels-idx1-ubyte"

    @property
    def files(self) -> tuple[str, str, str, str]:
        return (self.train_images, self.train_labels, self.test_images, self.test_labels)


IDX_DATASETS: dict[str, IdxSpec] = {
    "mnist": IdxSpec(
        name="mnist",
        class_names=tuple(str(i) for i in range(10)),
        # The official location first; the second is the mirror PyTorch uses since the first went offline.
        mirrors=("http://yann.lecun.com/exdb/mnist/", "https://ossci-datasets.s3.amazonaws.com/mnist/"),
        md5={
            "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
            "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
            "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
            "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
        },
    ),
    "fashion-mnist": IdxSpec(
        name="fashion-mnist",
        class_names=(
            "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
            "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
        ),
        mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
        md5={
            "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
            "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
            "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
            "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
        },
    ),
}


def default_cache_dir() -> Path:
    """``$LATAL_CACHE``, else ``$XDG_CACHE_HOME/latal``, else ``~/.cache/latal``."""
    if os.environ.get("LATAL_CACHE"):
        return Path(os.environ["LATAL_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "latal"


def _find(directory: Path, stem: str) -> Path | None:
    for candidate in (directory / f"{stem}.gz", directory / stem):
        if candidate.is_file():
            return candidate
    return None


def find_idx_dir(spec: IdxSpec, data_dir) -> Path | None:
    """The folder under ``data_dir`` holding all four files of ``spec`` (``data_dir/<name>/`` or ``data_dir``)."""
    if data_dir is None:
        return None
    data_dir = Path(data_dir)
    for folder in (data_dir / spec.name, data_dir / spec.name.replace("-", "_"), data_dir):
        if all(_find(folder, stem) for stem in spec.files):
            return folder
    return None


def md5sum(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def download_file(url: str, dest: Path, md5: str | None = None, *, progress: bool = True, timeout: float = 60.0) -> Path:
    """Stream ``url`` to ``dest`` (atomically, via a temporary file beside it), show a progress bar,
    and check the MD5 checksum. ``file://`` URLs work too (that is how the tests run this code)."""
    from tqdm.auto import tqdm

    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=dest.name, suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
            total = response.headers.get("Content-Length") if hasattr(response, "headers") else None
            with tqdm(
                total=int(total) if total else None, unit="B", unit_scale=True,
                desc=f"download {dest.name}", disable=not progress, leave=False,
            ) as bar:
                while block := response.read(1 << 16):
                    out.write(block)
                    bar.update(len(block))
        if md5 is not None:
            got = md5sum(tmp)
            if got != md5:
                raise DownloadError(
                    f"checksum mismatch for {url}: MD5 {got}, expected {md5}. "
                    "The download is corrupt or the mirror serves another file; try again or place the "
                    "official files in a folder and pass it with --data-dir / LATAL_DATA."
                )
        os.replace(tmp, dest)
        return dest
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        raise DownloadError(f"could not download {url}: {exc}") from exc
    finally:
        if tmp.exists():
            tmp.unlink()


def download_idx(spec: IdxSpec, target: Path, *, progress: bool = True) -> Path:
    """Download the four files of ``spec`` into ``target``, trying each mirror in turn."""
    target = Path(target)
    target.mkdir(parents=True, exist_ok=True)
    for stem in spec.files:
        name = f"{stem}.gz"
        dest = target / name
        if dest.is_file() and md5sum(dest) == spec.md5.get(name):
            continue
        errors = []
        for mirror in spec.mirrors:
            try:
                download_file(mirror + name, dest, spec.md5.get(name), progress=progress)
                break
            except DownloadError as exc:
                errors.append(str(exc))
        else:
            raise DownloadError(
                f"could not get {name} for {spec.name} from any mirror:\n  " + "\n  ".join(errors)
                + "\nPlace the files in a folder and pass it with --data-dir or LATAL_DATA."
            )
    return target


def load_idx_dataset(
    name: str, data_dir=None, *, download: bool = True, cache_dir=None, progress: bool = True,
    spec: IdxSpec | None = None,
) -> Dataset:
    """Load MNIST or Fashion-MNIST.

    Looks in ``data_dir`` (else ``$LATAL_DATA``) for the four IDX files, either in
    ``data_dir/<name>/`` or directly in ``data_dir``, gzip-compressed or raw. When they are
    absent and ``download`` is true, downloads them (with MD5 checks) into
    ``cache_dir/datasets/<name>`` and reads them from there.
    """
    spec = spec or IDX_DATASETS.get(name)
    if spec is None:
        raise DataError(f"unknown IDX dataset {name!r}; known: {sorted(IDX_DATASETS)}.")
    if data_dir is None and os.environ.get("LATAL_DATA"):
        data_dir = os.environ["LATAL_DATA"]
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    folder = find_idx_dir(spec, data_dir) or find_idx_dir(spec, cache / "datasets")
    if folder is None:
        if not download:
            raise DataError(
                f"{spec.name}: the IDX files {list(spec.files)} were not found in {data_dir!r}; "
                "pass the folder that holds them with --data-dir or LATAL_DATA, or allow the download."
            )
        folder = download_idx(spec, cache / "datasets" / spec.name, progress=progress)

    x_train = read_idx(_find(folder, spec.train_images))
    y_train = read_idx(_find(folder, spec.train_labels))
    x_test = read_idx(_find(folder, spec.test_images))
    y_test = read_idx(_find(folder, spec.test_labels))
    for split, x, y in (("train", x_train, y_train), ("test", x_test, y_test)):
        if x.ndim != 3 or x.shape[1:] != spec.image_shape:
            raise DataError(f"{spec.name} {split} images have shape {x.shape}; expected (n, *{spec.image_shape}).")
        if y.ndim != 1:
            raise DataError(f"{spec.name} {split} labels have shape {y.shape}; expected (n,).")
        if x.shape[0] != y.shape[0]:
            raise DataError(
                f"{spec.name} {split}: {x.shape[0]} images but {y.shape[0]} labels in {folder}; "
                "the files do not belong together."
            )
        if y.size and (int(y.min()) < 0 or int(y.max()) >= len(spec.class_names)):
            raise DataError(f"{spec.name} {split} labels run outside 0..{len(spec.class_names) - 1}.")
    return Dataset(
        name=spec.name,
        x=x_train,
        y=y_train.astype(np.int64),
        class_names=list(spec.class_names),
        x_test=x_test,
        y_test=y_test.astype(np.int64),
        meta={"source": str(folder)},
    )


def write_idx(path, array: np.ndarray, *, compress: bool | None = None) -> Path:
    """Write ``array`` as an IDX file (gzip when the name ends in .gz). Used by tests and exports."""
    path = Path(path)
    array = np.asarray(array)
    for type_byte, dtype in _IDX_TYPES.items():
        if dtype.newbyteorder("=") == array.dtype.newbyteorder("="):
            break
    else:
        raise DataError(f"IDX cannot store dtype {array.dtype}.")
    header = bytes([0, 0, type_byte, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    payload = header + array.astype(dtype).tobytes()
    compress = path.suffix == ".gz" if compress is None else compress
    if compress:
        with gzip.open(path, "wb") as fh:
            fh.write(payload)
    else:
        path.write_bytes(payload)
    return path


__all__ = [
    "IDX_DATASETS", "IdxSpec", "default_cache_dir", "download_file", "download_idx",
    "load_idx_dataset", "md5sum", "read_idx", "write_idx",
]
