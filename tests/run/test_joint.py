"""Categories and dimensions learned together (`[task] kind = "joint"`): `serkit run recipes/joint-synthetic.toml`
trains one MLP's class head and regression head on the synthetic corpus and reports accuracy, UAR and CCC; predict
and export give both outputs, equal to the run's own predictions; an utterance without dimensions does not move
the regression head; the recipe's mistakes are named."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from serkit.cli import cli
from serkit.core.errors import SerkitError
from serkit.core.recipe import load_recipe
from serkit.core.scores import ccc, uar
from serkit.learn.objectives import Joint

RECIPE = Path(__file__).resolve().parents[2] / "recipes" / "joint-synthetic.toml"
TARGETS = ("arousal", "valence", "dominance")
QUICK = [
    "features={name = 'log_mel_stats'}",
    "train.max_epochs=6",
    "preprocess=[{name = 'resample', sample_rate = 16000}]",
    "normalise.scope=band",  # an exported model carries its normalisation
]


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> tuple[Path, str]:
    from click.testing import CliRunner

    tmp = tmp_path_factory.mktemp("joint")
    args = ["run", str(RECIPE), "--set", f"run.output={tmp}", *(x for o in QUICK for x in ("--set", o))]
    result = CliRunner().invoke(cli, args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    (folder,) = tmp.iterdir()
    return folder, result.output


def test_a_joint_run_reports_classes_and_dimensions_from_its_predictions(run):
    folder, output = run
    summary = json.loads((folder / "metrics.json").read_text())
    metrics, dimensions = summary["metrics"], summary["metrics"]["dimensions"]
    rows = list(csv.DictReader((folder / "predictions.csv").open()))
    truth, predicted = np.array([r["true"] for r in rows]), np.array([r["predicted"] for r in rows])
    assert metrics["uar"] == pytest.approx(uar(truth, predicted))
    for target in TARGETS:
        true, found = (np.array([float(r[f"{k}_{target}"]) for r in rows]) for k in ("true", "predicted"))
        assert dimensions["per_target"][target]["ccc"] == pytest.approx(ccc(true, found), abs=1e-5)
    assert dimensions["ccc"] > 0.3 and metrics["uar"] > 1 / len(metrics["labels"])  # both heads learned
    assert dimensions["weights"] == [1.0, 1.0] and summary["dataset"]["targets"] == list(TARGETS)
    history = json.loads((folder / "history.json").read_text())[0]
    assert {"val_loss", "val_class_loss", "val_value_loss", "val_uar", "val_ccc"} <= set(history[-1])
    report = (folder / "report.md").read_text()
    assert "- **Task:** joint: the emotion class and arousal, valence, dominance" in report
    assert "## Dimensions (the regression head)" in report and "| dominance |" in report
    headline = next(line for line in output.splitlines() if "; run folder" in line)
    assert "UAR" in headline and ", CCC " in headline  # the headline gives both
    card = json.loads((folder / "model.json").read_text())
    assert card["task"]["kind"] == "joint" and card["labels"] == metrics["labels"]
    assert (folder / "regression.png").is_file() and (folder / "confusion_matrix.png").is_file()


def test_predict_and_export_give_the_class_and_the_values_of_the_runs_model(run, tmp_path):
    from click.testing import CliRunner

    folder, _ = run
    rows = list(csv.DictReader((folder / "predictions.csv").open()))
    first = [r for r in rows if r["fold"] == rows[0]["fold"]][:3]  # the run's model is its first fold's
    root = json.loads((folder / "metrics.json").read_text())["dataset"]["root"]
    files = [str(Path(root) / r["file"]) for r in first]
    shown = CliRunner().invoke(cli, ["predict", str(folder), *files, "--json"])
    assert shown.exit_code == 0, shown.output
    for found, row in zip(json.loads(shown.stdout)["predictions"], first, strict=True):
        assert found["label"] == row["predicted"]
        assert found["probabilities"]["angry"] == pytest.approx(float(row["p_angry"]), abs=1e-4)
        assert {t: round(found["values"][t], 4) for t in TARGETS} == pytest.approx(
            {t: float(row[f"predicted_{t}"]) for t in TARGETS}, abs=1e-4
        )
    table = CliRunner().invoke(cli, ["predict", str(folder), files[0], "--csv"])
    header = table.stdout.splitlines()[0].split(",")
    assert header[-3:] == list(TARGETS) and "p_angry" in header and "uncertainty" in header
    pytest.importorskip("onnxruntime", reason="onnxruntime is not installed (pip install 'serkit[test]')")
    import onnxruntime

    args = ["export", str(folder), "--format", "onnx", "--out", str(tmp_path / "joint.onnx")]
    exported = CliRunner().invoke(cli, args)
    assert exported.exit_code == 0, exported.output
    description = json.loads((tmp_path / "joint.onnx.json").read_text())
    assert (
        description["output"]["targets"] == list(TARGETS)
        and "then the value of each target" in (description["output"]["holds"])
    )
    from serkit.inference.predictor import Predictor

    predictor = Predictor.load(folder)
    expected = predictor.predict_file(files[0])
    features = predictor._raw_features(*_preprocessed(predictor, files[0]))[None].astype(
        np.float32
    )  # normalised inside
    got = onnxruntime.InferenceSession(str(tmp_path / "joint.onnx")).run(None, {"features": features})[0][0]
    labels = predictor.labels
    assert np.allclose(got[: len(labels)], [expected.probabilities[k] for k in labels], atol=1e-4)
    assert np.allclose(got[len(labels) :], [expected.values[t] for t in TARGETS], atol=1e-4)


def _preprocessed(predictor, path: str) -> tuple:
    from serkit.data import audio

    wave, rate, _ = audio.read(path)
    return audio.mono(wave), rate, path, predictor.recipe.preprocess


def test_an_utterance_without_dimensions_does_not_move_the_regression_head():
    from serkit.builtin.models import MLP
    from serkit.core.settings import TrainSettings
    from serkit.learn.trainer import Trainer

    torch.manual_seed(0)
    classes, targets = 4, 3
    module = MLP(hidden=[16], dropout=0.0).build((12,), classes + targets)
    (last,) = [m for m in module.modules() if isinstance(m, torch.nn.Linear)][-1:]
    before = last.weight.detach().clone(), last.bias.detach().clone()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 12)).astype(np.float32)
    y = np.full((32, 1 + targets), np.nan, np.float32)
    y[:, 0] = np.arange(32) % classes  # classes only: no utterance has a value
    settings = TrainSettings(max_epochs=2, batch_size=8, patience=5, learning_rate=1e-2)
    trainer = Trainer(settings, torch.device("cpu"), 0, objective=Joint(classes, "ccc", (1.0, 1.0)))
    trainer.fit(module, x, y, x[:8], y[:8])
    assert torch.equal(last.weight[classes:], before[0][classes:]) and torch.equal(
        last.bias[classes:], before[1][classes:]
    )
    assert not torch.equal(last.weight[:classes], before[0][:classes])  # the class head learned
    # and the other way round: values without classes move the regression head, not the class head's rows
    outputs = module(torch.from_numpy(x)).requires_grad_()
    values = torch.from_numpy(np.c_[np.full(32, -1.0), rng.standard_normal((32, targets))].astype(np.float32))
    class_part, value_part = Joint(classes).parts(outputs, values)
    assert float(class_part) == 0.0 and float(value_part) > 0


def test_the_recipes_mistakes_are_named():
    for overrides, message in (
        (['model={name = "svm"}'], "model: 'svm' is a scikit-learn model; task.kind = \"joint\" trains"),
        (["task.weights=[1.0]"], "task.weights: two weights"),
        (["task.weights=[0.0, 0.0]"], "task.weights: two weights"),
        (["calibrate.method=temperature"], 'calibrate.method: not yet for task.kind = "joint"'),
        (["task.targets=[]"], "task.targets: name the metadata columns"),
        (["task.kind=regression", "task.weights=[2.0, 1.0]"], "task.weights: weigh the heads of task.kind"),
    ):
        with pytest.raises(SerkitError, match=message.replace("(", r"\(")):
            load_recipe(RECIPE, overrides)


def test_runs_compare_and_ablate_give_a_joint_tasks_classes_and_dimensions(run, tmp_path):
    """An ablation of the class head's weight: the UAR table as for any classification, and the regression
    head's mean CCC with its own test against the baseline; runs compare by uar (default) and by ccc."""
    from click.testing import CliRunner

    sweep = tmp_path / "sweep.toml"
    common = ", ".join(f'"{o}"' for o in [*QUICK, "train.max_epochs=3", f"run.output={tmp_path / 'runs'}"])
    sweep.write_text(
        f'[sweep]\nname = "heads"\nbase = "{RECIPE}"\nset = [{common}]\n'
        '[[variant]]\nname = "dimensions weighed double"\nset = ["task.weights=[1.0, 2.0]"]\n'
    )
    result = CliRunner().invoke(cli, ["ablate", str(sweep)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    report = (tmp_path / "runs" / "heads" / "ablation.md").read_text()
    assert "## Dimensions (the regression head): mean CCC" in report
    dimensions = report.split("## Dimensions (the regression head)")[1]
    (line,) = [row for row in dimensions.splitlines() if row.startswith("| dimensions weighed double |")]
    assert line.endswith("| Wilcoxon signed-rank over speakers |")  # one fold per speaker
    runs = sorted(p for p in (tmp_path / "runs" / "heads").iterdir() if (p / "metrics.json").is_file())
    by_ccc = CliRunner().invoke(cli, ["runs", "compare", str(runs[0]), str(runs[1]), "--metric", "ccc", "--json"])
    by_uar = CliRunner().invoke(cli, ["runs", "compare", str(runs[0]), str(runs[1]), "--json"])
    assert by_ccc.exit_code == 0 and by_uar.exit_code == 0, by_ccc.output + by_uar.output
    assert json.loads(by_ccc.stdout)["metric"] == "ccc" and json.loads(by_uar.stdout)["metric"] == "uar"
    summary = json.loads((runs[1] / "metrics.json").read_text())
    rows = list(csv.DictReader((runs[1] / "predictions.csv").open()))
    fold = [r for r in rows if r["fold"] == rows[0]["fold"]]
    own = np.mean(
        [ccc(*(np.array([float(r[f"{k}_{t}"]) for r in fold]) for k in ("true", "predicted"))) for t in TARGETS]
    )
    assert json.loads(by_ccc.stdout)["folds"][0]["b"] == pytest.approx(own)
    assert summary["metrics"]["dimensions"]["weights"] == [1.0, 2.0]


def test_the_selection_audit_says_it_does_not_yet_audit_a_joint_task(run):
    from click.testing import CliRunner

    folder, _ = run
    result = CliRunner().invoke(cli, ["audit", str(folder)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "selection audit skipped: not yet for a joint task" in " ".join(result.output.split())


def test_a_joint_model_trains_in_bf16_autocast_as_on_a_bf16_cpu():
    """bf16 autocast, the default where the CPU has AVX-512 BF16 or AMX, forced here on any CPU: both heads'
    losses are computed in float32 from bf16 outputs and stay finite; the class head learns."""
    from serkit.builtin.models import MLP
    from serkit.core.settings import TrainSettings
    from serkit.learn.trainer import Trainer

    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((48, 12)).astype(np.float32)
    y = np.c_[np.arange(48) % 3, x[:, :2]].astype(np.float32)  # classes, and two values the inputs hold
    x[:, 2] += 2 * (np.arange(48) % 3)  # the class is audible
    settings = TrainSettings(max_epochs=4, batch_size=8, patience=5, learning_rate=1e-2, precision="bf16")
    trainer = Trainer(settings, torch.device("cpu"), 0, objective=Joint(3, "ccc", (1.0, 1.0)))
    result = trainer.fit(MLP(hidden=[16], dropout=0.0).build((12,), 5), x, y, x[:12], y[:12])
    assert trainer.precision == "bf16" and all(np.isfinite(row["val_loss"]) for row in result.history)
    assert result.history[-1]["val_class_loss"] < result.history[0]["val_class_loss"]
