"""Evaluation protocols."""

from __future__ import annotations

from dataclasses import dataclass

from sklearn.model_selection import StratifiedShuffleSplit

from serkit.components import Fold, Protocol, Utterance
from serkit.errors import SerkitError
from serkit.hookspecs import hookimpl
from serkit.params import param


@dataclass(frozen=True, kw_only=True)
class RandomSplit(Protocol):
    """The paper's stratified random train/test split (speaker-dependent)."""

    name = "random"
    test_size: float = param(0.2, "fraction of utterances held out for testing", gt=0, lt=1)

    def split(self, utterances: list[Utterance], seed: int) -> list[Fold]:
        labels = [u.label for u in utterances]
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


@hookimpl
def register_protocols(register):
    register(RandomSplit)
