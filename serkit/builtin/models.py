"""Torch models: the CRNN of Yadav, Bastola & Sharma (Table 1), and an MLP for feature vectors."""

from __future__ import annotations

from dataclasses import dataclass

from serkit.core.components import Model
from serkit.core.hookspecs import hookimpl
from serkit.core.params import param


@dataclass(frozen=True, kw_only=True)
class CRNN(Model):
    """Conv-BN-ReLU-MaxPool blocks, then a bidirectional LSTM over time and a dense layer."""

    name = "crnn"
    kernels: list[int] = param([9, 7, 5, 3], "square kernel size of each conv block", ge=1)
    filters: list[int] = param([64, 64, 128, 128], "output channels of each conv block", ge=1)
    pools: list[int] = param([2, 4, 4, 4], "max-pool size of each conv block", ge=1)
    lstm_units: int = param(128, "hidden units per direction of the BiLSTM", ge=1)
    dropout: float = param(0.0, "dropout before the dense layer (paper: none)", ge=0, lt=1)
    readout: str = param(
        "final_states",
        "what of the BiLSTM the dense layer reads: final_states, each direction's state after the whole sequence "
        "(Keras's Bidirectional(LSTM) without return_sequences); last_step, the output at the last time step in "
        "both directions (a notebook's output[:, -1]: the backward direction has then seen only the last frame)",
        choices=("final_states", "last_step"),
        since="0.3",
    )

    def validate(self) -> None:
        if not (len(self.kernels) == len(self.filters) == len(self.pools) >= 1):
            raise ValueError("kernels, filters and pools must be non-empty lists of equal length")

    def build(self, input_shape: tuple[int, ...], n_classes: int):
        from serkit.builtin.crnn import CRNNModule

        return CRNNModule(
            input_shape,
            n_classes,
            self.kernels,
            self.filters,
            self.pools,
            self.lstm_units,
            self.dropout,
            self.readout == "last_step",
        )


@dataclass(frozen=True, kw_only=True)
class MLP(Model):
    """Fully connected layers with ReLU and dropout on a vector; a sequence is pooled to mean and sd first."""

    name = "mlp"
    accepts = ("vector", "sequence")
    hidden: list[int] = param([256, 128], "units of each hidden layer (empty: a linear classifier)", ge=1)
    dropout: float = param(0.3, "dropout after each hidden layer", ge=0, lt=1)

    def build(self, input_shape: tuple[int, ...], n_classes: int):
        from serkit.builtin.mlp import MLPModule

        return MLPModule(input_shape, n_classes, self.hidden, self.dropout)


@dataclass(frozen=True, kw_only=True)
class AttentivePooling(Model):
    """Attentive statistics pooling over frames, after a learned weighted sum of stacked layers (SUPERB's recipe)."""

    name = "attentive_pooling"
    accepts = ("sequence",)
    hidden: int = param(256, "units of the projection before pooling", ge=1)
    attention: int = param(128, "units of the attention scorer", ge=1)
    layer_weights: bool = param(True, "stacked layers: learn a softmax-weighted sum (false: concatenate them)")
    dropout: float = param(0.1, "dropout after the projection", ge=0, lt=1)

    def build(self, input_shape: tuple[int, ...], n_classes: int):
        from serkit.builtin.mlp import AttentivePoolingModule

        return AttentivePoolingModule(
            input_shape, n_classes, self.hidden, self.attention, self.layer_weights, self.dropout
        )


@hookimpl
def register_models(register):
    register(CRNN)
    register(MLP)
    register(AttentivePooling)
