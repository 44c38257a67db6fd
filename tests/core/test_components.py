"""Each built-in component's contract on real audio: shape, dtype, finiteness, determinism."""

from __future__ import annotations

import random
import shutil

import numpy as np
import pytest
import torch
from helpers import STEREO

from serkit import SerkitError
from serkit.builtin.augmenters import GaussianNoise, PitchShiftAugmenter, TimeStretchAugmenter
from serkit.builtin.datasets import EMODB_COUNTS, EmoDB, Ravdess
from serkit.builtin.features import LogMel
from serkit.builtin.models import CRNN
from serkit.builtin.preprocessors import FixLength, Resample, TrimSilence, Wiener
from serkit.data import audio


@pytest.fixture
def speech(ravdess_file):
    wave, rate = audio.load(str(ravdess_file))
    return Resample(sample_rate=44100)(wave, rate)


def assert_wave(wave: np.ndarray) -> None:
    assert wave.dtype == np.float32 and wave.ndim == 1 and wave.size > 0
    assert np.all(np.isfinite(wave))


def test_load_mixes_stereo_down_to_mono(ravdess_root):
    for name in STEREO:
        wave, rate = audio.load(str(ravdess_root / name))
        assert wave.ndim == 1 and rate == 48000
        assert_wave(wave)


def test_resample_changes_rate_and_length(ravdess_file):
    wave, rate = audio.load(str(ravdess_file))
    out, out_rate = Resample(sample_rate=44100)(wave, rate)
    assert out_rate == 44100
    assert abs(out.size - round(wave.size * 44100 / rate)) <= 1
    assert_wave(out)


def test_trim_removes_edges_and_leaves_silence_alone(speech):
    wave, rate = speech
    padded = np.concatenate([np.zeros(rate, np.float32), wave, np.zeros(rate, np.float32)])
    trimmed, _ = TrimSilence(top_db=60)(padded, rate)
    assert trimmed.size < padded.size - rate
    assert_wave(trimmed)
    silent = np.zeros(1000, np.float32)
    assert np.array_equal(TrimSilence()(silent, rate)[0], silent)


@pytest.mark.parametrize("signal", [np.zeros(4000), np.full(4000, 0.25), np.r_[np.zeros(2000), np.ones(2000)]])
def test_wiener_is_finite_on_silent_or_constant_input(signal):
    out, _ = Wiener()(signal.astype(np.float32), 16000)
    assert_wave(out)
    assert out.min() >= signal.min() - 1e-3 and out.max() <= signal.max() + 1e-3
    flat = slice(1, 1999)  # away from the edges, where scipy pads with zeros, and from the step
    assert np.allclose(out[flat], signal[flat])


def test_wiener_smooths_real_speech(speech):
    wave, rate = speech
    noisy = wave + np.random.default_rng(0).normal(0, 0.01, wave.size).astype(np.float32)
    out, _ = Wiener()(noisy, rate)
    assert_wave(out)
    assert out.shape == wave.shape
    assert np.mean((out - wave) ** 2) < np.mean((noisy - wave) ** 2)


def test_fix_length_pads_at_the_end_and_crops():
    wave = np.arange(1, 11, dtype=np.float32)
    padded, _ = FixLength(seconds=1.5)(wave, 10)
    assert padded.tolist() == [*range(1, 11), 0, 0, 0, 0, 0]
    assert FixLength(seconds=0.4)(wave, 10)[0].tolist() == [1, 2, 3, 4]
    assert FixLength(seconds=0.4, crop="center")(wave, 10)[0].tolist() == [4, 5, 6, 7]
    assert FixLength(seconds=0.4, crop="end")(wave, 10)[0].tolist() == [7, 8, 9, 10]


def test_log_mel_of_three_seconds_at_44k_is_128_by_259(speech):
    wave, rate = FixLength(seconds=3.0)(*speech)
    features = LogMel()(wave, rate)
    assert features.shape == (1, 128, 259)
    assert features.dtype == np.float32 and np.all(np.isfinite(features))
    silent = LogMel()(np.zeros_like(wave), rate)
    assert np.all(np.isfinite(silent))


@pytest.mark.parametrize(
    "augmenter",
    [
        GaussianNoise(),
        TimeStretchAugmenter(rate=1.1),
        TimeStretchAugmenter(rate=0.8),
        PitchShiftAugmenter(semitones=1.5),
    ],
    ids=lambda a: f"{a.name}-{a.to_params()}",
)
def test_augmenters_are_deterministic_under_a_seed_and_leave_the_input_alone(speech, augmenter):
    wave, rate = speech
    wave = wave[:rate]  # one second keeps the test quick
    original = wave.copy()
    random.seed(1)
    np.random.seed(1)
    before = (random.random(), np.random.rand())
    random.seed(1)
    np.random.seed(1)
    first = augmenter(wave, rate, np.random.default_rng(5))
    assert (random.random(), np.random.rand()) == before  # global random state restored
    second = augmenter(wave, rate, np.random.default_rng(5))
    assert_wave(first)
    assert np.array_equal(first, second)
    assert np.array_equal(wave, original)
    assert not np.array_equal(first[: wave.size], wave[: first.size])


def test_noise_differs_between_seeds(speech):
    wave, rate = speech
    noise = GaussianNoise()
    assert not np.array_equal(noise(wave, rate, np.random.default_rng(1)), noise(wave, rate, np.random.default_rng(2)))


