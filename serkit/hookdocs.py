"""Kept so ``python -m serkit.hookdocs docs/plugins.md`` still works; see :mod:`serkit.authoring.hookdocs`."""

import sys
from pathlib import Path

from serkit.authoring.hookdocs import hook_reference, update

__all__ = ["hook_reference", "update"]

if __name__ == "__main__":
    print("updated" if update(Path(sys.argv[1])) else "up to date")
