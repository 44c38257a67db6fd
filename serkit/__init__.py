"""serkit: speech emotion recognition experiments from TOML recipes."""

from serkit.core.components import (
    Augmenter,
    Dataset,
    DownloadSource,
    FeatureAugmenter,
    FeatureExtractor,
    Fold,
    Model,
    Preprocessor,
    Protocol,
    Scan,
    Utterance,
)
from serkit.core.errors import SerkitError
from serkit.core.estimator import EstimatorModel
from serkit.core.hookspecs import hookimpl
from serkit.core.labels import LabelMap
from serkit.core.params import param
from serkit.core.version import __version__
from serkit.corpora.named import NamedCorpus

__all__ = [
    "Augmenter",
    "Dataset",
    "DownloadSource",
    "EstimatorModel",
    "FeatureAugmenter",
    "FeatureExtractor",
    "Fold",
    "LabelMap",
    "Model",
    "NamedCorpus",
    "Preprocessor",
    "Protocol",
    "Scan",
    "SerkitError",
    "Utterance",
    "__version__",
    "hookimpl",
    "load",
    "param",
]


def load(run_dir):
    """Load a trained model from a run folder: ``serkit.load(run_dir).predict(waveform, sample_rate)``."""
    from serkit.inference.predictor import Predictor

    return Predictor.load(run_dir)
