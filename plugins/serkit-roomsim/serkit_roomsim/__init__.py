"""Room-acoustics augmentation for serkit: simulated shoebox rooms or measured impulse responses."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from serkit import Augmenter, hookimpl, param


@dataclass(frozen=True, kw_only=True)
class RoomSimulator(Augmenter):
    """Reverberate speech in a random shoebox room (image-source method) or with a measured impulse response."""

    name = "room_sim"
    computes_with = ("pyroomacoustics", "scipy")
    room_min: list[float] = param([3.0, 3.0, 2.4], "smallest room (length, width, height) in metres", gt=0)
    room_max: list[float] = param([10.0, 8.0, 4.0], "largest room (length, width, height) in metres", gt=0)
    rt60_min: float = param(0.2, "shortest reverberation time in seconds", gt=0)
    rt60_max: float = param(0.8, "longest reverberation time in seconds", gt=0, le=3)
    margin: float = param(0.5, "least distance of source and microphone from any wall, in metres", ge=0.1)
    max_order: int = param(15, "image-source reflection order; a noise tail at the RT60 models the rest", ge=0, le=60)
    ir_folder: str = param("", "folder of measured impulse responses (.wav) to draw from instead of simulating")
    keep_length: bool = param(True, "cut the reverberant tail so the output is as long as the input")
    bank: int = param(
        0,
        "simulate this many rooms once (seeded by the parameters, kept for the process) and draw one per use, as the "
        "training device's path does; 0: a new room every use (no device path)",
        ge=0,
        le=4096,
        since="0.3",
    )

    def validate(self) -> None:
        if len(self.room_min) != 3 or len(self.room_max) != 3:
            raise ValueError("room_min and room_max need three sizes: length, width, height")
        if any(lo > hi for lo, hi in zip(self.room_min, self.room_max, strict=True)):
            raise ValueError("room_min must not exceed room_max in any dimension")
        if min(self.room_min) <= 2 * self.margin:
            raise ValueError(f"every room dimension must exceed twice the margin ({2 * self.margin:g} m)")
        if self.rt60_min > self.rt60_max:
            raise ValueError("rt60_min must not exceed rt60_max")
        if self.ir_folder and not self._impulse_responses():
            raise ValueError(f"ir_folder '{self.ir_folder}' holds no .wav files")

    def _impulse_responses(self) -> list[Path]:
        folder = Path(self.ir_folder).expanduser()
        return sorted(folder.rglob("*.wav")) if folder.is_dir() else []

    def __call__(self, wave: np.ndarray, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
        if self.bank and not self.ir_folder:
            rir = rooms(self, sample_rate)[int(rng.integers(self.bank))]
        else:
            rir = self._measured(sample_rate, rng) if self.ir_folder else self._simulated(sample_rate, rng)
        from scipy.signal import fftconvolve  # imported when used: listing plugins stays fast

        out = fftconvolve(wave, rir)
        if self.keep_length:
            out = out[: wave.size]
        level_in, level_out = np.sqrt(np.mean(wave**2)), np.sqrt(np.mean(out**2))
        if level_out > 0:
            out = out * (level_in / level_out)
        return out.astype(np.float32)

    def _simulated(self, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
        import pyroomacoustics as pra

        size = rng.uniform(self.room_min, self.room_max)
        rt60 = float(rng.uniform(self.rt60_min, self.rt60_max))
        try:
            absorption, order = pra.inverse_sabine(rt60, size)
        except ValueError:  # the room is too large for so short an RT60: make the walls fully absorbent
            absorption, order = 1.0, 0
        room = pra.ShoeBox(
            size, fs=sample_rate, materials=pra.Material(min(absorption, 1.0)), max_order=min(order, self.max_order)
        )
        room.add_source(rng.uniform(self.margin, size - self.margin))
        room.add_microphone(rng.uniform(self.margin, size - self.margin))
        room.compute_rir()
        early = np.asarray(room.rir[0][0], dtype=np.float64)
        return np.concatenate([early, self._late_tail(early, rt60, sample_rate, rng)])

    @staticmethod
    def _late_tail(early: np.ndarray, rt60: float, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
        """Exponentially decaying noise (60 dB per RT60) continuing the early response's last level."""
        ending = early[-max(1, sample_rate // 100) :]
        level = float(np.sqrt(np.mean(ending**2)))
        t = np.arange(int(rt60 * sample_rate)) / sample_rate
        return level * rng.standard_normal(t.size) * np.exp(-6.908 * t / rt60)

    def _measured(self, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
        from serkit.data import audio

        files = self._impulse_responses()
        rir, rate = audio.load(str(files[int(rng.integers(len(files)))]))
        rir = audio.resample(rir, rate, sample_rate)
        peak = float(np.max(np.abs(rir))) or 1.0
        return rir / peak

    def device(self) -> RoomBank | None:
        return RoomBank(self) if self.bank and not self.ir_folder else None


_BANKS: dict[str, list[np.ndarray]] = {}


def rooms(component: RoomSimulator, sample_rate: int) -> list[np.ndarray]:
    """The component's bank of simulated impulse responses at a rate (kept for the process), from a generator
    seeded by its parameters and the rate."""
    import hashlib

    key = repr((component.to_params(), sample_rate))
    if key not in _BANKS:
        rng = np.random.default_rng(int(hashlib.sha256(key.encode()).hexdigest()[:16], 16))
        _BANKS[key] = [component._simulated(sample_rate, rng) for _ in range(component.bank)]
    return _BANKS[key]


class RoomBank:
    """``room_sim`` with a bank, on the training device: the bank moved there once, the drawn room convolved by
    FFT, the level matched to the input's, the tail cut (equal to the NumPy call up to float32 rounding)."""

    def __init__(self, component: RoomSimulator) -> None:
        self.component = component
        self.on_device: dict[tuple[int, str], list] = {}

    def draw(self, rng: np.random.Generator, sample_rate: int, shape: tuple[int, ...]) -> dict:
        return {"room": int(rng.integers(self.component.bank))}

    def apply(self, batch, sample_rate: int, draws: list[dict]):
        import torch

        from serkit.builtin.device import fft_convolve

        key = (sample_rate, str(batch.device))
        if key not in self.on_device:
            self.on_device[key] = [
                torch.from_numpy(r.astype(np.float32)).to(batch.device) for r in rooms(self.component, sample_rate)
            ]
        rows = []
        for row, draw in zip(batch, draws, strict=True):
            out = fft_convolve(row[None], self.on_device[key][draw["room"]][None].to(batch.dtype))[0]
            if self.component.keep_length:
                out = out[: row.shape[-1]]
            level_in, level_out = row.pow(2).mean().sqrt(), out.pow(2).mean().sqrt()
            rows.append(out * (level_in / level_out) if level_out > 0 else out)
        return torch.stack(rows)


@hookimpl
def register_augmenters(register):
    register(RoomSimulator)
