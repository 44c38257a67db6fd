"""Base classes for every component kind a plugin can provide.

A component is a frozen, keyword-only dataclass subclassing one of these bases, with a
``name`` and its parameters declared by :func:`serkit.core.params.param`::

    @dataclass(frozen=True, kw_only=True)
    class PeakClip(Augmenter):
        '''Hard-clip the waveform at a fraction of its peak.'''

        name = "peak_clip"
        level: float = param(0.5, "fraction of the peak kept", gt=0, le=1)

        def __call__(self, wave, sample_rate, rng):
            peak = float(np.max(np.abs(wave))) or 1.0
            return np.clip(wave, -self.level * peak, self.level * peak)
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Self

import numpy as np

from serkit.core.errors import SerkitError
from serkit.core.fingerprint import fingerprint
from serkit.core.params import ParamSpec, param, param_specs, validate_params

if TYPE_CHECKING:
    import torch

    from serkit.core.device import DeviceAugment, DeviceStep
    from serkit.core.labels import Relabel
    from serkit.core.learner import Learner


@dataclass(frozen=True, kw_only=True)
class Component:
    """Common behaviour: declared parameters, validation, identity for cache keys."""

    kind: ClassVar[str] = "component"
    name: ClassVar[str] = ""
    version: ClassVar[str] = "1"
    #: The method a subclass implements, where it is not its kind's (see :mod:`serkit.core.kinds`).
    implement: ClassVar[str] = ""
    #: The distributions (pip names) whose code computes this component's output, e.g. ``("librosa",)``:
    #: their installed versions are part of its cache identity (:meth:`cache_identity`), so an upgrade of one
    #: computes its features anew instead of reusing what the old version computed.
    computes_with: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def params(cls) -> list[ParamSpec]:
        return param_specs(cls)

    @classmethod
    def description(cls) -> str:
        doc = (cls.__doc__ or "").strip()
        return doc.splitlines()[0] if doc else ""

    @classmethod
    def from_params(cls, values: Mapping[str, Any], where: str) -> Self:
        """Build from recipe values, raising a SerkitError that names ``where``."""
        component = cls(**validate_params(cls, values, where))
        component.check_paths(where)
        try:
            component.validate()
        except ValueError as exc:
            raise SerkitError(f"{where}: {exc}") from exc
        return component

    def validate(self) -> None:
        """Check relations between parameters; raise ValueError when they do not hold."""

    def check_paths(self, where: str) -> None:
        """Every non-empty path parameter names something that exists."""
        for name in path_params(type(self)):
            value = getattr(self, name)
            if value and not Path(value).expanduser().exists():
                raise SerkitError(
                    f"{where}.{name}: '{value}' does not exist (a relative path in a recipe or sweep file is read "
                    "from that file's folder; one given with --set, from the working directory)"
                )

    def to_params(self) -> dict[str, Any]:
        return asdict(self)

    def to_entry(self) -> dict[str, Any]:
        """The recipe table that builds this component: its name and parameters."""
        return {"name": self.name, **self.to_params()}

    def identity(self) -> dict[str, Any]:
        """Everything that determines this component's output (used in cache keys): its name, version
        and parameters, a path parameter by the content it names rather than its location, a parameter
        added later (``param(since=...)``) only where it is not at its default."""
        params = self.to_params()
        for spec in self.params():
            if spec.since and params.get(spec.name) == spec.default:
                params.pop(spec.name)
        for name in path_params(type(self)):
            if params.get(name):
                params[name] = {"content": fingerprint(params[name])}
        return {"name": self.name, "version": self.version, "params": params}

    def cache_identity(self) -> dict[str, Any]:
        """What the feature cache keys this component's output by: its :meth:`identity`, the distribution
        that provides it and the libraries it :attr:`computes_with`, each with its installed version (no other
        package: an unrelated upgrade invalidates nothing)."""
        return self.identity() | {"computed_by": computed_by(type(self))}


@cache
def installed_version(distribution: str) -> str | None:
    """A distribution's installed version (None: not installed), read once per process."""
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


@cache
def _providers() -> Mapping[str, list[str]]:
    return importlib.metadata.packages_distributions()


def computed_by(cls: type[Component]) -> dict[str, Any]:
    """The distribution that provides a component class ("serkit 0.3.0"; "" for one defined outside any, as
    in a test) and the versions of the libraries it declares (read once per class and process)."""
    key = f"{cls.__module__}.{cls.__qualname__}"
    if key not in _COMPUTED_BY:
        top = cls.__module__.split(".")[0]
        provider = next(iter(_providers().get(top, [])), "")
        own = f"{provider} {installed_version(provider)}" if provider else ""
        _COMPUTED_BY[key] = {"distribution": own, "libraries": {n: installed_version(n) for n in cls.computes_with}}
    return _COMPUTED_BY[key]


