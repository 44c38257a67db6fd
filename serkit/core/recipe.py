"""TOML recipes: parsing, ``--set`` overrides, validation and the resolved recipe.

A recipe is data: values are read by ``tomllib`` and checked against what each component
declares; nothing in a recipe is ever evaluated as code.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

from serkit.core.components import (
    SHAPES,
    STORAGE_DTYPES,
    Augmenter,
    Component,
    Dataset,
    FeatureExtractor,
    Model,
    Preprocessor,
    Protocol,
)
from serkit.core.errors import SerkitError
from serkit.core.kinds import Kind, all_kinds
from serkit.core.labels import Relabel
from serkit.core.params import validate_params
from serkit.core.policy import build_entry
from serkit.core.registry import Registry, get_registry
from serkit.core.settings import (
    AugmentationSettings,
    CalibrateSettings,
    LabelsSettings,
    LeakSettings,
    NormaliseSettings,
    RaySettings,
    ReportSettings,
    RunSettings,
    TaskSettings,
    TrackSettings,
    TrainSettings,
)
from serkit.core.suggest import did_you_mean
from serkit.core.union import Corpora

SETTINGS: dict[str, type] = {
    "run": RunSettings,
    "labels": LabelsSettings,
    "task": TaskSettings,
    "augmentation": AugmentationSettings,
    "normalise": NormaliseSettings,
    "train": TrainSettings,
    "calibrate": CalibrateSettings,
    "report": ReportSettings,
    "ray": RaySettings,
    "track": TrackSettings,
    "leaks": LeakSettings,
}


def section_order() -> list[str]:
    """Recipe sections in the order ``recipe.toml`` writes them: ``[run]``, the component kinds in
    table order with ``[labels]`` after the dataset, ``[augmentation]`` after ``[[augment]]`` and ``[normalise]``
    just before the model it feeds, ``[train]``, ``[calibrate]``, ``[report]``, ``[ray]``, ``[track]`` and ``[leaks]``
    last."""
    order = ["run"]
    for kind in all_kinds():
        order += ["normalise", kind.section] if kind.section == "model" else [kind.section]
        order += ["labels", "task"] if kind.section == "dataset" else []
        order += ["augmentation"] if kind.section == "augment" else []
    return [*order, "train", "calibrate", "report", "ray", "track", "leaks"]


def component_sections() -> dict[str, Kind]:
    return {kind.section: kind for kind in all_kinds()}


@dataclass(frozen=True)
class Recipe:
    """A validated recipe: settings and component instances, defaults filled in."""

    run: RunSettings
    dataset: Dataset
    protocol: Protocol
    preprocess: list[Preprocessor]
    augment: list[Augmenter]
    features: FeatureExtractor
    normalise: NormaliseSettings
    model: Model
    train: TrainSettings
    calibrate: CalibrateSettings = field(default_factory=CalibrateSettings)
    labels: LabelsSettings = field(default_factory=LabelsSettings)
    task: TaskSettings = field(default_factory=TaskSettings)
    augmentation: AugmentationSettings = field(default_factory=AugmentationSettings)
    report: ReportSettings = field(default_factory=ReportSettings)
    ray: RaySettings = field(default_factory=RaySettings)
    track: TrackSettings = field(default_factory=TrackSettings)
    leaks: LeakSettings = field(default_factory=LeakSettings)
    source: str = "<recipe>"
    #: Components of kinds that have no field of their own above, by recipe section.
    more: dict[str, Any] = field(default_factory=dict)

    def section(self, key: str) -> Any:
        """A section's settings or component(s), by its recipe key."""
        return self.more[key] if key in self.more else getattr(self, key)

    def to_dict(self) -> dict[str, Any]:
        """The fully resolved recipe as plain data (what ``recipe.toml`` in a run folder holds)."""
        out: dict[str, Any] = {}
        for key in section_order():
            value = self.section(key)
            if key == "leaks" and not self.leaks.words():
                continue  # an honest run's recipe.toml (and its identity) as before [leaks] existed
            if isinstance(value, list):
                out[key] = [c.to_entry() for c in value]
            elif isinstance(value, Corpora):  # a union of corpora: [[dataset]]
                out[key] = value.entries()
            elif isinstance(value, Component):
                out[key] = value.to_entry()
            else:
                out[key] = asdict(value)
        return out

    def to_toml(self) -> str:
        return tomli_w.dumps(self.to_dict())


