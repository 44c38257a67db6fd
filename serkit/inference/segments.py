"""Emotion over time in a long recording cut by voice activity detection (``predict --segments vad``).

The file is read a block at a time: each block is mixed down, resampled for the detector and fed to a
:class:`~serkit.data.vad.Segmenter`; the recording's own samples are kept only from where a segment
may still start, so memory is bounded by ``max_speech`` seconds (a longer stretch of speech is cut
there), never by the recording. Each closed segment is predicted as ``serkit predict`` predicts a
clip (windows for one longer than twice the training length), from the samples as recorded.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, replace

import numpy as np

from serkit.core.errors import SerkitError
from serkit.data import audio
from serkit.data.vad import RATE, Segmenter, VadSettings
from serkit.inference.predictor import Prediction, Predictor, Window

#: Seconds read per block.
BLOCK_SECONDS = 10.0


def read_blocks(path: str, seconds: float = BLOCK_SECONDS) -> Iterator[tuple[np.ndarray, int]]:
    """The file's samples, mixed to mono, ``seconds`` at a time, and its sample rate."""
    import soundfile

    audio.check_regular_file(path)
    try:
        handle = soundfile.SoundFile(path)
    except Exception as exc:  # soundfile raises its own error types, or OSError
        raise SerkitError(f"{path}: cannot read audio ({str(exc).splitlines()[0] if str(exc) else exc})") from None
    with handle:
        size = max(1, round(seconds * handle.samplerate))
        while True:
            block = handle.read(size, dtype="float32", always_2d=True)
            if not len(block):
                return
            if not np.all(np.isfinite(block)):
                raise SerkitError(f"{path}: audio contains NaN or infinite samples")
            yield block.mean(axis=1), handle.samplerate


class _Kept:
    """The recording's samples from some point on, as blocks: what segments still to close may need."""

    def __init__(self) -> None:
        self.blocks: deque[tuple[int, np.ndarray]] = deque()
        self.end = 0  # samples read so far

    def add(self, block: np.ndarray) -> None:
        self.blocks.append((self.end, block))
        self.end += block.size

    def cut(self, first: int, last: int) -> np.ndarray:
        parts = [b[max(0, first - s) : max(0, last - s)] for s, b in self.blocks if s < last and s + b.size > first]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)

    def forget_before(self, sample: int) -> None:
        while self.blocks and self.blocks[0][0] + self.blocks[0][1].size <= sample:
            self.blocks.popleft()

    @property
    def samples(self) -> int:
        return sum(b.size for _, b in self.blocks)


def predict_segments(predictor: Predictor, path: str, settings: VadSettings) -> Prediction:
    """The emotion of each speech segment of ``path``, read in blocks; a recording without speech is an error.
    A run that normalises each speaker by their own statistics, not yet fitted to a speaker, takes the
    recording's segments as one speaker's recordings (a first pass fits the statistics on them)."""
    settings = replace(settings, max_speech=settings.max_speech or 30.0)
    notes = []
    if predictor.per_speaker and predictor.normaliser is None:  # not yet fitted to a speaker
        notes.append(predictor.fit_speaker_on([(piece, rate) for _, piece, rate in speech(path, settings)], path))
    read = Reading()
    windows = []
    for start, piece, rate in speech(path, settings, read):
        result = predictor.predict(piece, rate, source=path)
        end = round(start + piece.size / rate, 3)
        windows.append(Window(round(start, 3), end, result.probabilities, values=result.values))
        windows[-1].smoothed = result.probabilities
    if not windows:
        raise SerkitError(
            f"{path}: no speech found by voice activity detection ({settings.engine}, {read.seconds:.1f} s)"
        )
    weights = np.array([w.end - w.start for w in windows])
    rows = np.array([[w.probabilities[k] for k in predictor.labels] for w in windows])
    overall = {k: round(float(p), 6) for k, p in zip(predictor.labels, weights @ rows / weights.sum(), strict=True)}
    values = np.array([[w.values[t] for t in predictor.targets] for w in windows]).reshape(len(windows), -1)
    means = {t: round(float(v), 6) for t, v in zip(predictor.targets, weights @ values / weights.sum(), strict=True)}
    notes.insert(
        0,
        f"{len(windows)} speech segments found by voice activity detection ({settings.engine}), "
        f"{float(weights.sum()):.1f} s of {read.seconds:.1f} s; the file's emotion is their duration-weighted mean; "
        f"read in {BLOCK_SECONDS:g} s blocks (at most {read.held:.1f} s held)",
    )
    regression = predictor.card.regression
    return Prediction(
        path, overall, read.seconds, windows, notes, timeline="speech segments", regression=regression, values=means
    )


@dataclass
class Reading:
    """What reading a recording found: its length and the most seconds held at once."""

    seconds: float = 0.0
    held: float = 0.0


def speech(path: str, settings: VadSettings, read: Reading | None = None) -> Iterator[tuple[float, np.ndarray, int]]:
    """Each speech segment of ``path``: its start in seconds, its samples as recorded and their rate."""
    import soxr

    segmenter, kept = Segmenter(settings), _Kept()
    peak, rate, stream = 0, 0, None

    def cut(found: list[tuple[float, float]]) -> Iterator[tuple[float, np.ndarray, int]]:
        for start, end in found:
            piece = kept.cut(round(start * rate), round(end * rate))
            if piece.size:
                yield start, piece, rate

    for block, rate in read_blocks(path):
        if stream is None and rate != RATE:
            stream = soxr.ResampleStream(rate, RATE, 1, dtype="float32")
        kept.add(block)
        yield from cut(segmenter.feed(stream.resample_chunk(block) if stream is not None else block))
        kept.forget_before(round((segmenter.needed_from() - settings.pad - 0.1) * rate))
        peak = max(peak, kept.samples)
    if stream is not None:
        yield from cut(segmenter.feed(stream.resample_chunk(np.zeros(0, dtype=np.float32), last=True)))
    yield from cut(segmenter.finish())
    if not rate:
        raise SerkitError(f"{path}: audio file is empty (0 samples)")
    if read is not None:
        read.seconds, read.held = kept.end / rate, peak / rate
