"""The docs cannot drift: every Python and TOML block in docs/*.md (and the README's) runs or parses
here, every `serkit ...` shell line names a command that exists, and a scripted author trial builds,
from docs/plugins.md's own snippets, an installed package with a noise-file augmenter (a path
parameter) and a vector feature extractor, passes the contract kit, then plants each registration
mistake the docs warn about and reads the line that reports it."""

from __future__ import annotations

import re
import shlex
import sys
import textwrap
import tomllib
from pathlib import Path

import click
import numpy as np
import pytest
import soundfile as sf
from helpers import ROOT

from serkit.cli import cli
from serkit.core.registry import get_registry, reset_plugin_manager

DOCS = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]
PLUGINS_MD = ROOT / "docs" / "plugins.md"
PRELUDE = (
    "from __future__ import annotations\nfrom dataclasses import dataclass\nimport numpy as np\n"
    "from serkit import Augmenter, EstimatorModel, FeatureAugmenter, FeatureExtractor, hookimpl, param\n"
)


def blocks(path: Path, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", path.read_text(encoding="utf-8"), re.S)


def _all(language: str) -> list[tuple[str, str]]:
    return [(f"{path.name}#{k}", block) for path in DOCS for k, block in enumerate(blocks(path, language))]


@pytest.mark.parametrize(("where", "block"), _all("toml"), ids=[w for w, _ in _all("toml")])
def test_every_toml_block_parses(where, block):
    tomllib.loads(block)


@pytest.mark.parametrize(("where", "block"), _all("python"), ids=[w for w, _ in _all("python")])
def test_every_python_block_compiles(where, block):
    compile(PRELUDE + block, where, "exec")


def _shell_commands() -> list[str]:
    found = []
    for path in DOCS:
        for block in blocks(path, "bash"):
            for line in block.splitlines():
                line = line.split("#")[0].strip().removesuffix("\\").strip()
                if line.startswith("serkit "):
                    found.append(line)
    return sorted(set(found))


@pytest.mark.parametrize("line", _shell_commands())
def test_every_serkit_shell_line_names_a_command_that_exists(line, cli_runner):
    words = shlex.split(line)[1:]
    command: click.Command = cli
    path = []
    while isinstance(command, click.Group) and words and words[0] in command.commands:
        path.append(words[0])
        command = command.commands[words.pop(0)]
    assert path, f"{line}: no such command"
    result = cli_runner.invoke(cli, [*path, "--help"])
    assert result.exit_code == 0, result.output


# --- the scripted author trial ---------------------------------------------------------------


def _snippet(class_name: str) -> str:
    (found,) = [b for b in blocks(PLUGINS_MD, "python") if f"class {class_name}(" in b]
    return found


def _package_source(hooks: str) -> str:
    """One module holding the docs' noise augmenter and vector extractor, registered by ``hooks``."""
    energy = _snippet("Energy").split("@hookimpl")[0]
    return PRELUDE + _snippet("BackgroundNoise") + "\n\n" + energy + "\n\n" + textwrap.dedent(hooks)


GOOD_HOOKS = """
@hookimpl
def register_augmenters(register):
    register(BackgroundNoise)


@hookimpl
def register_feature_extractors(register):
    register(Energy)
"""


def _install(site: Path, source: str, group: str = "serkit") -> None:
    """What `pip install` of the author's package leaves: the module and its entry point."""
    pyproject = tomllib.loads(blocks(PLUGINS_MD, "toml")[0])
    entry_name = next(iter(pyproject["project"]["entry-points"]["serkit"]))
    (site / "author_plugins.py").write_text(source)
    info = site / "author_ser_plugins-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: author-ser-plugins\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text(f"[{group}]\n{entry_name} = author_plugins\n")


@pytest.fixture
def author(tmp_path, monkeypatch):
    """A fresh site folder on sys.path for the author's package, and a noise folder at 44.1 kHz."""
    site = tmp_path / "site"
    site.mkdir()
    noise = tmp_path / "noise"
    noise.mkdir()
    rng = np.random.default_rng(0)
    sf.write(noise / "hum.wav", (0.1 * rng.standard_normal(44100)).astype(np.float32), 44100)
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delenv("SERKIT_LOAD_PLUGINS", raising=False)
    yield site, noise
    sys.modules.pop("author_plugins", None)
    reset_plugin_manager()


def test_the_docs_snippets_make_a_package_that_keeps_the_contract(author):
    from serkit.testing import check_component

    site, noise = author
    _install(site, _package_source(GOOD_HOOKS))
    reset_plugin_manager()
    registry = get_registry()
    assert not registry.problems, registry.problems
    noisy = registry.entries["augmenters"]["background_noise"]
    energy = registry.entries["feature_extractors"]["energy_stats"]
    assert str(noisy.provider) == "author-ser-plugins 0.1.0" and energy.provider == noisy.provider
    augmenter = noisy.cls.from_params({"noise_dir": str(noise)}, "augment")
    check_component(augmenter)  # 16 and 44.1 kHz clips: the 44.1 kHz noise is resampled to each
    check_component(energy.cls())
    empty = noise.parent / "empty"
    empty.mkdir()
    with pytest.raises(Exception, match=r"no \.wav files in"):
        noisy.cls.from_params({"noise_dir": str(empty)}, "augment")


@pytest.mark.parametrize(
    ("hooks", "group", "line"),
    [
        (GOOD_HOOKS.replace("def register_augmenters", "def register_augmenter"), "serkit", "is not a serkit hook"),
        (
            GOOD_HOOKS.replace("@hookimpl\ndef register_feature_extractors", "def register_feature_extractors"),
            "serkit",
            "'register_feature_extractors' is not marked @hookimpl",
        ),
        (GOOD_HOOKS, "serkit.plugins", "its entry point is in the group 'serkit.plugins'"),
    ],
    ids=["misspelt hook", "hook without @hookimpl", "wrong entry-point group"],
)
def test_each_planted_registration_mistake_is_reported(author, cli_runner, hooks, group, line):
    site, _ = author
    _install(site, _package_source(hooks), group)
    reset_plugin_manager()
    listed = cli_runner.invoke(cli, ["plugins"], env={"COLUMNS": "300"})
    assert "broken:" in listed.output and "author-ser-plugins 0.1.0" in listed.output and line in listed.output


# --- the dataset chapter, as an author would assemble it ------------------------------------------


def _chapter_block(marker: str) -> str:
    (found,) = [b for b in blocks(PLUGINS_MD, "python") if b.startswith(marker)]
    return found


def test_the_dataset_chapter_makes_a_package_that_plugins_check_and_data_check_pass(tmp_path, monkeypatch, cli_runner):
    """docs/plugins.md's dataset chapter: its module and its test, installed as written; the test passes, the kit
    passes through `serkit plugins check`, and `serkit data check --strict` finds nothing wrong."""
    site = tmp_path / "site"
    (site / "serkit_tiny_corpus").mkdir(parents=True)
    (site / "serkit_tiny_corpus" / "__init__.py").write_text(_chapter_block("# serkit_tiny_corpus/__init__.py"))
    (site / "test_tiny_corpus.py").write_text(_chapter_block("# tests/test_tiny_corpus.py"))
    info = site / "serkit_tiny_corpus-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: serkit-tiny-corpus\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text("[serkit]\ntiny_corpus = serkit_tiny_corpus\n")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delenv("SERKIT_LOAD_PLUGINS", raising=False)
    reset_plugin_manager()
    try:
        import test_tiny_corpus  # the chapter's own test, as pytest would run it

        test_tiny_corpus.test_reads_the_corpus_and_keeps_the_contract(tmp_path / "own")
        corpus = test_tiny_corpus.write_corpus(tmp_path / "corpus", rehearsal=False)
        checked = cli_runner.invoke(
            cli,
            ["plugins", "check", "serkit-tiny-corpus", "--set", f"tiny_corpus.root={corpus}"],
            env={"COLUMNS": "200"},
        )
        assert checked.exit_code == 0 and "pass" in checked.output, checked.output
        strict = cli_runner.invoke(
            cli, ["data", "check", "tiny_corpus", str(corpus), "--strict"], env={"COLUMNS": "200"}
        )
        assert strict.exit_code == 0 and "no problems found" in strict.output, strict.output
        odd = cli_runner.invoke(cli, ["data", "check", "tiny_corpus", str(tmp_path / "own" / "wav"), "--strict"])
        assert odd.exit_code == 1 and "f01-A-0.wav" in odd.output  # the rehearsal take, off the convention
    finally:
        for module in ("serkit_tiny_corpus", "test_tiny_corpus"):
            sys.modules.pop(module, None)
        reset_plugin_manager()


def test_the_feature_shape_table_is_what_the_code_and_the_contract_kit_use():
    from serkit.core.components import MODEL_INPUTS, SHAPE_NDIM, SHAPES
    from serkit.testing import EXAMPLE_INPUTS

    text = PLUGINS_MD.read_text(encoding="utf-8")
    section = text.split("## Feature shapes")[1].split("\n## ")[0]
    rows = {}
    for line in section.splitlines():
        if line.startswith('| `"'):
            cells = [c.strip() for c in line.strip("|").split("|")]
            rows[cells[0].split('"')[1]] = cells[1:3]
    assert set(rows) == set(SHAPES) == set(MODEL_INPUTS) == set(EXAMPLE_INPUTS)
    for shape, (utterance, batch) in rows.items():
        assert utterance == SHAPES[shape] and batch == MODEL_INPUTS[shape]
        for example in EXAMPLE_INPUTS[shape]:  # the kit builds models on (batch, *example)
            assert len(example) in SHAPE_NDIM[shape]
