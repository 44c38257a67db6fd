"""`serkit tune`: hyperparameter search on Ray Tune, selected on validation parts only.

A search file names a base recipe and a search space over any recipe keys::

    [tune]
    name = "tune-crnn"
    base = "paper-emodb.toml"      # relative to this file
    metric = "val_uar"             # val_uar, val_accuracy, val_ccc (a regression's default), val_loss; never test
    trials = 16                    # budget: trials ...
    time_budget_s = 0              # ... and seconds (0: no limit)
    search = "optuna"              # random or optuna (TPE)
    scheduler = "asha"             # asha (stops poor trials early) or fifo
    grace_epochs = 2               # ASHA: epochs every trial trains before it can be stopped
    reduction_factor = 2
    concurrent = 0                 # trials trained at once (0: as many as the CPUs fit; 1: one by one)
    set = []                       # overrides of the base, for every trial

    [space]
    "train.learning_rate" = { loguniform = [1e-5, 1e-2] }
    "model.lstm_units" = { choice = [64, 128, 256] }
    "model.dropout" = { uniform = [0.1, 0.5] }
    "train.batch_size" = { randint = [8, 32] }   # both ends included

Every trial is a run folder under ``<run.output>/<name>/trials/`` trained in validation-only mode:
its test parts are never normalised, predicted or scored. A trial's score is the mean, over its
folds, of the metric at each fold's kept (best-validation) epoch; ASHA compares trials epoch by
epoch. The best complete trial's recipe is written to ``best.toml`` and run once normally.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from serkit.core.errors import SerkitError
from serkit.core.fileio import write_json, write_text
from serkit.core.recipe import Recipe, check_run_name, read_toml
from serkit.core.registry import Registry, get_registry
from serkit.data.cache import cache_folder
from serkit.data.split import FoldPlan
from serkit.results.folder import BEST_RECIPE, RunFolder, SearchFolder
from serkit.run.reporter import Reporter
from serkit.studies.tables import SEARCH_METRICS, TuneTable, known_tables, layered_recipe, read_table

DISTRIBUTIONS = ("choice", "uniform", "loguniform", "randint")


@dataclass(frozen=True)
class Dimension:
    key: str
    kind: str
    values: list[Any]

    def sample_space(self) -> Any:
        """The Ray Tune distribution."""
        from ray import tune

        if self.kind == "choice":
            return tune.choice(self.values)
        low, high = self.values
        if self.kind == "uniform":
            return tune.uniform(low, high)
        if self.kind == "loguniform":
            return tune.loguniform(low, high)
        return tune.randint(low, high + 1)  # both ends included

    def examples(self) -> list[Any]:
        """Values that every trial's recipe must accept: each choice, or both ends of a range."""
        return list(self.values)


@dataclass(frozen=True)
class TrialRecipes:
    """How a trial's recipe is made: the base recipe, the search file's shared overrides, the command
    line's, then the trial's values; every folder in it absolute (trials run in Ray workers whose
    working directory is their trial folder)."""

    base: Path
    shared: list[str]
    file_folder: Path
    overrides: list[str]
    workdir: Path  # the folder `serkit tune` ran in: --set values and relative run folders are read from it

    def __call__(self, config: dict[str, Any], registry: Registry) -> Recipe:
        own = [f"{key}={json.dumps(value)}" for key, value in config.items()]
        recipe = layered_recipe(self.base, self.shared, self.file_folder, self.overrides, own, self.workdir, registry)
        run = recipe.run
        cache_dir = str(self.workdir / run.cache_dir) if run.cache_dir else ""
        return replace(recipe, run=replace(run, output=str(self.workdir / run.output), cache_dir=cache_dir))


@dataclass(frozen=True)
class Search:
    """A checked search file: its space, its [tune] table and the base recipe."""

    name: str
    path: Path
    space: list[Dimension]
    table: TuneTable
    recipes: TrialRecipes
    #: The base recipe with the shared overrides.
    recipe: Recipe

    @property
    def base(self) -> Path:
        return self.recipes.base

    @property
    def metric(self) -> str:
        return self.table.metric

    @property
    def mode(self) -> str:
        return SEARCH_METRICS[self.table.metric]

    @property
    def output(self) -> Path:
        return Path(self.recipe.run.output) / self.name  # absolute: see TrialRecipes

    def trial_recipe(self, config: dict[str, Any], registry: Registry) -> Recipe:
        """The base recipe with a trial's values."""
        return self.recipes(config, registry)