def read_toml(path: str | Path, what: str) -> dict[str, Any]:
    """A TOML file as data; a missing, unreadable or invalid file is one line naming ``what`` and the file."""
    path = Path(path)
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise SerkitError(f"{what} '{path}': file not found") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise SerkitError(f"{what} '{path}': cannot read ({exc})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise SerkitError(f"{what} '{path}': invalid TOML ({exc})") from exc


#: What a trained model needs to predict: the chain that turns audio into its input, and the model.
#: Augmenters, the dataset and the protocol take part in training only.
INFERENCE_SECTIONS = ("preprocess", "features", "model")


@dataclass(frozen=True)
class InferenceRecipe:
    """The part of a run's recipe that prediction and export use (validated without the rest)."""

    run: RunSettings
    preprocess: list[Preprocessor]
    features: FeatureExtractor
    normalise: NormaliseSettings
    model: Model
    source: str = "<recipe>"

    def to_dict(self) -> dict[str, Any]:
        return {
            "preprocess": [{"name": p.name, **p.to_params()} for p in self.preprocess],
            "features": {"name": self.features.name, **self.features.to_params()},
            "model": {"name": self.model.name, **self.model.to_params()},
        }


def load_inference_recipe(path: str | Path, registry: Registry | None = None) -> InferenceRecipe:
    """The inference sections of a run folder's recipe: training-only components (augmenters from a
    plugin that is no longer installed, data folders that moved) are neither loaded nor checked."""
    path = Path(path)
    raw = read_toml(path, "recipe")
    registry = registry or get_registry()
    try:
        kinds = component_sections()
        values: dict[str, Any] = {}
        for key in ("run", "normalise"):
            section = raw.get(key, {})
            values[key] = SETTINGS[key](
                **validate_params(SETTINGS[key], section if isinstance(section, dict) else {}, key)
            )
        for key in INFERENCE_SECTIONS:
            kind, section = kinds[key], raw.get(key, kinds[key].default)
            if kind.many:
                values[key] = [_component(registry, kind.key, e, f"{key}[{i}]") for i, e in enumerate(section or [])]
            else:
                values[key] = _component(registry, kind.key, section, key)
        recipe = InferenceRecipe(**values, source=str(path))
        check_shapes(recipe.features, recipe.model)
        return recipe
    except SerkitError as exc:
        raise SerkitError(f"recipe '{path}': {exc}") from exc


def resolve_paths(raw: dict[str, Any], registry: Registry, base: Path) -> None:
    """Make every relative value of a path parameter in ``raw`` absolute against ``base`` (in place).

    Values already absolute (resolved by an earlier layer) are left alone, so layers apply in
    order: the recipe file's folder, then a sweep file's, then the working directory.
    """
    for kind in all_kinds():
        section = raw.get(kind.section)
        entries = section if isinstance(section, list) else [section]
        for entry in entries:
            if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
                continue
            found = registry.entries[kind.key].get(entry["name"])
            if found is None:
                continue  # an unknown name: the recipe check names it
            for spec in found.cls.params():
                value = entry.get(spec.name)
                if spec.path and isinstance(value, str) and value and not Path(value).expanduser().is_absolute():
                    entry[spec.name] = os.path.normpath(base / value)


def load_recipe(
    path: str | Path,
    overrides: Sequence[str] = (),
    registry: Registry | None = None,
    layers: Sequence[tuple[Sequence[str], Path]] = (),
    file_base: Path | None = None,
) -> Recipe:
    """Read, override and validate a recipe file; every error names the file and key.

    Relative path parameters in the file are read from its folder; ``layers`` (overrides written in
    another file, with that file's folder) apply next, then ``overrides`` (from the command line,
    read from the working directory). ``file_base`` reads the file's own relative paths from another
    folder (a run folder's recipe.toml written before paths were stored absolute: the working directory).
    """
    path = Path(path)
    registry = registry or get_registry()
    raw = read_toml(path, "recipe")
    resolve_paths(raw, registry, (file_base or path.parent).absolute())
    for texts, base in [*layers, (overrides, Path.cwd())]:
        for override in texts:
            apply_override(raw, override)
        resolve_paths(raw, registry, base.absolute())
    try:
        return build_recipe(raw, registry or get_registry(), source=str(path))
    except SerkitError as exc:
        raise SerkitError(f"recipe '{path}': {exc}") from exc


_SEGMENT = re.compile(r"^([A-Za-z_][\w-]*)((?:\[\d+\])*)$")


def _parse_key(key: str) -> list[str | int]:
    parts: list[str | int] = []
    for segment in key.split("."):
        if segment.isdigit():
            parts.append(int(segment))
            continue
        match = _SEGMENT.match(segment)
        if not match:
            raise SerkitError(f"--set {key}: cannot parse key segment '{segment}'")
        parts.append(match.group(1))
        parts += [int(i) for i in re.findall(r"\[(\d+)\]", match.group(2))]
    return parts


def parse_value(text: str) -> Any:
    """A TOML value (``3``, ``1e-4``, ``true``, ``[1, 2]``, ``"x"``), else the bare text as a string."""
    try:
        return tomllib.loads(f"value = {text}")["value"]
    except tomllib.TOMLDecodeError:
        return text


def apply_override(raw: dict[str, Any], override: str) -> None:
    """Apply one ``key.path=value`` override to the raw recipe data in place."""
    key, sep, text = override.partition("=")
    if not sep or not key.strip():
        raise SerkitError(f"--set {override}: expected KEY=VALUE, e.g. train.max_epochs=3")
    parts = _parse_key(key.strip())
    sections = section_order()
    if parts[0] not in sections:
        raise SerkitError(f"--set {key}: unknown recipe section '{parts[0]}'{did_you_mean(str(parts[0]), sections)}")
    node: Any = raw
    for depth, part in enumerate(parts[:-1]):
        where = _key_text(parts[: depth + 1])
        if isinstance(part, int):
            if not isinstance(node, list) or part >= len(node):
                raise SerkitError(f"--set {key}: {where} does not exist")
            node = node[part]
        else:
            if not isinstance(node, dict):
                raise SerkitError(f"--set {key}: {_key_text(parts[:depth])} is not a table")
            node = node.setdefault(part, {})
    last = parts[-1]
    if isinstance(last, int):
        if not isinstance(node, list) or last >= len(node):
            raise SerkitError(f"--set {key}: {_key_text(parts)} does not exist")
    elif not isinstance(node, dict):
        raise SerkitError(f"--set {key}: {_key_text(parts[:-1])} is not a table")
    node[last] = parse_value(text.strip())


def _key_text(parts: list[str | int]) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def build_recipe(raw: dict[str, Any], registry: Registry, source: str = "<recipe>") -> Recipe:
    """Validate raw recipe data against the settings and the registered components."""
    sections = section_order()
    for key in raw:
        if key not in sections:
            raise SerkitError(f"{key}: unknown section{did_you_mean(key, sections)} (known: {', '.join(sections)})")
    values: dict[str, Any] = {"source": source}
    for key, cls in SETTINGS.items():
        section = raw.get(key, {})
        if not isinstance(section, dict):
            raise SerkitError(f"{key}: expected a table ([{key}])")
        values[key] = cls(**validate_params(cls, section, key))
    check_run_name(values["run"].name)
    fields = {f.name for f in dataclasses.fields(Recipe)}
    more: dict[str, Any] = {}
    for key, kind in component_sections().items():
        section = raw.get(key, kind.default)
        if section is None:
            raise SerkitError(f'{key}: section is missing (add [{key}] with name = "...")')
        if kind.many:
            if not isinstance(section, list):
                raise SerkitError(f"{key}: expected a list of tables ([[{key}]])")
            value: Any = [_entry(registry, kind.key, entry, f"{key}[{i}]") for i, entry in enumerate(section)]
        elif key == "dataset" and isinstance(section, list):  # [[dataset]]: several corpora, one training
            value = _corpora(registry, section)
        else:
            if not isinstance(section, dict):
                raise SerkitError(f"{key}: expected a table ([{key}])")
            value = _component(registry, kind.key, section, key)
        (values if key in fields else more)[key] = value
    recipe = Recipe(**values, more=more)
    check_shapes(recipe.features, recipe.model, recipe.augment)
    check_waveform_normalisation(recipe)
    check_augmentation(recipe)
    check_task(recipe)
    check_calibration(recipe)
    check_leaks(recipe)
    check_corpora(recipe)
    relabel_of(recipe, registry)
    return recipe


def check_corpora(recipe: Recipe) -> None:
    """What reads a corpus's marks needs a union of corpora: the by_corpus samplers and the loco protocol."""
    if isinstance(recipe.dataset, Corpora):
        return
    if recipe.train.sampler.startswith("by_corpus"):
        raise SerkitError(
            f'train.sampler: "{recipe.train.sampler}" balances the corpora of a [[dataset]] union; this recipe '
            f"reads one corpus ({recipe.dataset.name})"
        )
    if recipe.protocol.name == "loco":
        raise SerkitError(
            f"protocol: loco leaves one corpus out of several; this recipe reads one ({recipe.dataset.name}): "
            "give two or more [[dataset]] tables"
        )


def relabel_of(recipe: Recipe, registry: Registry | None = None) -> Relabel | None:
    """What the recipe's ``[labels]`` does (None: nothing); a SerkitError for an unknown map or class."""
    settings = recipe.labels
    if not settings.map and not settings.keep:
        return None
    label_map = (registry or get_registry()).label_map(settings.map, "labels.map") if settings.map else None
    if label_map is not None:
        unknown = [label for label in settings.keep if label not in label_map.classes]
        if unknown:
            raise SerkitError(
                f"labels.keep: {', '.join(unknown)} not among label map '{label_map.name}''s classes "
                f"({', '.join(label_map.classes)})"
            )
    if len(set(settings.keep)) != len(settings.keep):
        raise SerkitError("labels.keep: a class is listed twice")
    return Relabel(label_map, tuple(settings.keep))


def check_task(recipe: Recipe) -> None:
    """A regression names its targets, uses a model that regresses, and nothing that needs classes."""
    task, model = recipe.task, recipe.model
    if recipe.task.kind == "classification":
        if task.targets:
            raise SerkitError('task.targets: set task.kind = "regression" to predict them')
        if "classification" not in model.tasks:
            raise SerkitError(f"model: '{model.name}' is a regressor; it needs task.kind = \"regression\"")
        if task.rescale != "none":
            raise SerkitError('task.rescale: maps dimensional targets; set task.kind = "regression" to predict them')
        if getattr(recipe.dataset, "unagreed", False):
            raise SerkitError(
                "dataset.unagreed: keeps the turns without an agreed category (labelled 'no agreement') for a "
                "regression of their dimensions; a classification would learn it as an emotion "
                '(task.kind = "regression")'
            )
        return
    if task.weights != [1.0, 1.0] and task.kind != "joint":
        raise SerkitError('task.weights: weigh the heads of task.kind = "joint"; this task has one')
    if not task.targets:
        raise SerkitError('task.targets: name the metadata columns to predict (e.g. ["arousal", "valence"])')
    if len(set(task.targets)) != len(task.targets):
        raise SerkitError("task.targets: a target is listed twice")
    if task.kind == "joint":
        check_joint(recipe)
        return
    if "regression" not in model.tasks:
        raise SerkitError(
            f"model: '{model.name}' classifies; for task.kind = \"regression\" use a torch model, svr or ridge"
        )
    for key, value, fine in (
        ("calibrate.method", recipe.calibrate.method, "none"),
        ("train.class_weights", recipe.train.class_weights, "none"),
    ):
        if value != fine:
            raise SerkitError(f"{key}: '{value}' applies to classes; a regression (task.kind) has none")
    if recipe.train.sampler == "balanced":
        raise SerkitError('train.sampler: "balanced" draws classes equally; a regression has none (use shuffle)')


def check_joint(recipe: Recipe) -> None:
    """Classes and dimensions from one torch model: its heads weighted, and what it cannot do yet refused."""
    task, model = recipe.task, recipe.model
    if "joint" not in model.tasks:
        raise SerkitError(
            f"model: '{model.name}' is a scikit-learn model; task.kind = \"joint\" trains a torch model's two heads"
        )
    if len(task.weights) != 2 or min(task.weights) < 0 or max(task.weights) <= 0:
        raise SerkitError(
            "task.weights: two weights, of the class head's cross-entropy and of the regression head's loss, "
            f"not negative and not both 0 (got {task.weights})"
        )
    if recipe.calibrate.method != "none":
        raise SerkitError('calibrate.method: not yet for task.kind = "joint" (its class head is uncalibrated)')
    if recipe.ray.train_workers > 1:
        raise SerkitError('ray.train_workers: one training over several workers is not yet for task.kind = "joint"')
    if getattr(recipe.dataset, "unagreed", False):
        raise SerkitError(
            'dataset.unagreed: not yet for task.kind = "joint": every utterance of a joint task has a class (one '
            "without a number for a target trains the class head alone)"
        )


def check_augmentation(recipe: Recipe) -> None:
    """Online augmentation draws a torch model's examples each epoch, in loader processes, normalised by the fit
    part's statistics; what it cannot do yet is refused in one line."""
    if recipe.augmentation.mode != "online" or not recipe.augment:
        return
    why = ""
    if recipe.model.implement == "estimator":
        why = f"model '{recipe.model.name}' is fitted once, not over epochs (use copies, or a torch model)"
    elif recipe.normalise.method == "zscore" and recipe.normalise.scope == "speaker":
        why = 'per-speaker normalisation is fitted per copy; use normalise.scope = "band" or "global" (or copies)'
    elif recipe.ray.train_workers > 1:
        why = "ray.train_workers > 1 sends the fit part to its workers as one array; use one worker (or copies)"
    elif recipe.features.batched:
        why = (
            f"features '{recipe.features.name}' are extracted in the main process in batches, and online examples are "
            "made in loader processes; use copies"
        )
    if why:
        raise SerkitError(f"augmentation.mode: 'online' {why}")


def check_waveform_normalisation(recipe: Recipe) -> None:
    """Per-dimension statistics of a waveform would be per sample index: meaningless, so refused; so is
    batching by length of features whose rows are not waveforms."""
    if recipe.train.sampler == "by_length" and recipe.features.output_shape() != "waveform":
        raise SerkitError(
            f'train.sampler: "by_length" groups waveforms by their unpadded length; features '
            f"'{recipe.features.name}' give {recipe.features.output_shape()} rows (use shuffle or balanced)"
        )
    normalise = recipe.normalise
    if recipe.features.output_shape() == "waveform" and normalise.method == "zscore" and normalise.scope == "band":
        raise SerkitError(
            'normalise.scope: "band" statistics of a waveform would be per sample index; use method = "none" '
            '(a speech encoder normalises each clip itself) or scope = "global" or "speaker"'
        )


def check_calibration(recipe: Recipe) -> None:
    """Calibration is fitted on the validation part: refit leaves none, and scikit-learn's methods need
    a scikit-learn model."""
    method = recipe.calibrate.method
    if method == "none":
        return
    if recipe.train.refit:
        raise SerkitError(
            f"calibrate.method: '{method}' is fitted on the validation part, which train.refit = true trains on; "
            "set one of them"
        )
    if method in ("sigmoid", "isotonic") and recipe.model.implement != "estimator":
        raise SerkitError(
            f"calibrate.method: '{method}' is scikit-learn's calibration of a scikit-learn model; model "
            f"'{recipe.model.name}' is not one (use \"temperature\")"
        )


def check_leaks(recipe: Recipe) -> None:
    """A deliberate leak must be one the recipe can have, or its figure would be an honest run's under a leak's name."""
    leaks = recipe.leaks
    why = ""
    if leaks.augment_before_split and (recipe.augmentation.mode != "copies" or not recipe.augment):
        why = "augment_before_split: needs [[augment]] entries in copies mode (the copies of test utterances it adds)"
    elif leaks.normalise_on_all and (recipe.normalise.method != "zscore" or recipe.normalise.scope == "speaker"):
        why = 'normalise_on_all: needs normalise.method = "zscore" with scope "band" or "global"'
    elif leaks.select_on_test and recipe.model.implement == "estimator":
        why = f"select_on_test: model '{recipe.model.name}' is fitted once; it has no epochs to choose"
    elif leaks.speaker_dependent_split and recipe.protocol.speaker_independent:
        why = f"speaker_dependent_split: protocol '{recipe.protocol.name}' keeps speakers apart"
    if why:
        raise SerkitError(f"leaks.{why}")


def check_run_name(name: str, key: str = "run.name") -> None:
    """A run name becomes a folder name under run.output: no path separators, no '..', nothing hidden."""
    if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.+=-]*", name) or ".." in name:
        raise SerkitError(
            f"{key}: '{name}' cannot name a run folder; use letters, digits and . _ - + = "
            "(no spaces, path separators or '..', not starting with '.')"
        )


