"""Run reports: report.md in the paper's table layout, plots, and the terminal table."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from rich.table import Table

from serkit.core.fileio import write_figure
from serkit.results.folder import METRICS, PER_SPEAKER
from serkit.results.stats import Comparison, format_p

if TYPE_CHECKING:
    from serkit.results.records import RunSummary


#: What makes markdown of a name: inline constructs anywhere (an underscore where it can emphasise; brackets,
#: without which no link or image forms), and HTML.
_INLINE = re.compile(r"[\\`*\[\]|#<>&]|(?<![^\W_])_|_(?![^\W_])")
_ENTITIES = {"<": "&lt;", ">": "&gt;", "&": "&amp;"}


def md_text(value: object) -> str:
    """A name from data (a file, speaker, label, metadata value, plugin name) as markdown that shows it as
    text, never as markup: one line, inline constructs escaped, ``<`` ``>`` ``&`` as entities, and a list
    or quote marker at its start escaped."""
    text = " ".join(str(value).split())
    text = _INLINE.sub(lambda found: _ENTITIES.get(found[0], "\\" + found[0]), text)
    return re.sub(r"^(\d+)([.)])(?=\s|$)", r"\1\\\2", "\\" + text if text[:1] in ("-", "+") else text)


def md_code(value: object) -> str:
    """A path or a name as a code span (nothing in it is markdown), or as :func:`md_text` where it holds a
    backtick, which would end the span."""
    text = " ".join(str(value).split())
    return f"`{text}`" if "`" not in text else md_text(text)


def pct(value: float) -> str:
    return f"{100 * value:.2f}"


def score_text(value: float, metric: str, signed: bool = False) -> str:
    """A score as reports print it: UAR and accuracy in percent (two decimals), CCC as it is (three)."""
    if metric == "ccc":
        return f"{value:+.3f}" if signed else f"{value:.3f}"
    return f"{100 * value:+.2f}" if signed else f"{100 * value:.2f}"


def metric_unit(metric: str) -> str:
    """What a difference of the metric is counted in."""
    return "" if metric == "ccc" else " points"


def metric_name(metric: str) -> str:
    return {"uar": "UAR", "accuracy": "accuracy", "ccc": "CCC"}.get(metric, metric)


def comparison_sentence(comparison: Comparison) -> str:
    """A comparison's test, difference, interval and p in one sentence (UAR in points, CCC as it is)."""
    c, metric = comparison, comparison.metric
    shown = f"{score_text(c.difference, metric, True)}{metric_unit(metric)}"
    interval = (
        f"95 % CI [{score_text(c.ci_low, metric, True)}, {score_text(c.ci_high, metric, True)}]"
        if c.ci_low is not None and c.ci_high is not None
        else "no 95 % CI"
    )
    tested = f"p = {format_p(c.p)}" if c.p is not None else f"not testable: {c.untestable}"
    return f"{c.test} — {c.design}: difference in {metric_name(metric)} {shown}, {interval}, {tested}"


def comparison_basis(comparison: Comparison) -> str:
    """What a comparison's p and its difference and interval are of, from its test's declaration."""
    declared = comparison.declaration
    return f"p from {declared.p_of}; the difference and its 95 % CI are of {declared.interval_of}."


def interval_text(metrics: dict[str, Any], metric: str) -> str:
    """A pooled figure with its 95 % interval as the console and the report print it, "77.18 % (95 % CI
    [74.02, 80.11])"; the figure alone in run folders from before serkit 0.3, which kept no interval."""
    value = f"{score_text(metrics[metric], metric)}{' %' * (metric != 'ccc')}"
    if metric not in metrics.get("intervals", {}):
        return value
    low, high = metrics["intervals"][metric]
    return f"{value} (95 % CI [{score_text(low, metric)}, {score_text(high, metric)}])"


