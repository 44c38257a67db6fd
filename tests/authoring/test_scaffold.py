"""`serkit plugins new`: the generated package is valid, keeps the contract, and refuses bad names."""

from __future__ import annotations

import importlib
import sys
import tomllib

import pytest

from serkit.authoring.scaffold import EXAMPLES
from serkit.cli import cli
from serkit.testing import check_component


@pytest.mark.parametrize("kind", sorted(EXAMPLES))
def test_generated_component_keeps_the_contract(kind, tmp_path, monkeypatch, cli_runner):
    folder = tmp_path / "pkg"
    result = cli_runner.invoke(cli, ["plugins", "new", kind, f"my-{kind}", "--to", str(folder)])
    assert result.exit_code == 0, result.output
    module_name = f"serkit_my_{kind}"
    project = tomllib.loads((folder / "pyproject.toml").read_text())
    assert project["project"]["name"] == f"serkit-my-{kind.replace('_', '-')}"
    assert project["project"]["entry-points"]["serkit"] == {f"my_{kind}": module_name}
    assert (folder / "tests" / f"test_my_{kind}.py").is_file() and (folder / "README.md").is_file()
    monkeypatch.syspath_prepend(str(folder))
    try:
        module = importlib.import_module(module_name)
        cls = next(v for v in vars(module).values() if getattr(v, "name", None) == f"my_{kind}")
        if kind != "dataset":  # a dataset needs files; its generated test makes some
            check_component(cls())
    finally:
        sys.modules.pop(module_name, None)


def test_bad_names_and_used_folders_are_refused(tmp_path, cli_runner):
    result = cli_runner.invoke(cli, ["plugins", "new", "augmenter", "My Gain", "--to", str(tmp_path / "x")])
    assert result.exit_code == 1 and "NAME: 'My Gain' must be lower-case" in result.output
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "file").write_text("")
    result = cli_runner.invoke(cli, ["plugins", "new", "augmenter", "gain", "--to", str(tmp_path / "used")])
    assert result.exit_code == 1 and "folder exists and is not empty" in result.output
    result = cli_runner.invoke(cli, ["plugins", "new", "vocoder", "x"])
    assert (
        result.exit_code == 2 and "'vocoder' is not one of" in result.output and "'feature_augmenter'" in result.output
    )


def test_the_distribution_can_be_named(tmp_path, cli_runner):
    folder = tmp_path / "pkg"
    args = ["plugins", "new", "augmenter", "gain", "--dist", "acme-audio-gain", "--to", str(folder)]
    assert cli_runner.invoke(cli, args).exit_code == 0
    project = tomllib.loads((folder / "pyproject.toml").read_text())
    assert project["project"]["name"] == "acme-audio-gain"
    assert project["project"]["entry-points"]["serkit"] == {"gain": "acme_audio_gain"}
    assert (folder / "acme_audio_gain" / "__init__.py").is_file()
    assert '"acme-audio-gain"' in (folder / "tests" / "test_gain.py").read_text()
    bad = cli_runner.invoke(
        cli, ["plugins", "new", "augmenter", "gain", "--dist", "9 lives", "--to", str(tmp_path / "x")]
    )
    assert bad.exit_code == 1 and "--dist: '9 lives' is not a valid distribution name" in bad.output


@pytest.mark.parametrize("kind", ["augmenter", "feature_extractor", "model", "estimator_model"])
def test_a_file_parameter_comes_with_its_test(kind, tmp_path, monkeypatch, cli_runner):
    folder = tmp_path / "pkg"
    args = ["plugins", "new", kind, f"with-file-{kind}", "--to", str(folder), "--with-file-param"]
    assert cli_runner.invoke(cli, args).exit_code == 0
    module_name = f"serkit_with_file_{kind}"
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.syspath_prepend(str(folder / "tests"))
    try:
        module = importlib.import_module(module_name)
        cls = next(v for v in vars(module).values() if getattr(v, "name", None) == f"with_file_{kind}")
        check_component(cls())
        tests = importlib.import_module(f"test_with_file_{kind}")
        (tmp_path / "data").mkdir()
        tests.test_its_file_parameter_is_checked_and_keyed_by_content(tmp_path / "data")
    finally:
        sys.modules.pop(module_name, None)
        sys.modules.pop(f"test_with_file_{kind}", None)
    refused = cli_runner.invoke(
        cli, ["plugins", "new", "dataset", "d", "--to", str(tmp_path / "d"), "--with-file-param"]
    )
    assert refused.exit_code == 1 and "already a path parameter" in refused.output
