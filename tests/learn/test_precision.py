"""Every path the hardware chooses, forced on any CPU: training precision (fp32, bf16 autocast,
with and without native bf16 kernels, with and without oneDNN), the device choice, thread counts."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

import serkit.builtin.crnn as crnn
from serkit import SerkitError
from serkit.builtin.models import CRNN
from serkit.core.registry import get_registry
from serkit.learn import hardware as train
from serkit.learn.hardware import choose_device, choose_precision
from serkit.learn.trainer import Trainer
from serkit.testing import PRECISIONS, check_model, check_trains

AUTOCAST = {"fp32": None, "bf16": torch.bfloat16}


def test_auto_precision_follows_the_hardware(monkeypatch):
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    for faster in ("amx", "avx512_bf16"):  # bf16 instructions, measured faster
        monkeypatch.setattr(train, "cpu_bf16", lambda faster=faster: faster)
        assert choose_precision("auto", cpu) is torch.bfloat16
    for other in ("arm_bf16", "emulated", "none"):  # unmeasured, or measured slower (benchmarks/README.md)
        monkeypatch.setattr(train, "cpu_bf16", lambda other=other: other)
        assert choose_precision("auto", cpu) is None
    assert choose_precision("bf16", cpu) is torch.bfloat16  # forced: runs without native support, slower
    assert choose_precision("fp32", cpu) is None
    with pytest.raises(SerkitError, match="fp16 autocast is for CUDA"):
        choose_precision("fp16", cpu)
    asked = {}

    def is_bf16_supported(including_emulation=True):
        asked["including_emulation"] = including_emulation
        return native and (including_emulation or native)

    monkeypatch.setattr(torch.cuda, "is_bf16_supported", is_bf16_supported)
    native = True  # Ampere and later
    assert choose_precision("auto", cuda) is torch.bfloat16 and asked["including_emulation"] is False
    native = False  # T4, V100: bf16 only emulated
    assert choose_precision("auto", cuda) is torch.float16
    assert choose_precision("fp16", cuda) is torch.float16


@pytest.mark.parametrize(
    ("machine", "avx512_bf16", "amx", "onednn", "expected"),
    [
        ("x86_64", True, True, True, "amx"),  # Sapphire Rapids and later
        ("x86_64", True, False, True, "avx512_bf16"),  # Zen 4, Cooper Lake
        ("x86_64", False, False, True, "emulated"),  # Skylake-SP to Ice Lake: AVX-512, no BF16
        ("x86_64", False, False, False, "none"),  # AVX2
        ("x86_64", True, True, False, "none"),  # a torch without oneDNN: ATen's generic kernels
        ("aarch64", False, False, True, "arm_bf16"),  # Arm with the BF16 extension
        ("aarch64", False, False, False, "none"),
    ],
)
def test_the_cpus_bf16_support_is_read_from_its_instructions(monkeypatch, machine, avx512_bf16, amx, onednn, expected):
    monkeypatch.setattr(train.platform, "machine", lambda: machine)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx)
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: onednn)
    assert train.cpu_bf16() == expected


def test_a_torch_without_the_private_checks_reads_as_no_bf16_instructions(monkeypatch):
    monkeypatch.setattr(train.platform, "machine", lambda: "x86_64")
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: True)
    monkeypatch.delattr(torch.cpu, "_is_avx512_bf16_supported")
    assert train.cpu_bf16() == "emulated"


def test_device_choice(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert choose_device("auto").type == "cpu" and choose_device("cpu").type == "cpu"
    with pytest.raises(SerkitError, match="'cuda' was asked for but no CUDA device is available"):
        choose_device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert choose_device("auto").type == "cuda" and choose_device("cpu").type == "cpu"


@pytest.mark.parametrize("precision", PRECISIONS)
def test_fast_conv_gradients_match_the_plain_convolution(precision):
    """The single-channel convolution's own backward against conv2d's, under the autocast training uses."""
    torch.manual_seed(0)
    conv = crnn.SingleChannelConv2d(1, 6, 5, padding="same", bias=False)
    x = torch.randn(3, 1, 11, 13, requires_grad=True)
    gradients = []
    for fast in (True, False):
        conv.weight.grad = x.grad = None
        crnn.FAST_SINGLE_CHANNEL_GRAD = crnn.FAST_GRAD_UNDER_AUTOCAST = fast
        try:
            with torch.autocast("cpu", dtype=AUTOCAST[precision], enabled=precision != "fp32"):
                assert conv._applies(x) == fast
                out = conv(x)
            assert out.dtype == (AUTOCAST[precision] or torch.float32)
            out.float().square().sum().backward()
        finally:
            crnn.FAST_SINGLE_CHANNEL_GRAD, crnn.FAST_GRAD_UNDER_AUTOCAST = True, False
        assert conv.weight.grad.dtype == x.grad.dtype == torch.float32
        gradients.append((conv.weight.grad.clone(), x.grad.clone()))
    (fast_w, fast_x), (plain_w, plain_x) = gradients
    tolerance = {"fp32": 1e-5, "bf16": 2e-2}[precision]  # bf16 keeps 8 bits of mantissa
    assert torch.allclose(fast_w, plain_w, rtol=tolerance, atol=tolerance * plain_w.abs().max())
    assert torch.allclose(fast_x, plain_x, rtol=tolerance, atol=tolerance * plain_x.abs().max())


#: Models that cannot be built without a pretrained checkpoint: their plugin's tests run check_model on a
#: tiny one (plugins/serkit-ssl/tests/test_finetune.py).
NEEDS_A_CHECKPOINT = {"ssl_finetune"}


def _torch_models() -> list[str]:
    """Every registered model that is a torch module trained by serkit (built-in and installed plugins)."""
    registry = get_registry()
    names = []
    for name, entry in sorted(registry.entries["models"].items()):
        if name in NEEDS_A_CHECKPOINT:
            continue
        component = entry.cls()
        shape = (1, 40, 101) if "image" in component.accepted_shapes() else (24,)
        if component.learner(shape, 3, 0) is None:
            names.append(name)
    return names


@pytest.mark.parametrize("name", _torch_models())
def test_every_torch_model_trains_in_each_precision(name):
    """check_model trains each torch model for two epochs in fp32 and in bf16 on this CPU."""
    check_model(get_registry().entries["models"][name].cls())


def test_the_crnn_trains_without_onednn():
    """Builds of torch without oneDNN (or with it switched off) take ATen's own convolutions."""
    with torch.backends.mkldnn.flags(enabled=False):
        for precision in PRECISIONS:
            check_trains(CRNN(filters=[4, 4, 8, 8], lstm_units=8), (1, 16, 24), 3, precision)


