"""The stages of a run: scan → split → features → per-fold training. Outputs are in :mod:`.outputs`.

Each stage is a function of a :class:`Context` (the recipe, the run folder, how to name a
failing plugin, how to report, who observes epochs) and typed records, and returns what it makes:
:func:`scan` a :class:`Corpus`, :func:`split` the folds and their warnings, :func:`features` a
:class:`FeatureSet`, :func:`train_fold` a :class:`FoldResult`. None changes the context, and none
touches the terminal directly.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from serkit.core.components import Component, Model, Utterance
from serkit.core.errors import SerkitError
from serkit.core.estimator import EstimatorLearner
from serkit.core.faults import crash_point, failing_fold
from serkit.core.fileio import JSONObject
from serkit.core.guard import guarded
from serkit.core.learner import Features, FitContext, FitOutcome, Learner, Transform
from serkit.core.recipe import Recipe
from serkit.core.registry import Registry
from serkit.core.seeding import seed_globals
from serkit.data import audio
from serkit.data.cache import ArrayCache, cache_folder, file_digest
from serkit.data.cache_index import cache_lock, record_use
from serkit.data.compute import compute_features
from serkit.data.leakage import SplitAudit, fingerprints, near_pairs
from serkit.data.leakage import audit_split as split_leakage
from serkit.data.normalise import GroupNormalised, ZScore, fit_groups, fit_normaliser
from serkit.data.online import OnlineFeatures
from serkit.data.pipeline import Item, Pipeline, preprocessed
from serkit.data.split import FoldPlan, SplitFile
from serkit.data.store import FeatureStore
from serkit.learn.build import make_learner
from serkit.learn.calibration import Calibration, calibrate
from serkit.learn.explain import occlusion_map, permutation_importance_of
from serkit.results.folder import RunFolder
from serkit.results.metrics import evaluate
from serkit.results.records import Corpus, FoldResult, FoldSizes
from serkit.results.regression import regression_metrics
from serkit.run.planning import as_number, plan_run, prepared_scan, protocol_words, reload_plan
from serkit.run.reporter import Reporter, log

if TYPE_CHECKING:
    from serkit.learn.device_examples import DeviceFeatures

T = TypeVar("T")


@dataclass
class StageTimer:
    """Wall time per stage, in the order the stages ran."""

    seconds: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[stage] = self.seconds.get(stage, 0.0) + time.perf_counter() - start


#: Called after every epoch of every fold with the fold and the epoch's row (a search reports it).
EpochObserver = Callable[[FoldPlan, dict[str, float]], None]


@dataclass(frozen=True)
class Context:
    """What every stage of one run needs; the stages read it and never change it."""

    recipe: Recipe
    run: RunFolder
    registry: Registry
    reporter: Reporter
    timer: StageTimer = field(default_factory=StageTimer)
    #: How the trainings are executed (environment.json keeps it).
    execution: JSONObject = field(default_factory=dict)
    on_epoch: EpochObserver | None = None

    @property
    def run_dir(self) -> Path:
        return self.run.path

    def guarded(self, component: Component, action: Callable[[], T], doing: str = "") -> T:
        """Run plugin code, naming the component and its distribution if it fails."""
        return guarded(self.registry.culprit(component), action, doing)


def scan(ctx: Context) -> Corpus:
    """The dataset's utterances (after the protocol's adjustments), unreadable files checked."""
    recipe, say = ctx.recipe, ctx.reporter.say
    dataset = recipe.dataset
    found = prepared_scan(recipe, lambda component, action: ctx.guarded(component, action))
    notes = list(found.notes) + list(found.warnings)
    for note in found.notes:
        say(f"  dataset: {note}", "dim")
    for warning in found.warnings:
        say(f"  dataset warning: {warning}", "yellow")
    readable, unreadable = [], []
    with ctx.reporter.progress("check audio", len(found.utterances)) as task:
        for utterance in found.utterances:
            try:
                audio.read(utterance.path)  # header and samples: what the feature stage will decode
                readable.append(utterance)
            except SerkitError as exc:
                if not recipe.run.skip_unreadable:
                    raise SerkitError(
                        f"{exc} (set run.skip_unreadable=true or pass --skip-unreadable to leave it out)"
                    ) from exc
                unreadable.append(str(exc))
            task.advance()
    for problem in unreadable:
        say(f"  skipped unreadable file: {problem}", "yellow")
    if unreadable:
        notes.append(f"skipped {len(unreadable)} unreadable file(s): " + "; ".join(unreadable))
    if not readable:
        raise SerkitError(f"dataset.root: no readable audio files under '{dataset.location()}'")
    labels = [label for label in found.labels if any(u.label == label for u in readable)]
    empty = [label for label in found.labels if label not in labels]
    none_for = f"; no readable file is labelled {', '.join(empty)}" if empty else ""
    if len(labels) < 2 and recipe.task.kind != "regression":
        raise SerkitError(
            f"dataset.root: the readable files under '{dataset.location()}' hold {len(labels)} class(es) "
            f"({', '.join(labels) or 'none'}){none_for}; a classifier needs at least two, and its accuracy "
            "would mean nothing"
        )
    if empty:
        say(f"  left out: no readable file is labelled {', '.join(empty)}", "yellow")
        notes.append(f"classes with no readable file, left out: {', '.join(empty)}")
    if recipe.task.kind == "regression":
        readable, dropped = with_targets(readable, recipe.task.targets, dataset.location())
        if dropped:
            say(f"  left out: {dropped}", "yellow")
            notes.append(f"left out: {dropped}")
    if recipe.task.kind == "joint":
        with_targets(readable, recipe.task.targets, dataset.location(), any_target=True)  # some, at least
        lacking = sum(not all(np.isfinite(as_number(u.meta.get(t))) for t in recipe.task.targets) for u in readable)
        if lacking:
            notes.append(
                f"{lacking} utterance(s) lack a number for some target of {', '.join(recipe.task.targets)}: they "
                "train the class head, and the regression head on the targets they have, and are scored by class only"
            )
    return Corpus(readable, labels, notes)


def with_targets(
    utterances: list[Utterance], targets: list[str], root: str, any_target: bool = False
) -> tuple[list[Utterance], str]:
    """The utterances that have a finite number for every regression target (``any_target``: for one of them), and
    what was left out; none is an error."""
    found = any if any_target else all
    kept = [u for u in utterances if found(np.isfinite(as_number(u.meta.get(t))) for t in targets)]
    if not kept:
        present = sorted({key for u in utterances for key in u.meta})
        raise SerkitError(
            f"task.targets: no utterance under '{root}' has a number for {'any' if any_target else 'each'} of "
            f"{', '.join(targets)} (its metadata columns: {', '.join(present) or 'none'})"
        )
    missing = len(utterances) - len(kept)
    return kept, f"{missing} utterance(s) without a number for each of {', '.join(targets)}" if missing else ""


def builds_torch(model: Model) -> bool:
    """Whether a model's training needs torch (a torch model; not a scikit-learn estimator)."""
    from serkit.core.estimator import EstimatorModel

    return not isinstance(model, EstimatorModel)


