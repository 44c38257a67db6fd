"""`serkit plugins show` and `serkit plugins check`: what a plugin's reader and reviewer run."""

from __future__ import annotations

import sys

import pytest
from helpers import install_fake_distribution

from serkit.cli import cli
from serkit.core.registry import reset_plugin_manager

PLUGIN = '''
from dataclasses import dataclass

import numpy as np

from serkit import Augmenter, hookimpl, param


@dataclass(frozen=True, kw_only=True)
class Quiet(Augmenter):
    """Halves the level."""

    name = "quiet"
    gain: float = param(0.5, "gain applied", gt=0, le=1)

    def __call__(self, wave, sample_rate, rng):
        return (wave * self.gain).astype(np.float32)


@dataclass(frozen=True, kw_only=True)
class Peak(Augmenter):
    """Normalises to unit peak (divides silence by zero)."""

    name = "peak"

    def __call__(self, wave, sample_rate, rng):
        with np.errstate(all="ignore"):
            return (wave / np.max(np.abs(wave))).astype(np.float32)


@dataclass(frozen=True, kw_only=True)
class Needy(Augmenter):
    """Needs a level."""

    name = "needy"
    level: float = param(help="level to add", gt=0)

    def __call__(self, wave, sample_rate, rng):
        return (wave + self.level).astype(np.float32)


@hookimpl
def register_augmenters(register):
    register(Quiet)
    register(Peak)
    register(Needy)
'''


@pytest.fixture
def reviewed(tmp_path, monkeypatch):
    site = tmp_path / "site"
    site.mkdir()
    install_fake_distribution(site, "serkit-review-me", "serkit_review_me", PLUGIN)
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delenv("SERKIT_LOAD_PLUGINS", raising=False)
    reset_plugin_manager()
    yield
    sys.modules.pop("serkit_review_me", None)
    reset_plugin_manager()


def test_check_runs_the_kit_on_every_component_of_a_distribution(reviewed, cli_runner):
    result = cli_runner.invoke(cli, ["plugins", "check", "serkit-review-me"], env={"COLUMNS": "250"})
    assert result.exit_code == 1
    rows = {line.split("│")[2].strip(): line for line in result.output.splitlines() if line.count("│") >= 5}
    assert "pass" in rows["quiet"] and "fail" in rows["peak"] and "silence" in rows["peak"]
    assert "needs values" in rows["needy"]
    given = cli_runner.invoke(
        cli, ["plugins", "check", "serkit-review-me", "--set", "needy.level=0.1"], env={"COLUMNS": "250"}
    )
    assert "needy" in given.output and "needs values" not in given.output
    wrong = cli_runner.invoke(
        cli, ["plugins", "check", "serkit-review-me", "--set", "needy.level=-1"], env={"COLUMNS": "250"}
    )
    rows = {line.split("│")[2].strip(): line for line in wrong.output.splitlines() if line.count("│") >= 5}
    assert wrong.exit_code == 1 and "fail" in rows["needy"] and "needs values" not in rows["needy"]


def test_show_prints_one_component(reviewed, cli_runner):
    result = cli_runner.invoke(cli, ["plugins", "show", "quiet"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "quiet: augmenter from serkit-review-me 1.2.3" in result.output
    assert "gain applied" in result.output and "> 0, <= 1" in result.output and "[[augment]]" in result.output
    missing = cli_runner.invoke(cli, ["plugins", "show", "quite"])
    assert missing.exit_code == 1 and "did you mean 'quiet'" in missing.output


def test_shows_snippet_holds_the_required_parameters_and_loads_once_filled(reviewed, cli_runner):
    """A recipe snippet without a required parameter does not load: `plugins show` gives it to replace."""
    import tomllib

    from serkit.cli.plugins import recipe_snippet
    from serkit.core.registry import get_registry

    result = cli_runner.invoke(cli, ["plugins", "show", "needy"], env={"COLUMNS": "200"})
    assert 'name = "needy"\nlevel = 0.0  # required: level to add' in result.output
    entry = get_registry().entries["augmenters"]["needy"]
    table = tomllib.loads(recipe_snippet("augment", True, entry.cls).replace("0.0", "0.1"))["augment"][0]
    assert entry.cls.from_params({k: v for k, v in table.items() if k != "name"}, "augment").level == 0.1


def _doc_example(class_name: str) -> type:
    """The class of a docs/plugins.md example, defined as if in this module (so that it pickles)."""
    import dataclasses
    import re
    from pathlib import Path

    import numpy as np

    from serkit import Augmenter, param

    text = (Path(__file__).resolve().parents[2] / "docs" / "plugins.md").read_text()
    (example,) = [b for b in re.findall(r"```python\n(.*?)```", text, re.S) if f"class {class_name}(" in b]
    namespace = {"Augmenter": Augmenter, "param": param, "np": np, "dataclass": dataclasses.dataclass}
    namespace["__name__"] = __name__
    exec(compile("from __future__ import annotations\n" + example, "docs/plugins.md", "exec"), namespace)
    globals()[class_name] = namespace[class_name]
    return namespace[class_name]


def test_the_wrapped_transform_example_in_the_contract_keeps_it():
    """docs/plugins.md shows how to wrap a transform that draws from the global random state; the example must pass
    the kit."""
    from serkit.testing import check_component

    check_component(_doc_example("WrappedShift")())


def test_the_path_parameter_example_in_the_contract_keeps_it(tmp_path):
    import soundfile

    from serkit.testing import check_component, speech_like

    soundfile.write(tmp_path / "hum.wav", speech_like(16000, seconds=0.5, seed=3), 16000)
    check_component(_doc_example("BackgroundNoise")(noise_dir=str(tmp_path)))


NEEDY_ONLY = '''
from dataclasses import dataclass

import numpy as np

from serkit import Augmenter, hookimpl, param


@dataclass(frozen=True, kw_only=True)
class Needy(Augmenter):
    """Needs a level."""

    name = "needy"
    level: float = param(help="level to add", gt=0)

    def __call__(self, wave, sample_rate, rng):
        return (wave + self.level).astype(np.float32)


@hookimpl
def register_augmenters(register):
    register(Needy)
'''


def test_check_fails_when_a_component_was_not_checked_for_want_of_values(tmp_path, monkeypatch, cli_runner):
    site = tmp_path / "site"
    site.mkdir()
    install_fake_distribution(site, "serkit-needy-only", "serkit_needy_only", NEEDY_ONLY)
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delenv("SERKIT_LOAD_PLUGINS", raising=False)
    reset_plugin_manager()
    try:
        gap = cli_runner.invoke(cli, ["plugins", "check", "serkit-needy-only"], env={"COLUMNS": "250"})
        assert gap.exit_code == 1  # nothing was checked: CI must not pass
        assert "not checked: needy need parameter values; pass them, e.g. --set needy.PARAMETER=VALUE" in gap.output
        given = cli_runner.invoke(
            cli, ["plugins", "check", "serkit-needy-only", "--set", "needy.level=0.1"], env={"COLUMNS": "250"}
        )
        assert given.exit_code == 0, given.output
    finally:
        sys.modules.pop("serkit_needy_only", None)
        reset_plugin_manager()
