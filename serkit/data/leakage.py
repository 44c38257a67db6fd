"""The split audit: what the parts of a split share that they should not (speakers, byte-identical or
near-identical audio, pretraining data) and what they share by design (sentences), in every run's
split.json and report, and in ``serkit audit``.

Near-identical audio is found from a fixed-size description of each original utterance: image features
(a log-mel, say) pooled to 12 time segments and 32 band groups, less the row's mean (a gain is an offset
in dB); for other features (waveforms, sequences, vectors) the same of a coarse log-mel of the
preprocessed waveform, computed for the purpose. Each dimension is standardised over the corpus (over each
corpus of a union, and over them all for pairs across corpora) and rows are compared by correlation
(:func:`near_pairs`, near-linear in the rows). On real EMO-DB clips a copy at half the gain correlates at 1.0
and one shifted by 10 ms at 0.98 or more, while distinct takes stay below :data:`NEAR` (0.98): the highest
pair among 200 EMO-DB clips correlates at 0.92, among the 120 of the RAVDESS sample at 0.93
(``tests/data/test_near_copies.py``). Added noise is not caught.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

import numpy as np

from serkit.core.components import Utterance
from serkit.data.split import FoldPlan

#: Correlation of pooled features above which two utterances count as near-identical.
NEAR = 0.98
#: Time segments the features of an utterance are pooled into before comparing.
SEGMENTS = 12
#: Utterance metadata that holds what was said (EMO-DB's text, RAVDESS's statement, a manifest's column).
SENTENCE_KEYS = ("text", "statement", "sentence", "transcript")
#: How many examples a line names at most.
EXAMPLES = 3


@dataclass(frozen=True)
class SplitAudit:
    """Warnings (leakage that makes a result mean less) and notes (sharing by design), in words."""

    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: What was checked, for the report.
    checked: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"warnings": self.warnings, "notes": self.notes, "checked": self.checked}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SplitAudit:
        return cls(list(data.get("warnings", [])), list(data.get("notes", [])), list(data.get("checked", [])))


#: Band groups an image's (or a sequence's) dimensions are pooled into, at most.
BANDS = 32
#: Principal axes the rows are projected on to find candidate pairs (fewer: more candidates to check).
AXES = 12
#: Candidate pairs per row beyond which the rows are bunched and compared block by block instead.
CANDIDATES_PER_ROW = 50
#: The most scores one block of the blockwise comparison holds (32 M float32: 128 MiB).
BLOCK_VALUES = 1 << 25


def fingerprints(rows: np.ndarray | Sequence[np.ndarray], shape: str, sample_rate: int = 16000) -> np.ndarray:
    """A fixed-size description of each of a chunk of utterances (items first), in float32: the rows
    :func:`near_pairs` compares. Images (time last) and sequences (time first) are pooled into at most 12 time
    segments and 32 band groups; vectors are as they are; waveforms (a list of clips of any lengths, or an
    array of equal ones) are described by a coarse log-mel (32 bands, 32 ms frames at ``sample_rate``) pooled
    likewise. Images and waveforms lose the row's mean (in dB a gain is an offset)."""
    if shape == "waveform":  # clips of one length described together (librosa on a stack), in the given order
        waves = [np.asarray(w, np.float32) for w in rows]
        out: list[np.ndarray | None] = [None] * len(waves)
        for size in {w.size for w in waves}:
            same = [k for k, w in enumerate(waves) if w.size == size]
            described = fingerprints(_coarse_log_mel(np.stack([waves[k] for k in same]), sample_rate), "image")
            for k, row in zip(same, described, strict=True):
                out[k] = row
        return np.stack(out) if out else np.zeros((0, 0), np.float32)  # type: ignore[arg-type]
    array = np.asarray(rows, dtype=np.float32)
    if shape == "vector" or array.ndim < 3:
        return array.reshape(len(array), -1)
    if shape == "sequence":
        array = np.moveaxis(array, -2, -1)  # (items, [layers,] dims, frames): time last
    array = _pool(array, -1, SEGMENTS)
    if array.ndim >= 3:
        array = _pool(array, -2, BANDS)
    array = array.reshape(len(array), -1)
    if shape == "image":  # levels in dB: a gain is an offset, taken out with the row's mean
        array = array - array.mean(axis=1, keepdims=True)
    return array


def _pool(rows: np.ndarray, axis: int, most: int) -> np.ndarray:
    """Means over at most ``most`` equal runs of an axis."""
    size = rows.shape[axis]
    edges = np.linspace(0, size, min(most, size) + 1).astype(int)
    return np.stack([rows.take(range(a, b), axis=axis).mean(axis=axis) for a, b in pairwise(edges)], axis=axis)


