"""A synthetic acted-emotion corpus in RAVDESS's layout, spoken by eSpeak NG.

eSpeak NG (from the ``espeakng-loader`` wheel) is driven through its C API with ctypes. Each
actor is a distinct voice (variant, base pitch, rate); each emotion is a prosody profile after
the vocal correlates summarised by Murray & Arnott (1993) and Scherer (2003): pitch level and
range, speaking rate, loudness, pauses, tremor and jitter, a final contour; every utterance
draws its own variation around them. eSpeak keeps internal state between utterances, so each
actor is synthesised in order in a freshly spawned process: the corpus is byte-identical for a
given seed whatever the number of workers.
"""

from __future__ import annotations

import ctypes
import json
import multiprocessing
import os
import shutil
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from serkit.core.errors import SerkitError

EMOTION_CODES = {
    "neutral": "01",
    "calm": "02",
    "happy": "03",
    "sad": "04",
    "angry": "05",
    "fearful": "06",
    "disgust": "07",
    "surprised": "08",
}
STATEMENTS = (
    "Kids are talking by the door",
    "Dogs are sitting by the door",
    "The train leaves at seven tonight",
    "I left the keys on the table",
    "She opened the window this morning",
    "We have to be there by noon",
)
MALE_VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8")
# eSpeak's f2, f3 and f5 add breath noise from a random source serkit cannot seed (their output
# changed from one process to the next); they are replaced in place by breathless female voices,
# so every other actor keeps its voice.
FEMALE_VARIANTS = ("f1", "steph", "belinda", "f4", "Andrea")
#: Bumped when a voice changes, so corpora cached under the old voices are made again.
VOICES = 2
#: Bumped when the dimensional targets change (1: arousal, valence, dominance from the drawn prosody).
DIMENSIONS = 1
MARKER = "synth.json"
#: Per actor folder: each file's arousal, valence and dominance and the prosody they were computed from.
TARGETS = "dimensions.json"


@dataclass(frozen=True)
class Prosody:
    """How an emotion moves the voice away from neutral speech."""

    pitch: float  # eSpeak base-pitch offset (scale 0-99, neutral 50)
    range: float  # eSpeak pitch range (0-99)
    rate: float  # speaking-rate factor
    loudness: float  # amplitude factor
    pause: float  # extra gap between words, in 10 ms units
    tremor: float  # depth of a 5-8 Hz amplitude and pitch tremor
    drive: float  # tanh saturation (tense, pressed voice); 0 is none
    contour: float  # final pitch movement in percent (rising > 0)


PROFILES = {
    "neutral": Prosody(0, 45, 1.00, 1.00, 0, 0.00, 0.0, 0),
    "calm": Prosody(-5, 28, 0.88, 0.75, 1, 0.00, 0.0, -10),
    "happy": Prosody(13, 80, 1.10, 1.25, 0, 0.00, 0.0, 25),
    "sad": Prosody(-9, 18, 0.78, 0.60, 3, 0.04, 0.0, -25),
    "angry": Prosody(8, 88, 1.12, 1.70, 0, 0.00, 2.5, -15),
    "fearful": Prosody(20, 60, 1.25, 0.95, 1, 0.18, 0.0, 15),
    "disgust": Prosody(-13, 55, 0.72, 0.85, 2, 0.02, 0.8, -35),
    "surprised": Prosody(17, 95, 1.00, 1.20, 0, 0.00, 0.0, 60),
}


@dataclass(frozen=True)
class SynthConfig:
    """What to synthesise; the defaults make 240 files in a few seconds."""

    actors: int = 4
    emotions: tuple[str, ...] = tuple(EMOTION_CODES)
    statements: int = 2
    repetitions: int = 2
    sample_rate: int = 48000
    seed: int = 0
    noise_snr_db: float = 0.0  # 0: no background noise
    workers: int = field(default=0, compare=False)

    def check(self) -> None:
        unknown = [e for e in self.emotions if e not in EMOTION_CODES]
        if unknown:
            raise SerkitError(f"emotions: unknown {', '.join(unknown)} (known: {', '.join(EMOTION_CODES)})")
        if not self.emotions:
            raise SerkitError("emotions: at least one emotion is needed")
        for name, value, low, high in (
            ("actors", self.actors, 1, 24),
            ("statements", self.statements, 1, len(STATEMENTS)),
            ("repetitions", self.repetitions, 1, 9),
            ("sample_rate", self.sample_rate, 8000, 192000),
        ):
            if not low <= value <= high:
                raise SerkitError(f"{name}: {value} is out of range ({low} to {high})")

    def describe(self) -> dict[str, object]:
        data = asdict(self)
        data.pop("workers")
        data["emotions"] = list(self.emotions)
        data["voices"] = VOICES
        data["dimensions"] = DIMENSIONS
        return data

    @property
    def files_per_actor(self) -> int:
        intensities = sum(1 if e == "neutral" else 2 for e in self.emotions)
        return intensities * self.statements * self.repetitions