def make_fold_learner(recipe: Recipe, shape: tuple[int, ...], labels: list[str], seed: int) -> Learner:
    """The recipe's model for one fold: one output per class, per regression target, or (joint) both."""
    task = recipe.task
    outputs = {"regression": len(task.targets), "joint": len(labels) + len(task.targets)}.get(task.kind, len(labels))
    weights = (task.weights[0], task.weights[1])
    return make_learner(recipe.model, shape, outputs, seed, task.kind, task.loss, len(labels), weights)


def split(ctx: Context, corpus: Corpus, split_file: Path | None = None) -> tuple[list[FoldPlan], list[str]]:
    """Plan the folds (or reload a saved split), write split.json, and return the folds and the
    protocol's warnings (for the report's notes)."""
    recipe = ctx.recipe
    warnings: list[str] = []
    if split_file:
        plans = reload_plan(recipe, corpus.utterances, split_file)
        ctx.reporter.say(f"  split: reused {split_file}")
    else:
        plans, warnings = plan_run(recipe, corpus.utterances, ctx.registry.culprit(recipe.protocol))
        for warning in warnings:
            ctx.reporter.say(f"  protocol warning: {warning}", "yellow")
    description = protocol_words(recipe, corpus.utterances)
    ctx.run.write_split(SplitFile.of(plans, corpus.utterances, recipe.dataset.location(), description))
    return plans, warnings


@dataclass
class FeatureSet:
    """What the feature stage made: the store training reads (closed by the caller), each file's
    content digest, where the cache and its pipeline record are, and notes for the report."""

    store: FeatureStore
    hashes: list[str]
    #: The cache folder and pipeline id (environment.json keeps them).
    cache: dict[str, str]
    notes: list[str]

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> FeatureSet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


#: Computes missing cache entries before the feature stage reads them (the Ray executor spreads them
#: over the cluster): called with the pipeline, the files, their hashes, the items and the cache folder.
Precompute = Callable[[Pipeline, list[str], list[str], list[Item], Path], None]


