"""Fault injection for tests: ``SERKIT_FAULT=<point>`` kills the process (SIGKILL) at that point.

The points are fixed places in a run (``features``: half-way through storing features; ``epoch``:
after the first batch of the second epoch; ``outputs``: after the run folder's predictions and
model, before metrics.json), so a test of resuming after a crash is exact, not timing-dependent.
With ``SERKIT_FAULT_ONCE=<file>`` the process dies only if that file does not exist yet, and
creates it first (a worker lost once, then rerun). ``SERKIT_FAULT=fail-fold:<id>`` makes the
training of fold ``<id>`` raise an error instead (a failing unit among others).
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

POINTS = ("features", "epoch", "outputs")


def crash_point(point: str) -> None:
    """Die here, as a power cut or the OOM killer would, when ``SERKIT_FAULT`` names this point."""
    if os.environ.get("SERKIT_FAULT") != point:
        return
    once = os.environ.get("SERKIT_FAULT_ONCE")
    if once:
        try:
            Path(once).touch(exist_ok=False)
        except FileExistsError:
            return
    os.kill(os.getpid(), signal.SIGKILL)


def failing_fold(fold_id: str) -> None:
    """Raise, as a bug in a plugin would, when ``SERKIT_FAULT`` is ``fail-fold:<fold_id>``."""
    if os.environ.get("SERKIT_FAULT") == f"fail-fold:{fold_id}":
        raise RuntimeError(f"injected failure in fold {fold_id} (SERKIT_FAULT)")
