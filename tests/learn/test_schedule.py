"""Gradient accumulation and the learning-rate schedule of serkit's trainer: two accumulated half
batches train as one whole batch; the cosine schedule warms up linearly, decays to zero at
max_epochs, and, computed from the step's index, continues where a resumed run left off; a model's
own parameter groups keep their rates."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from torch import nn

from serkit.core.settings import TrainSettings
from serkit.learn.trainer import Trainer, set_learning_rate


def _data(n: int = 32) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.standard_normal((n, 6)).astype(np.float32), rng.integers(0, 3, n)


def _trained(batch_size: int, accumulate: int) -> nn.Module:
    torch.manual_seed(0)
    model = nn.Linear(6, 3)
    x, y = _data()
    settings = TrainSettings(
        max_epochs=3, batch_size=batch_size, accumulate=accumulate, precision="fp32", learning_rate=1e-2, patience=9
    )
    return Trainer(settings, torch.device("cpu"), 0).fit(model, x, y, x[:8], y[:8]).model


def test_two_accumulated_half_batches_train_as_one_batch():
    whole, halves = _trained(16, 1), _trained(8, 2)
    # the same samples in the same order make each optimiser step (the shuffle draws whole-epoch orders)
    for a, b in zip(whole.parameters(), halves.parameters(), strict=True):
        assert torch.allclose(a, b, atol=1e-6)
    assert not torch.allclose(_trained(8, 1).weight, whole.weight, atol=1e-4)  # and it is not batch 8


def _rates(settings: TrainSettings, steps: int, per_epoch: int, groups: int = 1) -> list[list[float]]:
    model = nn.Linear(2, 2)
    params = [{"params": [model.weight], "lr": 1.0}, {"params": [model.bias], "lr": 0.1}][:groups]
    optimizer = torch.optim.SGD(params, lr=1.0)
    out = []
    for index in range(steps):
        set_learning_rate(settings, optimizer, index, per_epoch)
        out.append([group["lr"] for group in optimizer.param_groups])
    return out


def test_cosine_warms_up_then_decays_to_zero_at_max_epochs():
    settings = TrainSettings(max_epochs=4, schedule="cosine", warmup_epochs=1, precision="fp32")
    rates = [r[0] for r in _rates(settings, 40, 10)]
    assert rates[:10] == pytest.approx([(k + 1) / 10 for k in range(10)])  # linear warm-up over one epoch
    assert rates[10] == pytest.approx(1.0) and rates[25] == pytest.approx(0.5 * (1 + math.cos(math.pi * 15 / 30)))
    assert all(a >= b for a, b in itertools.pairwise(rates[10:])) and rates[-1] < 0.01
    both = _rates(settings, 40, 10, groups=2)
    assert all(second == pytest.approx(0.1 * first) for first, second in both)  # each group from its own base
    constant = _rates(TrainSettings(precision="fp32"), 5, 10, groups=2)
    assert constant == [[1.0, 0.1]] * 5
