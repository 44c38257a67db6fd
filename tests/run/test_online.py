"""Online augmentation on real audio: every epoch's examples drawn anew, a pure function of (seed, file,
entry, epoch), so loader counts, a killed and resumed run and the Ray executor train the same model."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from helpers import EMODB, RAVDESS, ROOT, need, tiny_run_args

from serkit.core.components import FeatureAugmenter
from serkit.core.params import param
from serkit.core.recipe import load_recipe
from serkit.core.registry import get_registry
from serkit.data.cache import ArrayCache, file_digest
from serkit.data.online import OnlineFeatures
from serkit.data.pipeline import online_example, process_file
from serkit.run.stages import run_pipeline

#: The tiny recipe with a policy drawn anew each epoch: noise half the time, a stretch of a drawn rate.
ONLINE = (
    "augmentation.mode=online",
    "augment=[{name = 'gaussian_noise', p = 0.5}, {name = 'time_stretch', rate = [0.8, 1.25], method = 'signalsmith'}]",
    "train.max_epochs=3",
    "train.patience=5",
    "run.workers=1",
    "run.threads=1",
    "augmentation.loaders=1",
)


def serkit(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "serkit.cli", *args]
    environment = {**os.environ, "COLUMNS": "200", **(env or {})}
    return subprocess.run(command, env=environment, capture_output=True, text=True, timeout=400)


def only_run(tmp: Path) -> Path:
    (run,) = (tmp / "runs").iterdir()
    return run


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """An online run with one loader process: its run folder."""
    tmp = tmp_path_factory.mktemp("online")
    done = serkit(*tiny_run_args(need(RAVDESS), tmp, *ONLINE))
    assert done.returncode == 0, done.stdout + done.stderr
    return only_run(tmp)


def test_an_online_run_says_its_mode_and_policy_and_trains_on_originals_drawn_anew(reference):
    metrics = json.loads((reference / "metrics.json").read_text())
    words = (
        "each fit utterance each epoch, drawn anew: gaussian_noise with p = 0.5, then time_stretch "
        "(rate from [0.8, 1.25])"
    )
    made = "by loader processes (augmenter(s) time_stretch have no torch implementation)"  # signalsmith's
    assert metrics["augmentation"] == {"mode": "online", "words": words, "made": made}
    assert metrics["fold"]["augmented"] == 0  # no fixed copy was made
    report = " ".join((reference / "report.md").read_text().split())
    assert "**Augmentation:** " + words.replace("[", "\\[").replace("]", "\\]") + "; examples made by" in report
    assert "augmented anew every epoch, after the split" in report
    log = (reference / "run.log").read_text()
    assert "81 fit items (81 utterances, each drawn anew every epoch)" in log


def test_two_loader_processes_train_the_model_one_does(tmp_path, reference):
    done = serkit(*tiny_run_args(need(RAVDESS), tmp_path, *ONLINE, "augmentation.loaders=2"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert (only_run(tmp_path) / "predictions.csv").read_text() == (reference / "predictions.csv").read_text()


def test_a_run_killed_mid_training_resumes_to_the_same_model(tmp_path, reference):
    killed = serkit(*tiny_run_args(need(RAVDESS), tmp_path, *ONLINE), env={"SERKIT_FAULT": "epoch"})
    assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr
    run = only_run(tmp_path)
    assert list(run.glob("folds/*/checkpoint.pt")) and not (run / "metrics.json").exists()
    resumed = serkit("resume", str(run))
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "resumed training from the checkpoint after epoch 1" in resumed.stdout
    assert (run / "predictions.csv").read_text() == (reference / "predictions.csv").read_text()


def test_the_ray_executor_trains_the_model_the_local_one_does(tmp_path, reference):
    pytest.importorskip("ray", reason="Ray is not installed: pip install 'serkit[ray]'")
    done = serkit(*tiny_run_args(need(RAVDESS), tmp_path, *ONLINE), "--executor", "ray")
    assert done.returncode == 0, done.stdout + done.stderr
    assert (only_run(tmp_path) / "predictions.csv").read_text() == (reference / "predictions.csv").read_text()


@dataclass(frozen=True, kw_only=True)
class BandMask(FeatureAugmenter):
    """Zeroes one band drawn from the rng (a feature-level augmenter, as SpecAugment's masks are)."""

    name = "band_mask"
    width: int = param(4, "bands masked")

    def __call__(self, features, rng):
        out = features.copy()
        first = int(rng.integers(0, features.shape[-2] - self.width))
        out[..., first : first + self.width, :] = 0
        return out


@pytest.fixture(scope="module")
def emodb_pipeline(tmp_path_factory):
    """The tiny recipe's pipeline with a waveform policy and a feature augmenter, four EMO-DB files, their
    digests, their originals' features and the cache holding their preprocessed waveforms."""
    files = sorted(str(p) for p in need(EMODB).glob("*.wav"))[:4]
    recipe = load_recipe(
        ROOT / "recipes" / "tiny.toml",
        [
            "augmentation.mode=online",
            "augment=[{name = 'gaussian_noise', p = 0.5}, {name = 'time_stretch', rate = [0.8, 1.25], "
            "method = 'signalsmith'}]",
        ],
    )
    pipeline = run_pipeline(recipe, get_registry())
    pipeline = type(pipeline)(
        pipeline.preprocess, [*pipeline.augment, BandMask()], pipeline.features, pipeline.seed, pipeline.origins
    )
    cache = ArrayCache(tmp_path_factory.mktemp("cache"))
    hashes = [file_digest(f) for f in files]
    originals = np.stack([process_file(pipeline, f, h, [None], cache)[0] for f, h in zip(files, hashes, strict=True)])
    return pipeline, files, hashes, originals, cache


def test_an_example_is_a_pure_function_of_its_epoch_and_differs_between_epochs(emodb_pipeline):
    pipeline, files, hashes, originals, cache = emodb_pipeline
    for file, digest, original in zip(files, hashes, originals, strict=True):
        first = online_example(pipeline, file, digest, 0, original, cache)
        assert first.shape == original.shape and first.dtype == original.dtype
        assert np.array_equal(first, online_example(pipeline, file, digest, 0, original, cache))
        assert not np.array_equal(first, online_example(pipeline, file, digest, 1, original, cache))
        assert not np.array_equal(first, original)  # the band mask acts every epoch at least
        masked = [(online_example(pipeline, file, digest, e, original, cache) == 0).all(axis=-1).any() for e in (2, 3)]
        assert all(masked)  # a zeroed band in each epoch's example: the feature augmenter drew per epoch


def test_one_and_two_loader_processes_give_the_same_batches(emodb_pipeline):
    pipeline, files, hashes, originals, cache = emodb_pipeline
    batches = [np.array([2, 0]), np.array([3]), np.array([1, 2])]
    made = {}
    for loaders in (1, 2):
        source = OnlineFeatures(originals, files, hashes, pipeline, cache, loaders=loaders, prefetch=1)
        try:
            made[loaders] = [list(source.batches(epoch, batches)) for epoch in (0, 1)]
        finally:
            source.close()
        assert np.array_equal(source[np.array([1, 3])], originals[[1, 3]])  # indexing reads the originals
    for one, two in zip(made[1], made[2], strict=True):
        assert all(np.array_equal(a, b) for a, b in zip(one, two, strict=True))
    expected = online_example(pipeline, files[3], hashes[3], 1, originals[3], cache)
    assert np.array_equal(made[2][1][1][0], expected)


def test_the_shipped_online_recipe_trains_from_the_cli_on_emodb(tmp_path):
    """recipes/emodb-online.toml (the paper's pipeline reduced, an online policy with a group), on every
    seventh EMO-DB file, two epochs of a random split."""
    corpus = tmp_path / "emodb"
    corpus.mkdir()
    for path in sorted(need(EMODB).glob("*.wav"))[::7]:
        (corpus / path.name).symlink_to(path)
    done = serkit(
        "run",
        str(ROOT / "recipes" / "emodb-online.toml"),
        *("--set", f"dataset.root={corpus}", "--set", "protocol={name = 'random'}", "--set", "train.max_epochs=2"),
        *("--set", f"run.output={tmp_path / 'runs'}", "--set", f"run.cache_dir={tmp_path / 'cache'}"),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    metrics = json.loads((only_run(tmp_path) / "metrics.json").read_text())
    assert metrics["augmentation"]["mode"] == "online"
    assert (
        "then one of (time_stretch (rate from [0.8, 1.25]), pitch_shift (semitones from [-2, 2])) with p = 0.5"
        in (metrics["augmentation"]["words"])
    )
    assert metrics["folds"][0]["epochs"] == 2
