"""The plugin registry: built-ins, runtime plugins, real entry points, conflicts, restrictions."""

from __future__ import annotations

import inspect
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from helpers import install_fake_distribution

from serkit import Augmenter, hookimpl, param
from serkit.cli import cli
from serkit.core import hookspecs
from serkit.core.registry import get_registry, reset_plugin_manager


@dataclass(frozen=True, kw_only=True)
class Invert(Augmenter):
    """Flip the waveform's polarity."""

    name = "invert"
    gain: float = param(1.0, "gain applied after inverting", gt=0)

    def __call__(self, wave, sample_rate, rng):
        return -self.gain * wave


class InvertPlugin:
    @hookimpl
    def register_augmenters(self, register):
        register(Invert)


def test_builtins_are_registered_through_the_hooks():
    registry = get_registry()
    assert set(registry.entries["preprocessors"]) >= {"resample", "trim_silence", "wiener", "fix_length"}
    assert set(registry.entries["augmenters"]) >= {"gaussian_noise", "time_stretch", "pitch_shift"}
    assert "log_mel" in registry.entries["feature_extractors"]
    assert "crnn" in registry.entries["models"]
    assert {"ravdess", "emodb"} <= set(registry.entries["datasets"])
    entry = registry.entries["preprocessors"]["wiener"]
    assert entry.provider.distribution == "serkit"
    assert entry.provider.plugin == "serkit.builtin.preprocessors"
    assert not registry.problems


def test_runtime_plugin_is_listed_and_unregistered(register_plugin):
    register_plugin(InvertPlugin(), "invert-plugin")
    assert get_registry().entries["augmenters"]["invert"].cls is Invert


def test_same_name_twice_is_a_problem_naming_both_distributions(register_plugin):
    register_plugin(InvertPlugin(), "first-plugin")
    register_plugin(InvertPlugin(), "second-plugin")
    registry = get_registry()
    assert len(registry.problems) == 1
    message = str(registry.problems[0])
    assert "augmenter 'invert' is registered by both first-plugin" in message
    assert "second-plugin" in message
    with pytest.raises(Exception, match="registered by both"):
        registry.raise_problems()


def test_a_plugin_that_raises_is_marked_and_the_rest_still_load(register_plugin):
    class Broken:
        @hookimpl
        def register_models(self, register):
            raise RuntimeError("boom")

    register_plugin(Broken(), "broken-plugin")
    registry = get_registry()
    assert "crnn" in registry.entries["models"]
    assert any("broken-plugin" in str(p) and "RuntimeError: boom" in str(p) for p in registry.problems)


def test_registering_something_that_is_not_a_component_is_a_problem(register_plugin):
    class Wrong:
        @hookimpl
        def register_augmenters(self, register):
            register(dict)

    register_plugin(Wrong(), "wrong-plugin")
    problems = [str(p) for p in get_registry().problems]
    assert any("not a subclass of serkit.Augmenter" in p for p in problems)


def test_every_hookspec_is_documented():
    specs = [f for name, f in inspect.getmembers(hookspecs, inspect.isfunction) if name.startswith("register_")]
    assert len(specs) == 8  # one per component kind, label maps and commands
    for spec in specs:
        assert (spec.__doc__ or "").strip(), f"{spec.__name__} has no docstring"


# -- a real installed distribution with an entry point ----------------------------------------

PLUGIN_SOURCE = '''
from dataclasses import dataclass
from serkit import Augmenter, hookimpl, param

@dataclass(frozen=True, kw_only=True)
class Backwards(Augmenter):
    """Play the waveform backwards."""
    name = "backwards"
    keep: float = param(1.0, "fraction kept", gt=0, le=1)
    def __call__(self, wave, sample_rate, rng):
        return wave[::-1].copy()

@hookimpl
def register_augmenters(register):
    register(Backwards)
'''


@pytest.fixture
def fake_site(tmp_path, monkeypatch):
    site = tmp_path / "site"
    site.mkdir()
    install_fake_distribution(site, "serkit-reverse", "serkit_reverse", PLUGIN_SOURCE)
    install_fake_distribution(site, "serkit-broken", "serkit_broken", "import not_a_real_module_xyz\n")
    monkeypatch.syspath_prepend(str(site))
    reset_plugin_manager()
    yield site
    for module in ("serkit_reverse", "serkit_broken"):
        sys.modules.pop(module, None)
    reset_plugin_manager()


