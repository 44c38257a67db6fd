"""Where a run's trainings execute: one after another in this process, or as tasks on Ray.

The unit of work is a :class:`Job`: one (variant, repeat, fold) training of a prepared run. Both
executors call :func:`~serkit.experiment.stages.train_fold` with the fold's seed and the same torch
threads, so they give the same predictions; both let every other job finish when one fails, and
report the failures by name afterwards (:class:`JobFailures`).
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from serkit.core.errors import SerkitError
from serkit.data.split import FoldPlan
from serkit.experiment.records import Corpus, FoldResult
from serkit.experiment.reporter import Reporter, log
from serkit.experiment.runfolder import LOG, RunFolder

if TYPE_CHECKING:
    from serkit.data.store import FeatureStore
    from serkit.experiment.stages import Context, Precompute


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
    """Torch threads of one training: run.threads, else the CPUs a Ray task reserves, else torch's default."""
    import torch

    if settings_threads:
        return settings_threads
    if num_cpus is not None:
        return max(1, int(num_cpus))
    return torch.get_num_threads()


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def describe_failure(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, SerkitError) else f"{type(exc).__name__}: {exc}"


class Executor:
    """Runs jobs in this process, one after another (``run.executor = "local"``)."""

    name = "local"
    #: Whether the jobs of several runs (an ablation's variants) are best submitted together.
    batches_runs = False

    def __init__(self, threads: int = 0) -> None:
        self.threads = threads_per_job(threads, None)

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def record(self) -> dict[str, Any]:
        """What environment.json says about the execution."""
        return {"executor": self.name, "threads_per_training": self.threads}

    def precompute(self, run: RunFolder) -> Precompute | None:
        """How missing features are computed before the feature stage reads them (None: by that stage)."""
        return None

    def check_storage(self, folders: list[Path]) -> None:
        """Fail in one line if a worker could not see one of these folders."""

    def train(
        self, jobs: list[Job], reporter: Reporter, on_result: OnResult | None = None
    ) -> tuple[Results, list[str]]:
        """Every job's fold result, and a line per failed job (the others still run)."""
        from serkit.experiment.stages import train_fold

        results: Results = {}
        failures: list[str] = []
        with torch_threads(self.threads):
            for job in jobs:
                run = job.run
                assert run.store is not None
                try:
                    results[job.key] = train_fold(run.ctx, job.plan, run.store, run.corpus)
                    if on_result is not None:
                        on_result(job, results[job.key])
                except Exception as exc:
                    failures.append(failed(job, reporter, exc))
        return results, failures


def failed(job: Job, reporter: Reporter, exc: BaseException | None = None, message: str = "", trace: str = "") -> str:
    """The line that names a failed job (shown now and in the final error); its traceback goes to run.log."""
    if exc is not None:
        message, trace = describe_failure(exc), "".join(traceback.format_exception(exc))
    line = f"{job.label}: {message}"
    log.error("%s failed: %s", job.label, trace.rstrip() or message)
    reporter.say(f"  {line}", "red")
    return line


def create_executor(name: str, threads: int, ray_settings: Any, reporter: Reporter) -> Executor:
    """The executor a recipe asks for (``run.executor``)."""
    if name == "ray":
        from serkit.experiment.ray_executor import RayExecutor

        return RayExecutor(threads, ray_settings, reporter)
    return Executor(threads)


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
