"""What a run tells its user while it works: messages, progress bars, tables; and the run log.

Stages talk to a :class:`Reporter`, never to rich directly, so the same stages run under the
terminal (:class:`ConsoleReporter`) or silently (:class:`Reporter` itself: log only).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

log = logging.getLogger("serkit")


def progress_bar(console: Console) -> Progress:
    """serkit's progress bar: description, bar, count, elapsed, ETA and a free info column."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        TextColumn("{task.fields[info]}"),
        console=console,
        transient=False,
    )


class Task:
    """One progress bar's handle: advance it, or set its position, total and info text."""

    def advance(self, n: int = 1) -> None:
        pass

    def update(self, completed: int | None = None, total: int | None = None, info: str | None = None) -> None:
        pass


class Reporter:
    """Messages go to the run log; progress and tables are dropped. Subclasses show them."""

    def say(self, message: str, style: str = "") -> None:
        log.info(message)

    def show(self, renderable: Any) -> None:
        """A rich renderable (a table), or plain text."""

    @contextmanager
    def progress(self, description: str, total: int | None, info: str = "") -> Iterator[Task]:
        yield Task()


class _RichTask(Task):
    def __init__(self, bars: Progress, task: Any) -> None:
        self.bars, self.task = bars, task

    def advance(self, n: int = 1) -> None:
        self.bars.advance(self.task, n)

    def update(self, completed: int | None = None, total: int | None = None, info: str | None = None) -> None:
        changes: dict[str, Any] = {"completed": completed, "total": total, "info": info}
        self.bars.update(self.task, **{k: v for k, v in changes.items() if v is not None})


class ConsoleReporter(Reporter):
    """Shows everything on a rich console (the terminal)."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console()

    def say(self, message: str, style: str = "") -> None:
        super().say(message)
        self.console.print(message, style=style or None, highlight=False, markup=False)  # user text is not markup

    def show(self, renderable: Any) -> None:
        self.console.print(renderable, highlight=False)

    @contextmanager
    def progress(self, description: str, total: int | None, info: str = "") -> Iterator[Task]:
        with progress_bar(self.console) as bars:
            yield _RichTask(bars, bars.add_task(description, total=total, info=info))