_COMPUTED_BY: dict[str, dict[str, Any]] = {}


def forget_versions() -> None:
    """Read installed versions anew (after installing a package in this process)."""
    installed_version.cache_clear()
    _COMPUTED_BY.clear()


_PATH_PARAMS: dict[type, tuple[str, ...]] = {}


def path_params(cls: type[Component]) -> tuple[str, ...]:
    """The names of a component class's path parameters (cached: identities are computed per item)."""
    if cls not in _PATH_PARAMS:
        _PATH_PARAMS[cls] = tuple(spec.name for spec in cls.params() if spec.path)
    return _PATH_PARAMS[cls]


@dataclass(frozen=True, kw_only=True)
class Preprocessor(Component):
    """Deterministic per-file waveform transform: ``(wave, sr) -> (wave, sr)``."""

    kind: ClassVar[str] = "preprocessor"
    #: Run again after each augmenter (e.g. fixing the length after a time stretch).
    reapply_after_augment: ClassVar[bool] = False

    def __call__(self, wave: np.ndarray, sample_rate: int) -> tuple[np.ndarray, int]:
        raise NotImplementedError

    def fixed_duration(self) -> float | None:
        """The duration in seconds every output has, or None; the predictor windows long recordings by it."""
        return None

    def device(self) -> DeviceStep | None:
        """A batch version run on the training device (for one that re-applies after augmenting), or None."""
        return None


