"""serkit: speech emotion recognition experiments from TOML recipes."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("serkit")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+source"

__all__ = ["__version__"]

from serkit.components import (  # noqa: E402
    Augmenter,
    Dataset,
    FeatureExtractor,
    Fold,
    Model,
    Preprocessor,
    Protocol,
    Scan,
    Utterance,
)
from serkit.errors import SerkitError  # noqa: E402
from serkit.hookspecs import hookimpl  # noqa: E402
from serkit.params import param  # noqa: E402

__all__ += [
    "Augmenter",
    "Dataset",
    "FeatureExtractor",
    "Fold",
    "Model",
    "Preprocessor",
    "Protocol",
    "Scan",
    "SerkitError",
    "Utterance",
    "hookimpl",
    "param",
]
