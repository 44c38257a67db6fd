"""Fine-tuning a self-supervised speech encoder end to end: the ``ssl_finetune`` model.

The encoder (wav2vec 2.0, HuBERT, WavLM, data2vec-audio, or Whisper's encoder on the log-mel
spectrogram the model computes; a folder or a hub id, loaded as the extractor loads it) reads the
``waveform`` features; a learned softmax-weighted sum of its hidden
layers and attentive statistics pooling (serkit's ``attentive_pooling`` head) classify. serkit's
trainer trains it like any torch model (seeding, bf16 autocast, early stopping, checkpoints);
the model declares its parameter groups: frozen parts left out, the head at its own learning rate,
the transformer layers with layer-wise decay.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from serkit import Model, SerkitError, param
from serkit_ssl.checkpoint import inspect_checkpoint


@dataclass(frozen=True, kw_only=True)
class SSLFinetune(Model):
    """Fine-tune wav2vec 2.0, HuBERT, WavLM or Whisper's encoder on the task: its hidden layers, a learned
    layer sum and attentive statistics pooling."""

    name = "ssl_finetune"
    accepts = ("waveform",)
    model: str = param("", "a checkpoint folder (config.json + weights), or a Hugging Face hub id")
    freeze_feature_encoder: bool = param(True, "keep the convolutional front end fixed (as the field usually does)")
    freeze_layers: int = param(0, "keep the first N transformer layers (and the input embedding) fixed", ge=0)
    head_learning_rate: float = param(
        0.0, "learning rate of the layer weights and the pooling head; 0: train.learning_rate", ge=0
    )
    layer_decay: float = param(
        1.0, "layer-wise learning-rate decay: layer k of N trains at learning_rate x decay^(N - k); 1: none", gt=0, le=1
    )
    gradient_checkpointing: bool = param(
        False, "recompute the encoder's activations in the backward pass (less memory)"
    )
    lora_rank: int = param(
        0,
        "LoRA adapters of this rank (peft) on the transformer's attention projections and feed-forward layers "
        "(WavLM: feed-forward only, its attention never calls its projections): only they and the head train, the "
        "encoder's own weights stay fixed; 0: fine-tune the weights themselves",
        ge=0,
    )
    lora_alpha: float = param(16.0, "LoRA's scaling numerator (the adapters' output is scaled by alpha / rank)", gt=0)
    whisper_window: str = param(
        "padded",
        "Whisper only. padded: each clip padded to the model's 30 s window, as it was trained (a 3 s clip costs ten "
        "times its length); clip: the encoder on the clip's own length, its positional embeddings cut to it",
        choices=("padded", "clip"),
    )
    train_crop_seconds: float = param(
        0.0,
        "in training, each clip a random window of this many seconds from its unpadded part (new each epoch); "
        "evaluation and predict read the whole clip; 0: whole clips",
        ge=0,
    )
    trim_padding: bool = param(
        False,
        "in training, cut each batch to its longest clip (a clip's trailing zeros are its padding): less work on "
        'padded clips, most with train.sampler = "by_length"; evaluation reads whole clips',
    )
    hidden: int = param(256, "units of the head's projection before pooling", ge=1)
    attention: int = param(128, "units of the head's attention scorer", ge=1)
    dropout: float = param(0.1, "dropout after the head's projection", ge=0, lt=1)

    def validate(self) -> None:
        if not self.model:
            raise ValueError("model: name a checkpoint folder or a hub id (e.g. microsoft/wavlm-base-plus)")
        checkpoint = inspect_checkpoint(self.model, "model.model")
        if self.freeze_layers > checkpoint.layers:
            raise ValueError(f"freeze_layers: {self.freeze_layers} > the {checkpoint.layers} layers of {self.model}")

    def identity(self) -> dict[str, Any]:
        """The checkpoint by content, not by where it lies."""
        params = {k: v for k, v in self.to_params().items() if k != "model"}
        return {
            "name": self.name,
            "version": self.version,
            "params": params,
            "checkpoint": self._checkpoint().fingerprint,
        }

    def _checkpoint(self) -> Any:
        return inspect_checkpoint(self.model, "model.model")

    def build(self, input_shape: tuple[int, ...], n_classes: int) -> Any:
        from serkit_ssl.finetune_module import FinetuneModule

        if len(input_shape) != 1:
            raise SerkitError(f"model: ssl_finetune takes waveforms (samples,), got features of shape {input_shape}")
        return FinetuneModule(self, self._checkpoint(), n_classes)
