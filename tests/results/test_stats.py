"""Statistics that fit the design: known answers, and `serkit runs list / compare` on run folders."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest

from serkit.cli import cli
from serkit.results import stats
from serkit.results.records import RunSummary
from serkit.results.runs import compare_runs


def test_corrected_resampled_t_matches_the_hand_computed_answer():
    # Five folds (test/train = 1/4): d = .02 .05 -.01 .03 .04, mean .026, sample variance 5.3e-4;
    # corrected se = sqrt((1/5 + 1/4) * 5.3e-4) = .0154434; t = 1.68357 with 4 df; t(.975, 4) = 2.776445.
    mean, low, high, p = stats.nadeau_bengio([0.02, 0.05, -0.01, 0.03, 0.04], 0.25)
    assert mean == pytest.approx(0.026)
    assert (low, high) == pytest.approx((0.026 - 2.776445 * 0.0154434, 0.026 + 2.776445 * 0.0154434), abs=1e-6)
    assert p == pytest.approx(0.16755, abs=1e-4)
    _, _, _, p_plain = stats.paired_t([0.02, 0.05, -0.01, 0.03, 0.04])  # se = sqrt(5.3e-4 / 5): t = 2.525
    assert p_plain == pytest.approx(0.06499, abs=1e-4) and p_plain < p  # the uncorrected test overstates


def test_mcnemar_matches_known_answers():
    # Wikipedia's example: 101 both right, 121 only A, 59 only B, 33 both wrong:
    # chi2 with continuity correction = (|121 - 59| - 1)^2 / 180 = 20.672, p = 5.45e-6.
    a = [True] * 101 + [True] * 121 + [False] * 59 + [False] * 33
    b = [True] * 101 + [False] * 121 + [True] * 59 + [False] * 33
    only_a, only_b, p = stats.mcnemar(a, b)
    assert (only_a, only_b) == (121, 59) and p == pytest.approx(5.450e-6, rel=1e-3)
    # Few discordant pairs: the exact binomial test, 1 against 6: p = 2 * (1 + 7) / 2^7 = 0.125.
    assert stats.mcnemar([True] + [False] * 6, [False] + [True] * 6)[2] == pytest.approx(0.125)


def test_bootstrap_resamples_speakers_and_falls_back_to_utterances_saying_so():
    truth = ["a", "b"] * 30
    predicted = ["a", "b"] * 25 + ["b", "a"] * 5
    many = [f"s{k % 6}" for k in range(60)]
    interval = stats.bootstrap_ci(truth, predicted, many, "accuracy")
    assert interval.unit == "speaker" and not interval.note
    assert interval.low <= 50 / 60 <= interval.high
    few = stats.bootstrap_ci(truth, predicted, ["s1", "s2"] * 30, "uar")
    assert few.unit == "utterance" and "fewer than 5" in few.note


def fake_run(folder: Path, folds: dict[str, list[tuple[str, str, str, str]]], train: int = 90) -> Path:
    """A finished run folder holding only what compare reads: metrics.json and predictions.csv."""
    folder.mkdir(parents=True)
    (folder / "recipe.toml").write_text('[run]\nname = "fake"\n')
    rows = [
        [fold, file, speaker, true, predicted]
        for fold, items in folds.items()
        for file, speaker, true, predicted in items
    ]
    with (folder / "predictions.csv").open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["fold", "file", "speaker", "true", "predicted"])
        writer.writerows(rows)
    summary = RunSummary(
        run_name=folder.name,
        protocol="test protocol",
        started="2026-11-25T10:00:00",
        serkit_version="0.2.0",
        dataset={"name": "fake"},
        fold={},
        metrics={},
        pooled_over_folds=len(folds) > 1,
        mean={k: {"mean": 0.5, "sd": 0.0, "n": len(folds)} for k in ("accuracy", "uar")},
        folds=[{"id": f, "epochs": 1, "sizes": {"train": train, "test": len(items)}} for f, items in folds.items()],
        device="cpu",
        precision="fp32",
        pipeline="",
        training="",
        notes=[],
        timings={},
    )
    (folder / "metrics.json").write_text(json.dumps(summary.to_json()))
    return folder


def test_compare_on_one_test_set_is_mcnemar_with_the_known_answer(tmp_path, cli_runner):
    # 20 utterances: both right on 10, only A on 1, only B on 6, both wrong on 3.
    pattern = [(1, 1)] * 10 + [(1, 0)] + [(0, 1)] * 6 + [(0, 0)] * 3

    def items(which: int) -> list[tuple[str, str, str, str]]:
        return [(f"f{k}.wav", f"s{k % 4}", "x", "x" if right[which] else "y") for k, right in enumerate(pattern)]

    a = fake_run(tmp_path / "a", {"random": items(0)})
    b = fake_run(tmp_path / "b", {"random": items(1)})
    result = compare_runs(a, b, "accuracy").comparison
    assert result.test == "McNemar" and result.p == pytest.approx(0.125)
    assert result.difference == pytest.approx(5 / 20)
    shown = cli_runner.invoke(cli, ["runs", "compare", str(a), str(b), "--metric", "accuracy"])
    assert shown.exit_code == 0, shown.output
    assert "McNemar" in shown.output and "p = 0.125" in shown.output


def test_compare_refuses_runs_tested_on_different_utterances(tmp_path, cli_runner):
    a = fake_run(tmp_path / "a", {"random": [("f1.wav", "s1", "x", "x"), ("f2.wav", "s1", "y", "y")]})
    b = fake_run(tmp_path / "b", {"random": [("f1.wav", "s1", "x", "x"), ("f3.wav", "s1", "y", "y")]})
    refused = cli_runner.invoke(cli, ["runs", "compare", str(a), str(b)])
    assert refused.exit_code == 1
    assert "tested different utterances in fold random" in refused.output
    assert len(refused.output.strip().splitlines()) == 1


def test_overlapping_folds_use_the_corrected_t_and_speaker_folds_use_wilcoxon(tmp_path):
    def folds(shift: int, per_speaker: bool) -> dict[str, list[tuple[str, str, str, str]]]:
        out = {}
        for fold in range(5):
            speakers = [f"s{fold}"] if per_speaker else [f"s{fold}", f"t{fold}"]
            out[f"f{fold}"] = [
                (
                    f"{fold}-{k}.wav",
                    speakers[k % len(speakers)],
                    "x" if k % 2 else "y",
                    "x" if (k + shift + fold) % 3 else "y",
                )
                for k in range(12)
            ]
        return out

    resampled = compare_runs(fake_run(tmp_path / "a", folds(0, False)), fake_run(tmp_path / "b", folds(1, False)))
    assert resampled.comparison.test == "Nadeau-Bengio corrected resampled t"
    assert "test/train size 0.133" in resampled.comparison.design  # 12 test / 90 train
    speaker = compare_runs(fake_run(tmp_path / "c", folds(0, True)), fake_run(tmp_path / "d", folds(1, True)))
    assert speaker.comparison.test == "Wilcoxon signed-rank over speakers"
    assert "paired t p" in dict(speaker.comparison.extra) and "optimistic" in speaker.comparison.caveat
    assert not math.isnan(speaker.comparison.p)
    assert speaker.to_json()["comparison"]["extra"]["paired t p"] == dict(speaker.comparison.extra)["paired t p"]


def test_runs_lists_an_ablation_and_a_loso_run_and_compares_them(cli_runner, tmp_path):
    from helpers import RAVDESS, ROOT, need

    sweep = tmp_path / "sweep.toml"
    overrides = ("augment=[]", "train.max_epochs=1", "run.workers=1", "protocol={name = 'loso'}")
    common = ", ".join(json.dumps(o) for o in (*overrides, f"dataset.root={need(RAVDESS)}"))
    sweep.write_text(
        f'[sweep]\nname = "loso"\nbase = "{ROOT / "recipes" / "tiny.toml"}"\nset = [{common}]\n'
        '[[variant]]\nname = "smaller"\nset = ["model.lstm_units=8"]\n'
    )
    where = ["--set", f"run.output={tmp_path / 'runs'}", "--set", f"run.cache_dir={tmp_path / 'cache'}"]
    assert cli_runner.invoke(cli, ["ablate", str(sweep), *where]).exit_code == 0
    interrupted = tmp_path / "runs" / "loso" / "02-killed"
    interrupted.mkdir()
    (interrupted / "recipe.toml").write_text('[run]\nname = "killed"\n')
    (interrupted / "run.log").write_text("2026-11-25 10:00:00,000 INFO serkit: run 'killed'\n")
    listed = cli_runner.invoke(cli, ["runs", "list", str(tmp_path / "runs"), "--json", "--sort", "name"])
    assert listed.exit_code == 0, listed.output
    data = json.loads(listed.output)
    assert [r["name"] for r in data["runs"]] == ["loso/00-baseline", "loso/01-smaller", "loso/02-killed"]
    # One epoch of a tiny CRNN on two actors may predict one class: then the run says "collapsed".
    for row in data["runs"][:2]:
        warnings = json.loads((Path(row["path"]) / "metrics.json").read_text())["warnings"]
        assert row["status"] == ("collapsed" if any("collapse" in w for w in warnings) else "complete")
    assert data["runs"][2]["status"] == "interrupted"
    assert "model.lstm_units" in data["differing_keys"]
    assert data["runs"][0]["protocol"].startswith("speaker-independent") and data["runs"][0]["folds"] == 2
    only = cli_runner.invoke(cli, ["runs", "list", str(tmp_path / "runs"), "--csv", "--filter", "model.lstm_units=8"])
    assert only.exit_code == 0 and len(only.output.strip().splitlines()) == 2  # the header and one run
    base, smaller = tmp_path / "runs" / "loso" / "00-baseline", tmp_path / "runs" / "loso" / "01-smaller"
    compared = cli_runner.invoke(cli, ["runs", "compare", str(base), str(smaller), "--json"])
    assert compared.exit_code == 0, compared.output
    assert json.loads(compared.output)["comparison"]["test"] == "Wilcoxon signed-rank over speakers"


def test_runs_list_names_a_damaged_metrics_file(cli_runner, tmp_path):
    run = tmp_path / "runs" / "cut-short"
    run.mkdir(parents=True)
    (run / "recipe.toml").write_text('[run]\nname = "cut-short"\n')
    (run / "split.json").write_text("{}")
    (run / "metrics.json").write_text('{"format_version": 2, "run_name": "cut-sh')  # truncated by a full disk
    listed = cli_runner.invoke(cli, ["runs", "list", str(tmp_path / "runs"), "--json"])
    (row,) = json.loads(listed.stdout)["runs"]
    assert row["status"] == "damaged" and row["problem"].startswith(
        f"{run / 'metrics.json'}: cannot read the run summary (JSONDecodeError"
    )
    table = cli_runner.invoke(cli, ["runs", "list", str(tmp_path / "runs")], env={"COLUMNS": "200"})
    assert table.exit_code == 0 and "damaged" in table.stdout
    assert (
        f"Warning: cut-short is damaged: {run / 'metrics.json'}: cannot read the run summary (JSONDecodeError"
        in table.stderr
    )
