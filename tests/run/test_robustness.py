"""No silent wrong result, no lost run, one clear line for every bad input."""

from __future__ import annotations

import io
import json
import os
import sys

import numpy as np
import pytest
import soundfile
import torch
from click.testing import CliRunner
from helpers import RAVDESS, install_fake_distribution, need, tiny_run_args
from rich.console import Console

from serkit.builtin.features import LogMel
from serkit.builtin.preprocessors import FixLength, Resample
from serkit.cli import cli
from serkit.core.registry import get_registry, reset_plugin_manager
from serkit.data.cache import ArrayCache, file_digest
from serkit.data.compute import compute_features
from serkit.data.pipeline import Pipeline
from serkit.run.reporter import ConsoleReporter

FAST = ("augment=[]", "train.max_epochs=1")


def _run(tmp_path, *overrides, root=None):
    return CliRunner().invoke(cli, tiny_run_args(root or need(RAVDESS), tmp_path, *FAST, *overrides))


def said(result) -> str:
    """What a command printed, with the console's line wrapping undone."""
    return " ".join(result.output.split())


def _run_dir(tmp_path):
    return next((tmp_path / "runs").iterdir())


# -- silent wrong results ------------------------------------------------------------------------


def test_a_diverging_loss_stops_the_run_without_a_result(tmp_path):
    result = _run(tmp_path, "train.learning_rate=1e30", "train.max_epochs=2")
    assert result.exit_code == 1
    assert "training diverged in epoch 1: the training loss became nan" in said(result)
    assert "train.learning_rate = 1e+30 is too high" in said(result)
    assert not (_run_dir(tmp_path) / "metrics.json").exists()


def test_a_corpus_of_one_class_is_an_error_before_training(tmp_path):
    result = _run(tmp_path, 'dataset.emotions=["angry"]')
    assert result.exit_code == 1 and "hold 1 class(es) (angry); a classifier needs at least two" in said(result)


def test_a_requested_emotion_with_no_files_is_named(small_ravdess, tmp_path):
    for calm in small_ravdess.glob("03-01-02-*.wav"):
        calm.unlink()
    result = _run(tmp_path, 'dataset.emotions=["angry", "calm"]', root=small_ravdess)
    assert result.exit_code == 1
    assert "hold 1 class(es) (angry); no readable file is labelled calm; a classifier needs" in said(result)
    result = _run(tmp_path, 'dataset.emotions=["angry", "calm", "sad"]', root=small_ravdess)
    assert result.exit_code == 0 and "left out: no readable file is labelled calm" in said(result)
    (metrics,) = (tmp_path / "runs").glob("*/metrics.json")
    assert "classes with no readable file, left out: calm" in json.loads(metrics.read_text())["notes"]


def test_a_read_only_run_folder_is_named(tmp_path, read_only):
    assert _run(tmp_path).exit_code == 0
    run = _run_dir(tmp_path)
    (run / "metrics.json").unlink()  # as if interrupted: resume would write
    read_only(run)
    for command, what in (
        (["export", str(run), "--format", "torchscript"], "the folder to export into"),
        (["resume", str(run)], "the run folder"),
        (["audit", str(run)], None),  # no metrics.json: told first that the run is not finished
    ):
        result = CliRunner().invoke(cli, command)
        assert result.exit_code == 1, result.output
        (line,) = result.output.strip().splitlines()
        if what:
            assert line.startswith(f"Error: {run}: {what} is not writable (") and "nothing was written" in line


def test_rotten_cache_entries_are_recomputed_and_reported(ravdess_root, tmp_path):
    paths = sorted(str(p) for p in ravdess_root.rglob("*.wav"))[:4]
    hashes = [file_digest(p) for p in paths]
    pipeline = Pipeline([Resample(sample_rate=16000), FixLength(seconds=1.0)], [], LogMel(n_mels=32), seed=1)
    items = [(i, None) for i in range(4)]
    cache = ArrayCache(tmp_path)
    fresh = compute_features(pipeline, paths, hashes, items, cache)
    nan = fresh[(0, None)].copy()
    nan[0, 3, 3] = np.nan
    np.save(cache.path("features", pipeline.feature_key(hashes[0], None)), nan)
    np.save(cache.path("features", pipeline.feature_key(hashes[1], None)), fresh[(1, None)][:, :, :10])
    notes: list[str] = []
    again = compute_features(pipeline, paths, hashes, items, cache, notes=notes)
    assert all(np.array_equal(again[item], fresh[item]) for item in items)
    assert notes == [
        f"2 damaged feature-cache entries were recomputed (non-finite values, or a dtype or shape the pipeline "
        f"does not write; e.g. {paths[0]}'s)"
    ]
    assert np.array_equal(np.load(cache.path("features", pipeline.feature_key(hashes[0], None))), fresh[(0, None)])


