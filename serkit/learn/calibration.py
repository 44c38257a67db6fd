"""Calibration of a model's probabilities, fitted on a fold's validation part (never its test part).

``temperature`` (any model): the probabilities' logarithms, which are the logits up to a constant per
row, divided by one temperature T before the softmax; T minimises the validation part's log loss. It
never changes which class is predicted. ``sigmoid`` and ``isotonic`` (scikit-learn models):
scikit-learn's ``CalibratedClassifierCV`` around the fitted estimator, one calibrator per class, which
can change the predicted class. Either is kept with the model: the temperature in ``model.json``,
scikit-learn's calibrators inside ``model.skops``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax, softmax

from serkit.core.errors import SerkitError
from serkit.core.learner import Features, Learner, Transform

#: Temperatures searched, as log T (T from 0.05 to 20).
LOG_T_BOUNDS = (-3.0, 3.0)


@dataclass(frozen=True)
class Calibration:
    """A fitted calibration: the method, how many validation utterances fitted it, and the temperature."""

    method: str
    fitted_on: int
    temperature: float = 1.0
    #: What the calibration changes, where the model had its own (an SVC's internal Platt scaling).
    note: str = ""

    @property
    def inside_model(self) -> bool:
        """Whether the calibration lives inside the learner's saved model (scikit-learn's) or beside it."""
        return self.method != "temperature"

    def apply(self, probabilities: np.ndarray) -> np.ndarray:
        """Calibrated probabilities of the model's own (the identity for calibrations inside the model)."""
        if self.inside_model:
            return probabilities
        return temperature_scaled(probabilities, self.temperature)

    def describe(self) -> str:
        if self.method == "temperature":
            return f"temperature scaling (T = {self.temperature:.3f}) fitted on {self.fitted_on} validation utterances"
        return f"scikit-learn {self.method} calibration fitted on {self.fitted_on} validation utterances"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Calibration | None:
        """From model.json or result.json; None where the run was not calibrated."""
        if not data:
            return None
        try:
            temperature, note = float(data.get("temperature", 1.0)), str(data.get("note", ""))
            return cls(str(data["method"]), int(data["fitted_on"]), temperature, note)
        except (KeyError, TypeError, ValueError) as exc:
            raise SerkitError(f"calibration: unreadable record {data!r} ({exc})") from exc


def temperature_scaled(probabilities: np.ndarray, temperature: float) -> np.ndarray:
    """softmax(log p / T), in the probabilities' dtype."""
    logits = np.log(np.clip(np.asarray(probabilities, dtype=np.float64), 1e-12, 1.0))
    return softmax(logits / temperature, axis=1).astype(np.asarray(probabilities).dtype)


def fit_temperature(probabilities: np.ndarray, y: np.ndarray) -> float:
    """The temperature that minimises the log loss of ``probabilities`` against ``y``."""
    logits = np.log(np.clip(np.asarray(probabilities, dtype=np.float64), 1e-12, 1.0))
    rows = np.arange(len(y))

    def loss(log_t: float) -> float:
        return float(-np.mean(log_softmax(logits / np.exp(log_t), axis=1)[rows, y]))

    found = minimize_scalar(loss, bounds=LOG_T_BOUNDS, method="bounded", options={"xatol": 1e-4})
    return float(np.exp(found.x))


def calibrate(
    learner: Learner,
    method: str,
    x_val: Features,
    y_val: np.ndarray,
    transform: Transform | None,
    labels: list[str],
    where: str,
) -> Calibration:
    """Fit ``method`` on the validation part (``where`` names the fold in errors); scikit-learn's
    methods change the learner's model, temperature scaling is applied by :meth:`Calibration.apply`."""
    if len(y_val) == 0:
        raise SerkitError(f"calibrate.method: {where} has no validation part to fit '{method}' on")
    if method == "temperature":
        return Calibration(method, len(y_val), fit_temperature(learner.predict_proba(x_val, transform), y_val))
    missing = sorted(set(range(len(labels))) - set(np.asarray(y_val).tolist()))
    if missing:
        absent = ", ".join(labels[k] for k in missing)
        raise SerkitError(
            f"calibrate.method: the validation part of {where} has no utterance of {absent}; scikit-learn's "
            f"'{method}' calibration needs every class (use \"temperature\", or a larger train.validation_size)"
        )
    note = learner.calibrate(method, x_val, y_val, transform)
    return Calibration(method, len(y_val), note=note)
