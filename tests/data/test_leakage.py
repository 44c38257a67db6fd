"""The split audit's rules on known answers (on real runs: tests/studies/test_split_audit.py)."""

from __future__ import annotations

import numpy as np

from serkit.core.components import Utterance
from serkit.data.leakage import audit_split, fingerprints, near_pairs
from serkit.data.split import FoldPlan


def _corpus() -> list[Utterance]:
    return [Utterance(f"/c/{s}_{k}.wav", "ab"[k % 2], s, {"text": f"t{k % 3}"}) for s in "wxyz" for k in range(4)]


def _name(i: int) -> str:
    return f"file{i}"


def test_near_pairs_finds_a_scaled_and_shifted_copy_only():
    rng = np.random.default_rng(0)
    rows = rng.standard_normal((40, 64))
    rows[39] = 0.7 * rows[3] + 0.01 * rng.standard_normal(64)
    assert [(i, j) for i, j, _ in near_pairs(rows)] == [(3, 39)]
    assert [p[:2] for p in near_pairs(rows, block=7)] == [(3, 39)]  # blocks change nothing


def test_fingerprints_pool_time_into_twelve_segments_and_bands_into_at_most_32():
    image = np.arange(2 * 1 * 4 * 32, dtype=np.float32).reshape(2, 1, 4, 32)
    assert fingerprints(image, "image").shape == (2, 4 * 12)
    assert fingerprints(np.ones((2, 1, 128, 300), np.float32), "image").shape == (2, 32 * 12)
    assert fingerprints(np.ones((3, 50, 8)), "sequence").shape == (3, 8 * 12)
    assert fingerprints(np.ones((3, 88)), "vector").shape == (3, 88)
    clips = [np.sin(np.arange(n) / 9.0).astype(np.float32) for n in (16000, 24000)]  # two lengths
    assert fingerprints(clips, "waveform", 16000).shape == (2, 32 * 12)


def test_the_near_identical_check_switched_off_is_said():
    corpus = _corpus()
    plan = FoldPlan("w", list(range(4, 14)), [14, 15], [0, 1, 2, 3])
    audit = audit_split(corpus, [plan], _name, speaker_independent=True, digests=[str(i) for i in range(16)])
    assert "near-identical audio was not looked for ([report] split_audit = false)" in audit.notes
    assert not any("near-identical" in c for c in audit.checked)


def test_a_clean_speaker_independent_split_has_no_warning():
    corpus = _corpus()
    plan = FoldPlan("w", list(range(4, 14)), [14, 15], [0, 1, 2, 3])
    audit = audit_split(corpus, [plan], _name, speaker_independent=True, digests=[str(i) for i in range(16)], near=[])
    assert audit.warnings == []
    assert audit.notes == [
        "in 1 of 1 fold(s) the test part's sentences (metadata 'text') also occur in training: the model may use "
        "lexical content (EMO-DB and RAVDESS share their sentences across speakers by design, so every split of "
        "them does)"
    ]


def test_planted_leaks_are_warned_about():
    corpus = _corpus()
    plan = FoldPlan("w", [3, *range(4, 14)], [14, 15], [0, 1, 2])  # speaker w's file 3 trained on
    digests = [str(i) for i in range(16)]
    digests[5] = digests[0]  # a test file byte-identical to a fit file
    digests[15] = digests[6]  # a validation file byte-identical to a fit file
    audit = audit_split(
        corpus, [plan], _name, speaker_independent=True, digests=digests, near=[(1, 9, 0.991)],
        trained_on=["IEMOCAP", "EMO-DB"], corpus="emodb",
    )  # fmt: skip
    text = "\n".join(audit.warnings)
    assert "speaker(s) w in both the training and the test part of 1 of 1 fold(s)" in text
    assert "1 byte-identical pair(s) across parts in 1 of 1 fold(s) (the model is tested on audio it was " in text
    assert "file0 (test) and file5 (fit)" in text
    assert "(early stopping watches audio the model is trained on): file6 (fit) and file15 (validation)" in text
    assert "1 near-identical pair(s) across parts" in text and "file1 (test) and file9 (fit, r = 0.991)" in text
    assert "pretrained on emodb (features.trained_on: IEMOCAP, EMO-DB)" in text
    dependent = audit_split(corpus, [plan], _name, speaker_independent=False, digests=[str(i) for i in range(16)])
    assert dependent.warnings == [] and dependent.notes[0].startswith("speaker-dependent by design: 1 speaker(s)")


def test_bunched_rows_are_compared_block_by_block_without_listing_their_candidates(monkeypatch):
    """Rows around a few voices put thousands of candidate pairs near each row: they are counted (never listed)
    and the rows compared block by block, finding exactly the pairs an all-pairs comparison finds."""
    from serkit.data import leakage

    rng = np.random.default_rng(0)
    base = rng.standard_normal((8, 64)).astype(np.float32)
    x = base[rng.integers(0, 8, 3000)] + 0.1 * rng.standard_normal((3000, 64)).astype(np.float32)
    listed = []
    from scipy.spatial import cKDTree

    class Watched(cKDTree):  # query_pairs would list every candidate pair
        def query_pairs(self, *args, **kwargs):
            listed.append(True)
            return super().query_pairs(*args, **kwargs)

    monkeypatch.setattr("scipy.spatial.cKDTree", Watched)
    found = {(i, j) for i, j, _ in near_pairs(x)}
    unit = leakage._unit_rows(x)
    scores = unit @ unit.T
    expected = {(int(i), int(j)) for i, j in zip(*np.nonzero(scores >= leakage.NEAR), strict=True) if i < j}
    assert found == expected and len(found) > 1000 and not listed


def test_the_audits_coarse_log_mel_is_librosas_without_importing_it():
    import librosa

    from serkit.data.leakage import BANDS, _coarse_log_mel

    rng = np.random.default_rng(0)
    for rate, size in ((16000, 24000), (22050, 44100), (44100, 100)):  # a clip shorter than a frame too
        waves = (0.1 * rng.standard_normal((3, size))).astype(np.float32)
        n_fft = 1 << int(np.ceil(np.log2(0.032 * rate)))
        padded = np.pad(waves, ((0, 0), (0, max(0, n_fft - size))))
        mel = librosa.feature.melspectrogram(y=padded, sr=rate, n_fft=n_fft, hop_length=n_fft // 2, n_mels=BANDS)
        expected = 10 * np.log10(np.maximum(mel, np.maximum(mel.max(axis=(-2, -1), keepdims=True), 1e-10) * 1e-8))
        assert np.allclose(_coarse_log_mel(waves, rate), expected, atol=1e-4)