def _coarse_log_mel(waves: np.ndarray, sample_rate: int, chunk: int = 8) -> np.ndarray:
    """(clips, 32 bands, frames) in dB, each floored 80 dB below its peak: enough to see that two clips are the
    same audio. librosa's ``melspectrogram`` (power 2, centred frames padded with zeros, a periodic Hann window,
    Slaney's mel scale and area normalisation) in NumPy, tested equal to it: the audit then imports neither
    librosa nor numba (1.2 s and 130 MB where nothing else needs them), a chunk of clips at a time."""
    n_fft = 1 << int(np.ceil(np.log2(0.032 * sample_rate)))
    hop = n_fft // 2
    waves = np.pad(np.asarray(waves, np.float32), ((0, 0), (0, max(0, n_fft - waves.shape[-1]))))
    window = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)).astype(np.float32)
    bank = _mel_bank(sample_rate, n_fft, BANDS).astype(np.float32)
    out = []
    for first in range(0, len(waves), chunk):
        padded = np.pad(waves[first : first + chunk], ((0, 0), (n_fft // 2, n_fft // 2)))
        frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft, axis=-1)[:, ::hop]
        power = np.abs(np.fft.rfft(frames * window, axis=-1).astype(np.complex64)) ** 2
        out.append(np.einsum("cfk,bk->cbf", power, bank))
    mel = np.concatenate(out) if out else np.zeros((0, BANDS, 0), np.float32)
    floor = np.maximum(mel.max(axis=(-2, -1), keepdims=True), 1e-10) * 1e-8  # 80 dB below each clip's peak
    return (10 * np.log10(np.maximum(mel, floor))).astype(np.float32)


def _mel_bank(sample_rate: int, n_fft: int, bands: int) -> np.ndarray:
    """librosa's ``filters.mel`` (Slaney's mel scale, triangles normalised by their width): (bands, n_fft // 2 + 1)."""

    def to_mel(hz: np.ndarray) -> np.ndarray:
        linear = hz / (200.0 / 3)
        return np.where(hz >= 1000.0, 15.0 + np.log(np.maximum(hz, 1e-10) / 1000.0) / (np.log(6.4) / 27), linear)

    def to_hz(mel: np.ndarray) -> np.ndarray:
        return np.where(mel >= 15.0, 1000.0 * np.exp((np.log(6.4) / 27) * (mel - 15.0)), (200.0 / 3) * mel)

    edges = to_hz(np.linspace(to_mel(np.array(0.0)), to_mel(np.array(sample_rate / 2.0)), bands + 2))
    bins = np.linspace(0, sample_rate / 2.0, 1 + n_fft // 2)
    widths, ramps = np.diff(edges), edges[:, np.newaxis] - bins[np.newaxis, :]
    rising, falling = -ramps[:-2] / widths[:-1, np.newaxis], ramps[2:] / widths[1:, np.newaxis]
    return np.maximum(0, np.minimum(rising, falling)) * (2.0 / (edges[2:] - edges[:-2]))[:, np.newaxis]


def near_pairs(
    prints: np.ndarray, threshold: float = NEAR, block: int = 1024, corpora: Sequence[str] | None = None
) -> list[tuple[int, int, float]]:
    """Pairs (i < j) of near-identical rows (:func:`near_pairs_among`). With ``corpora`` (each row's corpus, in
    a union of several), two rows of one corpus are compared standardised over that corpus alone, and rows of
    different corpora standardised over them all: over the union, one corpus's differences from another
    dominate every column, so two distinct takes of one corpus (RAVDESS's two repetitions by one actor)
    reached 0.98 beside EMO-DB where alone they stay below 0.93; a copy's rows are equal under either."""
    names = list(corpora) if corpora is not None else []
    if len(set(names)) < 2:
        return near_pairs_among(prints, threshold, block)
    of = np.asarray(names)
    found = [(i, j, r) for i, j, r in near_pairs_among(prints, threshold, block) if of[i] != of[j]]
    for name in sorted(set(names)):
        members = np.flatnonzero(of == name)
        found += [
            (int(members[i]), int(members[j]), r) for i, j, r in near_pairs_among(prints[members], threshold, block)
        ]
    return sorted(found)


def near_pairs_among(prints: np.ndarray, threshold: float = NEAR, block: int = 1024) -> list[tuple[int, int, float]]:
    """Pairs (i < j) of rows whose correlation, after standardising every column over the rows, reaches
        ``threshold``, in float32, in time near-linear in the rows where they are spread.

        Rows standardised, centred and scaled to unit length correlate at ``threshold`` or more exactly when they
        lie within ``sqrt(2 (1 - threshold))`` of each other. Their projections on the 12 leading principal axes
        are no farther apart than they are, so the pairs a k-d tree finds within that radius in the projection hold
        every such pair (none is missed); each is then checked on the whole rows. Where the projection finds too
        many candidates (rows bunched together: counted without listing them), the rows are compared block by block
    instead, each block's scores held within :data:`BLOCK_VALUES`."""
    from scipy.spatial import cKDTree

    x = _unit_rows(np.asarray(prints, dtype=np.float32))
    if len(x) < 2:
        return []
    radius = float(np.sqrt(2.0 * (1.0 - threshold)))
    projected = x @ _leading_axes(x, AXES)
    tree = cKDTree(projected)
    if _more_candidates_than(tree, projected, radius, CANDIDATES_PER_ROW * len(x)):
        return _blockwise(x, threshold, min(block, max(64, BLOCK_VALUES // len(x))))  # bunched: cheaper
    candidates = tree.query_pairs(radius, output_type="ndarray")
    found = []
    for start in range(0, len(candidates), 65536):
        pairs = candidates[start : start + 65536]
        scores = np.einsum("ij,ij->i", x[pairs[:, 0]], x[pairs[:, 1]])
        for (i, j), score in zip(pairs[scores >= threshold], scores[scores >= threshold], strict=True):
            found.append((int(min(i, j)), int(max(i, j)), float(score)))
    return sorted(found)


def _more_candidates_than(tree: Any, points: np.ndarray, radius: float, most: int, chunk: int = 4096) -> bool:
    """Whether more than ``most`` pairs of ``points`` lie within ``radius``: counted a chunk of points at a time,
    stopping as soon as they exceed it, so bunched rows are found without listing their (n^2) pairs."""
    pairs = 0
    for start in range(0, len(points), chunk):
        within = tree.query_ball_point(points[start : start + chunk], radius, return_length=True)
        pairs += (int(np.sum(within)) - len(within)) // 2  # less each point itself; each pair seen from both ends
        if pairs > most:
            return True
    return False


def _unit_rows(x: np.ndarray) -> np.ndarray:
    """Every column standardised over the rows, then every row centred and scaled to unit length (float32)."""
    spread = x.std(axis=0)
    x = np.divide(x - x.mean(axis=0), spread, out=np.zeros_like(x), where=spread > 0)
    x = x - x.mean(axis=1, keepdims=True)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)


def _leading_axes(x: np.ndarray, count: int, sample: int = 20000) -> np.ndarray:
    """The ``count`` leading principal axes (columns, orthonormal) of up to ``sample`` rows (seeded), from the
    eigenvectors of their covariance (a columns-by-columns matrix: cheaper than the rows' SVD)."""
    rows = x if len(x) <= sample else x[np.random.default_rng(0).choice(len(x), sample, replace=False)]
    centred = (rows - rows.mean(axis=0)).astype(np.float64)
    _, vectors = np.linalg.eigh(centred.T @ centred)
    return np.ascontiguousarray(vectors[:, ::-1][:, : min(count, x.shape[1])].astype(np.float32))


def _blockwise(x: np.ndarray, threshold: float, block: int) -> list[tuple[int, int, float]]:
    """Every pair compared, a block of rows at a time (quadratic: for rows bunched together)."""
    found = []
    for start in range(0, len(x), block):
        scores = x[start : start + block] @ x.T
        for i, j in zip(*np.nonzero(scores >= threshold), strict=True):
            if start + i < j:
                found.append((int(start + i), int(j), float(scores[i, j])))
    return found


def audit_split(
    utterances: Sequence[Utterance],
    plans: Sequence[FoldPlan],
    name_of: Callable[[int], str],
    *,
    speaker_independent: bool,
    digests: Sequence[str],
    near: Sequence[tuple[int, int, float]] | None = None,
    trained_on: Sequence[str] = (),
    corpus: str = "",
) -> SplitAudit:
    """What the parts of each fold share. ``name_of`` names an utterance (its path relative to the
    dataset); ``digests`` are the files' content digests; ``near`` the near-identical pairs (None: not
    checked); ``trained_on`` the corpora the feature extractor was pretrained on, ``corpus`` the tested one."""
    audit = SplitAudit()
    _speakers(audit, utterances, plans, speaker_independent)
    groups: dict[str, list[int]] = defaultdict(list)
    for index, digest in enumerate(digests):
        groups[digest].append(index)
    identical = [(i, j, 1.0) for members in groups.values() for k, i in enumerate(members) for j in members[k + 1 :]]
    _shared_audio(audit, plans, name_of, identical, "byte-identical")
    audit.checked.append("byte-identical files (content digest)")
    if near is not None:
        same = {(i, j) for i, j, _ in identical}
        _shared_audio(audit, plans, name_of, [p for p in near if (p[0], p[1]) not in same], "near-identical")
        audit.checked.append(f"near-identical audio (correlation of pooled features >= {NEAR})")
    else:
        audit.notes.append("near-identical audio was not looked for ([report] split_audit = false)")
    _sentences(audit, utterances, plans)
    if trained_on:
        audit.checked.append("the feature extractor's pretraining corpora (features.trained_on)")
        if _corpus_key(corpus) in {_corpus_key(c) for c in trained_on}:
            audit.warnings.append(
                f"the feature extractor was pretrained on {corpus} (features.trained_on: {', '.join(trained_on)}), "
                "the corpus tested here: its representations have seen the test utterances, so the result is "
                "not one on unseen data"
            )
    return audit


def _parts(plan: FoldPlan) -> dict[int, str]:
    part = {i: "fit" for i in plan.fit}
    part.update({i: "validation" for i in plan.validation})
    part.update({i: "test" for i in plan.test})
    return part


def _speakers(audit: SplitAudit, utterances: Sequence[Utterance], plans: Sequence[FoldPlan], independent: bool) -> None:
    audit.checked.append("speakers in more than one part")
    shared: dict[str, set[str]] = {}
    for plan in plans:
        trained = {utterances[i].speaker for i in plan.train}
        both = {utterances[i].speaker for i in plan.test} & trained
        if both:
            shared[plan.id] = both
    if not shared:
        return
    speakers = sorted(set().union(*shared.values()))
    listed = ", ".join(speakers[:EXAMPLES]) + (
        f" and {len(speakers) - EXAMPLES} more" if len(speakers) > EXAMPLES else ""
    )
    where = f"{len(shared)} of {len(plans)} fold(s)"
    if independent:
        audit.warnings.append(
            f"speaker(s) {listed} in both the training and the test part of {where}, although the protocol is "
            "speaker-independent: the result is partly speaker-dependent"
        )
    else:
        audit.notes.append(
            f"speaker-dependent by design: {len(speakers)} speaker(s) in both the training and the test part of {where}"
        )


def _shared_audio(
    audit: SplitAudit,
    plans: Sequence[FoldPlan],
    name_of: Callable[[int], str],
    pairs: Sequence[tuple[int, int, float]],
    kind: str,
) -> None:
    """A warning per kind of pair (test with training, validation with fit) found across parts."""
    across: dict[str, dict[tuple[int, int], str]] = defaultdict(dict)  # each pair named as first found
    folds: dict[str, set[str]] = defaultdict(set)
    for plan in plans:
        part = _parts(plan)
        for i, j, score in pairs:
            a, b = part.get(i), part.get(j)
            if a is None or b is None or a == b:
                continue
            leak = "test" if "test" in (a, b) else "validation"
            figure = "" if kind == "byte-identical" else f", r = {score:.3f}"
            across[leak].setdefault((i, j), f"{name_of(i)} ({a}) and {name_of(j)} ({b}{figure})")
            folds[leak].add(plan.id)
    for leak, named in across.items():
        found = list(named.values())
        examples = _some(found, "; ")
        effect = (
            "the model is tested on audio it was trained on"
            if leak == "test"
            else "early stopping watches audio the model is trained on"
        )
        audit.warnings.append(
            f"{len(found)} {kind} pair(s) across parts in {len(folds[leak])} of {len(plans)} fold(s) ({effect}): "
            f"{examples}"
        )


def _sentences(audit: SplitAudit, utterances: Sequence[Utterance], plans: Sequence[FoldPlan]) -> None:
    key = next((k for k in SENTENCE_KEYS if utterances and all(k in u.meta for u in utterances)), None)
    if key is None:
        return
    audit.checked.append(f"sentences shared between parts (metadata '{key}')")
    sharing = 0
    for plan in plans:
        trained = {str(utterances[i].meta[key]) for i in plan.train}
        sharing += bool({str(utterances[i].meta[key]) for i in plan.test} & trained)
    if sharing:
        audit.notes.append(
            f"in {sharing} of {len(plans)} fold(s) the test part's sentences (metadata '{key}') also occur in "
            "training: the model may use lexical content (EMO-DB and RAVDESS share their sentences across "
            "speakers by design, so every split of them does)"
        )


def _some(items: Sequence[str], separator: str) -> str:
    """The first few items joined, and how many more there are."""
    more = f"{separator}and {len(items) - EXAMPLES} more" if len(items) > EXAMPLES else ""
    return separator.join(items[:EXAMPLES]) + more


def _corpus_key(name: str) -> str:
    """A corpus name compared without case or punctuation ("EMO-DB" is "emodb")."""
    return re.sub(r"[^a-z0-9]", "", name.lower())
