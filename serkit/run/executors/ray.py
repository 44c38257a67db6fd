"""The Ray executor (``run.executor = "ray"``): features by file batch, then every training, as Ray tasks.

The driver (the ``serkit`` process) scans, splits and plans; missing features are computed by
Ray tasks into the shared cache; then each (variant, repeat, fold) training is a task that reads
its features from that cache and writes its fold folder, exactly as the local executor would.
Workers never write anything but the cache and their own fold folder.
"""

from __future__ import annotations

import os
import socket
import tempfile
import time
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

from serkit.core.errors import SerkitError
from serkit.core.settings import RaySettings
from serkit.data.cache import cache_folder
from serkit.data.pipeline import Item, Pipeline
from serkit.data.split import FoldPlan
from serkit.results.folder import RunFolder
from serkit.results.records import Corpus, FoldResult
from serkit.run.executors.local import Executor
from serkit.run.jobs import (
    Job,
    OnResult,
    Results,
    describe_failure,
    failed,
    logging_to,
    threads_per_job,
    torch_threads,
)
from serkit.run.reporter import Reporter, log

#: A lost worker (a killed process, a node gone) reruns its task this many times, from its checkpoint.
RETRIES = 3


def probe_address(address: str, timeout_s: float = 5.0) -> None:
    """Stop in one line when nothing answers at the cluster address (``ray.address``, else
    ``$RAY_ADDRESS``: host:port or ray://host:port), instead of ray.init's minute of retries; no
    address (a local instance) and ``auto`` are left to Ray."""
    key = "ray.address"
    if not address and os.environ.get("RAY_ADDRESS"):
        address, key = os.environ["RAY_ADDRESS"], "RAY_ADDRESS (ray.address is empty)"
    if address in ("", "auto"):
        return
    hostport = address.removeprefix("ray://")
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise SerkitError(f"{key}: '{address}' is not host:port, ray://host:port or auto")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s).close()
    except OSError as exc:
        why = "no answer" if isinstance(exc, TimeoutError) else (exc.strerror or type(exc).__name__).lower()
        raise SerkitError(
            f"{key}: nothing answers at {address} ({why} within {timeout_s:g} s); start the cluster's head "
            "there with 'ray start --head', or leave the address empty for a local Ray instance"
        ) from None


def import_ray(who: str = "run.executor: 'ray'") -> Any:
    try:
        import ray
    except ImportError:
        raise SerkitError(f"{who} needs Ray, which is not installed: pip install 'serkit[ray]'") from None
    return ray