def interval_basis(metrics: dict[str, Any]) -> str:
    """How a run's intervals were drawn, in words ("" before serkit 0.3)."""
    found = metrics.get("intervals")
    if not found:
        return ""
    unit = "test speakers" if found["resampled_by"] == "speaker" else "test utterances"
    text = f"95 % CI: percentile bootstrap of the pooled test predictions, {found['rounds']} rounds resampling {unit}"
    return text + (f" ({found['note']})" if found.get("note") else f" ({found['speakers']} speakers)")


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def recognition_rows(metrics: dict[str, Any]) -> list[list[str]]:
    rows = []
    for label in metrics["labels"]:
        c = metrics["per_class"][label]
        rows.append([md_text(label), pct(c["precision"]), pct(c["recall"]), pct(c["f1-score"]), str(c["support"])])
    for key, title in (("macro_avg", "macro avg"), ("weighted_avg", "weighted avg")):
        c = metrics[key]
        rows.append([title, pct(c["precision"]), pct(c["recall"]), pct(c["f1-score"]), str(int(c["support"]))])
    return rows


def confusion_rows(metrics: dict[str, Any]) -> list[list[str]]:
    rows = []
    for label, counts, percents in zip(
        metrics["labels"], metrics["confusion_matrix"], metrics["confusion_matrix_percent"], strict=True
    ):
        rows.append([md_text(label)] + [f"{p:.1f} ({n})" for p, n in zip(percents, counts, strict=True)])
    return rows


def render_markdown(summary: RunSummary) -> str:
    """The run's report: protocol, data, pipeline, results in the paper's layout, timings."""
    metrics = summary.metrics
    labels = metrics["labels"]
    parts = [
        *report_head(summary, f", {len(labels)} classes", _joint_task(metrics)),
        markdown_table(
            ["accuracy", "UAR", "macro F1", "weighted F1", "test utterances"],
            [
                [
                    pct(metrics["accuracy"]),
                    pct(metrics["uar"]),
                    pct(metrics["macro_avg"]["f1-score"]),
                    pct(metrics["weighted_avg"]["f1-score"]),
                    str(metrics["n_test"]),
                ]
            ],
        ),
        "",
        *headline_lines(metrics, ("accuracy", "uar")),
        *_fold_section(summary),
        *split_audit_section(summary),
        *_group_section(metrics),
        *_calibration_section(metrics),
        *features_section(metrics),
        "## Confusion matrix",
        "",
        "Rows are the true class, columns the predicted class; row percentages with counts in brackets"
        + (" (test predictions pooled over every fold)." if summary.pooled_over_folds else "."),
        "",
        markdown_table(["true \\ predicted", *map(md_text, labels)], confusion_rows(metrics)),
        "",
        "## Recognition report",
        "",
        markdown_table(["class", "precision %", "recall %", "F1 %", "support"], recognition_rows(metrics)),
        "",
    ]
    if summary.notes:
        parts += ["## Data notes", "", *[f"- {md_text(note)}" for note in summary.notes], ""]
    parts += [
        "## Time per stage",
        "",
        markdown_table(["stage", "seconds"], [[stage, f"{seconds:.1f}"] for stage, seconds in summary.timings.items()]),
        "",
    ]
    return "\n".join(parts)


def headline_lines(metrics: dict[str, Any], names: tuple[str, ...]) -> list[str]:
    """The pooled figures with their 95 % intervals and how they were drawn, for a report (none before 0.3)."""
    if not metrics.get("intervals"):
        return []
    shown = {"accuracy": "accuracy", "uar": "UAR", "ccc": "mean CCC"}
    figures = ", ".join(f"{shown[name]} {interval_text(metrics, name)}" for name in names)
    return [f"Pooled test {figures}; {interval_basis(metrics)}.", ""]


def augmented_text(summary: RunSummary) -> str:
    """How many augmented examples training saw, made after the split (fixed copies, or drawn every epoch)."""
    if summary.augmentation.get("mode") == "online" and summary.augmentation.get("words") != "no augmentation":
        return f"each of the {summary.fold['fit']} fit utterances augmented anew every epoch, after the split"
    return f"{summary.fold['augmented']} augmented training copies, made after the split"


def made_text(summary: RunSummary) -> str:
    """Where online examples were made (absent before issue 45: loader processes then)."""
    made = summary.augmentation.get("made")
    return f"; examples made {made}" if made else ""


