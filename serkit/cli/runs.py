"""`serkit runs`: list and compare run folders."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from serkit.cli.base import SerkitGroup


@click.group(cls=SerkitGroup)
def runs() -> None:
    """List run folders and compare two runs with statistics that fit their protocol."""


@runs.command("list")
@click.argument("folder", type=click.Path(file_okay=False), default="runs")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV.")
@click.option(
    "--sort",
    default="date",
    show_default=True,
    help="name, date, dataset, protocol, accuracy, uar, ccc, epochs, wall, status.",
)
@click.option(
    "--filter",
    "filters",
    multiple=True,
    metavar="KEY=VALUE",
    help="Keep runs whose recipe key (or status, dataset, protocol, name) matches.",
)
@click.option("--ci", "intervals", is_flag=True, help="Show each run's pooled UAR (CCC) with its 95 % interval.")
def runs_list(folder: str, as_json: bool, as_csv: bool, sort: str, filters: tuple[str, ...], intervals: bool) -> None:
    """Every run folder under FOLDER (default ./runs): results, status and the recipe keys that differ; with
    --ci, each run's pooled UAR (a regression's mean CCC) with its 95 % speaker-bootstrap interval."""
    from serkit.results.render import score_text
    from serkit.results.runs import RunRow, list_runs, rows_csv

    rows, keys = list_runs(folder, list(filters), sort)
    if as_json:
        click.echo(json.dumps({"differing_keys": keys, "runs": [asdict(row) for row in rows]}, indent=2))
        return
    if as_csv:
        click.echo(rows_csv(rows, keys), nl=False)
        return
    table = Table(title=f"{len(rows)} run(s) under {escape(folder)}", title_justify="left")
    regressions = any(row.ccc_mean is not None for row in rows)  # a CCC column where a regression is listed
    figures = ["accuracy %", "UAR %", *(["CCC"] * regressions), *(["pooled [95 % CI]"] * intervals)]
    for column in ("run", "date", "dataset", "protocol", *keys, *figures, "epochs", "wall s", "status"):
        table.add_column(
            escape(column),
            justify="right" if column in (*figures, "epochs", "wall s") else "left",
            overflow="fold",
        )

    def pooled_text(row: RunRow) -> str:
        if row.pooled is None or row.pooled_metric is None:
            return ""
        metric = row.pooled_metric
        low, high = score_text(row.pooled_ci_low or 0.0, metric), score_text(row.pooled_ci_high or 0.0, metric)
        return f"{metric.upper()} {score_text(row.pooled, metric)} [{low}, {high}]"

    def spread(mean: float | None, sd: float | None) -> str:
        return "" if mean is None else f"{100 * mean:.2f} ± {100 * (sd or 0):.2f}"

    for row in rows:
        table.add_row(
            escape(row.name),
            row.date[:16].replace("T", " "),
            escape(row.dataset),
            escape(row.protocol[:60] + ("…" if len(row.protocol) > 60 else "")),
            *[escape(json.dumps(row.differs[key])) for key in keys],
            spread(row.accuracy_mean, row.accuracy_sd),
            spread(row.uar_mean, row.uar_sd),
            *(["" if row.ccc_mean is None else f"{row.ccc_mean:.3f} ± {row.ccc_sd or 0:.3f}"] * regressions),
            *([pooled_text(row)] * intervals),
            "" if row.epochs is None else f"{row.epochs:.1f}",
            "" if row.seconds is None else f"{row.seconds:.0f}",
            row.status,
        )
    Console().print(table)
    for row in rows:
        if row.problem:
            click.echo(f"Warning: {row.name} is damaged: {row.problem}", err=True)


@runs.command("compare")
@click.argument("run_a", type=click.Path(file_okay=False, exists=True))
@click.argument("run_b", type=click.Path(file_okay=False, exists=True))
@click.option(
    "--metric",
    type=click.Choice(["uar", "accuracy", "ccc"]),
    default=None,
    help="What to compare: uar (the default for classifications), accuracy, or ccc (regressions: the mean "
    "over their targets, the default).",
)
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@click.option("--html", "html_file", type=click.Path(dir_okay=False), help="Also write the comparison as a page.")
def runs_compare(run_a: str, run_b: str, metric: str | None, as_json: bool, html_file: str | None) -> None:
    """Compare RUN_B against RUN_A on the same test utterances: per fold, the difference with a 95 % CI
    and the test the protocol calls for, all of one metric (one test set: a paired permutation test of UAR
    with a speaker-bootstrap interval, McNemar for accuracy, a paired test of CCC for regressions; one fold
    per speaker: Wilcoxon over speakers; overlapping folds: Nadeau-Bengio)."""
    from serkit.results.render import comparison_basis, comparison_sentence, metric_name, score_text
    from serkit.results.runs import compare_runs
    from serkit.results.stats import format_p

    result = compare_runs(Path(run_a), Path(run_b), metric or "")
    if html_file:
        from serkit.core.fileio import write_text
        from serkit.results.html import comparison_page

        write_text(html_file, comparison_page(result))
    if as_json:
        click.echo(json.dumps(result.to_json(), indent=2))
        return
    console = Console()
    metric, percent = result.metric, " %" * (result.metric != "ccc")
    table = Table(title=f"{metric_name(metric)} per fold (B - A)", title_justify="left")
    for column in ("fold", f"A{percent}", f"B{percent}", "B - A"):
        table.add_column(column, justify="left" if column == "fold" else "right")
    for row in result.folds:
        scores = (score_text(row.a, metric), score_text(row.b, metric), score_text(row.b - row.a, metric, True))
        table.add_row(escape(row.fold), *scores)
    console.print(f"A: {escape(run_a)}\nB: {escape(run_b)}\nprotocol: {escape(result.protocol)}", highlight=False)
    console.print(table)
    c = result.comparison
    console.print(escape(comparison_sentence(c)), highlight=False)
    console.print(f"  {escape(comparison_basis(c))}", highlight=False)
    for name, value in c.extra:
        console.print(f"  {name} = {format_p(value)}", highlight=False)
    if c.caveat:
        console.print(f"  note: {escape(c.caveat)}", highlight=False)
    for key, found in result.groups.items():
        groups = Table(title=f"UAR per {key} (B - A, paired bootstrap 95 % CI)", title_justify="left")
        for column in (key, "test utterances", "A %", "B %", "B - A", "95 % CI", "resampled by"):
            groups.add_column(column, justify="left" if column in (key, "resampled by") else "right")
        for name, row in found["groups"].items():
            low, high = row["ci"]
            groups.add_row(
                escape(name),
                str(row["n"]),
                f"{100 * row['uar_a']:.2f}",
                f"{100 * row['uar_b']:.2f}",
                f"{100 * row['difference']:+.2f}",
                f"[{100 * low:+.2f}, {100 * high:+.2f}]",
                row["resampled_by"],
            )
        console.print(groups)
        console.print(
            f"  gap between {key} groups: A {100 * found['gap_a']:.2f}, B {100 * found['gap_b']:.2f} points",
            highlight=False,
        )
    for warning in result.warnings:
        console.print(f"[bold yellow]warning:[/] {escape(warning)}", highlight=False)


@click.command()
@click.argument("folder", type=click.Path(file_okay=False, exists=True))
@click.option("--open", "open_page", is_flag=True, help="Open the page in your web browser.")
def report(folder: str, open_page: bool) -> None:
    """Write the HTML page of a finished run or ablation FOLDER (report.html, ablation.html) anew,
    from its results (serkit 0.2 run folders included)."""
    from serkit.core.errors import SerkitError
    from serkit.core.fileio import write_text
    from serkit.results.folder import AblationFolder, RunFolder
    from serkit.results.html import ablation_page, run_page
    from serkit.studies.ablate import read_rows

    run, ablation = RunFolder(Path(folder)), AblationFolder(Path(folder))
    if run.is_complete():
        write_text(run.html_report, run_page(run.read_summary(), run))
        written = run.html_report
    elif ablation.table.is_file() and ablation.report.is_file():
        write_text(ablation.html_report, ablation_page(ablation, read_rows(ablation)))
        written = ablation.html_report
    else:
        raise SerkitError(
            f"{folder}: neither a finished run (no {run.metrics.name}) nor a finished ablation "
            f"(no {ablation.table.name})"
        )
    click.echo(f"wrote {written}")
    if open_page:
        import webbrowser

        if not webbrowser.open(written.resolve().as_uri()):
            click.echo("no web browser found here: open the file by hand", err=True)
