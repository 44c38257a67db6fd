"""Label maps: every corpus's labels on one shared set, so corpora can be trained and tested together.

A label map is data (a TOML file, or a :class:`LabelMap` built in code) registered by a plugin's
``register_label_maps`` hook, and chosen by a recipe's ``[labels] map``::

    name = "four-class"
    description = "anger, happiness, neutral, sadness (IEMOCAP's convention: excitement is happiness)"
    classes = ["anger", "happiness", "neutral", "sadness"]
    [aliases]
    angry = "anger"
    excitement = "happiness"

A label becomes its alias (or stays itself); one that is then not among ``classes`` is left out and
reported in one line.
"""

from __future__ import annotations

import tomllib
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from serkit.core.components import Scan, Utterance
from serkit.core.errors import SerkitError
from serkit.core.suggest import did_you_mean


@dataclass(frozen=True)
class LabelMap:
    """A shared class set, in order, and the corpus labels that mean each of its classes."""

    name: str
    description: str
    classes: tuple[str, ...]
    aliases: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.name or not self.classes:
            raise ValueError("a label map needs a name and at least one class")

    def target(self, label: str) -> str | None:
        """The shared class ``label`` means, or None when the map leaves it out."""
        shared = self.aliases.get(label, label)
        return shared if shared in self.classes else None

    @classmethod
    def from_toml(cls, path: str | Path) -> LabelMap:
        """Read a label map file (``name``, ``description``, ``classes`` and an ``[aliases]`` table)."""
        try:
            raw: dict[str, Any] = tomllib.loads(Path(path).read_text(encoding="utf-8"))
            return cls(raw["name"], raw.get("description", ""), tuple(raw["classes"]), dict(raw.get("aliases", {})))
        except (OSError, tomllib.TOMLDecodeError, KeyError, TypeError, ValueError) as exc:
            raise SerkitError(f"{path}: not a readable label map ({type(exc).__name__}: {exc})") from exc


@dataclass(frozen=True)
class Relabel:
    """What a recipe's ``[labels]`` does to every corpus a run reads: map, then keep."""

    label_map: LabelMap | None
    keep: tuple[str, ...] = ()

    def describe(self) -> str:
        named = f"label map '{self.label_map.name}'" if self.label_map else "the corpus's own labels"
        return named + (f", keeping {', '.join(self.keep)}" if self.keep else "")

    def apply(self, scan: Scan, corpus: str = "dataset") -> Scan:
        """``scan`` with its labels mapped and filtered; what was left out is one warning. Without a map, a
        kept class the corpus does not have (a typo) is refused, as the map's classes are checked with one."""
        if self.label_map is None:
            known = [*scan.labels, *sorted({u.label for u in scan.utterances} - set(scan.labels))]
            for wanted in self.keep:
                if wanted not in known:
                    raise SerkitError(
                        f"labels.keep: '{wanted}' is not a class of the {corpus} (its classes: {', '.join(known)})"
                        + did_you_mean(wanted, known)
                    )
        kept: list[Utterance] = []
        dropped: Counter[str] = Counter()
        for utterance in scan.utterances:
            label = self.label_map.target(utterance.label) if self.label_map else utterance.label
            if label is None or (self.keep and label not in self.keep):
                dropped[utterance.label] += 1
                continue
            kept.append(utterance if label == utterance.label else replace(utterance, label=label))
        if not kept:
            raise SerkitError(f"labels: {self.describe()} leaves no utterance of the {corpus}")
        present = {u.label for u in kept}
        order = self.keep or (self.label_map.classes if self.label_map else tuple(scan.labels))
        labels = [label for label in order if label in present]
        warnings = list(scan.warnings)
        if dropped:
            left = ", ".join(f"{label} ({n})" for label, n in sorted(dropped.items()))
            warnings.append(f"labels: {self.describe()} leaves out {corpus} classes {left}")
        notes = [*scan.notes, f"labels: {self.describe()}: {len(labels)} classes"]
        return replace(scan, utterances=kept, labels=labels, notes=notes, warnings=warnings, relabel=self)
