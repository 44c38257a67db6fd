"""Torch implementations of the built-in transforms and features, run on a batch on the training device.

Each draws on the CPU exactly as its NumPy call does (one integer from the example's generator seeds
audiomentations' own ``randomize_parameters``; :func:`seeded`), so both paths draw the same parameters, and
transforms the batch on the device:

- linear, time-invariant transforms (gain, polarity, the Butterworth, shelf and peaking filters, the
  seven-band EQ): the impulse response of the drawn transform (its NumPy ``apply`` on a unit impulse, on the
  CPU), convolved by FFT; equal to the NumPy path up to float32 rounding (causal filters only: a zero-phase
  filter is not offered, its edges differ);
- impulse responses from a folder (``apply_impulse_response``): the bank read once, convolved by FFT and
  scaled to a peak of 0.5 as audiomentations does; equal up to rounding;
- noise (``gaussian_noise``, ``add_gaussian_snr``): the drawn amplitude or SNR applied to Gaussian noise drawn
  on the device from the example's seed: the same distribution, not the same samples;
- noise from a folder (``add_background_noise``): the folder's clips read once at the run's rate, the drawn
  clip, offset and SNR; equal up to rounding where the clips are at the run's rate (librosa resamples a
  segment on the CPU path, the whole clip here);
- speed perturbation (``speed``) by windowed-sinc resampling written in torch, which the NumPy call runs on
  the CPU: equal up to rounding;
- ``fix_length`` on a batch, and the log-mel spectrogram (:class:`TorchLogMel`): librosa's within 1e-3 dB
  in float32 where the power is above ``top_db`` below the peak (``tests/learn/test_device.py``).
"""

from __future__ import annotations

import random
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

import numpy as np
import torch

from serkit.core.device import Draw


@contextmanager
def seeded(seed: int):
    """Seed ``random`` and ``numpy.random`` (which audiomentations draws from), then restore them."""
    saved_random, saved_numpy = random.getstate(), np.random.get_state()
    random.seed(seed)
    np.random.seed(seed)
    try:
        yield
    finally:
        random.setstate(saved_random)
        np.random.set_state(saved_numpy)


class AudiomentationsDraws:
    """Draws an audiomentations transform's parameters as the NumPy call does: one integer from ``rng`` seeds
    its ``randomize_parameters`` (on a probe clip of the example's length: silence, or ones where the draw reads
    the clip's level)."""

    probe = 0.0

    def __init__(self, transform: Any) -> None:
        self.transform = transform

    def draw(self, rng: np.random.Generator, sample_rate: int, shape: tuple[int, ...]) -> Draw:
        seed = int(rng.integers(2**32))
        with seeded(seed):
            self.transform.randomize_parameters(np.full(shape[-1], self.probe, np.float32), sample_rate)
        return {"seed": seed, **self.transform.parameters}


def fft_convolve(batch: torch.Tensor, responses: torch.Tensor) -> torch.Tensor:
    """Each row convolved with its impulse response, full length (rows + responses - 1)."""
    size = batch.shape[-1] + responses.shape[-1] - 1
    n = 1 << (size - 1).bit_length()
    out = torch.fft.irfft(torch.fft.rfft(batch, n) * torch.fft.rfft(responses, n), n)
    return out[..., :size]


