"""The ``serkit`` command line: the root group, and each command group's module registered on it."""

from __future__ import annotations

import click

from serkit.cli import augment, cache, data, experiments, inference, plugins, runs
from serkit.cli.extensions import ExtensibleGroup
from serkit.core.version import __version__


@click.group(cls=ExtensibleGroup)
@click.version_option(__version__, prog_name="serkit")
@click.option("--debug", is_flag=True, help="Show full tracebacks instead of one-line errors.")
def cli(debug: bool) -> None:
    """Speech emotion recognition experiments from TOML recipes."""


for command in (
    experiments.run,
    experiments.ablate,
    experiments.leaks,
    experiments.crosscorpus,
    experiments.benchmark,
    experiments.tune,
    augment.augment,
    inference.predict,
    inference.export,
    experiments.resume,
    plugins.plugins,
    experiments.audit,
    runs.runs,
    runs.report,
    cache.cache,
    data.data,
):
    cli.add_command(command)


def main() -> None:
    _terminate_as_interrupt()
    cli()


def _terminate_as_interrupt() -> None:
    """SIGTERM (a scheduler's or ``kill``'s) stops a run as Ctrl-C does: logged, resumable."""
    import os
    import signal

    main_process = os.getpid()

    def handler(signum: int, frame: object) -> None:
        if os.getpid() != main_process:  # a forked worker: die as it would have
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)
            return
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


if __name__ == "__main__":
    main()