class Espeak:
    """A minimal ctypes binding of eSpeak NG's synchronous synthesis API."""

    AUDIO_OUTPUT_SYNCHRONOUS = 2
    RATE, VOLUME, PITCH, RANGE, WORDGAP = 1, 2, 3, 4, 7
    POS_CHARACTER = 1
    SSML = 0x10

    def __init__(self) -> None:
        try:
            import espeakng_loader
        except ImportError as exc:
            raise SerkitError("synthesis needs the 'espeakng-loader' package (pip install espeakng-loader)") from exc
        try:
            self.lib = ctypes.CDLL(espeakng_loader.get_library_path())
        except OSError as exc:
            raise SerkitError(f"cannot load eSpeak NG from espeakng-loader: {exc}") from exc
        self._chunks: list[np.ndarray] = []
        callback_type = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)
        self._callback = callback_type(self._collect)
        data = espeakng_loader.get_data_path().encode()
        self.sample_rate = self.lib.espeak_Initialize(self.AUDIO_OUTPUT_SYNCHRONOUS, 0, data, 0)
        if self.sample_rate <= 0:
            raise SerkitError("eSpeak NG failed to initialise (espeak_Initialize returned an error)")
        self.lib.espeak_SetSynthCallback(self._callback)

    def _collect(self, samples, count, events) -> int:  # called from C
        if count > 0 and samples:
            self._chunks.append(np.ctypeslib.as_array(samples, shape=(count,)).copy())
        return 0

    def say(self, ssml: str, voice: str, rate: int, pitch: int, pitch_range: int, gap: int) -> np.ndarray:
        if self.lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise SerkitError(f"eSpeak NG has no voice '{voice}'")
        for parameter, value in (
            (self.RATE, rate),
            (self.PITCH, pitch),
            (self.RANGE, pitch_range),
            (self.WORDGAP, gap),
            (self.VOLUME, 100),
        ):
            self.lib.espeak_SetParameter(parameter, int(value), 0)
        text = ssml.encode()
        self._chunks = []
        status = self.lib.espeak_Synth(text, len(text) + 1, 0, self.POS_CHARACTER, 0, self.SSML, None, None)
        self.lib.espeak_Synchronize()
        if status != 0 or not self._chunks:
            raise SerkitError(f"eSpeak NG failed to synthesise {ssml!r} (status {status})")
        return np.concatenate(self._chunks).astype(np.float32) / 32768.0


@dataclass(frozen=True)
class Speaker:
    actor: int
    voice: str
    pitch: float
    rate: float


