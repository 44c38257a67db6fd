"""Dimensional emotion: `serkit run recipes/dimensional-synthetic.toml` regresses arousal, valence and
dominance on the synthetic corpus (speaker-independent folds), a torch MLP and a scikit-learn SVR, scored
by CCC; `predict` prints the values; the recipe's mistakes are named."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from serkit.cli import cli
from serkit.core.errors import SerkitError
from serkit.core.recipe import load_recipe
from serkit.learn.objectives import concordance
from serkit.results.regression import ccc, regression_metrics

RECIPE = Path(__file__).resolve().parents[2] / "recipes" / "dimensional-synthetic.toml"
TARGETS = ("arousal", "valence", "dominance")


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    """The recipe as written (seed 0), and with the SVR on the same cached features."""
    from click.testing import CliRunner

    tmp = tmp_path_factory.mktemp("regression")
    found = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SERKIT_CACHE", str(tmp / "cache"))
        for name, more in (("mlp", []), ("svr", ["--set", 'model={name = "svr"}', "--set", "report.explain=true"])):
            args = ["run", str(RECIPE), "--set", f"run.output={tmp / name}", *more]
            result = CliRunner().invoke(cli, args)
            assert result.exit_code == 0, result.output
            (found[name],) = (tmp / name).iterdir()
    return found


@pytest.mark.parametrize("model", ["mlp", "svr"])
def test_the_recipe_regresses_arousal_with_a_ccc_of_at_least_half(runs, model):
    run = runs[model]
    summary = json.loads((run / "metrics.json").read_text())
    metrics = summary["metrics"]
    assert metrics["task"] == "regression" and metrics["targets"] == list(TARGETS)
    assert summary["protocol"].endswith(
        "(a regression: where it stratifies, by the quartiles of arousal, not by class)"
    )
    assert metrics["per_target"]["arousal"]["ccc"] >= 0.5  # a mean predictor scores 0
    rows = list(csv.DictReader((run / "predictions.csv").open()))
    assert len(rows) == 240 and {f"predicted_{t}" for t in TARGETS} <= set(rows[0])
    truth = np.array([float(r["true_arousal"]) for r in rows])
    predicted = np.array([float(r["predicted_arousal"]) for r in rows])
    assert ccc(truth, predicted) == pytest.approx(metrics["per_target"]["arousal"]["ccc"], abs=1e-5)
    # More than the class: each utterance's departure from its emotion's mean is heard in part.
    labels = np.array([r["label"] for r in rows])
    means = {label: truth[labels == label].mean() for label in set(labels)}
    centred = np.array([means[label] for label in labels])
    assert np.corrcoef(predicted - centred, truth - centred)[0, 1] > 0.1
    report = (run / "report.md").read_text()
    assert "| arousal |" in report and "regression of arousal, valence, dominance" in report
    low, high = metrics["intervals"]["ccc"]  # the headline: pooled mean CCC with a speaker-bootstrap 95 % CI
    assert low < metrics["ccc"] < high and metrics["intervals"]["resampled_by"] == "utterance"  # four speakers
    assert f"mean CCC {metrics['ccc']:.3f} (95 % CI [{low:.3f}, {high:.3f}])" in report
    assert (run / "regression.png").is_file() and (run / "report.html").is_file()
    assert not (run / "confusion_matrix.png").exists()
    if model == "svr":  # explained: the feature dimensions whose shuffling costs the most validation CCC
        importance = summary["metrics"]["features_say"]["importance"]
        assert importance["metric"] == "ccc" and len(importance["top"]) == 15 and importance["folds"] == 4
        assert importance["top"][0]["ccc_drop"] > 0.01 and "| feature | CCC drop | sd over folds |" in report


def test_predict_gives_the_runs_values(runs, cli_runner):
    """The first fold's model (the run's) tested on speaker 01, normalised by that speaker's 60 files: predict
    given the same 60 files as one speaker's gives the values predictions.csv holds."""
    run = runs["mlp"]
    root = Path(json.loads((run / "metrics.json").read_text())["dataset"]["root"])
    shown = cli_runner.invoke(cli, ["predict", str(run), str(root / "Actor_01"), "--csv"])
    assert shown.exit_code == 0, shown.output
    predicted = {Path(r["file"]).name: r for r in csv.DictReader(io.StringIO(shown.stdout)) if not r["start"]}
    expected = [r for r in csv.DictReader((run / "predictions.csv").open()) if r["fold"] == "speaker-01"]
    assert len(predicted) == len(expected) == 60
    for row in expected:
        mine = predicted[Path(row["file"]).name]
        assert all(abs(float(mine[t]) - float(row[f"predicted_{t}"])) < 1e-4 for t in TARGETS), (mine, row)