def parse_dimension(key: str, spec: Any, where: str) -> Dimension:
    if not isinstance(spec, dict) or len(spec) != 1 or next(iter(spec)) not in DISTRIBUTIONS:
        raise SerkitError(
            f'{where}."{key}": expected one of {{ choice = [...] }}, {{ uniform = [low, high] }}, '
            "{ loguniform = [low, high] }, { randint = [low, high] }"
        )
    kind, values = next(iter(spec.items()))
    if not isinstance(values, list) or not values:
        raise SerkitError(f'{where}."{key}".{kind}: expected a non-empty list')
    if kind != "choice":
        numbers = len(values) == 2 and all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
        if not numbers or values[0] >= values[1]:
            raise SerkitError(f'{where}."{key}".{kind}: expected [low, high] with low < high')
        if kind == "loguniform" and values[0] <= 0:
            raise SerkitError(f'{where}."{key}".loguniform: the low end must be > 0')
        if kind == "randint" and not all(isinstance(v, int) for v in values):
            raise SerkitError(f'{where}."{key}".randint: expected whole numbers')
    return Dimension(key, kind, values)


def load_search(path: str | Path, overrides: list[str], registry: Registry) -> Search:
    """Read a search file; the base recipe is validated with every choice and both ends of every range."""
    where = f"search '{path}'"
    path = Path(path).absolute()
    raw = read_toml(path, "search")
    known_tables(raw, ("tune", "space"), where)
    if not isinstance(raw.get("tune"), dict) or "base" not in raw["tune"]:
        raise SerkitError(f'{where}: needs a [tune] table with base = "paper.toml" (the recipe whose keys it searches)')
    metric = str(raw["tune"].get("metric", ""))
    if metric.startswith("test"):
        raise SerkitError(
            f"{where}: tune.metric: '{metric}' is not one of {', '.join(SEARCH_METRICS)} (a test metric can never "
            "select: the test parts are not scored while tuning)"
        )
    head = read_table(TuneTable, raw["tune"], f"{where}: tune")
    space_table = raw.get("space")
    if not isinstance(space_table, dict) or not space_table:
        raise SerkitError(
            f'{where}: needs a [space] table, e.g. "train.learning_rate" = {{ loguniform = [1e-5, 1e-2] }}'
        )
    space = [parse_dimension(key, spec, f"{where}: space") for key, spec in space_table.items()]
    name = head.name or path.stem
    check_run_name(name, f"{where}: tune.name")
    recipes = TrialRecipes(path.parent / head.base, list(head.set), path.parent, list(overrides), Path.cwd())
    try:
        recipe = recipes({}, registry)
    except SerkitError as exc:
        raise SerkitError(f"{where}: base recipe: {exc}") from exc
    head = replace(head, metric=_task_metric(head.metric, "metric" in raw["tune"], recipe.task.kind, where))
    for dimension in space:
        for value in dimension.examples():
            try:
                recipes({dimension.key: value}, registry)
            except SerkitError as exc:
                raise SerkitError(f'{where}: space."{dimension.key}" = {value!r}: {exc}') from exc
    return Search(name, path, space, head, recipes, recipe)


def _task_metric(metric: str, given: bool, task: str, where: str) -> str:
    """The searched metric, fit for the task: a regression selects on ``val_ccc`` unless told otherwise."""
    regression = task == "regression"
    if regression and not given:
        return "val_ccc"
    if regression and metric in ("val_uar", "val_accuracy"):
        raise SerkitError(
            f'{where}: tune.metric: \'{metric}\' scores classes; a regression selects on "val_ccc" or "val_loss"'
        )
    if not regression and metric == "val_ccc":
        raise SerkitError(f"{where}: tune.metric: 'val_ccc' scores a regression; task.kind is \"{task}\" (use val_uar)")
    return metric


