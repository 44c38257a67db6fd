"""Using a trained model: load a run folder and predict emotions in new audio (exports: :mod:`.export`).

    import serkit
    predictor = serkit.load("runs/paper-ravdess-20261124-101500")
    result = predictor.predict(waveform, sample_rate)
    result.label, result.probabilities              # {"angry": 0.91, ...}
    result.windows                                  # per-window results for long recordings

The run's own preprocessing, feature extractor and normalisation statistics are restored from
the run folder, never re-fitted. Recordings longer than the training clips are cut into windows
of the training length, each preprocessed as a training clip; shorter ones are treated exactly
as the training clips were.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from serkit.core.errors import SerkitError
from serkit.core.learner import Learner
from serkit.core.recipe import InferenceRecipe
from serkit.core.version import __version__
from serkit.data import audio
from serkit.data.normalise import ZScore, saved_normaliser
from serkit.data.pipeline import Pipeline, extract, preprocess
from serkit.learn.calibration import Calibration
from serkit.results.folder import ModelCard, RunFolder
from serkit.results.saved_model import run_learner

#: Recordings longer than this many training lengths get a window timeline.
LONG = 2.0
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".aiff", ".aif")
#: Clips quieter than this RMS (-80 dBFS) or shorter than this many seconds hold no speech to judge.
SILENT_RMS, SHORTEST = 1e-4, 0.05


@dataclass
class Window:
    start: float
    end: float
    probabilities: dict[str, float]
    smoothed: dict[str, float] = field(default_factory=dict)
    #: A joint task's values of its targets (empty otherwise).
    values: dict[str, float] = field(default_factory=dict)

    @property
    def label(self) -> str:
        scores = self.smoothed or self.probabilities
        return max(scores, key=scores.__getitem__)

    @property
    def uncertainty(self) -> float:
        return normalised_entropy(np.array(list(self.probabilities.values())))


@dataclass
class Prediction:
    """The emotion of one recording: overall probabilities, and a timeline for long recordings."""

    source: str
    probabilities: dict[str, float]
    duration: float
    windows: list[Window] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: What the windows are: "windows" of the training length, or "speech segments" (voice activity detection).
    timeline: str = "windows"
    #: A regression's prediction: ``probabilities`` then holds the value of each target (no label, no uncertainty).
    regression: bool = False
    #: A joint task's values of its targets, beside the class probabilities (empty otherwise).
    values: dict[str, float] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return max(self.probabilities, key=self.probabilities.__getitem__)

    @property
    def uncertainty(self) -> float:
        """The entropy of the probabilities over its largest value, log(classes): 0 sure, 1 uniform."""
        return normalised_entropy(np.array(list(self.probabilities.values())))

    def to_dict(self) -> dict[str, Any]:
        if self.regression:
            windows = [{"start": w.start, "end": w.end, "values": w.probabilities} for w in self.windows]
            return {
                "file": self.source,
                "values": self.probabilities,
                "duration": round(self.duration, 3),
                "windows": windows,
                "timeline": self.timeline,
                "notes": self.notes,
            }
        values = {"values": self.values} if self.values else {}
        return {
            "file": self.source,
            "label": self.label,
            "probabilities": self.probabilities,
            "uncertainty": round(self.uncertainty, 6),
            **values,
            "duration": round(self.duration, 3),
            "windows": [
                {
                    "start": w.start,
                    "end": w.end,
                    "label": w.label,
                    "probabilities": w.probabilities,
                    "smoothed": w.smoothed,
                    "uncertainty": round(w.uncertainty, 6),
                    **({"values": w.values} if w.values else {}),
                }
                for w in self.windows
            ],
            "timeline": self.timeline,
            "notes": self.notes,
        }


class Predictor:
    """A trained model with the exact preprocessing, features and normalisation of its run."""

    def __init__(self, run: RunFolder, recipe: InferenceRecipe, card: ModelCard, learner: Learner) -> None:
        self.run = run
        self.run_dir = run.path
        self.recipe = recipe
        #: model.json: labels, input shape, normaliser, which weights.
        self.card = card
        self.labels: list[str] = list(card.labels)
        #: A joint task's targets, whose values every prediction gives beside the classes' probabilities.
        self.targets: list[str] = card.joint_targets
        self.input_shape = tuple(card.input_shape)
        self.learner = learner
        #: Temperature scaling kept beside the model (scikit-learn's calibrators are inside it), or None.
        self.calibration = Calibration.from_json(card.calibration)
        #: What the probabilities are, in words (every output says it).
        self.calibration_note = calibration_words(self.calibration, card.regression, self.labels, self.targets)
        #: Per-speaker runs: features are normalised by statistics of the speaker's own recordings,
        #: set by :meth:`fit_speaker` before predicting.
        self.per_speaker = card.per_speaker
        #: Raw features computed to fit a speaker's statistics, kept (up to :data:`KEPT_BYTES`) for the predictions
        #: that follow, so that no file's features are computed twice.
        self._kept: dict[tuple[str, int, int, int], np.ndarray] = {}
        self.normaliser: ZScore | None = (
            None
            if self.per_speaker
            else saved_normaliser(card.normaliser, f"feature extractor '{recipe.features.name}'")
        )
        self.pipeline = Pipeline(recipe.preprocess, [], recipe.features, recipe.run.seed)
        self.per_window = [p for p in recipe.preprocess if p.reapply_after_augment]
        self.whole = [p for p in recipe.preprocess if not p.reapply_after_augment]
        durations = [p.fixed_duration() for p in self.per_window]
        self.window_seconds = next((float(d) for d in durations if d is not None), None)
        made_with = card.serkit_version
        changed = [f"serkit {made_with}, used with {__version__}"] if made_with != __version__ else []
        changed += _changed_components(run, recipe)
        self.version_note = ("run made with " + "; ".join(changed)) if changed else ""

    @classmethod
    def load(cls, run_dir: str | Path) -> Predictor:
        run = RunFolder(Path(run_dir))
        if not run.path.is_dir():
            raise SerkitError(f"{run}: run folder does not exist")
        missing = run.missing(for_predicting=True)
        if missing:
            raise SerkitError(f"{run}: not a complete serkit run folder (missing {', '.join(missing)})")
        card, recipe, learner = run_learner(run)
        weights = run.weights_file(card.weights_file)
        if not weights.is_file():
            raise SerkitError(f"{run}: not a complete serkit run folder (missing {weights.name})")
        try:
            learner.loads(weights.read_bytes())
        except Exception as exc:
            raise SerkitError(
                f"{weights}: cannot load the fitted model into {recipe.model.name} "
                f"({type(exc).__name__}: {(str(exc).splitlines() or [''])[0]})"
            ) from exc
        return cls(run, recipe, card, learner)

    @property
    def model(self) -> torch.nn.Module:
        """The trained torch module (torch models only; see :attr:`learner` for any model)."""
        module = getattr(self.learner, "module", None)
        if not isinstance(module, torch.nn.Module):
            raise SerkitError(f"model '{self.recipe.model.name}' is not a torch module")
        return module

    # -- prediction -------------------------------------------------------------------------

    def predict_file(self, path: str | Path, hop: float | None = None, smooth: int = 3) -> Prediction:
        wave, rate, channels = audio.read(str(path))
        notes = []
        if channels > 1:
            notes.append(f"mixed down from {channels} channels")
        return self.predict(wave, rate, hop=hop, smooth=smooth, source=str(path), notes=notes)

    def predict(
        self,
        wave: np.ndarray,
        sample_rate: int,
        hop: float | None = None,
        smooth: int = 3,
        source: str = "<waveform>",
        notes: list[str] | None = None,
    ) -> Prediction:
        """Probabilities for one recording; one longer than the training clips gets a window timeline."""
        wave = audio.mono(wave)
        if wave.ndim != 1 or wave.size == 0:
            raise SerkitError(f"{source}: expected a non-empty mono or multi-channel waveform")
        notes = list(notes or [])
        duration = wave.size / sample_rate
        rms = float(np.sqrt(np.mean(np.square(wave, dtype=np.float64))))
        if rms < SILENT_RMS or duration < SHORTEST:
            notes.append(
                f"the clip holds no speech energy ({duration:.3g} s, RMS {20 * np.log10(max(rms, 1e-12)):.0f} dBFS): "
                "its prediction means nothing"
            )
        whole, rate = preprocess(self.pipeline, source, self.whole, wave, sample_rate)
        if rate != sample_rate:
            notes.append(f"resampled from {sample_rate} Hz to {rate} Hz")
        length = self.window_seconds
        if length is None or whole.size <= LONG * length * rate:  # treated exactly as a training clip
            if length is not None and whole.size < round(length * rate):
                notes.append(f"shorter than the training clips ({whole.size / rate:.2f} s < {length:g} s): padded")
            features = self._features(whole, rate, source, self.per_window)[np.newaxis]
            outputs = self._probabilities(features)[0]
            named, values = named_outputs(outputs, self.labels, self.targets)
            return Prediction(source, named, duration, notes=notes, regression=self.card.regression, values=values)
        windows = self._windows(wave, sample_rate, length, hop, notes)
        features = np.stack(
            [self._features(piece, sample_rate, source, self.recipe.preprocess) for _, _, piece in windows]
        )
        probabilities = self._probabilities(features)
        smoothed = _moving_average(probabilities, smooth)
        timeline = _timeline(windows, probabilities, smoothed, self.labels, self.targets)
        mean = probabilities.mean(axis=0)
        overall, values = named_outputs(mean, self.labels, self.targets)
        return Prediction(source, overall, duration, timeline, notes, regression=self.card.regression, values=values)

    def _probabilities(self, features: np.ndarray) -> np.ndarray:
        probabilities = self.learner.predict_proba(features)
        return self.calibration.apply(probabilities) if self.calibration else probabilities

    @staticmethod
    def _windows(
        wave: np.ndarray, rate: int, length: float, hop: float | None, notes: list[str]
    ) -> list[tuple[float, float, np.ndarray]]:
        """Windows of the training length over the recording as recorded, so times are the recording's own."""
        size, step = round(length * rate), round((length / 2 if hop is None else hop) * rate)
        if step <= 0:
            raise SerkitError(f"--hop: must be a positive number of seconds, got {hop}")
        starts = list(range(0, wave.size - size + 1, step))
        if starts[-1] + size < wave.size:
            starts.append(wave.size - size)  # the last window ends with the recording
        notes.append(
            f"{len(starts)} windows of {length:g} s, hop {step / rate:g} s, each preprocessed as a training clip"
        )
        return [(s / rate, (s + size) / rate, wave[s : s + size]) for s in starts]

    def fit_speaker(self, paths: list[str]) -> str:
        """Per-speaker runs: fit the normalisation on recordings of one speaker (at least two); returns a note."""
        if not self.per_speaker:
            return ""
        if len(paths) < 2:
            raise SerkitError(
                f"{self.run_dir}: this run normalises each speaker by its own statistics; give at least two "
                "recordings of the speaker (all the recordings of one call are taken as one speaker's), or one long "
                "recording with --segments vad (its speech segments are then taken as the speaker's recordings)"
            )
        rows = []
        for path in paths:
            wave, rate, _ = audio.read(str(path))
            rows.append(self._raw_features(audio.mono(wave), rate, str(path), self.recipe.preprocess, keep=True))
        self.normaliser = speaker_normaliser(self.recipe, rows)
        return f"normalised per speaker: the {len(paths)} recordings given are taken as one speaker's"

    def fit_speaker_on(self, pieces: list[tuple[np.ndarray, int]], source: str) -> str:
        """Per-speaker runs: fit the normalisation on the speech segments of one recording (at least two)."""
        if len(pieces) < 2:
            raise SerkitError(
                f"{source}: this run normalises each speaker by its own statistics, and the recording holds "
                f"{len(pieces)} speech segment(s): give a longer recording, or at least two recordings of the speaker"
            )
        rows = [self._raw_features(piece, rate, source, self.recipe.preprocess) for piece, rate in pieces]
        self.normaliser = speaker_normaliser(self.recipe, rows)
        return f"normalised per speaker: the recording's {len(pieces)} speech segments are taken as one speaker's"

    def _raw_features(self, piece: np.ndarray, rate: int, source: str, chain: list, keep: bool = False) -> np.ndarray:
        """A piece's features as stored in training; ``keep``: remember them for the next call on the same piece
        (while the kept ones take under :data:`KEPT_BYTES`)."""
        key = (source, rate, piece.size, hash(piece.tobytes()))
        if key in self._kept:
            return self._kept.pop(key)
        features = self._computed(piece, rate, source, chain)
        if keep and sum(a.nbytes for a in self._kept.values()) + features.nbytes <= KEPT_BYTES:
            self._kept[key] = features
        return features

    def _computed(self, piece: np.ndarray, rate: int, source: str, chain: list) -> np.ndarray:
        piece, rate = preprocess(self.pipeline, source, chain, piece, rate)
        stored = self.recipe.features.storage_dtype()
        features = extract(self.pipeline, source, piece, rate).astype(stored)  # as stored in training
        expected = self.input_shape
        if features.shape != expected:
            raise SerkitError(f"{source}: features of shape {features.shape}, but the model expects {expected}")
        return features

    def _features(self, piece: np.ndarray, rate: int, source: str, chain: list) -> np.ndarray:
        if self.normaliser is None:
            raise SerkitError(
                f"{self.run_dir}: this run normalises per speaker: call fit_speaker() with recordings of the "
                "speaker first (serkit predict takes all the files given as one speaker's)"
            )
        features = self._raw_features(piece, rate, source, chain)
        return self.normaliser(features[np.newaxis])[0].astype(np.float32)  # stored dtype then float32, as in training


