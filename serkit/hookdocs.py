"""Deprecated (goes in serkit 0.4): run ``python -m serkit.authoring.hookdocs docs/plugins.md``."""

import sys
import warnings

from serkit.authoring.hookdocs import hook_reference, main, update

__all__ = ["hook_reference", "main", "update"]

warnings.warn(
    "serkit.hookdocs is deprecated and goes in serkit 0.4: run python -m serkit.authoring.hookdocs",
    DeprecationWarning,
    stacklevel=2,
)

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
