"""Every waveform transform audiomentations ships, as a serkit augmenter: ``add_gaussian_snr``,
``band_pass_filter``, ``apply_impulse_response``, ...

The components are made from ``catalogue.toml``, which ``python -m serkit.authoring.catalogue`` writes from
audiomentations' own classes (their signatures and docstrings, with a table of what introspection cannot
know): reading the table keeps ``serkit plugins`` fast (importing audiomentations takes seconds), and CI
checks it against the installed audiomentations. Each transform is built with ``p = 1`` (an ``[[augment]]``
entry's own ``p`` decides whether it acts) and seeded per use from the entry's generator, like the
built-ins; audiomentations' version is part of each one's cache identity (``computes_with``). The table
also says which transforms serkit's built-ins already are, and which are left out and why.
"""

from __future__ import annotations

import dataclasses
import sys
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from serkit.builtin.augmenters import apply_transform
from serkit.core.components import Augmenter, installed_version
from serkit.core.hookspecs import hookimpl
from serkit.core.params import param

TABLE = Path(__file__).with_name("catalogue.toml")


def read_table() -> dict[str, Any]:
    """The catalogue: audiomentations' version, each transform's entry, the covered and the left out."""
    with TABLE.open("rb") as handle:
        return tomllib.load(handle)


# ---------------------------------------------------------------------------------------------------------
# The components, made from the table


@dataclass(frozen=True, kw_only=True)
class Transform(Augmenter):
    """An audiomentations transform (the base of the generated components)."""

    computes_with = ("audiomentations",)
    #: The audiomentations class this component builds.
    transform_class: ClassVar[str] = ""
    #: The extra distribution the transform imports when it runs ("" for none).
    extra: ClassVar[str] = ""
    #: The shortest clip the transform takes; a shorter one passes unchanged (as RepeatPart's own does).
    min_seconds: ClassVar[float] = 0.0

    def validate(self) -> None:
        if self.extra and installed_version(self.extra) is None:
            raise ValueError(
                f"needs {self.extra}, which is not installed: pip install 'serkit[augment]' (audiomentations' extras)"
            )
        for spec in self.params():
            value = getattr(self, spec.name)
            if spec.path and value and not _holds_audio(value):
                raise ValueError(f"{spec.name}: '{value}' holds no audio file (.wav, .flac, .mp3, .ogg, ...)")
        try:
            self.transform()
        except (AssertionError, ValueError, TypeError) as exc:
            raise ValueError(str(exc) or f"audiomentations' {self.transform_class} refused these parameters") from None

    def transform(self) -> Any:
        import audiomentations

        return getattr(audiomentations, self.transform_class)(**self.to_params(), p=1.0)

    def __call__(self, wave: np.ndarray, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
        if wave.size < self.min_seconds * sample_rate:
            return wave.astype(np.float32)  # a copy: the input is never changed in place
        return apply_transform(_built(self), wave, sample_rate, rng)

    def device(self) -> Any:
        return device_of(self)


#: The transforms with a torch implementation (:mod:`serkit.builtin.device`), by audiomentations class.
LINEAR = (
    "Gain",
    "PolarityInversion",
    "LowPassFilter",
    "HighPassFilter",
    "BandPassFilter",
    "BandStopFilter",
    "LowShelfFilter",
    "HighShelfFilter",
    "PeakingFilter",
)


def device_of(component: Transform) -> Any:
    """The component's torch implementation, or None (a zero-phase filter's edges differ: none is offered)."""
    from serkit.builtin import device

    name, transform = component.transform_class, component.transform()
    if name in LINEAR and not getattr(component, "zero_phase", False):
        return device.Linear(transform)
    if name == "ApplyImpulseResponse" and getattr(component, "leave_length_unchanged", True):
        return device.ImpulseResponses(transform)
    if name == "AddGaussianSNR":
        return device.GaussianSNR(transform)
    if name == "AddBackgroundNoise":
        return device.BackgroundNoise(transform)
    return None


@lru_cache(maxsize=64)
def _built(component: Transform) -> Any:
    """An audiomentations object per component (and values drawn for it) and process: some list their folder of
    sounds when built, and ApplyImpulseResponse keeps the impulse responses it read."""
    return component.transform()


@lru_cache(maxsize=64)
def _holds_audio(path: str) -> bool:
    from audiomentations.core.utils import find_audio_files_in_paths

    return bool(find_audio_files_in_paths(path))


TYPES: dict[str, type] = {"float": float, "int": int, "bool": bool, "str": str, "path": str}


def _component(entry: dict[str, Any]) -> type[Transform]:
    fields = []
    for spec in entry["param"]:
        bounds = {k: spec[k] for k in ("ge", "gt", "le", "lt") if k in spec}
        choices = tuple(spec["choices"]) if "choices" in spec else None
        declared = (
            param(help=spec["help"], path=True)
            if spec.get("required")
            else param(spec["default"], spec["help"], choices=choices, path=spec["type"] == "path", **bounds)
        )
        fields.append((spec["name"], TYPES[spec["type"]], declared))
    notes = [entry["description"]]
    if entry.get("note"):
        notes.append(f"It {entry['note']}.")
    if entry.get("min_seconds"):
        notes.append(f"A clip shorter than {entry['min_seconds']:g} s passes unchanged.")
    if entry.get("extra"):
        notes.append(f"Needs {entry['extra']} (pip install 'serkit[augment]').")
    namespace = {
        "name": entry["name"],
        "transform_class": entry["class"],
        "extra": entry.get("extra", ""),
        "min_seconds": entry.get("min_seconds", 0.0),
        "__doc__": " ".join(notes) + f"\n\naudiomentations' {entry['class']}.",
        "__module__": __name__,
    }
    cls = dataclasses.make_dataclass(
        entry["class"], fields, bases=(Transform,), namespace=namespace, frozen=True, kw_only=True
    )
    cls.__qualname__ = entry["class"]
    return cls


def _load() -> list[type[Transform]]:
    made = [_component(entry) for entry in read_table()["transform"]]
    module = sys.modules[__name__]
    for cls in made:
        setattr(module, cls.__name__, cls)  # where pickle looks a component's class up
    return made


COMPONENTS = _load()


@hookimpl
def register_augmenters(register):
    for cls in COMPONENTS:
        register(cls)