def _timeline(
    windows: list[tuple[float, float, np.ndarray]],
    outputs: np.ndarray,
    smoothed: np.ndarray,
    labels: list[str],
    targets: list[str],
) -> list[Window]:
    """A recording's windows with their outputs by name (smoothed probabilities beside them)."""
    found = []
    for (start, end, _), row, smooth in zip(windows, outputs, smoothed, strict=True):
        named, values = named_outputs(row, labels, targets)
        found.append(Window(round(start, 3), round(end, 3), named, named_outputs(smooth, labels, targets)[0], values))
    return found


def named_outputs(row: np.ndarray, labels: list[str], targets: list[str]) -> tuple[dict[str, float], dict[str, float]]:
    """One output row by name: the classes' probabilities (a regression's values), then a joint task's values of
    its targets ({} for other tasks)."""
    named = {label: round(float(p), 6) for label, p in zip(labels, row[: len(labels)], strict=True)}
    return named, {t: round(float(v), 6) for t, v in zip(targets, row[len(labels) :], strict=True)}


def calibration_words(
    calibration: Calibration | None, regression: bool, labels: list[str], targets: list[str] | None = None
) -> str:
    """What a model's outputs are, in words (every output of predict says it)."""
    if regression:
        return f"values of {', '.join(labels)} (a regression: no classes, no probabilities)"
    if targets:
        return f"probabilities not calibrated, and the values of {', '.join(targets)} (a joint task's two heads)"
    if calibration:
        return f"probabilities calibrated: {calibration.describe()}"
    return "probabilities not calibrated (the run had no [calibrate])"


