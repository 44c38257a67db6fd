"""What every command shares: errors as one line, the component-kind choice and the common options."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import click

from serkit.core.errors import SerkitError


class SerkitGroup(click.Group):
    """A command group whose commands (and their subgroups') show an error as one line and exit 1:
    a SerkitError as it is, an OSError naming its file, anything else as unexpected. ``serkit --debug``
    shows the traceback instead. Click's own usage errors and exits pass through."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as exc:
            if ctx.find_root().params.get("debug", False):
                raise
            click.echo(f"Error: {one_line(exc)}", err=True)
            sys.exit(1)


def one_line(exc: Exception) -> str:
    """An error as the command line shows it."""
    if isinstance(exc, SerkitError):
        return str(exc)
    if isinstance(exc, OSError):
        where = f"{exc.filename}: " if exc.filename else ""
        return f"{where}{exc.strerror or exc} (rerun with --debug for the traceback)"
    return f"unexpected {type(exc).__name__}: {exc} (rerun with --debug for the traceback)"


class KindChoice(click.Choice):
    """The component types of :func:`serkit.core.kinds.component_types`, read when the command runs."""

    def __init__(self) -> None:
        super().__init__([])

    @property
    def choices(self) -> tuple[str, ...]:
        from serkit.core.kinds import component_types

        return tuple(component_types())

    @choices.setter
    def choices(self, value: object) -> None:
        pass


def set_option(help_text: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The repeatable ``--set KEY=VALUE`` recipe override."""
    return click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help=help_text)


def executor_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--executor``, ``--address`` and ``--track``: where the trainings run and where they are logged
    (execution settings: they change no result)."""
    command = click.option(
        "--track",
        type=click.Choice(["mlflow", "none"]),
        default=None,
        help="Log the run to MLflow (store: track.uri, else $MLFLOW_TRACKING_URI, else "
        "sqlite:///<run.output>/mlflow.db) [track.backend].",
    )(command)
    command = click.option(
        "--address",
        default=None,
        help="Ray cluster to join: auto, or ray://host:port (default: start a local Ray instance).",
    )(command)
    return click.option(
        "--executor",
        type=click.Choice(["local", "ray"]),
        default=None,
        help="local: folds one after another here; ray: each fold (and variant) as a Ray task [run.executor].",
    )(command)


def execution_overrides(executor: str | None, address: str | None, track: str | None = None) -> list[str]:
    out = [f"run.executor={executor}"] * bool(executor) + [f"track.backend={track}"] * bool(track)
    return out + ([f"ray.address={address}"] if address is not None else [])
