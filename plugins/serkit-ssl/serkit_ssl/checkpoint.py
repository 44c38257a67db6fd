"""Finding, fingerprinting and loading a self-supervised speech checkpoint (a folder or a hub id)."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from serkit import SerkitError

#: Model types whose hidden states serkit reads, and what their encoder is.
SUPPORTED = ("wav2vec2", "hubert", "wavlm", "whisper", "data2vec-audio", "wav2vec2-conformer", "unispeech-sat")
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "model.safetensors.index.json")


def resolve(name: str, key: str = "features.model") -> Path:
    """The local folder of a checkpoint: the folder named, or a hub id from the local Hugging Face
    cache (downloaded there on first use when the hub is reachable); errors name ``key`` (the recipe key that
    names the checkpoint)."""
    path = Path(name).expanduser()
    if path.is_dir():
        return path
    if path.exists():
        raise SerkitError(
            f"{key}: '{name}' is a file, not a checkpoint folder: name the folder that holds its "
            "config.json and model.safetensors"
        )
    if path.is_absolute() or name.startswith((".", "~")) or name.count("/") != 1:
        raise SerkitError(f"{key}: '{name}' is not a folder (nor a hub id such as microsoft/wavlm-base-plus)")
    from huggingface_hub import snapshot_download

    patterns = ["*.json", "*.safetensors", "*.bin", "*.txt"]
    try:
        return Path(snapshot_download(name, local_files_only=True, allow_patterns=patterns))
    except Exception:
        pass
    if os.environ.get("HF_HUB_OFFLINE") not in (None, "", "0"):
        raise SerkitError(_not_available(name, "HF_HUB_OFFLINE is set", key))
    try:
        return Path(snapshot_download(name, allow_patterns=patterns, etag_timeout=10))
    except Exception as exc:
        raise SerkitError(
            _not_available(name, f"{type(exc).__name__}: {str(exc).splitlines()[0][:120]}", key)
        ) from None


def _not_available(name: str, why: str, key: str) -> str:
    return (
        f"{key}: cannot fetch '{name}' from the Hugging Face hub ({why}); download it where the hub is "
        f"reachable (huggingface-cli download {name} --local-dir models/{name.split('/')[-1]}) and point "
        f"{key} at that folder"
    )


@dataclass(frozen=True)
class Checkpoint:
    """What serkit needs to know about a checkpoint without running it."""

    folder: Path
    model_type: str
    layers: int  # transformer layers; hidden states are 0 (the input embedding) .. layers
    width: int
    sample_rate: int
    shortest: int  # samples of the shortest input the convolutional front end takes
    fingerprint: str


def inspect_checkpoint(name: str, key: str = "features.model") -> Checkpoint:
    """What serkit needs to know of a checkpoint; errors name ``key``, the recipe key that names it."""
    folder = resolve(name, key)
    stat = [(f.name, f.stat().st_size, f.stat().st_mtime_ns) for f in sorted(folder.iterdir()) if f.is_file()]
    return _inspect(str(folder), tuple(stat), key)


@lru_cache(maxsize=16)
def _inspect(folder: str, stat: tuple[Any, ...], key: str = "features.model") -> Checkpoint:
    path = Path(folder)
    try:
        config = json.loads((path / "config.json").read_text(encoding="utf-8"))
        model_type = str(config["model_type"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SerkitError(f"{key}: {path} has no readable config.json ({type(exc).__name__}: {exc})") from None
    if model_type not in SUPPORTED:
        raise SerkitError(
            f"{key}: {path} holds a '{model_type}' model; serkit reads {', '.join(SUPPORTED)} checkpoints"
        )
    weights = [path / name for name in WEIGHT_FILES if (path / name).is_file()]
    if not weights:
        raise SerkitError(f"{key}: {path} has no weights ({' or '.join(WEIGHT_FILES[:2])})")
    digest = hashlib.sha256(json.dumps(config, sort_keys=True).encode())
    for weight in weights:
        with open(weight, "rb") as handle:
            digest.update(hashlib.file_digest(handle, "sha256").digest())
    preprocessor = _json(path / "preprocessor_config.json")
    if model_type == "whisper":
        layers, width = int(config["encoder_layers"]), int(config["d_model"])
        shortest = int(preprocessor.get("n_fft", 400))  # one analysis window (the log-mel's reflect padding)
    else:
        layers, width = int(config["num_hidden_layers"]), int(config["hidden_size"])
        shortest = _receptive_field(config.get("conv_kernel", []), config.get("conv_stride", []))
    rate = int(preprocessor.get("sampling_rate", 16000))
    return Checkpoint(path, model_type, layers, width, rate, shortest, digest.hexdigest()[:32])


def _json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _receptive_field(kernels: list[int], strides: list[int]) -> int:
    """Samples one output frame of the convolutional feature encoder sees."""
    field, jump = 1, 1
    for kernel, stride in zip(kernels, strides, strict=False):
        field += (kernel - 1) * jump
        jump *= stride
    return field


def _from_pretrained(folder: str, key: str, processor: bool) -> tuple[Any, Any]:
    """The model in ``folder`` (and its input processor, if asked), as a one-line error naming ``key`` if
    transformers cannot load it."""
    from transformers import AutoFeatureExtractor, AutoModel
    from transformers.utils import logging

    logging.set_verbosity_error()
    logging.disable_progress_bar()
    # Files are untrusted (SECURITY.md): never code shipped with a checkpoint; safetensors where the
    # folder has them (a pytorch_model.bin is read by transformers with torch.load(weights_only=True)).
    safetensors = any((Path(folder) / name).is_file() for name in WEIGHT_FILES if "safetensors" in name)
    try:
        found = AutoFeatureExtractor.from_pretrained(folder, trust_remote_code=False) if processor else None
        model = AutoModel.from_pretrained(folder, trust_remote_code=False, use_safetensors=safetensors or None)
    except Exception as exc:
        message = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise SerkitError(f"{key}: cannot load the checkpoint in {folder} ({message})") from None
    return model, found


@lru_cache(maxsize=2)
def load(folder: str, device: str) -> tuple[Any, Any]:
    """The model (its encoder, for Whisper) in eval mode on ``device``, and its input processor."""
    model, processor = _from_pretrained(folder, "features.model", processor=True)
    encoder = model.get_encoder() if hasattr(model, "get_encoder") and model.config.model_type == "whisper" else model
    return encoder.eval().to(device), processor


def load_trainable(folder: str, whisper: bool) -> tuple[Any, Any, bool]:
    """A fresh copy of the encoder to fine-tune (never the cached one the extractor runs), Whisper's processor
    (its log-mel settings; None for the others), and whether each clip is normalised (``do_normalize``)."""
    model, processor = _from_pretrained(folder, "model.model", processor=whisper)
    if whisper:
        encoder = model.get_encoder()
        encoder.layerdrop = 0.0  # read from the config when built
        return encoder, processor, False
    # LayerDrop skips whole layers in training, and transformers then leaves their hidden states out:
    # the learned sum over layers needs every one (the layers' own dropout still applies).
    model.config.layerdrop = 0.0
    return model, None, bool(_json(Path(folder) / "preprocessor_config.json").get("do_normalize", True))