def check_shapes(features: FeatureExtractor, model: Model, augment: Sequence[Augmenter] = ()) -> None:
    """The model and any feature-stage augmenter take what the feature extractor gives; checked
    before any feature is computed."""
    shape, accepted, dtype = features.output_shape(), model.accepted_shapes(), features.storage_dtype()
    if shape not in SHAPES:
        raise SerkitError(f"features: '{features.name}' declares shape '{shape}' (known: {', '.join(SHAPES)})")
    if dtype not in STORAGE_DTYPES:
        raise SerkitError(f"features: '{features.name}' declares storage '{dtype}' ({' or '.join(STORAGE_DTYPES)})")
    if shape not in accepted:
        raise SerkitError(
            f"model: '{model.name}' takes {' or '.join(s + 's' for s in accepted)}, but features '{features.name}' "
            f"gives {shape}s {SHAPES[shape]}; choose a model that takes {shape}s or other features"
        )
    for index, augmenter in enumerate(augment):
        takes = getattr(augmenter, "accepts", None)
        if augmenter.stage == "features" and takes is not None and shape not in takes:
            raise SerkitError(
                f"augment[{index}]: '{augmenter.name}' transforms {' or '.join(s + 's' for s in takes)}, "
                f"but features '{features.name}' gives {shape}s"
            )


