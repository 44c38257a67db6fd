"""The table of kinds: a new kind, added as one row, one hookspec and one base class, works everywhere
a kind is handled without a run (parsing, listing, hook docs, skeletons, contract checks)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import ClassVar

import pluggy
import pytest

from serkit import hookimpl, param
from serkit.authoring.hookdocs import hook_reference
from serkit.authoring.scaffold import new_plugin
from serkit.cli import cli
from serkit.core import hookspecs, kinds
from serkit.core.components import Component
from serkit.core.recipe import build_recipe, section_order
from serkit.core.registry import get_plugin_manager, get_registry, reset_plugin_manager
from serkit.testing import check_component


@dataclass(frozen=True, kw_only=True)
class Scorer(Component):
    """Turns class probabilities into a decision (a throw-away kind for this test)."""

    kind: ClassVar[str] = "scorer"

    def decide(self, probabilities: list[float]) -> int:
        raise NotImplementedError


@dataclass(frozen=True, kw_only=True)
class ArgMax(Scorer):
    """The most probable class."""

    name = "argmax"
    floor: float = param(0.0, "probabilities below this count as zero", ge=0, lt=1)

    def decide(self, probabilities: list[float]) -> int:
        return max(range(len(probabilities)), key=lambda k: probabilities[k] if probabilities[k] >= self.floor else 0)


hookspec = pluggy.HookspecMarker("serkit")


class ScorerSpec:
    @staticmethod
    @hookspec
    def register_scorers(register):  # type: ignore[no-untyped-def]
        """Register scorers (subclasses of ``Scorer``) that turn probabilities into a decision."""


class ScorerPlugin:
    @hookimpl
    def register_scorers(self, register):  # type: ignore[no-untyped-def]
        register(ArgMax)


@pytest.fixture
def seventh_kind(monkeypatch, register_plugin):
    """One row, one hookspec, one base class: the three things CONTRIBUTING.md says a kind needs."""
    row = kinds.Kind("scorers", "scorer", Scorer, many=False, method="decide", default={"name": "argmax"})
    monkeypatch.setattr(kinds, "KINDS", (*kinds.KINDS, row))
    monkeypatch.setattr(hookspecs, "register_scorers", ScorerSpec.register_scorers, raising=False)
    get_plugin_manager().add_hookspecs(ScorerSpec)
    register_plugin(ScorerPlugin(), "scorer-plugin")
    yield row
    reset_plugin_manager()  # the next test loads a manager without the throw-away hook


def test_the_built_in_kinds_come_from_the_table():
    assert [k.section for k in kinds.all_kinds()] == [
        "dataset",
        "protocol",
        "preprocess",
        "augment",
        "features",
        "model",
    ]
    assert set(get_registry().entries) == {k.key for k in kinds.all_kinds()}
    assert "feature_augmenter" in kinds.component_types()


def test_a_new_kind_is_registered_parsed_and_listed(seventh_kind, cli_runner):
    registry = get_registry()
    assert registry.entries["scorers"]["argmax"].cls is ArgMax
    assert section_order().index("scorer") > section_order().index("model")
    raw = {"dataset": {"name": "synthetic"}, "features": {"name": "log_mel"}, "model": {"name": "crnn"}}
    recipe = build_recipe(raw | {"scorer": {"name": "argmax", "floor": 0.2}}, registry)
    assert recipe.section("scorer") == ArgMax(floor=0.2)
    assert recipe.to_dict()["scorer"] == {"name": "argmax", "floor": 0.2}
    assert build_recipe(raw, registry).section("scorer") == ArgMax()  # the row's default
    with pytest.raises(Exception, match=r"scorer.name: unknown scorer 'argmin'; did you mean 'argmax'"):
        build_recipe(raw | {"scorer": {"name": "argmin"}}, registry)
    listing = json.loads(cli_runner.invoke(cli, ["plugins", "--json"]).output)
    assert listing["components"]["scorers"][0]["parameters"][0]["name"] == "floor"


def test_a_new_kind_is_documented_checked_and_scaffolded(seventh_kind, tmp_path, cli_runner):
    reference = hook_reference()
    assert "### `register_scorers(register)`" in reference
    assert "implement `decide(self, probabilities: list[float]) -> int`" in reference
    check_component(ArgMax(floor=0.1))  # the checks every kind gets: parameters, pickling
    with pytest.raises(AssertionError, match=r"undocumented\.floor has no help text"):
        check_component(Undocumented())
    result = cli_runner.invoke(cli, ["plugins", "new", "scorer", "top-one", "--to", str(tmp_path / "pkg")])
    assert result.exit_code == 0, result.output
    module = (tmp_path / "pkg" / "serkit_top_one" / "__init__.py").read_text()
    assert "class TopOne(Scorer):" in module and "def register_scorers(register):" in module
    assert "def decide(self, probabilities: list[float]) -> int:" in module
    assert '[scorer]\nname = "top_one"' in (tmp_path / "pkg" / "README.md").read_text()
    assert new_plugin("scorer", "other", tmp_path / "other").is_dir()


@dataclass(frozen=True, kw_only=True)
class Undocumented(ArgMax):
    """A scorer whose parameter has no help text."""

    name = "undocumented"
    floor: float = param(0.0, ge=0)
