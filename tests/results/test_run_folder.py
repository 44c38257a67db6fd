"""The run folder has one owner: serkit/results/folder.py spells every file name of the
folders serkit writes; every other module asks it for paths and typed documents. Stage functions
and the RunFolder API take and return typed records, not free-form dictionaries."""

from __future__ import annotations

import ast
import re
import shutil
from dataclasses import fields
from pathlib import Path

import pytest

from serkit.core.errors import SerkitError
from serkit.results import folder as runfolder
from serkit.results.folder import Environment, ModelCard, RunFolder, find_runs

PACKAGE = Path(__file__).resolve().parents[2] / "serkit"
OWNER = PACKAGE / "results" / "folder.py"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def _names() -> set[str]:
    """Every file name folder.py declares (its module-level string constants with a suffix), and
    its folder names."""
    names: set[str] = set()
    for node in ast.parse(OWNER.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign):
            for value in ast.walk(node.value):
                if isinstance(value, ast.Constant) and isinstance(value.value, str):
                    names.add(value.value)
    files = {name for name in names if re.fullmatch(r"[a-z_-]+\.[a-z.]+", name)}
    folders = {runfolder.FOLDS, runfolder.EPOCHS, runfolder.TRIALS_FOLDER, runfolder.AUDIT, runfolder.FEATURES}
    return files | folders


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


