import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("transformers", reason="install it: pip install ./plugins/serkit-ssl")

import torch
import transformers
from click.testing import CliRunner
from serkit_ssl import SSLEmbedding

from serkit import SerkitError
from serkit.cli import cli
from serkit.core.recipe import load_recipe
from serkit.plugins import get_registry
from serkit.testing import check_component, speech_like

FAMILIES = ("wav2vec2", "hubert", "wavlm", "whisper")
ROOT = Path(__file__).resolve().parents[3]
SHARED = Path(os.environ.get("SERKIT_SHARED", ROOT.parent / "shared")).resolve()


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("pooling", ["mean", "none"])
def test_contract(tiny_models, family, pooling):
    check_component(SSLEmbedding(model=str(tiny_models[family]), pooling=pooling, device="cpu"))


def _direct(folder: Path, wave: np.ndarray) -> tuple:
    """The hidden states of the same checkpoint run by transformers itself."""
    model = transformers.AutoModel.from_pretrained(folder).eval()
    processor = transformers.AutoFeatureExtractor.from_pretrained(folder)
    if model.config.model_type == "whisper":
        model = model.get_encoder()
    with torch.no_grad():
        inputs = processor([wave], sampling_rate=16000, return_tensors="pt")
        return model(**inputs, output_hidden_states=True).hidden_states


@pytest.mark.parametrize("family", FAMILIES)
def test_layers_are_the_models_own_hidden_states(tiny_models, family):
    wave = speech_like(16000, seconds=1.0)
    hidden = _direct(tiny_models[family], wave)
    frames = 50 if family == "whisper" else hidden[0].shape[1]  # whisper: 1 s of its 2 s window
    padded = {"whisper_window": "padded"}  # as the model ran directly: on its whole window
    sequence = SSLEmbedding(model=str(tiny_models[family]), layers=[2], pooling="none", store_as="float32", **padded)
    assert np.allclose(sequence(wave, 16000), hidden[2][0, :frames].numpy(), atol=1e-5)
    stacked = SSLEmbedding(model=str(tiny_models[family]), pooling="none", **padded)(wave, 16000)
    assert stacked.shape == (3, frames, 16)  # hidden states 0..2
    pooled = SSLEmbedding(model=str(tiny_models[family]), layers=[0, 2], pooling="mean_std", **padded)(wave, 16000)
    layers = [h[0, :frames].numpy() for h in (hidden[0], hidden[2])]
    expected = [np.concatenate([h.mean(0), h.std(0)]) for h in layers]  # population sd over frames
    assert np.allclose(pooled, np.concatenate(expected), atol=1e-5)


def test_batches_give_each_clips_own_features(tiny_models):
    extractor = SSLEmbedding(model=str(tiny_models["wavlm"]), pooling="mean", batch_size=3)
    waves = [speech_like(16000, seconds=1.0, seed=s) for s in range(5)]
    batched = extractor.extract_batch(waves, 16000)
    for wave, features in zip(waves, batched, strict=True):
        assert np.allclose(features, extractor(wave, 16000), atol=1e-5)


def test_resampled_to_the_models_rate(tiny_models):
    extractor = SSLEmbedding(model=str(tiny_models["hubert"]), pooling="none", layers=[1])
    assert extractor(speech_like(44100, seconds=1.0), 44100).shape == extractor(speech_like(16000), 16000).shape


def test_cache_identity_is_the_checkpoints_content(tiny_models, tmp_path):
    moved = shutil.copytree(tiny_models["wavlm"], tmp_path / "elsewhere")
    here, there = SSLEmbedding(model=str(tiny_models["wavlm"])), SSLEmbedding(model=str(moved))
    assert here.identity() == there.identity()
    assert SSLEmbedding(model=str(moved), trained_on=["IEMOCAP"]).identity() == here.identity()  # not a feature
    assert here.identity() != SSLEmbedding(model=str(tiny_models["hubert"])).identity()
    config = json.loads((moved / "config.json").read_text())
    config["layer_norm_eps"] = 1e-6
    (moved / "config.json").write_text(json.dumps(config))
    assert SSLEmbedding(model=str(moved)).identity() != here.identity()


def test_out_of_range_layer_is_a_recipe_error_naming_the_range(tiny_models):
    with pytest.raises(SerkitError, match=r"features: layers: \[3\] out of range .* hidden states are 0\.\.2"):
        SSLEmbedding.from_params({"model": str(tiny_models["wavlm"]), "layers": [1, 3]}, "features")


