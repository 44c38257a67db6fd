"""The one exception type serkit shows to users as a single line."""


class SerkitError(Exception):
    """A problem the user can fix: printed as one line, without a traceback."""