def _joint_task(metrics: dict[str, Any]) -> str:
    """A joint task in words ("" for a classification)."""
    dimensions = metrics.get("dimensions")
    if not dimensions:
        return ""
    return f"joint: the emotion class and {', '.join(dimensions['targets'])} from one model (two heads)"


def report_head(summary: RunSummary, dataset_more: str = "", task: str = "") -> list[str]:
    """A report's title, its protocol, data, split, pipeline and training in words, and the results'
    heading with the run's warnings; ``task``: a line saying what a regression predicts."""
    fold = summary.fold
    return [
        f"# serkit run {md_code(summary.run_name)}",
        "",
        *([f"- **Task:** {md_text(task)}"] if task else []),
        f"- **Protocol:** {md_text(summary.protocol)}",
        f"- **Dataset:** {md_text(summary.dataset['name'])} at {md_code(summary.dataset['root'])}: "
        f"{summary.dataset['utterances']} utterances, {summary.dataset['speakers']} speakers{dataset_more}",
        f"- **Split:** {fold['train']} train ({fold['fit']} fit + {fold['validation']} validation, "
        f"validation taken from the training part only), {fold['test']} test; {augmented_text(summary)}",
        *(
            [f"- **Augmentation:** {md_text(words)}{made_text(summary)}"]
            if (words := summary.augmentation.get("words"))
            else []
        ),
        f"- **Pipeline:** {md_text(summary.pipeline)}",
        f"- **Training:** {md_text(summary.training)}",
        f"- **Started:** {md_text(summary.started)}; serkit {md_text(summary.serkit_version)}",
        "",
        "## Results",
        "",
        *[f"**Warning: {md_text(warning)}.**\n" for warning in summary.warnings],
    ]


def features_section(metrics: dict[str, Any]) -> list[str]:
    """What the features say, on the validation parts (absent before serkit 0.3, and for sequences)."""
    found = metrics.get("features_say", {})
    lines = ["## What the features say", ""] if found else []
    if "importance" in found:
        importance = found["importance"]
        metric = importance.get("metric", "uar")
        rows = [
            [md_text(r["feature"]), score_text(r[f"{metric}_drop"], metric), score_text(r["sd_over_folds"], metric)]
            for r in importance["top"]
        ]
        drop = "CCC drop" if metric == "ccc" else "UAR drop (points)"
        lines += [
            f"The dimensions that matter most, by {importance['method']}.",
            "",
            markdown_table(["feature", drop, "sd over folds"], rows),
            "",
        ]
    if "occlusion" in found:
        lines += [f"Where the model looks, by {found['occlusion']['method']} (the occlusion map, per class).", ""]
    return lines


def split_audit_section(summary: RunSummary) -> list[str]:
    """What the parts of the split share (absent from run folders before serkit 0.3)."""
    audit = summary.split_audit
    if not audit:
        return []
    found = [f"- **Warning:** {md_text(w)}" for w in audit.get("warnings", [])]
    found += [f"- {md_text(n)}" for n in audit.get("notes", [])]
    return [
        "## Split audit",
        "",
        f"Checked: {md_text('; '.join(audit.get('checked', [])))}.",
        "",
        *(found or ["- Nothing shared across parts."]),
        "",
    ]


#: Fewer validation utterances than this make a fitted calibration noisy (the report says so).
SMALL_CALIBRATION = 50


