"""One way of naming the component at fault when plugin code fails."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from serkit.core.components import Component
from serkit.core.errors import SerkitError

T = TypeVar("T")


def describe(component: Component, origin: str | None = None) -> str:
    """``feature extractor 'log_mel' (serkit 0.2.0)``: the component, and where it comes from when known."""
    return f"{component.kind} '{component.name}'" + (f" ({origin})" if origin else "")


def guarded(who: str, action: Callable[[], T], doing: str = "") -> T:
    """Run plugin code; anything but a SerkitError becomes one line naming ``who`` failed ``doing``."""
    try:
        return action()
    except SerkitError:
        raise
    except Exception as exc:  # any failure inside a component, built-in or third-party
        raise SerkitError(f"{who} failed{doing}: {type(exc).__name__}: {exc}") from exc
