"""Fine-tuning tiny wav2vec 2.0, HuBERT, WavLM and Whisper encoders end to end on the RAVDESS sample through
`serkit run` (the waveform features, serkit's trainer, bf16 where the CPU has it): the training loss
falls, frozen parts stay bit-identical and the rest changes, the same seed gives the same weights,
predict reads the run and its ONNX and TorchScript exports agree with it."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("transformers", reason="install it: pip install ./plugins/serkit-ssl")

import torch
from click.testing import CliRunner
from safetensors.torch import load_file

from serkit.cli import cli
from serkit.core.errors import SerkitError
from serkit.core.recipe import load_recipe

ROOT = Path(__file__).resolve().parents[3]
SHARED = Path(os.environ.get("SERKIT_SHARED", ROOT.parent / "shared")).resolve()
RECIPE = ROOT / "recipes" / "ssl-finetune-wavlm.toml"


def _ravdess() -> Path:
    ravdess = SHARED / "datasets" / "ravdess-sample"
    if not ravdess.is_dir():
        pytest.skip(f"real corpus not found at {ravdess} (set SERKIT_SHARED to the folder holding datasets/)")
    return ravdess


def _args(tmp: Path, checkpoint: Path, name: str, *more: str) -> list[str]:
    """``serkit run`` of the recipe on a tiny checkpoint: three emotions, 1 s clips, four epochs."""
    overrides = [
        f"model.model={checkpoint}",
        f"dataset.root={_ravdess()}",
        'dataset.emotions=["angry", "calm", "sad"]',
        'protocol={name = "random", test_size = 0.25}',
        "preprocess[1].seconds=1.0",
        "model.hidden=16",
        "model.attention=8",
        "model.head_learning_rate=1e-2",
        "train.learning_rate=1e-3",
        "train.max_epochs=4",
        "train.patience=10",
        "train.batch_size=8",
        "report.explain=false",
        f"run.name={name}",
        f"run.output={tmp / 'runs'}",
        f"run.cache_dir={tmp / 'cache'}",
        *more,
    ]
    args = ["run", str(RECIPE)]
    for override in overrides:
        args += ["--set", override]
    return args


def _run(tmp: Path, checkpoint: Path, name: str, *more: str) -> Path:
    result = CliRunner().invoke(cli, _args(tmp, checkpoint, name, *more))
    assert result.exit_code == 0, result.output
    (run,) = (tmp / "runs").glob(f"{name}-*")
    return run


def _weights(run: Path) -> dict[str, torch.Tensor]:
    return torch.load(io.BytesIO((run / "model.pt").read_bytes()), map_location="cpu", weights_only=True)


@pytest.mark.parametrize(("family", "precision"), [("wav2vec2", "fp32"), ("hubert", "auto"), ("wavlm", "bf16")])
def test_fine_tuning_lowers_the_loss_and_changes_only_what_is_not_frozen(tiny_models, tmp_path, family, precision):
    run = _run(tmp_path, tiny_models[family], "ft", "model.freeze_layers=1", f"train.precision={precision}")
    history = json.loads((run / "history.json").read_text())[0]
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    trained = _weights(run)
    original = load_file(tiny_models[family] / "model.safetensors")
    frozen = [k for k in original if k.startswith(("feature_extractor.", "feature_projection.", "encoder.layers.0."))]
    free = [k for k in original if k.startswith("encoder.layers.1.") and "weight" in k]
    assert frozen and free
    assert all(torch.equal(trained[f"encoder.{k}"], original[k]) for k in frozen)
    assert all(not torch.equal(trained[f"encoder.{k}"], original[k]) for k in free)
    used = json.loads((run / "metrics.json").read_text())["precision"]
    assert used == precision if precision != "auto" else used in ("bf16", "fp32")  # bf16 forced on any CPU


def test_the_same_seed_gives_the_same_weights_and_predict_and_export_read_the_run(tiny_models, tmp_path):
    first = _run(tmp_path, tiny_models["wavlm"], "one")
    second = _run(tmp_path, tiny_models["wavlm"], "two")
    one, two = _weights(first), _weights(second)
    assert one.keys() == two.keys() and all(torch.equal(one[k], two[k]) for k in one)
    clip = sorted(_ravdess().rglob("03-01-05-*.wav"))[0]
    predicted = CliRunner().invoke(cli, ["predict", str(first), str(clip), "--json"])
    assert predicted.exit_code == 0, predicted.output
    (found,) = json.loads(predicted.stdout)["predictions"]
    assert set(found["probabilities"]) == {"angry", "calm", "sad"} and found["label"] in found["probabilities"]
    _exports_agree(first, clip, tmp_path)
    _encoder_exported(first, one)


def _encoder_exported(run: Path, weights: dict[str, torch.Tensor]) -> None:
    """--format pretrained: the fine-tuned encoder as a checkpoint folder transformers and the ssl extractor read."""
    from serkit_ssl import SSLEmbedding

    result = CliRunner().invoke(cli, ["export", str(run), "--format", "pretrained"])
    assert result.exit_code == 0, result.output
    folder = run / "pretrained"
    saved = load_file(folder / "model.safetensors")
    assert saved.keys() == {k.removeprefix("encoder.") for k in weights if k.startswith("encoder.")}
    assert all(torch.equal(saved[k], weights[f"encoder.{k}"]) for k in saved)
    embedding = SSLEmbedding(model=str(folder), pooling="mean")
    assert embedding(np.zeros(16000, np.float32), 16000).shape == (3 * 16,)  # 3 hidden states x 16 dims
    again = CliRunner().invoke(cli, ["export", str(run), "--format", "pretrained"])
    assert again.exit_code == 1 and "exists and is not empty" in again.output


def _exports_agree(run: Path, clip: Path, tmp: Path) -> None:
    """ONNX and TorchScript exports of the fine-tuned model give the run's probabilities on a 1 s clip."""
    import numpy as np
    import soundfile

    import serkit
    from serkit.data.pipeline import extract, preprocess

    wave, rate = soundfile.read(clip, dtype="float32")
    clip = tmp / "one-second.wav"  # one window: predict's probabilities are the model's on these features
    soundfile.write(clip, wave[rate // 2 : rate // 2 + rate], rate)
    predictor = serkit.load(run)
    features = extract(
        predictor.pipeline, str(clip), *preprocess(predictor.pipeline, str(clip), predictor.recipe.preprocess)
    )
    expected = predictor.predict_file(str(clip)).probabilities
    for fmt in ("onnx", "torchscript"):
        out = tmp / f"model.{fmt}"
        result = CliRunner().invoke(cli, ["export", str(run), "--format", fmt, "--out", str(out)])
        assert result.exit_code == 0, result.output
        if fmt == "onnx":
            onnxruntime = pytest.importorskip("onnxruntime", reason="pip install 'serkit[test]'")
            session = onnxruntime.InferenceSession(str(out))
            got = session.run(None, {"features": features[None].astype(np.float32)})[0][0]
            longer = np.concatenate([features, features[:8000]])[None].astype(np.float32)  # any length: 1.5 s
            with torch.no_grad():
                direct = torch.softmax(predictor.learner.module.eval()(torch.from_numpy(longer)), 1).numpy()
            assert np.allclose(session.run(None, {"features": longer})[0], direct, atol=1e-5)
        else:
            got = torch.jit.load(str(out))(torch.from_numpy(features[None].astype(np.float32)))[0].detach().numpy()
        assert np.allclose(got, list(expected.values()), atol=1e-4), (fmt, got, expected)


def test_whisper_fine_tunes_on_its_own_log_mel_with_crops_and_length_batches(tiny_models, tmp_path):
    """Whisper's encoder on the log-mel spectrogram the model computes (equal to its processor's), on the
    clip's own length, trained on random 0.5 s crops in batches of similar length cut to their longest clip."""
    from serkit_ssl.whisper import LogMel
    from transformers import WhisperFeatureExtractor

    processor = WhisperFeatureExtractor.from_pretrained(tiny_models["whisper"])
    wave = np.random.default_rng(0).normal(0, 0.1, 16000).astype(np.float32)
    expected = processor([wave], sampling_rate=16000, return_tensors="np")["input_features"]  # padded to 2 s
    computed = LogMel(processor)(torch.from_numpy(np.pad(wave, (0, 16000)))[None]).numpy()
    assert computed.shape == expected.shape and np.abs(computed - expected).max() < 1e-5
    more = ["model.whisper_window=clip", "model.freeze_layers=1", "model.train_crop_seconds=0.5"]
    more += ["model.trim_padding=true", "train.sampler=by_length", "train.precision=fp32"]
    run = _run(tmp_path, tiny_models["whisper"], "whisper", *more)
    history = json.loads((run / "history.json").read_text())[0]
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    trained = _weights(run)
    original = load_file(tiny_models["whisper"] / "model.safetensors")
    frozen = [k for k in original if k.startswith(("encoder.conv", "encoder.layers.0.", "encoder.embed_positions"))]
    free = [k for k in original if k.startswith("encoder.layers.1.") and "weight" in k]
    assert frozen and free and not any(k.startswith("decoder.") for k in trained)
    assert all(torch.equal(trained[k], original[k]) for k in frozen)
    assert all(not torch.equal(trained[k], original[k]) for k in free)
    clip = sorted(_ravdess().rglob("03-01-05-*.wav"))[0]
    predicted = CliRunner().invoke(cli, ["predict", str(run), str(clip), "--json"])
    assert predicted.exit_code == 0, predicted.output
    _exports_agree(run, clip, tmp_path)
    result = CliRunner().invoke(cli, ["export", str(run), "--format", "pretrained"])
    assert result.exit_code == 0, result.output
    saved = load_file(run / "pretrained" / "model.safetensors")  # the whole model: the original decoder
    assert all(torch.equal(saved[k], trained[k]) for k in trained if k.startswith("encoder."))
    assert all(torch.equal(saved[k], original[k]) for k in original if k.startswith("decoder."))


def test_a_fine_tuning_killed_in_epoch_two_resumes_to_the_same_predictions(tiny_models, tmp_path):
    """Random crops and dropout draw from the global generators: the checkpoint keeps their state, so the
    resumed training draws what the uninterrupted one drew (both runs in fresh processes, as a user's)."""
    more = ("model.train_crop_seconds=0.5", "model.dropout=0.5", "train.precision=fp32")
    runs = {}
    for name, fault in (("whole", ""), ("cut", "epoch")):
        command = [sys.executable, "-m", "serkit.cli", *_args(tmp_path / name, tiny_models["wav2vec2"], name, *more)]
        done = subprocess.run(command, env={**os.environ, "SERKIT_FAULT": fault}, capture_output=True, timeout=300)
        assert done.returncode == (-signal.SIGKILL if fault else 0), done.stderr
        (runs[name],) = (tmp_path / name / "runs").glob(f"{name}-*")
    resumed = CliRunner().invoke(cli, ["resume", str(runs["cut"])])
    assert resumed.exit_code == 0, resumed.output

    def probabilities(run: Path) -> np.ndarray:
        rows = list(csv.DictReader((run / "predictions.csv").open()))
        return np.array([[float(v) for k, v in row.items() if k.startswith("p_")] for row in rows])

    assert np.allclose(probabilities(runs["cut"]), probabilities(runs["whole"]), atol=1e-5)
    losses = [[row["train_loss"] for row in json.loads((run / "history.json").read_text())[0]] for run in runs.values()]
    assert len(losses[0]) == 4 and np.allclose(losses[0], losses[1], atol=1e-5)


def test_training_crops_stay_inside_each_clip_and_trimming_cuts_the_padding():
    from serkit_ssl.finetune_module import training_view

    lengths = [300, 80, 1000]
    wave = torch.zeros(3, 1000)
    for row, length in enumerate(lengths):
        wave[row, :length] = torch.arange(1, length + 1, dtype=torch.float32)  # sample k holds k + 1
    assert training_view(wave[:2], 0, True, 10).shape == (2, 300)
    torch.manual_seed(0)
    starts = set()
    for _ in range(20):
        crop = training_view(wave, 100, True, 10)
        assert crop.shape == (3, 100)
        long, short, longest = crop
        assert torch.equal(long, torch.arange(long[0], long[0] + 100)) and long[-1] <= 300  # inside the clip
        assert torch.equal(short[:80], wave[1, :80]) and not short[80:].any()  # shorter than the crop: all of it
        starts.add(int(longest[0]))
    assert len(starts) > 10  # a new window each time


def test_recipe_mistakes_are_named(tiny_models):
    with pytest.raises(SerkitError, match=r'train\.sampler: "by_length" groups waveforms'):
        load_recipe(ROOT / "recipes" / "paper.toml", ["train.sampler=by_length"])
    with pytest.raises(SerkitError, match="freeze_layers: 5 > the 2 layers"):
        load_recipe(RECIPE, [f"model.model={tiny_models['wavlm']}", "model.freeze_layers=5"])
    with pytest.raises(SerkitError, match=r'normalise\.scope: "band" statistics of a waveform'):
        load_recipe(RECIPE, [f"model.model={tiny_models['wavlm']}", "normalise.method=zscore"])


def test_parameter_groups_the_trainer_uses(tiny_models):
    from serkit_ssl.finetune import SSLFinetune

    options = SSLFinetune(model=str(tiny_models["wavlm"]), freeze_layers=1, head_learning_rate=1e-2, layer_decay=0.5)
    module = options.build((16000,), 3)
    groups = module.parameter_groups(1e-4)
    rates = [group["lr"] for group in groups]
    assert rates == [1e-2, 1e-4, 1e-4 * 0.5**2]  # head; layer 2 of 2 (layer 1 frozen); the unfrozen rest
    grouped = {id(p) for group in groups for p in group["params"]}
    trainable = {id(p) for p in module.parameters() if p.requires_grad}
    assert grouped == trainable and len(grouped) < len(list(module.parameters()))
    assert not any(p.requires_grad for p in module.encoder.feature_extractor.parameters())


@pytest.mark.parametrize(("family", "adapted"), [("wav2vec2", 6), ("wavlm", 2)])
def test_lora_trains_only_the_adapters_and_the_head_and_exports_merged(tiny_models, tmp_path, family, adapted):
    run = _run(tmp_path, tiny_models[family], "lora", "model.lora_rank=4", "model.freeze_feature_encoder=false")
    history = json.loads((run / "history.json").read_text())[0]
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    trained = _weights(run)
    original = load_file(tiny_models[family] / "model.safetensors")
    base = {k: v for k, v in trained.items() if k.startswith("encoder.") and "lora_" not in k}
    adapters = [k for k in trained if "lora_B" in k]
    assert len(adapters) == 2 * adapted  # two layers: 4 attention projections and 2 feed-forward layers each
    renamed = {k.removeprefix("encoder.").replace(".base_layer", ""): v for k, v in base.items()}
    assert renamed.keys() == original.keys() and all(torch.equal(renamed[k], original[k]) for k in original)
    assert all(trained[k].abs().sum() > 0 for k in adapters)  # B starts at zero: trained, it is not
    result = CliRunner().invoke(cli, ["export", str(run), "--format", "pretrained"])
    assert result.exit_code == 0, result.output
    merged = load_file(run / "pretrained" / "model.safetensors")
    assert merged.keys() == original.keys()
    changed = [k for k in original if not torch.equal(merged[k], original[k])]
    assert len(changed) == 2 * adapted and all(k.endswith(("_proj.weight", "_dense.weight")) for k in changed)


def test_the_model_contract_in_each_precision(tiny_models):
    """serkit's contract suite for torch models (built twice alike, trains in fp32 and bf16, saves and loads)."""
    from serkit_ssl.finetune import SSLFinetune

    from serkit.testing import check_model

    check_model(SSLFinetune(model=str(tiny_models["wavlm"]), hidden=8, attention=4))
    check_model(SSLFinetune(model=str(tiny_models["whisper"]), hidden=8, attention=4))  # padded to its window
