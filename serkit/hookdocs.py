"""Kept so ``python -m serkit.hookdocs docs/plugins.md`` still works; see :mod:`serkit.authoring.hookdocs`."""

import sys

from serkit.authoring.hookdocs import hook_reference, main, update

__all__ = ["hook_reference", "main", "update"]

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