def run_search(path: str, overrides: list[str], reporter: Reporter | None = None) -> Path:
    """Run the search, write its report, run the best recipe once; returns the search folder."""
    from serkit.run.executors.ray import RayExecutor, import_ray, probe_address

    import_ray("serkit tune")
    reporter = reporter or Reporter()
    registry = get_registry()
    registry.raise_problems()
    search = load_search(path, overrides, registry)
    if search.table.search == "optuna":
        _import_optuna()
    probe_address(search.recipe.ray.address)  # before the search folder exists
    output = search.output
    output.mkdir(parents=True, exist_ok=True)
    folder = SearchFolder(output)
    base = search.recipe
    reporter.say(
        f"tune '{search.name}': {search.table.trials} trial(s) over {', '.join(d.key for d in search.space)}; "
        f"{search.table.search} search, {search.table.scheduler} scheduler, {search.mode}imise mean {search.metric} "
        f"over validation parts -> {output}",
        "bold",
    )
    started = time.perf_counter()
    with RayExecutor(base.run.threads, base.ray, reporter) as executor:
        executor.check_storage([cache_folder(base.run.cache_dir), output])
        _warm_cache(search, registry, reporter, executor)
        grid = _tune(search, registry, executor.threads)
    trials = _trials(search, grid)
    complete = [t for t in trials if t.status == "complete"]
    if not complete:
        failed = [t for t in trials if t.status == "failed"]
        why = f" ({len(failed)} failed; trial {failed[0].trial}: {failed[0].error})" if failed else ""
        raise SerkitError(f"tune '{search.name}': no trial finished all its folds{why}; see {folder.trials_folder}")
    sign = 1 if search.mode == "max" else -1
    best = max(complete, key=lambda t: sign * t.score)
    best_recipe = search.trial_recipe(best.config, registry)
    best_recipe = replace(best_recipe, run=replace(best_recipe.run, name=f"{search.name}-best"))
    write_text(folder.best_recipe, best_recipe.to_toml())
    seconds = time.perf_counter() - started
    trials_record = {"metric": search.metric, "mode": search.mode, "trials": [asdict(t) for t in trials]}
    write_json(folder.trials, trials_record)
    reporter.say(
        f"best trial {best.trial}: mean {search.metric} {best.score:.4f} over {best.folds} fold(s) "
        f"({', '.join(f'{k}={v!r}' for k, v in best.config.items())}); running it once, now scoring the test parts",
        "bold",
    )
    from serkit.run.runner import execute, new_run_dir

    final_dir = new_run_dir(str(output), best_recipe.run.name)
    summary = execute(best_recipe, final_dir, registry=registry, reporter=reporter)
    report = _report(search, trials, best, final_dir, summary.metrics, summary.protocol, seconds)
    write_text(folder.report, report)
    reporter.say(f"search report: {folder.report}; best recipe: {folder.best_recipe}")
    return output


def _warm_cache(search: Search, registry: Registry, reporter: Reporter, executor: Any) -> None:
    """The base recipe's features, computed once on the cluster before the trials start (trials whose
    values change no feature setting then only read the cache)."""
    from serkit.run import stages

    run = SearchFolder(search.output).features
    run.write_recipe(search.recipe.to_toml())
    ctx = stages.Context(search.recipe, run, registry, reporter)
    corpus = stages.scan(ctx)
    plans, _ = stages.split(ctx, corpus)
    stages.features(ctx, corpus, plans, precompute=executor.precompute(run)).close()


def _import_optuna() -> Any:
    try:
        import optuna
    except ImportError:
        raise SerkitError(
            "tune.search: 'optuna' needs Optuna, which is not installed: pip install 'serkit[ray]' "
            '(or search = "random")'
        ) from None
    return optuna


