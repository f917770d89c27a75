import numpy as np
import pytest

from latal.exceptions import DataError
from latal.learners import LEARNERS, MLPClassifier, SklearnLearner, make_learner

from conftest import make_pool


def _data():
    pool, y = make_pool(n=400, d=6, n_classes=3, labeled=0, seed=2)
    return np.asarray(pool.mean), y


@pytest.mark.parametrize("name", [n for n in LEARNERS.names()
                                  if not getattr(LEARNERS.entry(n).factory, "uses_inputs", False)])
def test_contract(name):
    """Every learner that reads latents only (the CNN student, which trains on images, has its own tests)."""
    Z, y = _data()
    seeded = "random_state" in LEARNERS.entry(name).parameters()
    learner = make_learner(name, **({"random_state": 0} if seeded else {}))  # label spreading is deterministic
    fitted = learner.fit(Z[:200], y[:200], n_classes=4)  # one class has no label yet
    proba = fitted.predict_proba(Z[200:])
    assert proba.shape == (200, 4)
    assert np.allclose(proba.sum(1), 1.0) and (proba >= 0).all()
    assert fitted.score(Z[200:], y[200:]) > 0.9
    assert fitted.predict(Z[:3]).dtype == np.int64


def test_mlp_defaults_follow_the_thesis():
    m = MLPClassifier()
    assert (m.hidden, m.dropout, m.epochs, m.batch_size) == ((512, 512), 0.2, 20, 100)


def test_mlp_same_seed_same_model_and_reinitialised():
    Z, y = _data()
    a = MLPClassifier(epochs=3, random_state=1).fit(Z, y).predict_proba(Z)
    b = MLPClassifier(epochs=3, random_state=1).fit(Z, y).predict_proba(Z)
    assert np.array_equal(a, b)
    m = MLPClassifier(epochs=3, random_state=1)
    m.fit(Z, y)
    m.fit(Z, y)  # a second fit starts from scratch, not from the first one's weights
    assert np.array_equal(m.predict_proba(Z), a)


def test_mlp_mc_dropout_samples():
    Z, y = _data()
    m = MLPClassifier(epochs=2, random_state=0, dropout=0.5).fit(Z, y)
    s = m.predict_proba_samples(Z[:50], n_samples=7, random_state=3)
    assert s.shape == (7, 50, 3) and np.allclose(s.sum(-1), 1)
    assert not np.allclose(s[0], s[1])  # dropout is on
    assert np.array_equal(s, m.predict_proba_samples(Z[:50], n_samples=7, random_state=3))


def test_mlp_hidden_from_spec():
    m = make_learner("mlp:hidden=64x32,epochs=2", random_state=0)
    Z, y = _data()
    m.fit(Z, y)
    assert [l.out_features for l in m.model_ if hasattr(l, "out_features")] == [64, 32, 3]


def test_errors():
    Z, y = _data()
    with pytest.raises(DataError, match="one label per row"):
        MLPClassifier().fit(Z, y[:-1])
    with pytest.raises(DataError, match="NaN"):
        Z2 = Z.copy()
        Z2[0, 0] = np.nan
        MLPClassifier().fit(Z2, y)
    with pytest.raises(Exception, match="not fitted"):
        MLPClassifier().predict_proba(Z)
    fitted = MLPClassifier(epochs=1).fit(Z, y)
    with pytest.raises(DataError, match="dimensions"):
        fitted.predict_proba(Z[:, :3])


def test_sklearn_single_class():
    Z, y = _data()
    m = SklearnLearner(__import__("sklearn.linear_model", fromlist=["x"]).LogisticRegression()).fit(Z[:5], np.zeros(5, int), n_classes=3)
    assert m.predict_proba(Z[:2]).tolist() == [[1, 0, 0], [1, 0, 0]]
