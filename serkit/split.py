"""Fold plans: validation carved from each fold's training part, saved and reloaded as JSON."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sklearn.model_selection import ShuffleSplit, StratifiedShuffleSplit

from serkit.components import Fold, Utterance
from serkit.errors import SerkitError


@dataclass(frozen=True)
class FoldPlan:
    """One fold's index sets: ``fit`` trains, ``validation`` stops early, ``test`` is only scored."""

    name: str
    fit: list[int]
    validation: list[int]
    test: list[int]

    @property
    def train(self) -> list[int]:
        return sorted(self.fit + self.validation)


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


def plan_folds(folds: list[Fold], utterances: list[Utterance], fraction: float, seed: int) -> list[FoldPlan]:
    labels = [u.label for u in utterances]
    plans = []
    for fold in folds:
        check_fold(fold, len(utterances))
        fit, validation = validation_split(sorted(fold.train), labels, fraction, seed)
        plans.append(FoldPlan(fold.name, fit, validation, sorted(fold.test)))
    return plans


def check_fold(fold: Fold, count: int) -> None:
    """A fold must be disjoint, in range and non-empty on both sides."""
    train, test = set(fold.train), set(fold.test)
    if not train or not test:
        raise SerkitError(f"protocol: fold '{fold.name}' has an empty training or test part")
    if train & test:
        raise SerkitError(f"protocol: fold '{fold.name}' puts {len(train & test)} utterance(s) in both train and test")
    if min(train | test) < 0 or max(train | test) >= count:
        raise SerkitError(f"protocol: fold '{fold.name}' refers to utterances that do not exist")


def split_to_json(plans: list[FoldPlan], utterances: list[Utterance], root: str, description: str) -> dict[str, Any]:
    def names(indices: list[int]) -> list[str]:
        return [os.path.relpath(utterances[i].path, root) for i in indices]

    return {
        "protocol": description,
        "folds": [
            {"name": p.name, "train": names(p.fit), "validation": names(p.validation), "test": names(p.test)}
            for p in plans
        ],
    }


def load_split(path: str | Path, utterances: list[Utterance], root: str) -> list[FoldPlan]:
    """Reload a saved split, matching files by their path relative to the dataset root."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        saved = data["folds"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SerkitError(f"{path}: not a serkit split file ({exc})") from exc
    index = {os.path.relpath(u.path, root): i for i, u in enumerate(utterances)}
    plans = []
    for fold in saved:
        parts = []
        for part in ("train", "validation", "test"):
            missing = [name for name in fold[part] if name not in index]
            if missing:
                raise SerkitError(
                    f"{path}: fold '{fold['name']}' names {len(missing)} file(s) not in the dataset, e.g. {missing[0]}"
                )
            parts.append(sorted(index[name] for name in fold[part]))
        plan = FoldPlan(fold["name"], *parts)
        check_fold(Fold(plan.name, plan.train, plan.test), len(utterances))
        plans.append(plan)
    return plans