def test_predict_prints_the_values(runs, cli_runner):
    run = runs["mlp"]
    root = Path(json.loads((run / "metrics.json").read_text())["dataset"]["root"])
    clips = [str(p) for p in sorted((root / "Actor_01").glob("*.wav"))[:2]]  # one speaker's: normalised by theirs
    shown = cli_runner.invoke(cli, ["predict", str(run), *clips, "--json"])
    assert shown.exit_code == 0, shown.output
    found = json.loads(shown.stdout)["predictions"]
    assert len(found) == 2 and all(set(f["values"]) == set(TARGETS) for f in found)
    assert all(-2 < v < 2 for f in found for v in f["values"].values())
    table = cli_runner.invoke(cli, ["predict", str(run), *clips], env={"COLUMNS": "200"})
    assert table.exit_code == 0 and "arousal" in table.output and "a regression" in table.output


def test_ccc_is_lins_and_a_constant_scores_zero():
    rng = np.random.default_rng(0)
    y = rng.normal(size=200)
    assert ccc(y, y) == pytest.approx(1.0) and ccc(y, np.full(200, y.mean())) == 0.0
    p = 0.5 * y + 0.3 + rng.normal(0, 0.2, 200)
    by_hand = 2 * np.cov(y, p, bias=True)[0, 1] / (y.var() + p.var() + (y.mean() - p.mean()) ** 2)
    assert ccc(y, p) == pytest.approx(by_hand)
    pair = torch.from_numpy(np.stack([y, p], 1)).float()
    assert float(concordance(pair[:, 1:], pair[:, :1])[0]) == pytest.approx(by_hand, abs=1e-5)
    figures = regression_metrics(np.stack([y, y], 1), np.stack([p, np.zeros(200)], 1), ["a", "b"] * 100, ["x", "y"])
    assert figures["per_target"]["y"]["constant"] and figures["per_target"]["y"]["ccc"] == 0.0
    with pytest.raises(SerkitError, match="non-finite"):
        regression_metrics(np.stack([y], 1), np.full((200, 1), np.nan), ["a"] * 200, ["x"])


def test_recipe_mistakes_are_named():
    for overrides, message in (
        (['model={name = "svm"}'], "model: 'svm' classifies"),
        (["task.targets=[]"], "task.targets: name the metadata columns"),
        (["calibrate.method=temperature"], "calibrate.method: 'temperature' applies to classes"),
        (["task.kind=classification"], 'task.targets: set task.kind = "regression"'),
        (
            ["dataset={name = 'iemocap', root = '.', unagreed = true}", "task={kind = 'classification'}"],
            "dataset.unagreed: keeps the turns without an agreed category",
        ),
    ):
        with pytest.raises(SerkitError, match=message):
            load_recipe(RECIPE, overrides)


