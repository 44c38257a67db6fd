"""Deprecated (goes in serkit 0.4): the base classes are in :mod:`serkit`."""

import warnings

from serkit.core.components import (
    Augmenter,
    Component,
    Dataset,
    FeatureAugmenter,
    FeatureExtractor,
    Fold,
    Model,
    Preprocessor,
    Protocol,
    Scan,
    Utterance,
)
from serkit.core.estimator import EstimatorModel

__all__ = [
    "Augmenter",
    "Component",
    "Dataset",
    "EstimatorModel",
    "FeatureAugmenter",
    "FeatureExtractor",
    "Fold",
    "Model",
    "Preprocessor",
    "Protocol",
    "Scan",
    "Utterance",
]

warnings.warn(
    "serkit.components is deprecated and goes in serkit 0.4: use from serkit import Augmenter (every base class)",
    DeprecationWarning,
    stacklevel=2,
)
