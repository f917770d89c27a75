import pytest

from app_helpers import CLASSES
from latal.app.store import ProjectStore


@pytest.fixture
def store(tmp_path):
    s = ProjectStore.create(tmp_path / "p.sqlite", [f"img/{i:04d}.png" for i in range(240)],
                            {"classes": CLASSES, "source": {"kind": "test"}})
    yield s
    s.close()