def _calibration_section(metrics: dict[str, Any]) -> list[str]:
    """How far the predicted probabilities can be trusted, before and after a fitted calibration
    (absent from run folders of serkit 0.2)."""
    if "calibration" not in metrics:
        return []

    def figures(c: dict[str, Any]) -> list[str]:
        return [f"{100 * c['ece']:.2f}", f"{100 * c['classwise_ece']:.2f}", f"{c['brier']:.4f}", f"{c['log_loss']:.4f}"]

    after, bins = metrics["calibration"], metrics["calibration"]["bins"]
    header = ["probabilities", "ECE %", "classwise ECE %", "Brier", "log loss"]
    lines = [
        "## Calibration",
        "",
        f"Of the (pooled) test predictions: expected calibration error of the top class ({bins} equal-width bins "
        "of its probability; the reliability diagram draws them), classwise ECE (the mean over classes), Brier score "
        "(Σ over classes, mean over utterances) and log loss.",
        "",
    ]
    fitted = metrics.get("calibrated")
    if not fitted:
        rows = [["the model's own (no calibration fitted)", *figures(after)]]
        return [*lines, markdown_table(header, rows), ""]
    first = next(iter(fitted["folds"].values()))
    temperatures = [float(record.get("temperature", 1.0)) for record in fitted["folds"].values()]
    low, high = min(temperatures), max(temperatures)
    how = (
        f"temperature scaling (T = {low:.3f}" + (f" to {high:.3f}, one per fold)" if len(temperatures) > 1 else ")")
        if fitted["method"] == "temperature"
        else f"scikit-learn's {fitted['method']} calibration (CalibratedClassifierCV around the fitted model)"
    )
    before = fitted["before"]
    fewest = min(int(record["fitted_on"]) for record in fitted["folds"].values())
    small = (
        f" The calibration was fitted on as few as {fewest} validation utterances: it is itself uncertain, and may "
        "make the test figures worse."
        if fewest < SMALL_CALIBRATION
        else ""
    )
    small += f" Note: {md_text(first['note'])}." if first.get("note") else ""
    rows = [["before calibration", *figures(metrics["calibration_before"])], ["after calibration", *figures(after)]]
    return [
        *lines,
        f"Calibrated by {how}, fitted on {fitted.get('fitted_where', fitted.get('fitted_on', ''))}; the results "
        "above are the calibrated model's "
        f"(before calibration: accuracy {pct(before['accuracy'])} %, UAR {pct(before['uar'])} %).{small}",
        "",
        markdown_table(header, rows),
        "",
    ]


#: Above this many test speakers, the report lists the worst few and the page draws their distribution.
MANY_SPEAKERS = 40
WORST_LISTED = 10


def _group_section(metrics: dict[str, Any]) -> list[str]:
    """Per test speaker and per group (gender): where a pooled figure hides who the model fails."""
    if "per_speaker" not in metrics:  # run folders of serkit 0.2
        return []
    speakers, spread = metrics["per_speaker"], metrics["speakers"]
    shown = sorted(speakers.items(), key=lambda item: (item[1]["uar"], item[0]))
    listed = shown if len(shown) <= MANY_SPEAKERS else shown[:WORST_LISTED]
    rows = [[md_text(name), str(r["n"]), pct(r["accuracy"]), pct(r["uar"])] for name, r in listed]
    uars = sorted(r["uar"] for r in speakers.values())
    quartiles = ", ".join(pct(float(np.quantile(uars, q))) for q in (0.25, 0.5, 0.75))
    which = (
        "every speaker, worst first"
        if len(shown) <= MANY_SPEAKERS
        else f"the {WORST_LISTED} worst of {len(shown)} (every speaker is in {PER_SPEAKER} and {METRICS})"
    )
    lines = [
        "## Per speaker and group",
        "",
        f"Test speakers: {len(speakers)}; UAR {pct(spread['mean_uar'])} ± {pct(spread['sd_uar'])} % over "
        f"speakers (quartiles {quartiles} %); the worst, {md_text(spread['worst'])}, {pct(spread['worst_uar'])} %; "
        f"the gap between the best and the worst {pct(spread['gap_uar'])} points (each speaker's UAR over the "
        f"classes it has in the test part). Below: {which}.",
        "",
        markdown_table(["speaker", "test utterances", "accuracy %", "UAR %"], rows),
        "",
    ]
    for key, found in metrics.get("groups", {}).items():
        group_rows = [
            [
                md_text(name),
                str(r["n"]),
                pct(r["accuracy"]),
                pct(r["uar"]),
                f"[{pct(r['uar_ci'][0])}, {pct(r['uar_ci'][1])}]",
                r["resampled_by"],
            ]
            for name, r in found["groups"].items()
        ]
        lines += [
            f"By {md_text(key)}: the gap in UAR is {pct(found['gap_uar'])} points (95 % bootstrap intervals, "
            "resampling the unit named: speakers where a group has five or more, else utterances).",
            "",
            markdown_table(
                [md_text(key), "test utterances", "accuracy %", "UAR %", "UAR 95 % CI", "resampled by"], group_rows
            ),
            "",
        ]
    lines += [f"- {md_text(note)}" for note in metrics.get("group_notes", [])] + [""] * bool(metrics.get("group_notes"))
    return lines


