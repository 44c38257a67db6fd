"""Evaluation protocols: the paper's random split and the speaker-independent ones."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace

import numpy as np

from serkit.core.components import Dataset, Fold, Protocol, Scan, Utterance
from serkit.core.errors import SerkitError
from serkit.core.hookspecs import hookimpl
from serkit.core.params import param

MISSING_TEST_CLASSES = ("error", "warn")


@dataclass(frozen=True, kw_only=True)
class RandomSplit(Protocol):
    """The paper's stratified random train/test split (speaker-dependent)."""

    name = "random"
    test_size: float = param(0.2, "fraction of utterances held out for testing", gt=0, lt=1)

    def split(self, utterances: list[Utterance], seed: int) -> list[Fold]:
        labels = [u.label for u in utterances]
        from sklearn.model_selection import StratifiedShuffleSplit  # imported when used

        splitter = StratifiedShuffleSplit(n_splits=1, test_size=self.test_size, random_state=seed)
        try:
            train, test = next(splitter.split(labels, labels))
        except ValueError as exc:
            raise SerkitError(f"protocol: cannot make a stratified split ({exc})") from exc
        return [Fold("random", sorted(train.tolist()), sorted(test.tolist()))]

    def describe(self, utterances: list[Utterance]) -> str:
        train = round(100 * (1 - self.test_size))
        return (
            f"speaker-dependent: one stratified random split, {train}% train / {100 - train}% test "
            "(the paper's protocol; the same speakers appear in training and test)"
        )


def _speakers(utterances: list[Utterance]) -> list[str]:
    return sorted({u.speaker for u in utterances})


def _folds_from(splits, utterances: list[Utterance], name) -> list[Fold]:
    return [Fold(name(test, utterances), sorted(train.tolist()), sorted(test.tolist())) for train, test in splits]


@dataclass(frozen=True, kw_only=True)
class SpeakerKFold(Protocol):
    """k folds grouped by speaker (no speaker on both sides), stratified by class where possible."""

    name = "speaker_kfold"
    speaker_independent = True
    folds: int = param(5, "number of folds (at most the number of speakers)", ge=2)
    missing_test_classes: str = param(
        "error", "a fold whose test part lacks a class: stop, or warn", choices=MISSING_TEST_CLASSES
    )

    def missing_test_class_policy(self) -> str:
        return self.missing_test_classes

    def split(self, utterances: list[Utterance], seed: int) -> list[Fold]:
        speakers = _speakers(utterances)
        if self.folds > len(speakers):
            raise SerkitError(
                f"protocol.folds: {self.folds} folds need at least {self.folds} speakers; "
                f"the data has {len(speakers)} ({', '.join(speakers)})"
            )
        labels = [u.label for u in utterances]
        groups = [u.speaker for u in utterances]
        from sklearn.model_selection import StratifiedGroupKFold

        splitter = StratifiedGroupKFold(n_splits=self.folds, shuffle=True, random_state=seed)
        splits = splitter.split(np.zeros(len(labels)), labels, groups)
        return [
            Fold(f"fold{i + 1}", sorted(train.tolist()), sorted(test.tolist()))
            for i, (train, test) in enumerate(splits)
        ]

    def describe(self, utterances: list[Utterance]) -> str:
        return (
            f"speaker-independent: {self.folds}-fold cross-validation grouped by speaker "
            f"({len(_speakers(utterances))} speakers, stratified by class where possible)"
        )


@dataclass(frozen=True, kw_only=True)
class LeaveOneSpeakerOut(Protocol):
    """One fold per speaker: train on every other speaker, test on that one."""

    name = "loso"
    speaker_independent = True
    missing_test_classes: str = param(
        "warn", "a speaker lacking a class (EMO-DB's 08 has no disgust): stop, or warn", choices=MISSING_TEST_CLASSES
    )

    def missing_test_class_policy(self) -> str:
        return self.missing_test_classes

    def split(self, utterances: list[Utterance], seed: int) -> list[Fold]:
        speakers = _speakers(utterances)
        if len(speakers) < 2:
            raise SerkitError(
                f"protocol: leave-one-speaker-out needs at least 2 speakers; the data has {len(speakers)}"
            )
        groups = [u.speaker for u in utterances]
        from sklearn.model_selection import LeaveOneGroupOut

        splits = LeaveOneGroupOut().split(np.zeros(len(groups)), groups=groups)
        return _folds_from(splits, utterances, lambda test, us: f"speaker-{us[int(test[0])].speaker}")

    def describe(self, utterances: list[Utterance]) -> str:
        n = len(_speakers(utterances))
        return f"speaker-independent, {n} folds, leave-one-speaker-out"


