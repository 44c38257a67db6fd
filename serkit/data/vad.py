"""Voice activity detection: where the speech is, in a clip or in a recording read a block at a time.

Two engines score short frames of 16 kHz audio: Silero VAD (``silero-vad``: a small neural network
shipped inside the package, run by torch) and WebRTC's VAD (``webrtcvad-wheels``: Google's GMM
detector, a C extension). A :class:`Segmenter` turns the frames' scores into speech segments with
hysteresis (speech starts at ``threshold``, ends after ``min_silence`` seconds below
``threshold - 0.15``, Silero's own margin, or half the threshold where that is lower), drops
segments shorter than ``min_speech`` and widens each by ``pad`` seconds (never into the one before).
It is fed any number of samples at a time and hands back each segment as soon as it is closed, so a
recording of any length is segmented in bounded memory.
"""

from __future__ import annotations

import functools
import importlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from serkit.core.errors import SerkitError

#: The rate both engines score at.
RATE = 16000
ENGINES = ("silero", "webrtc")


@dataclass(frozen=True)
class VadSettings:
    """How speech is told from silence (the ``vad`` preprocessor's and ``predict --segments vad``'s)."""

    engine: str = "silero"
    threshold: float = 0.5
    min_speech: float = 0.25
    min_silence: float = 0.3
    pad: float = 0.1
    #: Longer speech is cut into segments of this many seconds (bounded memory); 0: no limit.
    max_speech: float = 0.0


class _Silero:
    """Silero VAD's speech probability per 32 ms frame (512 samples), its recurrent state carried along."""

    frame = 512

    def __init__(self) -> None:
        require_engine("silero")
        self.model = _silero_model()
        self.model.reset_states()

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            return np.array([float(self.model(torch.from_numpy(f), RATE)) for f in frames], dtype=np.float32)


class _WebRTC:
    """WebRTC's speech decision (0 or 1) per 30 ms frame, at aggressiveness 0 (least) to 3 (most)."""

    frame = 480

    def __init__(self, aggressiveness: int = 2) -> None:
        require_engine("webrtc")
        import webrtcvad

        self.vad = webrtcvad.Vad(aggressiveness)

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        pcm = (np.clip(frames, -1.0, 1.0) * 32767).astype("<i2")
        return np.array([self.vad.is_speech(f.tobytes(), RATE) for f in pcm], dtype=np.float32)


@functools.lru_cache(maxsize=1)
def _silero_model() -> Any:
    """The TorchScript model inside the installed silero-vad package (a dependency, not a user's file),
    loaded once per process."""
    from silero_vad import load_silero_vad

    return load_silero_vad()


#: The package each engine needs (the ``vad`` extra installs both).
PACKAGES = {"silero": ("silero_vad", "silero-vad"), "webrtc": ("webrtcvad", "webrtcvad-wheels")}


def require_engine(engine: str) -> None:
    """A one-line error when ``engine``'s package is missing."""
    if engine not in PACKAGES:
        raise SerkitError(f"vad engine: '{engine}' is not one of {', '.join(ENGINES)}")
    module, package = PACKAGES[engine]
    try:
        importlib.import_module(module)
    except ImportError:
        raise SerkitError(
            f"vad engine '{engine}' needs {package}, which is not installed: pip install 'serkit[vad]'"
        ) from None


def scorer(engine: str) -> _Silero | _WebRTC:
    """A fresh frame scorer of ``engine`` (its ``frame``: samples per frame at 16 kHz)."""
    require_engine(engine)
    return _Silero() if engine == "silero" else _WebRTC()


class Segmenter:
    """Speech segments, in seconds from the start, of 16 kHz audio fed a block at a time."""

    def __init__(self, settings: VadSettings) -> None:
        self.settings = settings
        self.score = scorer(settings.engine)
        self.frame = int(self.score.frame)
        self.rest = np.zeros(0, dtype=np.float32)
        self.frames_seen = 0
        self.start: int | None = None  # first frame of the open segment
        self.last_speech = 0  # last frame scored as speech in it
        self.closed: list[tuple[float, float]] = []
        self.last_end = 0.0

    def feed(self, samples: np.ndarray) -> list[tuple[float, float]]:
        """Score what is fed; returns the segments closed by it."""
        data = np.concatenate([self.rest, np.asarray(samples, dtype=np.float32)])
        whole = data.size // self.frame * self.frame
        self.rest = data[whole:]
        scores = self.score(data[:whole].reshape(-1, self.frame)) if whole else np.zeros(0)
        for score in scores:
            self._step(float(score))
            self.frames_seen += 1
        return self._take()

    def finish(self) -> list[tuple[float, float]]:
        """The segment still open at the end of the audio, if any."""
        if self.start is not None:
            self._close()
        return self._take()

    def needed_from(self) -> float:
        """Seconds from which the audio may still belong to a segment not yet handed back."""
        return self._seconds(self.frames_seen if self.start is None else self.start)

    def _step(self, score: float) -> None:
        s, k = self.settings, self.frames_seen
        if self.start is not None and s.max_speech and self._seconds(k - self.start) >= s.max_speech:
            self.last_speech = k - 1
            self._close()
        if score >= s.threshold:
            if self.start is None:
                self.start = k
            self.last_speech = k
        elif (
            self.start is not None
            and score < max(s.threshold - 0.15, s.threshold / 2)  # below it by a margin: no flicker
            and self._seconds(k - self.last_speech) >= s.min_silence
        ):
            self._close()

    def _close(self) -> None:
        assert self.start is not None
        first, last = self._seconds(self.start), self._seconds(self.last_speech + 1)
        self.start = None
        if last - first < self.settings.min_speech:
            return
        first, last = max(0.0, first - self.settings.pad, self.last_end), last + self.settings.pad
        self.closed.append((first, last))
        self.last_end = last

    def _take(self) -> list[tuple[float, float]]:
        ready, self.closed = self.closed, []
        return ready

    def _seconds(self, frames: int) -> float:
        return frames * self.frame / RATE


def speech_segments(wave: np.ndarray, sample_rate: int, settings: VadSettings) -> list[tuple[float, float]]:
    """The speech segments of a whole clip, in seconds (clipped to its length)."""
    segmenter = Segmenter(settings)
    found = segmenter.feed(to_vad_rate(wave, sample_rate)) + segmenter.finish()
    duration = wave.size / sample_rate
    return [(start, min(end, duration)) for start, end in found if start < duration]


def to_vad_rate(wave: np.ndarray, sample_rate: int) -> np.ndarray:
    if sample_rate == RATE:
        return np.asarray(wave, dtype=np.float32)
    import soxr

    return soxr.resample(np.asarray(wave, dtype=np.float32), sample_rate, RATE, "HQ")
