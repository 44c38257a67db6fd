"""Closest-name suggestions for error messages."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def did_you_mean(word: str, options: Iterable[str], cutoff: float = 0.5) -> str:
    """Return ``"; did you mean 'x'?"`` for the closest option, or an empty string.

    Names made of the same words in another order (``snr_max_db`` for ``max_snr_db``) come first;
    otherwise the closest spelling (a ratio of at least ``cutoff``, difflib's).
    """
    choices = list(options)
    words = sorted(word.lower().replace("-", "_").split("_"))
    reordered = [c for c in choices if sorted(c.lower().replace("-", "_").split("_")) == words]
    matches = reordered or difflib.get_close_matches(word, choices, n=1, cutoff=cutoff)
    return f"; did you mean '{matches[0]}'?" if matches else ""