def features(
    ctx: Context,
    corpus: Corpus,
    plans: list[FoldPlan],
    *,
    hashes: list[str] | None = None,
    workers: int = 0,
    precompute: Precompute | None = None,
    store_folder: Path | None = None,
) -> FeatureSet:
    """Features of every original and every augmented training copy any fold needs: cached, and
    written to a store on disk that training reads a batch at a time (the caller closes it).
    ``hashes`` (the files' digests) are computed when not given; ``workers`` overrides run.workers;
    the store's file goes to ``store_folder`` (default: the cache's tmp/ folder)."""
    recipe = ctx.recipe
    utterances = corpus.utterances
    items: set[Item] = {(i, None) for i in range(len(utterances))}
    for plan in plans:
        items |= set(fold_parts(plan, fixed_copies(recipe), test=False, leaked=leaked_copies(recipe))["fit"])
    root = cache_folder(recipe.run.cache_dir)
    workers = workers or recipe.run.workers or os.cpu_count() or 1
    pipeline = run_pipeline(recipe, ctx.registry)
    paths = [u.path for u in utterances]
    if hashes is None:
        with ctx.timer("hash files"):
            hashes = [file_digest(p) for p in paths]
    ordered = sorted(items, key=_item_order)
    if precompute is not None:
        with ctx.timer("features"):
            precompute(pipeline, paths, hashes, ordered, root)
    with (
        ctx.timer("features"),
        cache_lock(root, exclusive=False),
        ctx.reporter.progress("features", len(items), f"{workers} worker(s)") as task,
    ):
        record_use(root, pipeline.id, pipeline.describe(), pipeline.entries(hashes, ordered))
        store = FeatureStore(ordered, paths, store_folder or root / "tmp", hashes=hashes, cache=root)
        try:
            found: list[str] = []
            stored = 0

            def keep(item: Item, array: np.ndarray) -> None:
                nonlocal stored
                store.put(item, array)
                stored += 1
                if stored == len(ordered) // 2:
                    crash_point("features")

            compute_features(pipeline, paths, hashes, ordered, ArrayCache(root), workers, task.advance, keep, found)
        except BaseException:
            store.close()
            raise
    for note in found:
        ctx.reporter.say(f"  features: {note}", "yellow")
    ctx.reporter.say(f"  features: {len(items)} items ({len(items) - len(utterances)} augmented), cache {root}")
    return FeatureSet(store, hashes, {"dir": str(root), "pipeline": pipeline.id}, found)


def audit_split(ctx: Context, corpus: Corpus, plans: list[FoldPlan], made: FeatureSet) -> SplitAudit:
    """The split audit (speakers, identical and near-identical audio across parts, shared sentences,
    pretraining data), said; needs the files' digests and their features."""
    recipe, utterances = ctx.recipe, corpus.utterances
    with ctx.timer("split audit"):
        corpora = [u.meta.get("corpus", "") for u in utterances]  # a union's corpora: each its own population
        near = near_pairs(audit_descriptions(ctx, corpus, made), corpora=corpora) if recipe.report.split_audit else None
        root = recipe.dataset.location()
        audit = split_leakage(
            utterances,
            plans,
            lambda i: _name_in(utterances[i].path, root),
            speaker_independent=recipe.protocol.speaker_independent,
            digests=made.hashes,
            near=near,
            trained_on=list(getattr(recipe.features, "trained_on", ()) or ()),
            corpus=recipe.dataset.name,
        )
    for warning in audit.warnings:
        ctx.reporter.say(f"  split audit warning: {warning}", "yellow")
    for note in audit.notes:
        ctx.reporter.say(f"  split audit: {note}", "dim")
    return audit


def audit_descriptions(ctx: Context, corpus: Corpus, made: FeatureSet) -> np.ndarray:
    """What the split audit compares, a row per original utterance (:func:`~serkit.data.leakage.fingerprints`):
    image features pooled, and for any other features a coarse log-mel of the preprocessed waveform (from the
    cache), so that shifted and re-gained copies are caught whatever the features are."""
    utterances, recipe = corpus.utterances, ctx.recipe
    if recipe.features.output_shape() == "image":
        view = made.store.view([(i, None) for i in range(len(utterances))])
        chunks = range(0, len(view), 256)
        return np.concatenate([fingerprints(view[np.arange(a, min(a + 256, len(view)))], "image") for a in chunks])
    pipeline, cache = run_pipeline(recipe, ctx.registry), ArrayCache(Path(made.cache["dir"]))
    rows = []
    for first in range(0, len(utterances), 64):  # a chunk at a time: memory bounded by 64 clips
        waves = [
            preprocessed(pipeline, utterances[i].path, made.hashes[i], cache)
            for i in range(first, min(first + 64, len(utterances)))
        ]
        for rate in {r for _, r in waves}:  # the preprocessed clips' rate (one, unless nothing resamples)
            same = [k for k, (_, r) in enumerate(waves) if r == rate]
            described = fingerprints([waves[k][0] for k in same], "waveform", rate)
            rows.append((same, first, described))
    out = np.zeros((len(utterances), rows[0][2].shape[1] if rows else 0), np.float32)
    for same, first, described in rows:
        out[[first + k for k in same]] = described
    return out