# -- lost or damaged results ---------------------------------------------------------------------


def test_resume_retrains_a_fold_whose_saved_model_is_damaged(tmp_path):
    assert _run(tmp_path).exit_code == 0
    run = _run_dir(tmp_path)
    good = (run / "model.pt").read_bytes()
    (run / "metrics.json").unlink()  # as if the run was killed while writing its outputs
    (run / "folds" / "random" / "model.pt").write_bytes(b"damaged")
    result = CliRunner().invoke(cli, ["resume", str(run)])
    assert result.exit_code == 0, result.output
    assert "its saved model" in said(result) and "training the fold again" in said(result)
    state = torch.load(run / "model.pt", weights_only=True)
    assert set(state) == set(torch.load(io.BytesIO(good), weights_only=True))
    assert (run / "folds" / "random" / "model.pt").read_bytes() == (run / "model.pt").read_bytes()


def test_export_never_overwrites_another_stages_file(tmp_path):
    assert _run(tmp_path).exit_code == 0
    run = _run_dir(tmp_path)
    for name in ("split.json", "predictions.csv", "report.md"):
        before = (run / name).read_bytes()
        result = CliRunner().invoke(cli, ["export", str(run), "--format", "torchscript", "--out", str(run / name)])
        assert result.exit_code == 1 and "would overwrite a file of the run folder" in said(result)
        assert (run / name).read_bytes() == before
    for _ in range(2):  # its own earlier output is its to replace
        assert CliRunner().invoke(cli, ["export", str(run), "--format", "torchscript"]).exit_code == 0


@pytest.mark.parametrize("name", ["../escaped", "a/b", "..", ".hidden", "with space"])
def test_run_names_cannot_leave_the_output_folder(tmp_path, name):
    result = _run(tmp_path, f"run.name={name}")
    assert result.exit_code == 1 and f"run.name: '{name}' cannot name a run folder" in said(result)
    assert not (tmp_path / "escaped").exists() and not (tmp_path / "runs").exists()


