"""The tests' own helpers: what a test needs and lacks skips it on a developer's machine and fails it in CI."""

from __future__ import annotations

import pytest
from helpers import need


def test_a_missing_corpus_skips_here_and_fails_under_ci(monkeypatch, tmp_path):
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="real corpus not found"):
        need(tmp_path / "absent")
    monkeypatch.setenv("CI", "true")  # CI provides ../shared: a test that skipped there would pass unseen
    with pytest.raises(pytest.fail.Exception, match="real corpus not found"):
        need(tmp_path / "absent")
    assert need(tmp_path) == tmp_path