def _name_in(path: str, root: str) -> str:
    """A file's path relative to the dataset's folder, or as it is where it lies outside it."""
    relative = os.path.relpath(path, root)
    return path if relative.startswith("..") else relative


def run_pipeline(recipe: Recipe, registry: Registry) -> Pipeline:
    """The per-file pipeline of a recipe, with where each component comes from and its run-time checks."""
    settings = recipe.run
    return Pipeline(
        recipe.preprocess, recipe.augment, recipe.features, settings.seed, registry.origins(), settings.plugin_checks
    )


def fixed_copies(recipe: Recipe) -> int:
    """How many fixed augmented copies of each fit utterance training reads: one per ``[[augment]]`` entry in
    copies mode; none online (its examples are drawn each epoch from the originals)."""
    return len(recipe.augment) if recipe.augmentation.mode == "copies" else 0


def online(recipe: Recipe) -> bool:
    """Whether the fit part's examples are drawn anew every epoch."""
    return recipe.augmentation.mode == "online" and bool(recipe.augment)


def leaked_copies(recipe: Recipe) -> bool:
    """Whether the fit part holds the test utterances' augmented copies (``leaks.augment_before_split``)."""
    return recipe.leaks.augment_before_split


def fold_parts(plan: FoldPlan, copies: int, *, test: bool = True, leaked: bool = False) -> dict[str, list[Item]]:
    """A fold's parts as feature items: fit (the originals and ``copies`` augmented copies of each; with
    ``leaked``, the leak audit's, the test utterances' copies too), validation and test (originals only; no
    test part with ``test=False``)."""
    leak: list[Item] = [(i, a) for a in range(copies) for i in plan.test] if leaked else []
    return {
        "fit": plan.training_items(copies) + leak,
        "validation": [(i, None) for i in plan.validation],
        "test": [(i, None) for i in plan.test] if test else [],
    }


def train_fold(ctx: Context, plan: FoldPlan, store: FeatureStore, corpus: Corpus, *, test: bool = True) -> FoldResult:
    """Train and test one fold; a fold finished before (an interrupted run) is read back instead.
    With ``test=False`` (a tuning trial) the test part is neither normalised nor scored: the result
    has no metrics and no predictions, and is not written as a finished fold."""
    recipe = ctx.recipe
    earlier = finished_fold(ctx, plan, corpus)
    if earlier is not None:
        return earlier
    failing_fold(plan.id)
    parts = fold_parts(plan, fixed_copies(recipe), test=test, leaked=leaked_copies(recipe))
    x, y, normaliser, transform = normalised_parts(ctx, store, corpus, parts)
    try:
        return _train_fold(ctx, plan, store, corpus, parts, x, y, normaliser, transform, test)
    finally:
        close_loaders(x)


def _train_fold(
    ctx: Context,
    plan: FoldPlan,
    store: FeatureStore,
    corpus: Corpus,
    parts: dict[str, list[Item]],
    x: dict[str, Features],
    y: dict[str, np.ndarray],
    normaliser: JSONObject,
    transform: Transform | None,
    test: bool,
) -> FoldResult:
    recipe, labels = ctx.recipe, corpus.labels
    seed_globals(plan.seed, builds_torch(recipe.model))  # initial weights (and any dropout) follow the fold's seed
    shape = tuple(x["fit"].shape[1:])
    learner = ctx.guarded(
        recipe.model, lambda: make_fold_learner(recipe, shape, labels, plan.seed), f" to build for input {shape}"
    )
    if note := getattr(learner, "note", ""):
        ctx.reporter.say(f"  warning: {ctx.registry.culprit(recipe.model)}: {note}", "bold yellow")
    _say_training(ctx, plan, x, shape)
    outcome = _fit(ctx, plan, learner, x, y, transform, corpus_marks(corpus, parts["fit"]))
    method = outcome.method
    if recipe.train.refit and test:
        with ctx.timer("train"):
            close_loaders(x)  # the first training's: the refit draws its own
            learner, x, normaliser, transform, method = _refit(ctx, plan, store, corpus, parts, outcome, shape)
    kind = recipe.task.kind
    widths = {"regression": len(recipe.task.targets), "joint": len(labels) + len(recipe.task.targets)}
    untested = Tested(np.zeros((0, widths.get(kind, len(labels))), np.float32))
    evaluate_fold = {"regression": _evaluate_values, "joint": _evaluate_joint}.get(kind, _evaluate)
    tested = evaluate_fold(ctx, plan, learner, x, y, transform, corpus) if test else untested
    folder = ctx.run.fold(plan.id)
    fold = FoldResult(
        id=plan.id,
        name=plan.name,
        repeat=plan.repeat,
        seed=plan.seed,
        metrics=tested.metrics,
        history=outcome.history,
        best_epoch=outcome.best_epoch,
        epochs=len(outcome.history),
        stopped_early=outcome.stopped_early,
        device=outcome.device,
        precision=outcome.precision,
        normaliser=normaliser,
        input_shape=list(shape),
        probabilities=tested.probabilities,
        test=plan.test,
        sizes=replace(FoldSizes.of(plan, fixed_copies(recipe)), augmented=len(parts["fit"]) - len(plan.fit)),
        model_file=folder.write_weights(learner.suffix, learner.dumps()).name,
        method=method,
        calibration=tested.calibration.to_json() if tested.calibration else {},
        uncalibrated=tested.uncalibrated,
        explanation=tested.explanation,
    )
    if test:
        folder.write_result(fold)  # written last: its presence marks the fold done
    return fold


