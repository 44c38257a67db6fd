"""Public path kept for plugin packages: the base classes now live in :mod:`serkit.core.components`."""

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
