"""`serkit leaks RECIPE`: how much each leak that inflates published SER results inflates this recipe's.

The recipe runs honestly (the baseline: speaker-independent where the corpus has the speakers for it),
then once with each leak alone (``[leaks]``, :class:`~serkit.core.settings.LeakSettings`): augmented
copies of the test utterances in training (augmenting before the split), the normalisation fitted on
all data, the epoch chosen on the test part, training without a validation part for the epoch count the
test part chose, and a speaker-dependent split. It is an ablation (resumable, the same table, page and
tests) whose every variant says in its own report that it is a leak, never a result; given a published
figure, the table says which leak, if any, it takes to reach it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from serkit.core.errors import SerkitError
from serkit.core.recipe import Recipe, check_run_name, load_recipe
from serkit.core.registry import Registry, get_registry
from serkit.results.folder import AblationFolder
from serkit.results.render import markdown_table, md_text, pct
from serkit.run.planning import prepared_scan
from serkit.run.reporter import Reporter
from serkit.studies.ablate import AblationRow, Sweep, Variant, VariantResult, compare, preflight, run_variants, slug

#: The most folds the honest baseline uses where the recipe's own split is speaker-dependent.
HONEST_FOLDS = 5


@dataclass(frozen=True)
class Leak:
    """One leak: its name, the recipe keys that make it, and why it does not apply to a recipe ("" if it does)."""

    name: str
    keys: tuple[str, ...]
    why_not: Callable[[Recipe], str]


def _torch_only(recipe: Recipe) -> str:
    fitted_once = recipe.model.implement == "estimator"
    return f"model '{recipe.model.name}' is fitted once: it has no epochs" if fitted_once else ""


LEAKS = (
    Leak(
        "augmenting before the split",
        ("leaks.augment_before_split=true",),
        lambda r: "" if r.augment and r.augmentation.mode == "copies" else "the recipe makes no augmented copies",
    ),
    Leak(
        "normalising on all data",
        ("leaks.normalise_on_all=true",),
        lambda r: (
            ""
            if r.normalise.method == "zscore" and r.normalise.scope != "speaker"
            else "the recipe fits no shared z-score"
        ),
    ),
    Leak("choosing the epoch on the test part", ("leaks.select_on_test=true",), _torch_only),
    Leak(
        "no validation part, epochs chosen on the test part",
        ("leaks.select_on_test=true", "train.refit=true"),
        lambda r: _torch_only(r) or ("the recipe calibrates on its validation part" * (r.calibrate.method != "none")),
    ),
)


@dataclass(frozen=True)
class Published:
    """A published figure to place against the audit: ``accuracy`` or ``uar`` as a fraction, and its source."""

    metric: str
    value: float
    source: str = ""

    @classmethod
    def parse(cls, text: str, source: str = "") -> Published:
        """From ``accuracy=91.59`` (a percentage) on the command line."""
        metric, _, value = text.partition("=")
        try:
            number = float(value)
        except ValueError:
            number = -1.0
        if metric not in ("accuracy", "uar") or not 0 < number <= 100:
            raise SerkitError(f"--published: '{text}': expected accuracy=PERCENT or uar=PERCENT, e.g. accuracy=91.59")
        return cls(metric, number / 100, source)


def leak_sweep(path: str | Path, overrides: list[str], registry: Registry, name: str = "") -> tuple[Sweep, list[str]]:
    """The audit as a sweep: the honest baseline first, then each leak that applies; and notes on what was
    changed or left out, for the table."""
    path = Path(path)
    recipe = load_recipe(path, overrides, registry)
    if recipe.leaks.words():
        raise SerkitError(f"recipe '{path}': [leaks] is set; the audit needs the honest recipe to start from")
    notes: list[str] = []
    honest: list[str] = []
    split_leak: list[str] = ["leaks.speaker_dependent_split=true"]
    speakers = len({u.speaker for u in prepared_scan(recipe).utterances})
    own = recipe.protocol
    if speakers < 2:
        split_leak = []
        notes.append(f"the corpus has {speakers} speaker: no speaker-independent split exists, so none is compared")
    elif not own.speaker_independent:
        folds = min(HONEST_FOLDS, speakers)
        honest = [f'protocol={{name = "speaker_kfold", folds = {folds}}}']
        notes.append(
            f"the recipe's own split ('{own.name}') puts the same speakers on both sides: the honest baseline is "
            f"{folds} speaker folds instead, and the recipe's split is the speaker-dependent leak"
        )
    else:
        split_leak.insert(0, 'protocol={name = "random", test_size = 0.2}')
    # Each leak on the honest baseline; the split's leak is a protocol of its own.
    leaks = [(leak.name, honest + list(leak.keys), leak.why_not(recipe)) for leak in LEAKS]
    if split_leak:
        leaks.append(("speaker-dependent split", split_leak, ""))
    variants = [_variant(path, overrides, "honest", 0, honest, registry)]
    for number, (leak, keys, why_not) in enumerate(leaks, 1):
        if why_not:
            notes.append(f"'{leak}' does not apply: {why_not}")
        else:
            variants.append(_variant(path, overrides, leak, number, keys, registry))
    name = name or f"leaks-{recipe.run.name}"
    check_run_name(name, "--name")
    return Sweep(name, path, variants, "Leak audit (not a result)", "Recipe"), notes


def _variant(path: Path, overrides: list[str], name: str, index: int, keys: list[str], registry: Registry) -> Variant:
    try:
        recipe = load_recipe(path, [*overrides, *keys], registry)
    except SerkitError as exc:
        raise SerkitError(f"leak audit of '{path}': '{name}': {exc}") from exc
    return Variant(name, f"{index:02d}-{slug(name)}", keys, recipe)


def run_leak_audit(
    path: str | Path,
    overrides: list[str],
    reporter: Reporter | None = None,
    name: str = "",
    published: Published | None = None,
) -> Path:
    """Run (or resume) the honest baseline and every leak, then write the comparison; returns its folder."""
    reporter = reporter or Reporter()
    registry = get_registry()
    registry.raise_problems()
    sweep, notes = leak_sweep(path, overrides, registry, name)
    preflight(sweep, "leak audit", "leak")
    folder = AblationFolder(sweep.output)
    sweep.output.mkdir(parents=True, exist_ok=True)
    reporter.say(f"leak audit '{sweep.name}': the honest run and {len(sweep.variants) - 1} leak(s) -> {sweep.output}")
    for note in notes:
        reporter.say(f"  {note}", "dim")
    tracker, parent = run_variants(sweep, folder, registry, reporter, "leak audit", "leak")
    results = [VariantResult.read(variant, folder.variant(variant.folder)) for variant in sweep.variants]
    rows = compare(sweep, results, folder, reporter, lambda found: leak_section(found, folder, notes, published))
    for line in verdict(rows, folder, published):
        reporter.say(f"  {line}", "bold")
    if tracker is not None:
        tracker.finish(parent, sweep.output, None, "FINISHED", files=folder.comparison_files())
    return sweep.output


def pooled(folder: AblationFolder, row: AblationRow, metric: str) -> tuple[float, float, float]:
    """A variant's pooled accuracy or UAR with its 95 % interval, from its metrics.json."""
    metrics = folder.variant(row.folder).read_summary().metrics
    low, high = metrics["intervals"][metric]
    return float(metrics[metric]), float(low), float(high)


