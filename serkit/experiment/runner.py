"""Runs a recipe end to end and fills the run folder."""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import platform
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from serkit import __version__
from serkit.core.components import Utterance
from serkit.core.errors import SerkitError
from serkit.core.fileio import write_atomic, write_json, write_text
from serkit.core.recipe import COMPONENT_SECTIONS, Recipe, load_recipe
from serkit.core.registry import Registry, get_registry
from serkit.data import audio
from serkit.data.cache import ArrayCache, default_cache_dir, file_digest
from serkit.data.normalise import ZScore
from serkit.data.pipeline import Item, Pipeline, compute_features
from serkit.data.split import FoldPlan, load_split, plan_folds, split_to_json
from serkit.experiment.metrics import evaluate, spread
from serkit.experiment.report import metrics_table, plot_confusion, plot_training, render_markdown

log = logging.getLogger("serkit")
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


def progress_bar(console: Console) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        TextColumn("{task.fields[info]}"),
        console=console,
        transient=False,
    )


def new_run_dir(output: str, name: str) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    base = Path(output) / f"{name}-{stamp}"
    candidate, n = base, 1
    while candidate.exists():
        n += 1
        candidate = base.with_name(f"{base.name}-{n}")
    candidate.mkdir(parents=True)
    return candidate


def _attach_log(run_dir: Path) -> logging.Handler:
    handler = logging.FileHandler(run_dir / "run.log", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    return handler


class Run:
    """One execution of a recipe in one run folder."""

    def __init__(
        self, recipe: Recipe, run_dir: Path, console: Console, registry: Registry, split_file: str | None = None
    ) -> None:
        self.recipe = recipe
        self.run_dir = run_dir
        self.console = console
        self.registry = registry
        self.split_file = split_file
        self.timer = StageTimer()
        self.started = datetime.now().isoformat(timespec="seconds")

    def say(self, message: str, style: str = "") -> None:
        log.info(message)
        self.console.print(message, style=style or None, highlight=False)

    # -- stages ---------------------------------------------------------------------------

    def scan(self) -> tuple[list[Utterance], list[str], list[str]]:
        dataset, protocol = self.recipe.dataset, self.recipe.protocol
        found = self._guarded("datasets", dataset.name, dataset.scan)
        found = self._guarded("protocols", protocol.name, lambda: protocol.prepare(found, dataset))
        notes = list(found.notes) + list(found.warnings)
        for note in found.notes:
            self.say(f"  dataset: {note}", "dim")
        for warning in found.warnings:
            self.say(f"  dataset warning: {warning}", "yellow")
        readable, unreadable = [], []
        with progress_bar(self.console) as bars:
            task = bars.add_task("check audio", total=len(found.utterances), info="")
            for utterance in found.utterances:
                try:
                    audio.probe(utterance.path)
                    readable.append(utterance)
                except SerkitError as exc:
                    if not self.recipe.run.skip_unreadable:
                        raise SerkitError(
                            f"{exc} (set run.skip_unreadable=true or pass --skip-unreadable to leave it out)"
                        ) from exc
                    unreadable.append(str(exc))
                bars.advance(task)
        for problem in unreadable:
            self.say(f"  skipped unreadable file: {problem}", "yellow")
        if unreadable:
            notes.append(f"skipped {len(unreadable)} unreadable file(s): " + "; ".join(unreadable))
        if not readable:
            raise SerkitError(f"dataset.root: no readable audio files under '{dataset.location()}'")
        labels = [label for label in found.labels if any(u.label == label for u in readable)]
        return readable, labels, notes

    def split(self, utterances: list[Utterance], notes: list[str]) -> list[FoldPlan]:
        recipe = self.recipe
        if self.split_file:
            plans = load_split(self.split_file, utterances, recipe.dataset.location())
            self.say(f"  split: reused {self.split_file}")
        else:
            plans, warnings = [], []
            for repeat in range(recipe.run.repeats):
                seed = recipe.run.seed + repeat
                folds = self._guarded(
                    "protocols", recipe.protocol.name, lambda s=seed: recipe.protocol.split(utterances, s)
                )
                found, found_warnings = plan_folds(
                    folds, utterances, recipe.train.validation_size, seed, recipe.protocol
                )
                plans += [replace(plan, repeat=repeat, seed=seed) for plan in found]
                warnings += [w for w in found_warnings if w not in warnings]
            for warning in warnings:
                self.say(f"  protocol warning: {warning}", "yellow")
            notes += warnings
        description = recipe.protocol.describe(utterances)
        write_json(
            self.run_dir / "split.json", split_to_json(plans, utterances, recipe.dataset.location(), description)
        )
        return plans

    def features(self, utterances: list[Utterance], plans: list[FoldPlan]) -> dict[Item, np.ndarray]:
        recipe = self.recipe
        items: set[Item] = {(i, None) for i in range(len(utterances))}
        for plan in plans:
            items |= set(plan.training_items(len(recipe.augment)))
        cache_dir = recipe.run.cache_dir or default_cache_dir()
        cache = ArrayCache(cache_dir)
        workers = recipe.run.workers or os.cpu_count() or 1
        pipeline = Pipeline(recipe.preprocess, recipe.augment, recipe.features, recipe.run.seed, self._origins())
        paths = [u.path for u in utterances]
        with self.timer("hash files"):
            hashes = [file_digest(p) for p in paths]
        with self.timer("features"), progress_bar(self.console) as bars:
            task = bars.add_task("features", total=len(items), info=f"{workers} worker(s)")
            features = compute_features(
                pipeline, paths, hashes, sorted(items, key=_item_order), cache, workers, lambda n: bars.advance(task, n)
            )
        self.say(f"  features: {len(items)} items ({len(items) - len(utterances)} augmented), cache {cache_dir}")
        return features

    def train_fold(
        self, plan: FoldPlan, features: dict[Item, np.ndarray], utterances: list[Utterance], labels: list[str]
    ) -> dict[str, Any]:
        """Train and test one fold; a fold finished before (an interrupted run) is read back instead."""
        from serkit.experiment.train import Trainer, choose_device, seed_everything, state_dict_bytes

        recipe = self.recipe
        folder = self.run_dir / "folds" / plan.id
        if (folder / "result.json").is_file():
            self.say(f"  fold {plan.id}: finished in an earlier attempt, reusing its result")
            result = json.loads((folder / "result.json").read_text(encoding="utf-8"))
            return result | {"probabilities": np.asarray(result["probabilities"], dtype=np.float64)}
        seed = recipe.run.seed + plan.repeat
        n_aug = len(recipe.augment)
        targets = {label: k for k, label in enumerate(labels)}

        def stack(items: list[Item]) -> tuple[np.ndarray, np.ndarray]:
            x = _stack_features([features[item] for item in items], [utterances[i].path for i, _ in items])
            return x, np.array([targets[utterances[i].label] for i, _ in items], dtype=np.int64)

        x_fit, y_fit = stack(plan.training_items(n_aug))
        x_val, y_val = stack([(i, None) for i in plan.validation])
        x_test, y_test = stack([(i, None) for i in plan.test])
        normaliser = (
            ZScore.fit(x_fit, recipe.normalise.scope) if recipe.normalise.method == "zscore" else ZScore.identity()
        )
        x_fit, x_val, x_test = normaliser(x_fit), normaliser(x_val), normaliser(x_test)

        seed_everything(seed)  # the model's initial weights depend on the seed alone
        shape = tuple(x_fit.shape[1:])
        module = self._guarded(
            "models", recipe.model.name, lambda: recipe.model.build(shape, len(labels)), f" to build for input {shape}"
        )
        device = choose_device(recipe.run.device)
        trainer = Trainer(recipe.train, device, seed, folder / "checkpoint.pt")
        self.say(
            f"  fold {plan.id}: training on {device} ({trainer.precision}): {len(x_fit)} fit items "
            f"({len(plan.fit)} utterances x {n_aug + 1}), {len(x_val)} validation, {len(x_test)} test; "
            f"input {tuple(x_fit.shape[1:])}"
        )
        with self.timer("train"), progress_bar(self.console) as bars:
            task = bars.add_task(f"train {plan.id}", total=recipe.train.max_epochs, info="")

            def on_epoch(row: dict[str, float]) -> None:
                log.info(
                    "epoch %(epoch)d train_loss %(train_loss).4f train_acc %(train_accuracy).4f "
                    "val_loss %(val_loss).4f val_acc %(val_accuracy).4f (%(seconds).1fs)",
                    row,
                )
                info = f"val loss {row['val_loss']:.3f} acc {100 * row['val_accuracy']:.1f}%"
                bars.update(task, completed=row["epoch"], info=info)

            result = trainer.fit(module, x_fit, y_fit, x_val, y_val, on_epoch)
            bars.update(task, total=len(result.history), completed=len(result.history))
        if result.resumed_from:
            self.say(f"  resumed training from the checkpoint after epoch {result.resumed_from}")
        with self.timer("evaluate"):
            probabilities = trainer.predict_proba(result.model, x_test)
            metrics = evaluate(y_test, probabilities.argmax(1), labels)
        weights = state_dict_bytes(result.model)
        write_atomic(folder / "model.pt", lambda out: out.write(weights), binary=True)
        fold_result = {
            "id": plan.id,
            "name": plan.name,
            "repeat": plan.repeat,
            "seed": seed,
            "metrics": metrics,
            "history": result.history,
            "best_epoch": result.best_epoch,
            "epochs": len(result.history),
            "stopped_early": result.stopped_early,
            "device": result.device,
            "precision": result.precision,
            "normaliser": normaliser.to_dict(),
            "input_shape": list(x_fit.shape[1:]),
            "probabilities": probabilities.tolist(),
            "test": plan.test,
            "sizes": {
                "train": len(plan.train),
                "fit": len(plan.fit),
                "validation": len(plan.validation),
                "test": len(plan.test),
                "augmented": len(plan.fit) * n_aug,
            },
        }
        write_json(folder / "result.json", fold_result)  # written last: its presence marks the fold done
        return fold_result | {"probabilities": probabilities}

    # -- helpers --------------------------------------------------------------------------

    def _guarded(self, kind: str, name: str, action: Callable[[], T], doing: str = "") -> T:
        """Run plugin code; anything but a SerkitError becomes one line naming the component and plugin."""
        try:
            return action()
        except SerkitError:
            raise
        except Exception as exc:
            raise SerkitError(f"{self._culprit(kind, name)} failed{doing}: {type(exc).__name__}: {exc}") from exc

    def _culprit(self, kind: str, name: str) -> str:
        entry = self.registry.entries[kind].get(name)
        singular = COMPONENT_SECTIONS_BY_KIND.get(kind, kind)
        return f"{singular} '{name}'" + (f" ({entry.provider})" if entry else "")

    def _origins(self) -> dict[str, str]:
        origins = {}
        for entries in self.registry.entries.values():
            for name, entry in entries.items():
                origins[f"{entry.cls.kind}:{name}"] = str(entry.provider)
        return origins

    # -- the whole run ----------------------------------------------------------------------

    def execute(self) -> dict[str, Any]:
        recipe = self.recipe
        write_text(self.run_dir / "recipe.toml", recipe.to_toml())
        self.say(f"serkit {__version__}: run '{recipe.run.name}' -> {self.run_dir}", "bold")
        with self.timer("scan dataset"):
            utterances, labels, notes = self.scan()
        with self.timer("split"):
            plans = self.split(utterances, notes)
        description = recipe.protocol.describe(utterances)
        if recipe.run.repeats > 1:
            description += (
                f"; {recipe.run.repeats} repeats with seeds {recipe.run.seed} to "
                f"{recipe.run.seed + recipe.run.repeats - 1}"
            )
        self.say(f"  protocol: {description}")
        features = self.features(utterances, plans)
        results = [self.train_fold(plan, features, utterances, labels) for plan in plans]
        summary = self._write_outputs(results, utterances, labels, notes, description)
        self.console.print(metrics_table(summary["metrics"], f"{recipe.run.name}: test results ({description})"))
        for stage, seconds in self.timer.seconds.items():
            self.console.print(f"  {stage:<14} {seconds:8.1f} s", highlight=False)
        self.say(
            f"accuracy {100 * summary['metrics']['accuracy']:.2f} %, UAR {100 * summary['metrics']['uar']:.2f} %"
            f"; run folder {self.run_dir}",
            "bold green",
        )
        return summary

    def _write_outputs(
        self,
        results: list[dict[str, Any]],
        utterances: list[Utterance],
        labels: list[str],
        notes: list[str],
        description: str,
    ) -> dict[str, Any]:
        recipe, run_dir = self.recipe, self.run_dir
        first = results[0]
        with self.timer("report"):
            self._write_predictions(results, utterances, labels)
            weights = (run_dir / "folds" / first["id"] / "model.pt").read_bytes()
            write_atomic(run_dir / "model.pt", lambda out: out.write(weights), binary=True)
            write_json(
                run_dir / "model.json",
                {
                    "serkit_version": __version__,
                    "model": recipe.model.identity(),
                    "labels": labels,
                    "input_shape": first["input_shape"],
                    "normaliser": {
                        "method": recipe.normalise.method,
                        "scope": recipe.normalise.scope,
                        **first["normaliser"],
                    },
                    "weights": f"model.pt (fold {first['id']}; torch.load(..., weights_only=True))",
                    "fold_weights": {r["id"]: f"folds/{r['id']}/model.pt" for r in results},
                },
            )
            targets = {label: k for k, label in enumerate(labels)}
            y_true = np.array([targets[utterances[i].label] for r in results for i in r["test"]], dtype=np.int64)
            y_pred = np.concatenate([np.asarray(r["probabilities"]).argmax(1) for r in results])
            pooled = first["metrics"] if len(results) == 1 else evaluate(y_true, y_pred, labels)
            epochs = [r["epochs"] for r in results]
            summary = {
                "run_name": recipe.run.name,
                "protocol": description,
                "started": self.started,
                "serkit_version": __version__,
                "dataset": {
                    "name": recipe.dataset.name,
                    "root": recipe.dataset.location(),
                    "utterances": len(utterances),
                    "speakers": len({u.speaker for u in utterances}),
                    "labels": labels,
                },
                "fold": first["sizes"],
                "metrics": pooled,
                "pooled_over_folds": len(results) > 1,
                "mean": spread([r["metrics"] for r in results]),
                "folds": [
                    {
                        k: r[k]
                        for k in (
                            "id",
                            "name",
                            "repeat",
                            "seed",
                            "metrics",
                            "best_epoch",
                            "epochs",
                            "stopped_early",
                            "sizes",
                        )
                    }
                    for r in results
                ],
                "device": first["device"],
                "precision": first["precision"],
                "pipeline": self._pipeline_text(),
                "training": (
                    f"Adam lr {recipe.train.learning_rate:g}, batch {recipe.train.batch_size}, "
                    + (
                        f"{first['epochs']} epochs (best {first['best_epoch']}, "
                        f"{'stopped early' if first['stopped_early'] else 'epoch limit reached'}"
                        if len(results) == 1
                        else f"{min(epochs)}-{max(epochs)} epochs per fold ("
                    )
                    + f", patience {recipe.train.patience}), {first['device']} {first['precision']}, "
                    f"seed {recipe.run.seed}"
                ),
                "notes": notes,
                "timings": self.timer.seconds,
            }
            write_json(run_dir / "history.json", [r["history"] for r in results])
            scope = first["name"] if len(results) == 1 else f"pooled over {len(results)} folds"
            plot_confusion(pooled, run_dir / "confusion_matrix.png", f"{recipe.run.name} ({scope})")
            plot_training(
                [r["history"] for r in results], [r["best_epoch"] for r in results], run_dir / "training_curves.png"
            )
            write_json(run_dir / "environment.json", self._environment(first["device"], first["precision"]))
        summary["timings"] = dict(self.timer.seconds)
        write_text(run_dir / "report.md", render_markdown(summary))
        write_json(run_dir / "metrics.json", summary)
        return summary

    def _write_predictions(self, results: list[dict[str, Any]], utterances: list[Utterance], labels: list[str]) -> None:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(["fold", "file", "speaker", "true", "predicted", *[f"p_{label}" for label in labels]])
        root = self.recipe.dataset.location()
        for result in results:
            for index, probs in zip(result["test"], result["probabilities"], strict=True):
                u = utterances[index]
                writer.writerow(
                    [
                        result["id"],
                        os.path.relpath(u.path, root),
                        u.speaker,
                        u.label,
                        labels[int(np.argmax(probs))],
                        *[f"{p:.6f}" for p in probs],
                    ]
                )
        write_text(self.run_dir / "predictions.csv", buffer.getvalue())

    def _pipeline_text(self) -> str:
        recipe = self.recipe

        def short(component: Any) -> str:
            params = ", ".join(f"{k}={v}" for k, v in component.to_params().items() if k not in ("root",))
            return f"{component.name}({params})"

        return "; ".join(
            [
                "preprocess " + " -> ".join(short(p) for p in recipe.preprocess)
                if recipe.preprocess
                else "no preprocessing",
                "augment " + ", ".join(short(a) for a in recipe.augment) if recipe.augment else "no augmentation",
                "features " + short(recipe.features),
                f"normalise {recipe.normalise.method} ({recipe.normalise.scope}, fitted on the training part)",
                "model " + short(recipe.model),
            ]
        )

    def _environment(self, device: str, precision: str) -> dict[str, Any]:
        import torch

        from serkit.experiment.train import describe_device

        packages = {}
        for name in (
            "torch",
            "numpy",
            "scipy",
            "librosa",
            "audiomentations",
            "soundfile",
            "soxr",
            "scikit-learn",
            "pluggy",
        ):
            try:
                packages[name] = version(name)
            except PackageNotFoundError:
                packages[name] = None
        components = {}
        for key, (kind, _, many) in COMPONENT_SECTIONS.items():
            value = getattr(self.recipe, key)
            for component in value if many else [value]:
                entry = self.registry.entries[kind][component.name]
                components[f"{key}:{component.name}"] = str(entry.provider)
        return {
            "serkit": __version__,
            "python": platform.python_version(),
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(),
            "device": describe_device(torch.device(device)) | {"precision": precision},
            "packages": packages,
            "components": components,
        }


COMPONENT_SECTIONS_BY_KIND = {kind: base.kind for kind, base, _ in COMPONENT_SECTIONS.values()}


def _item_order(item: Item) -> tuple[int, int]:
    return item[0], -1 if item[1] is None else item[1]


def _stack_features(arrays: list[np.ndarray], paths: list[str]) -> np.ndarray:
    shapes = {a.shape for a in arrays}
    if len(shapes) > 1:
        first = arrays[0].shape
        odd = next(i for i, a in enumerate(arrays) if a.shape != first)
        raise SerkitError(
            f"features differ in shape ({first} for {paths[0]}, {arrays[odd].shape} for {paths[odd]}): "
            "add a fix_length preprocessor so every clip has the same duration"
        )
    return np.stack(arrays)


def run_recipe(recipe_path: str, overrides: list[str], console: Console, split_file: str | None = None) -> Path:
    """Validate a recipe, create its run folder and execute it; returns the run folder."""
    registry = get_registry()
    registry.raise_problems()
    recipe = load_recipe(recipe_path, overrides, registry)
    return _execute(recipe, new_run_dir(recipe.run.output, recipe.run.name), console, registry, split_file)


def resume_run(run_dir: str, console: Console) -> Path:
    """Continue an interrupted run from its folder: same recipe and split, training from its checkpoint."""
    folder = Path(run_dir)
    if not (folder / "recipe.toml").is_file():
        raise SerkitError(f"{folder}: not a serkit run folder (no recipe.toml)")
    if (folder / "metrics.json").is_file():
        raise SerkitError(f"{folder}: this run is already complete (metrics.json exists)")
    registry = get_registry()
    registry.raise_problems()
    recipe = load_recipe(folder / "recipe.toml", [], registry)
    split_file = str(folder / "split.json") if (folder / "split.json").is_file() else None
    return _execute(recipe, folder, console, registry, split_file)


def _execute(recipe: Recipe, run_dir: Path, console: Console, registry: Registry, split_file: str | None) -> Path:
    handler = _attach_log(run_dir)
    try:
        Run(recipe, run_dir, console, registry, split_file).execute()
    except SerkitError as exc:
        log.error("%s", exc)
        raise
    except KeyboardInterrupt:
        log.error("interrupted; continue with: serkit resume %s", run_dir)
        raise SerkitError(f"interrupted; continue with: serkit resume {run_dir}") from None
    finally:
        log.removeHandler(handler)
        handler.close()
    return run_dir