def make_speaker(actor: int, seed: int) -> Speaker:
    rng = np.random.default_rng([seed, actor, 1])
    variants = MALE_VARIANTS if actor % 2 else FEMALE_VARIANTS
    variant = variants[(actor // 2 + int(rng.integers(len(variants)))) % len(variants)]
    return Speaker(actor, f"en-us+{variant}", float(rng.uniform(-8, 8)), float(rng.uniform(0.9, 1.1)))


def _ssml(text: str, contour: float) -> str:
    words = text.split()
    head, last = " ".join(words[:-1]), words[-1]
    return f'<speak>{head} <prosody pitch="{contour:+.0f}%">{last}</prosody></speak>'


def _tremor(wave: np.ndarray, rate: int, depth: float, rng: np.random.Generator) -> np.ndarray:
    """Amplitude tremolo plus a small periodic pitch wobble (a modulated delay), with jitter."""
    t = np.arange(wave.size) / rate
    frequency = rng.uniform(5.0, 8.0)
    phase = rng.uniform(0, 2 * np.pi)
    jitter = np.cumsum(rng.normal(0, 1, wave.size)) / np.sqrt(rate) * depth * 0.002
    delay = depth * 0.0015 * np.sin(2 * np.pi * frequency * t + phase) + jitter
    wobbled = np.interp(t + delay, t, wave)
    return (wobbled * (1 + depth * np.sin(2 * np.pi * frequency * t + phase))).astype(np.float32)


def dimensions(drawn: dict[str, float]) -> dict[str, float]:
    """Arousal, valence and dominance in [-1, 1] from the prosody one utterance actually drew (not from its
    emotion label, so a regression cannot simply classify): each a tanh of a weighted sum of the drawn
    departures from neutral speech, after the correlates in Scherer (2003) and Juslin & Laukka (2003).

    - arousal: louder, faster, wider pitch range, higher pitch, pressed voice (``drive``);
    - valence: a rising final contour and a wide range are positive; a pressed voice, tremor and pauses negative;
    - dominance: louder and pressed is dominant; higher pitch, tremor and pauses are submissive.
    """
    loud, rate = (drawn["loudness"] - 1) / 0.4, (drawn["rate"] - 1) / 0.15
    spread, pitch = (drawn["range"] - 45) / 25, drawn["pitch"] / 12
    drive, tremor, pause, contour = drawn["drive"], drawn["tremor"] / 0.05, drawn["pause"], drawn["contour"] / 30
    arousal = 0.4 * loud + 0.25 * rate + 0.2 * spread + 0.15 * pitch + 0.1 * drive
    valence = 0.45 * contour + 0.25 * spread - 0.35 * drive - 0.3 * tremor - 0.05 * pause
    dominance = 0.35 * loud + 0.3 * drive - 0.25 * pitch - 0.2 * tremor - 0.1 * pause
    values = {"arousal": arousal / 1.5, "valence": valence, "dominance": dominance / 1.2}
    return {name: round(float(np.tanh(value)), 4) for name, value in values.items()}


def render(
    espeak: Espeak, speaker: Speaker, emotion: str, strong: bool, statement: int, repetition: int, config: SynthConfig
) -> tuple[np.ndarray, dict[str, float]]:
    """One utterance as float32 samples at ``config.sample_rate``, and the prosody it drew (departures from
    the speaker's own neutral voice: pitch offset, range, rate factor, loudness, pause, tremor, drive, contour)."""
    import soxr

    code = EMOTION_CODES[emotion]
    rng = np.random.default_rng([config.seed, speaker.actor, int(code), int(strong), statement, repetition])
    profile = PROFILES[emotion]
    scale = 1.5 if strong else 1.0  # strong intensity exaggerates the departure from neutral

    def away(value: float, neutral: float, spread: float) -> float:
        return neutral + scale * (value - neutral) + rng.normal(0, spread)

    pitch = np.clip(50 + speaker.pitch + away(profile.pitch, 0, 3), 0, 99)
    pitch_range = np.clip(away(profile.range, 45, 6), 0, 99)
    factor = away(profile.rate, 1.0, 0.04)
    rate = np.clip(165 * speaker.rate * factor, 80, 400)
    gap = max(0, round(away(profile.pause, 0, 0.6)))
    contour = away(profile.contour, 0, 6)
    wave = espeak.say(_ssml(STATEMENTS[statement - 1], contour), speaker.voice, rate, pitch, pitch_range, gap)
    tremor = max(0.0, away(profile.tremor, 0, 0.01))
    if tremor > 0.005:
        wave = _tremor(wave, espeak.sample_rate, tremor, rng)
    drive = max(0.0, away(profile.drive, 0, 0.2))
    if drive > 0.05:
        wave = np.tanh(drive * wave / (np.max(np.abs(wave)) or 1.0)) / np.tanh(drive)
    loudness = max(0.1, away(profile.loudness, 1.0, 0.08))
    wave = wave / (np.max(np.abs(wave)) or 1.0) * 0.25 * loudness
    lead, tail = (np.zeros(int(rng.uniform(0.15, 0.6) * espeak.sample_rate), np.float32) for _ in range(2))
    wave = np.concatenate([lead, wave, tail])
    if config.noise_snr_db:
        power = np.mean(wave**2)
        wave = wave + rng.normal(0, np.sqrt(power / 10 ** (config.noise_snr_db / 10)), wave.size)
    wave = soxr.resample(wave.astype(np.float32), espeak.sample_rate, config.sample_rate)
    drawn = {
        "pitch": float(pitch - 50 - speaker.pitch),
        "range": float(pitch_range),
        "rate": float(factor),
        "loudness": float(loudness),
        "pause": float(gap),
        "tremor": float(tremor),
        "drive": float(drive),
        "contour": float(contour),
    }
    return np.clip(wave, -1, 1).astype(np.float32), drawn


def utterance_plan(config: SynthConfig, actor: int) -> list[tuple[str, bool, int, int, str]]:
    """(emotion, strong, statement, repetition, file name) for every file of one actor, in order."""
    plan = []
    for emotion in config.emotions:
        for strong in (False, True) if emotion != "neutral" else (False,):
            for statement in range(1, config.statements + 1):
                for repetition in range(1, config.repetitions + 1):
                    name = (
                        f"03-01-{EMOTION_CODES[emotion]}-{'02' if strong else '01'}-{statement:02d}-"
                        f"{repetition:02d}-{actor:02d}.wav"
                    )
                    plan.append((emotion, strong, statement, repetition, name))
    return plan


def synthesise_actor(folder: str, config: SynthConfig, actor: int) -> int:
    """Write one actor's files (runs in a fresh process so eSpeak starts from the same state)."""
    import soundfile

    espeak = Espeak()
    speaker = make_speaker(actor, config.seed)
    target = Path(folder) / f"Actor_{actor:02d}"
    target.mkdir(parents=True, exist_ok=True)
    plan = utterance_plan(config, actor)
    targets = {}
    for emotion, strong, statement, repetition, name in plan:
        wave, drawn = render(espeak, speaker, emotion, strong, statement, repetition, config)
        soundfile.write(target / name, wave, config.sample_rate, subtype="PCM_16", format="WAV")
        targets[name] = {**dimensions(drawn), "prosody": {k: round(v, 4) for k, v in drawn.items()}}
    (target / TARGETS).write_text(json.dumps(targets, indent=1) + "\n", encoding="utf-8")
    return len(plan)


def check_target(out_dir: str | Path) -> Path:
    """The output folder, which must be new or empty."""
    out = Path(out_dir).expanduser()
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise SerkitError(f"{out}: folder exists and is not empty (choose a new folder)")
    return out


def process_context() -> Any:
    """Where actors are synthesised: forked from a clean single-threaded server (Linux), never from this
    process, whose other threads (a progress bar's) may hold a lock at the moment of forking; spawned
    elsewhere."""
    return multiprocessing.get_context("forkserver" if sys.platform == "linux" else "spawn")


def _synthesise_in_child(folder: str, config: SynthConfig, actor: int) -> None:
    """A child process's work: one actor, or the error in one line beside the actor's folder."""
    try:
        synthesise_actor(folder, config, actor)
    except BaseException as exc:
        (Path(folder) / f".error-{actor:02d}").write_text(f"{type(exc).__name__}: {exc}", encoding="utf-8")
        raise SystemExit(1) from None


def _run_actors(
    context: Any, folder: Path, config: SynthConfig, workers: int, progress: Callable[[int], None], out: Path
) -> None:
    """One fresh process per actor, at most ``workers`` at a time, each started from this (main) thread:
    a multiprocessing pool replaces exhausted workers from a helper thread, and a worker forked while
    another thread held the task queue's lock waited for it forever (seen once in CI: the quickstart hung)."""
    pending = list(range(1, config.actors + 1))
    running: list[tuple[Any, int]] = []
    while pending or running:
        while pending and len(running) < workers:
            actor = pending.pop(0)
            process = context.Process(target=_synthesise_in_child, args=(str(folder), config, actor))
            process.start()
            running.append((process, actor))
        process, actor = running.pop(0)
        process.join()
        if process.exitcode != 0:
            for other, _ in running:
                other.terminate()
                other.join()
            error = folder / f".error-{actor:02d}"
            why = error.read_text(encoding="utf-8") if error.is_file() else f"exit code {process.exitcode}"
            raise SerkitError(f"synthesis into {out} failed: {why} (actor {actor})")
        progress(len(list((folder / f"Actor_{actor:02d}").glob("*.wav"))))


def synthesise_corpus(
    out_dir: str | Path, config: SynthConfig, progress: Callable[[int], None] = lambda n: None
) -> Path:
    """Write the corpus to ``out_dir`` (which must not exist yet), atomically: a temporary folder renamed."""
    config.check()
    out = check_target(out_dir)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        partial = out.parent / f".{out.name}.partial-{os.getpid()}"
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir()
    except OSError as exc:
        raise SerkitError(f"{out}: cannot write here ({exc.strerror or exc})") from exc
    try:
        workers = min(config.workers or os.cpu_count() or 1, config.actors)
        # One fresh process per actor (eSpeak never runs in this one), so every actor starts from
        # the same eSpeak state.
        context = process_context()
        _run_actors(context, partial, config, workers, progress, out)
        marker = {"generator": "serkit data synth", "layout": "RAVDESS", **config.describe()}
        (partial / MARKER).write_text(json.dumps(marker, indent=2) + "\n")
        if out.exists():
            out.rmdir()
        try:
            os.replace(partial, out)
        except OSError:
            if not (out / MARKER).is_file():
                raise
            shutil.rmtree(partial, ignore_errors=True)  # another process finished the same corpus first
    except BaseException as exc:
        shutil.rmtree(partial, ignore_errors=True)
        if isinstance(exc, SerkitError | KeyboardInterrupt):
            raise
        raise SerkitError(f"synthesis into {out} failed: {type(exc).__name__}: {exc}") from exc
    return out
