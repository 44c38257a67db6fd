"""[report] groups on real audio: a manifest column reported per group in a run, and compared per
group by `serkit runs compare` and `serkit ablate` (paired bootstrap intervals, both gaps)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from helpers import EMODB, ROOT, need, not_blank, render_in_chromium

from serkit.cli import cli

pytestmark = pytest.mark.slow

#: A planted metadata column (not EMO-DB's): five speakers are "younger", five "older".
YOUNGER = {"03", "08", "09", "10", "11"}


def _manifest(tmp: Path) -> Path:
    """Eight EMO-DB files of each of the ten speakers, with an age_band column and a room column that
    half the rows leave empty."""
    rows, taken = [], {}
    for path in sorted(need(EMODB).glob("*.wav")):
        speaker = path.name[:2]
        if taken.get(speaker, 0) < 8:
            taken[speaker] = taken.get(speaker, 0) + 1
            band = "younger" if speaker in YOUNGER else "older"
            rows.append([str(path), path.name[5], speaker, band, "a" if len(rows) % 2 else ""])
    manifest = tmp / "emodb.csv"
    with manifest.open("w", newline="") as handle:
        csv.writer(handle).writerows([["path", "label", "speaker", "age_band", "room"], *rows])
    return manifest


def test_a_manifest_column_is_reported_and_compared_per_group(cli_runner, tmp_path):
    common = [
        f"dataset={{name = 'manifest', root = '{_manifest(tmp_path)}'}}",
        "protocol={name = 'speaker_kfold', folds = 5, missing_test_classes = 'warn'}",
        "features={name = 'five_spectral'}",
        "model={name = 'logistic_regression'}",
        "normalise.scope=band",
        "report.groups=['age_band', 'room', 'age_bnd']",
        f"run.output={tmp_path / 'runs'}",
        f"run.cache_dir={tmp_path / 'cache'}",
    ]
    sweep = tmp_path / "sweep.toml"
    sweep.write_text(
        f'[sweep]\nname = "groups"\nbase = "{ROOT / "recipes" / "egemaps-svm.toml"}"\nbaseline = "C=1"\n'
        f"set = {json.dumps(common)}\n\n"
        '[[variant]]\nname = "C=0.05"\nset = ["model.C=0.05"]\n'
    )
    result = cli_runner.invoke(cli, ["ablate", str(sweep)], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    folder = tmp_path / "runs" / "groups"
    base, other = folder / "00-c-1", folder / "01-c-0-05"
    metrics = json.loads((base / "metrics.json").read_text())["metrics"]
    bands = metrics["groups"]["age_band"]
    assert set(bands["groups"]) == {"younger", "older"} and bands["groups"]["older"]["resampled_by"] == "speaker"
    assert metrics["group_notes"][0] == "report.groups: 40 of 80 test utterances record no 'room'; not reported"
    typo = "note: report.groups: no test utterance records 'age_bnd', not reported; did you mean 'age_band'?"
    assert typo in result.output  # on the console, not only in the report
    assert "By age_band: the gap in UAR is" in (base / "report.md").read_text()
    ablation = (folder / "ablation.md").read_text()
    assert "## UAR per age_band" in ablation and "| C=0.05 | younger |" in ablation and "| C=0.05 | gap |" in ablation
    shown = render_in_chromium(folder / "ablation.html", tmp_path / "ablation.png")
    assert shown["errors"] == [] and {"forest", "bars"} <= {name for name, _ in shown["images"]}
    assert shown["sections"][0] == "warnings" and "uar-per-age-band" in shown["sections"]
    page = (folder / "ablation.html").read_text()
    assert not_blank(tmp_path / "ablation.png") and "Nadeau-Bengio" in page and str(tmp_path) not in page
    compared = cli_runner.invoke(cli, ["runs", "compare", str(base), str(other), "--json"])
    assert compared.exit_code == 0, compared.output
    groups = json.loads(compared.output)["groups"]
    assert set(groups) == {"age_band"}
    younger = groups["age_band"]["groups"]["younger"]
    assert younger["n"] == 40 and younger["ci"][0] <= younger["difference"] <= younger["ci"][1]
    assert younger["uar_a"] == pytest.approx(bands["groups"]["younger"]["uar"])
    page = tmp_path / "compare.html"
    table = cli_runner.invoke(
        cli, ["runs", "compare", str(base), str(other), "--html", str(page)], env={"COLUMNS": "200"}
    )
    shown = render_in_chromium(page, tmp_path / "compare.png")
    assert shown["errors"] == [] and {"warnings", "test", "uar-per-fold", "uar-per-age-band"} <= set(shown["sections"])
    assert str(tmp_path) not in page.read_text() and not_blank(tmp_path / "compare.png")
    assert (
        "UAR per age_band (B - A, paired bootstrap 95 % CI)" in table.output and "gap between age_band" in table.output
    )
