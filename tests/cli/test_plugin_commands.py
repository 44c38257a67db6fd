"""Plugins add commands (the ``register_commands`` hook): listed in ``serkit --help``, errors as one line, and a
broken one listed by ``serkit plugins`` without stopping serkit's own commands."""

from __future__ import annotations

import click
from click.testing import CliRunner

from serkit import hookimpl
from serkit.cli import cli
from serkit.cli.reference import render
from serkit.core.errors import SerkitError


class Greeter:
    @hookimpl
    def register_commands(self, cli):
        @cli.command()
        @click.argument("name")
        def greet(name: str) -> None:
            """Greet NAME (a plugin's command)."""
            if name == "nobody":
                raise SerkitError("NAME: nobody to greet")
            click.echo(f"hello {name}")

        @cli.command(name="run")
        def run_again() -> None:
            """A command named like serkit's own."""


class Broken:
    @hookimpl
    def register_commands(self, cli):
        raise RuntimeError("the plugin's author made a mistake")


def test_a_plugin_adds_a_command_and_a_broken_one_is_listed_not_fatal(register_plugin):
    register_plugin(Greeter(), "serkit-greeter")
    register_plugin(Broken(), "serkit-broken")
    runner = CliRunner()
    assert runner.invoke(cli, ["--help"]).exit_code == 0
    assert "Greet NAME" in runner.invoke(cli, ["--help"]).output
    assert runner.invoke(cli, ["greet", "Ada"]).output == "hello Ada\n"
    failed = runner.invoke(cli, ["greet", "nobody"])
    assert failed.exit_code == 1 and "Error: NAME: nobody to greet" in failed.output  # one line, like serkit's
    assert "Traceback" not in failed.output
    listed = " ".join(runner.invoke(cli, ["plugins"]).output.split())
    assert "register_commands failed: RuntimeError: the plugin's author made a mistake" in listed
    assert "command 'run' is serkit's own" in listed
    assert "greet" not in render(cli)  # docs/cli.md is serkit's own commands
    assert runner.invoke(cli, ["run", "--help"]).output.count("RECIPE") >= 1  # serkit's run, not the plugin's


def test_a_removed_plugin_takes_its_command_with_it(register_plugin):
    from serkit.core.registry import get_plugin_manager

    register_plugin(Greeter(), "serkit-greeter-2")
    runner = CliRunner()
    assert runner.invoke(cli, ["greet", "Ada"]).exit_code == 0
    get_plugin_manager().unregister(name="serkit-greeter-2")
    assert runner.invoke(cli, ["greet", "Ada"]).exit_code == 2  # no such command
