"""The ``serkit`` command line."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from serkit import __version__
from serkit.errors import SerkitError


def friendly_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Show a SerkitError (or any unexpected error) as one line and exit 1; ``--debug`` shows the traceback."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        debug = click.get_current_context().find_root().params.get("debug", False)
        try:
            return command(*args, **kwargs)
        except SerkitError as exc:
            if debug:
                raise
            click.echo(f"Error: {exc}", err=True)
            sys.exit(1)
        except Exception as exc:
            if debug:
                raise
            click.echo(
                f"Error: unexpected {type(exc).__name__}: {exc} (rerun with --debug for the traceback)", err=True
            )
            sys.exit(1)

    return wrapper


@click.group()
@click.version_option(__version__, prog_name="serkit")
@click.option("--debug", is_flag=True, help="Show full tracebacks instead of one-line errors.")
def cli(debug: bool) -> None:
    """Speech emotion recognition experiments from TOML recipes."""


@cli.command()
@click.argument("recipe", type=click.Path(dir_okay=False))
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a recipe key, e.g. --set train.max_epochs=3 --set dataset.root=/data/ravdess.",
)
@click.option(
    "--split",
    "split_file",
    type=click.Path(exists=True, dir_okay=False),
    help="Reuse the split.json of an earlier run instead of splitting anew.",
)
@click.option("--skip-unreadable", is_flag=True, help="Leave out unreadable audio files (listed) instead of stopping.")
@friendly_errors
def run(recipe: str, overrides: tuple[str, ...], split_file: str | None, skip_unreadable: bool) -> None:
    """Run the experiment described by RECIPE and write a run folder."""
    from serkit.runner import run_recipe

    overrides = (*overrides, "run.skip_unreadable=true") if skip_unreadable else overrides
    run_recipe(recipe, list(overrides), Console(), split_file)


@cli.command()
@click.argument("run_dir", type=click.Path(file_okay=False))
@friendly_errors
def resume(run_dir: str) -> None:
    """Continue an interrupted run in RUN_DIR from its last checkpoint."""
    from serkit.runner import resume_run

    resume_run(run_dir, Console())


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@friendly_errors
def plugins(as_json: bool) -> None:
    """List every component by kind, with the plugin that provides it and its parameters."""
    from serkit.plugins import get_registry

    registry = get_registry()
    listing = {
        kind: [
            {
                "name": name,
                "distribution": entry.provider.distribution,
                "version": entry.provider.version,
                "plugin": entry.provider.plugin,
                "description": entry.cls.description(),
                "parameters": [spec.to_dict() for spec in entry.cls.params()],
            }
            for name, entry in sorted(entries.items())
        ]
        for kind, entries in registry.entries.items()
    }
    problems = [
        {"plugin": p.provider.plugin, "distribution": p.provider.distribution, "error": p.message}
        for p in registry.problems
    ]
    if as_json:
        click.echo(json.dumps({"components": listing, "problems": problems}, indent=2, default=str))
        return
    console = Console()
    for kind, entries in listing.items():
        table = Table(title=kind.replace("_", " "), title_justify="left", show_lines=False)
        table.add_column("name", style="bold")
        table.add_column("from")
        table.add_column("parameters")
        table.add_column("description")
        for entry in entries:
            params = "\n".join(_param_line(p) for p in entry["parameters"]) or "-"
            source = f"{entry['distribution']} {entry['version']}"
            table.add_row(escape(entry["name"]), escape(source), params, escape(entry["description"]))
        console.print(table)
    for problem in registry.problems:
        console.print(f"[red]broken:[/red] {escape(str(problem))}", highlight=False)


def _param_line(spec: dict[str, Any]) -> str:
    default = "required" if spec["required"] else f"= {spec['default']!r}"
    limits = f" ({spec['range']})" if spec["range"] else ""
    help_text = f"\n  [dim]{escape(spec['help'])}[/dim]" if spec["help"] else ""
    return escape(f"{spec['name']}: {spec['type']} {default}{limits}") + help_text


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
