import numpy as np
import pytest

from latal import Pool
from latal.exceptions import DataError, LabelError


def _pool(n=10):
    return Pool(np.arange(n * 2, dtype=np.float32).reshape(n, 2), ["cat", "dog", "eel"])


def test_add_labels_by_name_and_index():
    pool = _pool()
    pool.add_labels([3, 1], ["dog", "eel"])
    pool.add_labels(np.array([5]), [0])
    assert pool.labeled_indices.tolist() == [1, 3, 5]
    assert pool.labels[[1, 3, 5]].tolist() == [2, 1, 0]
    assert pool.label_order.tolist() == [3, 1, 5]
    assert pool.class_counts().tolist() == [1, 1, 1]
    Z, y = pool.labeled_data()
    assert Z.shape == (3, 2) and y.tolist() == [2, 1, 0]


@pytest.mark.parametrize("indices, labels, message", [
    ([1], ["cow"], "unknown class 'cow'"),
    ([1], [7], "unknown class index 7"),
    ([10], ["cat"], "out of range"),
    ([-1], ["cat"], "out of range"),
    ([2, 2], ["cat", "dog"], "more than once"),
    ([1, 2], ["cat"], "1 labels"),
    ([1.5], ["cat"], "integers"),
])
def test_rejects_bad_labels_atomically(indices, labels, message):
    pool = _pool()
    with pytest.raises(LabelError, match=message):
        pool.add_labels(indices, labels)
    assert pool.n_labeled == 0


def test_rejects_relabeling():
    pool = _pool()
    pool.add_labels([4], ["cat"])
    with pytest.raises(LabelError, match="already labeled"):
        pool.add_labels([0, 4], ["dog", "dog"])
    assert pool.labeled_indices.tolist() == [4]


def test_view_is_read_only():
    pool = _pool()
    view = pool.view()
    with pytest.raises(ValueError):
        view.mean[0, 0] = 1.0
    with pytest.raises(ValueError):
        view.labels[0] = 1
    with pytest.raises(ValueError):
        pool.labels[0] = 1
    pool.add_labels([0], ["cat"])
    assert view.labels[0] == -1  # a snapshot


@pytest.mark.parametrize("mean, message", [
    (np.zeros((0, 2)), "empty"),
    (np.zeros(5), "2-D"),
    (np.array([[0.0, np.nan]]), "NaN"),
])
def test_bad_latents(mean, message):
    with pytest.raises(DataError, match=message):
        Pool(mean, ["a", "b"])


def test_bad_classes_and_log_var():
    with pytest.raises(DataError, match="unique"):
        Pool(np.zeros((3, 2)), ["a", "a"])
    with pytest.raises(DataError, match="at least 2 classes"):
        Pool(np.zeros((3, 2)), ["a"])
    with pytest.raises(DataError, match="does not match"):
        Pool(np.zeros((3, 2)), ["a", "b"], log_var=np.zeros((3, 3)))


def test_memory_map_is_not_copied(tmp_path):
    arr = np.random.default_rng(0).random((100, 4)).astype(np.float32)
    np.save(tmp_path / "z.npy", arr)
    mm = np.load(tmp_path / "z.npy", mmap_mode="r")
    pool = Pool(mm, ["a", "b"])
    assert np.shares_memory(pool.mean, mm)


def test_memory_mapped_latents_run_rounds_without_a_copy(tmp_path):
    """A pool built on ``np.load(..., mmap_mode="r")`` stays on disk: strategies and the loop read it in
    place, and give the same queries as the same latents in memory."""
    from latal.learners import make_learner
    from latal.loop import run_active_learning
    from latal.oracles import SimulatedOracle
    from latal.strategies import make_strategy

    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 3000)
    z = (rng.normal(0, 3, (3, 6))[y] + rng.normal(size=(3000, 6))).astype(np.float32)
    np.save(tmp_path / "latents.npy", z)
    mm = np.load(tmp_path / "latents.npy", mmap_mode="r")
    for spec in ("margin", "coreset", "badge", "seals", "margin_greedy"):
        pools = [Pool(mm, ["a", "b", "c"]), Pool(z.copy(), ["a", "b", "c"])]
        assert np.shares_memory(pools[0].mean, mm)
        histories = [run_active_learning(p, make_learner("mlp:hidden=16,epochs=2"), make_strategy(spec),
                                         SimulatedOracle(y), initial=30, batch=20, rounds=2, seed=1) for p in pools]
        assert histories[0].queries() == histories[1].queries(), spec
        assert np.shares_memory(pools[0].view().mean, mm)