def _fold_section(summary: RunSummary) -> list[str]:
    """Mean ± sd and the per-fold table, for runs of more than one fold."""
    folds = summary.folds
    if len(folds) < 2:
        return []
    spread = summary.mean

    def pm(key: str) -> str:
        return f"{pct(spread[key]['mean'])} ± {pct(spread[key]['sd'])}"

    rows = [
        [
            md_text(f["id"]),
            pct(f["metrics"]["accuracy"]),
            pct(f["metrics"]["uar"]),
            pct(f["metrics"]["macro_avg"]["f1-score"]),
            str(f["metrics"]["n_test"]),
            str(f["epochs"]),
            str(f["best_epoch"]),
        ]
        for f in folds
    ]
    return [
        f"The table above pools the test predictions of all {len(folds)} folds. Mean ± standard deviation over folds:",
        "",
        markdown_table(
            ["accuracy", "UAR", "macro F1", "folds"], [[pm("accuracy"), pm("uar"), pm("macro_f1"), str(len(folds))]]
        ),
        "",
        "## Per fold",
        "",
        markdown_table(["fold", "accuracy", "UAR", "macro F1", "test", "epochs", "best epoch"], rows),
        "",
    ]


def metrics_table(metrics: dict[str, Any], title: str) -> Table:
    table = Table(title=title)
    for column in ("class", "precision %", "recall %", "F1 %", "support"):
        table.add_column(column, justify="left" if column == "class" else "right")
    for row in recognition_rows(metrics):
        table.add_row(*row)
    table.add_section()
    table.add_row("accuracy", "", pct(metrics["accuracy"]), "", str(metrics["n_test"]))
    table.add_row("UAR", "", pct(metrics["uar"]), "", "")
    return table


def plot_confusion(metrics: dict[str, Any], path: Path, title: str) -> None:
    write_figure(confusion_figure(metrics, title), path)


def confusion_figure(metrics: dict[str, Any], title: str) -> Any:
    """The confusion matrix as row percentages with counts, a matplotlib figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels, percent = metrics["labels"], metrics["confusion_matrix_percent"]
    size = 1.2 + 0.75 * len(labels)
    figure, axes = plt.subplots(figsize=(size + 1.5, size))
    image = axes.imshow(percent, cmap="Blues", vmin=0, vmax=100)
    axes.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    axes.set_yticks(range(len(labels)), labels)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    axes.set_title(title)
    for i, row in enumerate(percent):
        for j, value in enumerate(row):
            colour = "white" if value > 50 else "black"
            axes.text(
                j,
                i,
                f"{value:.0f}\n({metrics['confusion_matrix'][i][j]})",
                ha="center",
                va="center",
                fontsize=7,
                color=colour,
            )
    figure.colorbar(image, ax=axes, label="% of true class")
    return figure


def plot_reliability(metrics: dict[str, Any], path: Path, title: str) -> None:
    """The reliability diagram of the top class: accuracy against mean confidence per bin (before and
    after calibration where one was fitted), bins sized by how many predictions fall in them."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(5, 5))
    axes.plot([0, 1], [0, 1], color="grey", linestyle="--", label="perfectly calibrated")
    curves = [("calibration_before", "before calibration", "C1"), ("calibration", "the model's", "C0")]
    if "calibration_before" in metrics:
        curves[1] = ("calibration", "after calibration", "C0")
    for key, label, colour in curves:
        if key not in metrics:
            continue
        c = metrics[key]
        curve = c["reliability"]
        sizes = [20 + 200 * n / max(1, sum(curve["count"])) for n in curve["count"]]
        axes.plot(curve["confidence"], curve["accuracy"], color=colour, label=f"{label} (ECE {100 * c['ece']:.1f} %)")
        axes.scatter(curve["confidence"], curve["accuracy"], s=sizes, color=colour, alpha=0.6)
    axes.set_xlim(-0.02, 1.02)
    axes.set_ylim(-0.02, 1.02)
    axes.set_xlabel(f"confidence (top-class probability, {metrics['calibration']['bins']} bins)")
    axes.set_ylabel("accuracy in the bin (marker size: predictions in it)")
    axes.set_title(title)
    axes.legend(loc="upper left", fontsize=8)
    write_figure(figure, path)


