"""`serkit cache`: what the feature cache holds, and pruning it."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from serkit.cli.base import SerkitGroup
from serkit.core.errors import SerkitError


@click.group(cls=SerkitGroup)
def cache() -> None:
    """See and shrink the feature cache ($SERKIT_CACHE or ~/.cache/serkit)."""


def _cache_root(folder: str | None) -> Path:
    from serkit.data.cache import default_cache_dir

    return Path(folder) if folder else default_cache_dir()


def _pipelines_of_runs(folders: tuple[str, ...]) -> set[str]:
    """The cache pipelines the given run folders used (their environment.json records it)."""
    from serkit.results.folder import RunFolder

    ids = set()
    for folder in folders:
        run = RunFolder(Path(folder))
        pipeline = run.cache_pipeline()
        if pipeline is None:
            raise SerkitError(
                f"--keep {folder}: no cache record in {run.environment} (a run folder of serkit 0.2 or later)"
            )
        ids.add(pipeline)
    return ids


@cache.command("info")
@click.option("--dir", "folder", type=click.Path(file_okay=False), help="Cache folder (default: the serkit cache).")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def cache_info(folder: str | None, as_json: bool) -> None:
    """Size and entries by kind and by pipeline, and when each pipeline was last used."""
    from serkit.data.cache_index import cache_info as info
    from serkit.data.cache_index import human

    report = info(_cache_root(folder))
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    console = Console()
    console.print(f"{escape(report['root'])}: {human(report['bytes'])} in {report['entries']} entries", highlight=False)
    kinds = Table(title="by kind", title_justify="left")
    for column in ("kind", "entries", "size"):
        kinds.add_column(column, justify="left" if column == "kind" else "right")
    for kind, row in report["by_kind"].items():
        kinds.add_row(kind, str(row["entries"]), human(row["bytes"]))
    console.print(kinds)
    pipelines = Table(title="by pipeline (most recently used first)", title_justify="left")
    for column in ("id", "pipeline", "entries", "size", "last use"):
        pipelines.add_column(column, justify="right" if column in ("entries", "size") else "left")
    for row in report["pipelines"]:
        pipelines.add_row(row["id"], escape(row["pipeline"]), str(row["entries"]), human(row["bytes"]), row["last_use"])
    unrecorded = report["unrecorded"]
    if unrecorded["entries"]:
        pipelines.add_row(
            "-", "(no record: written by serkit 0.1)", str(unrecorded["entries"]), human(unrecorded["bytes"]), ""
        )
    console.print(pipelines)


@cache.command("prune")
@click.option("--dir", "folder", type=click.Path(file_okay=False), help="Cache folder (default: the serkit cache).")
@click.option("--older-than", "days", type=float, help="Remove pipelines not used for this many days.")
@click.option("--max-size", help="Keep the most recently used pipelines that fit this size (e.g. 2G).")
@click.option(
    "--keep", "keep", multiple=True, type=click.Path(file_okay=False), help="Keep only what these run folders used."
)
@click.option("--dry-run", is_flag=True, help="Say what would be removed; remove nothing.")
def cache_prune(
    folder: str | None, days: float | None, max_size: str | None, keep: tuple[str, ...], dry_run: bool
) -> None:
    """Remove cached entries by age, by a size budget, or all but what given run folders used.

    Safe while runs are going: pruning waits for runs computing features, and a run that
    needs a removed entry later recomputes it.
    """
    from serkit.data.cache_index import human, parse_size, prune

    if days is not None and days < 0:
        raise SerkitError(f"--older-than: must be 0 or more days, got {days:g}")
    result = prune(
        _cache_root(folder),
        older_than_days=days,
        max_bytes=parse_size(max_size) if max_size else None,
        keep_pipelines=_pipelines_of_runs(keep) if keep else None,
        dry_run=dry_run,
    )
    verb = "would remove" if dry_run else "removed"
    click.echo(
        f"{verb} {result['removed_entries']} entries ({human(result['removed_bytes'])}) and "
        f"{len(result['removed_pipelines'])} pipeline record(s); {result['kept_pipelines']} pipeline(s) kept"
    )
