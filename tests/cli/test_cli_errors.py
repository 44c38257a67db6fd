"""Bad input stops with one clear line naming the culprit and a non-zero exit."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from serkit import Augmenter, hookimpl
from serkit.cli import cli

RECIPES = Path(__file__).resolve().parents[2] / "recipes"
TINY = str(RECIPES / "tiny.toml")


def fails_with(result, *fragments: str) -> str:
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    error = [line for line in lines if line.startswith("Error: ")]
    assert len(error) == 1, result.output
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in error[0], error[0]
    return error[0]


def test_missing_dataset_folder(cli_runner, run_args, tmp_path):
    result = cli_runner.invoke(cli, ["run", TINY, "--set", f"dataset.root={tmp_path / 'absent'}", *run_args])
    fails_with(result, "dataset.root: folder", "absent' does not exist")


def test_folder_without_matching_files(cli_runner, run_args, tmp_path):
    (tmp_path / "notes.txt").write_text("no audio here")
    result = cli_runner.invoke(cli, ["run", TINY, "--set", f"dataset.root={tmp_path}", *run_args])
    fails_with(result, "no RAVDESS speech files")


@pytest.mark.parametrize("content", [b"", b"RIFF\x00\x00garbage"], ids=["empty", "corrupt"])
def test_unreadable_file_is_named(cli_runner, run_args, small_ravdess, content):
    bad = small_ravdess / "03-01-01-01-01-01-03.wav"
    bad.write_bytes(content)
    result = cli_runner.invoke(cli, ["run", TINY, "--set", f"dataset.root={small_ravdess}", *run_args])
    fails_with(result, str(bad), "cannot read audio", "--skip-unreadable")


@pytest.mark.slow
def test_skip_unreadable_reports_the_file_and_runs(cli_runner, run_args, small_ravdess, tmp_path):
    bad = small_ravdess / "03-01-01-01-01-01-03.wav"
    bad.write_bytes(b"RIFF\x00\x00garbage")
    args = [
        "run",
        TINY,
        "--set",
        f"dataset.root={small_ravdess}",
        "--skip-unreadable",
        "--set",
        "train.max_epochs=1",
        "--set",
        "augment=[]",
        "--set",
        "protocol.test_size=0.35",
        *run_args,
    ]
    result = cli_runner.invoke(cli, args, env={"COLUMNS": "300"})
    assert result.exit_code == 0, result.output
    assert f"skipped unreadable file: {bad}" in result.output
    (run_dir,) = (tmp_path / "runs").iterdir()
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["dataset"]["utterances"] == 24
    assert any(str(bad) in note for note in metrics["notes"])
    assert str(bad) in (run_dir / "report.md").read_text()


def test_unknown_component_and_wrong_type(cli_runner, run_args):
    result = cli_runner.invoke(cli, ["run", TINY, "--set", 'model.name="crn"', *run_args])
    fails_with(result, "tiny.toml", "model.name: unknown model 'crn'; did you mean 'crnn'?")
    result = cli_runner.invoke(cli, ["run", TINY, "--set", "train.batch_size=big", *run_args])
    fails_with(result, "train.batch_size: expected int, got str 'big'")


def test_missing_recipe_and_bad_override(cli_runner, run_args, tmp_path):
    fails_with(cli_runner.invoke(cli, ["run", str(tmp_path / "none.toml")]), "none.toml", "file not found")
    fails_with(cli_runner.invoke(cli, ["run", TINY, "--set", "train"]), "expected KEY=VALUE")


@dataclass(frozen=True, kw_only=True)
class Exploding(Augmenter):
    """Always fails."""

    name = "exploding"

    def __call__(self, wave, sample_rate, rng):
        raise RuntimeError("the plugin broke")


class ExplodingPlugin:
    @hookimpl
    def register_augmenters(self, register):
        register(Exploding)


def test_a_plugin_that_raises_at_run_time_is_named(cli_runner, run_args, small_ravdess, register_plugin):
    register_plugin(ExplodingPlugin(), "serkit-exploding")
    args = [
        "run",
        TINY,
        "--set",
        f"dataset.root={small_ravdess}",
        "--set",
        'augment=[{name = "exploding"}]',
        "--set",
        "protocol.test_size=0.35",
        "--set",
        "run.workers=1",
        *run_args,
    ]
    fails_with(
        cli_runner.invoke(cli, args),
        "augmenter 'exploding' (serkit-exploding",
        "failed on",
        "RuntimeError: the plugin broke",
    )


def test_a_broken_plugin_stops_the_run_before_any_work(cli_runner, run_args, register_plugin):
    class Broken:
        @hookimpl
        def register_models(self, register):
            raise ImportError("missing dependency 'foo'")

    register_plugin(Broken(), "serkit-broken-model")
    fails_with(
        cli_runner.invoke(cli, ["run", TINY, *run_args]),
        "(entry point 'serkit-broken-model')",
        "ImportError: missing dependency 'foo'",
    )


def test_real_process_prints_one_line_and_debug_shows_the_traceback(tmp_path):
    command = [sys.executable, "-m", "serkit.cli", "run", TINY, "--set", f"dataset.root={tmp_path / 'x'}"]
    plain = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path)
    assert plain.returncode == 1
    assert plain.stderr.strip().count("\n") == 0 and plain.stderr.startswith("Error: dataset.root: folder")
    assert "Traceback" not in plain.stderr + plain.stdout
    debug = subprocess.run([*command[:3], "--debug", *command[3:]], capture_output=True, text=True, cwd=tmp_path)
    assert debug.returncode == 1 and "Traceback" in debug.stderr
