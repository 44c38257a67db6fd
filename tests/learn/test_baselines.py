"""Feature shapes, the Table 6 features, classical and MLP models, speaker normalisation, class weights."""

from __future__ import annotations

import csv
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import librosa
import numpy as np
import pytest
import torch
from click.testing import CliRunner
from helpers import RAVDESS, hostile_skops, need, tiny_run_args

from serkit.builtin.classical import SVM, LogisticRegression, RandomForest
from serkit.builtin.models import CRNN, MLP
from serkit.builtin.spectral import Chroma, FiveSpectral, LinearSpectrogram, SpectralContrast, Tonnetz
from serkit.cli import cli
from serkit.core.components import FeatureExtractor
from serkit.core.errors import SerkitError
from serkit.core.estimator import EstimatorLearner
from serkit.core.learner import class_weights
from serkit.core.settings import TrainSettings
from serkit.data.normalise import GroupNormalised, ZScore, fit_groups
from serkit.data.pipeline import Pipeline, stored
from serkit.learn.trainer import Trainer, epoch_order, unpadded_lengths
from serkit.testing import check_component, speech_like

VECTOR_RUN = ("augment=[]", 'features={name = "five_spectral", n_mels = 64}')


@pytest.mark.parametrize(
    "component",
    [
        SVM(),
        SVM(kernel="linear", C=0.5),
        LogisticRegression(),
        RandomForest(n_estimators=20),
        MLP(),
        LinearSpectrogram(),
        Chroma(),
        SpectralContrast(),
        Tonnetz(),
        FiveSpectral(),
    ],
    ids=lambda c: c.name,
)
def test_new_components_keep_the_contract(component):
    check_component(component)


def test_table6_features_are_librosas():
    wave = speech_like(16000, seconds=1.5)
    spectrogram = LinearSpectrogram(n_fft=512, hop_length=128)(wave, 16000)
    expected = librosa.power_to_db(np.abs(librosa.stft(wave, n_fft=512, hop_length=128)) ** 2, top_db=80.0)
    assert spectrogram.shape == (1, 257, expected.shape[1]) and np.allclose(spectrogram[0], expected, atol=1e-3)
    vector = FiveSpectral()(wave, 16000)
    assert vector.shape == (40 + 12 + 128 + 7 + 6,)
    mfcc = librosa.feature.mfcc(y=wave, sr=16000, n_mfcc=40).mean(axis=1)  # Issa et al.'s own call
    mel = librosa.feature.melspectrogram(y=wave, sr=16000).mean(axis=1)
    assert np.allclose(vector[:40], mfcc, rtol=1e-4, atol=1e-3)
    assert np.allclose(vector[52:180], mel, rtol=1e-4, atol=1e-6)


def test_a_model_that_cannot_take_the_features_stops_before_any_feature(cli_runner, tmp_path):
    args = tiny_run_args(need(RAVDESS), tmp_path, 'features={name = "five_spectral"}')
    result = cli_runner.invoke(cli, args)
    assert result.exit_code == 1
    assert "model: 'crnn' takes images, but features 'five_spectral' gives vectors (dims,)" in result.output
    assert not (tmp_path / "cache").exists() and not (tmp_path / "runs").exists()


def test_a_feature_augmenter_for_images_is_refused_on_vectors():
    from serkit.core.components import FeatureAugmenter
    from serkit.core.recipe import check_shapes

    @dataclass(frozen=True, kw_only=True)
    class Mask(FeatureAugmenter):
        name = "mask"

    with pytest.raises(SerkitError, match=r"augment\[0\]: 'mask' transforms images, but features 'five_spectral'"):
        check_shapes(FiveSpectral(), MLP(), [Mask()])
    check_shapes(LinearSpectrogram(), CRNN(), [Mask()])


@dataclass(frozen=True, kw_only=True)
class _Loud(FeatureExtractor):
    """Values beyond float16 stored as float16."""

    name = "loud"
    shape = "vector"

    def __call__(self, wave, sample_rate):
        return np.full(4, 1e6, np.float32)


