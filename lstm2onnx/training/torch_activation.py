"""Torch modules of the element-wise activation layers and flattenLayer (no learnables).

Each applies MATLAB's formula element-wise (see :mod:`lstm2onnx.layers.activation`);
torch's own functions compute the same ones: ``leaky_relu`` is x or Scale·x,
``elu`` is x or Alpha·(eˣ - 1), ``silu`` is x·σ(x), ``logaddexp(x, 0)`` is log(1 + eˣ), ``gelu`` takes the same
'none' / 'tanh' approximation names as MATLAB. Shapes are kept: ``[N, T, C]`` or ``[N, C]``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..layers import (
    ClippedReLULayer,
    ELULayer,
    FlattenLayer,
    GELULayer,
    Layer,
    LeakyReLULayer,
    ReLULayer,
    SigmoidLayer,
    SoftplusLayer,
    SwishLayer,
    TanhLayer,
)
from ..layers.activation import ACTIVATION_LAYERS
from .torch_net import stage


class Elementwise(nn.Module):
    """``f(x)`` on every element; padded steps stay apart from valid ones, so lengths are not needed."""

    def __init__(self, layer: Layer) -> None:
        super().__init__()
        self.spec = layer

    def forward(self, x: torch.Tensor, lengths: torch.Tensor, sequence: bool) -> tuple[torch.Tensor, bool]:
        return activate(self.spec, x), sequence


def activate(layer: Layer, x: torch.Tensor) -> torch.Tensor:
    """The activation ``layer`` computes, applied to ``x`` element-wise."""
    if isinstance(layer, ReLULayer):
        return torch.relu(x)
    if isinstance(layer, LeakyReLULayer):
        return F.leaky_relu(x, negative_slope=layer.Scale)
    if isinstance(layer, ClippedReLULayer):
        return torch.clamp(x, 0.0, layer.Ceiling)
    if isinstance(layer, ELULayer):
        return F.elu(x, alpha=layer.Alpha)
    if isinstance(layer, TanhLayer):
        return torch.tanh(x)
    if isinstance(layer, SigmoidLayer):
        return torch.sigmoid(x)
    if isinstance(layer, SwishLayer):
        return F.silu(x)
    if isinstance(layer, GELULayer):
        return F.gelu(x, approximate=layer.Approximation)
    if isinstance(layer, SoftplusLayer):  # not F.softplus: its threshold (20) returns x, 2e-9 off log(1 + eˣ)
        return torch.logaddexp(x, torch.zeros_like(x))
    assert isinstance(layer, FlattenLayer), layer  # the identity on sequence data
    return x


for _kind in (*ACTIVATION_LAYERS, FlattenLayer):
    stage(_kind)(Elementwise)
