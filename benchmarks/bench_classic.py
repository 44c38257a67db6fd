"""The classic path side by side with nkululeko: eGeMAPS functionals + an RBF SVM (C = 1), features z-scored per
speaker, leave one speaker out on the EMO-DB copy in ../shared, run by each tool from a cold cache and again warm.

    python benchmarks/bench_classic.py --emodb ../shared/datasets/emodb/wav --nkululeko-python /tmp/nk/bin/python

Each command runs in its own process (nkululeko from its own virtual environment: pip install nkululeko), one after
another on the same machine. Printed per command: wall seconds, CPU seconds (user + system, every process of it
counted: serkit's feature workers too) and the peak resident memory of its whole process tree (sampled every
20 ms: an upper bound of what the tree held, as shared pages count once per process). serkit runs its shipped
recipe (recipes/egemaps-svm.toml: also temperature calibration, the split audit, bootstrap intervals, the report
and page, and permutation importance) and with ``report.explain = false`` (the peer computes no importance);
with ``run.workers = 1`` too (features computed in the driver alone, as the peer does: serkit's default computes
them in worker processes, whose memory the tree's peak adds up); its figures are the serkit rows over
nkululeko's, measured in the same invocation.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: EMO-DB's emotion letters (the sixth character of a file name).
EMOTIONS = {"W": "anger", "L": "boredom", "E": "disgust", "A": "fear", "F": "happiness", "T": "sadness", "N": "neutral"}

INI = """[EXP]
root = {root}
name = emodb-egemaps-svm
runs = 1
epochs = 1
save = False

[DATA]
databases = ['emodb']
emodb = {table}
emodb.type = csv
emodb.absolute_path = True
emodb.split_strategy = speaker_split
target = emotion
labels = {labels}

[FEATS]
type = ['os']
set = eGeMAPSv02
level = functionals
scale = speaker

[MODEL]
type = svm
C_val = 1.0
kernel = rbf
logo = 10

[PLOT]
name = none
"""


def run(command: list[str], env: dict[str, str]) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds (user + system of the command and every descendant it waited for) and the peak
    summed RSS (MiB) of its process tree, sampled every 20 ms."""
    import resource

    import psutil

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    watched, peak = psutil.Process(process.pid), 0
    while process.poll() is None:
        with contextlib.suppress(psutil.Error):  # a process ended while it was read
            peak = max(peak, sum(m.memory_info().rss for m in [watched, *watched.children(recursive=True)]))
        time.sleep(0.02)
    wall = time.perf_counter() - start
    if process.returncode:
        raise SystemExit(f"{' '.join(command[:4])} failed:\n{process.stderr.read() if process.stderr else ''}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, peak / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--emodb", type=Path, default=ROOT.parent / "shared" / "datasets" / "emodb" / "wav")
    parser.add_argument("--nkululeko-python", default="", help="the python of a venv with nkululeko installed")
    args = parser.parse_args()
    cpu = Path("/proc/cpuinfo").read_text().split("model name")[1].split("\n")[0].strip(": \t")
    print(f"{os.cpu_count()} CPUs; {cpu}")
    work = Path(tempfile.mkdtemp(prefix="bench-classic-"))
    env = {**os.environ, "SERKIT_CACHE": str(work / "serkit-cache"), "COLUMNS": "120"}
    rows = []
    serkit = [sys.executable, "-m", "serkit.cli", "run", str(ROOT / "recipes" / "egemaps-svm.toml")]
    serkit += ["--set", f"dataset.root={args.emodb.resolve()}", "--set", f"run.output={work / 'runs'}"]
    quiet = ["--set", "report.explain=false"]
    for k, (name, extra) in enumerate(
        (
            ("serkit, shipped recipe", []),
            ("serkit, report.explain = false", quiet),
            ("serkit, explain false, run.workers = 1", [*quiet, "--set", "run.workers=1"]),  # one process
        )
    ):
        env["SERKIT_CACHE"] = str(work / f"serkit-cache-{k}")  # each cold from an empty cache
        for state in ("cold", "warm"):
            rows.append((f"{name} ({state})", *run([*serkit, *extra], env)))
    if args.nkululeko_python:
        files = sorted(args.emodb.glob("*.wav"))
        table = work / "emodb.csv"
        with table.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["file", "speaker", "emotion"])
            writer.writerows([str(p.resolve()), p.name[:2], EMOTIONS[p.name[5]]] for p in files)
        labels = sorted(set(EMOTIONS.values()))
        ini = work / "nkululeko.ini"
        ini.write_text(INI.format(root=work / "nk", table=table, labels=labels))
        for state in ("cold", "warm"):  # the warm run reads the features nkululeko stored in its experiment folder
            rows.append(
                (
                    f"nkululeko ({state})",
                    *run([args.nkululeko_python, "-m", "nkululeko.nkululeko", "--config", str(ini)], env),
                )
            )
    print(f"\n{'command':<44} {'wall s':>8} {'CPU s':>8} {'peak MiB':>9}")
    for name, wall, cpu_s, peak in rows:
        print(f"{name:<44} {wall:8.1f} {cpu_s:8.1f} {peak:9.0f}")
    peers = {state: next((r for r in rows if r[0] == f"nkululeko ({state})"), None) for state in ("cold", "warm")}
    if all(peers.values()):
        print("\nratios to nkululeko (CPU s, peak MiB), same run, same machine:")
        for name, _, cpu_s, peak in rows:
            if name.startswith("serkit"):
                peer = peers["cold" if "(cold)" in name else "warm"]
                assert peer is not None
                print(f"  {name:<42} CPU {cpu_s / peer[2]:.2f}x, memory {peak / peer[3]:.2f}x")


if __name__ == "__main__":
    main()