@dataclass(frozen=True, kw_only=True)
class FixedSpeakers(Protocol):
    """Folds given as test-speaker lists in the recipe (e.g. RAVDESS's six folds of four actors)."""

    name = "fixed"
    speaker_independent = True
    test_speakers: list[list[str]] = param(help="one list of test speakers per fold, e.g. [['01', '02'], ['03']]")
    train_speakers: list[str] = param([], "training speakers; empty means every speaker outside the fold's test list")
    missing_test_classes: str = param(
        "error", "a fold whose test part lacks a class: stop, or warn", choices=MISSING_TEST_CLASSES
    )

    def missing_test_class_policy(self) -> str:
        return self.missing_test_classes

    def validate(self) -> None:
        if not self.test_speakers or not all(self.test_speakers):
            raise ValueError("test_speakers needs at least one non-empty list of speakers")

    def split(self, utterances: list[Utterance], seed: int) -> list[Fold]:
        speakers = _speakers(utterances)
        for key, named in [(f"test_speakers[{i}]", group) for i, group in enumerate(self.test_speakers)] + [
            ("train_speakers", self.train_speakers)
        ]:
            absent = [s for s in named if s not in speakers]
            if absent:
                raise SerkitError(
                    f"protocol.{key}: speaker(s) {', '.join(absent)} not in the dataset "
                    f"(speakers: {', '.join(speakers)})"
                )
        folds = []
        for i, group in enumerate(self.test_speakers):
            overlap = set(group) & set(self.train_speakers)
            if overlap:
                raise SerkitError(
                    f"protocol.test_speakers[{i}]: speaker(s) {', '.join(sorted(overlap))} are also training speakers"
                )
            train_set = set(self.train_speakers) or set(speakers) - set(group)
            train = [j for j, u in enumerate(utterances) if u.speaker in train_set]
            test = [j for j, u in enumerate(utterances) if u.speaker in group]
            folds.append(Fold(f"fold{i + 1}", train, test))
        return folds

    def describe(self, utterances: list[Utterance]) -> str:
        lists = "; ".join(",".join(group) for group in self.test_speakers)
        return f"speaker-independent, {len(self.test_speakers)} fixed fold(s), test speakers per fold: {lists}"


@dataclass(frozen=True, kw_only=True)
class CrossCorpus(Protocol):
    """Train on the recipe's dataset, test on another corpus, labels mapped to a shared set."""

    name = "cross_corpus"
    speaker_independent = True
    test_dataset: str = param(help="dataset component to test on, e.g. 'emodb'")
    test_root: str = param(help="root folder of the test dataset")
    train_map: dict[str, str] = param({}, "training label -> shared label; unlisted labels are dropped")
    test_map: dict[str, str] = param({}, "test label -> shared label; unlisted labels are dropped")

    def test_corpus(self) -> Dataset:
        """The corpus tested on."""
        from serkit.core.registry import get_registry

        entry = get_registry().get("datasets", self.test_dataset, "protocol.test_dataset")
        test_component = entry.cls.from_params({"root": self.test_root}, "protocol (test dataset)")
        assert isinstance(test_component, Dataset)
        return test_component

    def prepare(self, scan: Scan, dataset: Dataset) -> Scan:
        test_scan = self.test_corpus().scan()
        if scan.relabel is not None:  # the recipe's [labels], on the test corpus as on the training one
            test_scan = scan.relabel.apply(test_scan, f"test corpus '{self.test_dataset}'")
        train, train_dropped = _mapped(scan.utterances, self.train_map, "train")
        test, test_dropped = _mapped(test_scan.utterances, self.test_map, "test")
        if self.train_map:  # the order the mapped classes first occur in (as serkit 0.2 had it)
            shared = list(dict.fromkeys(u.label for u in train))
        else:  # the dataset's (or the label map's) class order
            shared = [label for label in scan.labels if any(u.label == label for u in train)]
        test_counts = Counter(u.label for u in test)
        both = [label for label in shared if test_counts[label]]
        hint = f"; map them, or keep the classes both corpora have with labels.keep = {both!r}" if both else ""
        empty = [label for label in shared if test_counts[label] == 0]
        if empty:
            raise SerkitError(
                f"protocol.test_map: shared class(es) {', '.join(empty)} have no utterances in {self.test_dataset} "
                f"after mapping{hint}"
            )
        extra = sorted(set(test_counts) - set(shared))
        if extra:
            raise SerkitError(
                f"protocol.test_map: class(es) {', '.join(extra)} do not occur in the training data{hint}"
            )
        notes = [*scan.notes, *(f"test corpus: {note}" for note in test_scan.notes)]
        warnings = [*scan.warnings, *(f"test corpus: {warning}" for warning in test_scan.warnings)]
        for side, dropped in (("training", train_dropped), ("test", test_dropped)):
            if dropped:
                warnings.append(
                    f"unmapped {side} classes left out: " + ", ".join(f"{k} ({n})" for k, n in sorted(dropped.items()))
                )
        return Scan(train + test, shared, notes, warnings, scan.ignored, scan.unmatched, scan.relabel)

    def split(self, utterances: list[Utterance], seed: int) -> list[Fold]:
        train = [i for i, u in enumerate(utterances) if u.meta.get("corpus") == "train"]
        test = [i for i, u in enumerate(utterances) if u.meta.get("corpus") == "test"]
        return [Fold("cross-corpus", train, test)]

    def describe(self, utterances: list[Utterance]) -> str:
        n_train = sum(u.meta.get("corpus") == "train" for u in utterances)
        labels = list(dict.fromkeys(u.label for u in utterances))
        return (
            f"cross-corpus, speaker-independent: train on the recipe's dataset ({n_train} utterances), test on "
            f"{self.test_dataset} ({len(utterances) - n_train} utterances), {len(labels)} shared classes"
        )


