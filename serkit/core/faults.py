"""Fault injection for tests: ``SERKIT_FAULT=<point>`` kills the process (SIGKILL) at that point.

The points are fixed places in a run (``features``: half-way through storing features; ``epoch``:
after the first batch of the second epoch; ``outputs``: after the run folder's predictions and
model, before metrics.json), so a test of resuming after a crash is exact, not timing-dependent.
"""

from __future__ import annotations

import os
import signal

POINTS = ("features", "epoch", "outputs")


def crash_point(point: str) -> None:
    """Die here, as a power cut or the OOM killer would, when ``SERKIT_FAULT`` names this point."""
    if os.environ.get("SERKIT_FAULT") == point:
        os.kill(os.getpid(), signal.SIGKILL)
