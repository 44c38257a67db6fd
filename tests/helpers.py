"""Paths to the real corpora and helpers shared by the tests (importable as ``helpers`` under pytest)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("SERKIT_SHARED", ROOT.parent / "shared")).resolve()
RAVDESS = SHARED / "datasets" / "ravdess-sample"
EMODB = SHARED / "datasets" / "emodb" / "wav"
STEREO = ("Actor_01/03-01-02-01-01-02-01.wav", "Actor_01/03-01-08-01-02-02-01.wav")


def need(path: Path) -> Path:
    """``path`` if it is a folder; otherwise skip the test, saying where the corpus was looked for."""
    if not path.is_dir():
        pytest.skip(f"real corpus not found at {path} (set SERKIT_SHARED to the folder holding datasets/)")
    return path


def tiny_run_args(dataset_root: Path, tmp: Path, *overrides: str) -> list[str]:
    """`serkit run` of recipes/tiny.toml on ``dataset_root``, runs and cache under ``tmp``, plus ``--set`` overrides."""
    args = ["run", str(ROOT / "recipes" / "tiny.toml"), "--set", f"dataset.root={dataset_root}"]
    for override in (*overrides, f"run.output={tmp / 'runs'}", f"run.cache_dir={tmp / 'cache'}"):
        args += ["--set", override]
    return args
