"""Self-contained HTML pages of a run and of an ablation: the markdown report's text (one source for
both), figures embedded as PNG data, inline styles, no script, no network, and no absolute path of
the machine that wrote them. A run's page is well under 2 MB (figures at 110 dpi)."""

from __future__ import annotations

import base64
import html
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from serkit.results.folder import AblationFolder, RunFolder, read_json
from serkit.results.records import RunSummary
from serkit.results.render import (
    confusion_figure,
    forest_plot,
    group_bars,
    importance_bars,
    markdown_table,
    md_code,
    md_text,
    png_bytes,
    row_metric,
)
from serkit.results.report import report_markdown

if TYPE_CHECKING:
    from serkit.results.runs import RunComparison

#: What a page may load and run: its own inline styles and embedded images, nothing else (no script, no
#: network), whatever a file, speaker or label name in its text holds.
POLICY = "default-src 'none'; img-src data:; media-src data:; style-src 'unsafe-inline'"

#: Sections shown right after the warnings, wherever the report has them.
FIRST = ("Data notes",)

#: An absolute POSIX path of two or more parts (its last part kept), as written or with the backslash escapes
#: of :func:`~serkit.results.render.md_text`.
_PART = r"(?:\\[\\`*_\[\]|#]|[\w.+@-])+"
ABSOLUTE = re.compile(rf"(?<![\w.~\\])/(?:{_PART}/)+({_PART})")

