"""Typed records passed between the stages of a run (:mod:`.folder` reads and writes them)."""

from __future__ import annotations

from dataclasses import MISSING, asdict, dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from serkit.core.components import Utterance
from serkit.core.version import RUN_FORMAT

if TYPE_CHECKING:
    from serkit.data.split import FoldPlan
from serkit.data.split import FoldPlan


@dataclass(frozen=True)
class Corpus:
    """What the scan stage found: readable utterances, the class order, and notes for the report."""

    utterances: list[Utterance]
    labels: list[str]
    notes: list[str] = field(default_factory=list)

    @property
    def speakers(self) -> int:
        return len({u.speaker for u in self.utterances})

    def noted(self, notes: list[str]) -> Corpus:
        """The same corpus with more notes for the report."""
        return replace(self, notes=[*self.notes, *notes]) if notes else self


@dataclass(frozen=True)
class FoldSizes:
    train: int
    fit: int
    validation: int
    test: int
    augmented: int

    @classmethod
    def of(cls, plan: FoldPlan, copies: int) -> FoldSizes:
        """A fold's part sizes in utterances, and how many augmented copies it trained on."""
        return cls(len(plan.train), len(plan.fit), len(plan.validation), len(plan.test), len(plan.fit) * copies)


@dataclass(frozen=True)
class FoldResult:
    """One fold trained and tested; ``folds/<id>/result.json`` holds it."""

    id: str
    name: str
    repeat: int
    seed: int
    metrics: dict[str, Any]
    history: list[dict[str, float]]
    best_epoch: int
    epochs: int
    stopped_early: bool
    device: str
    precision: str
    normaliser: dict[str, Any]
    input_shape: list[int]
    probabilities: np.ndarray
    test: list[int]
    sizes: FoldSizes
    #: The fitted model's file in the fold's folder (the torch model's where a result does not say).
    model_file: str = ""
    #: How the model was trained, in words.
    method: str = ""
    #: The calibration fitted on the fold's validation part (``Calibration.to_json``), where calibrated.
    calibration: dict[str, Any] = field(default_factory=dict)
    #: The test probabilities before calibration, where calibrated (``probabilities`` are after it).
    uncalibrated: np.ndarray | None = None
    #: What the features say on the validation part: ``importance`` (vectors) or ``occlusion`` (images).
    explanation: dict[str, Any] = field(default_factory=dict)

    #: The keys of a fold in metrics.json.
    SUMMARY = (
        "id",
        "name",
        "repeat",
        "seed",
        "metrics",
        "best_epoch",
        "epochs",
        "stopped_early",
        "sizes",
        "calibration",
    )

    def to_json(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        before = None if self.uncalibrated is None else self.uncalibrated.tolist()
        return data | {
            "probabilities": self.probabilities.tolist(),
            "sizes": asdict(self.sizes),
            "uncalibrated": before,
        }

    def summary(self) -> dict[str, Any]:
        data = self.to_json()
        return {key: data[key] for key in self.SUMMARY}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FoldResult:
        required = {f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING}
        values = {f.name: data[f.name] for f in fields(cls) if f.name in data or f.name in required}
        values["probabilities"] = np.asarray(data["probabilities"], dtype=np.float64)
        if data.get("uncalibrated") is not None:
            values["uncalibrated"] = np.asarray(data["uncalibrated"], dtype=np.float64)
        values["sizes"] = FoldSizes(**data["sizes"])
        return cls(**values)


@dataclass(frozen=True)
class RunSummary:
    """Everything metrics.json holds: the protocol, the data, pooled and per-fold results, timings."""

    run_name: str
    protocol: str
    started: str
    serkit_version: str
    dataset: dict[str, Any]
    fold: dict[str, int]
    metrics: dict[str, Any]
    pooled_over_folds: bool
    mean: dict[str, dict[str, float]]
    folds: list[dict[str, Any]]
    device: str
    precision: str
    pipeline: str
    training: str
    notes: list[str]
    timings: dict[str, float]
    #: What makes the results mean less than they seem (a collapsed model, leakage across parts).
    warnings: list[str] = field(default_factory=list)
    #: The split audit (``SplitAudit.to_json``): what the parts share (absent before serkit 0.3).
    split_audit: dict[str, Any] = field(default_factory=dict)
    #: How training examples were augmented: ``mode`` (copies or online) and the policy in ``words``
    #: (absent before serkit 0.3: copies then).
    augmentation: dict[str, str] = field(default_factory=dict)
    #: The deliberate leaks the run was made with (``[leaks]``: the leak audit's variants), in words; a run
    #: with any is not a result, and its warnings say so first.
    leaks: list[str] = field(default_factory=list)
    format_version: int = RUN_FORMAT

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        return {"format_version": data.pop("format_version"), **data}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunSummary:
        """From metrics.json; fields added after 0.2 (with defaults) may be absent."""
        required = {f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING}
        return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in required or f.name in data})
