"""Augmentation policies: a chance per entry, parameters drawn from ranges, and groups of entries.

An ``[[augment]]`` entry is an augmenter, optionally with ``p`` (its chance to act on an example,
default 1) and ranged parameters (``rate = [0.8, 1.25]``: drawn uniformly each time it acts), or a
group of such entries (audiomentations' ``Compose``, ``OneOf`` and ``SomeOf``)::

    [[augment]]
    p = 0.8
    one_of = [
      { name = "time_stretch", rate = [0.8, 1.25] },
      { name = "pitch_shift", semitones = [-2.0, 2.0], weight = 2.0 },
    ]

``compose`` applies all its members in order; ``one_of`` picks one by weight; ``some_of`` picks
``k`` of them (a number, or a range ``[k1, k2]`` drawn per example) by weight without replacement and
applies them in their listed order. Groups nest. Entries and groups are augmenters themselves, so
copies mode makes one copy per entry (drawn once) and online mode passes every example through the
entries in order, drawn anew each epoch (:mod:`serkit.data.online`). Every draw comes from the
generator serkit passes, so an example is a pure function of the run's seed, the utterance, the
entry's slot and (online) the epoch. A plain entry (no ``p``, no range) is the augmenter itself: its
cache identity is what it always was.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import numpy as np

from serkit.core.components import Augmenter, Component, computed_by
from serkit.core.errors import SerkitError
from serkit.core.params import param, validate_params

#: How a group applies its members, in words.
GROUPS = {
    "compose": "all of its members, in order",
    "one_of": "one member, picked by weight",
    "some_of": "k members, picked by weight without replacement, in their listed order",
}
#: Keys a policy reads from an entry; an augmenter cannot declare parameters of these names.
POLICY_KEYS = ("p", "weight", "k", *GROUPS)


#: Where the draws of augmentation are written down while ``serkit augment preview`` runs (None: not recording).
DRAWS: ContextVar[list[str] | None] = ContextVar("serkit_draws", default=None)


def note_draw(text: str) -> None:
    """Write down one draw (a chance that failed, values drawn, a group's pick) where a preview records them."""
    found = DRAWS.get()
    if found is not None:
        found.append(text)


@dataclass(frozen=True, kw_only=True)
class EntrySettings:
    """What any ``[[augment]]`` entry (an augmenter or a group) may say besides its own parameters."""

    p: float = param(
        1.0, "chance that the entry acts on an example (1: always; online mode draws it each epoch)", ge=0, le=1
    )
    weight: float = param(1.0, "inside one_of or some_of: the entry's relative chance of being picked", gt=0)


@dataclass(frozen=True, kw_only=True)
class GroupSettings(EntrySettings):
    """A group's settings (``compose``, ``one_of`` or ``some_of`` = [entries])."""

    k: int | list[int] = param(
        1, "some_of: how many members act, a number or a range [k1, k2] drawn uniformly per example", ge=0
    )


@dataclass(frozen=True)
class Range:
    """A parameter drawn uniformly from [low, high] each time its augmenter acts (integers for an int)."""

    name: str
    low: float
    high: float
    integer: bool = False

    def draw(self, rng: np.random.Generator) -> float | int:
        if self.integer:
            return int(rng.integers(int(self.low), int(self.high) + 1))
        return float(rng.uniform(self.low, self.high))


@dataclass(frozen=True, kw_only=True)
class Chance(Augmenter):
    """An augmenter acting with chance ``p``, its ranged parameters drawn each time it acts."""

    augmenter: Augmenter
    ranges: tuple[Range, ...] = ()
    p: float = 1.0
    weight: float = 1.0

    @property
    def name(self) -> str:  # type: ignore[override]
        return self.augmenter.name

    @property
    def stage(self) -> str:  # type: ignore[override]
        return self.augmenter.stage

    @property
    def accepts(self) -> tuple[str, ...] | None:
        return getattr(self.augmenter, "accepts", None)

    def __call__(self, *data_and_rng: Any) -> np.ndarray:
        rng: np.random.Generator = data_and_rng[-1]
        if self.p < 1 and rng.random() >= self.p:
            note_draw(f"{self.name}: did not act (p = {self.p:g})")
            return data_and_rng[0]  # not acting: the example as it came
        augmenter = self.drawn(rng)
        return augmenter(*data_and_rng)

    def drawn(self, rng: np.random.Generator) -> Augmenter:
        """The augmenter with each ranged parameter drawn from ``rng``."""
        if not self.ranges:
            return self.augmenter
        values = {r.name: r.draw(rng) for r in self.ranges}
        note_draw(f"{self.name}: " + ", ".join(f"{k} = {v:.4g}" for k, v in values.items()))
        drawn = dataclasses.replace(self.augmenter, **values)
        try:
            drawn.validate()
        except ValueError as exc:
            shown = ", ".join(f"{k} = {v:.4g}" for k, v in values.items())
            raise SerkitError(f"augmenter '{self.name}': the values drawn ({shown}) are refused: {exc}") from exc
        return drawn

    def to_params(self) -> dict[str, Any]:
        return {k: v for k, v in self.to_entry().items() if k != "name"}

    def to_entry(self) -> dict[str, Any]:
        entry = self.augmenter.to_entry() | {r.name: [r.low, r.high] for r in self.ranges}
        return entry | _settings(self.p, self.weight)

    def identity(self) -> dict[str, Any]:
        own = self.augmenter.identity()
        params = own["params"] | {r.name: [r.low, r.high] for r in self.ranges}
        return own | {"params": params, "p": self.p, "weight": self.weight}

    def words(self) -> str:
        drawn = ", ".join(f"{r.name} from [{r.low:g}, {r.high:g}]" for r in self.ranges)
        chance = f" with p = {self.p:g}" if self.p < 1 else ""
        return f"{self.name}{f' ({drawn})' if drawn else ''}{chance}"


@dataclass(frozen=True, kw_only=True)
class Group(Augmenter):
    """Members applied as ``how`` says (:data:`GROUPS`), the whole group acting with chance ``p``."""

    how: str
    members: tuple[Augmenter, ...]
    k: tuple[int, int] = (1, 1)
    p: float = 1.0
    weight: float = 1.0

    @property
    def name(self) -> str:  # type: ignore[override]
        return f"{self.how}({', '.join(m.name for m in self.members)})"

    @property
    def stage(self) -> str:  # type: ignore[override]
        return self.members[0].stage

    @property
    def accepts(self) -> tuple[str, ...] | None:
        found = [set(a) for m in self.members if (a := getattr(m, "accepts", None)) is not None]
        return tuple(sorted(set.intersection(*found))) if found else None

    def __call__(self, *data_and_rng: Any) -> np.ndarray:
        *data, rng = data_and_rng
        if self.p < 1 and rng.random() >= self.p:
            note_draw(f"{self.name}: did not act (p = {self.p:g})")
            return data[0]
        out = data[0]
        chosen = self.chosen(rng)
        if self.how != "compose":
            note_draw(f"{self.how}: picked {', '.join(m.name for m in chosen)}")
        for member in chosen:
            act: Any = member  # a waveform augmenter (wave, rate, rng) or a feature one (features, rng)
            out = act(out, *data[1:], rng)
        return out

    def chosen(self, rng: np.random.Generator) -> list[Augmenter]:
        """The members that act on this example, in their listed order."""
        if self.how == "compose":
            return list(self.members)
        weights = np.array([_weight(m) for m in self.members])
        count = 1 if self.how == "one_of" else int(rng.integers(self.k[0], self.k[1] + 1))
        picked = rng.choice(len(self.members), size=count, replace=False, p=weights / weights.sum())
        return [self.members[i] for i in sorted(picked.tolist())]

    def to_params(self) -> dict[str, Any]:
        return self.to_entry()

    def to_entry(self) -> dict[str, Any]:
        entry: dict[str, Any] = {self.how: [m.to_entry() for m in self.members]}
        if self.how == "some_of":
            entry["k"] = list(self.k)
        return entry | _settings(self.p, self.weight)

    def identity(self) -> dict[str, Any]:
        return {"group": self.how, "members": [m.identity() for m in self.members], "k": list(self.k)} | {
            "p": self.p,
            "weight": self.weight,
        }

    def words(self) -> str:
        inner = ", ".join(words(m) for m in self.members)
        head = {"compose": "all of", "one_of": "one of", "some_of": f"{_k_text(self.k)} of"}[self.how]
        chance = f" with p = {self.p:g}" if self.p < 1 else ""
        return f"{head} ({inner}){chance}"


def _k_text(k: tuple[int, int]) -> str:
    return str(k[0]) if k[0] == k[1] else f"{k[0]} to {k[1]}"


def _settings(p: float, weight: float) -> dict[str, Any]:
    return ({"p": p} if p != 1 else {}) | ({"weight": weight} if weight != 1 else {})


def _weight(entry: Augmenter) -> float:
    return float(getattr(entry, "weight", 1.0))


def words(entry: Augmenter) -> str:
    """One entry of a policy in words ("time_stretch (rate from [0.8, 1.25]) with p = 0.5")."""
    described = getattr(entry, "words", None)
    return described() if callable(described) else entry.name


def policy_words(entries: Sequence[Augmenter], mode: str) -> str:
    """The recipe's augmentation in words, for the report, metrics.json and the page."""
    if not entries:
        return "no augmentation"
    if mode == "online":
        return "each fit utterance each epoch, drawn anew: " + ", then ".join(words(e) for e in entries)
    return "one fixed copy of each training utterance per entry, drawn once: " + "; ".join(words(e) for e in entries)


def plan(entry: Augmenter, rng: np.random.Generator, draw: Any) -> list[tuple[Augmenter, Any]]:
    """The augmenters an entry applies to one example, in order, each with what ``draw(augmenter, rng)`` drew for
    it: ``rng`` is consumed exactly as calling the entry consumes it (the chance, the drawn values, a group's
    picks, then each augmenter's own draws), so the device path draws what the NumPy path draws."""
    if isinstance(entry, Chance):
        if entry.p < 1 and rng.random() >= entry.p:
            return []
        leaf = entry.drawn(rng)
        return [(leaf, draw(leaf, rng))]
    if isinstance(entry, Group):
        if entry.p < 1 and rng.random() >= entry.p:
            return []
        return [step for member in entry.chosen(rng) for step in plan(member, rng, draw)]
    return [(entry, draw(entry, rng))]


def leaves(entries: Sequence[Augmenter]) -> list[Augmenter]:
    """The augmenters a policy is made of (inside chances and groups), in order."""
    out: list[Augmenter] = []
    for entry in entries:
        if isinstance(entry, Group):
            out += leaves(entry.members)
        elif isinstance(entry, Chance):
            out.append(entry.augmenter)
        else:
            out.append(entry)
    return out


def made_by(entry: Augmenter) -> Any:
    """What computes an entry (cache keys): a plain augmenter's :func:`computed_by`, a policy's per member."""
    if isinstance(entry, Group):
        return [made_by(m) for m in entry.members]
    return computed_by(type(entry.augmenter if isinstance(entry, Chance) else entry))


def build_entry(entry: Any, where: str, build: Any, member: bool = False) -> Augmenter:
    """An ``[[augment]]`` table as an augmenter, a :class:`Chance` or a :class:`Group`. ``build(name, values,
    where)`` makes a registered augmenter from its recipe values (a SerkitError naming ``where`` if wrong)."""
    if not isinstance(entry, dict):
        raise SerkitError(f'{where}: expected a table with name = "..." or a group (compose, one_of, some_of)')
    groups = [key for key in GROUPS if key in entry]
    if len(groups) > 1 or (groups and "name" in entry):
        raise SerkitError(f"{where}: give one of name, {', '.join(GROUPS)} per entry")
    if not member and "weight" in entry:
        raise SerkitError(f"{where}.weight: only members of one_of and some_of are weighted")
    if groups:
        return _group(entry, groups[0], where, build)
    if "name" not in entry:
        raise SerkitError(f"{where}.name: missing (which augmenter to use, or a group: {', '.join(GROUPS)})")
    own = {k: v for k, v in entry.items() if k not in ("name", "p", "weight")}
    settings = EntrySettings(**validate_params(EntrySettings, _only(entry, ("p", "weight")), where))
    cls = build(entry["name"], None, f"{where}.name")
    clash = [spec.name for spec in cls.params() if spec.name in POLICY_KEYS]
    if clash:
        raise SerkitError(
            f"{where}: augmenter '{entry['name']}' declares a parameter '{clash[0]}', a name policies use; "
            "its author should rename it"
        )
    ranges = _ranges(cls, own, where)
    low = build(entry["name"], own | {r.name: r.low for r in ranges}, where)
    if not ranges and settings.p == 1 and settings.weight == 1:
        return low  # plain: the augmenter itself, its cache identity unchanged
    build(entry["name"], own | {r.name: r.high for r in ranges}, where)  # both ends are valid
    return Chance(augmenter=low, ranges=tuple(ranges), p=settings.p, weight=settings.weight)


def _group(entry: dict[str, Any], how: str, where: str, build: Any) -> Group:
    members = entry[how]
    if not isinstance(members, list) or not members:
        raise SerkitError(f'{where}.{how}: expected a non-empty list of entries ([{{ name = "..." }}, ...])')
    unknown = [key for key in entry if key not in (how, "p", "weight", "k")]
    if unknown:
        raise SerkitError(f"{where}.{unknown[0]}: unknown key of a group (known: {how}, p, weight, k)")
    if "k" in entry and how != "some_of":
        raise SerkitError(f"{where}.k: only some_of picks k members")
    settings = GroupSettings(**validate_params(GroupSettings, _only(entry, ("p", "weight", "k")), where))
    built = tuple(build_entry(m, f"{where}.{how}[{i}]", build, member=True) for i, m in enumerate(members))
    stages = {m.stage for m in built}
    if len(stages) > 1:
        raise SerkitError(
            f"{where}.{how}: mixes waveform and feature augmenters; a group's members act on one kind of data "
            "(list them as separate entries: waveform entries act first, then the features are extracted)"
        )
    k = (settings.k, settings.k) if isinstance(settings.k, int) else tuple(settings.k)
    if how == "some_of":
        if len(k) != 2 or k[0] > k[1] or k[1] > len(built):
            raise SerkitError(
                f"{where}.k: {settings.k} must be a number or [k1, k2] with k1 <= k2 <= {len(built)} (the members)"
            )
    else:
        k = (1, 1)
    return Group(how=how, members=built, k=(int(k[0]), int(k[1])), p=settings.p, weight=settings.weight)


def _only(entry: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {k: entry[k] for k in keys if k in entry}


def _ranges(cls: type[Component], values: dict[str, Any], where: str) -> list[Range]:
    """The parameters given as [low, high] where the augmenter declares a single number."""
    found = []
    for spec in cls.params():
        value = values.get(spec.name)
        if spec.annotation not in (int, float) or not isinstance(value, list):
            continue
        if len(value) != 2 or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value):
            raise SerkitError(f"{where}.{spec.name}: a range is [low, high], two numbers; got {value!r}")
        low, high = value
        if low > high:
            raise SerkitError(f"{where}.{spec.name}: range [{low}, {high}] has low > high")
        if spec.annotation is int and not (float(low).is_integer() and float(high).is_integer()):
            raise SerkitError(f"{where}.{spec.name}: an integer parameter's range takes integers, got {value!r}")
        found.append(Range(spec.name, float(low), float(high), integer=spec.annotation is int))
    return found