def plot_training(histories: list[list[dict[str, float]]], best_epochs: list[int], path: Path) -> None:
    """Training and validation curves of every fold (one fold: with its best epoch marked)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    single = len(histories) == 1
    figure, (loss_axes, acc_axes) = plt.subplots(1, 2, figsize=(10, 3.8))
    regression = "val_ccc" in histories[0][0]  # a regression: its loss, and the validation CCC
    panels = (
        ((loss_axes, "loss", "loss"), (acc_axes, "ccc", "CCC"))
        if regression
        else ((loss_axes, "loss", "cross-entropy loss"), (acc_axes, "accuracy", "accuracy"))
    )
    for axes, key, title in panels:
        for n, history in enumerate(histories):
            epochs = [row["epoch"] for row in history]
            for part, colour, label in (("train", "C0", "training"), ("val", "C1", "validation")):
                if f"{part}_{key}" not in history[0]:
                    continue
                axes.plot(
                    epochs,
                    [row[f"{part}_{key}"] for row in history],
                    color=colour,
                    alpha=1.0 if single else 0.5,
                    marker="." if single else None,
                    label=label if n == 0 else None,
                )
        if single and best_epochs[0]:
            axes.axvline(best_epochs[0], color="grey", linestyle="--", label=f"best epoch ({best_epochs[0]})")
        axes.set_xlabel("epoch")
        axes.set_title(title if single else f"{title} ({len(histories)} folds)")
        axes.legend()
    write_figure(figure, path)


def png_bytes(figure: Any, dpi: int = 110) -> bytes:
    """A matplotlib figure as PNG bytes (closed after)."""
    import io

    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(figure)
    return buffer.getvalue()


def group_bars(metrics: dict[str, Any]) -> bytes:
    """UAR per test speaker (worst first, the mean dashed) and per group of each reported key with its
    95 % bootstrap interval, as PNG bytes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    speakers = sorted(metrics["per_speaker"].items(), key=lambda item: item[1]["uar"])
    groups = metrics.get("groups", {})
    many = len(speakers) > MANY_SPEAKERS
    first_width = 5.0 if many else max(2.5, 0.35 * len(speakers))
    widths = [first_width] + [1.2 + 0.8 * len(g["groups"]) for g in groups.values()]
    figure, axes = plt.subplots(1, len(widths), figsize=(sum(widths) + 1, 3.6), width_ratios=widths, squeeze=False)
    first = axes[0][0]
    mean = 100 * metrics["speakers"]["mean_uar"]
    if many:  # thousands of bars read as nothing: their distribution instead
        first.hist([100 * r["uar"] for _, r in speakers], bins=np.linspace(0, 100, 21), color="C0")
        first.axvline(mean, color="grey", linestyle="--", label="mean over speakers")
        first.set_title(f"UAR of the {len(speakers)} test speakers")
        first.set_xlabel("UAR %")
        first.set_ylabel("speakers")
    else:
        first.bar([name for name, _ in speakers], [100 * r["uar"] for _, r in speakers], color="C0")
        first.axhline(mean, color="grey", linestyle="--", label="mean over speakers")
        first.set_title("per test speaker")
        first.set_ylabel("UAR %")
        first.tick_params(axis="x", rotation=90 if len(speakers) > 12 else 0)
    first.legend(fontsize=8)
    for axis, (key, found) in zip(axes[0][1:], groups.items(), strict=True):
        names = list(found["groups"])
        values = [100 * found["groups"][n]["uar"] for n in names]
        low = [v - 100 * found["groups"][n]["uar_ci"][0] for v, n in zip(values, names, strict=True)]
        high = [100 * found["groups"][n]["uar_ci"][1] - v for v, n in zip(values, names, strict=True)]
        axis.bar(names, values, yerr=[low, high], capsize=4, color="C2")
        axis.set_title(f"per {key} (95 % CI)")
    for axis in axes[0][int(many) :]:
        axis.set_ylim(0, 100)
    return png_bytes(figure)


