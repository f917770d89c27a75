import os
from pathlib import Path

import numpy as np
import pytest

from latal import Pool

REPO = Path(__file__).resolve().parents[1]


def shared_datasets() -> Path:
    """``$LATAL_TEST_DATA``, else ``../shared/datasets`` beside the repository."""
    return Path(os.environ.get("LATAL_TEST_DATA", REPO.parent / "shared" / "datasets"))


@pytest.fixture(scope="session")
def datasets_dir() -> Path:
    path = shared_datasets()
    if not (path / "mnist").is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"CI must have the shared datasets at {path}")
        pytest.skip(f"shared datasets not found at {path}")
    return path


def make_pool(n=300, d=8, n_classes=3, labeled=30, variational=True, seed=0):
    """A pool of Gaussian blobs with ground truth; ``labeled`` items already labeled (stratified)."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % n_classes
    centres = rng.normal(0, 3, size=(n_classes, d))
    mean = (centres[y] + rng.normal(size=(n, d))).astype(np.float32)
    log_var = rng.normal(-1, 0.3, size=(n, d)).astype(np.float32) if variational else None
    pool = Pool(mean, [f"c{i}" for i in range(n_classes)], log_var)
    if labeled:
        rest = rng.choice(np.arange(n_classes, n), size=max(labeled - n_classes, 0), replace=False)
        idx = np.concatenate([np.arange(n_classes), rest]).astype(np.int64)  # every class once, then random
        pool.add_labels(idx, y[idx])
    return pool, y


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    """Tests never read or write the user's cache (~/.cache/latal)."""
    monkeypatch.setenv("LATAL_CACHE", str(tmp_path_factory.getbasetemp() / "latal-cache"))


@pytest.fixture
def store(tmp_path):
    """A labeling project of 240 items and the classes cat, dog, bird (tests of the labeling app)."""
    from app_helpers import CLASSES
    from latal.app.store import ProjectStore

    s = ProjectStore.create(tmp_path / "p.sqlite", [f"img/{i:04d}.png" for i in range(240)],
                            {"classes": CLASSES, "source": {"kind": "test"}})
    yield s
    s.close()