def _entry(registry: Registry, kind: str, entry: Any, where: str) -> Any:
    """One entry of a list section: an augmenter entry may carry a policy (:func:`~serkit.core.policy.build_entry`)."""
    if kind != "augmenters":
        return _component(registry, kind, entry, where)

    def build(name: Any, values: dict[str, Any] | None, at: str) -> Any:
        cls = registry.get(kind, name, f"{at}.name" if values is not None else at).cls
        return cls if values is None else cls.from_params(values, at)

    return build_entry(entry, where, build)


def _corpora(registry: Registry, entries: list[Any]) -> Dataset:
    """``[[dataset]]`` entries: one dataset, or the union of several (:class:`~serkit.core.union.Corpora`)."""
    if not entries:
        raise SerkitError('dataset: the list is empty (give [[dataset]] tables with name = "..." and root = "...")')
    members = []
    for k, entry in enumerate(entries):
        member = _component(registry, "datasets", entry, f"dataset[{k}]")
        assert isinstance(member, Dataset)
        members.append(member)
    return members[0] if len(members) == 1 else Corpora(members=tuple(members))


def _component(registry: Registry, kind: str, entry: Any, where: str) -> Component:
    if not isinstance(entry, dict):
        raise SerkitError(f'{where}: expected a table with name = "..."')
    if "name" not in entry:
        raise SerkitError(f"{where}.name: missing (which component to use)")
    params = {k: v for k, v in entry.items() if k != "name"}
    cls = registry.get(kind, entry["name"], f"{where}.name").cls
    return cls.from_params(params, where)
