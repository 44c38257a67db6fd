"""openSMILE features as a serkit feature extractor, on audEERING's ``opensmile`` package.

The wheel ships the openSMILE library and its configurations: nothing is downloaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from serkit import FeatureExtractor, hookimpl, param

FEATURE_SETS = ("eGeMAPSv02", "GeMAPSv01b", "ComParE_2016", "emobase", "IS09", "IS13")
LEVELS = {"functionals": "Functionals", "lld": "LowLevelDescriptors", "lld_deltas": "LowLevelDescriptors_Deltas"}


@dataclass(frozen=True, kw_only=True)
class OpenSmile(FeatureExtractor):
    """openSMILE features: eGeMAPS (88 functionals) or ComParE 2016 (6373), or their frame-level descriptors."""

    name = "opensmile"
    computes_with = ("opensmile",)
    shape = "vector"  # with the default level; lld gives sequences (output_shape)
    storage = "float32"  # functionals reach 1e11 (ComParE), far beyond float16
    feature_set: str = param("eGeMAPSv02", "openSMILE feature set", choices=FEATURE_SETS)
    level: str = param(
        "functionals",
        "functionals: one vector per utterance; lld: a sequence of low-level descriptors per 10 ms frame; "
        "lld_deltas: their deltas",
        choices=tuple(LEVELS),
    )

    def min_seconds(self) -> float:
        return 0.1  # eGeMAPS's 60 ms pitch window: shorter clips give NaN functionals

    def output_shape(self) -> str:
        return "vector" if self.level == "functionals" else "sequence"

    def identity(self) -> dict[str, Any]:
        import opensmile

        return super().identity() | {"opensmile": opensmile.__version__}

    def __call__(self, wave: np.ndarray, sample_rate: int) -> np.ndarray:
        frame = _smile(self.feature_set, self.level).process_signal(wave, sample_rate)
        values = frame.to_numpy(dtype=np.float32)
        return values[0] if self.level == "functionals" else values

    def columns(self) -> list[str]:
        """The name of each value (functionals) or each descriptor (lld)."""
        return list(_smile(self.feature_set, self.level).feature_names)


@lru_cache(maxsize=8)
def _smile(feature_set: str, level: str) -> Any:
    """One openSMILE instance per configuration and process (building one parses its config)."""
    import opensmile

    return opensmile.Smile(
        feature_set=opensmile.FeatureSet[feature_set], feature_level=opensmile.FeatureLevel[LEVELS[level]]
    )


@hookimpl
def register_feature_extractors(register):
    register(OpenSmile)
