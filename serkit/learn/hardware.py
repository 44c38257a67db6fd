"""What the machine offers training: the device, the precision (from the CPU's instructions or the
GPU's generation), the allocator setting that keeps freed memory, and seeding."""

from __future__ import annotations

import ctypes
import platform
import random
import sys
from typing import Any

import numpy as np
import torch

from serkit.core.errors import SerkitError
from serkit.core.seeding import seed_globals


def choose_device(setting: str) -> torch.device:
    """``auto`` picks CUDA when present, else the CPU."""
    if setting == "cuda" and not torch.cuda.is_available():
        raise SerkitError("run.device: 'cuda' was asked for but no CUDA device is available (use 'auto' or 'cpu')")
    if setting == "cpu" or (setting == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    return torch.device("cuda")


def cpu_bf16() -> str:
    """How this CPU computes bf16: ``amx`` (AMX tiles: Intel Sapphire Rapids and later),
    ``avx512_bf16`` (AVX-512 BF16 without AMX, e.g. AMD Zen 4), ``arm_bf16`` (Arm's BF16 extension),
    ``emulated`` (oneDNN converts through float32: AVX-512 without BF16) or ``none`` (ATen's
    generic kernels: AVX2, or a torch without oneDNN)."""
    try:
        onednn = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        onednn = False
    if not onednn:
        return "none"
    if platform.machine().lower() not in ("x86_64", "amd64", "i386", "i686"):
        return "arm_bf16"
    if _cpu_flag("_is_avx512_bf16_supported"):
        return "amx" if _cpu_flag("_is_amx_tile_supported") else "avx512_bf16"
    return "emulated"


def _cpu_flag(name: str) -> bool:
    """One of torch.cpu's private instruction-set checks; False where this torch lacks it."""
    check = getattr(torch.cpu, name, None)
    return bool(check()) if callable(check) else False


def cpu_prefers_bf16() -> bool:
    """Whether ``train.precision = "auto"`` trains in bf16 on this CPU: where bf16 was measured faster.
    The paper CRNN's training step in bf16 against float32 (benchmarks/README.md): 3.6x with AMX
    (Sapphire Rapids), 2.8x with AVX-512 BF16 (Zen 4, serkit 0.1), 0.4x where oneDNN converts through
    float32 (AVX-512 without BF16, which torch's own check counts as bf16 support). Arm's BF16 was
    not measured: fp32 there unless bf16 is asked for."""
    return cpu_bf16() in ("amx", "avx512_bf16")


def cuda_has_bf16(device: torch.device) -> bool:
    """Native bf16 (Ampere and later); older GPUs only emulate it, slower than fp16."""
    try:
        return bool(torch.cuda.is_bf16_supported(including_emulation=False))
    except TypeError:  # a torch without the argument
        return torch.cuda.get_device_capability(device)[0] >= 8


def choose_precision(setting: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype, or None for plain float32."""
    if setting == "fp32":
        return None
    if setting == "auto":
        if device.type == "cuda":
            return torch.bfloat16 if cuda_has_bf16(device) else torch.float16
        return torch.bfloat16 if cpu_prefers_bf16() else None
    if setting == "fp16" and device.type == "cpu":
        raise SerkitError("train.precision: fp16 autocast is for CUDA; use bf16 or fp32 on the CPU")
    return {"bf16": torch.bfloat16, "fp16": torch.float16}[setting]


#: Keep freed memory in the process for reuse (see :func:`keep_freed_memory`). False restores
#: glibc's defaults, which ``benchmarks/bench_training.py`` measures side by side.
KEEP_FREED_MEMORY = True
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_MAX, _M_ARENA_MAX = -1, -2, -4, -8


def keep_freed_memory() -> bool:
    """Stop glibc's malloc from unmapping large freed blocks and trimming the heap (Linux only).

    A training step allocates and frees the same large activations every batch; by default each
    is mmap-ed, freed with munmap and faulted in again next step (25-33 % of CPU time in the
    kernel on a 2-core EPYC). Served from one heap (one arena: the compute threads' blocks are
    reused too) that is never trimmed, they are reused. Process-wide and idempotent; True when
    it took effect. Results are bit-identical either way.
    """
    if not KEEP_FREED_MEMORY or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        settings = ((_M_MMAP_MAX, 0), (_M_TRIM_THRESHOLD, 2**31 - 1), (_M_TOP_PAD, 64 << 20), (_M_ARENA_MAX, 1))
        return all(libc.mallopt(option, value) == 1 for option, value in settings)
    except (OSError, AttributeError):  # not glibc
        return False


def seed_everything(seed: int) -> None:
    """Python's, NumPy's and torch's global generators seeded alike (:func:`serkit.core.seeding.seed_globals`)."""
    seed_globals(seed, torch_too=True)


def random_states() -> dict[str, Any]:
    """The global random generators :func:`seed_everything` seeds (torch's, NumPy's, Python's; CUDA's where
    present), as a checkpoint can keep them: dropout, random crops and plugins' masking draw from them."""
    _, keys, position, has_gauss, gauss = np.random.get_state()
    states: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": (torch.from_numpy(np.asarray(keys, dtype=np.int64)), int(position), int(has_gauss), float(gauss)),
        "python": random.getstate(),
    }
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def restore_random_states(states: dict[str, Any]) -> None:
    """Put back what :func:`random_states` kept."""
    torch.set_rng_state(states["torch"].cpu())
    keys, position, has_gauss, gauss = states["numpy"]
    np.random.set_state(("MT19937", keys.numpy().astype(np.uint32), position, has_gauss, gauss))
    version, inner, python_gauss = states["python"]
    random.setstate((version, tuple(inner), python_gauss))
    if "cuda" in states and torch.cuda.is_available() and len(states["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all([state.cpu() for state in states["cuda"]])


def describe_device(device: torch.device) -> dict[str, Any]:
    if device.type == "cuda":
        return {"type": "cuda", "name": torch.cuda.get_device_name(device), "torch_cuda": torch.version.cuda}
    return {"type": "cpu", "threads": torch.get_num_threads(), "bf16": cpu_bf16()}
