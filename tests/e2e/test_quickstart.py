"""The README's main command: the quickstart recipe on a freshly synthesised corpus."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from serkit.cli import cli
from serkit.core.recipe import load_recipe
from serkit.corpora.synth import MARKER

pytestmark = pytest.mark.slow
QUICKSTART = str(Path(__file__).resolve().parents[2] / "recipes" / "quickstart.toml")


def test_quickstart_recipe_keeps_the_papers_pipeline_shape():
    """The paper's stages, components and model; only a lighter front end and faster stretching."""
    quick, paper = load_recipe(QUICKSTART).to_dict(), load_recipe(QUICKSTART.replace("quickstart", "paper")).to_dict()
    for section in ("normalise", "model", "protocol"):
        assert quick[section] == paper[section], section
    for section in ("preprocess", "augment"):
        assert [c["name"] for c in quick[section]] == [c["name"] for c in paper[section]], section
    lighter = {"sample_rate": 16000, "n_fft": 1024, "n_mels": 64, "method": "signalsmith"}
    for section in ("preprocess", "augment", "features"):
        quick_parts = quick[section] if isinstance(quick[section], list) else [quick[section]]
        paper_parts = paper[section] if isinstance(paper[section], list) else [paper[section]]
        for q, p in zip(quick_parts, paper_parts, strict=True):
            changed = {k: v for k, v in q.items() if p[k] != v}
            assert changed.items() <= lighter.items(), (section, changed)
    assert quick["dataset"]["name"] == "synthetic" and quick["dataset"]["root"] == ""


def test_quickstart_synthesises_its_corpus_into_the_cache_and_runs(cli_runner, tmp_path, monkeypatch):
    monkeypatch.setenv("SERKIT_CACHE", str(tmp_path / "cache"))
    args = [
        "run",
        QUICKSTART,
        "--set",
        "dataset.actors=2",
        "--set",
        "train.max_epochs=1",
        "--set",
        f"run.output={tmp_path / 'runs'}",
    ]
    result = cli_runner.invoke(cli, args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "synthesised a new corpus into" in result.output
    (corpus,) = (tmp_path / "cache" / "corpora").iterdir()
    assert (corpus / MARKER).is_file() and len(list(corpus.rglob("*.wav"))) == 120
    (run_dir,) = (tmp_path / "runs").iterdir()
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["dataset"]["name"] == "synthetic" and metrics["dataset"]["utterances"] == 120
    assert metrics["metrics"]["n_test"] == 24 and len(metrics["metrics"]["labels"]) == 8
    # A second run finds the corpus and reuses it.
    again = cli_runner.invoke(cli, args, env={"COLUMNS": "200"})
    assert again.exit_code == 0 and "synthesised a new corpus" not in again.output
