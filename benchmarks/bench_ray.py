"""The Ray executor against the local one, on a speaker-independent ablation with a reduced CRNN.

    python benchmarks/bench_ray.py                 # speed-up and identical metrics (~15 min on 2 cores)
    python benchmarks/bench_ray.py --part cluster  # a simulated 3-node cluster, one worker killed mid-training

Speed-up: the EMO-DB copy, leave one speaker out (10 folds), two variants (20 trainings), the tiny
CRNN (16 kHz, 1.5 s, 64 mels), 10 epochs, fp32, features already cached. Three runs side by side:
local (1 training at a time, 2 torch threads: the default on 2 cores), local with 1 thread, and
Ray with 2 trainings at a time, 1 thread each. Ray must give the 1-thread local run's metrics to
the last digit (the same trainings, in other processes), and the speed-up is Ray over the default.

Cluster: a head with no CPUs and three 1-CPU worker nodes on this machine (Ray's Cluster test
utility), the same ablation; one training's worker process is killed while it trains. The
trainings spread over the nodes (each fold's train.log names its node) and the killed one is
rerun from its checkpoint, giving the same metrics as the local run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
EMODB = Path(os.environ.get("SERKIT_SHARED", ROOT.parent / "shared")) / "datasets" / "emodb" / "wav"
COMMON = [
    f"dataset={{name = 'emodb', root = '{EMODB}'}}",
    "protocol={name = 'loso'}",
    "augment=[]",
    "train.max_epochs=10",
    "train.patience=20",
    "train.precision=fp32",
]


def write_sweep(folder: Path) -> Path:
    sweep = folder / "sweep.toml"
    common = ", ".join(json.dumps(o) for o in COMMON)
    sweep.write_text(
        f'[sweep]\nname = "bench"\nbase = "{ROOT / "recipes" / "tiny.toml"}"\nbaseline = "tiny CRNN"\n'
        f'set = [{common}]\n[[variant]]\nname = "lstm 8"\nset = ["model.lstm_units=8"]\n'
    )
    return sweep


def ablate(sweep: Path, folder: Path, cache: Path, *options: str, env: dict[str, str] | None = None) -> dict:
    command = [sys.executable, "-m", "serkit.cli", "ablate", str(sweep)]
    command += ["--set", f"run.output={folder}", "--set", f"run.cache_dir={cache}", *options]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "COLUMNS": "200", **(env or {})})
    seconds = time.perf_counter() - start
    if done.returncode:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}")
    rows = json.loads((folder / "bench" / "sweep.json").read_text())["rows"]
    predictions = {row["folder"]: (folder / "bench" / row["folder"] / "predictions.csv").read_text() for row in rows}
    timings = [json.loads((folder / "bench" / row["folder"] / "metrics.json").read_text())["timings"] for row in rows]
    # The training phase: local runs train their variants one after another; Ray's batch trains them together
    # (each variant records the whole batch's time).
    train = max(t["train"] for t in timings) if "--executor" in options else sum(t["train"] for t in timings)
    uar = [row["mean"]["uar"]["mean"] for row in rows]
    return {"seconds": seconds, "train": train, "uar": uar, "predictions": predictions}


def cpu() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
        name = re.search(r"model name\s*:\s*(.*)", text)
        flags = set(re.search(r"flags\s*:\s*(.*)", text).group(1).split())  # type: ignore[union-attr]
        isa = "AVX-512 BF16" if "avx512_bf16" in flags else "AVX-512" if "avx512f" in flags else "AVX2"
        return f"{name.group(1) if name else platform.processor()}, {os.cpu_count()} cores, {isa}"
    except OSError:
        return platform.processor()


def _matmuls(_: int) -> float:
    import torch

    torch.set_num_threads(1)
    a = torch.randn(256, 256)
    start = time.perf_counter()
    for _ in range(2000):
        a @ a
    return time.perf_counter() - start


def _python_loop(_: int) -> float:
    start, total = time.perf_counter(), 0
    for i in range(10_000_000):
        total += i
    return time.perf_counter() - start


def process_ceiling() -> None:
    """What two single-threaded processes gain over one on this machine, for work with no shared state:
    the most any executor running two 1-thread trainings side by side can gain."""
    import multiprocessing

    for name, work in (("1-thread matmuls", _matmuls), ("a pure-Python loop", _python_loop)):
        one = min(work(0) for _ in range(2))
        with multiprocessing.get_context("spawn").Pool(2) as pool:
            pool.map(work, [0, 1])  # warm the workers
            start = time.perf_counter()
            pool.map(work, [0, 1])
            two = time.perf_counter() - start
        print(f"  this machine: 2 processes of {name} side by side do {2 * one / two:.2f}x the work of 1 per second")


def speedup(tmp: Path) -> None:
    sweep, cache = write_sweep(tmp), tmp / "cache"
    ablate(sweep, tmp / "warm", cache, "--set", "train.max_epochs=1")  # features cached for every run below
    runs = {
        "local, 1 at a time, 2 threads": ablate(sweep, tmp / "local2", cache, "--set", "run.threads=2"),
        "local, 1 at a time, 1 thread": ablate(sweep, tmp / "local1", cache, "--set", "run.threads=1"),
        "ray, 2 at a time, 1 thread each": ablate(sweep, tmp / "ray", cache, "--executor", "ray"),
    }
    print(f"CPU: {cpu()}")
    print("20 trainings (EMO-DB, leave one speaker out, 2 variants), tiny CRNN, 10 epochs, fp32, features cached")
    print(f"  {'':<34} {'wall':>9}  {'ratio':>6}  {'trainings':>9}  {'ratio':>6}  UAR % per variant")
    base = runs["local, 1 at a time, 2 threads"]
    for name, result in runs.items():
        uar = ", ".join(f"{100 * u:.2f}" for u in result["uar"])
        print(
            f"  {name:<34} {result['seconds']:7.1f} s  {base['seconds'] / result['seconds']:5.2f}x  "
            f"{result['train']:7.1f} s  {base['train'] / result['train']:5.2f}x  {uar}"
        )
    one, two = runs["local, 1 at a time, 1 thread"]["train"], base["train"]
    gain = 2 * two / one
    print(
        f"a training on 2 threads is {one / two:.2f}x as fast as on 1: 2 trainings at once can gain {gain:.2f}x at most"
    )
    same = runs["ray, 2 at a time, 1 thread each"]["predictions"] == runs["local, 1 at a time, 1 thread"]["predictions"]
    print(f"ray's predictions equal the 1-thread local run's: {same}")
    process_ceiling()


def cluster(tmp: Path) -> None:
    from ray.cluster_utils import Cluster

    sweep, cache = write_sweep(tmp), tmp / "cache"
    local = ablate(sweep, tmp / "local1", cache, "--set", "run.threads=1")
    nodes = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
    for _ in range(3):
        nodes.add_node(num_cpus=1)
    nodes.wait_for_nodes()
    killed: list[str] = []

    def kill_one_training() -> None:  # once a training has run a while, kill its worker process
        deadline = time.time() + 600
        while time.time() < deadline and not killed:
            time.sleep(2)
            found = subprocess.run(["pgrep", "-f", "ray::_train"], capture_output=True, text=True).stdout.split()
            if found and list((tmp / "ray").glob("bench/*/folds/*/checkpoint.pt")):
                subprocess.run(["kill", "-9", found[0]])
                killed.append(found[0])

    killer = threading.Thread(target=kill_one_training, daemon=True)
    killer.start()
    try:
        result = ablate(sweep, tmp / "ray", cache, "--executor", "ray", "--address", nodes.address)
    finally:
        nodes.shutdown()
    logs = list((tmp / "ray").glob("bench/*/folds/*/train.log"))
    node_of = {}
    for path in logs:
        ids = re.findall(r"on Ray node (\w+)", path.read_text())
        node_of[f"{path.parent.parent.parent.name}/{path.parent.name}"] = ids
    per_node: dict[str, int] = {}
    for ids in node_of.values():
        per_node[ids[-1][:8]] = per_node.get(ids[-1][:8], 0) + 1
    rerun = [name for name, ids in node_of.items() if len(ids) > 1]
    print(f"CPU: {cpu()}")
    seconds = result["seconds"]
    print(f"simulated cluster: head (0 CPUs) + 3 worker nodes (1 CPU each); {len(logs)} trainings in {seconds:.0f} s")
    print(f"  trainings per node: {per_node}")
    print(f"  worker process killed mid-training: {killed or 'none (no training was found running)'}; rerun: {rerun}")
    print(f"  predictions equal the 1-thread local run's: {result['predictions'] == local['predictions']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--part", choices=("speedup", "cluster"), default="speedup")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        (speedup if args.part == "speedup" else cluster)(Path(folder))


if __name__ == "__main__":
    main()
