"""Self-supervised encoders on this CPU: Whisper's encoder on the padded 30 s window against the clip's
own length (whisper_window = "clip"), and fine-tuning throughput of ssl_finetune: WavLM on whole clips
and on random crops of half their length (train_crop_seconds), Whisper's encoder padded and on the clip.

    python benchmarks/bench_ssl.py           # Whisper base's sizes, 3 s clips; fine-tuning at WavLM base's
    python benchmarks/bench_ssl.py --small           # narrower models, for a quick look

The models are randomly initialised with the published sizes (no hub here): speed does not depend on the
weights. Both Whisper modes run in this process, alternating, on the same batch of 3 s clips; the
fine-tuning figure is samples/s of serkit's trainer (one epoch of 24 clips, batch 8, the
convolutional front end frozen) in fp32 and, where the CPU has bf16, in bf16 autocast.
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                flags = Path("/proc/cpuinfo").read_text()
                have = [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16") if f" {f}" in flags]
                return f"{line.split(':', 1)[1].strip()} ({', '.join(have)}; {torch.get_num_threads()} threads)"
    except OSError:
        pass
    return platform.processor()


def whisper_folder(root: Path, small: bool) -> Path:
    import transformers

    size = (
        dict(d_model=128, encoder_layers=2, encoder_attention_heads=2, encoder_ffn_dim=512)
        if small
        else dict(
            d_model=512,
            encoder_layers=6,
            encoder_attention_heads=8,
            encoder_ffn_dim=2048,  # Whisper base
        )
    )
    config = transformers.WhisperConfig(
        **size, decoder_layers=1, decoder_attention_heads=2, decoder_ffn_dim=32, num_mel_bins=80,
        max_source_positions=1500, max_target_positions=16, vocab_size=100,
        pad_token_id=1, bos_token_id=0, eos_token_id=2, decoder_start_token_id=0,
    )  # fmt: skip
    torch.manual_seed(0)
    folder = root / "whisper"
    transformers.WhisperModel(config).save_pretrained(folder)
    transformers.WhisperFeatureExtractor(feature_size=80).save_pretrained(folder)
    return folder


def wavlm_folder(root: Path, small: bool) -> Path:
    import transformers

    size = dict(hidden_size=128, num_hidden_layers=2, num_attention_heads=2, intermediate_size=512) if small else {}
    torch.manual_seed(0)
    folder = root / "wavlm"
    transformers.WavLMModel(transformers.WavLMConfig(**size)).save_pretrained(folder)  # WavLM base's sizes
    transformers.Wav2Vec2FeatureExtractor(sampling_rate=16000, do_normalize=True).save_pretrained(folder)
    return folder


def bench_whisper(folder: Path, clips: list[np.ndarray], rounds: int) -> dict[str, float]:
    from serkit_ssl import SSLEmbedding

    modes = {
        mode: SSLEmbedding(model=str(folder), whisper_window=mode, batch_size=len(clips)) for mode in ("padded", "clip")
    }
    for extractor in modes.values():
        extractor.extract_batch(clips[:1], 16000)  # load and warm up
    seconds = {mode: 0.0 for mode in modes}
    for _ in range(rounds):
        for mode, extractor in modes.items():
            start = time.perf_counter()
            extractor.extract_batch(clips, 16000)
            seconds[mode] += time.perf_counter() - start
    return {mode: len(clips) * rounds / s for mode, s in seconds.items()}


def bench_finetune(folder: Path, clips: np.ndarray, precision: str, **options: object) -> float:
    from serkit_ssl.finetune import SSLFinetune

    from serkit.core.settings import TrainSettings
    from serkit.learn.trainer import Trainer

    torch.manual_seed(0)
    module = SSLFinetune(model=str(folder), **options).build((clips.shape[1],), 4)  # type: ignore[arg-type]
    labels = np.arange(len(clips)) % 4
    settings = TrainSettings(max_epochs=1, batch_size=8, precision=precision, patience=5)
    start = time.perf_counter()
    Trainer(settings, torch.device("cpu"), 0).fit(module, clips, labels, clips[:8], labels[:8])
    return (len(clips) + 8) / (time.perf_counter() - start)  # training and the validation pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="narrower models, for a quick look")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=3.0, help="clip length")
    args = parser.parse_args()
    from serkit.learn.hardware import choose_precision
    from serkit.testing import speech_like

    print(f"CPU: {cpu_name()}; torch {torch.__version__}")
    clips = [speech_like(16000, args.seconds, seed=k) for k in range(8)]
    with tempfile.TemporaryDirectory() as tmp:
        whisper = bench_whisper(whisper_folder(Path(tmp), args.small), clips, args.rounds)
        print(
            f"Whisper encoder{' (small)' if args.small else ' (base sizes)'} on {args.seconds:g} s clips: "
            "padded to 30 s "
            f"{whisper['padded']:.2f} clips/s, clip length {whisper['clip']:.2f} clips/s: "
            f"{whisper['clip'] / whisper['padded']:.1f}x"
        )
        batch = np.stack([speech_like(16000, args.seconds, seed=k) for k in range(24)])
        folder = wavlm_folder(Path(tmp), args.small)
        precisions = ["fp32"] + (["bf16"] if choose_precision("auto", torch.device("cpu")) is not None else [])
        for precision in precisions:
            rate = bench_finetune(folder, batch, precision)
            print(
                f"ssl_finetune{' (small)' if args.small else ' (WavLM base sizes)'}, {precision}: {rate:.2f} samples/s"
            )
        precision = precisions[-1]
        crop = bench_finetune(folder, batch, precision, train_crop_seconds=args.seconds / 2)
        print(f"  the same, {precision}, train_crop_seconds = {args.seconds / 2:g}: {crop:.2f} samples/s")
        whisper_folder_ = whisper_folder(Path(tmp), args.small)
        for window in ("padded", "clip"):
            rate = bench_finetune(whisper_folder_, batch, precision, whisper_window=window)
            print(f"ssl_finetune on Whisper's encoder, {precision}, whisper_window = {window}: {rate:.2f} samples/s")


if __name__ == "__main__":
    main()
