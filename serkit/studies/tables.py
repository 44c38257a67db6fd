"""The tables of sweep and search files, declared with ``param()`` and validated like ``[train]``
(unknown keys named with a suggestion, types, ranges and choices checked), and the layered loading of
the base recipe both use: the base file, then the file's shared ``set``, then ``--set``, then a
variant's or a trial's own values."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from serkit.core.errors import SerkitError
from serkit.core.params import param, validate_params
from serkit.core.recipe import Recipe, load_recipe
from serkit.core.registry import Registry

T = TypeVar("T")

#: The validation metrics a search can select on (and whether larger is better).
#: What a search may select on (validation parts only), and which way; ``val_ccc`` is a regression's.
SEARCH_METRICS = {"val_uar": "max", "val_accuracy": "max", "val_ccc": "max", "val_loss": "min"}


@dataclass(frozen=True, kw_only=True)
class SweepTable:
    """``[sweep]``: the base recipe and what every variant shares."""

    base: str = param(help="the recipe each variant changes, relative to the sweep file")
    name: str = param("", "the sweep's name (its folder under run.output); empty: the file's name")
    baseline: str = param("baseline", "the name of the baseline row (the base recipe with the shared set)")
    set: list[str] = param([], "KEY=VALUE overrides for every variant, the baseline included")


@dataclass(frozen=True, kw_only=True)
class VariantTable:
    """``[[variant]]``: one row of the ablation."""

    name: str = param(help="the variant's name")
    set: list[str] = param([], "KEY=VALUE overrides of this variant")


@dataclass(frozen=True, kw_only=True)
class TuneTable:
    """``[tune]``: the base recipe, what to select on, and how to search."""

    base: str = param(help="the recipe whose keys are searched, relative to the search file")
    name: str = param("", "the search's name (its folder under run.output); empty: the file's name")
    metric: str = param(
        "val_uar",
        "what selects the best trial: its mean over the validation parts (the test parts are never scored); "
        "a regression's default is val_ccc",
        choices=tuple(SEARCH_METRICS),
    )
    trials: int = param(8, "the most trials to run (with time_budget_s, whichever ends first)", ge=1)
    time_budget_s: float = param(0.0, "stop starting trials after this many seconds; 0: no limit", ge=0)
    search: str = param("optuna", "how trials are chosen", choices=("random", "optuna"))
    scheduler: str = param("asha", "asha stops poor trials early; fifo runs each to the end", choices=("asha", "fifo"))
    grace_epochs: int = param(1, "epochs every trial trains before ASHA may stop it", ge=1)
    reduction_factor: int = param(2, "ASHA keeps 1 in this many trials at each rung", ge=2)
    concurrent: int = param(0, "trials at once; 0: as many as the cluster's CPUs allow", ge=0)
    set: list[str] = param([], "KEY=VALUE overrides for every trial")


def read_table(cls: type[T], table: object, where: str) -> T:
    """A declared table from a file's TOML table, or one line naming the key at fault."""
    if not isinstance(table, Mapping):
        raise SerkitError(f"{where}: expected a table")
    values = validate_params(cls, table, where)
    for key in ("set",):
        if key in values and not all(isinstance(v, str) and "=" in v for v in values[key]):
            raise SerkitError(f'{where}.{key}: expected a list of "KEY=VALUE" strings')
    return cls(**values)


def layered_recipe(
    base: Path,
    shared: Sequence[str],
    file_folder: Path,
    overrides: Sequence[str],
    own: Sequence[str],
    own_folder: Path,
    registry: Registry,
) -> Recipe:
    """The base recipe with, in order, the file's shared overrides (paths read from the file's
    folder), the command line's (from the working directory) and a variant's or trial's own."""
    layers: list[tuple[Sequence[str], Path]] = [(shared, file_folder), (overrides, Path.cwd()), (own, own_folder)]
    return load_recipe(base, (), registry, layers=layers)


def known_tables(raw: Mapping[str, Any], known: tuple[str, ...], where: str) -> None:
    """Every top-level table of a sweep or search file is one it may hold."""
    from serkit.core.suggest import did_you_mean

    for key in raw:
        if key not in known:
            raise SerkitError(f"{where}: {key}: unknown table{did_you_mean(key, known)} ({', '.join(known)})")


def inline_toml(value: Any) -> str:
    """A value as TOML inline syntax (what --set reads)."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key} = {inline_toml(v)}" for key, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(inline_toml(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value) if isinstance(value, str) else repr(value)