def leak_section(
    rows: list[AblationRow], folder: AblationFolder, notes: list[str], published: Published | None
) -> list[str]:
    """The audit's own section of the table: what each leak adds, and what a published figure needs."""
    lines = ["", "## Leak audit", ""]
    lines += [f"- {md_text(note)}." for note in notes]
    lines += [
        "- Every row but the first is a leak, marked in its own report: its figure measures the leak and is "
        "never a result. Δ is the inflation over the honest run.",
        "",
    ]
    table = []
    for row in rows:
        accuracy, low, high = pooled(folder, row, "accuracy")
        delta = "" if row is rows[0] else f"{100 * row.delta:+.2f}"
        table.append([md_text(row.variant), f"{pct(accuracy)} [{pct(low)}, {pct(high)}]", *_uar(row), delta])
    header = ["run", "pooled accuracy % [95 % CI]", "pooled UAR % [95 % CI]", "inflation (Δ UAR, points)"]
    lines += [markdown_table(header, table), ""]
    lines += [md_text(line) for line in verdict(rows, folder, published)]
    return [*lines, ""]


def _uar(row: AblationRow) -> list[str]:
    if row.pooled is None:
        return [""]
    return [f"{pct(row.pooled)} [{pct(row.pooled_ci_low)}, {pct(row.pooled_ci_high)}]"]


def verdict(rows: list[AblationRow], folder: AblationFolder, published: Published | None) -> list[str]:
    """Whether the published figure is within the honest run's 95 % interval, and if not, which leaks reach it."""
    if published is None:
        return []
    metric, name = published.metric, "accuracy" if published.metric == "accuracy" else "UAR"
    source = f" ({published.source})" if published.source else ""
    figure = f"the published {pct(published.value)} % {name}{source}"
    honest, low, high = pooled(folder, rows[0], metric)
    if published.value <= high:
        return [f"{figure[0].upper()}{figure[1:]} is within reach of the honest run ({_range(honest, low, high)})."]
    reaching = []
    for row in rows[1:]:
        value, low_, high_ = pooled(folder, row, metric)
        if published.value <= high_:
            reaching.append(f"{row.variant} ({_range(value, low_, high_)})")
    start = f"{figure[0].upper()}{figure[1:]} is above the honest run's 95 % interval ({_range(honest, low, high)}); "
    if reaching:
        return [start + "it is reachable only with a leak: " + "; ".join(reaching) + "."]
    return [start + "no single leak measured here reaches it either."]


def _range(value: float, low: float, high: float) -> str:
    return f"{pct(value)} % [{pct(low)}, {pct(high)}]"