def row_metric(row: dict[str, str]) -> str:
    """What an ablation.csv row's figures are of: ``ccc`` (a regression) or ``uar``."""
    return "ccc" if "delta_ccc" in row else "uar"


def forest_plot(rows: list[dict[str, str]]) -> bytes:
    """Δ UAR (or Δ CCC) of every variant against the baseline (ablation.csv's rows) with its 95 %
    interval, the test named beside each, as PNG bytes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metric = row_metric(rows[0])
    scale = 1.0 if metric == "ccc" else 100.0
    variants = rows[1:]
    figure, axes = plt.subplots(figsize=(8, 1.2 + 0.55 * max(1, len(variants))))
    for y, row in enumerate(reversed(variants)):
        delta = scale * float(row[f"delta_{metric}"])
        low, high = row.get(f"delta_{metric}_ci_low"), row.get(f"delta_{metric}_ci_high")
        if low and high:
            axes.plot([scale * float(low), scale * float(high)], [y, y], color="C0")
        axes.plot([delta], [y], "s", color="C3" if row.get("collapse") else "C0")
        marks = " (leak)" * bool(row.get("leak")) + " (collapsed)" * bool(row.get("collapse"))
        label = f"{row['variant']}{marks}\n{row.get('test') or ''}"
        axes.text(1.02, y, label, transform=axes.get_yaxis_transform(), va="center", fontsize=8)
    axes.axvline(0, color="grey", linestyle="--")
    axes.set_yticks([])
    unit = "CCC" if metric == "ccc" else "points"
    axes.set_xlabel(f"Δ {metric.upper()} against the baseline '{rows[0]['variant']}' ({unit}, 95 % interval)")
    return png_bytes(figure)


def plot_occlusion(occlusion: dict[str, Any], path: Path) -> None:
    """Each class's occlusion map: the drop in its probability per (frequency, time) patch."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    maps, labels = np.asarray(occlusion["map"]), occlusion["labels"]
    columns = min(4, len(labels))
    rows = -(-len(labels) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(3 * columns, 2.6 * rows), squeeze=False)
    limit = max(float(np.abs(maps).max()), 1e-6)
    for k, axis in enumerate(axes.flat):
        if k >= len(labels):
            axis.axis("off")
            continue
        image = axis.imshow(maps[k], origin="lower", aspect="auto", cmap="RdBu_r", vmin=-limit, vmax=limit)
        axis.set_title(labels[k], fontsize=9)
        axis.set_xlabel("time", fontsize=8)
        axis.set_ylabel("frequency", fontsize=8)
        axis.set_xticks([])
        axis.set_yticks([])
    figure.colorbar(image, ax=axes, label="drop in the class's probability")
    write_figure(figure, path)


def importance_bars(importance: dict[str, Any]) -> bytes:
    """The top dimensions' UAR (or CCC) drop with its sd over folds, largest on top, as PNG bytes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metric = importance.get("metric", "uar")
    scale = 1.0 if metric == "ccc" else 100.0
    top = list(reversed(importance["top"]))
    figure, axes = plt.subplots(figsize=(7, 0.8 + 0.3 * len(top)))
    axes.barh(
        [row["feature"] for row in top],
        [scale * row[f"{metric}_drop"] for row in top],
        xerr=[scale * row["sd_over_folds"] for row in top],
        color="C4",
        capsize=2,
    )
    axes.axvline(0, color="grey", linewidth=0.8)
    unit = "CCC" if metric == "ccc" else "points"
    axes.set_xlabel(f"drop in validation {metric.upper()} when shuffled ({unit}; sd over folds)")
    axes.tick_params(axis="y", labelsize=8)
    return png_bytes(figure)
