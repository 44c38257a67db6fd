"""The HTML page of a run, rendered in headless Chromium: no console error, the warnings block, the
results table and every figure present, a screenshot that is not blank, nothing of the writing
machine's paths, and `serkit report` for an existing (0.2) run folder."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from helpers import EMODB, RAVDESS, ROOT, need, not_blank, render_in_chromium, tiny_run_args

from serkit.cli import cli

pytestmark = pytest.mark.slow

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def test_a_runs_page_renders_with_every_figure_and_no_path_of_this_machine(cli_runner, tmp_path):
    args = tiny_run_args(need(RAVDESS), tmp_path, "train.max_epochs=2", "calibrate.method=temperature")
    result = cli_runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    (run,) = (tmp_path / "runs").iterdir()
    page = run / "report.html"
    text = page.read_text()
    assert page.stat().st_size < 2_000_000
    assert str(tmp_path) not in text and str(need(RAVDESS)) not in text and str(Path.home()) + "/" not in text
    assert "<script" not in text and "http" not in text.replace("http-equiv", "")  # nothing fetched, nothing run
    shown = render_in_chromium(page, tmp_path / "run.png")
    assert shown["errors"] == []
    assert {"training-curves", "groups", "reliability", "confusion"} <= {name for name, _ in shown["images"]}
    assert all(width > 100 for _, width in shown["images"])  # every image decoded
    assert shown["sections"][0] == "warnings" and "results" in shown["sections"] and shown["tables"] >= 1
    assert "split-audit" in shown["sections"] and "calibration" in shown["sections"]
    assert not_blank(tmp_path / "run.png")


def test_serkit_report_writes_the_page_of_a_0_2_run_folder(cli_runner, tmp_path):
    old = shutil.copytree(FIXTURES / "run-format-0", tmp_path / "old-run")
    result = cli_runner.invoke(cli, ["report", str(old)])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"wrote {old / 'report.html'}"
    shown = render_in_chromium(old / "report.html", tmp_path / "old.png")
    assert shown["errors"] == [] and "confusion" in {name for name, _ in shown["images"]}
    assert "calibration" not in shown["sections"]  # 0.2 folders have no calibration figures: left out
    missing = cli_runner.invoke(cli, ["report", str(tmp_path)])
    assert (
        missing.exit_code == 1 and "neither a finished run (no metrics.json) nor a finished ablation" in missing.output
    )


def test_the_egemaps_page_names_its_top_features(cli_runner, tmp_path):
    pytest.importorskip("serkit_opensmile", reason="the openSMILE plugin is not installed (./plugins/serkit-opensmile)")
    rows, taken = [], {}
    for path in sorted(need(EMODB).glob("*.wav")):
        speaker, label = path.name[:2], path.name[5]
        if speaker in ("03", "08", "09", "10") and label in "WN" and taken.get((speaker, label), 0) < 4:
            taken[speaker, label] = taken.get((speaker, label), 0) + 1
            rows.append(f"{path},{label},{speaker}")
    manifest = tmp_path / "emodb.csv"
    manifest.write_text("path,label,speaker\n" + "\n".join(rows) + "\n")
    dataset = f"dataset={{name = 'manifest', root = '{manifest}'}}"
    args = ["run", str(ROOT / "recipes" / "egemaps-svm.toml"), "--set", dataset]
    for override in (f"run.output={tmp_path / 'runs'}", f"run.cache_dir={tmp_path / 'cache'}"):
        args += ["--set", override]
    result = cli_runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    (run,) = (tmp_path / "runs").iterdir()
    top = json.loads((run / "metrics.json").read_text())["metrics"]["features_say"]["importance"]["top"]
    assert len(top) == 15 and all("_sma3" in row["feature"] for row in top)  # eGeMAPS's own names
    shown = render_in_chromium(run / "report.html", tmp_path / "egemaps.png")
    assert shown["errors"] == [] and "importance" in {name for name, _ in shown["images"]}
    assert "what-the-features-say" in shown["sections"] and top[0]["feature"] in (run / "report.html").read_text()
    assert "training-curves" not in {name for name, _ in shown["images"]}  # an SVM has no epochs to draw


def test_report_open_hands_the_page_to_the_users_browser(cli_runner, tmp_path, monkeypatch):
    import webbrowser

    old = shutil.copytree(FIXTURES / "run-format-0", tmp_path / "old-run")
    opened = tmp_path / "opened.txt"
    browser = tmp_path / "browser.sh"
    browser.write_text(f'#!/bin/sh\necho "$1" > {opened}\n')
    browser.chmod(0o755)
    monkeypatch.setenv("BROWSER", str(browser))
    monkeypatch.setattr(webbrowser, "_tryorder", None)  # read $BROWSER again
    result = cli_runner.invoke(cli, ["report", str(old), "--open"])
    assert result.exit_code == 0, result.output
    assert opened.read_text().strip() == (old / "report.html").resolve().as_uri()


def test_a_page_runs_nothing_and_fetches_nothing_whatever_its_text_holds():
    from serkit.results.html import POLICY, page

    hostile = (
        "# serkit run `x`\n\n- file [x](javascript:alert(1)) and ![](http://example.org/x.png) and <script>1</script>\n"
        "- dataset at /home/someone/corpora/emodb/wav\n"
    )
    text = page(hostile, [], ["speaker <b>1</b> in /srv/data/private/a.wav"], [])
    assert f'<meta http-equiv="Content-Security-Policy" content="{POLICY}">' in text
    assert "default-src 'none'" in POLICY and "img-src data:" in POLICY  # no script, nothing from the network
    assert "<script>" not in text and "<b>1</b>" not in text
    assert "/home/someone" not in text and "…/wav" in text and "…/a.wav" in text


#: Every markdown construct (and raw HTML) a name from data might hold.
CONSTRUCTS = (
    "![x](http://127.0.0.1:9/x.png)",
    "[link](http://127.0.0.1:9/)",
    "<img src=http://127.0.0.1:9/y.png>",
    "<http://127.0.0.1:9/z>",
    "*em* **strong** _em_ __strong__",
    "`code`",
    "# heading",
    "- item",
    "1. item",
    "> quote",
    "| a | b |",
    "&amp; &lt;b&gt;",
    "[ref]: http://127.0.0.1:9/r",
    "\\*escaped\\*",
)


def _data_summary(name) -> object:
    """The 0.2 fixture's summary with every field that comes from data named by ``name(k)``."""
    from serkit.results.groups import group_report
    from serkit.results.records import RunSummary

    data = json.loads((ROOT / "tests" / "fixtures" / "run-format-1" / "metrics.json").read_text())
    summary = RunSummary.from_json(data)
    metrics = summary.metrics
    labels = [name(k) for k in range(len(metrics["labels"]))]
    metrics["per_class"] = {new: metrics["per_class"][old] for old, new in zip(metrics["labels"], labels, strict=True)}
    metrics["labels"] = labels
    truth, predicted = [labels[k % 3] for k in range(12)], [labels[(k // 2) % 3] for k in range(12)]
    speakers = [name(20 + k % 6) for k in range(12)]
    meta = [{name(30): name(31 + k % 2)} for k in range(12)]
    metrics |= group_report(truth, predicted, speakers, meta, keys=[name(30), name(40)])
    top = [{"feature": name(50), "uar_drop": 0.1, "sd_over_folds": 0.01}]
    metrics["features_say"] = {"importance": {"method": "permutation importance", "metric": "uar", "top": top}}
    for k, fold in enumerate(summary.folds):
        fold["id"] = name(60 + k)
    return RunSummary.from_json(
        summary.to_json()
        | {
            "run_name": name(70),
            "protocol": name(71),
            "dataset": summary.dataset | {"name": name(72), "root": f"/data/{name(73)}"},
            "pipeline": name(74),
            "training": name(75),
            "warnings": [name(76)],
            "notes": [name(77)],
            "split_audit": {"checked": [name(78)], "warnings": [name(79)], "notes": [name(80)]},
            "metrics": metrics,
            "folds": summary.folds,
        }
    )


def _tags(html: str) -> list[str]:
    from html.parser import HTMLParser

    found: list[str] = []

    class Tags(HTMLParser):
        def handle_starttag(self, tag, attrs):
            found.append(tag)

    Tags().feed(html)
    return sorted(found)


def test_names_from_data_are_text_in_the_report_and_the_page_never_markup():
    """Files, speakers, labels, metadata values and component names holding any markdown construct or HTML:
    the page has exactly the elements of the same page with plain names, and shows each name as written."""
    import html as html_module

    from serkit.results.html import page, private_paths
    from serkit.results.report import report_markdown

    def plain(k: int) -> str:
        return f"name{k}"

    def hostile(k: int) -> str:
        return f"{CONSTRUCTS[k % len(CONSTRUCTS)]} {k}"

    pages = {}
    for kind, name in (("plain", plain), ("hostile", hostile)):
        summary = _data_summary(name)
        markdown = report_markdown(summary)
        pages[kind] = page(markdown, [], summary.warnings, private_paths(), "")
    assert _tags(pages["hostile"]) == _tags(pages["plain"])  # data adds no element: no img, a, em, code, h1, li
    shown = " ".join(html_module.unescape(pages["hostile"]).split())
    for k in (0, 1, 2, 3, 4, 5, 20, 31, 50, 70, 71, 72, 74, 75, 76, 77, 79, 80):  # (one fold: no fold table)
        assert " ".join(hostile(k).split()) in shown, hostile(k)


def test_a_path_escaped_as_text_is_still_kept_off_the_page():
    """Names are escaped in the report (``_work`` as ``\\_work``): the page still replaces the dataset's
    root and cuts any other absolute path to its last part."""
    from serkit.results.html import page, private_paths
    from serkit.results.render import md_text

    root = "/home/alice/_work/corpus"
    notes = [md_text(f"{root}/spk1/a.wav: clipped"), md_text("/srv/[x]/_y/b.wav")]
    text = "# serkit run `x`\n\n## Data notes\n\n" + "".join(f"- {note}\n" for note in notes)
    shown = page(text, [], [], private_paths(root))
    assert "alice" not in shown and "_work" not in shown and "srv" not in shown
    assert "corpus/spk1/a.wav: clipped" in shown and "…/b.wav" in shown