class Linear(AudiomentationsDraws):
    """A linear transform: the drawn transform's impulse response convolved on the device, plus the response to
    its initial state, which audiomentations' filters scale by the clip's first sample (``sosfilt_zi``)."""

    #: The responses' length: at most this many seconds (a causal filter's has decayed by then).
    seconds = 1.0

    def apply(self, batch: torch.Tensor, sample_rate: int, draws: list[Draw]) -> torch.Tensor:
        length = min(batch.shape[-1], round(self.seconds * sample_rate))
        impulse, start = zip(*(self._responses(d, sample_rate, length) for d in draws), strict=True)
        scalars = [h[0] if not (np.any(h[1:]) or np.any(g)) else None for h, g in zip(impulse, start, strict=True)]
        if all(s is not None for s in scalars):  # gain, polarity: a scaled impulse
            return batch * torch.tensor(scalars, dtype=batch.dtype, device=batch.device)[:, None]
        h = torch.from_numpy(np.stack(impulse)).to(batch.device, batch.dtype)
        g = torch.from_numpy(np.stack(start)).to(batch.device, batch.dtype)
        out = fft_convolve(batch, h)[..., : batch.shape[-1]]
        out[..., :length] += batch[..., :1] * g
        return out

    def _responses(self, draw: Draw, sample_rate: int, length: int) -> tuple[np.ndarray, np.ndarray]:
        """The impulse response (from an impulse one sample late, so the first sample is 0) and the response to
        a first sample of 1 beyond it (the initial state's)."""
        first, late = np.zeros(length + 1, np.float32), np.zeros(length + 1, np.float32)
        first[0], late[1] = 1.0, 1.0
        self.transform.parameters = {k: v for k, v in draw.items() if k != "seed"}
        self.transform.freeze_parameters()
        try:
            h = np.asarray(self.transform.apply(late, sample_rate), np.float32)[1:]
            return h, np.asarray(self.transform.apply(first, sample_rate), np.float32)[:length] - h
        finally:
            self.transform.unfreeze_parameters()


class ImpulseResponses(AudiomentationsDraws):
    """``apply_impulse_response``: the drawn response from the folder's bank (read once per rate), convolved,
    scaled to a peak of 0.5, cut to the clip's length."""

    def __init__(self, transform: Any) -> None:
        super().__init__(transform)
        self.bank: dict[tuple[str, int, str], torch.Tensor] = {}

    def apply(self, batch: torch.Tensor, sample_rate: int, draws: list[Draw]) -> torch.Tensor:
        from audiomentations.core.audio_loading_utils import load_sound_file

        rows = []
        for row, draw in zip(batch, draws, strict=True):
            key = (str(draw["ir_file_path"]), sample_rate, str(batch.device))
            if key not in self.bank:
                ir, _ = load_sound_file(draw["ir_file_path"], sample_rate, mono=True)
                self.bank[key] = torch.from_numpy(np.asarray(ir, np.float32)).to(batch.device)
            full = fft_convolve(row[None], self.bank[key][None].to(batch.dtype))[0]
            peak = full.abs().max()
            rows.append((full * (0.5 / peak) if peak > 0 else full)[: batch.shape[-1]])
        return torch.stack(rows)


def _noise(draws: list[Draw], like: torch.Tensor) -> torch.Tensor:
    """Standard Gaussian noise per row, from each example's seed, on the batch's device."""
    rows = []
    for draw in draws:
        generator = torch.Generator(device=like.device).manual_seed(int(draw["seed"]))
        rows.append(torch.randn(like.shape[-1], generator=generator, device=like.device, dtype=like.dtype))
    return torch.stack(rows)


class GaussianNoiseOfPeak(AudiomentationsDraws):
    """``gaussian_noise``: noise of the drawn amplitude, a fraction of each clip's peak (or of full scale)."""

    exact = False  # the noise is drawn on the device: its distribution, not its samples

    def __init__(self, transform: Any, relative_to: str) -> None:
        super().__init__(transform)
        self.relative_to = relative_to

    def apply(self, batch: torch.Tensor, sample_rate: int, draws: list[Draw]) -> torch.Tensor:
        amplitude = torch.tensor([d["amplitude"] for d in draws], dtype=batch.dtype, device=batch.device)[:, None]
        if self.relative_to == "peak":
            peak = batch.abs().amax(dim=-1, keepdim=True)
            amplitude = amplitude * torch.where(peak > 0, peak, torch.ones_like(peak))
        return batch + amplitude * _noise(draws, batch)


class GaussianSNR(AudiomentationsDraws):
    """``add_gaussian_snr``: noise at the drawn SNR from each clip's RMS (the probe's RMS is 1, so the drawn
    standard deviation is the SNR's ratio)."""

    probe = 1.0
    exact = False  # the noise is drawn on the device: its distribution, not its samples

    def apply(self, batch: torch.Tensor, sample_rate: int, draws: list[Draw]) -> torch.Tensor:
        ratio = torch.tensor([d["noise_std"] for d in draws], dtype=batch.dtype, device=batch.device)[:, None]
        rms = batch.pow(2).mean(dim=-1, keepdim=True).sqrt()
        return batch + ratio * rms * _noise(draws, batch)


