"""Where a run's trainings execute: :class:`.local.Executor` in this process, :class:`.ray.RayExecutor`
as tasks on a Ray cluster. Both give the same predictions (see :mod:`serkit.run.jobs`)."""

from __future__ import annotations

from typing import Any

from serkit.run.executors.local import Executor
from serkit.run.reporter import Reporter


def create_executor(name: str, threads: int, ray_settings: Any, reporter: Reporter) -> Executor:
    """The executor a recipe asks for (``run.executor``)."""
    if name == "ray":
        from serkit.run.executors.ray import RayExecutor

        return RayExecutor(threads, ray_settings, reporter)
    return Executor(threads)
