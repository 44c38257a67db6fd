"""serkit's version, from the installed distribution's metadata."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("serkit")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+source"

#: The layout of run-folder files (metrics.json, model.json, split.json); files without it are format 0.
RUN_FORMAT = 1
