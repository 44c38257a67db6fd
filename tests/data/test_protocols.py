"""Speaker-grouped protocols: no speaker overlap, validation from training speakers, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import tiny_run_args

from serkit import SerkitError
from serkit.builtin.datasets import EmoDB, Ravdess
from serkit.builtin.protocols import CrossCorpus, FixedSpeakers, LeaveOneSpeakerOut, SpeakerKFold
from serkit.cli import cli
from serkit.data.split import plan_folds

RECIPES = Path(__file__).resolve().parents[2] / "recipes"


@pytest.fixture(scope="module")
def emodb():
    from helpers import EMODB, need

    return EmoDB(root=str(need(EMODB))).scan().utterances


def speakers(utterances, indices) -> set[str]:
    return {utterances[i].speaker for i in indices}


def assert_speaker_independent(plans, utterances):
    for plan in plans:
        fit, validation, test = (speakers(utterances, part) for part in (plan.fit, plan.validation, plan.test))
        assert not fit & test and not validation & test and not fit & validation, plan.name
        assert set(plan.fit) | set(plan.validation) | set(plan.test) == set(range(len(utterances)))
        for index in plan.test:  # augmentation never touches a test or validation utterance
            assert all(i != index for i, _ in plan.training_items(4))
        assert {i for i, _ in plan.training_items(4)} == set(plan.fit)


@pytest.mark.parametrize("protocol", [SpeakerKFold(folds=5), LeaveOneSpeakerOut()], ids=["kfold", "loso"])
def test_speaker_grouped_folds_never_share_a_speaker(emodb, protocol):
    folds = protocol.split(emodb, seed=0)
    plans, warnings = plan_folds(folds, emodb, 0.1, 0, protocol)
    assert_speaker_independent(plans, emodb)
    tested = [speakers(emodb, plan.test) for plan in plans]
    assert set().union(*tested) == {u.speaker for u in emodb}
    assert sum(len(t) for t in tested) == 10  # every speaker is tested exactly once
    if isinstance(protocol, LeaveOneSpeakerOut):
        assert [p.name for p in plans][:2] == ["speaker-03", "speaker-08"]
        assert warnings == [
            "fold 'speaker-08' has no test example of disgust: its UAR averages the classes "
            "present; pooled figures cover every class"
        ]
        assert protocol.describe(emodb) == "speaker-independent, 10 folds, leave-one-speaker-out"


def test_a_fold_without_a_test_class_is_an_error_unless_accepted(emodb):
    folds = LeaveOneSpeakerOut(missing_test_classes="error").split(emodb, 0)
    with pytest.raises(SerkitError, match="fold 'speaker-08' has no test example of disgust"):
        plan_folds(folds, emodb, 0.1, 0, LeaveOneSpeakerOut(missing_test_classes="error"))


def test_more_folds_than_speakers_is_an_error(emodb):
    with pytest.raises(SerkitError, match=r"protocol\.folds: 12 folds need at least 12 speakers; the data has 10"):
        SpeakerKFold(folds=12).split(emodb, 0)


def test_fixed_speaker_lists(emodb):
    protocol = FixedSpeakers(test_speakers=[["03", "08"], ["09"]])
    folds = protocol.split(emodb, 0)
    assert [speakers(emodb, f.test) for f in folds] == [{"03", "08"}, {"09"}]
    assert speakers(emodb, folds[1].train) == {"03", "08", "10", "11", "12", "13", "14", "15", "16"}
    with pytest.raises(SerkitError, match=r"protocol\.test_speakers\[1\]: speaker\(s\) 99 not in the dataset"):
        FixedSpeakers(test_speakers=[["03"], ["99"]]).split(emodb, 0)
    with pytest.raises(SerkitError, match="also training speakers"):
        FixedSpeakers(test_speakers=[["03"]], train_speakers=["03", "08"]).split(emodb, 0)


def test_cross_corpus_maps_labels_and_reports_unmapped_classes(ravdess_root, emodb_root):
    protocol = CrossCorpus(
        test_dataset="emodb",
        test_root=str(emodb_root),
        train_map={"angry": "anger", "sad": "sadness", "neutral": "neutral", "happy": "happiness"},
        test_map={"anger": "anger", "sadness": "sadness", "neutral": "neutral", "happiness": "happiness"},
    )
    dataset = Ravdess(root=str(ravdess_root))
    scan = protocol.prepare(dataset.scan(), dataset)
    assert scan.labels == ["neutral", "happiness", "sadness", "anger"]
    assert sum(u.meta["corpus"] == "train" for u in scan.utterances) == 8 + 16 * 3
    assert sum(u.meta["corpus"] == "test" for u in scan.utterances) == 79 + 71 + 62 + 127
    assert any("unmapped training classes left out: calm (16)" in w for w in scan.warnings)
    assert any("unmapped test classes left out: boredom (81), disgust (46), fear (69)" in w for w in scan.warnings)
    (fold,) = protocol.split(scan.utterances, 0)
    assert not speakers(scan.utterances, fold.train) & speakers(scan.utterances, fold.test)
    empty = CrossCorpus(
        test_dataset="emodb", test_root=str(emodb_root), train_map={"angry": "anger"}, test_map={"sadness": "sadness"}
    )
    with pytest.raises(SerkitError, match=r"protocol\.test_map: shared class.*anger have no utterances in emodb"):
        empty.prepare(dataset.scan(), dataset)


@pytest.mark.slow
def test_multi_fold_run_reports_each_fold_and_resumes_without_redoing_them(cli_runner, ravdess_root, tmp_path):
    args = tiny_run_args(
        ravdess_root,
        tmp_path,
        "train.max_epochs=1",
        "run.repeats=2",
        "augment=[]",
        'protocol={name = "fixed", test_speakers = [["01"], ["02"]]}',
    )
    result = cli_runner.invoke(cli, args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    (run_dir,) = (tmp_path / "runs").iterdir()
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert [f["id"] for f in metrics["folds"]] == ["fold1", "fold2", "fold1-repeat2", "fold2-repeat2"]
    assert metrics["pooled_over_folds"] and metrics["metrics"]["n_test"] == 240
    assert metrics["mean"]["uar"]["n"] == 4
    assert "2 repeats with seeds 7 to 8" in metrics["protocol"] and "fixed fold(s)" in metrics["protocol"]
    report = (run_dir / "report.md").read_text()
    assert "## Per fold" in report and "fold2-repeat2" in report and "±" in report
    split = json.loads((run_dir / "split.json").read_text())
    assert [(f["name"], f["repeat"]) for f in split["folds"]] == [
        ("fold1", 0),
        ("fold2", 0),
        ("fold1", 1),
        ("fold2", 1),
    ]
    # Interrupted after three folds: resuming trains only the fourth.
    (run_dir / "metrics.json").unlink()
    (run_dir / "folds" / "fold2-repeat2" / "result.json").unlink()
    resumed = cli_runner.invoke(cli, ["resume", str(run_dir)], env={"COLUMNS": "200"})
    assert resumed.exit_code == 0, resumed.output
    assert resumed.output.count("finished in an earlier attempt") == 3
    assert json.loads((run_dir / "metrics.json").read_text())["metrics"] == metrics["metrics"]


def test_impossible_protocols_fail_before_training(cli_runner, run_args, ravdess_root):
    args = ["run", str(RECIPES / "tiny.toml"), "--set", f"dataset.root={ravdess_root}", *run_args]
    result = cli_runner.invoke(cli, [*args, "--set", 'protocol={name = "speaker_kfold", folds = 3}'])
    assert result.exit_code == 1 and "3 folds need at least 3 speakers; the data has 2" in result.output
    result = cli_runner.invoke(cli, [*args, "--set", 'protocol={name = "fixed", test_speakers = [["07"]]}'])
    assert result.exit_code == 1 and "speaker(s) 07 not in the dataset" in result.output
    assert "features" not in result.output
