"""Tiny randomly initialised checkpoints of each model family, saved as a user would have them."""

from __future__ import annotations

from pathlib import Path

import pytest

SMALL = {
    "hidden_size": 16,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 32,
    "conv_dim": (8, 8, 8, 8),
    "conv_stride": (5, 4, 4, 4),  # 320 samples per frame, as the real models
    "conv_kernel": (10, 8, 4, 4),
    "num_conv_pos_embeddings": 8,
    "num_conv_pos_embedding_groups": 2,
}


def _save(folder: Path, model, processor) -> Path:
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> dict[str, Path]:
    transformers = pytest.importorskip("transformers", reason="install it: pip install ./plugins/serkit-ssl")
    import torch

    root = tmp_path_factory.mktemp("checkpoints")
    processor = transformers.Wav2Vec2FeatureExtractor(sampling_rate=16000, do_normalize=True)
    models = {}
    for family, config, cls in [
        ("wav2vec2", transformers.Wav2Vec2Config, transformers.Wav2Vec2Model),
        ("hubert", transformers.HubertConfig, transformers.HubertModel),
        ("wavlm", transformers.WavLMConfig, transformers.WavLMModel),
    ]:
        torch.manual_seed(0)
        models[family] = _save(root / family, cls(config(**SMALL)), processor)
    whisper = transformers.WhisperConfig(
        d_model=16,
        encoder_layers=2,
        decoder_layers=1,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=32,
        decoder_ffn_dim=32,
        num_mel_bins=80,
        max_source_positions=100,  # a 2 s window instead of 30 s
        max_target_positions=16,
        vocab_size=100,
        pad_token_id=1,
        bos_token_id=0,
        eos_token_id=2,
        decoder_start_token_id=0,
    )
    torch.manual_seed(0)
    models["whisper"] = _save(
        root / "whisper",
        transformers.WhisperModel(whisper),
        transformers.WhisperFeatureExtractor(feature_size=80, chunk_length=2),
    )
    return models
