"""The torch module of ``ssl_finetune`` (imported when a run builds it: listing plugins loads no torch)."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from serkit.builtin.mlp import AttentivePoolingModule
from serkit_ssl.checkpoint import Checkpoint, load_trainable

if TYPE_CHECKING:
    from serkit_ssl.finetune import SSLFinetune


def _add_lora(encoder: nn.Module, rank: int, alpha: float) -> Any:
    """LoRA adapters (peft) on the attention projections and the feed-forward layers, injected into
    ``encoder`` in place (which is what runs); every other encoder weight is frozen. Returns peft's
    wrapper, kept to merge the adapters on export."""
    from peft import LoraConfig, get_peft_model

    names = {name.rsplit(".", 1)[-1] for name, _ in encoder.named_modules()}
    wanted = ["q_proj", "k_proj", "v_proj", "out_proj", "intermediate_dense", "output_dense"]
    if encoder.config.model_type == "wavlm":  # its attention reads the projections' weights, never calls them
        wanted = wanted[4:]
    targets = [name for name in wanted if name in names]
    config = LoraConfig(r=rank, lora_alpha=alpha, lora_dropout=0.0, target_modules=targets)
    return get_peft_model(encoder, config)


class FinetuneModule(nn.Module):
    """Waveforms (batch, samples) -> logits: each clip normalised to zero mean and unit variance (as the
    encoders' processors do), the encoder's hidden states stacked, a learned layer sum and attentive
    statistics pooling."""

    def __init__(self, options: SSLFinetune, checkpoint: Checkpoint, n_classes: int) -> None:
        super().__init__()
        self.encoder, self.normalise = load_trainable(str(checkpoint.folder))
        self.source = checkpoint.folder
        if options.gradient_checkpointing:
            self.encoder.gradient_checkpointing_enable()
        self.layers = checkpoint.layers
        stacked = (checkpoint.layers + 1, 1, checkpoint.width)  # (hidden states, frames: any, dims)
        self.head = AttentivePoolingModule(stacked, n_classes, options.hidden, options.attention, True, options.dropout)
        self.head_learning_rate = options.head_learning_rate
        self.layer_decay = options.layer_decay
        self._freeze(options.freeze_feature_encoder, options.freeze_layers)
        # peft's wrapper, kept out of the module's registry (its weights are the encoder's, in place)
        self.__dict__["lora"] = (
            _add_lora(self.encoder, options.lora_rank, options.lora_alpha) if options.lora_rank else None
        )

    def _freeze(self, feature_encoder: bool, layers: int) -> None:
        if feature_encoder:  # every family's convolutional front end is its feature_extractor
            front = self.encoder.feature_extractor
            if hasattr(front, "_freeze_parameters"):
                front._freeze_parameters()  # also skips its gradient computation
            for parameter in front.parameters():
                parameter.requires_grad = False
        if layers:
            for parameter in self.encoder.feature_projection.parameters():
                parameter.requires_grad = False
            for layer in self.encoder.encoder.layers[:layers]:
                for parameter in layer.parameters():
                    parameter.requires_grad = False

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        if self.normalise:
            mean = wave.mean(dim=1, keepdim=True)
            wave = (wave - mean) / torch.sqrt(wave.var(dim=1, keepdim=True, unbiased=False) + 1e-7)
        hidden = self.encoder(wave, output_hidden_states=True).hidden_states
        return self.head(torch.stack(hidden, dim=1))

    def save_pretrained(self, folder: Path) -> None:
        """The fine-tuned encoder as a checkpoint folder (safetensors, config, the processor's settings): what
        ``serkit export --format pretrained`` writes, loadable by transformers and by the ``ssl`` extractor.
        LoRA adapters are merged into a copy of the weights first."""
        encoder = copy.deepcopy(self.lora).merge_and_unload() if self.lora is not None else self.encoder
        encoder.save_pretrained(folder, safe_serialization=True)
        processor = self.source / "preprocessor_config.json"
        if processor.is_file():
            shutil.copyfile(processor, Path(folder) / processor.name)

    def parameter_groups(self, learning_rate: float) -> list[dict[str, Any]]:
        """The trainable parameters by learning rate: the head's, each transformer layer's (decayed with
        depth from the top), and the rest of the encoder at the lowest layer's rate."""
        head = [p for p in self.head.parameters() if p.requires_grad]
        groups = [{"params": head, "lr": self.head_learning_rate or learning_rate}]
        placed = {id(p) for p in head}
        for k, layer in enumerate(self.encoder.encoder.layers, start=1):
            params = [p for p in layer.parameters() if p.requires_grad]
            placed |= {id(p) for p in params}
            groups.append({"params": params, "lr": learning_rate * self.layer_decay ** (self.layers - k)})
        rest = [p for p in self.encoder.parameters() if p.requires_grad and id(p) not in placed]
        groups.append({"params": rest, "lr": learning_rate * self.layer_decay**self.layers})
        return [group for group in groups if group["params"]]
