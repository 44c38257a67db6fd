"""Seeding the global random generators a training draws from, without importing torch where nothing uses it."""

from __future__ import annotations

import random
import sys

import numpy as np


def seed_globals(seed: int, torch_too: bool) -> None:
    """Python's and NumPy's global generators seeded, and torch's where ``torch_too`` (a torch model is about to be
    built) or torch is already in use: a scikit-learn run never pays for importing torch."""
    random.seed(seed)
    np.random.seed(seed)
    if torch_too or "torch" in sys.modules:
        import torch

        torch.manual_seed(seed)
