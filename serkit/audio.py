"""Public path kept for plugin packages: audio I/O now lives in :mod:`serkit.data.audio`."""

from serkit.data.audio import load, probe, read, resample

__all__ = ["load", "probe", "read", "resample"]