def _say_training(ctx: Context, plan: FoldPlan, x: dict[str, Features], shape: tuple[int, ...]) -> None:
    recipe = ctx.recipe
    made = (
        f"{len(plan.fit)} utterances, each drawn anew every epoch"
        if online(recipe)
        else f"{len(plan.fit)} utterances x {fixed_copies(recipe) + 1}"
    )
    ctx.reporter.say(
        f"  fold {plan.id}: training {recipe.model.name}: {len(x['fit'])} fit items ({made}), "
        f"{len(x['validation'])} validation, {len(x['test'])} test; input {shape}"
    )


@dataclass
class Tested:
    """A fold's model on its test part: probabilities (calibrated where [calibrate] asks), metrics, the
    calibration and the probabilities before it, and what the features say on the validation part."""

    probabilities: np.ndarray
    metrics: dict[str, Any] = field(default_factory=dict)
    calibration: Calibration | None = None
    uncalibrated: np.ndarray | None = None
    explanation: dict[str, Any] = field(default_factory=dict)


def _evaluate(
    ctx: Context,
    plan: FoldPlan,
    learner: Learner,
    x: dict[str, Features],
    y: dict[str, np.ndarray],
    transform: Transform | None,
    corpus: Corpus,
) -> Tested:
    """The fold's model tested: calibrated first where [calibrate] asks, explained after."""
    labels = corpus.labels
    with ctx.timer("evaluate"):
        probabilities = learner.predict_proba(x["test"], transform)
        tested = Tested(probabilities)
        method = ctx.recipe.calibrate.method
        if method != "none":  # fitted on the validation part, then applied to the test part's probabilities
            calibration = ctx.guarded(
                ctx.recipe.model,
                lambda: calibrate(
                    learner, method, x["validation"], y["validation"], transform, labels, f"fold {plan.id}"
                ),
                " in calibration",
            )
            if calibration.inside_model:  # scikit-learn's calibrators changed the learner's model
                probabilities = learner.predict_proba(x["test"], transform)
            ctx.reporter.say(f"  fold {plan.id}: {calibration.describe()}")
            tested.uncalibrated, tested.calibration = tested.probabilities, calibration
            tested.probabilities = calibration.apply(probabilities)
        tested.metrics = evaluate(y["test"], tested.probabilities.argmax(1), labels)
    if ctx.recipe.report.explain and not ctx.recipe.train.refit:  # a refit model has trained on validation
        tested.explanation = _explain(ctx, plan, learner, x["validation"], y["validation"], transform, len(labels))
    return tested


def _evaluate_values(
    ctx: Context,
    plan: FoldPlan,
    learner: Learner,
    x: dict[str, Features],
    y: dict[str, np.ndarray],
    transform: Transform | None,
    corpus: Corpus,
) -> Tested:
    """A regression's model tested: its values on the test part, scored by CCC per target."""
    with ctx.timer("evaluate"):
        values = learner.predict_proba(x["test"], transform)
        speakers = [corpus.utterances[i].speaker for i in plan.test]
        tested = Tested(values, regression_metrics(y["test"], values, speakers, ctx.recipe.task.targets))
    if ctx.recipe.report.explain and not ctx.recipe.train.refit:  # a refit model has trained on validation
        tested.explanation = _explain(ctx, plan, learner, x["validation"], y["validation"], transform, 0, "ccc")
    return tested


