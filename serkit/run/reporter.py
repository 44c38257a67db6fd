"""What a run tells its user while it works: messages, progress bars, tables; and the run log.

Stages talk to a :class:`Reporter`, never to rich directly, so the same stages run under the
terminal (:class:`ConsoleReporter`) or silently (:class:`Reporter` itself: log only).
"""

from __future__ import annotations

import logging
import time
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
        TextColumn("{task.fields[eta]}"),
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


class TableOrList:
    """A table where the console is wide enough to show it unwrapped, else the same rows as indented
    lines (an 80-column terminal gets readable text, not cut cells)."""

    def __init__(self, table: Any, lines: list[str]) -> None:
        self.table, self.lines = table, lines

    def __rich_console__(self, console: Console, options: Any) -> Iterator[Any]:
        from rich.measure import Measurement
        from rich.padding import Padding
        from rich.text import Text

        natural = Measurement.get(console, options.update_width(10_000), self.table).maximum
        if natural <= options.max_width:
            yield self.table
            return
        if self.table.title:
            yield Text(str(self.table.title), style="bold")
        for line in self.lines:  # an indented line wraps at its own indent
            indent = len(line) - len(line.lstrip(" "))
            yield Padding(Text(line.lstrip(" ")), (0, 0, 0, indent), expand=False) if indent else Text(line)


class Reporter:
    """Messages go to the run log; progress and tables are dropped. Subclasses show them."""

    def say(self, message: str, style: str = "") -> None:
        log.info(message)

    def show(self, renderable: Any) -> None:
        """A rich renderable (a table), or plain text."""

    @contextmanager
    def progress(self, description: str, total: int | None, info: str = "", bound: bool = False) -> Iterator[Task]:
        """A task of ``total`` steps; ``bound``: the total is a limit the work may stop short of (epochs under
        early stopping), so the time left is shown as an upper bound."""
        yield Task()


class _RichTask(Task):
    def __init__(self, bars: Progress, task: Any) -> None:
        self.bars, self.task = bars, task

    def advance(self, n: int = 1) -> None:
        self.bars.advance(self.task, n)

    def update(self, completed: int | None = None, total: int | None = None, info: str | None = None) -> None:
        changes: dict[str, Any] = {"completed": completed, "total": total, "info": info}
        self.bars.update(self.task, **{k: v for k, v in changes.items() if v is not None})


class _LineTask(Task):
    """Progress outside a terminal (CI, nohup, a batch job): a line when the count moves, at most
    one per tenth of the total for item counts, one per step for short counts such as epochs."""

    def __init__(self, console: Console, description: str, total: int | None, info: str, bound: bool = False) -> None:
        self.console, self.description, self.total, self.info = console, description, total, info
        self.bound = bound
        self.completed = 0
        self.start = time.perf_counter()
        self.shown = 0

    def advance(self, n: int = 1) -> None:
        self.update(completed=self.completed + n)

    def update(self, completed: int | None = None, total: int | None = None, info: str | None = None) -> None:
        if total is not None:
            self.total = total
        if info is not None:
            self.info = info
        if completed is None or completed == self.completed:
            return
        self.completed = completed
        step = max(1, (self.total or 0) // 10) if (self.total or 0) > 200 else 1
        if completed - self.shown >= step or completed == self.total:
            self.shown = completed
            self.console.print(self._line(), highlight=False, markup=False, soft_wrap=True)

    def _line(self) -> str:
        elapsed = time.perf_counter() - self.start
        count = f"{self.completed}/{self.total}" if self.total else str(self.completed)
        eta = ""
        if self.total and self.completed < self.total:
            left = _duration(elapsed / self.completed * (self.total - self.completed))
            eta = f", at most {left} to {self.total}: it may stop sooner" if self.bound else f", ETA {left}"
        info = f": {self.info}" if self.info else ""
        return f"{self.description} {count}{info} ({_duration(elapsed)}{eta})"


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


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
    def progress(self, description: str, total: int | None, info: str = "", bound: bool = False) -> Iterator[Task]:
        if not self.console.is_terminal:  # no live bar to redraw: print lines as it moves
            yield _LineTask(self.console, description, total, info, bound)
            return
        with progress_bar(self.console) as bars:
            eta = "at most" if bound else "ETA"
            yield _RichTask(bars, bars.add_task(description, total=total, info=info, eta=eta))