@pytest.mark.parametrize("rate", [1.1, 0.8])
def test_time_stretch_changes_duration_by_the_rate(speech, rate):
    wave, sample_rate = speech
    out = TimeStretchAugmenter(rate=rate)(wave, sample_rate, np.random.default_rng(0))
    assert out.size == pytest.approx(wave.size / rate, rel=0.02)


def test_pitch_shift_keeps_duration(speech):
    wave, rate = speech
    assert PitchShiftAugmenter(semitones=1.5)(wave, rate, np.random.default_rng(0)).size == wave.size


@pytest.mark.parametrize("shape", [(1, 128, 259), (1, 64, 94), (1, 20, 30), (13, 100)])
def test_crnn_fits_any_input_shape(shape):
    model = CRNN().build(shape, 7)
    x = torch.randn(3, *shape)
    logits = model(x)
    assert logits.shape == (3, 7)
    logits.sum().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_crnn_follows_table_1():
    model = CRNN().build((1, 128, 259), 8)
    convs = [m for m in model.features if isinstance(m, torch.nn.Conv2d)]
    pools = [m for m in model.features if isinstance(m, torch.nn.MaxPool2d)]
    assert [c.kernel_size for c in convs] == [(9, 9), (7, 7), (5, 5), (3, 3)]
    assert [c.out_channels for c in convs] == [64, 64, 128, 128]
    assert [p.kernel_size for p in pools] == [(2, 2), (4, 4), (4, 4), (4, 4)]
    assert model.lstm.hidden_size == 128 and model.lstm.bidirectional
    assert model.classifier.out_features == 8


def test_crnn_is_deterministic_under_a_seed():
    torch.manual_seed(3)
    first = CRNN().build((1, 32, 40), 4).state_dict()
    torch.manual_seed(3)
    second = CRNN().build((1, 32, 40), 4).state_dict()
    assert all(torch.equal(first[k], second[k]) for k in first)


def test_ravdess_finds_the_sample_with_speakers_and_gender(ravdess_root):
    scan = Ravdess(root=str(ravdess_root)).scan()
    assert len(scan.utterances) == 120
    assert {u.speaker for u in scan.utterances} == {"01", "02"}
    assert {u.meta["gender"] for u in scan.utterances if u.speaker == "01"} == {"male"}
    assert {u.meta["gender"] for u in scan.utterances if u.speaker == "02"} == {"female"}
    assert sum(u.label == "neutral" for u in scan.utterances) == 8
    assert sum(u.label == "angry" for u in scan.utterances) == 16
    assert scan.labels[0] == "neutral" and len(scan.labels) == 8
    assert "120 speech files from 2 of 24 actors" in scan.notes


def test_ravdess_ignores_song_and_video_and_reports_odd_names(ravdess_file, tmp_path):
    shutil.copy(ravdess_file, tmp_path / ravdess_file.name)
    shutil.copy(ravdess_file, tmp_path / "03-02-05-02-01-01-02.wav")  # song
    shutil.copy(ravdess_file, tmp_path / "01-01-05-02-01-01-02.wav")  # audio-visual
    shutil.copy(ravdess_file, tmp_path / "my-recording.wav")
    scan = Ravdess(root=str(tmp_path)).scan()
    assert [u.path for u in scan.utterances] == [str(tmp_path / ravdess_file.name)]
    assert len(scan.ignored) == 2
    assert any("do not follow the naming convention" in n and "my-recording.wav" in n for n in scan.warnings)
    assert scan.unmatched == [str(tmp_path / "my-recording.wav")]
    assert any("no files for class(es): neutral, calm" in n for n in scan.warnings)


def test_emodb_matches_the_published_counts(emodb_root):
    scan = EmoDB(root=str(emodb_root)).scan()
    assert len(scan.utterances) == 535
    counts = {label: sum(u.label == label for u in scan.utterances) for label in scan.labels}
    assert counts == EMODB_COUNTS
    assert len({u.speaker for u in scan.utterances}) == 10
    first = next(u for u in scan.utterances if u.path.endswith("03a01Fa.wav"))
    assert (first.label, first.speaker, first.meta["text"], first.meta["gender"]) == ("happiness", "03", "a01", "male")
    assert scan.warnings == []


def test_emodb_subset_of_emotions(emodb_root):
    scan = EmoDB(root=str(emodb_root), emotions=["anger", "sadness"]).scan()
    assert scan.labels == ["anger", "sadness"] and len(scan.utterances) == 127 + 62
    with pytest.raises(SerkitError, match="unknown emotion"):
        EmoDB(root=str(emodb_root), emotions=["joy"]).scan()


def test_datasets_report_missing_and_empty_folders(tmp_path):
    with pytest.raises(SerkitError, match=r"dataset\.root: folder '.*nowhere' does not exist"):
        Ravdess(root=str(tmp_path / "nowhere")).scan()
    with pytest.raises(SerkitError, match="no EMO-DB files"):
        EmoDB(root=str(tmp_path)).scan()


def test_unreadable_and_empty_files_are_named(tmp_path):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF not really a wave file")
    with pytest.raises(SerkitError, match=f"{bad}: cannot read audio"):
        audio.load(str(bad))
    with pytest.raises(SerkitError, match=f"{bad}: cannot read audio"):
        audio.probe(str(bad))
    import soundfile

    empty = tmp_path / "empty.wav"
    soundfile.write(empty, np.zeros(0, np.float32), 16000)
    with pytest.raises(SerkitError, match="empty"):
        audio.probe(str(empty))
