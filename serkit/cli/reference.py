"""docs/cli.md from the command tree: every command's usage, help and options.

python -m serkit.cli.reference docs/cli.md           # write it
python -m serkit.cli.reference docs/cli.md --check   # exit 1 if it is stale (CI runs this)
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from serkit.authoring.reference import write_or_check

HEADER = """# Command reference

Generated from the command tree by `python -m serkit.cli.reference docs/cli.md`; CI checks that it
is current. `serkit COMMAND --help` prints the same. Every command shows an error as one line and
exits 1; `serkit --debug COMMAND ...` shows the traceback instead.
"""


def render(root: click.Group) -> str:
    """The reference page of ``root`` and every command under it, depth first, in registration order."""
    parts = [HEADER]
    for path, command in _walk(root, "serkit"):
        parts.append(_section(path, command))
    return "\n".join(parts).rstrip() + "\n"


def _walk(command: click.Command, path: str) -> list[tuple[str, click.Command]]:
    found = [(path, command)]
    if isinstance(command, click.Group):
        for name, sub in _own(command).items():
            found += _walk(sub, f"{path} {name}")
    return found


def _own(group: click.Group) -> dict[str, click.Command]:
    """A group's commands less those plugins added (``register_commands``): the reference is serkit's."""
    added = {name for names in getattr(group, "added", {}).values() for name in names}
    return {name: sub for name, sub in group.commands.items() if name not in added}


def _section(path: str, command: click.Command) -> str:
    context = click.Context(command, info_name=path)
    usage = " ".join(command.collect_usage_pieces(context))
    lines = [f"## `{path}`", "", f"```\n{path} {usage}\n```", ""]
    text = (command.help or "").strip()
    if text:
        lines += [click.unstyle(text), ""]
    options = [p for p in command.get_params(context) if isinstance(p, click.Option) and not p.hidden]
    if options:
        lines += ["| option | meaning |", "| --- | --- |"]
        for option in options:
            record = option.get_help_record(context)
            if record is None:
                continue
            names, meaning = (text.replace("|", "\\|") for text in record)
            lines.append(f"| `{names}` | {meaning} |")
        lines.append("")
    if isinstance(command, click.Group) and _own(command):
        lines += ["Commands: " + ", ".join(f"`{name}`" for name in _own(command)), ""]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    from serkit.cli import cli

    if not argv or argv[0].startswith("-"):
        print(__doc__)
        return 2
    target, check = Path(argv[0]), "--check" in argv[1:]
    return write_or_check(target, render(cli), check, f"python -m serkit.cli.reference {target}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
