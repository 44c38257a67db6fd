"""benchmarks/gpu_check.py, the one command that verifies the CUDA path, rehearsed on the CPU so it
cannot rot between the rare sessions that have a GPU."""

from __future__ import annotations

import subprocess
import sys

import pytest
from helpers import ROOT

pytestmark = pytest.mark.slow


def test_the_gpu_check_runs_its_steps_on_the_cpu(tmp_path):
    command = [sys.executable, str(ROOT / "benchmarks" / "gpu_check.py"), "--device", "cpu", "--actors", "1"]
    command += ["--epochs", "1", "--precisions", "auto", "--out", str(tmp_path)]  # the CPU's fastest
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "GPU CHECK PASSED" in done.stdout
    (row,) = [line for line in done.stdout.splitlines() if line.startswith(("| bf16 |", "| fp32 |"))]
    assert float(row.split("|")[2]) > 0  # samples/s
    assert "predict: " in done.stdout and "onnx" in done.stdout and "torchscript" in done.stdout
    assert "online on the device" in done.stdout and "% of each epoch spent getting batches" in done.stdout
    assert list(tmp_path.glob("runs-auto/*/model.pt"))


def test_the_gpu_check_says_when_there_is_no_gpu(tmp_path):
    if __import__("torch").cuda.is_available():
        pytest.skip("this machine has CUDA")
    command = [sys.executable, str(ROOT / "benchmarks" / "gpu_check.py"), "--out", str(tmp_path)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "no CUDA device" in done.stderr
