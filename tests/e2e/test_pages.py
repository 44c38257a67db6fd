"""Pages CI checks after it runs the recipes that make them (the quickstart, egemaps-svm on the
EMO-DB copy, the eGeMAPS ablation, the cross-corpus matrix): SERKIT_PAGES lists them, separated by ':'. Each renders in
headless Chromium with no console error, its warnings block first, every image decoded and a
screenshot that is not blank; a run's page has its results table, an eGeMAPS page its top features."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from helpers import not_blank, render_in_chromium

PAGES = [Path(page) for page in os.environ.get("SERKIT_PAGES", "").split(os.pathsep) if page]


@pytest.mark.skipif(not PAGES, reason="SERKIT_PAGES names no page (.ci/run sets it after making them)")
@pytest.mark.parametrize("page", PAGES, ids=[page.parent.name for page in PAGES])
def test_a_page_made_by_a_recipe_renders(page, tmp_path):
    shown = render_in_chromium(page, tmp_path / "page.png")
    assert shown["errors"] == []
    assert shown["sections"][0] == "warnings" and all(width > 100 for _, width in shown["images"])
    assert not_blank(tmp_path / "page.png")
    text = page.read_text(encoding="utf-8")
    if page.name == "report.html":
        assert shown["tables"] >= 1 and {"confusion", "reliability", "groups"} <= {name for name, _ in shown["images"]}
    if "egemaps" in page.parent.name and page.name == "report.html":
        assert "importance" in {name for name, _ in shown["images"]} and "_sma3" in text
    if page.name == "ablation.html":
        assert "forest" in {name for name, _ in shown["images"]}
    if page.name == "preview.html":  # the paper recipe's four copies of three files, each with the original
        assert len(shown["audio"]) == 15 and all(duration > 2.9 for duration in shown["audio"])
    if page.name == "crosscorpus.html":
        assert shown["tables"] == 1 and "matrix" in {name for name, _ in shown["images"]}
