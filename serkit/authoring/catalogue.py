"""Writes ``serkit/builtin/catalogue.toml``, the table serkit's audiomentations components are made from, from the
installed audiomentations' own classes (``python -m serkit.authoring.catalogue``; ``--check`` fails when it is out
of date, as CI runs it).

Each constructor argument becomes a parameter: its type and default from the signature, its help from the
docstring's ``:param`` line; :data:`OVERRIDES` and :data:`NAMED_BOUNDS` add what introspection cannot know
(bounds, a file or folder parameter, a parameter left out, a default where audiomentations has ``None``).
"""

from __future__ import annotations

import argparse
import inspect
import re
import sys
import typing
from pathlib import Path
from typing import Any

import tomli_w

TABLE = Path(__file__).resolve().parents[1] / "builtin" / "catalogue.toml"

#: audiomentations transforms that serkit's own augmenters already are.
COVERED = {
    "AddGaussianNoise": "gaussian_noise (relative_to = 'full_scale' is AddGaussianNoise)",
    "TimeStretch": "time_stretch (a rate range is drawn per use; method librosa or signalsmith)",
    "PitchShift": "pitch_shift (a semitone range is drawn per use; method librosa or signalsmith)",
}

#: Transforms that are not components, and why.
LEFT_OUT = {
    "Lambda": "it runs any Python callable, which a recipe (data, never code) cannot name",
    "Resample": (
        "it returns the clip at another sample rate without saying which, so the features would read it at the "
        "wrong one; resample in [[preprocess]], or use aliasing (down and back up to the clip's rate)"
    ),
}

#: What introspection cannot know, by transform: bounds (``ge``, ``gt``, ``le``, ``lt``) and ``path`` per
#: parameter, a parameter left out (``None``), a default where audiomentations has ``None``, and notes.
OVERRIDES: dict[str, dict[str, Any]] = {
    "*": {
        "p": None,  # the [[augment]] entry's own p
        "lru_cache_size": None,  # a cache size: execution, not the augmentation
        "part_transform": None,  # callables and options objects: not recipe values
        "noise_transform": None,
        "ray_tracing_options": None,
        "min_bitrate": {"ge": 8, "le": 320},
        "max_bitrate": {"ge": 8, "le": 320},
        "quality": {"ge": 0, "le": 9},
    },
    "AddBackgroundNoise": {"sounds_path": {"path": True, "default": "", "required": True}},
    "AddShortNoises": {
        "sounds_path": {"path": True, "default": "", "required": True},
        "signal_gain_in_db_during_noise": None,  # deprecated by audiomentations
        "signal_gain_db_during_noise": {"default": 0.0},
    },
    "ApplyImpulseResponse": {"ir_path": {"path": True, "default": "", "required": True}},
    "AdjustDuration": {
        "duration_samples": None,
        "duration_seconds": {"default": 3.0, "gt": 0},
        "note": "changes the clip's length: a fix_length preprocessor after it sets it again",
    },
    "Padding": {"note": "pads part of the clip with silence (its length is kept)"},
    "Trim": {"note": "shortens the clip: a fix_length preprocessor after it sets its length again"},
    "Mp3Compression": {"min_seconds": 0.1},
    "RoomSimulator": {
        "use_ray_tracing": {
            "default": False,
            "choices": [False],
            "help": (
                "ray tracing is off: pyroomacoustics' ray tracer draws from a generator serkit cannot seed, so the "
                "same draw would give another room each time; the image-source model alone is reproducible"
            ),
        },
    },
    "LoudnessNormalization": {"min_seconds": 0.4},
    "RepeatPart": {"note": "may lengthen the clip: a fix_length preprocessor after it sets its length again"},
}

#: Bounds by parameter name, for every transform (unless it overrides them).
NAMED_BOUNDS: dict[str, dict[str, float]] = {
    r".*_freq$": {"gt": 0},
    r".*_rolloff$": {"ge": 6},
    r".*_q$": {"gt": 0},
    r".*_bandwidth_fraction$": {"gt": 0},
    r".*_(duration|part_duration|time_between_sounds|attack|release|distance)$": {"ge": 0},
    r"fade_duration|crossfade_duration": {"ge": 0},
    r".*_sample_rate$": {"ge": 1},
    r".*_bit_depth$": {"ge": 1, "le": 32},
    r".*_percentile_threshold$": {"ge": 0, "le": 100},
    r"(min|max)_(band_part|fraction)$": {"ge": 0, "le": 1},
    r".*_distortion$": {"gt": 0, "le": 1},
    r".*_(humidity)$": {"ge": 0, "le": 100},
    r".*_repeats$": {"ge": 1},
    r".*_absorption_value$": {"gt": 0, "le": 1},
    r"n_fft": {"ge": 16},
}

#: Extras audiomentations imports when the transform runs (``audiomentations[extras]``; serkit's ``augment`` extra).
EXTRAS = {
    "Mp3Compression": "fast-mp3-augment",
    "LoudnessNormalization": "loudness",
    "Limiter": "numpy-audio-limiter",
    "RoomSimulator": "pyroomacoustics",
}


