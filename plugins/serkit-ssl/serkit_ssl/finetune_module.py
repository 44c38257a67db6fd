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
from serkit_ssl.whisper import LogMel, waveform_states

if TYPE_CHECKING:
    from serkit_ssl.finetune import SSLFinetune

#: LoRA's target modules per family: attention projections, then the feed-forward layers.
LORA_TARGETS = {
    "whisper": ["q_proj", "k_proj", "v_proj", "out_proj", "fc1", "fc2"],
    "wavlm": ["intermediate_dense", "output_dense"],  # its attention reads the projections' weights, never calls them
}
LORA_DEFAULT = ["q_proj", "k_proj", "v_proj", "out_proj", "intermediate_dense", "output_dense"]


def _add_lora(encoder: nn.Module, rank: int, alpha: float) -> Any:
    """LoRA adapters (peft) on the attention projections and the feed-forward layers, injected into
    ``encoder`` in place (which is what runs); every other encoder weight is frozen. Returns peft's
    wrapper, kept to merge the adapters on export."""
    from peft import LoraConfig, get_peft_model

    names = {name.rsplit(".", 1)[-1] for name, _ in encoder.named_modules()}
    wanted = LORA_TARGETS.get(encoder.config.model_type, LORA_DEFAULT)
    config = LoraConfig(r=rank, lora_alpha=alpha, lora_dropout=0.0, target_modules=[n for n in wanted if n in names])
    return get_peft_model(encoder, config)


def training_view(wave: torch.Tensor, crop: int, trim: bool, shortest: int) -> torch.Tensor:
    """A training batch as the model sees it: with ``crop``, each clip a random window of ``crop`` samples
    from its unpadded part (a clip's padding is its trailing run of one value: zeros, or what a z-score made
    of them); with ``trim``, the batch cut to its longest clip. Offsets come from torch's seeded global
    generator."""
    varying = (wave != wave[:, -1:]).int()
    lengths = torch.where(varying.any(1), wave.shape[1] - varying.flip(1).argmax(1), 0)
    if 0 < crop < wave.shape[1]:
        room = (lengths - crop).clamp(min=0)
        offsets = (torch.rand(len(wave), device=wave.device) * (room + 1)).long()
        wave = wave.gather(1, offsets[:, None] + torch.arange(crop, device=wave.device))
        lengths = lengths.clamp(max=crop)
    if trim:
        wave = wave[:, : max(int(lengths.max()), shortest)]
    return wave


class FinetuneModule(nn.Module):
    """Waveforms (batch, samples) -> logits: each clip normalised to zero mean and unit variance where the
    encoder's processor does, the encoder's hidden states stacked, a learned layer sum and attentive
    statistics pooling. Whisper's encoder reads the log-mel spectrogram the module computes itself."""

    def __init__(self, options: SSLFinetune, checkpoint: Checkpoint, n_classes: int) -> None:
        super().__init__()
        self.whisper = checkpoint.model_type == "whisper"
        self.encoder, processor, self.normalise = load_trainable(str(checkpoint.folder), self.whisper)
        self.logmel = LogMel(processor) if self.whisper else None
        self.window = options.whisper_window
        self.source = checkpoint.folder
        if options.gradient_checkpointing:
            self.encoder.gradient_checkpointing_enable()
        self.layers = checkpoint.layers
        self.crop = round(options.train_crop_seconds * checkpoint.sample_rate)
        self.trim, self.shortest = options.trim_padding, checkpoint.shortest
        stacked = (checkpoint.layers + 1, 1, checkpoint.width)  # (hidden states, frames: any, dims)
        self.head = AttentivePoolingModule(stacked, n_classes, options.hidden, options.attention, True, options.dropout)
        self.head_learning_rate = options.head_learning_rate
        self.layer_decay = options.layer_decay
        self._freeze(options.freeze_feature_encoder, options.freeze_layers)
        # peft's wrapper, kept out of the module's registry (its weights are the encoder's, in place)
        self.__dict__["lora"] = (
            _add_lora(self.encoder, options.lora_rank, options.lora_alpha) if options.lora_rank else None
        )

    def _transformer_layers(self) -> nn.ModuleList:
        return self.encoder.layers if self.whisper else self.encoder.encoder.layers

    def _freeze(self, feature_encoder: bool, layers: int) -> None:
        """The convolutional front end (wav2vec 2.0's feature encoder, Whisper's two convolutions) and the
        first ``layers`` transformer layers with what feeds them."""
        front = [self.encoder.conv1, self.encoder.conv2] if self.whisper else [self.encoder.feature_extractor]
        feeding = [] if self.whisper else [self.encoder.feature_projection]  # Whisper's positions are fixed
        fixed = (front if feature_encoder else []) + (
            feeding + list(self._transformer_layers()[:layers]) if layers else []
        )
        if self.whisper:  # sinusoidal, fixed by design (transformers' loading leaves them trainable)
            fixed.append(self.encoder.embed_positions)
        for module in fixed:
            if hasattr(module, "_freeze_parameters"):
                module._freeze_parameters()  # wav2vec 2.0's front end: also skips its gradient computation
            for parameter in module.parameters():
                parameter.requires_grad = False

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        if self.training and (self.crop or self.trim):
            wave = training_view(wave, self.crop, self.trim, self.shortest)
        if self.normalise:
            mean = wave.mean(dim=1, keepdim=True)
            wave = (wave - mean) / torch.sqrt(wave.var(dim=1, keepdim=True, unbiased=False) + 1e-7)
        if self.logmel is not None:
            hidden = waveform_states(self.encoder, self.logmel, self.window, wave)
        else:
            hidden = self.encoder(wave, output_hidden_states=True).hidden_states
        return self.head(torch.stack(hidden, dim=1))

    def save_pretrained(self, folder: Path) -> None:
        """The fine-tuned encoder as a checkpoint folder (safetensors, config, the processor's settings): what
        ``serkit export --format pretrained`` writes, loadable by transformers and by the ``ssl`` extractor.
        LoRA adapters are merged into a copy of the weights first; Whisper's decoder is the original's."""
        encoder = copy.deepcopy(self.lora).merge_and_unload() if self.lora is not None else self.encoder
        if self.whisper:
            from transformers import AutoModel

            whole = AutoModel.from_pretrained(self.source, trust_remote_code=False)
            whole.get_encoder().load_state_dict(encoder.state_dict())
            encoder = whole
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
        for k, layer in enumerate(self._transformer_layers(), start=1):
            params = [p for p in layer.parameters() if p.requires_grad]
            placed |= {id(p) for p in params}
            groups.append({"params": params, "lr": learning_rate * self.layer_decay ** (self.layers - k)})
        rest = [p for p in self.encoder.parameters() if p.requires_grad and id(p) not in placed]
        groups.append({"params": rest, "lr": learning_rate * self.layer_decay**self.layers})
        return [group for group in groups if group["params"]]