@dataclass(frozen=True, kw_only=True)
class LeaveOneCorpusOut(Protocol):
    """One fold per corpus of a ``[[dataset]]`` union: train on the other corpora, test on that one.

    With two corpora and ``test`` naming one, it is ``cross_corpus`` on the union (whose utterances are marked
    by their corpus's name, where ``cross_corpus`` marks them "train" and "test")."""

    name = "loco"
    speaker_independent = True
    test: list[str] = param([], "the corpora to leave out, a fold each (default: every corpus)")
    missing_test_classes: str = param(
        "error", "a corpus lacking a class the others have: stop, or warn", choices=MISSING_TEST_CLASSES
    )

    def missing_test_class_policy(self) -> str:
        return self.missing_test_classes

    def split(self, utterances: list[Utterance], seed: int) -> list[Fold]:
        corpora = list(dict.fromkeys(str(u.meta.get("corpus", "")) for u in utterances))
        if len(corpora) < 2 or "" in corpora:
            raise SerkitError(
                "protocol: loco leaves one corpus out of several: give two or more [[dataset]] tables "
                f"(this data has {'no corpus marks' if '' in corpora else f'one corpus, {corpora[0]}'})"
            )
        absent = [name for name in self.test if name not in corpora]
        if absent:
            raise SerkitError(f"protocol.test: no corpus {', '.join(absent)} (the recipe's: {', '.join(corpora)})")
        marks = [str(u.meta.get("corpus")) for u in utterances]
        return [
            Fold(
                f"corpus-{name}",
                [i for i, mark in enumerate(marks) if mark != name],
                [i for i, mark in enumerate(marks) if mark == name],
            )
            for name in self.test or corpora
        ]

    def describe(self, utterances: list[Utterance]) -> str:
        sizes = Counter(str(u.meta.get("corpus")) for u in utterances)
        left = self.test or list(sizes)
        if len(sizes) == 2 and len(left) == 1:  # cross_corpus on the union
            (train,) = (name for name in sizes if name != left[0])
            return (
                f"cross-corpus, speaker-independent: train on {train} ({sizes[train]} utterances), test on "
                f"{left[0]} ({sizes[left[0]]} utterances)"
            )
        each = ", ".join(f"{name} ({sizes[name]})" for name in left)
        return f"speaker-independent, leave one corpus out: {len(left)} fold(s), each testing on one of {each}"


