"""Self-supervised speech embeddings as a serkit feature extractor, on Hugging Face ``transformers``.

Any wav2vec 2.0, HuBERT, WavLM or Whisper checkpoint, named by a local folder or a hub id. The
model runs in serkit's main process on batches of equal-length clips (never in the forked
feature workers), on the GPU when there is one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from serkit import FeatureExtractor, SerkitError, hookimpl, param
from serkit_ssl.checkpoint import Checkpoint, inspect_checkpoint, load


@dataclass(frozen=True, kw_only=True)
class SSLEmbedding(FeatureExtractor):
    """Hidden layers of wav2vec 2.0, HuBERT, WavLM or a Whisper encoder, pooled or per frame."""

    name = "ssl"
    computes_with = ("transformers", "torch", "soxr")
    shape = "vector"  # with the default pooling; pooling = "none" gives sequences
    batched = True
    model: str = param("", "a checkpoint folder (config.json + weights), or a Hugging Face hub id")
    layers: list[int] = param([], "hidden states kept: 0 is the input embedding, 1..N the layers; empty: all", ge=0)
    pooling: str = param(
        "mean",
        "mean or mean_std over frames (a vector, layers concatenated), or none: per frame (a sequence; "
        "(layers, frames, dims) when several layers are kept)",
        choices=("mean", "mean_std", "none"),
    )
    store_as: str = param("float16", "dtype of the cached embeddings", choices=("float16", "float32"))
    device: str = param("auto", "where the model runs: auto uses CUDA when present", choices=("auto", "cpu", "cuda"))
    batch_size: int = param(8, "clips per forward pass", ge=1)
    max_item_mb: float = param(4.0, "refuse per-frame features larger than this per clip, in MB as stored", gt=0)
    whisper_window: str = param(
        "clip",
        "Whisper only. clip: the encoder on the clip's own length, its positional embeddings cut to it (the "
        "default since serkit 0.3: as accurate on RAVDESS, 15x faster on 3 s clips); padded: every clip padded to "
        "the model's 30 s window, as it was trained (a 3 s clip costs ten times its length; serkit 0.2's default, "
        "for reproducing its features)",
        choices=("padded", "clip"),
    )
    trained_on: list[str] = param(
        [],
        "corpora the checkpoint was trained or fine-tuned on (e.g. emotion2vec+: EmoBox's); the split audit warns "
        "when a run tests on one of them. Not part of the cache key",
    )

    def validate(self) -> None:
        if not self.model:
            raise ValueError("model: name a checkpoint folder or a hub id (e.g. microsoft/wavlm-base-plus)")
        checkpoint = self.checkpoint()
        wrong = [layer for layer in self.layers if layer > checkpoint.layers]
        if wrong:
            raise ValueError(
                f"layers: {wrong} out of range for {self.model}: its hidden states are 0..{checkpoint.layers}"
            )

    def checkpoint(self) -> Checkpoint:
        return inspect_checkpoint(self.model)

    def output_shape(self) -> str:
        return "sequence" if self.pooling == "none" else "vector"

    def storage_dtype(self) -> str:
        return self.store_as

    def min_seconds(self) -> float:
        checkpoint = self.checkpoint()
        return checkpoint.shortest / checkpoint.sample_rate

    def batch_items(self) -> int:
        return 4 * self.batch_size

    def identity(self) -> dict[str, Any]:
        """The checkpoint by content (config and weights), not by where it lies; the device it runs on."""
        outside = ("model", "batch_size", "max_item_mb", "trained_on")  # where it lies, how it runs, what it heard
        params = {k: v for k, v in self.to_params().items() if k not in outside}
        params["device"] = self._device()
        return {
            "name": self.name,
            "version": self.version,
            "params": params,
            "checkpoint": self.checkpoint().fingerprint,
        }

    def kept_layers(self) -> list[int]:
        return list(self.layers) or list(range(self.checkpoint().layers + 1))

    def __call__(self, wave: np.ndarray, sample_rate: int) -> np.ndarray:
        return self.extract_batch([wave], sample_rate)[0]

    def extract_batch(self, waves: list[np.ndarray], sample_rate: int) -> list[np.ndarray]:
        import soxr
        import torch

        from serkit_ssl.whisper import clip_padding, clip_states, encoder_frames

        checkpoint = self.checkpoint()
        device = self._device()
        encoder, processor = load(str(checkpoint.folder), device)
        rate = checkpoint.sample_rate
        if sample_rate != rate:
            waves = [soxr.resample(w, sample_rate, rate, "HQ").astype(np.float32) for w in waves]
        out: list[np.ndarray] = []
        for start in range(0, len(waves), self.batch_size):
            chunk = waves[start : start + self.batch_size]
            clip = checkpoint.model_type == "whisper" and self.whisper_window == "clip"
            inputs = processor(
                chunk, sampling_rate=rate, return_tensors="pt", **(clip_padding(processor) if clip else {})
            )
            with torch.inference_mode():
                if clip:
                    hidden = clip_states(encoder, inputs["input_features"].to(device))
                else:
                    hidden = encoder(**inputs.to(device), output_hidden_states=True).hidden_states
            stacked = torch.stack([hidden[layer] for layer in self.kept_layers()], dim=1).float()
            if checkpoint.model_type == "whisper":  # drop the frames of the padding to 30 s
                frames = encoder_frames(processor.hop_length, processor.nb_max_frames, len(chunk[0]))
                stacked = stacked[:, :, :frames]
            out += [self._finish(item) for item in stacked.cpu().numpy()]
        return out

    def _finish(self, stacked: np.ndarray) -> np.ndarray:
        """(layers, frames, dims) to the output: pooled vector, or a (stacked) sequence."""
        if self.pooling == "mean":
            return stacked.mean(axis=1).reshape(-1)
        if self.pooling == "mean_std":
            return np.concatenate([stacked.mean(axis=1), stacked.std(axis=1)], axis=1).reshape(-1)
        size = stacked.size * np.dtype(self.store_as).itemsize / 1e6
        if size > self.max_item_mb:
            layers, frames, dims = stacked.shape
            raise SerkitError(
                f"features: per-frame output of {layers} layer(s) is {size:.3g} MB per clip ({layers} x {frames} "
                f"frames x {dims} dims as {self.store_as}), over max_item_mb = {self.max_item_mb:g} (the cache and "
                f'memory would hold that for every clip and copy): pool (pooling = "mean"), keep fewer layers, or '
                "raise max_item_mb"
            )
        return stacked[0] if len(stacked) == 1 else stacked

    def _device(self) -> str:
        if self.device != "auto":
            return self.device
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"


@hookimpl
def register_feature_extractors(register):
    register(SSLEmbedding)


@hookimpl
def register_models(register):
    from serkit_ssl.finetune import SSLFinetune

    register(SSLFinetune)