def test_entry_point_plugin_loads_with_its_distribution(fake_site, monkeypatch):
    monkeypatch.delenv("SERKIT_LOAD_PLUGINS", raising=False)
    reset_plugin_manager()
    registry = get_registry()
    entry = registry.entries["augmenters"]["backwards"]
    assert (entry.provider.distribution, entry.provider.version) == ("serkit-reverse", "1.2.3")
    wave = np.arange(4, dtype=np.float32)
    assert entry.cls()(wave, 16000, np.random.default_rng(0)).tolist() == [3, 2, 1, 0]
    broken = [str(p) for p in registry.problems]
    assert any("serkit-broken 1.2.3" in p and "ModuleNotFoundError" in p for p in broken)


@pytest.mark.parametrize(
    ("allowed", "loaded"),
    [("", False), ("serkit-reverse", True), ("serkit_reverse", True), ("serkit-other", False)],
)
def test_serkit_load_plugins_restricts_installed_plugins(fake_site, monkeypatch, allowed, loaded):
    monkeypatch.setenv("SERKIT_LOAD_PLUGINS", allowed)
    reset_plugin_manager()
    registry = get_registry()
    assert ("backwards" in registry.entries["augmenters"]) is loaded
    assert "gaussian_noise" in registry.entries["augmenters"]  # built-ins always load
    assert not registry.problems  # the broken plugin was not asked for


def test_plugins_command_lists_components_and_marks_the_broken_one(fake_site, monkeypatch, cli_runner):
    monkeypatch.delenv("SERKIT_LOAD_PLUGINS", raising=False)
    reset_plugin_manager()
    result = cli_runner.invoke(cli, ["plugins", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    reverse = next(c for c in data["components"]["augmenters"] if c["name"] == "backwards")
    assert reverse["distribution"] == "serkit-reverse" and reverse["version"] == "1.2.3"
    assert reverse["description"] == "Play the waveform backwards."
    assert reverse["parameters"] == [
        {
            "name": "keep",
            "type": "float",
            "default": 1.0,
            "required": False,
            "range": "> 0, <= 1",
            "help": "fraction kept",
        }
    ]
    assert [p["distribution"] for p in data["problems"]] == ["serkit-broken"]
    text = cli_runner.invoke(cli, ["plugins"], env={"COLUMNS": "250"}).output
    assert "reverse" in text and "serkit-reverse 1.2.3" in text
    assert "broken:" in text and "serkit-broken" in text


def test_plugins_command_shows_builtin_parameters(cli_runner):
    data = json.loads(cli_runner.invoke(cli, ["plugins", "--json"]).output)
    log_mel = next(c for c in data["components"]["feature_extractors"] if c["name"] == "log_mel")
    params = {p["name"]: p for p in log_mel["parameters"]}
    assert params["n_mels"]["default"] == 128 and params["n_mels"]["type"] == "int"
    assert log_mel["distribution"] == "serkit"
    text = cli_runner.invoke(cli, ["plugins"], env={"COLUMNS": "250"}).output
    assert "kernels: list[int] = [9, 7, 5, 3] (>= 1)" in text  # not eaten as rich markup
    assert "square kernel size of each conv block" in text


def test_docs_hold_the_current_hook_reference():

    from serkit.authoring.hookdocs import hook_reference

    docs = (Path(__file__).resolve().parents[2] / "docs" / "plugins.md").read_text()
    assert hook_reference() in docs, "docs/plugins.md is stale: run python -m serkit.authoring.hookdocs docs/plugins.md"


def test_invalid_parameter_declarations_are_problems_naming_the_plugin(register_plugin):
    @dataclass(frozen=True, kw_only=True)
    class BadDefault(Augmenter):
        """Default outside its own range."""

        name = "bad_default"
        level: float = param(2.0, "level", le=1)

    @dataclass(frozen=True, kw_only=True)
    class BadType(Augmenter):
        """A parameter type recipes cannot hold."""

        name = "bad_type"
        levels: set[int] = param(help="levels")

    for cls, plugin in ((BadDefault, "serkit-bad-default"), (BadType, "serkit-bad-type")):

        class Plugin:
            @hookimpl
            def register_augmenters(self, register, cls=cls):
                register(cls)

        register_plugin(Plugin(), plugin)
    problems = [str(p) for p in get_registry().problems]
    assert any("serkit-bad-default" in p and "bad_default.level default: 2.0 is out of range" in p for p in problems)
    assert any("serkit-bad-type" in p and "not supported" in p for p in problems)
    assert "gaussian_noise" in get_registry().entries["augmenters"]
