"""Fold plans: validation carved from each fold's training part, saved and reloaded as JSON."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sklearn.model_selection import GroupShuffleSplit, ShuffleSplit, StratifiedShuffleSplit

from serkit.core.components import Fold, Protocol, Utterance
from serkit.core.errors import SerkitError
from serkit.core.version import RUN_FORMAT, run_format


@dataclass(frozen=True)
class FoldPlan:
    """One fold's index sets: ``fit`` trains, ``validation`` stops early, ``test`` is only scored."""

    name: str
    fit: list[int]
    validation: list[int]
    test: list[int]
    repeat: int = 0
    seed: int = 0

    @property
    def train(self) -> list[int]:
        return sorted(self.fit + self.validation)

    def training_items(self, n_augmenters: int) -> list[tuple[int, int | None]]:
        """What the model trains on: the fit part's originals, then each augmenter's copies of them.

        Validation and test utterances are never augmented: augmentation happens after the split.
        """
        return [(i, None) for i in self.fit] + [(i, a) for a in range(n_augmenters) for i in self.fit]

    @property
    def id(self) -> str:
        """Unique within a run: the fold's name, with the repeat from the second repeat on."""
        return self.name if self.repeat == 0 else f"{self.name}-repeat{self.repeat + 1}"


def validation_split(train: list[int], labels: list[str], fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Split training indices into fit and validation parts, stratified where every class allows it."""
    if len(train) < 2:
        raise SerkitError(f"train.validation_size: a training part of {len(train)} utterance(s) cannot be split")
    train_labels = [labels[i] for i in train]
    size = max(fraction, 1 / len(train))
    try:
        splitter = StratifiedShuffleSplit(n_splits=1, test_size=size, random_state=seed)
        fit, val = next(splitter.split(train_labels, train_labels))
    except ValueError:  # a class too small to stratify
        fit, val = next(ShuffleSplit(n_splits=1, test_size=size, random_state=seed).split(train_labels))
    return sorted(train[i] for i in fit), sorted(train[i] for i in val)


def speaker_validation_split(
    train: list[int], speakers: list[str], fraction: float, seed: int
) -> tuple[list[int], list[int]] | None:
    """Hold out whole training speakers for validation; None when there are too few speakers."""
    groups = [speakers[i] for i in train]
    if len(set(groups)) < 3:
        return None
    splitter = GroupShuffleSplit(n_splits=1, test_size=fraction, random_state=seed)
    fit, val = next(splitter.split(train, groups=groups))
    return sorted(train[i] for i in fit), sorted(train[i] for i in val)


def plan_folds(
    folds: list[Fold],
    utterances: list[Utterance],
    fraction: float,
    seed: int,
    protocol: Protocol | None = None,
    classes: bool = True,
) -> tuple[list[FoldPlan], list[str]]:
    """Fold plans with a validation part from each fold's own training part, and warnings for the report;
    ``classes``: labels are classes that each fold must train on (a regression's strata need not).

    Speaker-independent protocols hold out whole training speakers for validation, so early
    stopping sees unseen voices as the test part does.
    """
    labels = [u.label for u in utterances]
    speakers = [u.speaker for u in utterances]
    policy = protocol.missing_test_class_policy() if protocol is not None else "error"
    plans, warnings = [], []
    for fold in folds:
        check_fold(fold, len(utterances))
        warnings += check_fold_classes(fold, labels, policy) if classes else []
        by_speaker = None
        if protocol is not None and protocol.speaker_independent:
            by_speaker = speaker_validation_split(sorted(fold.train), speakers, fraction, seed)
            if by_speaker is None:
                warnings.append(
                    f"fold '{fold.name}': fewer than 3 training speakers, so validation utterances "
                    "come from the training speakers"
                )
        fit, validation = by_speaker or validation_split(sorted(fold.train), labels, fraction, seed)
        plans.append(FoldPlan(fold.name, fit, validation, sorted(fold.test)))
    return plans, warnings


def check_fold_classes(fold: Fold, labels: list[str], policy: str) -> list[str]:
    """A class absent from a fold's training part is an error; absent from its test part, per ``policy``."""
    classes = sorted(set(labels))
    untrained = [c for c in classes if not any(labels[i] == c for i in fold.train)]
    if untrained:
        raise SerkitError(f"protocol: fold '{fold.name}' has no training example of {', '.join(untrained)}")
    untested = [c for c in classes if not any(labels[i] == c for i in fold.test)]
    if not untested:
        return []
    message = f"fold '{fold.name}' has no test example of {', '.join(untested)}"
    if policy == "error":
        raise SerkitError(f'protocol: {message} (set protocol.missing_test_classes = "warn" to accept it)')
    return [f"{message}: its UAR averages the classes present; pooled figures cover every class"]


def check_fold(fold: Fold, count: int) -> None:
    """A fold must be disjoint, in range and non-empty on both sides."""
    train, test = set(fold.train), set(fold.test)
    if not train or not test:
        raise SerkitError(f"protocol: fold '{fold.name}' has an empty training or test part")
    if train & test:
        raise SerkitError(f"protocol: fold '{fold.name}' puts {len(train & test)} utterance(s) in both train and test")
    if min(train | test) < 0 or max(train | test) >= count:
        raise SerkitError(f"protocol: fold '{fold.name}' refers to utterances that do not exist")


@dataclass(frozen=True)
class SavedFold:
    """One fold as a split file keeps it: its parts by file path relative to the dataset root."""

    name: str
    repeat: int
    seed: int | None  # None in files written before seeds were saved
    train: list[str]
    validation: list[str]
    test: list[str]


@dataclass(frozen=True)
class SplitFile:
    """``split.json``: every fold's files, so that another run (or a resumed one) tests the same utterances."""

    protocol: str
    folds: list[SavedFold]
    format_version: int = RUN_FORMAT
    #: The split audit (``SplitAudit.to_json``): written once the run has the files' digests and features.
    audit: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, plans: list[FoldPlan], utterances: list[Utterance], root: str, description: str) -> SplitFile:
        def names(indices: list[int]) -> list[str]:
            return [os.path.relpath(utterances[i].path, root) for i in indices]

        folds = [SavedFold(p.name, p.repeat, p.seed, names(p.fit), names(p.validation), names(p.test)) for p in plans]
        return cls(description, folds)

    def to_json(self) -> dict[str, Any]:
        return {
            "format_version": self.format_version,
            "protocol": self.protocol,
            "folds": [
                {
                    "name": f.name,
                    "repeat": f.repeat,
                    "seed": f.seed,
                    "train": f.train,
                    "validation": f.validation,
                    "test": f.test,
                }
                for f in self.folds
            ],
        } | ({"audit": self.audit} if self.audit else {})

    @classmethod
    def read(cls, path: str | Path) -> SplitFile:
        """The split file at ``path``, or one line naming it."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
            version = run_format(data, path)
            folds = [
                SavedFold(
                    str(f["name"]),
                    int(f.get("repeat", 0)),
                    int(f["seed"]) if "seed" in f else None,
                    list(f["train"]),
                    list(f["validation"]),
                    list(f["test"]),
                )
                for f in data["folds"]
            ]
        except SerkitError:
            raise
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise SerkitError(f"{path}: not a serkit split file ({exc})") from exc
        audit = data.get("audit", {})
        return cls(str(data.get("protocol", "")), folds, version, audit if isinstance(audit, dict) else {})

    def plans(
        self, utterances: list[Utterance], root: str, default_seed: Callable[[int], int], where: str | Path
    ) -> list[FoldPlan]:
        """The saved folds as plans of ``utterances``, matched by path relative to ``root``; each keeps its
        saved seed, or ``default_seed(repeat)`` where none was saved."""
        index = {os.path.relpath(u.path, root): i for i, u in enumerate(utterances)}
        plans = []
        for fold in self.folds:
            parts = []
            for part in (fold.train, fold.validation, fold.test):
                missing = [name for name in part if name not in index]
                if missing:
                    raise SerkitError(
                        f"{where}: fold '{fold.name}' names {len(missing)} file(s) not in the dataset, "
                        f"e.g. {missing[0]}"
                    )
                parts.append(sorted(index[name] for name in part))
            seed = fold.seed if fold.seed is not None else default_seed(fold.repeat)
            plan = FoldPlan(fold.name, parts[0], parts[1], parts[2], repeat=fold.repeat, seed=seed)
            check_fold(Fold(plan.name, plan.train, plan.test), len(utterances))
            plans.append(plan)
        return plans


def split_to_json(plans: list[FoldPlan], utterances: list[Utterance], root: str, description: str) -> dict[str, Any]:
    return SplitFile.of(plans, utterances, root, description).to_json()


def load_split(
    path: str | Path, utterances: list[Utterance], root: str, default_seed: Callable[[int], int] = lambda repeat: 0
) -> list[FoldPlan]:
    """Reload a saved split, matching files by their path relative to the dataset root.

    Each fold keeps the seed it was saved with; ``default_seed(repeat)`` gives it where none was saved.
    """
    return SplitFile.read(path).plans(utterances, root, default_seed, path)
