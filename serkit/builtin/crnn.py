"""The CRNN torch module (imported lazily so that listing plugins does not load torch)."""

from __future__ import annotations

import torch
from torch import nn


class CRNNModule(nn.Module):
    """Input (batch, channels, freq, time) or (batch, channels, time); output logits (batch, K)."""

    def __init__(
        self,
        input_shape: tuple[int, ...],
        n_classes: int,
        kernels: list[int],
        filters: list[int],
        pools: list[int],
        lstm_units: int,
        dropout: float,
    ) -> None:
        super().__init__()
        if len(input_shape) == 2:  # (channels, time): treat as an image one bin high
            input_shape = (input_shape[0], 1, input_shape[1])
        channels, height, width = input_shape
        blocks: list[nn.Module] = []
        for kernel, out_channels, pool in zip(kernels, filters, pools, strict=True):
            # Pool no further than the map allows, so any feature size fits the network.
            pool_h, pool_w = min(pool, height), min(pool, width)
            blocks += [
                nn.Conv2d(channels, out_channels, kernel, padding="same", bias=False),
                nn.BatchNorm2d(out_channels),
                nn.ReLU(inplace=True),
                nn.MaxPool2d((pool_h, pool_w)),
            ]
            channels, height, width = out_channels, height // pool_h, width // pool_w
        self.features = nn.Sequential(*blocks)
        self.lstm = nn.LSTM(channels * height, lstm_units, batch_first=True, bidirectional=True)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(2 * lstm_units, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 3:
            x = x.unsqueeze(2)
        maps = self.features(x)  # (batch, channels, height, time)
        batch, channels, height, time = maps.shape
        sequence = maps.permute(0, 3, 1, 2).reshape(batch, time, channels * height)
        _, (hidden, _) = self.lstm(sequence.float())
        summary = torch.cat([hidden[-2], hidden[-1]], dim=1)  # final forward and backward states
        return self.classifier(self.dropout(summary))
