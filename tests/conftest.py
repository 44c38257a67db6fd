"""Shared fixtures: the real corpora in ../shared, runtime plugins, a CLI runner."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import EMODB, RAVDESS, need

from serkit.core.registry import get_plugin_manager


@pytest.fixture
def ravdess_root() -> Path:
    return need(RAVDESS)


@pytest.fixture
def emodb_root() -> Path:
    return need(EMODB)


@pytest.fixture
def ravdess_file(ravdess_root: Path) -> Path:
    return ravdess_root / "Actor_02" / "03-01-05-02-01-01-02.wav"


@pytest.fixture
def small_ravdess(ravdess_root: Path, tmp_path: Path) -> Path:
    """A copy of 24 RAVDESS files (three per emotion) that a test may damage."""
    target = tmp_path / "ravdess"
    target.mkdir()
    per_class: dict[str, int] = {}
    for path in sorted(ravdess_root.rglob("*.wav")):
        emotion = path.name.split("-")[2]
        if per_class.get(emotion, 0) < 3:
            per_class[emotion] = per_class.get(emotion, 0) + 1
            shutil.copy(path, target / path.name)
    return target


@pytest.fixture
def register_plugin():
    """Register plugin objects for one test and unregister them afterwards."""
    manager = get_plugin_manager()
    names: list[str] = []

    def register(plugin: object, name: str) -> None:
        manager.register(plugin, name=name)
        names.append(name)

    yield register
    for name in names:
        manager.unregister(name=name)


@pytest.fixture
def cli_runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def run_args(tmp_path: Path) -> list[str]:
    """--set options that keep a test's runs and cache inside its temporary folder."""
    return ["--set", f"run.output={tmp_path / 'runs'}", "--set", f"run.cache_dir={tmp_path / 'cache'}"]


@pytest.fixture
def read_only(tmp_path):
    """Make a folder immutable (chattr +i: root ignores permission bits) or read-only, and undo it after."""
    made = []

    def lock(folder):
        if os.geteuid() == 0:
            if not shutil.which("chattr") or subprocess.run(["chattr", "+i", str(folder)]).returncode != 0:
                pytest.skip("running as root and chattr +i is not available here: no way to make a folder read-only")
        else:
            folder.chmod(0o555)
        made.append(folder)

    yield lock
    for folder in made:
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", str(folder)], check=True)
        else:
            folder.chmod(0o755)