@dataclass(frozen=True, kw_only=True)
class LeaveOneGroupOut(Protocol):
    """One fold per value of a metadata column that holds whole speakers (IEMOCAP's ``session``): train on the
    other values, test on that one."""

    name = "logo"
    speaker_independent = True
    column: str = param(help="the utterance metadata whose values are the folds, e.g. 'session' (IEMOCAP)")
    missing_test_classes: str = param(
        "warn", "a group lacking a class the others have: stop, or warn", choices=MISSING_TEST_CLASSES
    )

    def missing_test_class_policy(self) -> str:
        return self.missing_test_classes

    def _groups(self, utterances: list[Utterance]) -> list[str]:
        values = [u.meta.get(self.column) for u in utterances]
        lacking = [u.path for u, value in zip(utterances, values, strict=True) if value is None]
        if lacking:
            raise SerkitError(
                f"protocol.column: {len(lacking)} utterance(s) have no '{self.column}', e.g. {lacking[0]}"
            )
        return [str(v) for v in values]

    def split(self, utterances: list[Utterance], seed: int) -> list[Fold]:
        groups = self._groups(utterances)
        if len(set(groups)) < 2:
            raise SerkitError(f"protocol.column: every utterance has the same '{self.column}' ({groups[0]}): one group")
        where: dict[str, set[str]] = {}
        for u, group in zip(utterances, groups, strict=True):
            where.setdefault(u.speaker, set()).add(group)
        split_speakers = sorted(s for s, found in where.items() if len(found) > 1)
        if split_speakers:
            first = split_speakers[0]
            raise SerkitError(
                f"protocol.column: speaker {first} is in {self.column} {', '.join(sorted(where[first]))} (and "
                f"{len(split_speakers) - 1} more speakers in several): folds by '{self.column}' would not be "
                "speaker-independent"
            )
        return [
            Fold(
                f"{self.column}-{value}",
                [i for i, g in enumerate(groups) if g != value],
                [i for i, g in enumerate(groups) if g == value],
            )
            for value in sorted(set(groups))
        ]

    def describe(self, utterances: list[Utterance]) -> str:
        groups = Counter(self._groups(utterances))
        each = ", ".join(f"{value} ({n})" for value, n in sorted(groups.items()))
        return f"speaker-independent, leave one {self.column} out: {len(groups)} folds, testing on {each}"


@dataclass(frozen=True, kw_only=True)
class Partition(Protocol):
    """A corpus's own partitions (MSP-Podcast's Split_Set, a manifest's column): train on some, test on one."""

    name = "partition"
    column: str = param("split", "the utterance metadata (a manifest column) that names each utterance's partition")
    train: list[str] = param(["Train"], "the partitions to train on (validation is drawn from them)")
    test: str = param("Test1", "the partition to test on")

    def split(self, utterances: list[Utterance], seed: int) -> list[Fold]:
        values = [u.meta.get(self.column) for u in utterances]
        lacking = [u.path for u, value in zip(utterances, values, strict=True) if value is None]
        if lacking:
            raise SerkitError(
                f"protocol.column: {len(lacking)} utterance(s) have no '{self.column}', e.g. {lacking[0]}"
            )
        found = sorted({str(v) for v in values})
        for key, named in (("train", self.train), ("test", [self.test])):
            absent = [v for v in named if v not in found]
            if absent:
                raise SerkitError(
                    f"protocol.{key}: no utterance in partition(s) {', '.join(absent)} (found: {', '.join(found)})"
                )
        train = [i for i, v in enumerate(values) if v in self.train]
        test = [i for i, v in enumerate(values) if v == self.test]
        return [Fold(self.test, train, test)]

    def describe(self, utterances: list[Utterance]) -> str:
        train = {u.speaker for u in utterances if u.meta.get(self.column) in self.train}
        test = {u.speaker for u in utterances if u.meta.get(self.column) == self.test}
        design = (
            f"speaker-dependent ({len(train & test)} speakers on both sides)" if train & test else "speaker-independent"
        )
        return f"{design}: the corpus's partitions, train on {', '.join(self.train)}, test on {self.test}"


def _mapped(utterances: list[Utterance], mapping: dict[str, str], corpus: str) -> tuple[list[Utterance], Counter]:
    kept: list[Utterance] = []
    dropped: Counter[str] = Counter()
    for u in utterances:
        label = mapping.get(u.label) if mapping else u.label
        if label is None:
            dropped[u.label] += 1
            continue
        kept.append(replace(u, label=label, speaker=f"{corpus}:{u.speaker}", meta=u.meta | {"corpus": corpus}))
    return kept, dropped


@hookimpl
def register_protocols(register):
    from serkit.corpora.emobox import EmoBoxFolds

    for cls in (
        RandomSplit,
        SpeakerKFold,
        LeaveOneSpeakerOut,
        FixedSpeakers,
        CrossCorpus,
        LeaveOneCorpusOut,
        LeaveOneGroupOut,
        Partition,
        EmoBoxFolds,
    ):
        register(cls)
