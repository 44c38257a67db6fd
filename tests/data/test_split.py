"""Splits: the paper's random split, validation from training data only, saved and reused."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from serkit import SerkitError
from serkit.builtin.datasets import EmoDB
from serkit.builtin.protocols import RandomSplit
from serkit.data.split import load_split, plan_folds, split_to_json, validation_split


@pytest.fixture
def emodb(emodb_root):
    return EmoDB(root=str(emodb_root)).scan().utterances


def test_random_split_is_stratified_disjoint_and_seeded(emodb):
    (fold,) = RandomSplit(test_size=0.2).split(emodb, seed=1)
    assert not set(fold.train) & set(fold.test)
    assert sorted(fold.train + fold.test) == list(range(len(emodb)))
    assert len(fold.test) == 107
    test_counts = Counter(emodb[i].label for i in fold.test)
    all_counts = Counter(u.label for u in emodb)
    for label, n in all_counts.items():
        assert abs(test_counts[label] - 0.2 * n) <= 1
    assert RandomSplit().split(emodb, seed=1) == [fold]
    assert RandomSplit().split(emodb, seed=2) != [fold]


def test_validation_comes_from_the_training_part_only(emodb):
    folds = RandomSplit().split(emodb, seed=3)
    (plan,), warnings = plan_folds(folds, emodb, fraction=0.1, seed=3)
    assert warnings == []
    fit, validation, test = set(plan.fit), set(plan.validation), set(plan.test)
    assert not fit & validation and not fit & test and not validation & test
    assert fit | validation == set(folds[0].train)
    assert test == set(folds[0].test)
    assert len(validation) == pytest.approx(0.1 * len(folds[0].train), abs=1)


def test_validation_split_falls_back_when_a_class_is_too_small():
    labels = ["a"] * 9 + ["b"]
    fit, validation = validation_split(list(range(10)), labels, 0.2, seed=0)
    assert len(validation) == 2 and not set(fit) & set(validation)


def test_saved_split_reloads_to_the_same_plan(emodb, emodb_root, tmp_path):
    plans, _ = plan_folds(RandomSplit().split(emodb, seed=4), emodb, 0.1, 4)
    path = tmp_path / "split.json"
    path.write_text(json.dumps(split_to_json(plans, emodb, str(emodb_root), "words")))
    assert load_split(path, emodb, str(emodb_root)) == plans
    data = json.loads(path.read_text())
    data["folds"][0]["test"].append("99z99Zz.wav")
    path.write_text(json.dumps(data))
    with pytest.raises(SerkitError, match=r"not in the dataset, e\.g\. 99z99Zz\.wav"):
        load_split(path, emodb, str(emodb_root))


def test_random_split_impossible_for_the_data_is_reported(emodb):
    with pytest.raises(SerkitError, match="cannot make a stratified split"):
        RandomSplit(test_size=0.01).split(emodb[:20], seed=0)


def test_a_reused_split_keeps_its_seeds(emodb, tmp_path):
    """Fold seeds come from split.json (one planner for run, resume and ablate); old files without them
    get the recipe's seed for their repeat, not 0."""
    from serkit.core.recipe import build_recipe
    from serkit.core.registry import get_registry
    from serkit.run.planning import plan_run, reload_plan

    raw = {
        "run": {"seed": 5, "repeats": 2},
        "dataset": {"name": "emodb", "root": str(tmp_path)},
        "features": {"name": "log_mel"},
        "model": {"name": "crnn"},
    }
    recipe = build_recipe(raw, get_registry())
    plans, _ = plan_run(recipe, emodb)
    assert [(p.repeat, p.seed) for p in plans] == [(0, 5), (1, 6)]
    data = split_to_json(plans, emodb, recipe.dataset.location(), "random")
    assert data["format_version"] >= 1
    data["folds"][1]["seed"] = 99
    (tmp_path / "split.json").write_text(json.dumps(data))
    assert [p.seed for p in reload_plan(recipe, emodb, tmp_path / "split.json")] == [5, 99]
    for fold in data["folds"]:
        del fold["seed"]
    (tmp_path / "split.json").write_text(json.dumps(data))
    assert [p.seed for p in reload_plan(recipe, emodb, tmp_path / "split.json")] == [5, 6]
