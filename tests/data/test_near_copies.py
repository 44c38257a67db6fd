"""The split audit finds a copy shifted by 10 ms and a re-gained copy whatever the features are (waveforms, images,
sequences, vectors), among real EMO-DB clips that it does not confuse; and finds the same pairs as comparing every
pair does."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import EMODB, RAVDESS, ROOT, emodb_subset, need

from serkit.builtin.features import LogMel
from serkit.data import audio
from serkit.data.leakage import _blockwise, _unit_rows, fingerprints, near_pairs

RATE = 16000


@pytest.fixture(scope="module")
def clips() -> list[np.ndarray]:
    """200 EMO-DB clips at 16 kHz cut or padded to 2 s, then a copy of the first shifted by 10 ms (10 ms of silence
    before it) and a copy of the second at half the gain (indices 200 and 201)."""
    waves = []
    for path in sorted(need(EMODB).glob("*.wav"))[:200]:
        wave, rate = audio.load(str(path))
        wave = audio.resample(wave, rate, RATE) if rate != RATE else wave
        waves.append(np.pad(wave, (0, max(0, 2 * RATE - wave.size)))[: 2 * RATE].astype(np.float32))
    shifted = np.concatenate([np.zeros(RATE // 100, np.float32), waves[0][: -RATE // 100]])
    return [*waves, shifted, 0.5 * waves[1]]


@pytest.mark.parametrize("source", ["image features", "the waveform"])
def test_a_shifted_and_a_regained_copy_are_found_and_distinct_takes_are_not(clips, source):
    """Image features (a log-mel) are compared as they are; any other features (waveforms, sequences, vectors) by a
    coarse log-mel of the waveform (``serkit.run.stages.audit_descriptions``)."""
    if source == "image features":
        extractor = LogMel(n_fft=512, hop_length=256, n_mels=64)
        prints = fingerprints(np.stack([extractor(wave, RATE) for wave in clips]), "image")
    else:
        prints = fingerprints(clips, "waveform", RATE)
    assert prints.dtype == np.float32 and prints.shape == (202, prints.shape[1]) and prints.shape[1] <= 1024
    found = {(i, j) for i, j, _ in near_pairs(prints)}
    assert found == {(0, 200), (1, 201)}  # the copies, and no two of the 200 distinct takes
    every_pair = _blockwise(_unit_rows(prints), 0.98, 64)  # the quadratic comparison finds the same pairs
    assert [p[:2] for p in sorted(near_pairs(prints))] == [p[:2] for p in sorted(every_pair)]


def test_in_a_union_each_corpus_is_its_own_population_and_copies_across_corpora_are_still_found(clips):
    """EMO-DB beside the RAVDESS sample: standardised over both, two distinct takes of one RAVDESS actor reached
    0.98 (each column mostly told the corpora apart); each corpus standardised alone, they do not, while a
    RAVDESS clip copied into EMO-DB shifted by 10 ms and one re-gained within RAVDESS are found."""
    ravdess = []
    for path in sorted(need(RAVDESS).rglob("*.wav")):
        wave, rate = audio.load(str(path))
        ravdess.append((audio.resample(wave, rate, RATE) if rate != RATE else wave).astype(np.float32))
    shifted = np.concatenate([np.zeros(RATE // 100, np.float32), ravdess[0][: -RATE // 100]])
    union = [*clips[:200], *ravdess, shifted, 0.5 * ravdess[5]]
    corpora = ["emodb"] * 200 + ["ravdess"] * len(ravdess) + ["emodb", "ravdess"]
    prints = fingerprints(union, "waveform", RATE)
    planted = {(200, 200 + len(ravdess)), (205, 201 + len(ravdess))}
    assert {(i, j) for i, j, _ in near_pairs(prints, corpora=corpora)} == planted
    pooled = {(i, j) for i, j, _ in near_pairs(prints)}
    assert pooled > planted  # what the union's standardisation took for copies: distinct takes of one corpus
    assert all(corpora[i] == corpora[j] == "ravdess" for i, j in pooled - planted)


def test_every_kind_of_features_is_audited_from_what_catches_copies(tmp_path, cli_runner):
    """A run with vector features (five_spectral, an SVM) on EMO-DB clips with a planted shifted copy: the split
    audit names the pair, from the waveforms' description."""
    import soundfile as sf

    from serkit.cli import cli

    folder = emodb_subset(tmp_path / "emodb", ("03", "08"))
    paths = sorted(folder.glob("*.wav"))
    wave, rate = audio.load(str(paths[0]))
    moved = np.concatenate([np.zeros(rate // 100, np.float32), wave])
    assert paths[0].name[5] == "F"  # happiness, kept below
    sf.write(folder / ("16" + paths[0].name[2:]), moved, rate)  # another "speaker", the same take shifted 10 ms
    corpus = f"dataset={{name = 'emodb', root = '{folder}', emotions = ['anger', 'happiness', 'neutral', 'sadness']}}"
    args = ["run", str(ROOT / "recipes" / "egemaps-svm.toml"), "--set", corpus]
    overrides = ("features={name = 'five_spectral'}", "model={name = 'svm'}", "report.explain=false")
    for override in (*overrides, "protocol={name = 'loso', missing_test_classes = 'warn'}"):
        args += ["--set", override]
    args += ["--set", f"run.output={tmp_path / 'runs'}", "--set", f"run.cache_dir={tmp_path / 'cache'}"]
    result = cli_runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    (run,) = (tmp_path / "runs").iterdir()
    audit = __import__("json").loads((run / "metrics.json").read_text())["split_audit"]
    assert any("near-identical pair(s) across parts" in w and paths[0].name in w for w in audit["warnings"])
