"""serkit from Python: docs/python.md's blocks run in order (the tiny recipe, a two-variant ablation, a comparison)
on the RAVDESS sample, and the results' notebook display renders in Chromium as the pages do."""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path

import pytest
from helpers import CHROMIUM, RAVDESS, ROOT, missing, need, not_blank

import serkit
from serkit.experiments import AblationResult, RunResult

PAGE = ROOT / "docs" / "python.md"


@pytest.fixture(scope="module")
def namespace(tmp_path_factory) -> dict:
    """docs/python.md run block by block in one namespace, in a folder with the recipes and ../shared beside it."""
    need(RAVDESS)
    top = tmp_path_factory.mktemp("python-api")
    (top / "shared").symlink_to(RAVDESS.parents[1], target_is_directory=True)
    work = top / "work"
    work.mkdir()
    (work / "recipes").symlink_to(ROOT / "recipes", target_is_directory=True)
    found: dict = {}
    before = Path.cwd()
    os.chdir(work)
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("SERKIT_CACHE", str(top / "cache"))
            for k, block in enumerate(re.findall(r"```python\n(.*?)```", PAGE.read_text(encoding="utf-8"), re.S)):
                exec(compile(block, f"{PAGE.name}#{k}", "exec"), found)
    finally:
        os.chdir(before)
    return found


def test_the_docs_page_runs_a_recipe_an_ablation_and_a_comparison(namespace):
    tiny, study, comparison = namespace["tiny"], namespace["study"], namespace["comparison"]
    assert isinstance(tiny, RunResult) and (tiny.path / "metrics.json").is_file()
    assert isinstance(study, AblationResult) and [r["variant"] for r in study.rows] == ["16 LSTM units", "8 LSTM units"]
    assert isinstance(study.rows[1]["delta_uar"], float)  # numbers as numbers
    assert comparison.metric == "uar" and len(comparison.to_records()) == 1
    assert serkit.open_run(tiny.path).summary == tiny.summary
    audited = serkit.audit(tiny.path)  # the split audit, as `serkit audit RUN` gives it
    assert "speakers in more than one part" in audited.checked and not audited.warnings
    assert any("speaker-dependent by design" in note for note in audited.notes)  # tiny's random split


def test_a_recipe_from_a_dict_and_errors_as_one_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    recipe = tomllib.loads((ROOT / "recipes" / "tiny.toml").read_text())
    recipe["dataset"]["root"] = str(need(RAVDESS))
    recipe |= {"augment": [], "train": recipe["train"] | {"max_epochs": 1}, "run": recipe["run"] | {"output": "out"}}
    run = serkit.run_recipe(recipe, overrides=[f"run.cache_dir={tmp_path / 'cache'}"])
    assert run.path.parent == tmp_path / "out" and run.summary.run_name == "tiny"  # relative paths: the cwd's
    del recipe["model"]
    with pytest.raises(serkit.SerkitError, match=r"^recipe \(the dict\): model: section is missing"):
        serkit.run_recipe(recipe)
    with pytest.raises(serkit.SerkitError, match="not a finished serkit run"):
        serkit.open_run(tmp_path)


def test_results_display_themselves_in_a_notebook_as_the_pages_do(namespace, tmp_path):
    if not CHROMIUM.is_file():
        missing()(f"no Chromium at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    for name in ("tiny", "study", "comparison"):
        cell = tmp_path / f"{name}.html"
        cell.write_text(f"<!doctype html><html><body>{namespace[name]._repr_html_()}</body></html>", encoding="utf-8")
        with sync_playwright() as driver:
            browser = driver.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
            try:
                tab = browser.new_page(viewport={"width": 1280, "height": 900})
                errors: list[str] = []
                tab.on(
                    "console",
                    lambda message, seen=errors: seen.append(message.text) if message.type == "error" else None,
                )
                tab.goto(cell.as_uri())
                (frame,) = [f for f in tab.frames if f != tab.main_frame]
                frame.wait_for_load_state()
                widths = frame.eval_on_selector_all("img", "els => els.map(e => e.naturalWidth)")
                sections = frame.eval_on_selector_all("section", "els => els.map(e => e.id)")
                tab.screenshot(path=str(tmp_path / f"{name}.png"))
            finally:
                browser.close()
        assert errors == [], name
        assert sections and sections[0] == "warnings", name  # warnings first, as on the pages
        assert name == "comparison" or (widths and all(width > 100 for width in widths)), name
        assert not_blank(tmp_path / f"{name}.png"), name