def _spellings(path: Path, names: set[str]) -> list[str]:
    """Each string constant (f-string parts included, docstrings not) that spells one of ``names``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docs = _docstrings(tree)
    pattern = re.compile(
        r"(?<![\w.-])(" + "|".join(sorted(map(re.escape, names), key=len, reverse=True)) + r")(?![\w-])"
    )
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs:
            match = pattern.search(node.value)
            if match and not _is_a_word(match.group(1), node.value):
                found.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}: {node.value!r}")
    return found


def _is_a_word(name: str, text: str) -> bool:
    """Folder names are also words ("folds", "epochs", "features", "trials", "audit") and JSON keys: they
    count only in a path, beside a slash."""
    if "." in name:
        return False
    return not (f"{name}/" in text or f"/{name}" in text)


def test_the_layout_names_are_declared_once():
    names = _names()
    assert {"metrics.json", "model.json", "split.json", "predictions.csv", "run.log", "result.json"} <= names
    assert {"checkpoint.pt", "folds", "epochs", "mlflow.json", "trials.json", "ablation.csv"} <= names


def test_no_other_module_spells_a_run_folder_file_name():
    names = _names()
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path != OWNER:
            offenders += _spellings(path, names)
    assert not offenders, "run-folder names outside serkit/results/folder.py:\n" + "\n".join(offenders)


def test_the_scan_finds_a_spelled_name(tmp_path):
    """The check above can fail: a module that spells one (as a literal or inside an f-string) is found."""
    module = tmp_path / "serkit" / "offender.py"
    module.parent.mkdir()
    module.write_text(
        '"""Reads metrics.json (a docstring may say so)."""\n'
        'A = run / "metrics.json"\n'
        'B = f"{run}/folds/{fold}/model.pt"\n'
        'C = "the folds of a split"\n'
    )
    global PACKAGE
    saved, PACKAGE = PACKAGE, tmp_path / "serkit"
    try:
        found = _spellings(module, _names())
    finally:
        PACKAGE = saved
    assert sorted({line.split(": ", 1)[0] for line in found}) == ["serkit/offender.py:2", "serkit/offender.py:3"]


#: The modules whose functions are stages or the RunFolder API.
TYPED = [PACKAGE / "run" / "stages.py", OWNER]


@pytest.mark.parametrize("path", TYPED, ids=lambda p: p.name)
def test_stage_and_run_folder_signatures_take_no_free_form_dictionaries(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    loose = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and not node.name.startswith("_"):
            annotations = [a.annotation for a in [*node.args.args, *node.args.kwonlyargs] if a.annotation]
            for annotation in [*annotations, node.returns]:
                if annotation is not None and "Any" in ast.unparse(annotation):
                    loose.append(f"{path.name}:{node.lineno} {node.name}: {ast.unparse(annotation)}")
    assert not loose, "free-form types in signatures:\n" + "\n".join(loose)


@pytest.mark.parametrize("fixture", ["run-format-0", "run-format-1"])
def test_old_run_folders_read_as_typed_documents(tmp_path, fixture):
    folder = tmp_path / fixture
    shutil.copytree(FIXTURES / fixture, folder)
    run = RunFolder(folder)
    assert run.is_run() and run.is_complete() and find_runs(tmp_path) == [run]
    card = run.read_model_card()
    assert isinstance(card, ModelCard) and card.labels[0] == "neutral" and card.input_shape == [1, 64, 94]
    assert card.weights_file == "model.pt" and run.weights_file(card.weights_file) == folder / "model.pt"
    summary = run.read_summary()
    assert summary.folds[0]["id"] == "random"
    result = run.fold("random").read_result()
    assert result.model_file == "model.pt" and result.test  # format 0 results did not name the file
    split = run.read_split()
    assert [f.name for f in split.folds] == ["random"] and split.folds[0].test
    environment = run.read_environment()
    assert isinstance(environment, Environment) and environment.components
    assert run.cache_pipeline() == (None if fixture == "run-format-0" else environment.cache["pipeline"])
    assert len(run.read_predictions()) == len(result.test)


def test_predictions_read_as_csv_dictreader_reads_them_and_without_probabilities_for_comparisons(tmp_path):
    import csv

    run = RunFolder(tmp_path)
    text = (
        "fold,file,speaker,true,predicted,p_a,p_b,gender\n"
        "f1,x/1.wav,s1,a,b,0.4,0.6,f\n"
        "\n"  # a blank line is no row, as csv.DictReader has it
        'f1,"x/2,3.wav",s2,b,b,0.1,0.9,m\n'
        "f2,x/4.wav,s1,a,a\n"  # a short line: its missing values are empty
    )
    run.write_predictions(text)
    rows = run.read_predictions()
    reference = [{k: v or "" for k, v in r.items()} for r in csv.DictReader(text.splitlines())]
    assert rows == reference and rows[1]["file"] == "x/2,3.wav" and rows[2]["gender"] == ""
    labels_only = run.read_predictions(probabilities=False)
    assert labels_only == [{k: v for k, v in r.items() if not k.startswith("p_")} for r in reference]
    assert rows[0]["speaker"] is rows[2]["speaker"]  # a repeated value is held once


def test_documents_round_trip_through_the_folder(tmp_path):
    run = RunFolder(tmp_path)
    card = ModelCard(labels=["a", "b"], input_shape=[1, 4, 5], normaliser={"method": "zscore", "scope": "band"})
    run.write_model_card(card)
    assert run.read_model_card() == card
    run.write_wall_time(12.5)
    assert run.read_wall_time() == 12.5
    names = {f.name for f in fields(ModelCard)}
    assert {"labels", "input_shape", "normaliser", "weights_file", "fold_weights", "format_version"} <= names


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ('{"format_version": 1, "labels": ["a"]}', "damaged model description (no input_shape, normaliser)"),
        ('{"format_version": 9, "labels": ["a"]}', "written by a newer serkit (run format 9"),
        ('{"format_version": 1, "labels": ["a"], "input_shape": [1], "normaliser": 3}', "AttributeError"),
        ("[1, 2", "JSONDecodeError"),
    ],
)
def test_a_damaged_model_card_is_named(tmp_path, content, says):
    run = RunFolder(tmp_path)
    run.model_card.write_text(content)
    with pytest.raises(SerkitError, match=re.escape(str(run.model_card))) as error:
        run.read_model_card()
    assert says in str(error.value)


def test_the_layout_module_reads_only_what_it_owns():
    """folder.py is below the stages: it imports no running, study, CLI or inference module."""
    imported = {
        node.module
        for node in ast.walk(ast.parse(OWNER.read_text(encoding="utf-8")))
        if isinstance(node, ast.ImportFrom) and node.module
    }
    assert not {m for m in imported if m.startswith(("serkit.run.stages", "serkit.cli", "serkit.inference"))}
    assert runfolder.RunFolder.__dataclass_params__.frozen  # type: ignore[attr-defined]
