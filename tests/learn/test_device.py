"""Online augmentation on the training device (here the CPU device, as CI has no GPU): the torch log-mel equals
librosa's, a policy's device examples equal the loader path's within the stated tolerances, and a recipe with a
device policy trains from the CLI, says where its examples are made and resumes to the same model."""

from __future__ import annotations

import json
import signal

import numpy as np
import pytest
import soundfile as sf
import torch
from helpers import EMODB, RAVDESS, ROOT, need, tiny_run_args

from serkit.builtin.features import LogMel
from serkit.core.recipe import load_recipe
from serkit.core.registry import get_registry
from serkit.data import audio
from serkit.data.cache import file_digest
from serkit.data.normalise import ZScore
from serkit.data.pipeline import online_example, process_file
from serkit.learn.device_examples import DeviceFeatures, why_not_on_device
from serkit.run.stages import run_pipeline

TINY = ROOT / "recipes" / "tiny.toml"


@pytest.mark.parametrize(
    ("settings", "rate"),
    [({}, 44100), ({"n_fft": 512, "hop_length": 256, "n_mels": 64}, 16000)],
    ids=["paper", "quickstart"],
)
def test_the_torch_log_mel_is_librosas_within_a_thousandth_of_a_db(settings, rate):
    extractor = LogMel(**settings)
    files = sorted(need(EMODB).glob("*.wav"))[:6]
    length = 3 * rate
    waves = []
    for path in files:
        wave, native = audio.load(str(path))
        wave = audio.resample(wave, native, rate) if native != rate else wave
        waves.append(np.pad(wave, (0, max(0, length - wave.size)))[:length].astype(np.float32))
    expected = np.stack([extractor(wave, rate) for wave in waves])
    with torch.no_grad():
        got = extractor.device(rate)(torch.from_numpy(np.stack(waves))).numpy()
    assert got.shape == expected.shape
    assert np.abs(got - expected).max() < 1e-3  # dB, float32, every band and frame of real speech


@pytest.fixture(scope="module")
def bank(tmp_path_factory):
    """A folder of three impulse responses (a direct path and a decaying tail) and one of noise, at 16 kHz."""
    root = tmp_path_factory.mktemp("bank")
    rng = np.random.default_rng(0)
    for folder in ("ir", "noise"):
        (root / folder).mkdir()
    for k in range(3):
        tail = 0.2 * rng.standard_normal(2400) * np.exp(-np.arange(2400) / (300 + 200 * k))
        sf.write(root / "ir" / f"room{k}.wav", np.concatenate([[1.0], tail]).astype(np.float32), 16000)
        sf.write(root / "noise" / f"hum{k}.wav", (0.05 * rng.standard_normal(48000)).astype(np.float32), 16000)
    return root


def policy(bank, deterministic: bool) -> str:
    """A device policy: a filter, impulse responses from the bank, a gain; with noise and SpecAugment unless
    ``deterministic`` (their samples are drawn on the device: the same distribution, not the same values)."""
    noisy = (
        "{name = 'add_gaussian_snr', min_snr_db = 10.0, max_snr_db = 20.0, p = 0.5}, "
        f"{{name = 'add_background_noise', sounds_path = '{bank / 'noise'}', p = 0.5}}, "
        "{name = 'spec_augment', time_masks = 1, freq_masks = 1}, "
    )
    return (
        "augment=[{one_of = [{name = 'band_pass_filter'}, {name = 'low_pass_filter'}]}, "
        f"{{name = 'apply_impulse_response', ir_path = '{bank / 'ir'}', p = 0.5}}, "
        f"{{name = 'gain', min_gain_db = -6.0, max_gain_db = 6.0}}, {noisy if not deterministic else ''}"
        "{name = 'speed', factor = [0.9, 1.1], p = 0.5}]"
    )


def test_device_examples_are_the_loader_paths_given_the_same_draws(bank):
    recipe = load_recipe(TINY, ["dataset.root=.", "augmentation.mode=online", policy(bank, deterministic=True)])
    pipeline = run_pipeline(recipe, get_registry())
    assert why_not_on_device(pipeline) == ""
    files = sorted(str(p) for p in need(EMODB).glob("*.wav"))[:8]
    hashes = [file_digest(f) for f in files]
    cache = None
    originals = np.stack([process_file(pipeline, f, h, [None], cache)[0] for f, h in zip(files, hashes, strict=True)])
    normaliser = ZScore.fit(originals, "band")
    made = DeviceFeatures(originals, files, hashes, pipeline, cache, normaliser)
    for epoch in (0, 3):
        on_device = made.make(epoch, np.arange(8), torch.device("cpu")).numpy()
        loaders = np.stack(
            [online_example(pipeline, f, h, epoch, o, cache) for f, h, o in zip(files, hashes, originals, strict=True)]
        )
        expected = normaliser(loaders).astype(np.float32)
        # float16 storage on both paths: the difference is rounding (a few thousandths of a standard deviation)
        # where the speed perturbation is not applied; after it, the NumPy path fixes the length after the
        # later entries, the device at once, which moves the last frames (stated in serkit.builtin.device)
        frames = on_device.shape[-1] - 4
        assert np.median(np.abs(on_device - expected)[..., :frames]) < 0.01
        assert np.percentile(np.abs(on_device - expected)[..., :frames], 99) < 0.05