def test_values_that_overflow_the_storage_dtype_are_an_error_naming_the_extractor():
    pipeline = Pipeline([], [], _Loud(), 0)
    with pytest.raises(SerkitError, match=r"'loud'.*beyond float16's range on a\.wav .*storage = \"float32\""):
        stored(pipeline, "a.wav", _Loud()(None, 0))


@pytest.fixture(scope="module")
def svm_run(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("svm")
    result = CliRunner().invoke(cli, tiny_run_args(need(RAVDESS), tmp, *VECTOR_RUN, 'model={name = "svm"}'))
    assert result.exit_code == 0, result.output
    return next((tmp / "runs").iterdir())


def test_svm_runs_on_real_audio_and_predict_reproduces_its_test_predictions(cli_runner, svm_run):
    assert (svm_run / "model.skops").is_file() and not (svm_run / "model.pt").exists()
    metrics = json.loads((svm_run / "metrics.json").read_text())
    assert metrics["metrics"]["uar"] > 0.175  # 8 classes: chance is 0.125 (81 training clips of two actors)
    assert "SVC fitted once on the fit part" in (svm_run / "report.md").read_text()
    with open(svm_run / "predictions.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    files = [str(RAVDESS / row["file"]) for row in rows]
    result = cli_runner.invoke(cli, ["predict", str(svm_run), *files, "--json"])
    assert result.exit_code == 0, result.output
    predicted = json.loads(result.stdout)["predictions"]
    clips = [(row, p) for row, p in zip(rows, predicted, strict=True) if not p["windows"]]  # as long as training clips
    assert len(clips) >= 5
    for row, prediction in clips:
        assert prediction["label"] == row["predicted"]
        for label, p in prediction["probabilities"].items():
            assert p == pytest.approx(float(row[f"p_{label}"]), abs=1e-5)


def test_export_of_a_scikit_learn_model_says_it_does_not_apply(cli_runner, svm_run, tmp_path):
    result = cli_runner.invoke(cli, ["export", str(svm_run), "--format", "onnx", "--out", str(tmp_path / "m.onnx")])
    assert result.exit_code == 1 and "model 'svm' is not a torch module" in result.output


def test_predict_refuses_a_model_file_that_would_run_code(cli_runner, svm_run, tmp_path):
    """A shared run folder whose model.skops was replaced: predict names the file and the type, runs nothing."""
    run = tmp_path / "shared-run"
    shutil.copytree(svm_run, run)
    marker = tmp_path / "ran"
    (run / "model.skops").write_bytes(hostile_skops("builtins", "exec", [f"open({str(marker)!r}, 'w').write('x')"]))
    result = cli_runner.invoke(cli, ["predict", str(run), str(RAVDESS / "Actor_01")])
    assert result.exit_code == 1 and not marker.exists()
    (line,) = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert str(run / "model.skops") in line and "refusing to load builtins.exec" in line


class _Foreign:
    pass


def test_a_saved_estimator_with_foreign_types_is_refused():
    import skops.io

    learner = EstimatorLearner(SVM(), 3, 0)
    with pytest.raises(ValueError, match=r"refusing to load .*_Foreign"):
        learner.loads(skops.io.dumps({"model": _Foreign()}))


def test_mlp_with_class_weights_balanced_sampling_and_speaker_normalisation(cli_runner, tmp_path):
    overrides = (
        *VECTOR_RUN,
        'model={name = "mlp"}',
        "train.class_weights=balanced",
        "train.sampler=balanced",
        "train.max_epochs=2",
        'normalise={method = "zscore", scope = "speaker"}',
    )
    result = cli_runner.invoke(cli, tiny_run_args(need(RAVDESS), tmp_path, *overrides))
    assert result.exit_code == 0, result.output
    run = next((tmp_path / "runs").iterdir())
    report = (run / "report.md").read_text()
    assert "balanced class weights, balanced sampling" in report and "zscore per speaker" in report
    fold = json.loads(next(run.glob("folds/*/result.json")).read_text())
    parts = fold["normaliser"]["speakers"]
    assert set(parts) == {"fit", "validation", "test"} and set(parts["test"]) == {"01", "02"}
    one = cli_runner.invoke(cli, ["predict", str(run), str(RAVDESS / "Actor_01" / "03-01-01-01-01-01-01.wav")])
    assert one.exit_code == 1 and "give at least two recordings of the speaker" in one.output


def test_group_normalisation_uses_each_groups_own_statistics():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, 5)).astype(np.float32)
    groups = ["a"] * 20 + ["b"] * 20
    x[20:] = 10 + 3 * x[20:]  # speaker b: another level and spread
    use = [True] * 40
    normalised = GroupNormalised(x, groups, fit_groups(x, groups, use, "vector"))
    rows = normalised[np.arange(40)]
    for part in (rows[:20], rows[20:]):
        assert np.allclose(part.mean(0), 0, atol=1e-5) and np.allclose(part.std(0), 1, atol=1e-3)
    assert np.array_equal(normalised[np.array([25, 3])], rows[[25, 3]])