def _evaluate_joint(
    ctx: Context,
    plan: FoldPlan,
    learner: Learner,
    x: dict[str, Features],
    y: dict[str, np.ndarray],
    transform: Transform | None,
    corpus: Corpus,
) -> Tested:
    """A joint model tested: accuracy and UAR of its class head, and CCC per target of its regression head over the
    test utterances with every value (``metrics["dimensions"]``)."""
    classes = len(corpus.labels)
    with ctx.timer("evaluate"):
        outputs = learner.predict_proba(x["test"], transform)
        truth = y["test"]
        metrics = evaluate(truth[:, 0].astype(np.int64), outputs[:, :classes].argmax(1), corpus.labels)
        complete = np.isfinite(truth[:, 1:]).all(axis=1)
        if complete.sum() >= 2:
            speakers = [corpus.utterances[i].speaker for i, ok in zip(plan.test, complete, strict=True) if ok]
            values = outputs[complete, classes:]
            metrics["dimensions"] = regression_metrics(truth[complete, 1:], values, speakers, ctx.recipe.task.targets)
    return Tested(outputs, metrics)


def _explain(
    ctx: Context,
    plan: FoldPlan,
    learner: Learner,
    x: Features,
    y: np.ndarray,
    transform: Transform | None,
    n_classes: int,
    metric: str = "uar",
) -> dict[str, Any]:
    """What the features say on the validation part: permutation importance of vectors (by UAR, or a
    regression's CCC), an occlusion map of a classification's images (sequences: nothing yet)."""
    shape = ctx.recipe.features.output_shape()
    with ctx.timer("explain"):
        if shape == "vector":
            found = ctx.guarded(
                ctx.recipe.model,
                lambda: permutation_importance_of(learner, x, y, transform, plan.seed, metric),
                " in explaining",
            )
            return {"importance": found} if found else {}
        if shape == "image" and metric == "uar":  # its maps are each class's probability
            occluded = ctx.guarded(
                ctx.recipe.model,
                lambda: occlusion_map(learner, x, y, transform, n_classes, plan.seed),
                " in explaining",
            )
            return {"occlusion": occluded} if occluded else {}
    return {}


def _fit(
    ctx: Context,
    plan: FoldPlan,
    learner: Learner,
    x: dict[str, Features],
    y: dict[str, np.ndarray],
    transform: Transform | None,
    strata: np.ndarray,
) -> FitOutcome:
    """The fold's training, with a progress bar, each epoch logged and handed to the context's
    observer; resumed from the fold's checkpoint where an earlier attempt left one (``strata``: each fit item's
    corpus)."""
    recipe, folder = ctx.recipe, ctx.run.fold(plan.id)
    epochs = 1 if isinstance(learner, EstimatorLearner) else recipe.train.max_epochs  # fitted once
    bound = not isinstance(learner, EstimatorLearner)  # early stopping may end before max_epochs
    with ctx.timer("train"), ctx.reporter.progress(f"train {plan.id}", epochs, bound=bound) as task:

        def on_epoch(row: dict[str, float]) -> None:
            _log_epoch(row)
            if ctx.on_epoch is not None:
                ctx.on_epoch(plan, row)
            score = f"val UAR {100 * row['val_uar']:.1f} %" if "val_uar" in row else f"val CCC {row['val_ccc']:.3f}"
            info = f"loss {row['train_loss']:.3f}, val loss {row['val_loss']:.3f}, {score}, {row['seconds']:.1f} s"
            task.update(completed=int(row["epoch"]), info=info)

        settings, device = recipe.train, recipe.run.device
        context = FitContext(
            settings,
            device,
            plan.seed,
            folder.checkpoint,
            on_epoch,
            transform,
            epoch_weights=folder.epoch,
            workers=recipe.ray.train_workers,
            ray_address=recipe.ray.address,
            task=recipe.task.kind,
            loss=recipe.task.loss,
            strata=strata,
        )
        watched = "test" if recipe.leaks.select_on_test else "validation"  # the leak audit's, never a result
        outcome = ctx.guarded(
            recipe.model,
            lambda: learner.fit(x["fit"], y["fit"], x[watched], y[watched], context),
            " in training",
        )
        task.update(completed=len(outcome.history), total=len(outcome.history))
    if outcome.resumed_from:
        ctx.reporter.say(f"  resumed training from the checkpoint after epoch {outcome.resumed_from}")
    return outcome


def corpus_marks(corpus: Corpus, items: list[Item]) -> np.ndarray:
    """Each item's corpus ("" where the run reads one corpus), for samplers that balance corpora."""
    return np.array([str(corpus.utterances[i].meta.get("corpus", "")) for i, _ in items])


