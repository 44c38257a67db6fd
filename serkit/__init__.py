"""serkit: speech emotion recognition experiments from TOML recipes."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("serkit")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+source"

__all__ = ["__version__"]

from serkit.core.components import (
    Augmenter,
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
from serkit.core.errors import SerkitError
from serkit.core.hookspecs import hookimpl
from serkit.core.params import param

__all__ += [
    "Augmenter",
    "Dataset",
    "FeatureAugmenter",
    "FeatureExtractor",
    "Fold",
    "Model",
    "Preprocessor",
    "Protocol",
    "Scan",
    "SerkitError",
    "Utterance",
    "hookimpl",
    "load",
    "param",
]


def load(run_dir):
    """Load a trained model from a run folder: ``serkit.load(run_dir).predict(waveform, sample_rate)``."""
    from serkit.inference.predictor import Predictor

    return Predictor.load(run_dir)
