"""The HTML page of a run, rendered in headless Chromium: no console error, the warnings block, the
results table and every figure present, a screenshot that is not blank, nothing of the writing
machine's paths, and `serkit report` for an existing (0.2) run folder."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from helpers import EMODB, RAVDESS, ROOT, need, not_blank, render_in_chromium, tiny_run_args

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


def test_the_egemaps_page_names_its_top_features(cli_runner, tmp_path):
    pytest.importorskip("serkit_opensmile", reason="the openSMILE plugin is not installed (./plugins/serkit-opensmile)")
    rows, taken = [], {}
    for path in sorted(need(EMODB).glob("*.wav")):
        speaker, label = path.name[:2], path.name[5]
        if speaker in ("03", "08", "09", "10") and label in "WN" and taken.get((speaker, label), 0) < 4:
            taken[speaker, label] = taken.get((speaker, label), 0) + 1
            rows.append(f"{path},{label},{speaker}")
    manifest = tmp_path / "emodb.csv"
    manifest.write_text("path,label,speaker\n" + "\n".join(rows) + "\n")
    dataset = f"dataset={{name = 'manifest', root = '{manifest}'}}"
    args = ["run", str(ROOT / "recipes" / "egemaps-svm.toml"), "--set", dataset]
    for override in (f"run.output={tmp_path / 'runs'}", f"run.cache_dir={tmp_path / 'cache'}"):
        args += ["--set", override]
    result = cli_runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    (run,) = (tmp_path / "runs").iterdir()
    top = json.loads((run / "metrics.json").read_text())["metrics"]["features_say"]["importance"]["top"]
    assert len(top) == 15 and all("_sma3" in row["feature"] for row in top)  # eGeMAPS's own names
    shown = render_in_chromium(run / "report.html", tmp_path / "egemaps.png")
    assert shown["errors"] == [] and "importance" in {name for name, _ in shown["images"]}
    assert "what-the-features-say" in shown["sections"] and top[0]["feature"] in (run / "report.html").read_text()
    assert "training-curves" not in {name for name, _ in shown["images"]}  # an SVM has no epochs to draw


def test_report_open_hands_the_page_to_the_users_browser(cli_runner, tmp_path, monkeypatch):
    import webbrowser

    old = shutil.copytree(FIXTURES / "run-format-0", tmp_path / "old-run")
    opened = tmp_path / "opened.txt"
    browser = tmp_path / "browser.sh"
    browser.write_text(f'#!/bin/sh\necho "$1" > {opened}\n')
    browser.chmod(0o755)
    monkeypatch.setenv("BROWSER", str(browser))
    monkeypatch.setattr(webbrowser, "_tryorder", None)  # read $BROWSER again
    result = cli_runner.invoke(cli, ["report", str(old), "--open"])
    assert result.exit_code == 0, result.output
    assert opened.read_text().strip() == (old / "report.html").resolve().as_uri()


def test_a_page_runs_nothing_and_fetches_nothing_whatever_its_text_holds():
    from serkit.results.html import POLICY, page

    hostile = (
        "# serkit run `x`\n\n- file [x](javascript:alert(1)) and ![](http://example.org/x.png) and <script>1</script>\n"
        "- dataset at /home/someone/corpora/emodb/wav\n"
    )
    text = page(hostile, [], ["speaker <b>1</b> in /srv/data/private/a.wav"], [])
    assert f'<meta http-equiv="Content-Security-Policy" content="{POLICY}">' in text
    assert "default-src 'none'" in POLICY and "img-src data:" in POLICY  # no script, nothing from the network
    assert "<script>" not in text and "<b>1</b>" not in text
    assert "/home/someone" not in text and "…/wav" in text and "…/a.wav" in text
