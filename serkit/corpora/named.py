"""Corpora found by their file-name conventions: what every corpus module shares (lhotse-style, a
module per corpus: ``crema_d``, ``tess``, ``savee``, ``subesco``, ``shemo``, ``mesd``)."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from serkit.core.components import Dataset, Scan, Utterance
from serkit.core.errors import SerkitError
from serkit.core.params import param


def wav_files(root: str, key: str = "dataset.root") -> list[Path]:
    """Every .wav file under ``root``, sorted; a SerkitError if the folder is missing."""
    folder = Path(root).expanduser()
    if not folder.is_dir():
        raise SerkitError(f"{key}: folder '{root}' does not exist")
    # broken links are kept, so that the scan names them rather than leaving them out silently
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() == ".wav" and (p.is_file() or p.is_symlink()))


def restrict(utterances: list[Utterance], labels: list[str], emotions: list[str]) -> tuple[list[Utterance], list[str]]:
    """Keep only the requested emotions (all when ``emotions`` is empty): the utterances and the class order."""
    unknown = sorted(set(emotions) - set(labels))
    if unknown:
        raise SerkitError(f"dataset.emotions: unknown emotion(s) {', '.join(unknown)} (known: {', '.join(labels)})")
    if not emotions:
        return utterances, labels
    return [u for u in utterances if u.label in emotions], [label for label in labels if label in emotions]


def odd_names_warning(odd: list[str]) -> list[str]:
    return [f"{len(odd)} .wav file(s) do not follow the naming convention, e.g. {odd[0]}"] if odd else []


def count_warnings(utterances: list[Utterance], labels: list[str], expected: dict[str, int] | None) -> list[str]:
    """Missing classes, and class counts that differ from a corpus's published counts."""
    counts = Counter(u.label for u in utterances)
    notes = []
    missing = [label for label in labels if counts[label] == 0]
    if missing:
        notes.append(f"no files for class(es): {', '.join(missing)}")
    if expected:
        off = [f"{k} {counts[k]}/{n}" for k, n in expected.items() if counts[k] != n]
        if off:
            notes.append("class counts differ from the published corpus: " + ", ".join(off))
    return notes


@dataclass(frozen=True, kw_only=True)
class NamedCorpus(Dataset):
    """A corpus whose file names say who speaks and with what emotion (public: ``serkit.NamedCorpus``).

    A subclass declares the file-name ``pattern`` (a regular expression), the class order (``labels``), the
    published design (``published`` files per class, ``speakers``), the ``licence``, where to get it
    (``obtain``; ``source`` for a download), how to cite it (``citation``), and turns one matching name into
    an utterance (:meth:`utterance`: its label, speaker and metadata such as ``gender``). The scan reads every
    .wav file under ``root``, keeps ``emotions`` where given, and lists the files that do not fit the pattern
    (or for which :meth:`utterance` returns None) as off the naming convention; ``serkit data check`` shows
    them and how the class counts compare with the published ones. docs/plugins.md builds one."""

    emotions: list[str] = param([], "emotions to keep; empty keeps all")

    #: The corpus's name in words, and one of its file names, for messages.
    title: ClassVar[str]
    example: ClassVar[str]
    pattern: ClassVar[re.Pattern[str]]
    labels: ClassVar[tuple[str, ...]]
    #: Files per class in the published corpus (checked where every emotion is kept), and speakers.
    published: ClassVar[dict[str, int] | None] = None
    speakers: ClassVar[int]
    licence: ClassVar[str]
    #: Whether the licence forbids commercial use (``data check`` and every run say so).
    non_commercial: ClassVar[bool] = False
    #: Where to get it and what ``root`` should name.
    obtain: ClassVar[str]

    def utterance(self, path: Path, match: re.Match[str]) -> Utterance | None:
        """The utterance a matching file name describes (None: the name matches but is not one)."""
        raise NotImplementedError

    def scan(self) -> Scan:
        utterances, odd = [], []
        for path in wav_files(self.root):
            match = self.pattern.match(path.name)
            found = self.utterance(path, match) if match else None
            if found is None:
                odd.append(str(path))
            else:
                utterances.append(found)
        if not utterances:
            raise SerkitError(
                f"dataset.root: no {self.title} files (e.g. {self.example}) under '{self.root}'; {self.obtain}"
            )
        utterances, labels = restrict(utterances, list(self.labels), self.emotions)
        speakers = {u.speaker for u in utterances}
        notes = [
            f"{len(utterances)} files from {len(speakers)} of {self.speakers} speakers",
            f"licence: {self.licence}",
        ]
        if self.non_commercial:
            notes.append(f"{self.title}'s licence forbids commercial use")
        warnings = count_warnings(utterances, labels, None if self.emotions else self.published)
        return Scan(
            utterances, labels, notes + self.design_notes(utterances), warnings + odd_names_warning(odd), unmatched=odd
        )

    def design_notes(self, utterances: list[Utterance]) -> list[str]:
        """What the corpus's design means for protocols (e.g. two speakers only)."""
        return []
