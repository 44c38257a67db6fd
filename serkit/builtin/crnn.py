"""The CRNN torch module (imported lazily so that listing plugins does not load torch)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.grad import conv2d_input

#: Compute the weight gradient of single-input-channel convolutions as one matrix product (see
#: :class:`SingleChannelConv2d`). False restores the plain oneDNN path, which
#: ``benchmarks/bench_training.py`` measures side by side.
FAST_SINGLE_CHANNEL_GRAD = True

#: Also under autocast (bf16 on the CPU). Off: in bf16, oneDNN's own weight gradient measured faster
#: (the paper CRNN's training step on Sapphire Rapids: 57.5 against 44.6 samples/s with AMX, 16.8
#: against 15.1 with oneDNN held to AVX-512 BF16; ``benchmarks/README.md``, 2026-12-01).
FAST_GRAD_UNDER_AUTOCAST = False

#: Apply ReLU after max pooling rather than before. ReLU is monotonic, so both orders give the
#: same output and gradients, but after pooling it touches a quarter (or a sixteenth) of the
#: values. False restores the paper's written order (same parameters, same state dict).
POOL_BEFORE_RELU = True


class _SingleChannelConv(torch.autograd.Function):
    """conv2d with "same" zero padding whose weight gradient is patches x output gradient.

    Autocast-aware: under CPU autocast the convolution runs in autocast's dtype (as ``F.conv2d``
    would), its inputs are saved in that dtype, and the gradients are returned in the dtypes of the
    tensors passed in (the weight's float32 master copy gets a float32 gradient, summed over the
    batch in float32).
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        kh, kw = weight.shape[-2:]
        dtype = torch.get_autocast_dtype("cpu") if torch.is_autocast_enabled("cpu") else x.dtype
        ctx.dtypes = (x.dtype, weight.dtype)
        x, weight = x.to(dtype), weight.to(dtype)
        ctx.save_for_backward(x, weight)
        with torch.autocast("cpu", enabled=False):
            return F.conv2d(x, weight, padding=(kh // 2, kw // 2))

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        x, weight = ctx.saved_tensors
        x_dtype, weight_dtype = ctx.dtypes
        grad = grad.to(x.dtype)
        out_channels, _, kh, kw = weight.shape
        grad_x = grad_w = None
        if ctx.needs_input_grad[0]:
            grad_x = conv2d_input(x.shape, weight, grad, padding=(kh // 2, kw // 2)).to(x_dtype)
        if ctx.needs_input_grad[1]:
            batch, _, height, width = x.shape
            padded = F.pad(x, (kw // 2, kw // 2, kh // 2, kh // 2)).contiguous()
            s = padded.stride()
            windows = padded.as_strided((batch, kh, kw, height, width), (s[0], s[2], s[3], s[2], s[3]))
            patches = windows.reshape(batch, kh * kw, height * width)
            flat = grad.contiguous().reshape(batch, out_channels, height * width)
            per_item = flat @ patches.transpose(1, 2)
            grad_w = per_item.sum(0, dtype=torch.float32).reshape(weight.shape).to(weight_dtype)
        return grad_x, grad_w


class SingleChannelConv2d(nn.Conv2d):
    """A Conv2d whose weight gradient, for one input channel, is computed as a matrix product.

    On CPUs oneDNN computes that gradient at a few GFLOP/s (on a 2-core AVX2 EPYC it was 40 % of
    the paper CRNN's training step); as unfolded patches times the output gradient it runs near
    the BLAS peak. Same parameters and state dict as ``nn.Conv2d``, the same forward; gradients
    equal up to rounding.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self._applies(x):
            return _SingleChannelConv.apply(x, self.weight)
        return super().forward(x)

    def _applies(self, x: torch.Tensor) -> bool:
        kh, kw = self.kernel_size
        return (
            FAST_SINGLE_CHANNEL_GRAD
            and self.training  # only training computes weight gradients; export traces the plain conv
            and not torch.jit.is_tracing()
            and self.in_channels == 1
            and self.bias is None
            and x.dim() == 4
            and x.device.type == "cpu"
            and (FAST_GRAD_UNDER_AUTOCAST or not torch.is_autocast_enabled("cpu"))
            and torch.is_grad_enabled()
            and self.weight.requires_grad
            and (self.stride, self.dilation, self.groups, self.padding) == ((1, 1), (1, 1), 1, "same")
            and self.padding_mode == "zeros"
            and kh % 2 == 1
            and kw % 2 == 1
        )


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
        last_step: bool = False,
    ) -> None:
        super().__init__()
        self.last_step = last_step
        if len(input_shape) == 2:  # (channels, time): treat as an image one bin high
            input_shape = (input_shape[0], 1, input_shape[1])
        channels, height, width = input_shape
        blocks: list[nn.Module] = []
        for kernel, out_channels, pool in zip(kernels, filters, pools, strict=True):
            # Pool no further than the map allows, so any feature size fits the network.
            pool_h, pool_w = min(pool, height), min(pool, width)
            activation_and_pool: list[nn.Module] = [nn.ReLU(inplace=True), nn.MaxPool2d((pool_h, pool_w))]
            if POOL_BEFORE_RELU:
                activation_and_pool.reverse()
            blocks += [
                SingleChannelConv2d(channels, out_channels, kernel, padding="same", bias=False),
                nn.BatchNorm2d(out_channels),
                *activation_and_pool,
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
        outputs, (hidden, _) = self.lstm(sequence.float())
        # both directions' outputs at the last frame, or their final states
        summary = outputs[:, -1] if self.last_step else torch.cat([hidden[-2], hidden[-1]], dim=1)
        return self.classifier(self.dropout(summary))
