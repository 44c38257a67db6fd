"""The CUDA path in one command: the paper recipe in each CUDA precision, then predict and export.

    python benchmarks/gpu_check.py                       # on a machine with CUDA
    python benchmarks/gpu_check.py --device cpu --actors 2 --epochs 1 --precisions fp32 bf16   # a rehearsal

On a RAVDESS-sized synthetic corpus (24 actors x 60 files, RAVDESS's layout; ``serkit data synth``),
``serkit run recipes/paper.toml`` (44.1 kHz, 128 mel bands, the four augmenters, the paper's CRNN)
trains for a few epochs in each precision (fp32, fp16 autocast with a gradient scaler, bf16
autocast), then once with the four augmenters online, the examples made on the training device
(``[augmentation] where = "device"``: samples/s and the share of each epoch spent getting batches),
then ``serkit predict`` reads every test file of the last run and ``serkit export`` writes ONNX and
TorchScript. It prints the time per stage, the training samples per second and
the accuracy of each precision, and exits 1 when a step fails or a precision gives non-finite
losses. The features are computed once (first run) and read from the cache by the others.
Everything goes under ``--out`` (default: a new temporary folder), nothing else is touched.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
SERKIT = [sys.executable, "-m", "serkit.cli"]


def serkit(*args: str, env: dict[str, str]) -> float:
    """Run a serkit command, stop the check when it fails; the seconds it took."""
    start = time.perf_counter()
    done = subprocess.run([*SERKIT, *args], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        print(f"FAILED: serkit {' '.join(args)}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
        sys.exit(1)
    return time.perf_counter() - start


def describe_machine(device: str) -> str:
    what = f"torch {torch.__version__}, Python {platform.python_version()}, {os.cpu_count()} CPUs"
    if device == "cuda":
        props = torch.cuda.get_device_properties(0)
        what += (
            f"; {props.name}, {props.total_memory / 2**30:.0f} GiB, compute capability {props.major}.{props.minor}, "
            f"CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}, bf16: {torch.cuda.is_bf16_supported()}"
        )
    return what


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda", choices=("cuda", "cpu"))
    parser.add_argument("--actors", type=int, default=24, help="synthetic actors, 60 files each (RAVDESS: 24)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=16, help="the paper's is 16")
    parser.add_argument("--precisions", nargs="+", help="fp32, fp16, bf16 or auto (default: all three on CUDA)")
    parser.add_argument("--out", type=Path, help="working folder (default: a new temporary one)")
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("no CUDA device: this check is for a machine with one (or rehearse it with --device cpu)")
    precisions = args.precisions or (["fp32", "fp16", "bf16"] if args.device == "cuda" else ["fp32", "bf16"])
    if args.device == "cpu" and "fp16" in precisions:
        sys.exit("fp16 autocast is for CUDA: rehearse on the CPU with fp32, bf16 or auto")
    out = args.out or Path(tempfile.mkdtemp(prefix="serkit-gpu-check-"))
    out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "SERKIT_CACHE": str(out / "cache"), "PYTHONUNBUFFERED": "1"}
    print(describe_machine(args.device))
    print(f"working folder: {out}")

    corpus = out / "corpus"
    if not corpus.is_dir():
        seconds = serkit("data", "synth", str(corpus), "--actors", str(args.actors), "--seed", "3", env=env)
        print(f"synthesis: {args.actors * 60} files in {seconds:.1f} s")

    rows, last_run = [], None
    for precision in precisions:
        output = out / f"runs-{precision}"
        shutil.rmtree(output, ignore_errors=True)  # a rerun into the same --out keeps corpus and cache only
        sets = {
            "dataset.root": corpus,
            "train.max_epochs": args.epochs,
            "train.patience": args.epochs,
            "train.batch_size": args.batch_size,
            "train.precision": precision,
            "run.device": args.device,
            "run.output": output,
            "report.explain": "false",  # the occlusion map measures nothing this check is for
        }
        seconds = serkit("run", str(ROOT / "recipes" / "paper.toml"), *_sets(sets), env=env)
        (run_dir,) = output.iterdir()
        metrics = json.loads((run_dir / "metrics.json").read_text())
        (fold,) = [json.loads(p.read_text()) for p in run_dir.glob("folds/*/result.json")]
        epoch_seconds = [row["seconds"] for row in fold["history"]]
        losses = [row["train_loss"] for row in fold["history"]]
        per_epoch = fold["sizes"]["fit"] + fold["sizes"]["augmented"]
        rows.append(
            {
                "precision": metrics["precision"],
                "device": metrics["device"],
                "wall_s": seconds,
                "stages_s": metrics["timings"],
                "epoch_s": epoch_seconds,
                # the first epoch includes cuDNN's autotuning; the rest are the steady state
                "samples_per_s": per_epoch / float(np.median(epoch_seconds[1:] or epoch_seconds)),
                "losses": losses,
                "accuracy": metrics["metrics"]["accuracy"],
                "uar": metrics["metrics"]["uar"],
            }
        )
        last_run = run_dir
        print(json.dumps(rows[-1]))
        if not np.all(np.isfinite(losses)) or precision not in (metrics["precision"], "auto"):
            print(f"FAILED: {precision}: losses {losses}, ran in {metrics['precision']}")
            sys.exit(1)

    assert last_run is not None
    device_row = online_on_device(args, corpus, out, rows[-1]["precision"], env)

    with open(last_run / "predictions.csv", newline="") as handle:
        test_files = [row["file"] for row in csv.DictReader(handle)]
    listing = out / "test-files"
    listing.mkdir(exist_ok=True)
    for name in test_files:
        target = listing / Path(name).name
        if not target.exists():
            target.symlink_to(corpus / name)
    predict_s = serkit("predict", str(last_run), str(listing), "--json", env=env)
    export_s = {fmt: serkit("export", str(last_run), "--format", fmt, env=env) for fmt in ("onnx", "torchscript")}

    print(f"\n{describe_machine(args.device)}")
    print(
        f"paper recipe, {args.actors * 60} files, batch {args.batch_size}, {args.epochs} epochs, device {args.device}"
    )
    print("| precision | samples/s | epochs, s each | stages, s | run s | accuracy % | UAR % |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for row in rows:
        stages = ", ".join(f"{name} {s:.1f}" for name, s in row["stages_s"].items())
        print(
            f"| {row['precision']} | {row['samples_per_s']:.0f} | {', '.join(f'{s:.1f}' for s in row['epoch_s'])} | "
            f"{stages} | {row['wall_s']:.0f} | {100 * row['accuracy']:.1f} | {100 * row['uar']:.1f} |"
        )
    print(
        f"online on the device ({device_row['precision']}, the four paper transforms, one per example, drawn each "
        f"epoch): {device_row['samples_per_s']:.0f} samples/s, {100 * device_row['waiting']:.0f} % of each epoch "
        "spent getting batches (host time)"
    )
    exports = ", ".join(f"{fmt} {s:.1f} s" for fmt, s in export_s.items())
    print(f"predict: {len(test_files)} files in {predict_s:.1f} s (a process, model load included); export: {exports}")
    print("GPU CHECK PASSED")


#: The paper's four augmenters as one policy entry: one of them per example, drawn anew each epoch.
FOUR_ONLINE = (
    'augment=[{one_of = [{name = "gaussian_noise", max_amplitude = 0.1}, {name = "time_stretch", rate = 1.1}, '
    '{name = "time_stretch", rate = 0.8}, {name = "pitch_shift", semitones = 1.5}]}]'
)


def online_on_device(args: argparse.Namespace, corpus: Path, out: Path, precision: str, env: dict[str, str]) -> dict:
    """The paper recipe with its four transforms online, the examples made on the training device: samples/s and
    the share of each epoch the trainer spent getting its batches."""
    output = out / "runs-online-device"
    shutil.rmtree(output, ignore_errors=True)
    sets = {
        "dataset.root": corpus,
        "train.max_epochs": args.epochs,
        "train.patience": args.epochs,
        "report.explain": "false",
        "train.batch_size": args.batch_size,
        "train.precision": precision,
        "run.device": args.device,
        "run.output": output,
        "augmentation.mode": "online",
        "augmentation.where": "device",
    }
    serkit("run", str(ROOT / "recipes" / "paper.toml"), *_sets(sets), "--set", FOUR_ONLINE, env=env)
    (run_dir,) = output.iterdir()
    (fold,) = [json.loads(p.read_text()) for p in run_dir.glob("folds/*/result.json")]
    steady = fold["history"][1:] or fold["history"]
    seconds = float(np.median([row["seconds"] for row in steady]))
    row = {
        "precision": fold["precision"],
        "samples_per_s": fold["sizes"]["fit"] / seconds,
        "waiting": float(np.median([row["data_seconds"] / row["seconds"] for row in steady])),
    }
    print(json.dumps(row))
    return row


def _sets(values: dict[str, object]) -> list[str]:
    args = []
    for key, value in values.items():
        args += ["--set", f"{key}={value}"]
    return args


if __name__ == "__main__":
    main()
