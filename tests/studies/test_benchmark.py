"""`serkit benchmark` end to end: one recipe (a pooled log-mel and a logistic regression) over EMO-DB (five
speakers: its declared leave-one-speaker-out), the RAVDESS sample under fold files written in EmoBox's format,
and a folder laid out as IEMOCAP (its declared leave-one-session-out); the table with intervals and the
reference column, the page in Chromium, MLflow's parent run with a child per corpus, a rerun that reuses every run,
and the spec's mistakes."""

from __future__ import annotations

import csv
import importlib.util
import json
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile
from helpers import RAVDESS, emodb_subset, need, not_blank, render_in_chromium

from serkit.cli import cli
from serkit.core.scores import accuracy, uar

RECIPES = Path(__file__).resolve().parents[2] / "recipes"

#: IEMOCAP's category codes and a tone per class, so a model can hear them.
CODES = {"ang": 330.0, "neu": 180.0, "sad": 120.0, "hap": 260.0}

SPEC = """
[benchmark]
name = "bench"
base = "{base}"
set = ["report.explain=false", "run.output={tmp}/runs", "run.cache_dir={tmp}/cache", "preprocess=[]",
       "features={{name = 'log_mel_stats'}}", "model={{name = 'logistic_regression'}}", "normalise.scope=band"]

[[corpus]]
name = "emodb"
label = "EMO-DB"
root = "emodb"
reference = {{uar = 91.59, wa = 91.59, source = "Yadav et al. (speaker-dependent)"}}

[[corpus]]
name = "ravdess"
root = "{ravdess}"
folds_dir = "emobox/ravdess"
reference = {{uar = 30.0, source = "entered for the test"}}

[[corpus]]
name = "iemocap"
root = "iemocap"
"""


def _iemocap(root: Path) -> Path:
    """Two sessions of two speakers, four classes of tones with a little noise."""
    rng = np.random.default_rng(0)
    t = np.arange(8000) / 16000
    for session in ("1", "2"):
        lines = []
        dialog = f"Ses0{session}F_impro01"
        audio = root / f"Session{session}" / "sentences" / "wav" / dialog
        audio.mkdir(parents=True)
        for k in range(24):
            code = list(CODES)[k % 4]
            turn = f"{dialog}_{'FM'[k % 2]}{k:03d}"
            pitch = CODES[code] * rng.uniform(0.95, 1.05)
            wave = 0.2 * np.sin(2 * np.pi * pitch * t) + 0.01 * rng.standard_normal(t.size)
            soundfile.write(audio / f"{turn}.wav", wave.astype(np.float32), 16000)
            lines.append(f"[{k}.0000 - {k}.5000]\t{turn}\t{code}\t[2.5000, 2.5000, 2.5000]")
        labels = root / f"Session{session}" / "dialog" / "EmoEvaluation"
        labels.mkdir(parents=True)
        (labels / f"{dialog}.txt").write_text(
            "% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]\n\n" + "\n".join(lines)
        )
    return root


def _emobox_folds(folder: Path) -> Path:
    """The RAVDESS sample's two actors as two EmoBox folds (its data/<corpus>/fold_<k>/ JSON Lines)."""
    names = {"01": "Neutral", "02": "Calm", "03": "Happy", "04": "Sad", "05": "Angry", "06": "Fearful",
             "07": "Disgust", "08": "Surprised"}  # fmt: skip
    folder.mkdir(parents=True)
    (folder / "label_map.json").write_text(json.dumps({v: v for v in names.values()}))
    actors = {a: sorted((need(RAVDESS) / f"Actor_{a}").glob("03-01-*.wav")) for a in ("01", "02")}
    for k, (train, test) in enumerate((("02", "01"), ("01", "02")), start=1):
        (folder / f"fold_{k}").mkdir()
        for part, actor in (("train", train), ("test", test)):
            records = [
                {
                    "key": f"ravdess-{p.stem}",
                    "dataset": "ravdess",
                    "wav": f"downloads/ravdess/{p.parent.name}/{p.name}",
                    "emo": names[p.stem.split("-")[2]],
                    "channel": 1,
                }
                for p in actors[actor]
            ]
            text = "".join(json.dumps(r) + "\n" for r in records)
            (folder / f"fold_{k}" / f"ravdess_{part}_fold_{k}.jsonl").write_text(text)
    return folder