def test_an_output_folder_that_cannot_be_created_is_named(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = CliRunner().invoke(
        cli, [*tiny_run_args(need(RAVDESS), tmp_path, *FAST), "--set", f"run.output={blocker / 'runs'}"]
    )
    assert result.exit_code == 1 and f"run.output: cannot create the run folder {blocker / 'runs'}" in said(result)


def test_resume_with_a_changed_model_names_the_recipe(tmp_path):
    assert _run(tmp_path, "train.max_epochs=2").exit_code == 0
    run = _run_dir(tmp_path)
    (run / "metrics.json").unlink()
    (run / "folds" / "random" / "result.json").unlink()  # interrupted after its checkpoint
    recipe = (run / "recipe.toml").read_text().replace("lstm_units = 16", "lstm_units = 24")
    (run / "recipe.toml").write_text(recipe)
    result = CliRunner().invoke(cli, ["resume", str(run)])
    assert result.exit_code == 1
    assert "written by a model of another shape than the recipe's [model]" in said(result)
    assert len(result.output.strip().splitlines()[-1]) < 400


# -- vague or wrong messages ---------------------------------------------------------------------


def test_user_text_is_printed_as_written():
    out = io.StringIO()
    ConsoleReporter(Console(file=out, width=200)).say("  skipped a [bold]x[/] [/] file [1].wav")
    assert out.getvalue().strip() == "skipped a [bold]x[/] [/] file [1].wav"


def test_nan_samples_and_broken_links_are_unreadable_everywhere(small_ravdess, tmp_path, cli_runner):
    bad = small_ravdess / "03-01-01-01-01-01-09.wav"
    soundfile.write(bad, np.full(16000, np.nan, np.float32), 16000, subtype="FLOAT")
    link = small_ravdess / "03-01-01-01-01-02-09.wav"
    os.symlink(tmp_path / "nowhere.wav", link)
    check = cli_runner.invoke(cli, ["data", "check", "ravdess", str(small_ravdess), "--json"])
    problems = json.loads(check.stdout)["unreadable"]
    assert any("NaN or infinite samples" in p and bad.name in p for p in problems)
    assert any("broken symbolic link" in p and link.name in p for p in problems)
    stopped = _run(tmp_path / "a", root=small_ravdess)
    assert stopped.exit_code == 1 and bad.name in said(stopped) and "skip_unreadable" in said(stopped)
    skipped = _run(tmp_path / "b", "run.skip_unreadable=true", "protocol.test_size=0.4", root=small_ravdess)
    assert skipped.exit_code == 0, skipped.output
    notes = " ".join(json.loads((_run_dir(tmp_path / "b") / "metrics.json").read_text())["notes"])
    assert bad.name in notes and link.name in notes


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes on this system")
def test_predict_refuses_pipes_silence_empty_folders_and_a_zero_hop(tmp_path, cli_runner):
    assert _run(tmp_path).exit_code == 0
    run = _run_dir(tmp_path)
    pipe = tmp_path / "pipe.wav"
    os.mkfifo(pipe)
    result = cli_runner.invoke(cli, ["predict", str(run), str(pipe)])
    assert result.exit_code == 1 and "not an audio file but a pipe" in said(result)
    empty = tmp_path / "empty"
    empty.mkdir()
    result = cli_runner.invoke(cli, ["predict", str(run), str(empty)])
    assert result.exit_code == 1 and "AUDIO: no audio files" in said(result)
    silence = tmp_path / "silence.wav"
    soundfile.write(silence, np.zeros(24000, np.float32), 16000)
    result = cli_runner.invoke(cli, ["predict", str(run), str(silence), "--json"])
    assert result.exit_code == 0 and "holds no speech energy" in result.stdout
    result = cli_runner.invoke(cli, ["predict", str(run), str(silence), "--hop", "0"])
    assert result.exit_code == 2 and "--hop" in said(result)


EXITS = """
import sys
sys.exit(0)
"""

ARGV = """
import argparse
argparse.ArgumentParser(prog="hijack").parse_args()  # serkit's own arguments would make it exit
"""


def test_a_plugin_cannot_end_or_hijack_the_process(tmp_path, monkeypatch, cli_runner):
    site = tmp_path / "site"
    site.mkdir()
    install_fake_distribution(site, "serkit-exits", "serkit_exits", EXITS)
    install_fake_distribution(site, "serkit-argv", "serkit_argv", ARGV)
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delenv("SERKIT_LOAD_PLUGINS", raising=False)
    monkeypatch.setattr(sys, "argv", ["serkit", "plugins", "--bogus-flag"])
    reset_plugin_manager()
    try:
        problems = [str(p) for p in get_registry().problems]
        assert any("serkit-exits 1.2.3" in p and "called sys.exit(0)" in p for p in problems)
        assert not any("serkit-argv" in p for p in problems)  # it saw no foreign arguments
        assert sys.argv == ["serkit", "plugins", "--bogus-flag"]
    finally:
        for module in ("serkit_exits", "serkit_argv"):
            sys.modules.pop(module, None)
        reset_plugin_manager()


def test_a_plugin_left_out_by_the_filter_is_named(tmp_path, monkeypatch):
    monkeypatch.setenv("SERKIT_LOAD_PLUGINS", "serkit-mfcc")
    reset_plugin_manager()
    try:
        result = _run(tmp_path, 'augment=[{name = "spec_augment"}]')
        assert result.exit_code == 1
        assert "unknown augmenter 'spec_augment'" in said(result)
        assert "SERKIT_LOAD_PLUGINS left out the installed plugin(s)" in said(result)
    finally:
        reset_plugin_manager()


# -- reproducibility -----------------------------------------------------------------------------

VOICE_PRINT = """
import hashlib, sys
from serkit.corpora.synth import FEMALE_VARIANTS, MALE_VARIANTS, Espeak
espeak = Espeak()
for variant in MALE_VARIANTS + FEMALE_VARIANTS:
    wave = espeak.say("<speak>Kids are talking by the door.</speak>", "en-us+" + variant, 175, 50, 50, 0)
    print(variant, hashlib.sha256(wave.tobytes()).hexdigest())
"""


def test_every_synthetic_voice_is_the_same_in_every_process():
    import subprocess

    runs = [
        subprocess.run([sys.executable, "-c", VOICE_PRINT], capture_output=True, text=True, check=True) for _ in "ab"
    ]
    first, second = (run.stdout.split("\n") for run in runs)
    assert len(first) > 13 and first == second
