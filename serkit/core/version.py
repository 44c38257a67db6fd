"""serkit's version, from the installed distribution's metadata."""

from importlib.metadata import PackageNotFoundError, version
from typing import Any

try:
    __version__ = version("serkit")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+source"

#: The layout of run-folder files (metrics.json, model.json, split.json); files without it are format 0.
RUN_FORMAT = 1


def run_format(data: dict[str, Any], path: object) -> int:
    """The run-folder format a JSON document was written in (0 before it was recorded); newer ones are refused."""
    from serkit.core.errors import SerkitError

    version = int(data.get("format_version", 0))
    if version > RUN_FORMAT:
        raise SerkitError(
            f"{path}: written by a newer serkit (run format {version}; this serkit reads up to {RUN_FORMAT}); "
            "upgrade serkit"
        )
    return version
