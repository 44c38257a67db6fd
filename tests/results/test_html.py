"""The HTML page of a run, rendered in headless Chromium: no console error, the warnings block, the
results table and every figure present, a screenshot that is not blank, nothing of the writing
machine's paths, and `serkit report` for an existing (0.2) run folder."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from helpers import RAVDESS, need, not_blank, render_in_chromium, tiny_run_args

from serkit.cli import cli

pytestmark = pytest.mark.slow

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def test_a_runs_page_renders_with_every_figure_and_no_path_of_this_machine(cli_runner, tmp_path):
    args = tiny_run_args(need(RAVDESS), tmp_path, "train.max_epochs=2", "calibrate.method=temperature")
    result = cli_runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    (run,) = (tmp_path / "runs").iterdir()
    page = run / "report.html"
    text = page.read_text()
    assert page.stat().st_size < 2_000_000
    assert str(tmp_path) not in text and str(need(RAVDESS)) not in text and str(Path.home()) + "/" not in text
    assert "<script" not in text and "http" not in text.replace("http-equiv", "")  # nothing fetched, nothing run
    shown = render_in_chromium(page, tmp_path / "run.png")
    assert shown["errors"] == []
    assert {"training-curves", "groups", "reliability", "confusion"} <= {name for name, _ in shown["images"]}
    assert all(width > 100 for _, width in shown["images"])  # every image decoded
    assert shown["sections"][0] == "warnings" and "results" in shown["sections"] and shown["tables"] >= 1
    assert "split-audit" in shown["sections"] and "calibration" in shown["sections"]
    assert not_blank(tmp_path / "run.png")


def test_serkit_report_writes_the_page_of_a_0_2_run_folder(cli_runner, tmp_path):
    old = shutil.copytree(FIXTURES / "run-format-0", tmp_path / "old-run")
    result = cli_runner.invoke(cli, ["report", str(old)])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"wrote {old / 'report.html'}"
    shown = render_in_chromium(old / "report.html", tmp_path / "old.png")
    assert shown["errors"] == [] and "confusion" in {name for name, _ in shown["images"]}
    assert "calibration" not in shown["sections"]  # 0.2 folders have no calibration figures: left out
    missing = cli_runner.invoke(cli, ["report", str(tmp_path)])
    assert (
        missing.exit_code == 1 and "neither a finished run (no metrics.json) nor a finished ablation" in missing.output
    )
