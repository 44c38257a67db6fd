"""`serkit audit PATH`'s split audit: what the parts of a run's split (or of any split file) share,
computed from the dataset and the feature cache; a run does the same when it splits."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from serkit.core.errors import SerkitError
from serkit.core.recipe import load_recipe
from serkit.core.registry import get_registry
from serkit.data.leakage import SplitAudit
from serkit.results.folder import RunFolder
from serkit.run import stages
from serkit.run.planning import reload_plan
from serkit.run.reporter import Reporter


def audit_split_file(
    path: str | Path,
    recipe_file: str | Path | None = None,
    overrides: list[str] | None = None,
    reporter: Reporter | None = None,
) -> SplitAudit:
    """The split audit of a run folder (its recipe.toml and split.json) or of a split file (with the
    recipe given, or the recipe.toml beside it): the dataset is scanned, the files hashed and the
    original utterances' features read from the cache (computed where missing)."""
    reporter = reporter or Reporter()
    path = Path(path)
    run = RunFolder(path) if path.is_dir() else None
    split_file = run.split if run else path
    if not split_file.is_file():
        raise SerkitError(f"{path}: no split file to audit ({split_file.name} is missing)")
    if run is not None and not run.is_complete():
        raise SerkitError(
            f"{run}: not a finished run (no {run.metrics.name}); audit needs a complete run (its split alone: "
            f"serkit audit {run.split})"
        )
    recipe_path = Path(recipe_file) if recipe_file else (run.recipe if run else RunFolder(path.parent).recipe)
    if not recipe_path.is_file():
        raise SerkitError(
            f"{path}: no recipe names the dataset and features this split is of (give --recipe; {recipe_path} "
            "does not exist)"
        )
    registry = get_registry()
    registry.raise_problems()
    # a run folder's recipe.toml (absolute paths; older ones relative to where the run started) or the user's file
    base = Path.cwd() if recipe_file is None and run is not None else None
    recipe = load_recipe(recipe_path, overrides or [], registry, file_base=base)
    recipe = replace(recipe, augment=[])  # the originals are what parts share
    ctx = stages.Context(recipe, run or RunFolder(path.parent), registry, reporter)
    corpus = stages.scan(ctx)
    plans = reload_plan(recipe, corpus.utterances, split_file)
    with stages.features(ctx, corpus, plans) as made:
        return stages.audit_split(ctx, corpus, plans, made)
