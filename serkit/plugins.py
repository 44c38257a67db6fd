"""Public path kept for plugin packages: the registry now lives in :mod:`serkit.core.registry`."""

from serkit.core.registry import (
    DEFAULT_PLUGINS,
    ENTRY_POINT_GROUP,
    Entry,
    Problem,
    Provider,
    Registry,
    get_plugin_manager,
    get_registry,
    reset_plugin_manager,
)

__all__ = [
    "DEFAULT_PLUGINS",
    "ENTRY_POINT_GROUP",
    "Entry",
    "Problem",
    "Provider",
    "Registry",
    "get_plugin_manager",
    "get_registry",
    "reset_plugin_manager",
]
