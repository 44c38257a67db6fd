"""Calibration figures on known answers, against scikit-learn where it has them."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import softmax
from sklearn.calibration import calibration_curve
from sklearn.metrics import log_loss

from serkit.inference.predictor import normalised_entropy
from serkit.learn.calibration import fit_temperature, temperature_scaled
from serkit.results.calibration import calibration_report, expected_calibration_error, reliability_bins


def test_ece_on_a_known_answer():
    # Bin of confidence 0.9 holds 2 predictions, one right: |0.5 - 0.9| = 0.4, weight 2/4;
    # bin of 0.6 holds 2, both right: |1 - 0.6| = 0.4, weight 2/4: ECE 0.4.
    correct = np.array([1.0, 0.0, 1.0, 1.0])
    confidence = np.array([0.9, 0.9, 0.6, 0.6])
    assert expected_calibration_error(correct, confidence) == pytest.approx(0.4)
    assert expected_calibration_error(np.array([1.0, 1.0]), np.array([1.0, 1.0])) == 0.0


def test_the_report_agrees_with_scikit_learn():
    truth = np.array([0, 1, 2, 1])
    p = np.array([[0.8, 0.1, 0.1], [0.2, 0.7, 0.1], [0.1, 0.2, 0.7], [0.5, 0.4, 0.1]])
    report = calibration_report(truth, p)
    # Brier by hand: (0.04 + 0.01 + 0.01) + (0.04 + 0.09 + 0.01) + (0.01 + 0.04 + 0.09) + (0.25 + 0.36 + 0.01), / 4
    assert report["brier"] == pytest.approx(0.24)
    assert report["log_loss"] == pytest.approx(log_loss(truth, p, labels=[0, 1, 2]))
    assert 0 <= report["ece"] <= 1 and 0 <= report["classwise_ece"] <= 1 and report["bins"] == 15


def test_temperature_scaling_recovers_a_known_temperature():
    # Labels drawn from softmax(z / 2): the model's own probabilities softmax(z) are overconfident by T = 2.
    rng = np.random.default_rng(0)
    logits = 3 * rng.standard_normal((20000, 4))
    truth = softmax(logits / 2.0, axis=1)
    y = np.array([rng.choice(4, p=row) for row in truth])
    found = fit_temperature(softmax(logits, axis=1), y)
    assert found == pytest.approx(2.0, rel=0.05)
    scaled = temperature_scaled(softmax(logits, axis=1), found)
    assert np.array_equal(scaled.argmax(1), logits.argmax(1))  # never changes the predicted class
    assert np.allclose(temperature_scaled(softmax(logits, axis=1), 1.0), softmax(logits, axis=1), atol=1e-9)


def test_reliability_bins_are_scikit_learns_calibration_curve():
    rng = np.random.default_rng(1)
    confidence = rng.uniform(0.05, 0.999, 500)
    correct = (rng.uniform(size=500) < confidence).astype(float)
    bins = reliability_bins(correct, confidence)
    accuracy, mean_confidence = calibration_curve(correct, confidence, n_bins=15, strategy="uniform")
    assert np.allclose(bins["accuracy"], accuracy) and np.allclose(bins["confidence"], mean_confidence)
    assert sum(bins["count"]) == 500


def test_uncertainty_is_normalised_entropy():
    assert normalised_entropy(np.full(4, 0.25)) == pytest.approx(1.0)
    assert normalised_entropy(np.array([1.0, 0.0, 0.0])) == 0.0
    assert normalised_entropy(np.array([0.5, 0.5, 0.0, 0.0])) == pytest.approx(np.log(2) / np.log(4))


def test_an_exported_model_divides_its_logits_by_the_temperature():
    import torch

    from serkit.data.normalise import ZScore
    from serkit.inference.export import Exported

    module = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(6, 3))
    features = torch.randn(5, 2, 3)
    plain = Exported(module, ZScore(np.zeros((2, 1)), np.ones((2, 1))))(features).detach().numpy()
    hot = Exported(module, ZScore(np.zeros((2, 1)), np.ones((2, 1))), 1.7)(features).detach().numpy()
    assert np.allclose(hot, temperature_scaled(plain, 1.7), atol=1e-6)


@pytest.mark.parametrize("method", ["sigmoid", "isotonic"])
def test_a_calibrated_scikit_learn_model_saves_and_loads_with_its_calibrators(method):
    from serkit.builtin.classical import SVM
    from serkit.core.learner import FitContext
    from serkit.core.settings import TrainSettings

    rng = np.random.default_rng(0)
    x = rng.standard_normal((90, 5)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 0.8)
    learner = SVM().learner((5,), 3, 0)
    learner.fit(x[:60], y[:60], x[60:], y[60:], FitContext(TrainSettings()))
    before = learner.predict_proba(x)
    note = learner.calibrate(method, x[60:], y[60:], None)
    after = learner.predict_proba(x)
    assert "already sigmoid-calibrated" in note and not np.allclose(before, after)
    restored = SVM().learner((5,), 3, 0)
    restored.loads(learner.dumps())  # the calibrators are on skops's allow-list: nothing refused
    assert np.allclose(restored.predict_proba(x), after)
