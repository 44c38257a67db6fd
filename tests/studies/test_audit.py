"""`serkit audit` (selection on the test part, labelled an audit) and `train.refit`."""

from __future__ import annotations

import json
import shutil

from helpers import RAVDESS, need, tiny_run_args

from serkit.cli import cli

FAST = ("augment=[]", "train.patience=5", "run.workers=1")


def only_run(tmp):
    (run,) = (tmp / "runs").iterdir()
    return run


def test_audit_scores_every_epoch_and_keeps_the_honest_pick_apart(cli_runner, tmp_path):
    args = tiny_run_args(need(RAVDESS), tmp_path, *FAST, "train.max_epochs=3", "train.keep_epoch_weights=true")
    assert cli_runner.invoke(cli, args).exit_code == 0
    run = only_run(tmp_path)
    assert sorted(p.name for p in (run / "folds" / "random" / "epochs").iterdir()) == ["001.pt", "002.pt", "003.pt"]
    result = cli_runner.invoke(cli, ["audit", str(run)])
    assert result.exit_code == 0, result.output
    audit = json.loads((run / "audit" / "audit.json").read_text())
    (row,) = audit["folds"]
    fold = json.loads((run / "folds" / "random" / "result.json").read_text())
    assert row["honest_epoch"] == fold["best_epoch"]
    # The honest pick is the model the run reported: its test UAR is the run's, to the last digit.
    assert row["honest_test_uar"] == fold["metrics"]["uar"]
    assert row["test_selected_uar"] >= row["honest_test_uar"] and row["gap"] >= 0
    assert len(audit["curves"][0]["test_uar"]) == 3
    report = (run / "audit" / "audit.md").read_text()
    assert report.startswith("# AUDIT") and "not a result" in report
    assert (run / "audit" / "curves.png").read_bytes()[:4] == b"\x89PNG"
    assert "AUDIT (not a result)" in result.output
    damaged = shutil.copytree(run, tmp_path / "damaged")
    shutil.rmtree(damaged / "audit")
    weights = damaged / "folds" / "random" / "epochs" / "002.pt"
    weights.write_bytes(weights.read_bytes()[:200])  # cut short
    result = cli_runner.invoke(cli, ["audit", str(damaged)])
    assert result.exit_code == 1 and f"{weights}: damaged per-epoch weights" in " ".join(result.output.split())
    assert not (damaged / "audit").exists()


def test_audit_without_epoch_weights_audits_the_split_and_says_why_not_the_epochs(cli_runner, tmp_path):
    assert cli_runner.invoke(cli, tiny_run_args(need(RAVDESS), tmp_path, *FAST, "train.max_epochs=1")).exit_code == 0
    result = cli_runner.invoke(cli, ["audit", str(only_run(tmp_path))], terminal_width=300)
    assert result.exit_code == 0, result.output
    assert "split audit: 0 warning(s), 2 note(s)" in result.output
    assert "selection audit skipped: fold random kept no per-epoch weights" in result.output
    assert "--set train.keep_epoch_weights=true" in result.output and not (only_run(tmp_path) / "audit").exists()


def test_refit_retrains_on_fit_and_validation_for_the_chosen_epoch_count(cli_runner, tmp_path):
    args = tiny_run_args(need(RAVDESS), tmp_path, *FAST, "train.max_epochs=3", "train.refit=true")
    result = cli_runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    run = only_run(tmp_path)
    fold = json.loads((run / "folds" / "random" / "result.json").read_text())
    assert f"refitting on fit + validation (90 items) for {fold['best_epoch']} epoch(s)" in result.output
    assert "refit on the fit and validation parts together" in fold["method"]
    assert "refit on the fit and validation parts together" in (run / "report.md").read_text()