def _tune(search: Search, registry: Registry, threads: int) -> Any:
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler

    recipe = search.recipe
    max_t = _folds_upper_bound(search, registry) * recipe.train.max_epochs + 1  # the last step: the mean over folds
    scheduler = None
    if search.table.scheduler == "asha":
        scheduler = ASHAScheduler(
            time_attr="step",
            max_t=max_t,
            grace_period=min(search.table.grace_epochs, max_t),
            reduction_factor=search.table.reduction_factor,
        )
    search_alg: Any = None
    if search.table.search == "optuna":
        from ray.tune.search.optuna import OptunaSearch

        optuna = _import_optuna()
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        search_alg = OptunaSearch(seed=recipe.run.seed)
    else:
        from ray.tune.search.basic_variant import BasicVariantGenerator

        search_alg = BasicVariantGenerator(random_state=recipe.run.seed)
    space = {d.key: d.sample_space() for d in search.space}
    trainable = tune.with_resources(
        _trainable(search, threads), {"cpu": recipe.ray.num_cpus, "gpu": recipe.ray.num_gpus}
    )
    tuner = tune.Tuner(
        trainable,
        param_space=space,
        tune_config=tune.TuneConfig(
            metric="score",
            mode=search.mode,
            num_samples=search.table.trials,
            time_budget_s=search.table.time_budget_s or None,
            search_alg=search_alg,
            scheduler=scheduler,
            max_concurrent_trials=search.table.concurrent or None,
        ),
        run_config=tune.RunConfig(
            name="ray", storage_path=str(search.output), verbose=0, failure_config=tune.FailureConfig(max_failures=1)
        ),
    )
    return tuner.fit()


def _folds_upper_bound(search: Search, registry: Registry) -> int:
    """How many folds a trial trains (ASHA's horizon is folds x epochs)."""
    from serkit.run.planning import plan_run, prepared_scan

    recipe = search.recipe
    found = prepared_scan(recipe)
    plans, _ = plan_run(recipe, found.utterances)
    return len(plans)


def _trainable(search: Search, threads: int) -> Any:
    """The function Ray Tune runs for each trial (in a worker process)."""

    def trial(config: dict[str, Any]) -> None:
        from ray import tune

        from serkit.run.jobs import torch_threads

        context = tune.get_context()
        with torch_threads(threads):
            validation_run(search, config, SearchFolder(search.output).trial(context.get_trial_id()), tune.report)

    return trial


def validation_run(search: Search, config: dict[str, Any], run: RunFolder, report: Any) -> dict[str, Any]:
    """One trial: every fold trained with its validation part, the test parts untouched; reports each
    epoch's metric (``step`` = fold index x max_epochs + epoch) and, last, the mean over folds."""
    from serkit.run import stages
    from serkit.run.jobs import logging_to
    from serkit.run.runner import describe_protocol

    registry = get_registry()
    recipe = search.trial_recipe(config, registry)
    record = SearchFolder(search.output).trial_record(run.name)
    run.write_recipe(recipe.to_toml())
    write_json(record, {"config": config, "status": "running"})
    max_epochs = recipe.train.max_epochs
    with logging_to(run.log):
        index: dict[str, int] = {}

        def on_epoch(plan: FoldPlan, row: dict[str, float]) -> None:
            step = index[plan.id] * max_epochs + int(row["epoch"])
            report({"step": step, "score": row[search.metric], "fold": plan.id, "complete": False})

        ctx = stages.Context(recipe, run, registry, Reporter(), on_epoch=on_epoch)
        corpus = stages.scan(ctx)
        plans, _ = stages.split(ctx, corpus)
        index.update({plan.id: k for k, plan in enumerate(plans)})
        scores = []
        with stages.features(ctx, corpus, plans, workers=1) as made:
            for plan in plans:
                fold = stages.train_fold(ctx, plan, made.store, corpus, test=False)
                scores.append(fold.history[fold.best_epoch - 1][search.metric])
        result = {
            "config": config,
            "status": "complete",
            "protocol": describe_protocol(recipe, corpus),
            "folds": {plan.id: score for plan, score in zip(plans, scores, strict=True)},
            "score": sum(scores) / len(scores),
        }
        write_json(record, result)
    report({"step": len(plans) * max_epochs + 1, "score": result["score"], "complete": True, "folds": len(plans)})
    return result


