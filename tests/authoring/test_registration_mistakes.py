"""Registration mistakes a plugin author makes are named, not silent: each one gets a line under
"problems" in `serkit plugins` (and --json), stops `serkit run` with that line, and explains an
empty `serkit plugins check`."""

from __future__ import annotations

import json
import sys

import pytest
from helpers import ROOT, install_fake_distribution

from serkit.cli import cli
from serkit.core.registry import get_registry, reset_plugin_manager

COMPONENT = '''
from dataclasses import dataclass

import numpy as np

from serkit import Augmenter, hookimpl, param


@dataclass(frozen=True, kw_only=True)
class Louder(Augmenter):
    """Makes the clip louder."""

    name = "louder"
    gain: float = param(2.0, "factor", gt=0)

    def __call__(self, wave, sample_rate, rng):
        return (wave * self.gain).astype(np.float32)
'''

MISTAKES = {
    "misspelt": (
        COMPONENT + "\n\n@hookimpl\ndef register_augmenter(register):\n    register(Louder)\n",
        "serkit",
        "'register_augmenter' is marked @hookimpl but is not a serkit hook; did you mean 'register_augmenters'?",
    ),
    "unmarked": (
        COMPONENT + "\n\ndef register_augmenters(register):\n    register(Louder)\n",
        "serkit",
        "'register_augmenters' is not marked @hookimpl, so serkit never calls it: decorate it with @hookimpl",
    ),
    "an instance": (
        COMPONENT + "\n\n@hookimpl\ndef register_augmenters(register):\n    register(Louder())\n",
        "serkit",
        "register() was given an instance, Louder(gain=2.0); register the class: register(Louder)",
    ),
    "no dataclass": (
        COMPONENT.replace("@dataclass(frozen=True, kw_only=True)\nclass Louder", "class Louder")
        + "\n\n@hookimpl\ndef register_augmenters(register):\n    register(Louder)\n",
        "serkit",
        "Louder declares gain with param() but is not decorated with @dataclass(frozen=True, kw_only=True), so it "
        "has no parameters: add the decorator",
    ),
    "wrong group": (
        COMPONENT + "\n\n@hookimpl\ndef register_augmenters(register):\n    register(Louder)\n",
        "serkit.plugins",
        "its entry point is in the group 'serkit.plugins', which serkit does not read, so nothing in it loads: "
        'declare it as [project.entry-points.serkit] serkit_louder = "serkit_louder"',
    ),
}


@pytest.fixture(params=sorted(MISTAKES))
def mistaken(request, tmp_path, monkeypatch):
    """A plugin package installed with one registration mistake; the line that must name it."""
    source, group, line = MISTAKES[request.param]
    site = tmp_path / "site"
    site.mkdir()
    install_fake_distribution(site, "serkit-louder", "serkit_louder", source, group)
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delenv("SERKIT_LOAD_PLUGINS", raising=False)
    reset_plugin_manager()
    yield line
    sys.modules.pop("serkit_louder", None)
    reset_plugin_manager()


def test_each_registration_mistake_is_a_problem_naming_the_package_and_the_fix(mistaken, cli_runner, tmp_path):
    registry = get_registry()
    assert "louder" not in registry.entries["augmenters"]  # the mistake really loses the component
    (problem,) = [p for p in registry.problems if p.provider.distribution == "serkit-louder"]
    assert mistaken in str(problem) and "serkit-louder 1.2.3" in str(problem)
    listed = json.loads(cli_runner.invoke(cli, ["plugins", "--json"]).output)["problems"]
    assert [p["distribution"] for p in listed] == ["serkit-louder"] and mistaken in listed[0]["error"]
    table = cli_runner.invoke(cli, ["plugins"], env={"COLUMNS": "400"})
    assert "broken:" in table.output and "serkit-louder" in table.output
    checked = cli_runner.invoke(cli, ["plugins", "check", "serkit-louder"])
    assert checked.exit_code == 1 and mistaken in checked.output
    run = cli_runner.invoke(cli, ["run", str(ROOT / "recipes" / "tiny.toml"), "--set", f"run.output={tmp_path / 'r'}"])
    assert run.exit_code == 1 and mistaken in run.output and not (tmp_path / "r").exists()


def test_a_correct_package_has_no_problem(tmp_path, monkeypatch):
    site = tmp_path / "site"
    site.mkdir()
    source = COMPONENT + "\n\n@hookimpl\ndef register_augmenters(register):\n    register(Louder)\n"
    install_fake_distribution(site, "serkit-louder", "serkit_louder", source)
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delenv("SERKIT_LOAD_PLUGINS", raising=False)
    reset_plugin_manager()
    try:
        registry = get_registry()
        assert "louder" in registry.entries["augmenters"] and not registry.problems
    finally:
        sys.modules.pop("serkit_louder", None)
        reset_plugin_manager()