CHILD = """
import json, torch
from serkit.builtin.models import CRNN
from serkit.testing import check_trains
torch.backends.mkldnn.enabled = {onednn}
losses = check_trains(CRNN(filters=[4, 4, 8, 8], lstm_units=8), (1, 16, 24), 3, "bf16")
print(json.dumps({{"capability": torch.backends.cpu.get_cpu_capability(), "losses": losses}}))
"""


def _train_bf16_in_a_process(env: dict[str, str], onednn: bool = True) -> dict:
    code = CHILD.format(onednn=onednn)
    done = subprocess.run([sys.executable, "-c", code], env={**os.environ, **env}, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.splitlines()[-1])


def test_bf16_trains_on_cpus_without_native_bf16():
    """bf16 forced where the CPU lacks it, whatever CPU runs the test: oneDNN held to AVX-512 without
    BF16 (it then converts through float32, as on Skylake to Ice Lake), and ATen's generic kernels on
    AVX2 (where torch does not use oneDNN for bf16) imitated with oneDNN switched off. The losses stay
    close to those of the CPU's own best kernels."""
    best = _train_bf16_in_a_process({})
    emulated = _train_bf16_in_a_process({"ONEDNN_MAX_CPU_ISA": "AVX512_CORE"})
    avx2 = _train_bf16_in_a_process({"ATEN_CPU_CAPABILITY": "avx2"}, onednn=False)
    assert avx2["capability"] in ("AVX2", "DEFAULT")
    for other in (emulated, avx2):
        assert np.all(np.isfinite(other["losses"]))
        assert np.allclose(other["losses"], best["losses"], rtol=0.05)


@pytest.mark.parametrize("threads", [1, 2])
def test_training_under_each_thread_count_restores_the_setting(threads):
    from serkit.run.jobs import torch_threads

    before = torch.get_num_threads()
    with torch_threads(threads):
        assert torch.get_num_threads() == threads
        check_trains(CRNN(filters=[4, 4, 8, 8], lstm_units=8), (1, 16, 24), 3, "fp32")
    assert torch.get_num_threads() == before


def test_evaluation_runs_in_float32_whatever_the_training_precision():
    """A run's validation and test figures are those of its saved weights, as predict computes them."""
    from serkit.core.settings import TrainSettings

    torch.manual_seed(0)
    model = CRNN(filters=[4, 4, 8, 8], lstm_units=8).build((1, 16, 24), 3)
    x = np.random.default_rng(0).standard_normal((6, 1, 16, 24)).astype(np.float16)
    bf16 = Trainer(TrainSettings(precision="bf16"), torch.device("cpu"), 0)
    fp32 = Trainer(TrainSettings(precision="fp32"), torch.device("cpu"), 0)
    assert bf16.precision == "bf16"
    assert np.allclose(bf16.predict_proba(model, x), fp32.predict_proba(model, x), atol=1e-6)


def test_cuda_visible_devices_hides_the_gpus():
    """CUDA_VISIBLE_DEVICES="" (a scheduler's way of giving a job no GPU): auto trains on the CPU, and
    run.device = "cuda" stops in one line naming the setting."""
    import subprocess
    import sys

    code = (
        "from serkit.learn.hardware import choose_device\n"
        "from serkit.core.errors import SerkitError\n"
        "print(choose_device('auto'))\n"
        "try:\n    choose_device('cuda')\nexcept SerkitError as exc:\n    print(exc)\n"
    )
    env = {**__import__("os").environ, "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    auto, refused = done.stdout.strip().splitlines()
    assert auto == "cpu" and refused.startswith("run.device: 'cuda' was asked for but no CUDA device is available")
