"""The MLP torch module (imported lazily so that listing plugins does not load torch)."""

from __future__ import annotations

import torch
from torch import nn


class MLPModule(nn.Module):
    """Input (batch, dims), or (batch, frames, dims) pooled to mean and standard deviation over frames."""

    def __init__(self, input_shape: tuple[int, ...], n_classes: int, hidden: list[int], dropout: float) -> None:
        super().__init__()
        self.pool = len(input_shape) == 2
        width = 2 * input_shape[1] if self.pool else input_shape[0]
        layers: list[nn.Module] = []
        for units in hidden:
            layers += [nn.Linear(width, units), nn.ReLU(), nn.Dropout(dropout)]
            width = units
        layers.append(nn.Linear(width, n_classes))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pool:
            x = torch.cat([x.mean(dim=1), x.std(dim=1, unbiased=False)], dim=1)
        return self.layers(x)