def test_runs_compare_tests_two_regressions_by_ccc(runs, cli_runner):
    """Leave-one-speaker-out: each fold's score is the test speaker's mean CCC over the targets, computed
    from predictions.csv; Wilcoxon over the speakers; --metric uar is refused in one line."""
    shown = cli_runner.invoke(cli, ["runs", "compare", str(runs["mlp"]), str(runs["svr"]), "--json"])
    assert shown.exit_code == 0, shown.output
    result = json.loads(shown.stdout)
    assert result["metric"] == "ccc" and result["comparison"]["test"] == "Wilcoxon signed-rank over speakers"
    for fold in result["folds"]:
        for run, side in ((runs["mlp"], "a"), (runs["svr"], "b")):
            rows = [r for r in csv.DictReader((run / "predictions.csv").open()) if r["fold"] == fold["fold"]]
            own = np.mean(
                [ccc(*(np.array([float(r[f"{k}_{t}"]) for r in rows]) for k in ("true", "predicted"))) for t in TARGETS]
            )
            assert fold[side] == pytest.approx(own, abs=1e-9)
    table = cli_runner.invoke(cli, ["runs", "compare", str(runs["mlp"]), str(runs["svr"])], env={"COLUMNS": "200"})
    assert table.exit_code == 0 and "CCC per fold" in table.output and " points" not in table.output
    refused = cli_runner.invoke(cli, ["runs", "compare", str(runs["mlp"]), str(runs["svr"]), "--metric", "uar"])
    assert refused.exit_code == 1 and "are regressions; they compare by ccc" in refused.output


def test_paired_ccc_test_over_speakers_or_by_permutation():
    """One test set: per-speaker CCC under Wilcoxon with six speakers or more, else a permutation test; the
    same predictions differ by 0 with p = 1, and a better model's gain has a CI above 0."""
    from serkit.results.stats import paired_ccc_comparison

    rng = np.random.default_rng(0)
    truth = rng.normal(size=(160, 2))
    good = truth + 0.3 * rng.normal(size=truth.shape)
    poor = truth + 1.0 * rng.normal(size=truth.shape)
    for count, test in ((8, "Wilcoxon signed-rank over speakers' CCC"), (2, "paired permutation test of CCC")):
        speakers = [f"s{k % count}" for k in range(160)]
        found = paired_ccc_comparison(truth, poor, good, speakers)
        assert found.test == test and found.difference > 0.2 and 0 < found.ci_low < found.difference < found.ci_high
        assert found.p < 0.05
        same = paired_ccc_comparison(truth, poor, poor, speakers)
        assert same.difference == 0 and same.p == 1.0


def test_ablate_compares_regressions_by_ccc(runs, cli_runner, tmp_path, monkeypatch):
    """An ablation of two scikit-learn regressors on the fixture's cached features: ablation.csv by CCC (no
    accuracy), the difference the runs' own means, the test over speakers, the page written."""
    monkeypatch.setenv("SERKIT_CACHE", str(runs["mlp"].parent.parent / "cache"))
    sweep = tmp_path / "sweep.toml"
    sweep.write_text(
        f'[sweep]\nname = "models"\nbase = "{RECIPE}"\nbaseline = "svr"\nset = [\'model={{name = "svr"}}\']\n\n'
        '[[variant]]\nname = "ridge"\nset = [\'model={name = "ridge"}\']\n\n'
        '[[variant]]\nname = "forest"\nset = [\'model={name = "random_forest_regressor", n_estimators = 30}\']\n'
    )
    result = cli_runner.invoke(cli, ["ablate", str(sweep), "--set", f"run.output={tmp_path / 'runs'}"])
    assert result.exit_code == 0, result.output
    folder = tmp_path / "runs" / "models"
    rows = list(csv.DictReader((folder / "ablation.csv").open()))
    assert [r["variant"] for r in rows] == ["svr", "ridge", "forest"] and "accuracy_mean" not in rows[0]
    means = [json.loads(next((folder).glob(f"0{k}-*/metrics.json")).read_text())["mean"]["ccc"]["mean"] for k in (0, 1)]
    assert float(rows[1]["delta_ccc"]) == pytest.approx(means[1] - means[0], abs=1e-9)
    assert float(rows[0]["ccc_mean"]) == pytest.approx(means[0], abs=1e-9)
    assert rows[1]["test"] == "Wilcoxon signed-rank over speakers" and rows[1]["p_ccc"] != ""
    assert float(rows[1]["ccc_pooled_ci_low"]) <= float(rows[1]["ccc_mean"]) <= float(rows[1]["ccc_pooled_ci_high"])
    report = (folder / "ablation.md").read_text()
    assert "Δ CCC" in report and "UAR" not in report and (folder / "ablation.html").is_file()
    (forest,) = folder.glob("02-forest")  # the random forest predicts from its model.skops
    assert float(rows[2]["ccc_mean"]) > 0.5 and (forest / "folds" / "speaker-01" / "model.skops").is_file()
    actor = Path(json.loads((forest / "metrics.json").read_text())["dataset"]["root"]) / "Actor_02"
    files = [str(path) for path in sorted(actor.glob("*.wav"))[:3]]  # one speaker's three recordings
    shown = cli_runner.invoke(cli, ["predict", str(forest), *files, "--json"])
    assert shown.exit_code == 0, shown.output
    found = json.loads(shown.stdout)["predictions"]
    assert len(found) == 3 and all(set(row["values"]) == set(TARGETS) for row in found)