@pytest.fixture(scope="module")
def bench(tmp_path_factory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("benchmark")
    emodb_subset(tmp / "emodb", ("03", "09", "10", "11", "12"))
    _iemocap(tmp / "iemocap")
    _emobox_folds(tmp / "emobox" / "ravdess")
    spec = tmp / "bench.toml"
    spec.write_text(SPEC.format(base=RECIPES / "egemaps-svm.toml", tmp=tmp, ravdess=need(RAVDESS)))
    from click.testing import CliRunner

    tracked = ["--track", "mlflow"] if importlib.util.find_spec("mlflow") else []  # an extra
    with pytest.MonkeyPatch.context() as patch:  # the default store, beside the runs
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        result = CliRunner().invoke(cli, ["benchmark", str(spec), *tracked])
    assert result.exit_code == 0, result.output
    return spec, tmp / "runs" / "bench"


def test_every_corpus_under_its_published_protocol_beside_its_reference(bench):
    _, study = bench
    rows = list(csv.DictReader((study / "benchmark.csv").open(newline="")))
    assert [r["corpus"] for r in rows] == ["EMO-DB", "ravdess", "iemocap"]
    protocols = [r["protocol"] for r in rows]
    assert "leave-one-speaker-out" in protocols[0]  # EMO-DB's declared protocol
    assert "EmoBox's 2 published fold(s)" in protocols[1]
    assert "leave one session out: 2 folds" in protocols[2]  # IEMOCAP's declared protocol
    for row in rows:
        found = list(csv.DictReader((study / row["folder"] / "predictions.csv").open(newline="")))
        truth, predicted = np.array([r["true"] for r in found]), np.array([r["predicted"] for r in found])
        assert float(row["uar"]) == pytest.approx(100 * uar(truth, predicted))
        assert float(row["wa"]) == pytest.approx(100 * accuracy(truth, predicted))
        assert float(row["uar_ci_low"]) <= float(row["uar"]) <= float(row["uar_ci_high"])
        assert int(row["test_utterances"]) == len(found)
    assert (rows[0]["reference_uar"], rows[0]["reference_source"]) == ("91.59", "Yadav et al. (speaker-dependent)")
    assert (rows[1]["reference_uar"], rows[1]["reference_wa"]) == ("30.0", "")
    assert rows[2]["reference_source"] == ""
    assert [r["resampled_by"] for r in rows] == ["speaker", "utterance", "utterance"]  # 5, 2 and 4 speakers
    report = (study / "benchmark.md").read_text()
    assert (
        "| EMO-DB |" in report
        and "91.59 / 91.59 (UAR above the interval; WA above the interval)" in report
        and "30.00 / -" in report
    )
    assert "References** are figures entered in the spec, not measured here" in report
    from serkit.experiments import StudyResult

    opened = StudyResult.open(study)  # what serkit.benchmark(spec) returns
    assert opened.kind == "benchmark" and [r["corpus"] for r in opened.to_records()] == ["EMO-DB", "ravdess", "iemocap"]


def test_mlflow_holds_a_parent_run_with_a_child_per_corpus(bench):
    pytest.importorskip("mlflow", reason="MLflow is not installed: pip install 'serkit[mlflow]'")
    from mlflow.tracking import MlflowClient

    _, study = bench
    client = MlflowClient(tracking_uri=f"sqlite:///{study.parent / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("bench").experiment_id])
    (parent,) = [r for r in runs if "serkit.sweep" in r.data.tags]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert sorted(r.info.run_name for r in children) == ["corpus 'EMO-DB'", "corpus 'iemocap'", "corpus 'ravdess'"]
    assert "benchmark.md" in {a.path for a in client.list_artifacts(parent.info.run_id)}


def test_the_page_renders_and_a_rerun_reuses_every_run(bench, tmp_path):
    spec, study = bench
    shown = render_in_chromium(study / "benchmark.html", tmp_path / "page.png")
    assert shown["errors"] == [] and shown["sections"][0] == "warnings" and shown["tables"] >= 1
    assert "benchmark" in {name for name, _ in shown["images"]} and not_blank(tmp_path / "page.png")
    folders = sorted(p for p in study.iterdir() if p.is_dir())
    stamps = {p.name: os.stat(p / "metrics.json").st_mtime_ns for p in folders}
    spec.write_text(spec.read_text().replace("uar = 30.0", "uar = 35.5"))  # a reference is not part of a run
    from click.testing import CliRunner

    again = CliRunner().invoke(cli, ["benchmark", str(spec)])
    assert again.exit_code == 0, again.output
    assert again.output.count("finished earlier, reusing") == 3
    assert {p.name: os.stat(p / "metrics.json").st_mtime_ns for p in folders} == stamps
    assert list(csv.DictReader((study / "benchmark.csv").open()))[1]["reference_uar"] == "35.5"


def test_the_specs_mistakes_are_named_in_one_line(tmp_path, cli_runner):
    base = RECIPES / "egemaps-svm.toml"
    for corpus, message in (
        ('name = "manifest"\nroot = "x.csv"', "dataset 'manifest' declares no published protocol; give folds_dir"),
        ('name = "emodb"\nroot = "x"\nreference = {uar = 120}', "corpus[0].reference.uar: a percentage from 0"),
        ('name = "emodb"\nroot = "x"\nreference = {uar = 80}', "corpus[0].reference.source: say where the figure"),
        ('name = "emodb"\nroot = "x"\nprotocol = {name = "random"}', "protocol 'random' is not speaker-independent"),
    ):
        spec = tmp_path / "b.toml"
        spec.write_text(f'[benchmark]\nbase = "{base}"\n\n[[corpus]]\n{corpus}\n')
        result = cli_runner.invoke(cli, ["benchmark", str(spec)])
        assert result.exit_code == 1 and message in " ".join(result.output.split()), result.output
