"""Torch modules for vectors and sequences (imported lazily so that listing plugins does not load torch)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


class MLPModule(nn.Module):
    """Input (batch, dims), or a sequence (batch, [layers,] frames, dims) pooled to mean and standard
    deviation over frames (each layer's, concatenated)."""

    def __init__(self, input_shape: tuple[int, ...], n_classes: int, hidden: list[int], dropout: float) -> None:
        super().__init__()
        self.pool = len(input_shape) >= 2
        width = 2 * int(np.prod(input_shape[:-2], dtype=int)) * input_shape[-1] if self.pool else input_shape[0]
        layers: list[nn.Module] = []
        for units in hidden:
            layers += [nn.Linear(width, units), nn.ReLU(), nn.Dropout(dropout)]
            width = units
        layers.append(nn.Linear(width, n_classes))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pool:
            x = torch.cat([x.mean(dim=-2), x.std(dim=-2, unbiased=False)], dim=-1).flatten(1)
        return self.layers(x)


class AttentivePoolingModule(nn.Module):
    """Sequence (batch, [layers,] frames, dims) -> logits: an optional learned softmax-weighted sum over
    layers, a projection, attentive statistics pooling over frames, a linear classifier."""

    def __init__(
        self,
        input_shape: tuple[int, ...],
        n_classes: int,
        hidden: int,
        attention: int,
        layer_weights: bool,
        dropout: float,
    ) -> None:
        super().__init__()
        layers = input_shape[0] if len(input_shape) == 3 else 1
        dims = input_shape[-1]
        self.stacked = len(input_shape) == 3
        self.weighted = layer_weights and self.stacked
        self.layer_logits = nn.Parameter(torch.zeros(layers)) if self.weighted else None
        width = dims if self.weighted or not self.stacked else layers * dims
        self.project = nn.Sequential(nn.Linear(width, hidden), nn.ReLU(), nn.Dropout(dropout))
        self.score = nn.Sequential(nn.Linear(hidden, attention), nn.Tanh(), nn.Linear(attention, 1))
        self.classifier = nn.Linear(2 * hidden, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.layer_logits is not None:  # (batch, layers, frames, dims) -> (batch, frames, dims)
            x = torch.einsum("l,blfd->bfd", torch.softmax(self.layer_logits, 0), x)
        elif self.stacked:  # layers side by side
            x = x.permute(0, 2, 1, 3).flatten(2)
        h = self.project(x)
        weights = torch.softmax(self.score(h), dim=1)  # (batch, frames, 1)
        mean = (weights * h).sum(1)
        std = ((weights * h.square()).sum(1) - mean.square()).clamp_min(1e-6).sqrt()
        return self.classifier(torch.cat([mean, std], dim=1))