def test_tune_selects_a_regression_on_validation_ccc(tmp_path):
    from serkit.core.registry import get_registry
    from serkit.studies.tune import load_search

    def search(metric: str) -> Path:
        path = tmp_path / f"search{metric}.toml"
        line = f'metric = "{metric}"\n' if metric else ""
        path.write_text(f'[tune]\nbase = "{RECIPE}"\n{line}\n[space]\n"model.dropout" = {{ uniform = [0.1, 0.3] }}\n')
        return path

    assert load_search(search(""), [], get_registry()).metric == "val_ccc"
    assert load_search(search("val_loss"), [], get_registry()).metric == "val_loss"
    with pytest.raises(SerkitError, match=r"tune\.metric: 'val_uar' scores classes; a regression selects on"):
        load_search(search("val_uar"), [], get_registry())


def test_runs_list_shows_a_regressions_ccc(runs, cli_runner):
    folder = runs["mlp"].parent.parent  # holds both runs (and the feature cache, which is no run)
    listed = cli_runner.invoke(cli, ["runs", "list", str(folder), "--json", "--sort", "ccc"])
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.stdout)["runs"]
    assert len(rows) == 2 and all(r["ccc_mean"] > 0.5 and r["uar_mean"] is None for r in rows)
    assert rows[0]["ccc_mean"] >= rows[1]["ccc_mean"]
    table = cli_runner.invoke(cli, ["runs", "list", str(folder)], env={"COLUMNS": "250"})
    assert table.exit_code == 0 and "CCC" in table.output


