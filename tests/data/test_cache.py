"""`serkit cache info` and `serkit cache prune`: sizes by kind and pipeline, pruning by run, age and size."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import pytest
from helpers import tiny_run_args

from serkit.cli import cli
from serkit.core.recipe import load_recipe
from serkit.data.cache import ArrayCache, file_digest
from serkit.data.cache_index import cache_lock, parse_size, record_use
from serkit.data.compute import compute_features
from serkit.data.pipeline import Pipeline

TINY = Path(__file__).resolve().parents[2] / "recipes" / "tiny.toml"


@pytest.fixture
def used_cache(cli_runner, ravdess_root, tmp_path):
    """A cache holding a finished tiny run's pipeline and an older one of 64 -> 32 mel bands."""
    result = cli_runner.invoke(cli, tiny_run_args(ravdess_root, tmp_path, "train.max_epochs=1"))
    assert result.exit_code == 0, result.output
    (run_dir,) = (tmp_path / "runs").iterdir()
    cache = tmp_path / "cache"
    recipe = load_recipe(TINY, [f"dataset.root={ravdess_root}", "features.n_mels=32", "augment=[]"])
    other = Pipeline(recipe.preprocess, [], recipe.features, recipe.run.seed)
    files = sorted(str(p) for p in ravdess_root.rglob("*.wav"))[:4]
    hashes = [file_digest(f) for f in files]
    items = [(i, None) for i in range(len(files))]
    compute_features(other, files, hashes, items, ArrayCache(cache), 1)
    record_use(cache, other.id, other.describe(), other.entries(hashes, items))
    old = time.time() - 10 * 86400
    os.utime(cache / "pipelines" / f"{other.id}.json", (old, old))
    return cache, run_dir, other


