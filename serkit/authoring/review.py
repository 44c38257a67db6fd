"""What a plugin reviewer runs: the contract kit on every component a distribution provides."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from serkit.core.errors import SerkitError
from serkit.core.kinds import by_key
from serkit.core.registry import Entry, Registry, normalise_name


@dataclass(frozen=True)
class Verdict:
    kind: str
    name: str
    outcome: str  # "pass", "fail" or "needs values"
    detail: str = ""


def check_distribution(registry: Registry, distribution: str, values: dict[str, dict[str, Any]]) -> list[Verdict]:
    """The contract kit on each component ``distribution`` provides; ``values`` gives parameters by
    component name (for required ones). A component that cannot be built without them "needs values"."""
    from serkit.testing import check_component

    entries = [e for table in registry.entries.values() for e in table.values() if _same(e, distribution)]
    if not entries:
        problems = [
            p.message
            for p in registry.problems
            if normalise_name(p.provider.distribution) == normalise_name(distribution)
        ]
        if problems:
            raise SerkitError(f"DIST: {distribution} registers no component: " + "; ".join(problems))
        known = sorted({e.provider.distribution for t in registry.entries.values() for e in t.values()})
        raise SerkitError(f"DIST: no installed distribution '{distribution}' provides components ({', '.join(known)})")
    verdicts = []
    for entry in sorted(entries, key=lambda e: (e.kind, e.cls.name)):
        kind = by_key(entry.kind).singular
        try:
            component = entry.cls.from_params(values.get(entry.cls.name, {}), entry.cls.name)
        except SerkitError as exc:
            if values.get(entry.cls.name):  # values were given, and they are wrong: a failure, not a gap
                verdicts.append(Verdict(kind, entry.cls.name, "fail", str(exc)))
            else:
                verdicts.append(Verdict(kind, entry.cls.name, "needs values", f"{exc} (give them with --set)"))
            continue
        try:
            check_component(component)
        except AssertionError as exc:
            verdicts.append(Verdict(kind, entry.cls.name, "fail", str(exc).splitlines()[0] if str(exc) else "failed"))
        except Exception as exc:  # the component itself raised
            verdicts.append(Verdict(kind, entry.cls.name, "fail", f"{type(exc).__name__}: {exc}"))
        else:
            verdicts.append(Verdict(kind, entry.cls.name, "pass"))
    return verdicts


def _same(entry: Entry, distribution: str) -> bool:
    return normalise_name(entry.provider.distribution) == normalise_name(distribution)


def find_component(registry: Registry, name: str) -> list[Entry]:
    """Every registered component called ``name`` (one per kind at most)."""
    return [table[name] for table in registry.entries.values() if name in table]