@dataclass(frozen=True)
class Trial:
    """One trial of a search, as trials.json and the report give it."""

    trial: str
    config: dict[str, Any]
    #: complete, stopped early (by the scheduler) or failed.
    status: str
    #: The mean over folds of the searched metric (complete), its last value (stopped early), or NaN.
    score: float
    steps: int
    folds: int
    error: str


def _trials(search: Search, grid: Any) -> list[Trial]:
    """Every trial: its values, whether it finished (or was stopped early, or failed), its score."""
    trials = []
    for result in grid:
        metrics = result.metrics or {}
        trial_id = metrics.get("trial_id") or Path(result.path).name
        config = {d.key: result.config.get(d.key) for d in search.space}
        if result.error is not None:
            status, score = "failed", math.nan
        elif metrics.get("complete"):
            status, score = "complete", float(metrics["score"])
        else:
            status, score = "stopped early", float(metrics.get("score", math.nan))
        saved = SearchFolder(search.output).trial_record(str(trial_id))
        if status != "complete" and saved.is_file():
            write_json(
                saved, {"config": config, "status": status, "last_score": score, "steps": metrics.get("step", 0)}
            )
        trials.append(
            Trial(
                trial=str(trial_id),
                config=config,
                status=status,
                score=score,
                steps=int(metrics.get("step", 0)),
                folds=int(metrics.get("folds", 0)) if status == "complete" else 0,
                error=_failure(result.error) if result.error is not None else "",
            )
        )
    return trials


def _failure(error: BaseException) -> str:
    """A failed trial's error in one line (Ray wraps it: the cause is the trial's own exception)."""
    from serkit.run.jobs import describe_failure

    cause = getattr(error, "cause", None)
    lines = describe_failure(cause or error).strip().splitlines() or [type(error).__name__]
    return lines[0] if cause else lines[-1]  # without a cause, Ray's text is a traceback: its last line


def _value(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else json.dumps(value)


def _report(
    search: Search,
    trials: list[Trial],
    best: Trial,
    final_dir: Path,
    metrics: dict[str, Any],
    protocol: str,
    seconds: float,
) -> str:
    from serkit.results.render import markdown_table, md_text

    keys = [d.key for d in search.space]
    sign = 1 if search.mode == "max" else -1
    ordered = sorted(trials, key=lambda t: (t.status != "complete", -sign * t.score if t.score == t.score else 0))
    rows = [
        [str(t.trial), *[md_text(_value(t.config[k])) for k in keys], t.status, f"{t.score:.4f}", str(t.steps)]
        for t in ordered
    ]
    stopped = sum(t.status == "stopped early" for t in trials)
    lines = [
        f"# Search `{search.name}`",
        "",
        f"- **Search file:** `{search.path.absolute()}`; base recipe `{search.base.absolute()}`",
        f"- **Selection:** {search.mode}imum of the mean {search.metric} over each trial's validation parts "
        f"({search.table.search} search, {search.table.scheduler} scheduler; {len(trials)} trials, "
        f"{stopped} stopped early; "
        f"{seconds:.0f} s).",
        "- **The test parts played no part in the selection:** trials were trained in validation-only mode "
        "(test parts neither normalised, predicted nor scored); the best recipe was then run once, and only "
        "that run scored its test parts.",
        f"- **Protocol:** {md_text(protocol)}",
        "",
        markdown_table(["trial", *keys, "status", f"mean {search.metric}", "steps"], rows),
        "",
        "## The best recipe, run once",
        "",
        f"Trial {best.trial} (`{BEST_RECIPE}`), run folder `{final_dir}`: {_test_figures(metrics)} on the test parts.",
        "",
    ]
    return "\n".join(lines)


def _test_figures(metrics: dict[str, Any]) -> str:
    """The final run's pooled test figures in words: accuracy and UAR, or a regression's CCC per target."""
    if metrics.get("task") == "regression":
        per_target = ", ".join(f"{t} {metrics['per_target'][t]['ccc']:.3f}" for t in metrics["targets"])
        return f"CCC {metrics['ccc']:.3f} (mean over {per_target})"
    return f"accuracy {100 * metrics['accuracy']:.2f} %, UAR {100 * metrics['uar']:.2f} %"
