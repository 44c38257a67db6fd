"""`serkit plugins`: list, show, check and create components."""

from __future__ import annotations

import inspect
import json
import sys
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from serkit.cli.base import KindChoice, SerkitGroup, set_option
from serkit.core.errors import SerkitError
from serkit.run.reporter import TableOrList


@click.group(cls=SerkitGroup, invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@click.pass_context
def plugins(ctx: click.Context, as_json: bool) -> None:
    """List every component by kind, with the plugin that provides it and its parameters."""
    if ctx.invoked_subcommand is not None:
        return
    from serkit.core.registry import get_registry

    registry = get_registry()
    document = registry.listing()
    if as_json:
        click.echo(json.dumps(document, indent=2, default=str))
        return
    console = Console()
    from serkit.core.registry import command_problems

    problems = [*registry.problems, *command_problems]
    for problem in problems:  # first, where they are seen
        console.print(f"[red]broken:[/red] {escape(str(problem))}", highlight=False)
    if problems:
        console.print("  (SERKIT_LOAD_PLUGINS=name,... loads only the named plugins, to rule one out)\n")
    for kind, entries in document["components"].items():
        table = Table(title=kind.replace("_", " "), title_justify="left", show_lines=False)
        table.add_column("name", style="bold")
        table.add_column("from")
        table.add_column("parameters")
        table.add_column("description")
        lines = []
        for entry in entries:
            params = "\n".join(_param_line(p) for p in entry["parameters"]) or "-"
            source = f"{entry['distribution']} {entry['version']}"
            shapes = f" Gives {entry['shape']}s." if "shape" in entry else ""
            shapes += f" Takes {' or '.join(a + 's' for a in entry['accepts'])}." if "accepts" in entry else ""
            table.add_row(escape(entry["name"]), escape(source), params, escape(entry["description"] + shapes))
            lines += [f"{entry['name']} ({source}): {entry['description']}{shapes}"]
            lines += [f"  {_param_text(p)}" for p in entry["parameters"]]
        console.print(TableOrList(table, lines))
        console.print()
    _print_label_maps(console, document["label_maps"])


def _print_label_maps(console: Console, label_maps: list[dict[str, Any]]) -> None:
    table = Table(title="label maps ([labels] map = NAME)", title_justify="left")
    for column in ("name", "from", "classes", "description"):
        table.add_column(column, style="bold" if column == "name" else None)
    lines = []
    for entry in label_maps:
        source = f"{entry['distribution']} {entry['version']}"
        classes = ", ".join(entry["classes"])
        table.add_row(escape(entry["name"]), escape(source), escape(classes), escape(entry["description"]))
        lines += [f"{entry['name']} ({source}): {entry['description']}", f"  classes: {classes}"]
    console.print(TableOrList(table, lines))


def _param_text(spec: dict[str, Any]) -> str:
    default = "required" if spec["required"] else f"= {spec['default']!r}"
    limits = f" ({spec['range']})" if spec["range"] else ""
    return f"{spec['name']}: {spec['type']} {default}{limits}" + (f": {spec['help']}" if spec["help"] else "")


def _param_line(spec: dict[str, Any]) -> str:
    default = "required" if spec["required"] else f"= {spec['default']!r}"
    limits = f" ({spec['range']})" if spec["range"] else ""
    help_text = f"\n  [dim]{escape(spec['help'])}[/dim]" if spec["help"] else ""
    return escape(f"{spec['name']}: {spec['type']} {default}{limits}") + help_text


@plugins.command("show")
@click.argument("name")
def plugins_show(name: str) -> None:
    """Show one component: what it does, where it comes from, every parameter, a recipe snippet."""
    from serkit.authoring.review import find_component
    from serkit.core.kinds import by_key
    from serkit.core.registry import get_registry
    from serkit.core.suggest import did_you_mean

    registry = get_registry()
    found = find_component(registry, name)
    if not found:
        every = [n for table in registry.entries.values() for n in table]
        raise SerkitError(f"NAME: no component '{name}'{did_you_mean(name, every)} (see: serkit plugins)")
    console = Console()
    for entry in found:
        kind = by_key(entry.kind)
        cls = entry.cls
        console.print(f"[bold]{escape(cls.name)}[/bold]: {kind.singular} from {escape(str(entry.provider))}")
        console.print(escape(inspect.cleandoc(cls.__doc__ or "")), highlight=False)
        table = Table(show_lines=False)
        for column in ("parameter", "type", "default", "range", "meaning"):
            table.add_column(column)
        for spec in cls.params():
            default = "required" if spec.required else repr(spec.default)
            table.add_row(
                escape(spec.name), escape(spec.type_name), escape(default), escape(spec.range_text), escape(spec.help)
            )
        console.print(table)
        console.print(escape(recipe_snippet(kind.section, kind.many, cls)), highlight=False)


def recipe_snippet(section: str, many: bool, cls: Any) -> str:
    """The recipe lines that use a component: its name and each required parameter, with a value to
    replace (a recipe without them does not load)."""
    lines = [f"[[{section}]]" if many else f"[{section}]", f'name = "{cls.name}"']
    for spec in cls.params():
        if spec.required:
            lines.append(f"{spec.name} = {_placeholder(spec.type_name)}  # required: {spec.help}")
    return "\n".join(lines)


def _placeholder(type_name: str) -> str:
    if type_name.startswith("list"):
        return "[]"
    return {"int": "0", "float": "0.0", "bool": "false"}.get(type_name, '"..."')


@plugins.command("check")
@click.argument("distribution")
@set_option("Give a component a parameter value, e.g. --set folder_noise.noise_dir=/data/noise.")
def plugins_check(distribution: str, overrides: tuple[str, ...]) -> None:
    """Run the contract kit on every component DISTRIBUTION provides; exit 1 if one fails or could not be checked
    (it needs parameter values: give them with --set)."""
    from serkit.authoring.review import check_distribution
    from serkit.core.recipe import parse_value
    from serkit.core.registry import get_registry

    values: dict[str, dict[str, object]] = {}
    for override in overrides:
        key, sep, text = override.partition("=")
        component, dot, parameter = key.partition(".")
        if not (sep and dot and component and parameter):
            raise SerkitError(f"--set {override}: expected COMPONENT.PARAMETER=VALUE")
        values.setdefault(component, {})[parameter] = parse_value(text)
    verdicts = check_distribution(get_registry(), distribution, values)
    table = Table(title=f"contract kit on {distribution}", title_justify="left")
    for column in ("kind", "component", "outcome", "detail"):
        table.add_column(column)
    colours = {"pass": "green", "fail": "red", "needs values": "yellow"}
    for v in verdicts:
        table.add_row(v.kind, escape(v.name), f"[{colours[v.outcome]}]{v.outcome}[/]", escape(v.detail))
    Console().print(table)
    unchecked = [v.name for v in verdicts if v.outcome == "needs values"]
    if unchecked:
        names = ", ".join(unchecked)
        click.echo(f"not checked: {names} need parameter values; pass them, e.g. --set {unchecked[0]}.PARAMETER=VALUE")
    if unchecked or any(v.outcome == "fail" for v in verdicts):
        sys.exit(1)


@plugins.command("new")
@click.argument("kind", type=KindChoice())
@click.argument("name")
@click.option("--to", "to", type=click.Path(file_okay=False), help="Folder to write (default ./DIST).")
@click.option("--dist", "dist", default="", help="Distribution (package) name (default serkit-NAME).")
@click.option("--with-file-param", "file_param", is_flag=True, help="Add a parameter that names a file, and its test.")
def plugins_new(kind: str, name: str, to: str | None, dist: str, file_param: bool) -> None:
    """Write a ready plugin package for a component of KIND called NAME."""
    from serkit.authoring.scaffold import new_plugin

    folder = new_plugin(kind, name, to, dist, file_param)
    click.echo(f"wrote {folder}: pip install -e '{folder}[test]' && python -m pytest {folder}")
