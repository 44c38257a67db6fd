"""A run's trainings as jobs, for the executors (:mod:`serkit.run.executors`).

The unit of work is a :class:`Job`: one (variant, repeat, fold) training of a prepared run. Both
executors call :func:`~serkit.run.stages.train_fold` with the fold's seed and the same torch
threads, so they give the same predictions; both let every other job finish when one fails, and
report the failures by name afterwards (:class:`JobFailures`).
"""

from __future__ import annotations

import logging
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from serkit.core.errors import SerkitError
from serkit.data.split import FoldPlan
from serkit.results.folder import LOG
from serkit.results.records import Corpus, FoldResult
from serkit.run.reporter import Reporter, log

if TYPE_CHECKING:
    from serkit.data.store import FeatureStore
    from serkit.run.stages import Context


@dataclass
class PreparedRun:
    """A run whose data is scanned, split and featurised: what its jobs need."""

    ctx: Context
    corpus: Corpus
    plans: list[FoldPlan]
    description: str
    started: str
    #: Each utterance's content digest, and the cache folder and pipeline of its features.
    hashes: list[str]
    cache: dict[str, str]
    label: str = ""  # how messages name the run: "" alone, "variant 'x'" in an ablation
    store: FeatureStore | None = None  # the local executor trains from the driver's store

    def jobs(self) -> list[Job]:
        return [Job(self, plan) for plan in self.plans]


@dataclass
class Job:
    """One training: a fold (of a repeat, of a variant)."""

    run: PreparedRun
    plan: FoldPlan

    @property
    def key(self) -> tuple[str, str]:
        return str(self.run.ctx.run_dir), self.plan.id

    @property
    def label(self) -> str:
        return f"{self.run.label + ' ' if self.run.label else ''}fold {self.plan.id}"


class JobFailures(SerkitError):
    """Some jobs failed; the others finished (their folds are kept for resume)."""

    def __init__(self, failures: list[str], total: int) -> None:
        self.failures = failures
        if total == 1:
            super().__init__(failures[0].split(": ", 1)[1])
            return
        more = f" (and {len(failures) - 1} more: see {LOG})" if len(failures) > 1 else ""
        super().__init__(
            f"{len(failures)} of {total} trainings failed (the others finished; resume reruns only these): "
            f"{failures[0]}{more}"
        )


Results = dict[tuple[str, str], FoldResult]
#: Called in the driver as each training finishes (tracking logs the fold then).
OnResult = Callable[[Job, FoldResult], None]


def threads_per_job(settings_threads: int, num_cpus: float | None) -> int:
    """Torch threads of one training: run.threads, else the CPUs a Ray task reserves, else 0: torch's default
    (:func:`default_threads`), left to torch so that a run without a torch model never imports it."""
    if settings_threads:
        return settings_threads
    if num_cpus is not None:
        return max(1, int(num_cpus))
    return 0


def default_threads() -> int | None:
    """Torch's default thread count where torch is in use (a torch model trained); None where it never was."""
    torch = sys.modules.get("torch")
    return int(torch.get_num_threads()) if torch is not None else None


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Torch's threads set to ``n`` for a block (0: left as they are, torch not imported for it)."""
    if not n:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def describe_failure(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, SerkitError) else f"{type(exc).__name__}: {exc}"


def failed(job: Job, reporter: Reporter, exc: BaseException | None = None, message: str = "", trace: str = "") -> str:
    """The line that names a failed job (shown now and in the final error); its traceback goes to run.log."""
    if exc is not None:
        message, trace = describe_failure(exc), "".join(traceback.format_exception(exc))
    line = f"{job.label}: {message}"
    log.error("%s failed: %s", job.label, trace.rstrip() or message)
    reporter.say(f"  {line}", "red")
    return line


@contextmanager
def logging_to(path: Path) -> Iterator[None]:
    """serkit's log lines also go to ``path`` (appended) while the block runs."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        yield
    finally:
        log.removeHandler(handler)
        handler.close()
