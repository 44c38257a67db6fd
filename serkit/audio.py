"""Deprecated (goes in serkit 0.4): audio I/O is in :mod:`serkit.data.audio`."""

import warnings

from serkit.data.audio import load, probe, read, resample

__all__ = ["load", "probe", "read", "resample"]

warnings.warn(
    "serkit.audio is deprecated and goes in serkit 0.4: use from serkit.data.audio import read (load, probe, resample)",
    DeprecationWarning,
    stacklevel=2,
)
