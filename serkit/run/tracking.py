"""Experiment tracking in MLflow (``[track] backend = "mlflow"`` or ``--track mlflow``).

Only the driver writes to the tracking store (Ray workers never do). Each run is an MLflow run:
the resolved recipe as parameters (dotted keys), tags (protocol in words, dataset, serkit
version, git commit, executor), every fold's per-epoch curves as metrics with steps, test
metrics per fold and pooled, and the run folder's files as artefacts. An ablation is a parent
run with a child per variant. A resumed run continues its MLflow run (``mlflow.json`` in the run
folder remembers it). A tracking failure never stops or stalls the run: every call has a
deadline, and the first failure switches tracking off with one warning line.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

from serkit.core.version import __version__
from serkit.results.folder import RunFolder, TrackingState
from serkit.results.records import FoldResult, RunSummary
from serkit.results.runs import flatten
from serkit.run.reporter import Reporter, log

T = TypeVar("T")


def default_uri(output: str) -> str:
    """An SQLite database beside the run folders: ``mlflow ui --backend-store-uri`` it."""
    return f"sqlite:///{(Path(output).absolute() / 'mlflow.db').as_posix()}"


class Tracker:
    """One MLflow store, used from the driver; disabled after its first failure."""

    def __init__(self, uri: str, experiment: str, timeout_s: float, reporter: Reporter) -> None:
        self.uri, self.experiment, self.timeout_s, self.reporter = uri, experiment, timeout_s, reporter
        self.enabled = True
        self._client: Any = None
        self._experiment_id: str | None = None

    # -- plumbing ---------------------------------------------------------------------------

    def _call(self, what: str, action: Callable[[], T]) -> T | None:
        """Run one tracking call with a deadline; on failure or timeout, warn once and stop tracking."""
        if not self.enabled:
            return None
        outcome: dict[str, Any] = {}

        def work() -> None:
            try:
                outcome["value"] = action()
            except BaseException as exc:  # reported below, never raised into the run
                outcome["error"] = exc

        worker = threading.Thread(target=work, daemon=True, name=f"serkit-mlflow-{what}")
        worker.start()
        deadline = self.timeout_s if self._client is not None else max(self.timeout_s, 60.0)  # a new store migrates
        worker.join(deadline)
        if worker.is_alive() or "error" in outcome:
            cause = f"no answer in {deadline:g} s" if worker.is_alive() else _first_line(outcome["error"])
            self.enabled = False
            message = f"tracking: MLflow at {self.uri} failed to {what} ({cause}); tracking is off for this run"
            log.warning("%s", message)
            self.reporter.say(f"  {message}; the run folder is written in full", "yellow")
            return None
        return outcome.get("value")

    def _connect(self) -> Any:
        if self._client is None:
            os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", str(max(1, int(self.timeout_s))))
            os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
            from mlflow.tracking import MlflowClient

            client = MlflowClient(tracking_uri=self.uri)
            found = client.get_experiment_by_name(self.experiment)
            if found is None:
                artefacts = _artefact_root(self.uri)
                self._experiment_id = client.create_experiment(self.experiment, artifact_location=artefacts)
            else:
                self._experiment_id = found.experiment_id
            self._client = client
        return self._client

    # -- runs -------------------------------------------------------------------------------

    def start(self, folder: Path, name: str, tags: dict[str, str], parent: str | None = None) -> str | None:
        """The MLflow run of ``folder``: the one it had (resumed), or a new one."""

        def action() -> str:
            client = self._connect()
            saved = RunFolder(folder).read_tracking_state()
            if saved and saved.uri == self.uri:
                run_id = saved.run_id
                client.update_run(run_id, status="RUNNING")
                client.set_tag(run_id, "serkit.resumed", "true")
                return run_id
            all_tags = dict(tags) | ({"mlflow.parentRunId": parent} if parent else {})
            run = client.create_run(self._experiment_id, tags=all_tags, run_name=name)
            RunFolder(folder).write_tracking_state(TrackingState(self.uri, str(run.info.run_id), self.experiment))
            return str(run.info.run_id)

        return self._call("start a run", action)

    def params(self, run_id: str | None, recipe: dict[str, Any]) -> None:
        """The resolved recipe as parameters (``preprocess.0.name``: MLflow keys take no brackets)."""
        if run_id is None:
            return

        def action() -> None:
            from mlflow.entities import Param

            params = [
                Param(re.sub(r"\[(\d+)\]", r".\1", key)[:250], (v if isinstance(v, str) else json.dumps(v))[:6000])
                for key, v in flatten(recipe).items()
            ]
            client = self._connect()
            known = client.get_run(run_id).data.params  # a resumed run has them already
            fresh = [p for p in params if p.key not in known]
            for start in range(0, len(fresh), 100):
                client.log_batch(run_id, params=fresh[start : start + 100])

        self._call("log parameters", action)

    def fold(self, run_id: str | None, fold: FoldResult) -> None:
        """A finished fold: its per-epoch curves (step = epoch) and its test metrics."""
        if run_id is None:
            return

        def action() -> None:
            from mlflow.entities import Metric

            now = int(time.time() * 1000)
            metrics = []
            for row in fold.history:
                step = int(row["epoch"])
                metrics += [Metric(f"{fold.id}/{k}", float(v), now, step) for k, v in row.items() if k != "epoch"]
            for key in ("accuracy", "uar"):
                if key in fold.metrics:
                    metrics.append(Metric(f"{fold.id}/test_{key}", float(fold.metrics[key]), now, 0))
            client = self._connect()
            for start in range(0, len(metrics), 500):
                client.log_batch(run_id, metrics=metrics[start : start + 500])

        self._call("log a fold", action)

    def finish(
        self, run_id: str | None, folder: Path, summary: RunSummary | None, status: str, files: list[Path] | None = None
    ) -> None:
        """Pooled and mean test metrics, the run folder's files (or ``files``), and the run's final status."""
        if run_id is None:
            return

        def action() -> None:
            from mlflow.entities import Metric

            client = self._connect()
            if summary is not None:
                now = int(time.time() * 1000)
                keys = (
                    ("ccc", "ccc_per_speaker") if summary.metrics.get("task") == "regression" else ("accuracy", "uar")
                )
                values = {f"test_{key}": summary.metrics[key] for key in keys if summary.metrics[key] is not None}
                for key, spread in summary.mean.items():
                    values[f"test_{key}_mean"], values[f"test_{key}_sd"] = spread["mean"], spread["sd"]
                client.log_batch(run_id, metrics=[Metric(k, float(v), now, 0) for k, v in values.items()])
            for path in files if files is not None else RunFolder(folder).artefacts():
                parent = path.parent.relative_to(folder).as_posix()
                client.log_artifact(run_id, str(path), None if parent == "." else parent)
            client.set_terminated(run_id, status=status)

        self._call("finish the run", action)

    def end(self, run_id: str | None, status: str) -> None:
        if run_id is not None:
            self._call("end the run", lambda: self._connect().set_terminated(run_id, status=status))


def run_tags(protocol: str, dataset: str, executor: str) -> dict[str, str]:
    tags = {"serkit.protocol": protocol, "serkit.dataset": dataset, "serkit.version": __version__}
    tags["serkit.executor"] = executor
    commit = git_commit()
    if commit:
        tags["mlflow.source.git.commit"] = commit
    return tags


def git_commit(folder: Path | None = None) -> str:
    """The commit of the git repository the working directory is in ("" outside one)."""
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=folder, capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def _artefact_root(uri: str) -> str | None:
    """For a local SQLite store, artefacts go in a folder beside the database (not ./mlruns)."""
    if uri.startswith("sqlite:///"):
        return (Path(uri[len("sqlite:///") :]).parent / "mlflow-artifacts").absolute().as_uri()
    return None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:300]


class Tracking:
    """The tracking of one command's runs (an ablation's under one parent run); inert when off."""

    def __init__(self, tracker: Tracker | None = None, parent: str | None = None) -> None:
        self.tracker, self.parent = tracker, parent
        self.run_ids: dict[Path, str | None] = {}

    def started(self, folder: Path, name: str, recipe: dict[str, Any], tags: dict[str, str]) -> None:
        if self.tracker is None:
            return
        run_id = self.tracker.start(folder, name, tags, self.parent)
        self.run_ids[folder] = run_id
        self.tracker.params(run_id, recipe)

    def fold(self, folder: Path, fold: FoldResult) -> None:
        """Log a finished fold once (a resumed run logs only the folds its earlier attempts did not)."""
        run_id = self.run_ids.get(folder)
        if self.tracker is None or run_id is None or not self.tracker.enabled:
            return
        run = RunFolder(folder)
        state = run.read_tracking_state()
        if state is not None and fold.id in state.folds:
            return
        self.tracker.fold(run_id, fold)
        if self.tracker.enabled and state is not None:
            run.write_tracking_state(replace(state, folds=[*state.folds, fold.id]))

    def finished(self, folder: Path, summary: RunSummary) -> None:
        if self.tracker is not None:
            self.tracker.finish(self.run_ids.get(folder), folder, summary, "FINISHED")

    def ended(self, folders: list[Path], status: str) -> None:
        if self.tracker is not None:
            for folder in folders:
                self.tracker.end(self.run_ids.get(folder), status)


def tracking_for(settings: Any, output: str, name: str, reporter: Reporter) -> Tracker | None:
    """The tracker a recipe's ``[track]`` asks for, or None; MLflow missing is one line."""
    if settings.backend != "mlflow":
        return None
    try:
        import mlflow  # noqa: F401  (imported here, outside any deadline: it takes seconds)
    except ImportError:
        from serkit.core.errors import SerkitError

        raise SerkitError(
            "track.backend: 'mlflow' needs MLflow, which is not installed: pip install 'serkit[mlflow]'"
        ) from None
    uri = settings.uri or os.environ.get("MLFLOW_TRACKING_URI", "") or default_uri(output)
    folder = _local_store_folder(uri)
    if folder is not None:
        from serkit.core.errors import SerkitError
        from serkit.core.fileio import require_writable

        try:
            require_writable(folder, "the MLflow store's folder")
        except SerkitError as exc:
            message = f"tracking: {exc}; tracking is off for this run"
            log.warning("%s", message)
            reporter.say(f"  {message}; the run folder is written in full", "yellow")
            return None
    tracker = Tracker(uri, settings.experiment or name, settings.timeout_s, reporter)
    reporter.say(f"  tracking: MLflow {uri}, experiment '{tracker.experiment}'")
    return tracker


def _local_store_folder(uri: str) -> Path | None:
    """The folder a local store writes in (SQLite keeps its journal beside the database), or None."""
    if uri.startswith("sqlite:///"):
        return Path(uri[len("sqlite:///") :]).parent
    if uri.startswith("file:"):
        return Path(uri[len("file:") :].removeprefix("//"))
    if ":" in uri or uri.startswith("databricks") or uri == "uc":  # a server, Databricks, Unity Catalog
        return None
    return Path(uri)  # a plain path: MLflow's file store