def info(cli_runner, cache: Path) -> dict:
    result = cli_runner.invoke(cli, ["cache", "info", "--dir", str(cache), "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_info_by_kind_and_pipeline(cli_runner, used_cache):
    cache, run_dir, other = used_cache
    report = info(cli_runner, cache)
    run_pipeline = json.loads((run_dir / "environment.json").read_text())["cache"]["pipeline"]
    assert [row["id"] for row in report["pipelines"]] == [run_pipeline, other.id]  # most recent first
    assert report["pipelines"][1]["entries"] == 4 + 4 + 4  # waves, rates, features of 4 files
    summary = json.loads((run_dir / "metrics.json").read_text())
    expected = summary["dataset"]["utterances"] + summary["fold"]["augmented"] + 4  # + the 32-band ones
    assert report["by_kind"]["features"]["entries"] == expected
    assert report["bytes"] == sum(p.stat().st_size for p in cache.rglob("*.npy"))
    text = cli_runner.invoke(cli, ["cache", "info", "--dir", str(cache)], env={"COLUMNS": "200"}).output
    assert "resample -> trim_silence -> wiener -> fix_length" in text and "by kind" in text


def test_prune_keeps_what_a_run_used(cli_runner, used_cache, ravdess_root, tmp_path):
    cache, run_dir, _ = used_cache
    before = info(cli_runner, cache)
    dry = cli_runner.invoke(cli, ["cache", "prune", "--dir", str(cache), "--keep", str(run_dir), "--dry-run"])
    assert dry.exit_code == 0 and "would remove 4 entries" in dry.output  # the 32-band features; waves are shared
    assert info(cli_runner, cache) == before
    result = cli_runner.invoke(cli, ["cache", "prune", "--dir", str(cache), "--keep", str(run_dir)])
    assert result.exit_code == 0, result.output
    after = info(cli_runner, cache)
    assert [row["id"] for row in after["pipelines"]] == [before["pipelines"][0]["id"]]
    assert after["entries"] == before["entries"] - 4  # only the 32-band features went (waves/rates shared)
    written = {p: p.stat().st_mtime_ns for p in cache.rglob("*.npy")}
    rerun = cli_runner.invoke(cli, tiny_run_args(ravdess_root, tmp_path, "train.max_epochs=1"))
    assert rerun.exit_code == 0, rerun.output
    assert {p: p.stat().st_mtime_ns for p in cache.rglob("*.npy")} == written  # nothing was recomputed


def test_prune_by_age_and_size(cli_runner, used_cache):
    cache, _, other = used_cache
    result = cli_runner.invoke(cli, ["cache", "prune", "--dir", str(cache), "--older-than", "7"])
    assert result.exit_code == 0 and "1 pipeline record(s)" in result.output
    assert other.id not in {row["id"] for row in info(cli_runner, cache)["pipelines"]}
    result = cli_runner.invoke(cli, ["cache", "prune", "--dir", str(cache), "--max-size", "0"])
    assert result.exit_code == 0
    assert info(cli_runner, cache)["entries"] == 0
    nothing = cli_runner.invoke(cli, ["cache", "prune", "--dir", str(cache)])
    assert nothing.exit_code == 1 and "say what to remove" in nothing.output
    assert cli_runner.invoke(cli, ["cache", "prune", "--dir", str(cache), "--max-size", "lots"]).exit_code == 1


def test_prune_waits_for_a_run_computing_features(tmp_path):
    from serkit.data.cache_index import prune

    done = threading.Event()
    with cache_lock(tmp_path, exclusive=False):  # as a run holds it during its feature stage
        worker = threading.Thread(target=lambda: (prune(tmp_path, max_bytes=0), done.set()))
        worker.start()
        time.sleep(0.3)
        assert not done.is_set()
    worker.join(5)
    assert done.is_set()


def test_sizes():
    assert parse_size("2G") == 2 << 30 and parse_size("500M") == 500 << 20 and parse_size("1.5GiB") == 3 << 29
    assert parse_size("800") == 800


def _record_many(root: Path, process: int, count: int) -> None:
    for k in range(count):
        record_use(root, "shared-pipeline", "a pipeline", [("features", f"p{process}-{k}")])


def test_two_processes_recording_one_pipeline_at_once_lose_no_entry(tmp_path):
    """Two runs of one pipeline at once both read and rewrite its record: neither loses the other's entries
    (a lost entry would be removed by a later prune while still in use)."""
    import multiprocessing

    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_record_many, args=(tmp_path, p, 150)) for p in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
        assert worker.exitcode == 0
    record = json.loads((tmp_path / "pipelines" / "shared-pipeline.json").read_text())
    assert len(record["entries"]) == 300


def _installed_as(monkeypatch: pytest.MonkeyPatch, faked: dict[str, str]) -> None:
    """Pretend these distributions are installed at these versions (an upgrade), from now on."""
    import importlib.metadata

    from serkit.core import components

    real = importlib.metadata.version
    monkeypatch.setattr(importlib.metadata, "version", lambda name: faked.get(name) or real(name))
    components.forget_versions()


def test_an_upgrade_of_a_declared_library_computes_features_anew_and_an_unrelated_one_does_not(
    ravdess_root, tmp_path, monkeypatch
):
    from serkit.core import components

    recipe = load_recipe(TINY, [f"dataset.root={ravdess_root}", "augment=[]"])
    files = sorted(str(p) for p in ravdess_root.rglob("*.wav"))[:3]
    hashes = [file_digest(f) for f in files]
    items = [(i, None) for i in range(len(files))]
    cache = ArrayCache(tmp_path)

    def keys() -> list[str]:
        return [Pipeline(recipe.preprocess, [], recipe.features, recipe.run.seed).feature_key(h, None) for h in hashes]

    compute_features(Pipeline(recipe.preprocess, [], recipe.features, recipe.run.seed), files, hashes, items, cache)
    before = keys()
    assert all(cache.get("features", key) is not None for key in before)
    identity = recipe.features.cache_identity()["computed_by"]
    assert identity["distribution"].startswith("serkit ") and set(identity["libraries"]) == {"librosa"}
    try:
        _installed_as(monkeypatch, {"rich": "99.0", "numpy-rms": "99.0"})  # not what computes log-mels
        assert keys() == before
        _installed_as(monkeypatch, {"librosa": "99.0"})
        after = keys()
        assert set(after).isdisjoint(before) and all(cache.get("features", key) is None for key in after)  # a miss
        compute_features(Pipeline(recipe.preprocess, [], recipe.features, recipe.run.seed), files, hashes, items, cache)
        assert all(cache.get("features", key) is not None for key in after)
    finally:
        monkeypatch.undo()
        components.forget_versions()
