"""Public path kept for plugin packages: :class:`SerkitError` now lives in :mod:`serkit.core.errors`."""

from serkit.core.errors import SerkitError

__all__ = ["SerkitError"]