def test_tune_searches_a_regression_on_ray(runs, tmp_path):
    """`serkit tune` on a local Ray instance: two ridge trials selected on validation CCC (the test parts
    unscored), the best one run once and its test CCC reported."""
    pytest.importorskip("ray.tune", reason="Ray Tune is not installed: pip install 'serkit[ray]'")
    import subprocess
    import sys

    search = tmp_path / "search.toml"
    search.write_text(
        f'[tune]\nname = "dims"\nbase = "{RECIPE}"\ntrials = 2\nsearch = "random"\nscheduler = "fifo"\n'
        "concurrent = 1\nset = ['model={name = \"ridge\"}']\n\n"
        '[space]\n"model.alpha" = { loguniform = [0.01, 100.0] }\n'
    )
    cache = runs["mlp"].parent.parent / "cache"
    command = [sys.executable, "-m", "serkit.cli", "tune", str(search), "--set", f"run.output={tmp_path / 'runs'}"]
    done = subprocess.run([*command, "--set", f"run.cache_dir={cache}"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    output = tmp_path / "runs" / "dims"
    record = json.loads((output / "trials.json").read_text())
    assert record["metric"] == "val_ccc" and record["mode"] == "max"
    trials = record["trials"]
    assert len(trials) == 2 and all(t["status"] == "complete" for t in trials)
    best = max(trials, key=lambda t: t["score"])
    assert f"alpha = {best['config']['model.alpha']}" in (output / "best.toml").read_text()
    (final,) = output.glob("dims-best-*")
    metrics = json.loads((final / "metrics.json").read_text())["metrics"]
    assert f"CCC {metrics['ccc']:.3f} (mean over arousal" in (output / "tune.md").read_text()


def test_a_regressions_folds_balance_the_quartiles_of_its_first_target():
    """A stratified protocol and the validation split see a regression's quartiles of its first target, not its
    classes: a class of one utterance (which stratifying by class would refuse) is no obstacle."""
    from serkit.core.components import Utterance
    from serkit.run.planning import plan_run

    recipe = load_recipe(RECIPE, ["protocol={name = 'random', test_size = 0.25}"])
    values = np.random.default_rng(0).normal(size=200)
    utterances = [
        Utterance(f"{k}.wav", "rare" if k == 0 else "calm", f"s{k % 10}", {"arousal": str(v)})
        for k, v in enumerate(values)
    ]
    (plan,), _ = plan_run(recipe, utterances)
    quartile = np.searchsorted(np.quantile(values, [0.25, 0.5, 0.75]), values, side="right")
    for part in (plan.test, plan.fit, plan.validation):
        counts = [int(np.sum(quartile[part] == q)) for q in range(4)]
        assert max(counts) - min(counts) <= 1


def test_the_epoch_audit_scores_a_regression_by_ccc(runs, cli_runner, tmp_path, monkeypatch):
    """`serkit audit` of a regression: every kept epoch's test CCC; validation's pick is the run's own figure."""
    monkeypatch.setenv("SERKIT_CACHE", str(runs["mlp"].parent.parent / "cache"))
    args = ["run", str(RECIPE), "--set", f"run.output={tmp_path}", "--set", "train.max_epochs=4"]
    done = cli_runner.invoke(cli, [*args, "--set", "train.keep_epoch_weights=true"])
    assert done.exit_code == 0, done.output
    (run,) = tmp_path.iterdir()
    result = cli_runner.invoke(cli, ["audit", str(run)])
    assert result.exit_code == 0, result.output
    audit = json.loads((run / "audit" / "audit.json").read_text())
    assert len(audit["folds"]) == 4 and len(audit["curves"][0]["test_ccc"]) == 4
    for row in audit["folds"]:
        fold = json.loads((run / "folds" / row["fold"] / "result.json").read_text())
        assert row["honest_epoch"] == fold["best_epoch"]
        assert row["honest_test_ccc"] == pytest.approx(fold["metrics"]["ccc"], abs=1e-6)
        assert row["test_selected_ccc"] >= row["honest_test_ccc"] and row["gap"] >= 0
    assert "pooled test CCC" in result.output and "Pooled test CCC" in (run / "audit" / "audit.md").read_text()


def test_a_sweep_whose_variants_change_the_task_is_refused_before_training(tmp_path):
    from serkit.core.registry import get_registry
    from serkit.studies.ablate import load_sweep

    sweep = tmp_path / "sweep.toml"
    for change, says in (
        ("[\"task.targets=['arousal']\"]", "variant 'x' is a regression of arousal but the baseline a regression of"),
        ("['task={kind = \"classification\"}']", "variant 'x' is a classification but the baseline a regression"),
    ):
        sweep.write_text(f'[sweep]\nbase = "{RECIPE}"\n\n[[variant]]\nname = "x"\nset = {change}\n')
        with pytest.raises(SerkitError, match=says):
            load_sweep(sweep, [], get_registry())


def test_the_shipped_dimensional_ablation_validates():
    from serkit.core.registry import get_registry
    from serkit.studies.ablate import load_sweep

    sweep = load_sweep(RECIPE.parent / "ablation-dimensional.toml", [], get_registry())
    models = [variant.recipe.model.name for variant in sweep.variants]
    assert models == ["mlp", "mlp", "svr", "ridge", "random_forest_regressor"]
    assert {variant.recipe.task.kind for variant in sweep.variants} == {"regression"}
    assert sweep.variants[1].recipe.task.loss == "mse"
