"""Calibration figures on known answers, against scikit-learn where it has them."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import log_loss

from serkit.results.calibration import calibration_report, expected_calibration_error


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