class BackgroundNoise(AudiomentationsDraws):
    """``add_background_noise``: the drawn clip of the folder (read once, at the run's rate) from the drawn
    offset, repeated to the clip's length, mixed at the drawn SNR (or RMS)."""

    def __init__(self, transform: Any) -> None:
        super().__init__(transform)
        self.bank: dict[tuple[str, int, str], torch.Tensor] = {}

    def apply(self, batch: torch.Tensor, sample_rate: int, draws: list[Draw]) -> torch.Tensor:
        from audiomentations.core.audio_loading_utils import load_sound_file

        length, rows = batch.shape[-1], []
        for row, draw in zip(batch, draws, strict=True):
            key = (str(draw["noise_file_path"]), sample_rate, str(batch.device))
            if key not in self.bank:
                sound, _ = load_sound_file(draw["noise_file_path"], sample_rate)
                self.bank[key] = torch.from_numpy(np.asarray(sound, np.float32)).to(batch.device)
            start, count = int(draw["offset"] * sample_rate), int(draw["duration"] * sample_rate)  # librosa's frames
            noise = self.bank[key][start : start + count].to(batch.dtype)
            noise_rms = noise.pow(2).mean().sqrt()
            if noise_rms < 1e-9:  # too silent to be noise: the clip as it is, as audiomentations returns it
                rows.append(row)
                continue
            if self.transform.noise_rms == "relative":
                wanted = row.pow(2).mean().sqrt() / (10 ** (draw["snr_db"] / 20))
            else:
                wanted = torch.tensor(10 ** (draw["rms_db"] / 20), dtype=batch.dtype, device=batch.device)
            noise = noise * (wanted / noise_rms)
            repeats = -(-length // noise.shape[-1])
            rows.append(row + noise.repeat(repeats)[:length])
        return torch.stack(rows)


# -- speed perturbation: windowed-sinc resampling in torch (julius' method), on the CPU for the NumPy path ----


@lru_cache(maxsize=64)
def _sinc_kernel(old: int, new: int, zeros: int = 24, rolloff: float = 0.945) -> torch.Tensor:
    """The (new, 2 * width + old) filter bank resampling by new/old (julius.ResampleFrac's)."""
    sr = min(new, old) * rolloff
    width = int(np.ceil(zeros * old / sr))
    idx = torch.arange(-width, width + old, dtype=torch.float64)
    kernels = []
    for i in range(new):
        t = (-i / new + idx / old) * sr
        t = t.clamp(-zeros, zeros) * np.pi
        window = torch.cos(t / zeros / 2) ** 2
        kernel = torch.where(t == 0, torch.ones_like(t), torch.sin(t) / torch.where(t == 0, torch.ones_like(t), t))
        kernel = kernel * window
        kernels.append(kernel / kernel.sum())
    return torch.stack(kernels).float()


def resample(batch: torch.Tensor, old: int, new: int) -> torch.Tensor:
    """Rows resampled by new/old (integers, reduced by their gcd): (batch, samples) to (batch, ceil(samples * new
    / old))."""
    divisor = int(np.gcd(old, new))
    old, new = old // divisor, new // divisor
    if old == new:
        return batch
    kernel = _sinc_kernel(old, new).to(batch.device, batch.dtype)
    width = (kernel.shape[-1] - old) // 2
    length = batch.shape[-1]
    padded = torch.nn.functional.pad(batch[:, None], (width, width + old), mode="replicate")
    out = torch.nn.functional.conv1d(padded, kernel[:, None], stride=old)  # (batch, new, frames)
    out = out.transpose(1, 2).reshape(batch.shape[0], -1)
    return out[:, : -(-length * new // old)]


def resample_by(batch: torch.Tensor, ratio: float, zeros: int = 24, rolloff: float = 0.945) -> torch.Tensor:
    """Rows resampled by any ``ratio`` (new rate / old rate): each output sample a windowed-sinc interpolation of
    the input around its position, band-limited below the lower rate (the kernel :func:`resample` uses)."""
    length = batch.shape[-1]
    cutoff = min(1.0, ratio) * rolloff  # of the input's Nyquist
    width = int(np.ceil(zeros / cutoff))
    out_length = int(np.ceil(length * ratio))
    positions = torch.arange(out_length, device=batch.device, dtype=torch.float64) / ratio
    taps = torch.arange(-width + 1, width + 1, device=batch.device)
    index = positions.floor().long()[:, None] + taps  # (out, taps)
    t = (positions[:, None] - index.double()) * cutoff
    t = t.clamp(-zeros, zeros) * np.pi
    kernel = torch.where(t == 0, torch.ones_like(t), torch.sin(t) / torch.where(t == 0, torch.ones_like(t), t))
    kernel = (kernel * torch.cos(t / zeros / 2) ** 2).to(batch.dtype)
    kernel = kernel / kernel.sum(-1, keepdim=True)
    gathered = batch[..., index.clamp(0, length - 1)]  # replicate the edges
    return (gathered * kernel).sum(-1)


def speed_ratio(factor: float, resolution: int = 100) -> tuple[int, int]:
    """A speed factor as the resampling (old, new) it takes: the clip read ``factor`` times faster is the clip
    resampled by 1 / factor, to a hundredth (a finer factor would make a filter bank of thousands of phases)."""
    return round(factor * resolution), resolution


class Speed:
    """``speed`` on the device: each row resampled by its drawn factor, then cut or zero-padded back to the batch's
    length (the NumPy path re-applies ``fix_length`` at the end instead: equal where later entries are causal)."""

    def __init__(self, factor: float) -> None:
        self.factor = factor

    def draw(self, rng: np.random.Generator, sample_rate: int, shape: tuple[int, ...]) -> Draw:
        return {"factor": self.factor}

    def apply(self, batch: torch.Tensor, sample_rate: int, draws: list[Draw]) -> torch.Tensor:
        length, rows = batch.shape[-1], []
        for row, draw in zip(batch, draws, strict=True):
            out = resample(row[None], *speed_ratio(draw["factor"]))[0]
            rows.append(torch.nn.functional.pad(out, (0, max(0, length - out.shape[-1])))[:length])
        return torch.stack(rows)


# -- librosa's phase vocoder (time_stretch, pitch_shift with method = "librosa"), batched in torch ---------------


def phase_vocoder_stretch(batch: torch.Tensor, rate: float, n_fft: int = 2048, hop: int = 512) -> torch.Tensor:
    """librosa.effects.time_stretch of each row: its STFT (librosa's defaults), the phase vocoder's magnitudes
    interpolated between frames and phases accumulated (a cumulative sum: the advances do not depend on the
    accumulated phase), then the inverse STFT to round(samples / rate) samples."""
    window = torch.hann_window(n_fft, periodic=True, device=batch.device, dtype=batch.dtype)
    spectrum = torch.stft(batch, n_fft, hop, window=window, center=True, pad_mode="constant", return_complex=True)
    frames = spectrum.shape[-1]
    steps = torch.arange(0, frames, rate, dtype=torch.float64, device=batch.device)
    padded = torch.nn.functional.pad(spectrum, (0, 2))
    left, alpha = steps.floor().long(), (steps % 1.0).to(batch.dtype)
    first, second = padded[..., left], padded[..., left + 1]
    magnitude = (1.0 - alpha) * first.abs() + alpha * second.abs()
    advance = hop * torch.linspace(0, np.pi, n_fft // 2 + 1, device=batch.device, dtype=torch.float64)[:, None]
    change = second.angle().double() - first.angle().double() - advance
    change = change - 2.0 * np.pi * torch.round(change / (2.0 * np.pi))
    increments = (advance + change)[..., :-1]
    phase = spectrum[..., :1].angle().double() + torch.nn.functional.pad(increments.cumsum(-1), (1, 0))
    stretched = torch.polar(magnitude.double(), phase).to(spectrum.dtype)
    length = round(batch.shape[-1] / rate)
    return torch.istft(stretched, n_fft, hop, window=window, center=True, length=length)


def fit_length(rows: torch.Tensor, length: int) -> torch.Tensor:
    """Rows cut to ``length`` samples, or zero-padded at the end to it."""
    return torch.nn.functional.pad(rows, (0, max(0, length - rows.shape[-1])))[..., :length]


class TimeStretchBatch:
    """``time_stretch`` (librosa's phase vocoder) on the device: equal to the NumPy call up to float rounding;
    cut or zero-padded back to the batch's length at once (the NumPy path re-applies ``fix_length`` after the
    later entries)."""

    #: Of the peak: the phase accumulates in float64 here, in float32 in librosa (measured: under 3e-3).
    tolerance = 5e-3

    def __init__(self, rate: float) -> None:
        self.rate = rate

    def draw(self, rng: np.random.Generator, sample_rate: int, shape: tuple[int, ...]) -> Draw:
        rng.integers(2**32)  # the NumPy call seeds audiomentations from one integer, then draws nothing it uses
        return {"rate": self.rate}

    def apply(self, batch: torch.Tensor, sample_rate: int, draws: list[Draw]) -> torch.Tensor:
        return fit_length(phase_vocoder_stretch(batch, self.rate), batch.shape[-1])


class PitchShiftBatch(TimeStretchBatch):
    """``pitch_shift`` (librosa's method) on the device: the phase vocoder's stretch, then windowed-sinc resampling
    by the rate (:func:`resample_by`; librosa resamples with soxr: the same band-limited result, correlated at
    0.99997 on speech), cut to the clip's length."""

    def __init__(self, semitones: float) -> None:
        super().__init__(2.0 ** (-semitones / 12))

    def apply(self, batch: torch.Tensor, sample_rate: int, draws: list[Draw]) -> torch.Tensor:
        stretched = phase_vocoder_stretch(batch, self.rate)
        return fit_length(resample_by(stretched, self.rate), batch.shape[-1])


# -- fix_length and the log-mel spectrogram --------------------------------------------------------------------


class FixLengthBatch:
    """``fix_length`` on a batch of equal-length rows: cropped as it crops, or zero-padded at the end."""

    def __init__(self, seconds: float, crop: str) -> None:
        self.seconds, self.crop = seconds, crop

    def __call__(self, batch: torch.Tensor, sample_rate: int) -> torch.Tensor:
        target = round(self.seconds * sample_rate)
        excess = batch.shape[-1] - target
        if excess > 0:
            start = {"start": 0, "center": excess // 2, "end": excess}[self.crop]
            return batch[..., start : start + target]
        return torch.nn.functional.pad(batch, (0, -excess))


class TorchLogMel(torch.nn.Module):
    """librosa's log-mel (``LogMel``): centred frames zero-padded, a periodic Hann window, power, the mel
    filterbank librosa builds, power to dB with ``ref``, clipped ``top_db`` below each clip's peak."""

    def __init__(
        self,
        sample_rate: int,
        n_fft: int,
        hop_length: int,
        n_mels: int,
        fmin: float,
        fmax: float | None,
        ref: float,
        top_db: float,
    ) -> None:
        super().__init__()
        import librosa

        bank = librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)
        self.bank: torch.Tensor
        self.window: torch.Tensor
        self.register_buffer("bank", torch.from_numpy(bank.astype(np.float32)))
        self.register_buffer("window", torch.hann_window(n_fft, periodic=True))
        self.n_fft, self.hop_length, self.ref, self.top_db = n_fft, hop_length, ref, top_db

    def forward(self, batch: torch.Tensor) -> torch.Tensor:
        spectrum = torch.stft(
            batch.float(),
            self.n_fft,
            self.hop_length,
            window=self.window,
            center=True,
            pad_mode="constant",
            return_complex=True,
        )
        power = spectrum.real.pow(2) + spectrum.imag.pow(2)
        mel = torch.matmul(self.bank, power)  # (batch, n_mels, frames)
        db = 10.0 * torch.log10(mel.clamp(min=1e-10)) - 10.0 * np.log10(max(1e-10, self.ref))
        if self.top_db:
            db = torch.maximum(db, db.amax(dim=(-2, -1), keepdim=True) - self.top_db)
        return db[:, None]