def test_per_band_statistics_follow_the_feature_shape():
    sequence = np.random.default_rng(1).standard_normal((6, 30, 4)).astype(np.float32) + np.arange(4)
    z = ZScore.fit(sequence, "band", "sequence")
    assert z.mean.shape == (1, 4) and np.allclose(z.mean[0], np.arange(4), atol=0.3)
    assert ZScore.fit(sequence[:, 0, :], "band", "vector").mean.shape == (4,)
    assert ZScore.fit(sequence, "global", "sequence").mean.size == 1


def test_class_weights_and_balanced_sampling():
    y = np.array([0] * 90 + [1] * 10)
    assert np.allclose(class_weights(y, 3), [100 / 180, 100 / 20, 0.0])
    trainer = Trainer(TrainSettings(sampler="balanced"), torch.device("cpu"), 0)
    order = epoch_order(trainer.settings, y, 2, y[:, None])(torch.Generator().manual_seed(0)).numpy()
    share = (y[order] == 1).mean()
    assert len(order) == 100 and 0.35 < share < 0.65  # 10 % of the data, half of the draws
    plain = epoch_order(TrainSettings(), y, 2, y[:, None])(torch.Generator().manual_seed(0))
    assert sorted(plain.tolist()) == list(range(100))


def test_batches_by_length_group_clips_of_similar_unpadded_length():
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 400, size=100)
    waves = np.zeros((100, 400), np.float32)
    for row, length in enumerate(lengths):
        waves[row, :length] = rng.uniform(0.1, 1.0, length)  # no exact zero inside a clip
    waves[3, :] = 0.0  # an all-silent row has length 0
    lengths[3] = 0
    assert np.array_equal(unpadded_lengths(waves, chunk=7), lengths)
    settings = TrainSettings(sampler="by_length", batch_size=10)
    draw = epoch_order(settings, np.zeros(100, np.int64), 1, waves)
    generator = torch.Generator().manual_seed(0)
    first, second = draw(generator).numpy(), draw(generator).numpy()
    assert sorted(first.tolist()) == list(range(100)) and not np.array_equal(first, second)
    spread = [np.ptp(lengths[first[k : k + 10]]) for k in range(0, 100, 10)]
    shuffled = [np.ptp(lengths[k : k + 10]) for k in range(0, 100, 10)]
    assert max(spread) < 100 < min(shuffled)  # one pool of 100: sorted, so batches span neighbouring lengths


def test_crnn_rejects_vectors_but_the_mlp_takes_sequences():
    assert CRNN().accepted_shapes() == ("image",) and set(MLP().accepted_shapes()) == {"vector", "sequence"}
    module = MLP(hidden=[8]).build((30, 4), 3)
    assert module(torch.randn(2, 30, 4)).shape == (2, 3)
