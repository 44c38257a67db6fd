"""Closest-name suggestions for error messages."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def did_you_mean(word: str, options: Iterable[str]) -> str:
    """Return ``"; did you mean 'x'?"`` for the closest option, or an empty string."""
    matches = difflib.get_close_matches(word, list(options), n=1, cutoff=0.5)
    return f"; did you mean '{matches[0]}'?" if matches else ""
