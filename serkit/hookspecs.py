"""Public path kept for plugin packages: the hookspecs now live in :mod:`serkit.core.hookspecs`."""

from serkit.core.hookspecs import hookimpl, hookspec

__all__ = ["hookimpl", "hookspec"]
