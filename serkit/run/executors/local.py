"""The local executor: a run's trainings one after another in this process."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from serkit.results.folder import RunFolder
from serkit.run.jobs import Job, OnResult, Results, default_threads, failed, threads_per_job, torch_threads
from serkit.run.reporter import Reporter
from serkit.run.stages import Precompute, train_fold


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
        return {"executor": self.name, "threads_per_training": self.threads or default_threads()}

    def precompute(self, run: RunFolder) -> Precompute | None:
        """How missing features are computed before the feature stage reads them (None: by that stage)."""
        return None

    def check_storage(self, folders: list[Path]) -> None:
        """Fail in one line if a worker could not see one of these folders."""

    def train(
        self, jobs: list[Job], reporter: Reporter, on_result: OnResult | None = None
    ) -> tuple[Results, list[str]]:
        """Every job's fold result, and a line per failed job (the others still run)."""

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