def speaker_normaliser(recipe: InferenceRecipe, rows: list[np.ndarray]) -> ZScore:
    """A speaker's own statistics, per band, from the raw features of their recordings."""
    source = f"feature extractor '{recipe.features.name}'"
    return ZScore.fit(np.stack(rows), "band", recipe.features.output_shape(), source=source)


def _changed_components(run: RunFolder, recipe: InferenceRecipe) -> list[str]:
    """Inference components whose installed distribution differs from the one the run was trained with."""
    from serkit.core.registry import get_registry

    try:
        recorded = run.read_environment().components
    except SerkitError:
        return []
    origins = get_registry().origins()
    changed = []
    for section, components in (
        ("preprocess", recipe.preprocess),
        ("features", [recipe.features]),
        ("model", [recipe.model]),
    ):
        for component in components:
            then = recorded.get(f"{section}:{component.name}")
            now = origins.get(f"{component.kind}:{component.name}")
            if then and now and then != now:
                changed.append(f"{section} '{component.name}' from {then}, now {now}")
    return changed


def normalised_entropy(probabilities: np.ndarray) -> float:
    """-Σ p log p / log K of one row of K probabilities (0 for one class)."""
    p = np.clip(np.asarray(probabilities, dtype=np.float64), 0.0, 1.0)
    if p.size < 2 or p.sum() <= 0:
        return 0.0
    p = p / p.sum()
    nonzero = p[p > 0]
    return float(-np.sum(nonzero * np.log(nonzero)) / np.log(p.size))