def _refit(
    ctx: Context,
    plan: FoldPlan,
    store: FeatureStore,
    corpus: Corpus,
    parts: dict[str, list[Item]],
    outcome: FitOutcome,
    shape: tuple[int, ...],
) -> tuple[Learner, dict[str, Features], JSONObject, Transform | None, str]:
    """train.refit: a new model trained on the fit and validation parts together for the epoch count
    validation chose (no early stopping, the last epoch kept), normalised by that whole part."""
    recipe = ctx.recipe
    epochs = max(1, outcome.best_epoch)
    whole = {**parts, "fit": parts["fit"] + parts["validation"]}
    x, y, normaliser, transform = normalised_parts(ctx, store, corpus, whole)
    seed_globals(plan.seed, builds_torch(recipe.model))
    learner = ctx.guarded(recipe.model, lambda: make_fold_learner(recipe, shape, corpus.labels, plan.seed))
    settings = replace(recipe.train, max_epochs=epochs, patience=epochs + 1, keep_epoch_weights=False)
    checkpoint = ctx.run.fold(plan.id).refit_checkpoint
    context = FitContext(
        settings,
        recipe.run.device,
        plan.seed,
        checkpoint,
        _log_epoch,
        transform,
        keep_last_epoch=True,
        task=recipe.task.kind,
        loss=recipe.task.loss,
        strata=corpus_marks(corpus, whole["fit"]),
    )
    ctx.reporter.say(f"  fold {plan.id}: refitting on fit + validation ({len(x['fit'])} items) for {epochs} epoch(s)")
    try:
        ctx.guarded(
            recipe.model,
            lambda: learner.fit(x["fit"], y["fit"], x["validation"], y["validation"], context),
            " in refitting",
        )
    finally:
        close_loaders(x)
    method = (
        f"{outcome.method}; refit on the fit and validation parts together ({len(x['fit'])} items) for "
        f"{epochs} epoch(s), the count validation chose; the refit model is the one tested"
    )
    return learner, x, normaliser, transform, method


def finished_fold(ctx: Context, plan: FoldPlan, corpus: Corpus) -> FoldResult | None:
    """The fold's result from an earlier attempt, if it finished and its model loads (said either way)."""
    folder = ctx.run.fold(plan.id)
    if not folder.is_finished():
        return None
    earlier = folder.read_result()
    damage = _model_damage(ctx, earlier, folder.model(earlier), corpus.labels)
    if not damage:
        ctx.reporter.say(f"  fold {plan.id}: finished in an earlier attempt, reusing its result")
        return earlier
    ctx.reporter.say(f"  fold {plan.id}: {damage}; training the fold again", "yellow")
    return None


def _model_damage(ctx: Context, fold: FoldResult, path: Path, labels: list[str]) -> str:
    """Why a finished fold's saved model (at ``path``) cannot be used (it must load), or "" when it can."""
    try:
        learner = make_fold_learner(ctx.recipe, tuple(fold.input_shape), labels, fold.seed)
        learner.loads(path.read_bytes())
    except Exception as exc:
        return f"its saved model {path} is damaged ({type(exc).__name__})"
    return ""


def normalised_parts(
    ctx: Context, store: FeatureStore, corpus: Corpus, parts: dict[str, list[Item]]
) -> tuple[dict[str, Features], dict[str, np.ndarray], JSONObject, Transform | None]:
    """Each part's rows and targets, and the normalisation: one fitted on the fit part and applied to
    every batch (returned as the transform), or, per speaker, each part's rows wrapped so that every
    speaker is normalised by the statistics of its own original utterances in that part."""
    settings, shape = ctx.recipe.normalise, ctx.recipe.features.output_shape()
    utterances = corpus.utterances
    x: dict[str, Features] = {name: store.view(items) for name, items in parts.items()}
    y = {name: fold_targets(ctx.recipe, corpus, [i for i, _ in items]) for name, items in parts.items()}
    if not (settings.method == "zscore" and settings.scope == "speaker"):
        source = f"feature extractor '{ctx.recipe.features.name}'"
        fitted_on = x["fit"]
        if ctx.recipe.leaks.normalise_on_all:  # the leak audit's: every part, the test part included
            fitted_on = store.view([item for items in parts.values() for item in items])
        normaliser = fit_normaliser(settings.method, settings.scope, fitted_on, shape, source)
        if online(ctx.recipe):  # fitted on the fit part's originals; its examples are drawn each epoch
            x["fit"] = drawn_anew(ctx, store, corpus, parts["fit"], x["fit"], normaliser)
        return x, y, normaliser.to_dict(), normaliser
    fitted: JSONObject = {}
    for name, items in parts.items():
        # Each speaker's originals by their own statistics, and each augmenter's copies of that speaker
        # by theirs: a copy's level (noise raises every band) is not the original's, and copies scaled
        # by the originals' statistics land where no test utterance is (a model then predicts one class).
        groups = [speaker_group(utterances[i].speaker, copy) for i, copy in items]
        stats = fit_groups(
            x[name], groups, [True] * len(items), shape, f"feature extractor '{ctx.recipe.features.name}'"
        )
        x[name] = GroupNormalised(x[name], groups, stats)
        fitted[name] = {group: z.to_dict() for group, z in stats.items()}
    return x, y, {"speakers": fitted}, None


