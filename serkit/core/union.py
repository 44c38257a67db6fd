"""Several corpora in one recipe (``[[dataset]]`` entries): their union, read as one corpus.

Two corpora's speaker ``01`` are different people, so each speaker is namespaced by its corpus (``emodb:03``);
each utterance carries its corpus's name as ``meta["corpus"]``, which the ``loco`` protocol (leave one corpus
out), ``[report] groups`` (added by default) and ``train.sampler = "by_corpus"`` read. The recipe's ``[labels]``
map puts the corpora's labels on one set, and is required where their classes differ; what it leaves out is said
per corpus. Every corpus's notes, warnings and licence are kept, prefixed by its name.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any

from serkit.core.components import Dataset, Scan
from serkit.core.errors import SerkitError


@dataclass(frozen=True, kw_only=True)
class Corpora(Dataset):
    """The union of several corpora (a recipe's ``[[dataset]]`` entries), each utterance marked with its corpus.

    Its ``name`` is its corpora's, joined by ``+`` ("emodb+ravdess"): what reports, run lists and tags show."""

    name = "corpora"
    #: The datasets, in the recipe's order.
    members: tuple[Dataset, ...] = field(default=(), metadata={"help": "the corpora"})

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", "+".join(self.corpus_names()))

    @classmethod
    def params(cls) -> list[Any]:
        return []  # built from [[dataset]] entries, never from parameters of its own

    def corpus_names(self) -> list[str]:
        """Each member's name in the union (:func:`union_names`)."""
        return union_names([m.name for m in self.members])

    def scan(self) -> Scan:
        utterances, labels, notes, warnings, ignored, unmatched = [], [], [], [], [], []
        classes: dict[str, list[str]] = {}
        for corpus, member in zip(self.corpus_names(), self.members, strict=True):
            found = member.scan()
            classes[corpus] = list(found.labels)
            utterances += [
                replace(u, speaker=f"{corpus}:{u.speaker}", meta={**u.meta, "corpus": corpus}) for u in found.utterances
            ]
            labels += [label for label in found.labels if label not in labels]
            notes += [f"{corpus}: {note}" for note in found.notes]
            warnings += [f"{corpus}: {warning}" for warning in found.warnings]
            ignored += found.ignored
            unmatched += found.unmatched
            licence = licence_of(member)
            if licence and not any("licence" in note for note in found.notes):
                notes.append(f"{corpus}: licence: {licence}")
        sizes = ", ".join(f"{c} {sum(u.meta['corpus'] == c for u in utterances)}" for c in classes)
        notes.insert(0, f"{len(self.members)} corpora, one training: {sizes} utterances")
        return Scan(utterances, labels, notes, warnings, ignored, unmatched)

    def classes_differ(self, scan: Scan) -> str:
        """Which corpora have classes the others lack, in words ("" when all share one class set)."""
        per = {c: sorted({u.label for u in scan.utterances if u.meta["corpus"] == c}) for c in self.corpus_names()}
        if len({tuple(v) for v in per.values()}) <= 1:
            return ""
        return "; ".join(f"{c}: {', '.join(v)}" for c, v in per.items())

    def location(self) -> str:
        places = [os.path.abspath(m.location()) for m in self.members]
        return os.path.commonpath(places) if places else "."

    def identity(self) -> dict[str, Any]:
        return {"name": "corpora", "corpora": [m.identity() for m in self.members]}

    def cache_identity(self) -> dict[str, Any]:
        return {"name": "corpora", "corpora": [m.cache_identity() for m in self.members]}

    def to_params(self) -> dict[str, Any]:
        return {}

    def entries(self) -> list[dict[str, Any]]:
        """The ``[[dataset]]`` tables that build it."""
        return [m.to_entry() for m in self.members]

    @property
    def licence(self) -> str:
        """Every corpus's licence, named."""
        return "; ".join(
            f"{c}: {lic}" for c, m in zip(self.corpus_names(), self.members, strict=True) if (lic := licence_of(m))
        )


def union_names(datasets: list[str]) -> list[str]:
    """The names corpora take in a union, in order: each dataset's name, numbered where a dataset is listed twice."""
    counts = Counter(datasets)
    seen: Counter[str] = Counter()
    out = []
    for name in datasets:
        seen[name] += 1
        out.append(name if counts[name] == 1 else f"{name}{seen[name]}")
    return out


def licence_of(dataset: Dataset) -> str:
    """A dataset's licence as it records it (a corpus module's, or its download's), or ""."""
    source = getattr(dataset, "source", None)
    return str(getattr(dataset, "licence", "") or (source.licence if source else ""))


def dropped_per_corpus(before: Scan, after: Scan) -> list[str]:
    """What ``[labels]`` left out of each corpus, a line each (a union's relabelled scan against its scan)."""
    kept = Counter(u.meta.get("corpus") for u in after.utterances)
    lines = []
    for corpus in dict.fromkeys(u.meta.get("corpus") for u in before.utterances):
        left = Counter(u.label for u in before.utterances if u.meta.get("corpus") == corpus)
        gone = sum(left.values()) - kept[corpus]
        if gone:
            mapped = {u.path for u in after.utterances if u.meta.get("corpus") == corpus}
            classes = Counter(
                u.label for u in before.utterances if u.meta.get("corpus") == corpus and u.path not in mapped
            )
            lines.append(
                f"labels: left out of {corpus}: " + ", ".join(f"{label} ({n})" for label, n in sorted(classes.items()))
            )
    return lines


def require_shared_labels(dataset: Dataset, scan: Scan, mapped: bool) -> None:
    """A union of corpora whose classes differ needs a ``[labels]`` map (or ``keep``) to put them on one set."""
    if isinstance(dataset, Corpora) and not mapped and (differ := dataset.classes_differ(scan)):
        raise SerkitError(
            f"labels: the corpora's classes differ ({differ}); put them on one set with [labels] map (e.g. "
            '"basic" or "ekman"; serkit plugins lists the maps) or keep the classes they share with labels.keep'
        )
