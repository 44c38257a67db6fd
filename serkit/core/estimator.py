"""Models that are scikit-learn estimators: fitted once on the fit part, saved with skops.

A subclass declares its parameters and returns an unfitted estimator::

    @dataclass(frozen=True, kw_only=True)
    class KNN(EstimatorModel):
        '''k nearest neighbours on feature vectors.'''

        name = "knn"
        k: int = param(5, "neighbours", ge=1)

        def estimator(self, seed, class_weight):
            from sklearn.neighbors import KNeighborsClassifier
            return KNeighborsClassifier(self.k)

Trust boundary (SECURITY.md): the fitted estimator is saved with ``skops.io`` (no pickle). Loading
accepts the types skops trusts by default (scikit-learn's estimators, NumPy's and SciPy's
containers, plain builtins) and, beyond them, only the exact type names in :data:`ALLOWED_TYPES`
and the model's own :attr:`EstimatorModel.trusted_types`; a ``model.skops`` holding anything else
(``builtins.exec``, ``os.system``, ``functools.partial``...) is refused before anything in it is built.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from serkit.core.components import Model
from serkit.core.errors import SerkitError
from serkit.core.learner import (
    Features,
    FitContext,
    FitOutcome,
    Learner,
    Transform,
    validation_scores,
)
from serkit.core.scores import mean_ccc

#: Types beyond skops's defaults that fitted scikit-learn classifiers hold: serkit's own (svm,
#: random_forest) and the common baselines' internals (neighbour indexes and their metrics, boosted
#: trees, an MLP's optimiser), all data holders; each named exactly (never a module prefix:
#: ``builtins.`` would admit ``builtins.exec``). A plugin's model adds its own in ``trusted_types``.
ALLOWED_TYPES = frozenset(
    {
        "sklearn.calibration._CalibratedClassifier",  # svm: SVC inside CalibratedClassifierCV
        "sklearn.calibration._SigmoidCalibration",
        "sklearn.tree._tree.Tree",  # random_forest, decision trees, extra trees, (ada/gradient) boosting
        "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
        "sklearn.neighbors._kd_tree.KDTree",  # k nearest neighbours on up to 15 dimensions
        "sklearn.neighbors._ball_tree.BallTree",
        "sklearn.metrics._dist_metrics.EuclideanDistance64",
        "sklearn.metrics._dist_metrics.ManhattanDistance64",
        "sklearn.metrics._dist_metrics.ChebyshevDistance64",
        "sklearn.metrics._dist_metrics.MinkowskiDistance64",
        "sklearn.neural_network._stochastic_optimizers.AdamOptimizer",  # MLPClassifier
        "sklearn.neural_network._stochastic_optimizers.SGDOptimizer",
    }
)


@dataclass(frozen=True, kw_only=True)
class EstimatorModel(Model):
    """A scikit-learn classifier on feature vectors, fitted once (no epochs)."""

    accepts: ClassVar[tuple[str, ...]] = ("vector",)
    implement: ClassVar[str] = "estimator"
    tasks: ClassVar[tuple[str, ...]] = ("classification",)
    #: Exact type names (``module.Class``) beyond skops's defaults and :data:`ALLOWED_TYPES` that this
    #: model's fitted estimator holds; ``skops.io.get_untrusted_types`` on a saved one lists them.
    trusted_types: ClassVar[tuple[str, ...]] = ()

    def estimator(self, seed: int, class_weight: str | None) -> Any:
        """An unfitted scikit-learn classifier with ``predict_proba``; ``class_weight`` is None or "balanced"."""
        raise NotImplementedError

    def learner(self, input_shape: tuple[int, ...], n_classes: int, seed: int) -> Learner:
        return EstimatorLearner(self, n_classes, seed)


class EstimatorLearner(Learner):
    """Fits a scikit-learn estimator on the whole fit part; the validation part is scored once."""

    suffix = ".skops"

    def __init__(self, model: EstimatorModel, n_classes: int, seed: int) -> None:
        self.model = model
        self.n_classes = n_classes
        self.seed = seed
        self.fitted: Any = None

    def fit(
        self, x_fit: Features, y_fit: np.ndarray, x_val: Features, y_val: np.ndarray, context: FitContext
    ) -> FitOutcome:
        settings = context.settings
        if settings.sampler != "shuffle":
            raise SerkitError(
                f"train.sampler: '{settings.sampler}' applies to torch models; model '{self.model.name}' "
                'is a scikit-learn estimator (use train.class_weights = "balanced")'
            )
        start = time.perf_counter()
        class_weight = "balanced" if settings.class_weights == "balanced" else None
        estimator = self.model.estimator(self.seed, class_weight)
        estimator.fit(_matrix(x_fit, context.transform), y_fit)
        self.fitted = estimator
        train_loss, train_acc, _ = validation_scores(self.predict_proba(x_fit, context.transform), y_fit)
        val_loss, val_acc, val_uar = validation_scores(self.predict_proba(x_val, context.transform), y_val)
        row = {
            "epoch": 1,
            "train_loss": train_loss,
            "train_accuracy": train_acc,
            "val_loss": val_loss,
            "val_accuracy": val_acc,
            "val_uar": val_uar,
            "seconds": time.perf_counter() - start,
        }
        context.on_epoch(row)
        weighting = "balanced class weights" if class_weight else "unweighted classes"
        base = getattr(estimator, "estimator", estimator)  # the classifier inside a calibration wrapper
        method = f"scikit-learn {type(base).__name__} fitted once on the fit part ({weighting})"
        return FitOutcome([row], best_epoch=1, stopped_early=False, device="cpu", precision="fp64", method=method)

    def predict_proba(self, x: Features, transform: Transform | None = None) -> np.ndarray:
        if self.fitted is None:
            raise SerkitError(f"model '{self.model.name}': predict before fit")
        columns = self.fitted.predict_proba(_matrix(x, transform))
        out = np.zeros((len(columns), self.n_classes), dtype=np.float32)
        out[:, np.asarray(self.fitted.classes_, dtype=np.int64)] = columns  # classes absent from training: 0
        return out

    def calibrate(self, method: str, x_val: Features, y_val: np.ndarray, transform: Transform | None) -> str:
        """scikit-learn's CalibratedClassifierCV around the fitted (frozen) estimator, fitted on the validation part."""
        from sklearn.calibration import CalibratedClassifierCV
        from sklearn.frozen import FrozenEstimator

        # One "split" holding every validation row: the frozen model is never refitted, so splitting would
        # only demand (as StratifiedKFold does) five utterances of every class; the result is the same.
        every = np.arange(len(y_val))
        inner = self.fitted
        calibrated = CalibratedClassifierCV(FrozenEstimator(inner), method=method, cv=[(every, every)])
        self.fitted = calibrated.fit(_matrix(x_val, transform), y_val)
        if not isinstance(inner, CalibratedClassifierCV):
            return ""
        return (
            f"the model's {type(inner.estimator).__name__} was already {inner.method}-calibrated by cross-validation "
            f"inside the fit part (the same speakers it learned from); this fits a second, {method}, calibration "
            "on those probabilities, on the validation part"
        )

    def dumps(self) -> bytes:
        return skops_io().dumps(self.fitted)

    def loads(self, data: bytes) -> None:
        sio = skops_io()
        untrusted = set(sio.get_untrusted_types(data=data))
        refused = sorted(untrusted - ALLOWED_TYPES - set(self.model.trusted_types))
        if refused:
            raise ValueError(
                f"refusing to load {', '.join(refused)}: not a type that model '{self.model.name}' holds "
                "(a model file must never run code; see SECURITY.md; a plugin's model that does hold it lists "
                "the exact name in its trusted_types)"
            )
        self.fitted = sio.loads(data, trusted=sorted(untrusted))