def snake(name: str) -> str:
    """``BandPassFilter`` -> ``band_pass_filter``, ``Mp3Compression`` -> ``mp3_compression``."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower()


# ---------------------------------------------------------------------------------------------------------
# Writing the table from audiomentations (python -m serkit.builtin.catalogue)


def describe_transforms() -> dict[str, Any]:
    """The table: audiomentations' version and each waveform transform's name, description and parameters."""
    import audiomentations
    from audiomentations.core.transforms_interface import BaseWaveformTransform

    transforms = []
    for class_name in sorted(dir(audiomentations)):
        cls = getattr(audiomentations, class_name)
        if not (inspect.isclass(cls) and issubclass(cls, BaseWaveformTransform)) or cls is BaseWaveformTransform:
            continue
        if class_name in COVERED or class_name in LEFT_OUT:
            continue
        transforms.append(_describe(class_name, cls))
    return {
        "audiomentations": audiomentations.__version__,
        "covered": COVERED,
        "left_out": LEFT_OUT,
        "transform": transforms,
    }


def _describe(class_name: str, cls: Any) -> dict[str, Any]:
    overrides = {**OVERRIDES["*"], **OVERRIDES.get(class_name, {})}
    helps = _param_help(cls.__init__.__doc__ or "")
    hints = typing.get_type_hints(cls.__init__)
    params = []
    for name, parameter in inspect.signature(cls.__init__).parameters.items():
        if name == "self" or parameter.kind in (parameter.VAR_KEYWORD, parameter.VAR_POSITIONAL):
            continue
        override = overrides.get(name, {})
        if override is None:
            continue
        default = override.get("default", parameter.default)
        entry: dict[str, Any] = {"name": name, "help": _help(name, helps)}
        if override.get("path"):
            entry |= {"type": "path", "default": ""}
        else:
            kind, choices = _type_of(hints.get(name), default)
            if default in (None, inspect.Parameter.empty) or kind not in ("float", "int", "bool", "str"):
                raise ValueError(
                    f"{class_name}.{name}: no recipe type or default ({kind}, {default!r}); add an override"
                )
            entry |= {"type": kind, "default": default}
            if choices:
                entry["choices"] = list(choices)
        if override.get("required"):
            entry["required"] = True
        for pattern, bounds in NAMED_BOUNDS.items():
            if entry["type"] in ("int", "float") and re.fullmatch(pattern, name):
                entry |= bounds
        entry |= {k: v for k, v in override.items() if k in ("ge", "gt", "le", "lt", "choices", "help")}
        params.append(entry)
    doc = " ".join((cls.__doc__ or "").split())
    first = re.split(r"(?<!e\.g\.)(?<!i\.e\.)(?<=\.)\s+(?=[A-Z])", doc, maxsplit=1)[0] if doc else class_name
    described: dict[str, Any] = {"class": class_name, "name": snake(class_name), "description": first}
    if class_name in EXTRAS:
        described["extra"] = EXTRAS[class_name]
    for key in ("note", "min_seconds"):
        if key in overrides:
            described[key] = overrides[key]
    return described | {"param": params}


def _help(name: str, helps: dict[str, str]) -> str:
    """A parameter's docstring line; a ``max_`` one without its own, its ``min_`` twin's turned round."""
    if helps.get(name):
        return helps[name]
    twin = helps.get(name.replace("max_", "min_", 1), "") if name.startswith("max_") else ""
    return twin.replace("Minimum", "Maximum").replace("minimum", "maximum") or name.replace("_", " ")


def _param_help(doc: str) -> dict[str, str]:
    """``:param name: text`` entries of a docstring, each on one line."""
    found: dict[str, str] = {}
    for match in re.finditer(r":param (\w+):(.*?)(?=:param |\Z)", doc, re.S):
        found[match.group(1)] = " ".join(match.group(2).split()).rstrip(".")
    return found


def _type_of(annotation: Any, default: Any) -> tuple[str, tuple[Any, ...]]:
    """A parameter's declared type ("float", "int", "bool", "str") and a Literal's choices."""
    if typing.get_origin(annotation) is typing.Literal:
        return "str", typing.get_args(annotation)
    args = set(typing.get_args(annotation)) or {annotation}
    for kind, types in (("bool", {bool}), ("float", {float}), ("int", {int}), ("str", {str})):
        if args & types:
            return kind, ()
    return type(default).__name__, ()


HEADER = "# Written by python -m serkit.authoring.catalogue from the installed audiomentations; do not edit.\n"


def table_text() -> str:
    return HEADER + tomli_w.dumps(describe_transforms())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail when the table is out of date")
    args = parser.parse_args(argv)
    text = table_text()
    if args.check:
        if TABLE.read_text(encoding="utf-8") != text:
            print(f"{TABLE}: out of date; run python -m serkit.authoring.catalogue", file=sys.stderr)
            return 1
        print("up to date")
        return 0
    TABLE.write_text(text, encoding="utf-8")
    print(f"wrote {TABLE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