def drawn_anew(
    ctx: Context, store: FeatureStore, corpus: Corpus, items: list[Item], rows: Features, normaliser: ZScore
) -> OnlineFeatures | DeviceFeatures:
    """The fit part in online mode: its originals' ``rows``, and each epoch's examples made on the training device
    (:class:`~serkit.learn.device_examples.DeviceFeatures`) or by loader processes, as ``[augmentation] where``
    and the components decide (said in the run's log)."""
    settings, indices = ctx.recipe.augmentation, [i for i, _ in items]
    pipeline = run_pipeline(ctx.recipe, ctx.registry)
    why = why_not_on_device(ctx.recipe, pipeline)
    ctx.reporter.say(f"  online examples made {f'by loader processes: {why}' if why else 'on the training device'}")
    if not why:
        from serkit.learn.device_examples import DeviceFeatures

        paths, hashes = [corpus.utterances[i].path for i in indices], [store.hashes[i] for i in indices]
        cache = ArrayCache(store.cache) if store.cache else None
        return DeviceFeatures(rows, paths, hashes, pipeline, cache, normaliser)
    return OnlineFeatures(
        rows,
        [corpus.utterances[i].path for i in indices],
        [store.hashes[i] for i in indices],
        run_pipeline(ctx.recipe, ctx.registry),
        ArrayCache(store.cache) if store.cache else None,
        settings.loaders,
        settings.prefetch,
    )


def why_not_on_device(recipe: Recipe, pipeline: Pipeline) -> str:
    """Why online examples are not made on the training device ("" when they are: ``[augmentation] where`` and
    the components decide); a SerkitError where ``device`` is asked for and something has no torch implementation."""
    where = recipe.augmentation.where
    if where == "loaders":
        return "augmentation.where = 'loaders'"
    from serkit.learn.device_examples import why_not_on_device as missing

    why = missing(pipeline)
    if why and where == "device":
        raise SerkitError(f"augmentation.where: 'device': {why} (use auto or loaders)")
    return why


def close_loaders(x: dict[str, Features]) -> None:
    """Stop the fit part's loader processes (online mode), if it has any."""
    fit = x.get("fit")
    if isinstance(fit, OnlineFeatures):
        fit.close()


def fold_targets(recipe: Recipe, corpus: Corpus, indices: list[int]) -> np.ndarray:
    """What the model learns for these utterances: class indices, a regression's (items, targets) values, or a joint
    task's (items, 1 + targets): the class index, then the values (NaN where an utterance has none)."""
    utterances = corpus.utterances
    targets = recipe.task.targets
    if recipe.task.kind == "regression":
        rows = [[float(utterances[i].meta[t]) for t in targets] for i in indices]
        return np.array(rows, np.float32).reshape(len(indices), len(targets))
    classes = {label: k for k, label in enumerate(corpus.labels)}
    if recipe.task.kind == "joint":
        joint = [
            [classes[utterances[i].label], *(as_number(utterances[i].meta.get(t)) for t in targets)] for i in indices
        ]
        return np.array(joint, np.float32).reshape(len(indices), 1 + len(targets))
    return np.array([classes[utterances[i].label] for i in indices], np.int64)


def speaker_group(speaker: str, copy: int | None) -> str:
    """The group whose statistics normalise an item with per-speaker normalisation."""
    return speaker if copy is None else f"{speaker} (augmenter {copy}'s copies)"


def _log_epoch(row: dict[str, float]) -> None:
    """One line per epoch in the run's log: its figures (a classification's or a regression's)."""
    names = {"train_accuracy": "train_acc", "val_accuracy": "val_acc"}
    shown = {k: v for k, v in row.items() if k not in ("epoch", "seconds", "data_seconds")}
    figures = " ".join(f"{names.get(k, k)} {v:.4f}" for k, v in shown.items())
    log.info(
        "epoch %d %s (%.1fs, %.1fs of it getting batches)",
        row["epoch"],
        figures,
        row["seconds"],
        row.get("data_seconds", 0.0),
    )


def _item_order(item: Item) -> tuple[int, int]:
    return item[0], -1 if item[1] is None else item[1]
