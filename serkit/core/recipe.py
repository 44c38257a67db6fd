"""TOML recipes: parsing, ``--set`` overrides, validation and the resolved recipe.

A recipe is data: values are read by ``tomllib`` and checked against what each component
declares; nothing in a recipe is ever evaluated as code.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import tomli_w

from serkit.core.components import Augmenter, Component, Dataset, FeatureExtractor, Model, Preprocessor, Protocol
from serkit.core.errors import SerkitError
from serkit.core.params import param, validate_params
from serkit.core.registry import Registry, get_registry
from serkit.core.suggest import did_you_mean


@dataclass(frozen=True, kw_only=True)
class RunSettings:
    name: str = param("run", "run name; the run folder is <output>/<name>-<timestamp>")
    seed: int = param(42, "seed for the split, augmentation and training", ge=0)
    repeats: int = param(1, "run the protocol this many times with seeds seed, seed+1, ...", ge=1)
    device: str = param("auto", "torch device: auto uses CUDA when present", choices=("auto", "cpu", "cuda"))
    output: str = param("runs", "folder that receives the run folders")
    cache_dir: str = param("", "feature cache folder; empty uses $SERKIT_CACHE or ~/.cache/serkit")
    workers: int = param(0, "parallel worker processes for the audio pipeline; 0 uses every core", ge=0)
    skip_unreadable: bool = param(False, "skip unreadable audio files (listed in the log) instead of stopping")


@dataclass(frozen=True, kw_only=True)
class NormaliseSettings:
    method: str = param(
        "zscore", "feature normalisation; statistics come from the training part only", choices=("zscore", "none")
    )
    scope: str = param(
        "band", "z-score per frequency band (row) or one global mean and deviation", choices=("band", "global")
    )


@dataclass(frozen=True, kw_only=True)
class TrainSettings:
    max_epochs: int = param(100, "upper bound on training epochs", ge=1)
    batch_size: int = param(16, "mini-batch size", ge=1)
    learning_rate: float = param(1e-4, "Adam learning rate", gt=0)
    weight_decay: float = param(0.0, "Adam weight decay", ge=0)
    patience: int = param(10, "early stopping: epochs without validation-loss improvement", ge=1)
    validation_size: float = param(0.1, "fraction of the training part held out for early stopping", gt=0, lt=1)
    precision: str = param(
        "auto",
        "auto: bf16 on CPUs that support it and fp16 on CUDA; fp32 disables it",
        choices=("auto", "fp32", "bf16", "fp16"),
    )


SETTINGS = {"run": RunSettings, "normalise": NormaliseSettings, "train": TrainSettings}
#: recipe key -> (registry kind, base class, is a list)
COMPONENT_SECTIONS: dict[str, tuple[str, type[Component], bool]] = {
    "dataset": ("datasets", Dataset, False),
    "protocol": ("protocols", Protocol, False),
    "preprocess": ("preprocessors", Preprocessor, True),
    "augment": ("augmenters", Augmenter, True),
    "features": ("feature_extractors", FeatureExtractor, False),
    "model": ("models", Model, False),
}
DEFAULT_COMPONENTS = {"protocol": {"name": "random"}, "preprocess": [], "augment": []}
SECTION_ORDER = ["run", "dataset", "protocol", "preprocess", "augment", "features", "normalise", "model", "train"]


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
    source: str = "<recipe>"

    def to_dict(self) -> dict[str, Any]:
        """The fully resolved recipe as plain data (what ``recipe.toml`` in a run folder holds)."""
        out: dict[str, Any] = {}
        for key in SECTION_ORDER:
            value = getattr(self, key)
            if isinstance(value, list):
                out[key] = [{"name": c.name, **c.to_params()} for c in value]
            elif isinstance(value, Component):
                out[key] = {"name": value.name, **value.to_params()}
            else:
                out[key] = asdict(value)
        return out

    def to_toml(self) -> str:
        return tomli_w.dumps(self.to_dict())


def load_recipe(path: str | Path, overrides: list[str] = (), registry: Registry | None = None) -> Recipe:
    """Read, override and validate a recipe file; every error names the file and key."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise SerkitError(f"recipe '{path}': file not found") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise SerkitError(f"recipe '{path}': cannot read ({exc})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise SerkitError(f"recipe '{path}': invalid TOML ({exc})") from exc
    for override in overrides:
        apply_override(raw, override)
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
    if parts[0] not in SECTION_ORDER:
        raise SerkitError(
            f"--set {key}: unknown recipe section '{parts[0]}'{did_you_mean(str(parts[0]), SECTION_ORDER)}"
        )
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
    for key in raw:
        if key not in SECTION_ORDER:
            raise SerkitError(
                f"{key}: unknown section{did_you_mean(key, SECTION_ORDER)} (known: {', '.join(SECTION_ORDER)})"
            )
    values: dict[str, Any] = {"source": source}
    for key, cls in SETTINGS.items():
        section = raw.get(key, {})
        if not isinstance(section, dict):
            raise SerkitError(f"{key}: expected a table ([{key}])")
        values[key] = cls(**validate_params(cls, section, key))
    for key, (kind, _, many) in COMPONENT_SECTIONS.items():
        section = raw.get(key, DEFAULT_COMPONENTS.get(key))
        if section is None:
            raise SerkitError(f'{key}: section is missing (add [{key}] with name = "...")')
        if many:
            if not isinstance(section, list):
                raise SerkitError(f"{key}: expected a list of tables ([[{key}]])")
            values[key] = [_component(registry, kind, entry, f"{key}[{i}]") for i, entry in enumerate(section)]
        else:
            if not isinstance(section, dict):
                raise SerkitError(f"{key}: expected a table ([{key}])")
            values[key] = _component(registry, kind, section, key)
    return Recipe(**values)


def _component(registry: Registry, kind: str, entry: Any, where: str) -> Component:
    if not isinstance(entry, dict):
        raise SerkitError(f'{where}: expected a table with name = "..."')
    if "name" not in entry:
        raise SerkitError(f"{where}.name: missing (which component to use)")
    params = {k: v for k, v in entry.items() if k != "name"}
    cls = registry.get(kind, entry["name"], f"{where}.name").cls
    return cls.from_params(params, where)