def test_unreachable_hub_id_is_one_line(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    with pytest.raises(SerkitError, match=r"cannot fetch 'someone/no-such-model' .* point features.model at"):
        SSLEmbedding.from_params({"model": "someone/no-such-model"}, "features")


def test_a_hub_id_is_found_in_the_cache_hf_home_names(tiny_models, tmp_path):
    """HF_HOME moves the Hugging Face cache (a shared disk, a cluster's scratch): a hub id resolves to
    the snapshot in that cache, offline, as huggingface_hub lays it out."""
    import shutil
    import subprocess
    import sys

    repo = tmp_path / "hf" / "hub" / "models--someone--tiny-wavlm"
    snapshot = repo / "snapshots" / "0123456789abcdef0123456789abcdef01234567"
    shutil.copytree(tiny_models["wavlm"], snapshot)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(snapshot.name)
    code = "from serkit_ssl.checkpoint import resolve; print(resolve('someone/tiny-wavlm'))"
    env = {**os.environ, "HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert Path(done.stdout.strip()) == snapshot


def test_broken_folders_are_named(tiny_models, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SerkitError, match=f"{empty} has no readable config.json"):
        SSLEmbedding.from_params({"model": str(empty)}, "features")
    broken = shutil.copytree(tiny_models["wavlm"], tmp_path / "broken")
    (broken / "model.safetensors").write_bytes(b"not weights")
    extractor = SSLEmbedding(model=str(broken))
    with pytest.raises(SerkitError, match=f"cannot load the checkpoint in {broken}"):
        extractor(speech_like(16000), 16000)
    foreign = shutil.copytree(tiny_models["wavlm"], tmp_path / "foreign")
    (foreign / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(SerkitError, match="holds a 'bert' model"):
        SSLEmbedding.from_params({"model": str(foreign)}, "features")


def test_a_file_named_as_the_model_is_said_to_be_a_file(tmp_path):
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(b"weights")
    with pytest.raises(SerkitError, match=r"'.*model\.safetensors' is a file, not a checkpoint folder"):
        SSLEmbedding.from_params({"model": str(weights)}, "features")


class _RunsCode:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_checkpoint_never_runs_its_own_code(tiny_models, tmp_path):
    """Files are untrusted (SECURITY.md): neither code shipped beside a checkpoint (auto_map) nor a
    pickled payload in pytorch_model.bin runs when serkit loads it."""
    marker = tmp_path / "ran"
    remote = shutil.copytree(tiny_models["wavlm"], tmp_path / "remote")
    config = json.loads((remote / "config.json").read_text())
    config["auto_map"] = {"AutoModel": "modeling_evil.EvilModel", "AutoFeatureExtractor": "modeling_evil.Evil"}
    (remote / "config.json").write_text(json.dumps(config))
    (remote / "modeling_evil.py").write_text(f"open({str(marker)!r}, 'w').write('x')\n")
    features = SSLEmbedding(model=str(remote), device="cpu")(speech_like(16000), 16000)
    assert np.all(np.isfinite(features)) and not marker.exists()  # the folder's own WavLM, not its code
    pickled = shutil.copytree(tiny_models["wavlm"], tmp_path / "pickled")
    (pickled / "model.safetensors").unlink()
    torch.save({"weights": _RunsCode(str(marker))}, pickled / "pytorch_model.bin")
    with pytest.raises(SerkitError, match=f"cannot load the checkpoint in {pickled}"):
        SSLEmbedding(model=str(pickled), device="cpu")(speech_like(16000), 16000)
    assert not marker.exists()


def test_per_frame_output_over_the_budget_is_refused(tiny_models):
    extractor = SSLEmbedding(model=str(tiny_models["wavlm"]), pooling="none", max_item_mb=0.001)
    with pytest.raises(SerkitError, match=r"3 layer\(s\) is 0\.\d+ MB per clip .* pool \(pooling = \"mean\"\)"):
        extractor(speech_like(16000), 16000)


def test_registered_and_the_recipe_parses(tiny_models):
    assert get_registry().entries["feature_extractors"]["ssl"].provider.distribution == "serkit-ssl"
    recipe = load_recipe(ROOT / "recipes" / "ssl-wavlm.toml", [f"features.model={tiny_models['wavlm']}"])
    assert recipe.features.output_shape() == "sequence" and recipe.model.name == "attentive_pooling"


def test_the_ssl_recipe_end_to_end_with_a_tiny_model(tiny_models, tmp_path):
    ravdess = SHARED / "datasets" / "ravdess-sample"
    if not ravdess.is_dir():
        pytest.skip(f"real corpus not found at {ravdess} (set SERKIT_SHARED to the folder holding datasets/)")
    overrides = [
        f"features.model={tiny_models['wavlm']}",
        f"dataset.root={ravdess}",
        'protocol={name = "random"}',  # two actors: too few for speaker folds
        "train.max_epochs=2",
        'features.trained_on=["RAVDESS", "IEMOCAP"]',
        f"run.output={tmp_path / 'runs'}",
        f"run.cache_dir={tmp_path / 'cache'}",
    ]
    args = ["run", str(ROOT / "recipes" / "ssl-wavlm.toml")]
    for override in overrides:
        args += ["--set", override]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    run = next((tmp_path / "runs").iterdir())
    assert json.loads((run / "model.json").read_text())["input_shape"] == [3, 149, 16]  # 3 layers, 3 s at 20 ms
    warnings = json.loads((run / "metrics.json").read_text())["warnings"]
    assert any("pretrained on ravdess (features.trained_on: RAVDESS, IEMOCAP)" in w for w in warnings)
    clip = sorted(ravdess.rglob("*.wav"))[0]
    predicted = CliRunner().invoke(cli, ["predict", str(run), str(clip), "--json"])
    assert predicted.exit_code == 0, predicted.output


def test_whisper_on_the_clips_own_length(tiny_models):
    """whisper_window = "clip": at the window's own length exactly the padded model's states (the tiny
    model's window is 2 s); shorter clips keep their shapes, finite, and different features in the cache."""
    wave = speech_like(16000, seconds=2.0)
    padded = SSLEmbedding(model=str(tiny_models["whisper"]), pooling="none", whisper_window="padded")
    assert SSLEmbedding(model=str(tiny_models["whisper"])).whisper_window == "clip"  # the default since 0.3
    clip = SSLEmbedding(model=str(tiny_models["whisper"]), pooling="none", whisper_window="clip")
    assert np.array_equal(clip(wave, 16000), padded(wave, 16000))
    short = wave[:12345]
    assert clip(short, 16000).shape == padded(short, 16000).shape == (3, 39, 16)
    assert np.isfinite(clip(short, 16000)).all() and not np.allclose(clip(short, 16000), padded(short, 16000))
    assert clip.identity() != padded.identity()
