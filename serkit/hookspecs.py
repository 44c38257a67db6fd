"""Deprecated (goes in serkit 0.4): ``hookimpl`` is in :mod:`serkit`."""

import warnings

from serkit.core.hookspecs import hookimpl, hookspec

__all__ = ["hookimpl", "hookspec"]

warnings.warn(
    "serkit.hookspecs is deprecated and goes in serkit 0.4: use from serkit import hookimpl",
    DeprecationWarning,
    stacklevel=2,
)