class RayExecutor(Executor):
    name = "ray"
    batches_runs = True

    def __init__(self, threads: int, settings: RaySettings, reporter: Reporter) -> None:
        self.ray = import_ray()
        self.settings = settings
        self.reporter = reporter
        self.threads = threads_per_job(threads, settings.num_cpus)
        self._started = False

    def __enter__(self) -> RayExecutor:
        ray = self.ray
        if not ray.is_initialized():
            address = self.settings.address or None
            probe_address(self.settings.address)
            try:
                ray.init(address=address, include_dashboard=False, log_to_driver=False, configure_logging=False)
            except Exception as exc:
                where = f"the Ray cluster at '{address}'" if address else "a local Ray instance"
                raise SerkitError(f"ray.address: cannot start or join {where} ({describe_failure(exc)})") from exc
            self._started = True
        resources = ray.cluster_resources()
        self.reporter.say(
            f"  ray: {len(self._nodes())} node(s), {resources.get('CPU', 0):g} CPU(s), "
            f"{resources.get('GPU', 0):g} GPU(s); each training reserves {self.settings.num_cpus:g} CPU(s)"
            + (f" and {self.settings.num_gpus:g} GPU(s)" if self.settings.num_gpus else "")
            + f", {self.threads} torch thread(s)"
        )
        return self

    def __exit__(self, *exc: object) -> None:
        if self._started:
            self.ray.shutdown()

    def record(self) -> dict[str, Any]:
        return {
            "executor": self.name,
            "threads_per_training": self.threads,
            "ray": {
                "version": self.ray.__version__,
                "nodes": len(self._nodes()),
                "num_cpus_per_training": self.settings.num_cpus,
                "num_gpus_per_training": self.settings.num_gpus,
            },
        }

    def _nodes(self) -> list[dict[str, Any]]:
        return [node for node in self.ray.nodes() if node.get("Alive")]

    def _options(self, **more: Any) -> dict[str, Any]:
        return {"num_cpus": self.settings.num_cpus, "num_gpus": self.settings.num_gpus, **more}

    def check_storage(self, folders: list[Path]) -> None:
        """Every node must see the cache and run folders: a marker written here is looked for on each."""
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        markers = []
        for folder in (f.absolute() for f in folders):
            folder.mkdir(parents=True, exist_ok=True)
            marker = folder / f".serkit-visible-{uuid.uuid4().hex}"
            marker.write_text("serkit checks that Ray workers see this folder\n")
            markers.append(marker)
        try:
            # One check per node ID: several nodes may share an address (one machine, containers).
            checks = [
                (
                    node,
                    _sees.options(
                        num_cpus=0, scheduling_strategy=NodeAffinitySchedulingStrategy(node["NodeID"], soft=False)
                    ).remote([str(m) for m in markers]),
                )
                for node in self._nodes()
            ]
            for node, check in checks:
                missing = self.ray.get(check, timeout=120)
                if missing:
                    folder = Path(missing[0]).parent
                    where = f"{node['NodeManagerAddress']} (id {node['NodeID'][:12]})"
                    raise SerkitError(
                        f"run.cache_dir / run.output: Ray workers on node {where} cannot see {folder}; put the "
                        "feature cache and the run folders on storage every node mounts at the same path "
                        "(see docs/scaling.md)"
                    )
        finally:
            for marker in markers:
                marker.unlink(missing_ok=True)

    def precompute(self, run: RunFolder) -> Any:
        def spread(pipeline: Pipeline, paths: list[str], hashes: list[str], items: list[Item], root: Path) -> None:
            from serkit.data.cache import ArrayCache

            cache = ArrayCache(root)
            key = pipeline.feature_key
            missing = [i for i in items if not cache.path("features", key(hashes[i[0]], i[1])).exists()]
            by_file: dict[int, list[Item]] = {}
            for item in missing:
                by_file.setdefault(item[0], []).append(item)
            files = sorted(by_file)
            size = self.settings.feature_batch
            batches = [[item for f in files[k : k + size] for item in by_file[f]] for k in range(0, len(files), size)]
            if not batches:
                return
            task = _features_batch.options(**self._options(max_retries=RETRIES))
            run_dir = str(run.path.absolute())  # the cache root is absolute already
            pending = {task.remote(run_dir, paths, hashes, batch, str(root)): len(batch) for batch in batches}
            with self.reporter.progress("features on ray", len(missing), f"{len(batches)} task(s)") as bar:
                failures = []
                while pending:
                    done, _ = self.ray.wait(list(pending), num_returns=1)
                    for ref in done:
                        try:
                            self.ray.get(ref)
                        except Exception as exc:
                            failures.append(describe_failure(getattr(exc, "cause", None) or exc))
                        bar.advance(pending.pop(ref))
            if failures:
                raise SerkitError(f"features: {len(failures)} Ray task(s) failed: {failures[0]}")

        return spread

    def train(
        self, jobs: list[Job], reporter: Reporter, on_result: OnResult | None = None
    ) -> tuple[Results, list[str]]:
        task = _train_job.options(**self._options(max_retries=RETRIES))
        pending = {}
        for job in jobs:
            run = job.run
            # Absolute folders: a worker's working folder is where its node was started, not the driver's.
            cache = str(cache_folder(run.ctx.recipe.run.cache_dir))
            spec = (str(run.ctx.run_dir.absolute()), cache, job.plan, run.corpus, run.hashes, self.threads)
            pending[task.remote(*spec)] = job
        slots = self._slots()
        results: Results = {}
        failures: list[str] = []
        start = time.perf_counter()
        try:
            with reporter.progress("trainings", len(jobs)) as bar:
                while pending:
                    running = min(len(pending), slots)
                    bar.update(info=f"{running} running, {len(pending) - running} queued")
                    done, _ = self.ray.wait(list(pending), num_returns=1, timeout=2.0)
                    for ref in done:
                        job = pending.pop(ref)
                        try:
                            status, value = self.ray.get(ref)
                        except Exception as exc:  # a worker lost more often than RETRIES
                            failures.append(failed(job, reporter, exc))
                            continue
                        if status == "ok":
                            results[job.key] = value
                            if on_result is not None:
                                on_result(job, value)
                            seconds = time.perf_counter() - start
                            reporter.say(f"  {job.label}: done ({len(results)}/{len(jobs)}, {seconds:.0f} s)", "dim")
                        else:
                            failures.append(failed(job, reporter, message=value[0], trace=value[1]))
                        bar.advance()
        except BaseException:
            for ref in pending:
                self.ray.cancel(ref, force=True)
            raise
        return results, failures

    def _slots(self) -> int:
        """How many trainings the cluster runs at once (by its CPUs and GPUs)."""
        resources = self.ray.cluster_resources()
        slots = int(resources.get("CPU", 1) // self.settings.num_cpus)
        if self.settings.num_gpus:
            slots = min(slots, int(resources.get("GPU", 0) // self.settings.num_gpus))
        return max(1, slots)


def _remote(function: Any) -> Any:
    """A Ray remote function, made when first used (Ray is imported only when asked for)."""
    ray = import_ray()
    return ray.remote(function)


class _Lazy:
    def __init__(self, function: Any) -> None:
        self.function: Any = function
        self.remote_function: Any = None

    def options(self, **options: Any) -> Any:
        if self.remote_function is None:
            self.remote_function = _remote(self.function)
        return self.remote_function.options(**options)


def _visible(markers: list[str]) -> list[str]:
    return [m for m in markers if not Path(m).is_file()]


def _load(run: RunFolder) -> Any:
    from serkit.core.recipe import load_recipe
    from serkit.core.registry import get_registry

    registry = get_registry()
    registry.raise_problems()
    return load_recipe(run.recipe, [], registry, file_base=run.path), registry


def _compute_batch(run_dir: str, paths: list[str], hashes: list[str], items: list[Item], root: str) -> None:
    """A Ray task: compute some items' features into the shared cache."""
    from serkit.data.cache import ArrayCache
    from serkit.data.compute import compute_features
    from serkit.run.stages import run_pipeline

    recipe, registry = _load(RunFolder(Path(run_dir)))
    compute_features(
        run_pipeline(recipe, registry), paths, hashes, items, ArrayCache(root), 1, sink=lambda item, array: None
    )


def _train(
    run_dir: str, cache: str, plan: FoldPlan, corpus: Corpus, hashes: list[str], threads: int
) -> tuple[str, FoldResult | tuple[str, str]]:
    """A Ray task: one fold's training, from features in the shared cache (the driver's ``cache``
    folder, whatever the recipe says relative to the driver's working folder), into its fold folder."""
    from serkit.run import stages

    folder = RunFolder(Path(run_dir))
    try:
        with logging_to(folder.fold(plan.id).train_log), torch_threads(threads):
            import ray

            log.info(
                "fold %s on Ray node %s (%s)", plan.id, ray.get_runtime_context().get_node_id(), socket.gethostname()
            )
            recipe, registry = _load(folder)
            recipe = replace(recipe, run=replace(recipe.run, cache_dir=cache))
            ctx = stages.Context(recipe, folder, registry, Reporter())
            local = Path(tempfile.gettempdir())  # the store goes on the node's own disk, not the shared cache
            with stages.features(ctx, corpus, [plan], hashes=hashes, workers=1, store_folder=local) as made:
                return "ok", stages.train_fold(ctx, plan, made.store, corpus)
    except Exception as exc:
        import traceback

        return "failed", (describe_failure(exc), "".join(traceback.format_exception(exc)))


_sees = _Lazy(_visible)
_features_batch = _Lazy(_compute_batch)
_train_job = _Lazy(_train)