def _moving_average(rows: np.ndarray, width: int) -> np.ndarray:
    if width <= 1:
        return rows
    kernel = np.ones(width) / width
    padded = np.pad(rows, ((width // 2, width - 1 - width // 2), (0, 0)), mode="edge")
    return np.stack([np.convolve(padded[:, k], kernel, mode="valid") for k in range(rows.shape[1])], axis=1)


@dataclass
class Batch:
    """Predictions of many files: each readable file's, a line per file that could not be predicted,
    and, for a run that normalises per speaker, how the speaker's statistics were fitted."""

    results: list[Prediction]
    failures: list[str]
    speaker_note: str = ""


#: The most bytes of features kept between fitting a speaker's statistics and predicting its files.
KEPT_BYTES = 512 * 2**20


def predict_files(
    predictor: Predictor,
    inputs: list[str],
    hop: float | None = None,
    smooth: int = 3,
    predict_one: Callable[[str], Prediction] | None = None,
) -> Batch:
    """Every audio file given or inside a given folder, predicted (the files are taken as one
    speaker's where the run normalises per speaker), as a whole or by ``predict_one`` (e.g. per speech
    segment: :func:`~serkit.inference.segments.predict_segments`); a file that fails is named, the others go on."""

    files = audio_files(inputs)
    if not files:
        raise SerkitError(f"AUDIO: no audio files ({', '.join(AUDIO_SUFFIXES)}) in {', '.join(inputs)}")
    one_recording = predict_one is not None and len(files) == 1  # its segments fit a per-speaker run's statistics
    batch = Batch([], [], "" if one_recording else predictor.fit_speaker(files))
    for path in files:
        try:
            if predict_one is not None:
                batch.results.append(predict_one(path))
            else:
                batch.results.append(predictor.predict_file(path, hop=hop, smooth=smooth))
        except SerkitError as exc:
            batch.failures.append(str(exc))
    return batch


def audio_files(inputs: list[str]) -> list[str]:
    """Files as given, and the audio files inside given folders (sorted)."""
    found = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            found += sorted(str(p) for p in path.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file())
        else:
            found.append(item)
    return found


def load(run_dir: str | Path) -> Predictor:
    """Load a trained model from a run folder: ``serkit.load(run_dir).predict(waveform, sample_rate)``."""
    return Predictor.load(run_dir)
