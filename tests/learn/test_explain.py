"""What the features say, on known answers: a model that reads one dimension (or one patch) only."""

from __future__ import annotations

import numpy as np

from serkit.core.learner import Learner
from serkit.learn.explain import GRID, occlusion_map, permutation_importance_of


class ReadsOne(Learner):
    """Class 1 where the watched value is positive: dimension ``d`` of a vector, or the mean of the
    image's lowest-frequency, earliest patch."""

    def __init__(self, d: int = 0) -> None:
        self.d = d

    def fit(self, *args):  # type: ignore[no-untyped-def]
        raise NotImplementedError

    def predict_proba(self, x, transform=None):  # type: ignore[no-untyped-def]
        x = np.asarray(x)
        watched = x[:, self.d] if x.ndim == 2 else x[:, 0, :8, :8].mean(axis=(1, 2))
        p = 1 / (1 + np.exp(-4 * watched))
        return np.stack([1 - p, p], axis=1)

    def dumps(self) -> bytes:
        return b""

    def loads(self, data: bytes) -> None:
        pass


def test_permutation_importance_finds_the_one_dimension_read():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((80, 6)).astype(np.float32)
    y = (x[:, 3] > 0).astype(np.int64)
    found = permutation_importance_of(ReadsOne(3), x, y, None, seed=0)
    assert int(np.argmax(found["mean"])) == 3 and found["mean"][3] > 0.3
    assert max(abs(v) for k, v in enumerate(found["mean"]) if k != 3) == 0.0
    assert (
        permutation_importance_of(ReadsOne(3), np.zeros((4, 2000), np.float32), np.array([0, 1, 0, 1]), None, 0) == {}
    )


def test_the_occlusion_map_lights_up_the_patch_read():
    rng = np.random.default_rng(1)
    images = rng.standard_normal((40, 1, 64, 64)).astype(np.float32)
    y = (images[:, 0, :8, :8].mean(axis=(1, 2)) > 0).astype(np.int64)
    found = np.asarray(occlusion_map(ReadsOne(), images, y, None, 2, seed=0))
    assert found.shape == (2, *GRID)
    assert np.unravel_index(np.abs(found[1]).argmax(), GRID) == (0, 0)  # the patch it reads, and no other
    assert np.count_nonzero(np.abs(found[1]) > 1e-9) == 1


def test_the_batched_importance_is_scikit_learns_permutation_importance():
    from sklearn.inspection import permutation_importance
    from sklearn.linear_model import LogisticRegression

    from serkit.core.scores import uar as macro_recall
    from serkit.learn.explain import REPEATS

    rng = np.random.default_rng(2)
    x = rng.standard_normal((60, 7)).astype(np.float32)
    y = (x[:, 1] + 0.5 * x[:, 4] + 0.3 * rng.standard_normal(60) > 0).astype(np.int64) + (x[:, 2] > 1)
    model = LogisticRegression().fit(x, y)

    class Fitted(ReadsOne):
        def predict_proba(self, features, transform=None):  # type: ignore[no-untyped-def]
            return model.predict_proba(np.asarray(features))

    def score(estimator, features, truth):  # type: ignore[no-untyped-def]
        return macro_recall(truth, estimator.predict_proba(features).argmax(1))

    ours = permutation_importance_of(Fitted(), x, y, None, seed=5)
    theirs = permutation_importance(Fitted(), x, y, scoring=score, n_repeats=REPEATS, random_state=5)
    assert np.allclose(ours["mean"], theirs.importances_mean) and np.allclose(ours["sd"], theirs.importances_std)
    assert max(ours["mean"]) > 0.05  # not a comparison of zeros


def test_a_regressions_importance_is_scikit_learns_with_a_ccc_scorer():
    """metric = "ccc": the drop in the mean CCC over the targets, as permutation_importance computes it."""
    from sklearn.inspection import permutation_importance
    from sklearn.linear_model import Ridge

    from serkit.core.scores import ccc
    from serkit.learn.explain import REPEATS

    rng = np.random.default_rng(3)
    x = rng.standard_normal((60, 5)).astype(np.float32)
    y = np.stack([x[:, 0] + 0.2 * rng.standard_normal(60), x[:, 3] - x[:, 1]], axis=1)
    model = Ridge().fit(x, y)

    class Fitted(ReadsOne):
        def predict_proba(self, features, transform=None):  # type: ignore[no-untyped-def]
            return model.predict(np.asarray(features))

    def score(estimator, features, truth):  # type: ignore[no-untyped-def]
        found = estimator.predict_proba(features)
        return np.mean([ccc(truth[:, k], found[:, k]) for k in range(truth.shape[1])])

    ours = permutation_importance_of(Fitted(), x, y, None, seed=5, metric="ccc")
    theirs = permutation_importance(Fitted(), x, y, scoring=score, n_repeats=REPEATS, random_state=5)
    assert np.allclose(ours["mean"], theirs.importances_mean) and np.allclose(ours["sd"], theirs.importances_std)
    assert int(np.argmax(ours["mean"])) in (0, 3) and ours["mean"][2] < 0.02  # dimension 2 is not read
    assert permutation_importance_of(Fitted(), x, np.zeros((60, 2)), None, seed=5, metric="ccc") == {}
