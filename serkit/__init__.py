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
    "AblationResult",
    "Augmenter",
    "ConsoleReporter",
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
    "Reporter",
    "RunResult",
    "Scan",
    "SearchResult",
    "SerkitError",
    "StudyResult",
    "Utterance",
    "__version__",
    "ablate",
    "audit",
    "benchmark",
    "compare_runs",
    "crosscorpus",
    "hookimpl",
    "list_runs",
    "load",
    "open_run",
    "param",
    "resume",
    "run_recipe",
    "tune",
]

#: Names of the experiment API, read from their modules when first used (``import serkit`` stays light).
_LAZY = {
    "AblationResult": "serkit.experiments",
    "RunResult": "serkit.experiments",
    "SearchResult": "serkit.experiments",
    "StudyResult": "serkit.experiments",
    "ablate": "serkit.experiments",
    "audit": "serkit.experiments",
    "benchmark": "serkit.experiments",
    "compare_runs": "serkit.experiments",
    "crosscorpus": "serkit.experiments",
    "list_runs": "serkit.experiments",
    "open_run": "serkit.experiments",
    "resume": "serkit.experiments",
    "run_recipe": "serkit.experiments",
    "tune": "serkit.experiments",
    "ConsoleReporter": "serkit.run.reporter",
    "Reporter": "serkit.run.reporter",
}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'serkit' has no attribute {name!r}")


def load(run_dir):
    """Load a trained model from a run folder: ``serkit.load(run_dir).predict(waveform, sample_rate)``."""
    from serkit.inference.predictor import Predictor

    return Predictor.load(run_dir)
