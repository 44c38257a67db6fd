"""Deprecated (goes in serkit 0.4): ``SerkitError`` is in :mod:`serkit`."""

import warnings

from serkit.core.errors import SerkitError

__all__ = ["SerkitError"]

warnings.warn(
    "serkit.errors is deprecated and goes in serkit 0.4: use from serkit import SerkitError",
    DeprecationWarning,
    stacklevel=2,
)