STYLE = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1d2330; margin: 0; }
main { max-width: 1100px; margin: 0 auto; padding: 1.5rem 2rem 3rem; }
h1 { font-size: 1.6rem; margin: 0 0 .8rem; } h2 { font-size: 1.2rem; margin: 2rem 0 .6rem;
  border-bottom: 1px solid #d8dce4; padding-bottom: .2rem; }
table { border-collapse: collapse; margin: .6rem 0; font-size: 13.5px; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid #d8dce4; padding: .25rem .55rem; text-align: right; }
th:first-child, td:first-child { text-align: left; } th { background: #f1f3f7; }
.table { overflow-x: auto; }
figure { margin: 1rem 0; } figure img { max-width: min(100%, 820px); height: auto; border: 1px solid #eceef2; }
figcaption { font-size: 13px; color: #5a6273; }
figure.sound { display: inline-block; margin: .3rem 1rem .3rem 0; } figure.sound audio { width: 260px; }
#warnings { border-left: 4px solid #c7831a; background: #fff7e8; padding: .5rem 1rem; margin: 1rem 0; }
#warnings.none { border-color: #3b8c4b; background: #eef8f0; }
code { background: #f1f3f7; padding: 0 .2rem; border-radius: 3px; }
@media print { main { max-width: none; padding: 0; } figure, table { break-inside: avoid; } }
"""


@dataclass(frozen=True)
class Figure:
    """A PNG shown under a section of the page."""

    section: str  #: the heading of the section it belongs to
    name: str  #: its element id
    caption: str
    png: bytes


@dataclass(frozen=True)
class Sound:
    """A clip played under a section of the page (FLAC, embedded as data)."""

    section: str  #: the heading of the section it belongs to
    name: str  #: its element id
    caption: str
    flac: bytes


def markdown_html(text: str) -> str:
    """Markdown (the report's subset: paragraphs, lists, tables, emphasis, code) as HTML; any HTML in
    the text is shown as text."""
    import markdown

    return markdown.markdown(text.replace("<", "&lt;").replace(">", "&gt;"), extensions=["tables"])


def page(
    markdown_text: str,
    figures: list[Figure],
    warnings: list[str],
    private: list[tuple[str, str]],
    clean: str = "No warnings.",
    sounds: list[Sound] | None = None,
) -> str:
    """A page from a report in markdown: its title and first block, a warnings block, then every ``##``
    section (with its figures). ``private``: (text, replacement) pairs applied to all text first
    (absolute paths of the machine that wrote the report; any other absolute path is cut to its last
    part); ``clean`` is what the warnings block says where there are none."""
    for secret, shown in private:
        if secret:  # as written, and as a name in the report's text (md_text) shows it
            markdown_text = markdown_text.replace(secret, shown).replace(md_text(secret), md_text(shown))
            warnings = [w.replace(secret, shown) for w in warnings]
    markdown_text = ABSOLUTE.sub(r"…/\1", markdown_text)
    warnings = [ABSOLUTE.sub(r"…/\1", w) for w in warnings]
    head, *sections = re.split(r"^## ", markdown_text, flags=re.MULTILINE)
    title = head.splitlines()[0].lstrip("# ").strip()
    intro = "\n".join(head.splitlines()[1:])
    warning_items = "".join(f"<li>{html.escape(w)}</li>" for w in warnings)
    block = (
        f'<section id="warnings"><h2>Warnings</h2><ul>{warning_items}</ul></section>'
        if warnings
        else f'<section id="warnings" class="none"><p>{html.escape(clean)}</p></section>'
    )
    parts = [f"<h1>{html.escape(title).replace('`', '')}</h1>", block, markdown_html(intro)]
    first = [s for s in sections if s.startswith(FIRST)]  # data notes go up beside the warnings
    for section in first + [s for s in sections if not s.startswith(FIRST)]:
        heading, _, body = section.partition("\n")
        body = "\n".join(line for line in body.splitlines() if not line.startswith("**Warning: "))
        slug = re.sub(r"[^a-z0-9]+", "-", heading.lower()).strip("-")
        content = re.sub(r"(<table>.*?</table>)", r'<div class="table">\1</div>', markdown_html(body), flags=re.S)
        shown = "".join(_figure(f) for f in figures if f.section == heading.strip())
        shown += "".join(_sound(s) for s in sounds or [] if s.section == heading.strip())
        title_html = markdown_html(heading.strip()).removeprefix("<p>").removesuffix("</p>")  # its escapes undone
        parts.append(f'<section id="{slug}"><h2>{title_html}</h2>{content}{shown}</section>')
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{POLICY}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title).replace('`', '')}</title><style>{STYLE}</style></head>"
        f"<body><main>{''.join(parts)}</main></body></html>\n"
    )


def _figure(figure: Figure) -> str:
    data = base64.b64encode(figure.png).decode("ascii")
    caption = html.escape(figure.caption)
    return (
        f'<figure id="{figure.name}"><img alt="{caption}" src="data:image/png;base64,{data}">'
        f"<figcaption>{caption}</figcaption></figure>"
    )


def _sound(sound: Sound) -> str:
    data = base64.b64encode(sound.flac).decode("ascii")
    caption = html.escape(sound.caption)
    return (
        f'<figure id="{sound.name}" class="sound"><audio controls preload="metadata" '
        f'src="data:audio/flac;base64,{data}"></audio><figcaption>{caption}</figcaption></figure>'
    )


def private_paths(*paths: str | Path) -> list[tuple[str, str]]:
    """Each absolute path replaced by its last part, and the home folder by ``~`` (longest first)."""
    pairs = [(str(Path(p).resolve()), Path(p).name) for p in paths if p] + [(str(p), Path(p).name) for p in paths if p]
    pairs.append((str(Path.home()), "~"))
    return sorted({(a, b) for a, b in pairs if a not in ("", "/", ".")}, key=lambda pair: -len(pair[0]))


def run_page(summary: RunSummary, folder: RunFolder) -> str:
    """A run's page: its report, the training curves, per-speaker and per-group bars with intervals,
    the reliability diagram and the confusion matrix (figures the folder lacks, as 0.2 ones do, left out)."""
    trained = any(len(fold.get("history", [])) > 1 or fold.get("epochs", 0) > 1 for fold in summary.folds)
    figures = [
        Figure(section, name, caption, path.read_bytes())
        for section, name, caption, path in (
            ("Results", "training-curves", "Training and validation curves", folder.training_plot if trained else None),
            ("Calibration", "reliability", "Reliability diagram of the top class", folder.reliability_plot),
            ("What the features say", "occlusion", "Occlusion map per class", folder.occlusion_plot),
            ("Confusion matrix", "confusion", "Confusion matrix (row percentages, counts)", folder.confusion_plot),
            ("Results", "regression", "Predicted against true values, per target", folder.regression_plot),
        )
        if path is not None and path.is_file()
    ]
    regression = summary.metrics.get("task") == "regression"
    if not regression and not folder.confusion_plot.is_file():  # lost, or never had it: drawn from its metrics
        png = png_bytes(confusion_figure(summary.metrics, summary.run_name))
        figures.append(Figure("Confusion matrix", "confusion", "Confusion matrix (row percentages, counts)", png))
    if "per_speaker" in summary.metrics:
        caption = "UAR per test speaker and per group, with 95 % bootstrap intervals for groups"
        figures.append(Figure("Per speaker and group", "groups", caption, group_bars(summary.metrics)))
    if "importance" in summary.metrics.get("features_say", {}):
        metric = summary.metrics["features_say"]["importance"].get("metric", "uar").upper()
        caption = f"The dimensions whose shuffling costs the most validation {metric}"
        png = importance_bars(summary.metrics["features_say"]["importance"])
        figures.append(Figure("What the features say", "importance", caption, png))
    private = private_paths(summary.dataset.get("root", ""), folder.path)
    audited = " and none from the split audit" if summary.split_audit else " (this run predates the split audit)"
    clean = f"No warnings: the model did not collapse{audited}."
    return page(report_markdown(summary), figures, summary.warnings, private, clean)


def ablation_page(folder: AblationFolder, rows: list[dict[str, str]]) -> str:
    """An ablation's page: its comparison (ablation.md), a forest plot of every variant's Δ UAR (or Δ CCC)
    with its interval and test, and the bar chart; ``rows`` are ablation.csv's."""
    name = row_metric(rows[0]).upper()
    unit = "CCC" if name == "CCC" else "percentage points"
    text = folder.report.read_text(encoding="utf-8")
    text += (
        f"\n## Effects\n\nΔ {name} of every variant against the baseline ({unit}), with its 95 % "
        "interval and the test that gave it; a collapsed variant is marked.\n"
    )
    figures = [Figure("Effects", "forest", f"Δ {name} against the baseline, 95 % intervals", forest_plot(rows))]
    if folder.plot.is_file():
        caption = f"{name} per variant (mean ± sd over folds)"
        figures.append(Figure("Effects", "bars", caption, folder.plot.read_bytes()))
    warnings = []
    for row in rows:
        run = folder.variant(row["folder"])
        found = run.read_summary().warnings if run.is_complete() else []
        for warning in found:
            finding = "; its difference from the baseline is not a finding" if "collapse" in warning else ""
            warnings.append(f"variant '{row['variant']}': {warning}{finding}")
    sweep_file = str(read_json(folder.sweep, "sweep record").get("sweep_file", "")) if folder.sweep.is_file() else ""
    clean = "No warnings in any variant: no collapse, and none from the split audits."
    return page(text, figures, warnings, private_paths(folder.path, sweep_file), clean)


def comparison_page(result: RunComparison) -> str:
    """`serkit runs compare --html`: per fold, the test the design calls for, per group, as a page."""
    from serkit.results.render import comparison_basis, comparison_sentence, metric_name, score_text
    from serkit.results.stats import format_p

    c, metric, name = result.comparison, result.metric, metric_name(result.metric)
    folds = [
        [md_text(f.fold), score_text(f.a, metric), score_text(f.b, metric), score_text(f.b - f.a, metric, True)]
        for f in result.folds
    ]
    percent = " %" * (metric != "ccc")
    lines = [
        f"# Run B against run A ({name})",
        "",
        f"- **A:** {md_code(result.run_a)}",
        f"- **B:** {md_code(result.run_b)}",
        f"- **Protocol:** {md_text(result.protocol)}",
        "",
        "## Test",
        "",
        comparison_sentence(c)
        + ". "
        + comparison_basis(c)
        + "".join(f" {name} = {format_p(value)}." for name, value in c.extra)
        + (f" Note: {md_text(c.caveat)}." if c.caveat else ""),
        "",
        f"## {name} per fold",
        "",
        markdown_table(["fold", f"A{percent}", f"B{percent}", "B - A"], folds),
        "",
    ]
    for key, found in result.groups.items():
        rows = [_group_row(name, r) for name, r in found["groups"].items()]
        lines += [
            f"## UAR per {md_text(key)}",
            "",
            f"Paired bootstrap 95 % intervals of B − A; the gap between {md_text(key)} groups: "
            f"A {100 * found['gap_a']:.2f}, B {100 * found['gap_b']:.2f} points.",
            "",
            markdown_table([md_text(key), "test utterances", "A %", "B %", "B - A", "95 % CI", "resampled by"], rows),
            "",
        ]
    clean = "No warnings in either run: no collapse, and none from their split audits."
    return page("\n".join(lines), [], result.warnings, private_paths(result.run_a, result.run_b), clean)


def _group_row(name: str, r: dict[str, Any]) -> list[str]:
    figures = [f"{100 * r['uar_a']:.2f}", f"{100 * r['uar_b']:.2f}", f"{100 * r['difference']:+.2f}"]
    return [
        md_text(name),
        str(r["n"]),
        *figures,
        f"[{100 * r['ci'][0]:+.2f}, {100 * r['ci'][1]:+.2f}]",
        r["resampled_by"],
    ]


def framed(page: str, height: int = 640) -> str:
    """A self-contained page as notebook output: in a sandboxed frame, so its style and policy stay its own."""
    return (
        f'<iframe srcdoc="{html.escape(page, quote=True)}" sandbox="allow-same-origin" '
        f'style="width: 100%; height: {height}px; border: 1px solid #ddd"></iframe>'
    )
