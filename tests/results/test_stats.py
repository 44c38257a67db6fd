"""Statistics that fit the design: known answers, and `serkit runs list / compare` on run folders."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest

from serkit.cli import cli
from serkit.core.scores import uar
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


def test_the_headline_intervals_draw_once_for_both_metrics_and_equal_one_metric_at_a_time():
    rng = np.random.default_rng(3)
    names = np.array(["anger", "joy", "neutral", "sad"])
    truth, predicted = names[rng.integers(0, 4, 400)], names[rng.integers(0, 4, 400)]
    speakers = [f"s{k % 23}" for k in range(400)]
    both = stats.headline_intervals(truth.tolist(), predicted.tolist(), speakers, seed=5)
    for metric in ("uar", "accuracy"):
        alone = stats.bootstrap_ci(truth.tolist(), predicted.tolist(), speakers, metric, seed=5)
        assert both[metric] == [alone.low, alone.high] and alone.unit == both["resampled_by"] == "speaker"
    assert both["uar"] != both["accuracy"]  # the classes are unbalanced: two different intervals
    codes = np.unique(truth, return_inverse=True)[1], np.unique(predicted, return_inverse=True)[1]
    assert uar(*codes) == uar(truth, predicted) and uar(codes[0], codes[0] + 1) == 0.0


def fake_run(
    folder: Path, folds: dict[str, list[tuple[str, str, str, str]]], train: int = 90, fit: int | None = None
) -> Path:
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
        folds=[
            {"id": f, "epochs": 1, "sizes": {"train": train, "test": len(items)} | ({"fit": fit} if fit else {})}
            for f, items in folds.items()
        ],
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
    shown = cli_runner.invoke(cli, ["runs", "compare", str(a), str(b), "--metric", "accuracy"], env={"COLUMNS": "250"})
    assert shown.exit_code == 0, shown.output
    assert "McNemar" in shown.output and "difference in accuracy +25.00 points" in shown.output
    assert "p = 0.125" in shown.output


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
    assert "test/train size 0.133" in resampled.comparison.design  # 12 test / 90 train (a folder without a fit size)
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


def imbalanced_pair(tmp_path: Path) -> tuple[Path, Path]:
    """Two runs on one imbalanced two-class test set (30 'n', 10 'a'; ten speakers) where accuracy and UAR
    disagree: A (mostly 'n') 80 % accuracy and 60 % UAR; B 75 % accuracy and 76.7 % UAR."""
    truth = ["n"] * 30 + ["a"] * 10
    predicted_a = ["n"] * 30 + ["a"] * 2 + ["n"] * 8
    predicted_b = ["n"] * 22 + ["a"] * 8 + ["a"] * 8 + ["n"] * 2

    def items(predicted: list[str]) -> list[tuple[str, str, str, str]]:
        return [(f"f{k}.wav", f"s{k % 10}", t, p) for k, (t, p) in enumerate(zip(truth, predicted, strict=True))]

    return fake_run(tmp_path / "a", {"random": items(predicted_a)}), fake_run(
        tmp_path / "b", {"random": items(predicted_b)}
    )


def test_one_test_set_is_compared_by_uar_where_accuracy_and_uar_disagree(tmp_path, cli_runner):
    a, b = imbalanced_pair(tmp_path)
    result = compare_runs(a, b)
    found = result.comparison
    assert result.metric == found.metric == "uar" and found.test == stats.PERMUTATION_UAR
    assert found.difference == pytest.approx((22 / 30 + 0.8) / 2 - 0.6)  # +16.7 points of UAR, B better
    rows = {which: list(csv.DictReader((tmp_path / which / "predictions.csv").open())) for which in "ab"}
    truth, speakers = [r["true"] for r in rows["a"]], [r["speaker"] for r in rows["a"]]
    guesses = [[r["predicted"] for r in rows[which]] for which in "ab"]
    interval = stats.paired_bootstrap_ci(truth, *guesses, speakers)
    assert (found.ci_low, found.ci_high) == (interval.low, interval.high) and interval.unit == "speaker"
    codes = {"n": 0, "a": 1}
    t, pa, pb = (np.array([codes[x] for x in xs]) for xs in (truth, *guesses))
    assert found.p == stats.paired_permutation(stats.uar, t, pa, pb) and 0.1 < found.p < 0.5  # z about 1.3
    by_accuracy = compare_runs(a, b, "accuracy").comparison
    assert by_accuracy.test == stats.MCNEMAR and by_accuracy.difference == pytest.approx(-0.05)  # the other sign
    data = json.loads(cli_runner.invoke(cli, ["runs", "compare", str(a), str(b), "--json"]).output)["comparison"]
    assert data["metric"] == "uar" and "permutation test of the pooled UAR" in data["p_of"]
    assert (
        data["interval_of"].startswith("the difference in pooled UAR (B - A)")
        and data["difference"] == found.difference
    )
    shown = cli_runner.invoke(
        cli, ["runs", "compare", str(a), str(b), "--html", str(tmp_path / "c.html")], env={"COLUMNS": "250"}
    )
    assert "UAR per fold (B - A)" in shown.output and "difference in UAR +16.67 points" in shown.output
    page = (tmp_path / "c.html").read_text()
    assert "paired permutation test of UAR" in page and "difference in UAR +16.67 points" in page
    assert "McNemar" not in shown.output + page


def random_folds(which: int, per_speaker: bool) -> dict[str, list[tuple[str, str, str, str]]]:
    """Five folds of twelve utterances: run 0 right on about 55 % of them, run 1 on about 75 %."""
    out = {}
    for fold in range(5):
        right = np.random.default_rng(fold).random((2, 12)) < np.array([[0.55], [0.75]])
        speakers = [f"s{fold}"] if per_speaker else [f"s{fold}", f"t{fold}"]
        truth = ["x" if k % 3 else "y" for k in range(12)]
        out[f"f{fold}"] = [
            (f"{fold}-{k}.wav", speakers[k % len(speakers)], t, t if right[which, k] else {"x": "y", "y": "x"}[t])
            for k, t in enumerate(truth)
        ]
    return out


@pytest.mark.parametrize(
    ("per_speaker", "metric", "expected"),
    [  # serkit 0.2's figures for these folds (a regression test: k-fold and LOSO keep their results)
        (False, "uar", (0.1875, -0.06792603362076433, 0.4429260336207643, 0.1111836944970234, 0.05811469793353967)),
        (True, "uar", (0.1875, -0.010352154880207187, 0.3853521548802072, 0.125, 0.05811469793353967)),
        (False, "accuracy", (1 / 6, -0.0647037587664828, 0.3980370920998162, 0.11611652351681556, 0.06119881963751238)),
        (True, "accuracy", (1 / 6, -0.012552094234835887, 0.34588542756816926, 0.0625, 0.06119881963751238)),
    ],
)
def test_kfold_and_loso_comparisons_keep_their_results(tmp_path, per_speaker, metric, expected):
    a, b = (fake_run(tmp_path / name, random_folds(k, per_speaker)) for k, name in enumerate("ab"))
    found = compare_runs(a, b, metric).comparison
    figures = (found.difference, found.ci_low, found.ci_high, found.p, dict(found.extra).popitem()[1])
    assert figures == pytest.approx(expected, rel=1e-12)
    assert found.test == (stats.WILCOXON_SPEAKERS if per_speaker else stats.NADEAU_BENGIO) and found.metric == metric


def test_the_correction_uses_the_size_the_models_were_fitted_on(tmp_path):
    a, b = (fake_run(tmp_path / name, random_folds(k, False), train=90, fit=80) for k, name in enumerate("ab"))
    found = compare_runs(a, b).comparison
    assert "test/fit size 0.150" in found.design  # 12 test / 80 fit, not / 90 train (fit + validation)
    assert found.p == stats.nadeau_bengio([s.b - s.a for s in compare_runs(a, b).folds], 12 / 80)[3]
    assert "n_fit the utterances each model was fitted on" in found.declaration.interval_of
    for run in (a, b):  # refit on fit + validation: the models were fitted on the whole training part
        (run / "recipe.toml").write_text("[train]\nrefit = true\n")
    assert "test/train size 0.133" in compare_runs(a, b).comparison.design


def test_no_evidence_is_not_p_zero(tmp_path, cli_runner):
    assert stats.nadeau_bengio([0.1], 0.2)[1:] == (None, None, None)
    assert stats.nadeau_bengio([0.05] * 4, 0.2)[1:] == (None, None, None)
    assert stats.paired_t([0.05] * 4)[3] is None and "zero variance" in stats.untestable([0.05] * 4)
    assert stats.nadeau_bengio([0.0] * 4, 0.2)[3] == 1.0 and stats.untestable([0.0] * 4) == ""
    noisy = [(k + 1) / 70 - k / 70 for k in range(5)]  # 1/70 each, up to the last bits
    assert len(set(noisy)) > 1 and stats.nadeau_bengio(noisy, 0.2)[3] is None and stats.untestable(noisy)
    # Five folds where B gets exactly one more utterance right than A in each: the same difference every fold.
    same = {f"f{k}": [(f"{k}-{i}.wav", f"s{k}" if i % 2 else f"t{k}", "x", "x") for i in range(4)] for k in range(5)}
    better = {f: [*items[:-1], (items[-1][0], items[-1][1], "x", "x")] for f, items in same.items()}
    worse = {f: [*items[:-1], (items[-1][0], items[-1][1], "x", "y")] for f, items in same.items()}
    found = compare_runs(fake_run(tmp_path / "a", worse), fake_run(tmp_path / "b", better), "accuracy").comparison
    assert found.p is None and found.ci_low is None and "zero variance" in found.untestable
    shown = cli_runner.invoke(
        cli,
        ["runs", "compare", str(tmp_path / "a"), str(tmp_path / "b"), "--metric", "accuracy"],
        env={"COLUMNS": "250"},
    )
    assert shown.exit_code == 0 and "not testable: every fold's difference is the same (+0.2500)" in shown.output
    assert "p = 0.000" not in shown.output and "no 95 % CI" in shown.output


def test_every_test_is_declared_once_and_the_reports_read_the_declaration():
    from serkit.studies.ablate import _test_notes

    with pytest.raises(ValueError, match="no declaration"):
        stats.Comparison(test="t-test", metric="uar", design="", difference=0.0, ci_low=0.0, ci_high=0.0, p=1.0)
    with pytest.raises(ValueError, match="declared for accuracy, not uar"):
        stats.Comparison(test=stats.MCNEMAR, metric="uar", design="", difference=0.0, ci_low=0.0, ci_high=0.0, p=1.0)
    assert set(stats.TESTS) == {
        stats.MCNEMAR,
        stats.PERMUTATION_UAR,
        stats.WILCOXON_SPEAKERS,
        stats.NADEAU_BENGIO,
        stats.WILCOXON_SPEAKERS_CCC,
        stats.PERMUTATION_CCC,
    }
    for name, declared in stats.TESTS.items():
        assert declared.name == name and declared.p_of and declared.interval_of and declared.why and declared.metrics
        assert declared.explanation() in _test_notes([name], [], declared.metrics[0])[-1]
    # Every test serkit's code names is one of the declared (no string spelled out at a call site).
    source = "\n".join(p.read_text() for p in Path(stats.__file__).parent.parent.rglob("*.py"))
    assert 'Comparison(\n            "' not in source and 'Comparison("' not in source


def test_uar_and_ccc_have_one_numpy_definition_that_the_torch_losses_equal():
    import torch
    from sklearn.metrics import recall_score

    from serkit.core import scores
    from serkit.learn.objectives import Classification, Regression, concordance, concordance_of_moments, moments

    rng = np.random.default_rng(0)
    truth, predicted = rng.integers(0, 4, 200), rng.integers(0, 5, 200)  # class 4 predicted, never true
    present = sorted(set(truth.tolist()))
    expected = recall_score(truth, predicted, labels=present, average="macro", zero_division=0)
    assert scores.uar(truth, predicted) == pytest.approx(expected)
    assert scores.uar(truth.astype(str), predicted.astype(str)) == pytest.approx(expected)
    assert stats.uar is scores.uar
    logits = torch.from_numpy(rng.normal(size=(200, 4))).float()
    found = Classification().scores(logits, torch.from_numpy(truth))
    assert found["val_uar"] == pytest.approx(scores.uar(truth, logits.argmax(1).numpy()))
    y, p = rng.normal(size=(300, 2)), rng.normal(size=(300, 2)) * 0.5 + 0.3
    p[:, 1] += y[:, 1]
    for k in range(2):
        expected_ccc = scores.ccc(y[:, k], p[:, k])
        tensors = torch.from_numpy(p[:, k : k + 1]), torch.from_numpy(y[:, k : k + 1])
        assert float(concordance(*tensors)[0]) == pytest.approx(expected_ccc, abs=1e-9)
        assert float(concordance_of_moments(moments(*tensors))[0]) == pytest.approx(expected_ccc, abs=1e-6)
    regression = Regression("ccc").scores(torch.from_numpy(p).float(), torch.from_numpy(y).float())
    assert regression["val_ccc"] == pytest.approx(scores.mean_ccc(y, p), abs=1e-6)
    assert 1 - regression["val_loss"] == pytest.approx(scores.mean_ccc(y, p), abs=1e-5)