@dataclass(frozen=True, kw_only=True)
class Augmenter(Component):
    """Random waveform transform applied to training utterances only, after the split."""

    kind: ClassVar[str] = "augmenter"
    #: Where in the pipeline it acts: "waveform" (after preprocessing, before features) or "features".
    stage: ClassVar[str] = "waveform"

    def __call__(self, wave: np.ndarray, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError

    def device(self) -> DeviceAugment | None:
        """A torch implementation run on a batch on the training device (:mod:`serkit.core.device`), or None:
        online augmentation then makes its examples in loader processes."""
        return None


@dataclass(frozen=True, kw_only=True)
class FeatureAugmenter(Augmenter):
    """Random transform of an utterance's features (e.g. SpecAugment masking), training part only.

    It receives the original utterance's features, shape (channels, ...), and returns an array
    of the same shape; it is listed under ``[[augment]]`` like a waveform augmenter.
    """

    stage: ClassVar[str] = "features"
    #: The feature shapes it can transform (see :data:`SHAPES`).
    accepts: ClassVar[tuple[str, ...]] = ("image",)

    def __call__(self, features: np.ndarray, rng: np.random.Generator) -> np.ndarray:  # type: ignore[override]
        raise NotImplementedError


#: The shapes features come in, with the array layout of one utterance's features.
SHAPES = {
    "image": "(channels, bands, frames) or (channels, frames)",
    "sequence": "(frames, dims), or (layers, frames, dims) for stacked layers",
    "vector": "(dims,)",
    "waveform": "(samples,): the preprocessed signal, for models that learn from audio (ssl_finetune)",
}
#: What a torch model's ``forward`` receives for each shape: a batch, its axis first (the contract kit builds
#: models on such batches; an estimator model's ``fit`` and ``predict_proba`` take the same).
MODEL_INPUTS = {
    "image": "(batch, channels, bands, frames) or (batch, channels, frames)",
    "sequence": "(batch, frames, dims), or (batch, layers, frames, dims) for stacked layers",
    "vector": "(batch, dims)",
    "waveform": "(batch, samples)",
}
#: Array dimensions of each shape.
SHAPE_NDIM = {"image": (2, 3), "sequence": (2, 3), "vector": (1,), "waveform": (1,)}
#: dtypes features may be stored in (the feature cache and the training store).
STORAGE_DTYPES = ("float16", "float32")


@dataclass(frozen=True, kw_only=True)
class FeatureExtractor(Component):
    """Waveform to a float32 array in one of the :data:`SHAPES`: an image, a sequence or a vector."""

    kind: ClassVar[str] = "feature extractor"
    #: What it returns: "image", "sequence" or "vector" (override :meth:`output_shape` if a parameter decides).
    shape: ClassVar[str] = "image"
    #: How its values are stored: float16 suits dB images; functionals may exceed its range (±65504).
    storage: ClassVar[str] = "float16"
    #: Extract in the main process, a batch of equal-length clips at a time (:meth:`extract_batch`),
    #: rather than in the forked feature workers: for neural extractors (one model copy, CUDA).
    batched: ClassVar[bool] = False

    def __call__(self, wave: np.ndarray, sample_rate: int) -> np.ndarray:
        raise NotImplementedError

    def extract_batch(self, waves: list[np.ndarray], sample_rate: int) -> list[np.ndarray]:
        """Features of several clips of one length and rate (used when :attr:`batched`)."""
        return [self(wave, sample_rate) for wave in waves]

    def batch_items(self) -> int:
        """How many clips :meth:`extract_batch` takes at once."""
        return 16

    def min_seconds(self) -> float:
        """The shortest clip it accepts; shorter ones are padded with silence at the end, and the run says so."""
        return 0.0

    def device(self, sample_rate: int) -> torch.nn.Module | None:
        """A torch module computing these features from a batch of clips (batch, samples) on the training device,
        equal to the NumPy call within a tolerance its docs state; None: online examples are made in loaders."""
        return None

    def output_shape(self) -> str:
        """The shape of this instance's output (one of :data:`SHAPES`)."""
        return self.shape

    def storage_dtype(self) -> str:
        """The dtype this instance's output is stored in (one of :data:`STORAGE_DTYPES`)."""
        return self.storage

    def columns(self) -> list[str] | None:
        """The name of each value of a vector (each descriptor of a sequence), where known: reports name
        the features that matter by it. None: "dimension N"."""
        return None


@dataclass(frozen=True, kw_only=True)
class Model(Component):
    """Maps a batch of features to class scores: a torch module (:meth:`build`) or any :class:`Learner`.

    A torch model implements :meth:`build`; serkit's trainer trains it. A model that is not a
    torch module (a scikit-learn estimator, say) overrides :meth:`learner` instead.
    """

    kind: ClassVar[str] = "model"
    #: The feature shapes it takes (see :data:`SHAPES`).
    accepts: ClassVar[tuple[str, ...]] = ("image",)
    #: What it can be trained to do (``task.kind``): a torch model's last layer gives one output per class, one
    #: per regression target, or both (a joint task: serkit reads the first outputs as the class head's logits
    #: and the rest as the regression head's values), so it does all three.
    tasks: ClassVar[tuple[str, ...]] = ("classification", "regression", "joint")

    def build(self, input_shape: tuple[int, ...], n_classes: int) -> torch.nn.Module:
        """The module: features in, ``n_classes`` scores out (a regression's ``n_classes`` is its target count; a
        joint task's, its classes and then its targets)."""
        raise NotImplementedError

    def learner(self, input_shape: tuple[int, ...], n_classes: int, seed: int) -> Learner | None:
        """What trains and applies this model when it is not a torch module; None means :meth:`build`."""
        return None

    def accepted_shapes(self) -> tuple[str, ...]:
        return self.accepts


@dataclass(frozen=True)
class Utterance:
    """One labelled recording."""

    path: str
    label: str
    speaker: str
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class Scan:
    """What a dataset found: the utterances, the class order, and what the user should know."""

    utterances: list[Utterance]
    labels: list[str]
    notes: list[str] = field(default_factory=list)  # what was found, for the user
    warnings: list[str] = field(default_factory=list)  # what is missing or unexpected
    ignored: list[str] = field(default_factory=list)  # files of the corpus that are not used (song, video)
    unmatched: list[str] = field(default_factory=list)  # files that do not fit the naming convention
    #: The recipe's ``[labels]`` map as applied to these utterances (a protocol that reads another corpus,
    #: such as ``cross_corpus``, applies it there too); None where the labels are the corpus's own.
    relabel: Relabel | None = None

    def problems(self, limit: int = 20) -> list[str]:
        """What makes the scan unusable, each naming the file at fault (at most ``limit`` lines): a repeated class,
        a file that does not exist, a label outside the class list, an empty speaker id. The contract kit,
        ``serkit data check`` and every run check them. A broken symbolic link is not one of them: it is an
        unreadable file, which ``run.skip_unreadable`` may leave out like a damaged one."""
        found = [
            f"the class list repeats {label!r}"
            for label in sorted({x for x in self.labels if self.labels.count(x) > 1})
        ]
        classes = set(self.labels)
        for utterance in self.utterances:
            path = Path(utterance.path)
            if not path.is_file() and not path.is_symlink():
                found.append(f"{utterance.path}: no such file")
            elif utterance.label not in classes:
                found.append(f"{utterance.path}: label {utterance.label!r} is not in the class list {self.labels}")
            elif not str(utterance.speaker).strip():
                found.append(f"{utterance.path}: no speaker id (folds by speaker would mix its utterances)")
            if len(found) >= limit:
                break
        return found


@dataclass(frozen=True)
class DownloadSource:
    """Where a corpus's official archive lives and how to check it (``serkit data download`` uses it)."""

    url: str
    filename: str
    md5: str = ""
    sha256: str = ""
    #: Where ``dataset.root`` points inside the extracted folder ("" for the folder itself).
    root: str = ""
    licence: str = ""
    #: Further archives (file names at the same address as ``filename``) extracted into the same folder,
    #: for corpora published in parts (one archive per speaker or per speaker and style).
    parts: tuple[str, ...] = ()
    #: Extract each archive into a folder named after it (``bea_Amused.tar.gz`` into ``bea_Amused/``).
    folders: bool = False

    def archives(self, url: str = "") -> list[tuple[str, str]]:
        """(address, file name) of every archive; ``url`` replaces the first address (a mirror), and for a
        corpus in parts names the folder that holds them all."""
        base = self.url.rsplit("/", 1)[0] if self.url else ""
        if self.parts:
            folder = url.rstrip("/") if url else base
            return [(f"{folder}/{name}", name) for name in (self.filename, *self.parts)]
        return [(url or self.url, self.filename)]


@dataclass(frozen=True, kw_only=True)
class Dataset(Component):
    """Finds the labelled utterances of one corpus under a root folder."""

    kind: ClassVar[str] = "dataset"
    #: Where the corpus is: a folder, or a file listing it. Subclasses redeclare it with their own help.
    root: str = param("", "the corpus's folder (or the file that lists it)", path=True)

    #: Where the corpus can be downloaded from (None: it cannot; ``serkit data download`` lists those that can).
    source: ClassVar[DownloadSource | None] = None
    #: How to cite the corpus, as BibTeX (``serkit data cite NAME``); empty where none is recorded.
    citation: ClassVar[str] = ""
    #: Where to get a corpus serkit cannot download, and what ``root`` should name (``serkit data download`` says it).
    obtain: ClassVar[str] = ""
    #: The documented scale (lowest, highest) of its dimensional targets (arousal, valence, dominance), which
    #: ``task.rescale = "declared"`` maps onto -1 to 1; None where it records none.
    target_scale: ClassVar[tuple[float, float] | None] = None
    #: The speaker-independent protocol its published results use, as a ``[protocol]`` table (``serkit
    #: benchmark``'s default for the corpus, e.g. ``{"name": "loso"}``); empty where it declares none.
    benchmark_protocol: ClassVar[dict[str, Any]] = {}

    def documented_scale(self) -> tuple[float, float] | None:
        """The scale of this corpus's targets (a manifest's is a parameter)."""
        return self.target_scale

    def check_paths(self, where: str) -> None:
        """A dataset's root is left to its scan (which names ``dataset.root``), so that a recipe can be
        validated, listed and compared where its corpus is not."""

    def scan(self) -> Scan:
        raise NotImplementedError

    def location(self) -> str:
        """The folder that file paths in split.json and predictions.csv are written relative to."""
        root = Path(self.root or ".").expanduser()
        return str(root.parent if root.is_file() else root)


@dataclass(frozen=True)
class Fold:
    """Indices into the utterance list for one train/test partition."""

    name: str
    train: list[int]
    test: list[int]


@dataclass(frozen=True, kw_only=True)
class Protocol(Component):
    """Splits utterances into folds (training and test index sets)."""

    kind: ClassVar[str] = "protocol"
    #: No speaker on both sides of any fold; validation parts are then carved by whole speakers.
    speaker_independent: ClassVar[bool] = False

    def prepare(self, scan: Scan, dataset: Dataset) -> Scan:
        """Adjust what the dataset found before splitting (cross-corpus adds its test corpus here)."""
        return scan

    def split(self, utterances: list[Utterance], seed: int) -> list[Fold]:
        raise NotImplementedError

    def missing_test_class_policy(self) -> str:
        """What a fold whose test part lacks a class means: "error" (stop before training) or "warn"."""
        return "error"

    def describe(self, utterances: list[Utterance]) -> str:
        """The protocol in words, for every report."""
        return self.name
