"""Whisper's encoder on waveforms: its log-mel front end in torch, and the encoder on a clip's own length."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn
from torch.nn.functional import conv1d, dropout, gelu, pad


def clip_padding(processor: Any) -> dict[str, Any]:
    """Whisper's log-mel frames of the clip itself (to an even count, as its second convolution halves them)."""
    return {"padding": "longest", "pad_to_multiple_of": 2 * int(processor.hop_length)}


def clip_states(encoder: Any, features: torch.Tensor) -> list[torch.Tensor]:
    """A Whisper encoder's hidden states for log-mel ``features`` of any length up to its window: its own
    forward pass, with the positional embeddings cut to the frames there are (transformers insists on the
    full window). The states are those ``output_hidden_states`` gives: the input embedding, each layer's
    output, the last after the final layer norm."""
    frames = min(features.shape[-1], 2 * encoder.embed_positions.num_embeddings)
    x = gelu(encoder.conv2(gelu(encoder.conv1(features[..., :frames])))).permute(0, 2, 1)
    x = x + encoder.embed_positions.weight[: x.shape[1]]
    x = dropout(x, p=encoder.dropout, training=encoder.training)
    states = [x]
    for layer in encoder.layers:
        out = layer(x, None)
        x = out[0] if isinstance(out, tuple) else out
        states.append(x)
    states[-1] = encoder.layer_norm(x)
    return [torch.as_tensor(state) for state in states]


def encoder_frames(hop_length: int, max_frames: int, samples: int) -> int:
    """Encoder frames that cover ``samples`` (two mel hops per frame), at most the padded window's."""
    return min(math.ceil(samples / (2 * hop_length)), max_frames // 2)


class LogMel(nn.Module):
    """Whisper's log-mel spectrogram as its feature extractor computes it (Hann-windowed power spectrum,
    the checkpoint's mel filters, log10, an 8-decade floor below each clip's peak, (x + 4) / 4), for a
    batch of waveforms. The short-time Fourier transform is a convolution with a fixed basis, so the
    whole model exports to ONNX."""

    def __init__(self, processor: Any) -> None:
        super().__init__()
        n_fft, self.hop = int(processor.n_fft), int(processor.hop_length)
        self.samples, self.max_frames = int(processor.n_samples), int(processor.nb_max_frames)
        time = torch.arange(n_fft, dtype=torch.float64)
        bins = torch.arange(n_fft // 2 + 1, dtype=torch.float64)[:, None]
        window = torch.hann_window(n_fft, dtype=torch.float64)
        angle = 2 * math.pi * bins * time / n_fft
        basis = torch.cat([torch.cos(angle) * window, -torch.sin(angle) * window])[:, None]
        self.register_buffer("basis", basis.float(), persistent=False)
        self.register_buffer("filters", torch.as_tensor(processor.mel_filters).T.float(), persistent=False)

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        """(batch, samples) -> (batch, mels, samples // hop)."""
        half = self.basis.shape[-1] // 2
        framed = pad(wave[:, None].float(), (half, half), mode="reflect")
        spectrum = conv1d(framed, self.basis, stride=self.hop)[..., :-1]  # the last frame dropped, as Whisper does
        real, imaginary = spectrum.chunk(2, dim=1)
        mel = self.filters @ (real**2 + imaginary**2)
        log = torch.clamp(mel, min=1e-10).log10()
        log = torch.maximum(log, log.amax(dim=(1, 2), keepdim=True) - 8.0)
        return (log + 4.0) / 4.0


def waveform_states(encoder: Any, logmel: LogMel, window: str, wave: torch.Tensor) -> list[torch.Tensor]:
    """Waveforms -> the hidden states of a Whisper encoder: padded to its 30 s window as it was trained, then
    the frames of the clip kept (``window = "padded"``), or on the clip's own length (``"clip"``)."""
    samples = wave.shape[1]
    if window == "clip":
        wave = pad(wave, (0, (-samples) % (2 * logmel.hop)))
        return clip_states(encoder, logmel(wave))
    full = pad(wave[:, : logmel.samples], (0, max(0, logmel.samples - samples)))
    hidden = encoder(logmel(full), output_hidden_states=True).hidden_states
    keep = encoder_frames(logmel.hop, logmel.max_frames, samples)
    return [state[:, :keep] for state in hidden]
