"""A planted collapse (a model that always predicts the most frequent training class) is warned about
in the run's console output and report, in `runs list` (status "collapsed"), in the ablation's
comparison, and in `runs compare`; a sound model next to it gets no warning."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
from helpers import RAVDESS, ROOT, need

from serkit import EstimatorModel, hookimpl
from serkit.cli import cli
from serkit.results.metrics import COLLAPSE_DISTANCE, collapse_warning


@dataclass(frozen=True, kw_only=True)
class MostFrequent(EstimatorModel):
    """Always the most frequent training class: a planted collapse."""

    name = "most_frequent"

    def estimator(self, seed, class_weight):  # type: ignore[no-untyped-def]
        from sklearn.dummy import DummyClassifier

        return DummyClassifier(strategy="most_frequent")


class Planted:
    @hookimpl
    def register_models(self, register):  # type: ignore[no-untyped-def]
        register(MostFrequent)


def test_the_collapse_rule_on_known_confusion_matrices():
    def metrics(matrix):
        return {"confusion_matrix": matrix, "labels": ["a", "b", "c"]}

    assert collapse_warning(metrics([[5, 0, 0], [5, 0, 0], [5, 0, 0]])).startswith(
        "collapsed: the model predicted one class ('a') for all 15"
    )
    near = collapse_warning(metrics([[5, 0, 0], [4, 1, 0], [5, 0, 0]]))  # 14 of 15 'a': distance 0.6
    assert near.startswith("near collapse") and f"> {COLLAPSE_DISTANCE}" in near
    assert collapse_warning(metrics([[4, 1, 0], [1, 3, 1], [0, 1, 4]])) == ""
    assert collapse_warning(metrics([[5, 0, 0], [0, 0, 0], [0, 0, 0]])) == ""  # one true class: nothing to say


@pytest.mark.slow
def test_a_planted_collapse_is_warned_about_everywhere(cli_runner, register_plugin, tmp_path):
    register_plugin(Planted(), "planted-collapse")
    sweep = tmp_path / "sweep.toml"
    common = [
        f"dataset={{name = 'ravdess', root = '{need(RAVDESS)}'}}",
        "protocol={name = 'random', test_size = 0.25}",
        "features={name = 'five_spectral'}",
        "normalise.scope=band",
        f"run.output={tmp_path / 'runs'}",
        f"run.cache_dir={tmp_path / 'cache'}",
    ]
    sweep.write_text(
        f'[sweep]\nname = "planted"\nbase = "{ROOT / "recipes" / "egemaps-svm.toml"}"\nbaseline = "svm"\n'
        f"set = {json.dumps(common)}\n\n"
        '[[variant]]\nname = "always one class"\nset = [\'model={name = "most_frequent"}\']\n'
    )
    result = cli_runner.invoke(cli, ["ablate", str(sweep)], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    assert result.output.count("warning: collapsed: the model predicted one class") == 1  # the run's own line
    assert "variant 'always one class' collapsed:" in result.output
    folder = tmp_path / "runs" / "planted"
    collapsed, sound = folder / "01-always-one-class", folder / "00-svm"
    assert "**Warning: collapsed: the model predicted one class" in (collapsed / "report.md").read_text()
    assert "Warning" not in (sound / "report.md").read_text()
    assert "always one class (collapsed)" in (folder / "ablation.md").read_text()
    listed = json.loads(cli_runner.invoke(cli, ["runs", "list", str(folder), "--json"]).output)["runs"]
    assert {row["name"]: row["status"] for row in listed} == {"00-svm": "complete", "01-always-one-class": "collapsed"}
    compared = cli_runner.invoke(cli, ["runs", "compare", str(sound), str(collapsed)], env={"COLUMNS": "250"})
    assert compared.exit_code == 0 and "warning: run B collapsed" in compared.output
