"""Classical classifiers and regressors on feature vectors (scikit-learn): the baselines SER papers compare with."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from serkit.core.estimator import EstimatorModel, RegressorModel
from serkit.core.hookspecs import hookimpl
from serkit.core.params import param


@dataclass(frozen=True, kw_only=True)
class SVM(EstimatorModel):
    """Support vector machine (sklearn SVC), probabilities by sigmoid calibration; eGeMAPS's usual partner."""

    name = "svm"
    kernel: str = param("rbf", "kernel", choices=("rbf", "linear"))
    C: float = param(1.0, "regularisation: larger fits the training data more closely", gt=0)
    gamma: str = param("scale", "RBF width: scale (1 / (dims x variance)), auto (1 / dims) or a number as text")

    def validate(self) -> None:
        _check_gamma(self.gamma)

    def estimator(self, seed: int, class_weight: str | None) -> Any:
        from sklearn.calibration import CalibratedClassifierCV
        from sklearn.svm import SVC

        gamma: Any = self.gamma if self.gamma in ("scale", "auto") else float(self.gamma)
        svc = SVC(kernel=self.kernel, C=self.C, gamma=gamma, class_weight=class_weight)
        # Platt scaling fitted by 3-fold cross-validation on the fit part; one SVC, refitted on all of it
        return CalibratedClassifierCV(svc, method="sigmoid", cv=3, ensemble=False)


@dataclass(frozen=True, kw_only=True)
class LogisticRegression(EstimatorModel):
    """Multinomial logistic regression (sklearn, L2-regularised)."""

    name = "logistic_regression"
    C: float = param(1.0, "inverse regularisation strength", gt=0)
    max_iter: int = param(2000, "solver iterations", ge=1)

    def estimator(self, seed: int, class_weight: str | None) -> Any:
        from sklearn.linear_model import LogisticRegression as Estimator

        return Estimator(C=self.C, max_iter=self.max_iter, class_weight=class_weight, random_state=seed)


@dataclass(frozen=True, kw_only=True)
class RandomForest(EstimatorModel):
    """Random forest (sklearn), single-threaded so parallel folds do not oversubscribe the CPU."""

    name = "random_forest"
    n_estimators: int = param(300, "trees", ge=1)
    max_depth: int = param(0, "deepest tree; 0 grows until leaves are pure", ge=0)
    min_samples_leaf: int = param(1, "fewest training items in a leaf", ge=1)

    def estimator(self, seed: int, class_weight: str | None) -> Any:
        from sklearn.ensemble import RandomForestClassifier

        return RandomForestClassifier(
            n_estimators=self.n_estimators,
            max_depth=self.max_depth or None,
            min_samples_leaf=self.min_samples_leaf,
            class_weight=class_weight,
            random_state=seed,
            n_jobs=1,
        )


@dataclass(frozen=True, kw_only=True)
class SVR(RegressorModel):
    """Support vector regression (sklearn SVR), one per target: eGeMAPS's usual partner for arousal and valence."""

    name = "svr"
    kernel: str = param("rbf", "kernel", choices=("rbf", "linear"))
    C: float = param(1.0, "regularisation: larger fits the training data more closely", gt=0)
    epsilon: float = param(0.1, "half-width of the tube within which errors cost nothing (in target units)", ge=0)
    gamma: str = param("scale", "RBF width: scale (1 / (dims x variance)), auto (1 / dims) or a number as text")

    def validate(self) -> None:
        _check_gamma(self.gamma)

    def regressor(self, seed: int) -> Any:
        from sklearn.svm import SVR as Estimator

        gamma: Any = self.gamma if self.gamma in ("scale", "auto") else float(self.gamma)
        return Estimator(kernel=self.kernel, C=self.C, epsilon=self.epsilon, gamma=gamma)


@dataclass(frozen=True, kw_only=True)
class Ridge(RegressorModel):
    """Ridge regression (sklearn, L2-regularised least squares), one per target."""

    name = "ridge"
    alpha: float = param(1.0, "regularisation strength", gt=0)

    def regressor(self, seed: int) -> Any:
        from sklearn.linear_model import Ridge as Estimator

        return Estimator(alpha=self.alpha)


@dataclass(frozen=True, kw_only=True)
class RandomForestRegressor(RegressorModel):
    """Random forest regression (sklearn), one forest per target, single-threaded like the classifier."""

    name = "random_forest_regressor"
    n_estimators: int = param(300, "trees", ge=1)
    max_depth: int = param(0, "deepest tree; 0 grows until leaves are pure", ge=0)
    min_samples_leaf: int = param(1, "fewest training items in a leaf", ge=1)

    def regressor(self, seed: int) -> Any:
        from sklearn.ensemble import RandomForestRegressor as Estimator

        depth = self.max_depth or None
        return Estimator(
            self.n_estimators, max_depth=depth, min_samples_leaf=self.min_samples_leaf, random_state=seed, n_jobs=1
        )


def _check_gamma(gamma: str) -> None:
    if gamma not in ("scale", "auto"):
        try:
            if float(gamma) <= 0:
                raise ValueError
        except ValueError:
            raise ValueError(f"gamma must be 'scale', 'auto' or a positive number, got '{gamma}'") from None


@hookimpl
def register_models(register):
    for model in (SVM, LogisticRegression, RandomForest, SVR, Ridge, RandomForestRegressor):
        register(model)