@dataclass(frozen=True, kw_only=True)
class RegressorModel(EstimatorModel):
    """A scikit-learn regressor on feature vectors (``task.kind = "regression"``), one per target, fitted once."""

    tasks: ClassVar[tuple[str, ...]] = ("regression",)

    def regressor(self, seed: int) -> Any:
        """An unfitted scikit-learn regressor of one target (serkit fits one per target)."""
        raise NotImplementedError

    def learner(self, input_shape: tuple[int, ...], n_classes: int, seed: int) -> Learner:
        return RegressorLearner(self, n_classes, seed)


class RegressorLearner(EstimatorLearner):
    """Fits one regressor per target (scikit-learn's MultiOutputRegressor) on the fit part; the validation
    part is scored once (mean squared error and CCC)."""

    model: RegressorModel

    def fit(
        self, x_fit: Features, y_fit: np.ndarray, x_val: Features, y_val: np.ndarray, context: FitContext
    ) -> FitOutcome:
        from sklearn.multioutput import MultiOutputRegressor

        start = time.perf_counter()
        self.fitted = MultiOutputRegressor(self.model.regressor(self.seed)).fit(
            _matrix(x_fit, context.transform), y_fit
        )
        fit, val = self.predict_proba(x_fit, context.transform), self.predict_proba(x_val, context.transform)
        row = {
            "epoch": 1,
            "train_loss": float(np.mean((fit - y_fit) ** 2)),
            "val_loss": float(np.mean((val - y_val) ** 2)),
            "val_ccc": mean_ccc(y_val, val),
            "seconds": time.perf_counter() - start,
        }
        context.on_epoch(row)
        base = type(self.fitted.estimators_[0]).__name__
        method = f"scikit-learn {base}, one per target, fitted once on the fit part"
        return FitOutcome([row], best_epoch=1, stopped_early=False, device="cpu", precision="fp64", method=method)

    def predict_proba(self, x: Features, transform: Transform | None = None) -> np.ndarray:
        """The predicted values, shape (items, targets)."""
        if self.fitted is None:
            raise SerkitError(f"model '{self.model.name}': predict before fit")
        return np.asarray(self.fitted.predict(_matrix(x, transform)), dtype=np.float32).reshape(len(x), -1)


def _matrix(x: Features, transform: Transform | None) -> np.ndarray:
    """All rows as a float32 (items, dims) matrix, normalised."""
    rows = x[np.arange(len(x))]
    rows = transform(rows) if transform else rows
    return np.asarray(rows, dtype=np.float32).reshape(len(rows), -1)


#: What skops's import need not load: at import it lists scikit-learn's estimators by walking every package of
#: scikit-learn, and the walk imports array-api-compat's torch backend (so torch, 1.3 s and 180 MB here) where
#: torch is installed; that backend holds no estimator.
NOT_FOR_SKOPS = ("sklearn.externals.array_api_compat.torch",)


class _Refused:
    """An import finder refusing :data:`NOT_FOR_SKOPS` (the walk skips a package that cannot be imported)."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        if name in NOT_FOR_SKOPS:
            raise ImportError(f"{name}: not needed to save or load scikit-learn models")


def skops_io() -> Any:
    """``skops.io``, imported without pulling torch into a run whose model does not use it."""
    import sys

    if "skops.io" not in sys.modules and "torch" not in sys.modules:
        refused = _Refused()
        sys.meta_path.insert(0, refused)
        try:
            import skops.io
        finally:
            sys.meta_path.remove(refused)
    import skops.io

    return skops.io
