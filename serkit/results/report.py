"""A run's report in Markdown (``report.md``, and the body of ``report.html``): a classification's from
:mod:`.render`, a regression's here (CCC, Pearson's r and MAE per target)."""

from __future__ import annotations

from serkit.results.records import RunSummary
from serkit.results.regression import per_speaker_text
from serkit.results.render import (
    features_section,
    headline_lines,
    markdown_table,
    md_text,
    render_markdown,
    report_head,
    split_audit_section,
)


def report_markdown(summary: RunSummary) -> str:
    """The run's report, whatever its task (a joint task's: the classification's, with its dimensions after the
    results)."""
    if summary.metrics.get("task") != "regression":
        text = render_markdown(summary)
        dimensions = summary.metrics.get("dimensions")
        if not dimensions:
            return text
        head, marker, rest = text.partition("\n## ")  # after the title and the results, before the next section
        section = "\n".join(["## Dimensions (the regression head)", "", *_dimension_lines(dimensions, summary), ""])
        first, found, after = rest.partition("\n## ")
        return f"{head}{marker}{first}\n{section}{found}{after}" if found else f"{text}\n{section}"
    metrics = summary.metrics
    targets = metrics["targets"]
    task = f"regression of {', '.join(targets)} (loss of torch models: {metrics.get('loss', 'ccc')})"
    parts = [
        *report_head(summary, task=task),
        *_dimension_lines(metrics, summary),
        *_group_lines(metrics),
        *_fold_lines(summary),
        *split_audit_section(summary),
        *features_section(metrics),
    ]
    if summary.notes:
        parts += ["## Data notes", "", *[f"- {md_text(note)}" for note in summary.notes], ""]
    timings = [[stage, f"{seconds:.1f}"] for stage, seconds in summary.timings.items()]
    parts += ["## Time per stage", "", markdown_table(["stage", "seconds"], timings), ""]
    return "\n".join(parts)


def _dimension_lines(metrics: dict, summary: RunSummary) -> list[str]:
    """CCC, CCC per speaker, Pearson's r and MAE per target and their mean, and the pooled CCC's interval."""
    rows = [
        [
            md_text(target),
            f"{f['ccc']:.3f}",
            per_speaker_text(f["ccc_per_speaker"]),
            f"{f['pearson']:.3f}",
            f"{f['mae']:.3f}",
        ]
        for target, f in metrics["per_target"].items()
    ]
    mean_by_speaker = per_speaker_text(metrics["ccc_per_speaker"])
    rows.append(["mean", f"{metrics['ccc']:.3f}", mean_by_speaker, f"{metrics['pearson']:.3f}", ""])
    joint = "weights" in metrics  # a joint task's regression head
    without = metrics.get("without_values", 0)
    return [
        *(
            [
                f"Loss: {metrics['weights'][0]:g} x cross-entropy of the class head + {metrics['weights'][1]:g} x "
                f"{'1 - CCC' if metrics.get('loss', 'ccc') == 'ccc' else 'mean squared error'} of the regression "
                "head; early stopping watched that sum on the validation part."
                + (f" {without} test utterance(s) without every target are scored by class only." if without else ""),
                "",
            ]
            if joint
            else []
        ),
        f"Concordance correlation coefficient (CCC) over all {metrics['n_test']} test utterances"
        + (" with every target" if joint else "")
        + (" (pooled over every fold)" if summary.pooled_over_folds else "")
        + f"; per speaker: the mean of the test speakers' own CCC ({metrics['speakers']} speakers with two or more "
        "utterances of different true values; n/a where none). A constant prediction, such as the training mean, "
        "scores 0.",
        "",
        markdown_table(["target", "CCC", "CCC per speaker", "Pearson r", "MAE"], rows),
        "",
        *headline_lines(metrics, ("ccc",)),
        *(_group_lines(metrics, level=3) if joint else []),
    ]


def _group_lines(metrics: dict, level: int = 2) -> list[str]:
    """Mean CCC per group of test utterances (per corpus, per gender) with its 95 % interval."""
    lines = []
    for key, found in (metrics.get("groups") or {}).items():
        rows = [
            [md_text(name), str(g["n"]), f"{g['ccc']:.3f}", f"[{g['ccc_ci'][0]:.3f}, {g['ccc_ci'][1]:.3f}]"]
            for name, g in found["groups"].items()
        ]
        heading = "#" * level
        lines += [f"{heading} Per {md_text(key)}", "", markdown_table([key, "n", "mean CCC", "95 % CI"], rows), ""]
    return lines


def _fold_lines(summary: RunSummary) -> list[str]:
    """Mean ± sd of each figure over folds, and the per-fold CCCs, for runs of more than one fold."""
    if len(summary.folds) < 2:
        return []
    spread = [[key, f"{v['mean']:.3f} ± {v['sd']:.3f}"] for key, v in summary.mean.items()]
    targets = summary.metrics["targets"]
    rows = [
        [
            md_text(f["id"]),
            f"{f['metrics']['ccc']:.3f}",
            *[f"{f['metrics']['per_target'][t]['ccc']:.3f}" for t in targets],
        ]
        for f in summary.folds
    ]
    return [
        f"Mean ± standard deviation over {len(summary.folds)} folds:",
        "",
        markdown_table(["figure", "mean ± sd"], spread),
        "",
        "## Per fold",
        "",
        markdown_table(["fold", "CCC", *[f"CCC {md_text(t)}" for t in targets]], rows),
        "",
    ]
