"""The command line as a tree of groups: every command's errors are one line (one Group subclass
does it, so a new command cannot forget it), docs/cli.md is generated from the tree and current, and
dataset kinds say through their class whether `serkit data download` can fetch them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import click
import pytest

from serkit import Dataset, DownloadSource, hookimpl, param
from serkit.cli import cli
from serkit.cli.base import SerkitGroup
from serkit.cli.reference import render
from serkit.core.errors import SerkitError

DOCS = Path(__file__).resolve().parents[2] / "docs" / "cli.md"


def _groups(command: click.Command) -> list[click.Command]:
    found = [command] if isinstance(command, click.Group) else []
    for sub in getattr(command, "commands", {}).values():
        found += _groups(sub)
    return found


def test_every_group_is_a_serkit_group():
    groups = _groups(cli)
    assert {g.name for g in groups} >= {"cli", "runs", "cache", "data", "plugins"}
    assert all(isinstance(group, SerkitGroup) for group in groups)


def test_the_command_reference_is_current():
    assert DOCS.read_text(encoding="utf-8") == render(cli), "run: python -m serkit.cli.reference docs/cli.md"
    for path in ("serkit run", "serkit runs compare", "serkit data download", "serkit plugins new"):
        assert f"## `{path}`" in DOCS.read_text(encoding="utf-8")


@pytest.fixture
def failing_cli():
    """A root group like serkit's with commands that fail in each way a command can."""

    @click.group(cls=SerkitGroup)
    @click.option("--debug", is_flag=True)
    def root(debug: bool) -> None:
        pass

    @root.group(cls=SerkitGroup)
    def sub() -> None:
        pass

    @sub.command()
    @click.argument("how")
    def fail(how: str) -> None:
        if how == "serkit":
            raise SerkitError("recipe.toml: train.max_epochs: must be at least 1")
        if how == "os":
            raise FileNotFoundError(2, "No such file or directory", "/data/missing.wav")
        if how == "usage":
            raise click.BadParameter("not a number")
        raise ZeroDivisionError("division by zero")

    return root


@pytest.mark.parametrize(
    ("how", "line"),
    [
        ("serkit", "Error: recipe.toml: train.max_epochs: must be at least 1"),
        ("os", "Error: /data/missing.wav: No such file or directory (rerun with --debug for the traceback)"),
        ("other", "Error: unexpected ZeroDivisionError: division by zero (rerun with --debug for the traceback)"),
    ],
)
def test_a_failing_command_is_one_line_and_exit_1(cli_runner, failing_cli, how, line):
    result = cli_runner.invoke(failing_cli, ["sub", "fail", how])
    assert result.exit_code == 1 and result.output.strip() == line


def test_debug_shows_the_traceback_and_usage_errors_stay_clicks(cli_runner, failing_cli):
    debug = cli_runner.invoke(failing_cli, ["--debug", "sub", "fail", "serkit"])
    assert isinstance(debug.exception, SerkitError)
    usage = cli_runner.invoke(failing_cli, ["sub", "fail", "usage"])
    assert usage.exit_code == 2 and "Invalid value: not a number" in usage.output


@dataclass(frozen=True, kw_only=True)
class Mirrored(Dataset):
    """A corpus a plugin knows how to download."""

    name = "mirrored_corpus"
    source = DownloadSource(url="http://127.0.0.1:9/mirrored.zip", filename="mirrored.zip", licence="CC0")
    root: str = param(help="folder")


class MirroredPlugin:
    @hookimpl
    def register_datasets(self, register):  # type: ignore[no-untyped-def]
        register(Mirrored)


def test_download_lists_what_the_registry_offers(cli_runner, register_plugin):
    register_plugin(MirroredPlugin(), "serkit-mirrored")
    listed = cli_runner.invoke(cli, ["data", "download"], env={"COLUMNS": "250"})
    assert listed.exit_code == 0, listed.output
    for name in ("ravdess", "emodb", "mirrored_corpus", "CC0", "http://127.0.0.1:9/mirrored.zip"):
        assert name in listed.output
    assert "manifest" not in listed.output and "synthetic" not in listed.output  # no source: not offered
    wrong = cli_runner.invoke(cli, ["data", "download", "mirored_corpus"])
    assert wrong.exit_code == 1 and "did you mean 'mirrored_corpus'?" in wrong.output


def test_plugins_reads_well_at_80_columns(cli_runner):
    listed = cli_runner.invoke(cli, ["plugins"], env={"COLUMNS": "80"})
    assert listed.exit_code == 0
    lines = listed.output.splitlines()
    assert all(len(line) <= 80 for line in lines) and "…" not in listed.output
    assert any(line.startswith("log_mel (serkit ") for line in lines)  # each component whole, not cut
    assert any(line.strip().startswith("n_mels: int = ") for line in lines)


def test_an_ablation_reads_well_at_80_columns():
    """Long variant names and nine columns: the table where it fits, a paragraph per variant where not."""
    from rich.console import Console

    from serkit.studies.ablate import AblationRow, Sweep, _rich_table

    common = {"metric": "uar", "folds": 10, "test": None}
    row = AblationRow(
        "five-second clips with noise and room reverberation",
        mean=0.55,
        sd=0.06,
        pooled=0.56,
        pooled_ci_low=0.5,
        pooled_ci_high=0.6,
        delta=0.0,
        delta_ci_low=None,
        delta_ci_high=None,
        p=None,
        seconds=120.0,
        feature_seconds=20.0,
        folder="00-x",
        accuracy_mean=0.6,
        accuracy_sd=0.05,
        delta_accuracy=0.0,
        **common,
    )
    other = AblationRow(
        "without augmentation",
        mean=0.45,
        sd=0.06,
        pooled=0.46,
        pooled_ci_low=0.4,
        pooled_ci_high=0.5,
        delta=-0.1,
        delta_ci_low=-0.2,
        delta_ci_high=0.0,
        p=0.01,
        seconds=60.0,
        feature_seconds=0.0,
        folder="01-y",
        accuracy_mean=0.5,
        accuracy_sd=0.05,
        delta_accuracy=-0.1,
        **common | {"test": "Wilcoxon signed-rank over speakers"},
    )
    rendered = {}
    for width in (80, 250):
        console = Console(width=width, record=True)
        console.print(_rich_table(Sweep("s", Path("s.toml"), []), [row, other], ["loso"]))
        rendered[width] = console.export_text()
    assert "five-second clips with noise and room reverberation (baseline):" in rendered[80]
    assert "UAR 55.00 ± 6.00 % over folds, pooled 56.00 [50.00, 60.00]" in rendered[80]
    assert "Δ UAR -10.00 (CI [-20.00, +0.00]), p = 0.010" in rendered[80] and "…" not in rendered[80]
    assert "┃ variant" in rendered[250]  # wide enough: the table