def test_noise_on_the_device_has_the_loader_paths_spread(bank):
    recipe = load_recipe(
        TINY,
        [
            "dataset.root=.",
            "augmentation.mode=online",
            "augment=[{name = 'add_gaussian_snr', min_snr_db = 5.0, max_snr_db = 5.0}]",
        ],
    )
    pipeline = run_pipeline(recipe, get_registry())
    files = sorted(str(p) for p in need(EMODB).glob("*.wav"))[:8]
    hashes = [file_digest(f) for f in files]
    originals = np.stack([process_file(pipeline, f, h, [None], None)[0] for f, h in zip(files, hashes, strict=True)])
    identity = ZScore.identity()
    on_device = DeviceFeatures(originals, files, hashes, pipeline, None, identity).make(
        0, np.arange(8), torch.device("cpu")
    )
    loaders = np.stack(
        [online_example(pipeline, f, h, 0, o, None) for f, h, o in zip(files, hashes, originals, strict=True)]
    )
    change_device = on_device.numpy() - originals.astype(np.float32)
    change_loaders = loaders.astype(np.float32) - originals.astype(np.float32)
    assert 0.9 < np.std(change_device) / np.std(change_loaders) < 1.1
    assert not np.allclose(change_device, change_loaders)  # other noise samples


def test_device_is_refused_naming_what_has_no_torch_implementation():
    recipe = load_recipe(
        TINY,
        ["dataset.root=.", "augmentation.mode=online", "augment=[{name = 'time_stretch', method = 'signalsmith'}]"],
    )
    assert "time_stretch have no torch implementation" in why_not_on_device(run_pipeline(recipe, get_registry()))
    recipe = load_recipe(
        TINY,
        [
            "dataset.root=.",
            "augmentation.mode=online",
            "augment=[{name = 'gain'}]",
            "preprocess=[{name = 'resample', sample_rate = 16000}]",
        ],
    )
    assert "no fix_length" in why_not_on_device(run_pipeline(recipe, get_registry()))


def test_a_device_policy_trains_from_the_cli_says_so_and_resumes_to_the_same_model(cli_runner, tmp_path, bank):
    import subprocess
    import sys

    sets = (
        "augmentation.mode=online",
        "augmentation.where=device",
        policy(bank, deterministic=False),
        "train.max_epochs=3",
        "train.patience=5",
        "run.threads=1",
        "report.explain=false",
    )

    def serkit(*args, env=None):
        import os

        return subprocess.run(
            [sys.executable, "-m", "serkit.cli", *args],
            env={**os.environ, "COLUMNS": "200", **(env or {})},
            capture_output=True,
            text=True,
            timeout=400,
        )

    whole = serkit(*tiny_run_args(need(RAVDESS), tmp_path / "whole", *sets))
    assert whole.returncode == 0, whole.stdout + whole.stderr
    (reference,) = (tmp_path / "whole" / "runs").iterdir()
    assert "online examples made on the training device" in (reference / "run.log").read_text() + whole.stdout
    metrics = json.loads((reference / "metrics.json").read_text())
    assert "spec_augment" in metrics["augmentation"]["words"]
    killed = serkit(*tiny_run_args(need(RAVDESS), tmp_path / "killed", *sets), env={"SERKIT_FAULT": "epoch"})
    assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr
    (run,) = (tmp_path / "killed" / "runs").iterdir()
    resumed = serkit("resume", str(run))
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "resumed training from the checkpoint after epoch 1" in resumed.stdout
    assert (run / "predictions.csv").read_text() == (reference / "predictions.csv").read_text()


def test_where_device_is_refused_in_one_line_when_a_component_has_no_torch_implementation(cli_runner, tmp_path):
    from serkit.cli import cli

    args = tiny_run_args(need(RAVDESS), tmp_path, "augmentation.mode=online", "augmentation.where=device")
    result = cli_runner.invoke(cli, args)
    assert result.exit_code == 1
    assert "augmentation.where: 'device': augmenter(s) time_stretch have no torch implementation" in result.output


def test_the_docs_torch_implementation_keeps_the_contract_and_a_wrong_draw_is_caught():
    from helpers import ROOT as root

    from serkit.testing import check_component

    text = (root / "docs" / "plugins.md").read_text(encoding="utf-8")
    block = next(b for b in text.split("```python\n")[1:] if "class Invert" in b).split("```")[0]
    import sys
    import types

    module = types.ModuleType("docs_invert")  # a module, so that the contract kit can pickle its class
    sys.modules[module.__name__] = module
    namespace = module.__dict__
    prelude = "from dataclasses import dataclass\nfrom serkit import Augmenter\n"
    exec(compile(prelude + block, "plugins.md", "exec"), namespace)  # the docs' own example, as written
    invert = namespace["Invert"]()
    check_component(invert)

    class Greedy(namespace["DeviceInvert"]):
        def draw(self, rng, sample_rate, shape):
            rng.random()  # one draw too many: a policy's later draws would differ from the NumPy path's
            return super().draw(rng, sample_rate, shape)

    namespace["Invert"].device = lambda self: Greedy()
    with pytest.raises(AssertionError, match="consumes the generator otherwise"):
        check_component(invert)
