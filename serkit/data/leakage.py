"""The split audit: what the parts of a split share that they should not (speakers, byte-identical or
near-identical audio, pretraining data) and what they share by design (sentences), in every run's
split.json and report, and in ``serkit audit``.

Near-identical audio is found from the features: each original utterance's features pooled to at
most 16 time segments, each dimension standardised over the corpus, and rows compared by
correlation. Copies that differ by gain or by a shift of 10 ms correlate at 0.996 or more with log-mel
features, a 10 ms shift at 0.998 with five_spectral vectors; distinct takes stay far below
:data:`NEAR` (0.98): the highest pair among EMO-DB's 535 files correlates at 0.913 (log-mel) and 0.891
(five_spectral), the RAVDESS sample's at 0.879 (log-mel). Added noise is not caught.
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
SEGMENTS = 16
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


def fingerprints(rows: np.ndarray, shape: str) -> np.ndarray:
    """Features of a chunk of utterances (items first) pooled over time into at most 16 segments and
    flattened: the rows :func:`near_pairs` compares. ``shape``: image (time last), sequence (time first)
    or vector."""
    rows = np.asarray(rows, dtype=np.float32)
    if shape == "vector" or rows.ndim < 3:
        return rows.reshape(len(rows), -1)
    if shape == "sequence":
        rows = np.moveaxis(rows, 1, -1)
    edges = np.linspace(0, rows.shape[-1], min(SEGMENTS, rows.shape[-1]) + 1).astype(int)
    pooled = [rows[..., a:b].mean(axis=-1) for a, b in pairwise(edges)]
    return np.stack(pooled, axis=-1).reshape(len(rows), -1)


def near_pairs(prints: np.ndarray, threshold: float = NEAR, block: int = 1024) -> list[tuple[int, int, float]]:
    """Pairs (i < j) of rows whose correlation, after standardising every column over the rows,
    reaches ``threshold``; computed a block of rows at a time."""
    x = np.asarray(prints, dtype=np.float64)
    spread = x.std(axis=0)
    x = np.divide(x - x.mean(axis=0), spread, out=np.zeros_like(x), where=spread > 0)
    x = x - x.mean(axis=1, keepdims=True)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    x = np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)
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
