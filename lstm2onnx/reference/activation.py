"""Reference (float64) of the element-wise activation layers and flattenLayer, from MATLAB's formulas.

Each function maps any array (``[N, T, C]`` padded sequences or ``[N, C]``)
element by element, so padded steps never mix with valid ones.
"""

from __future__ import annotations

import math

import numpy as np

from ..layers import (
    ClippedReLULayer,
    Layer,
    ELULayer,
    FlattenLayer,
    GELULayer,
    LeakyReLULayer,
    ReLULayer,
    SigmoidLayer,
    SoftplusLayer,
    SwishLayer,
    TanhLayer,
)
from ..layers.activation import ACTIVATION_LAYERS
from . import Flow, computes, sigmoid

_erf = np.vectorize(math.erf, otypes=[np.float64])


def relu(x: np.ndarray) -> np.ndarray:
    """max(x, 0)"""
    return np.maximum(x, 0.0)


def leaky_relu(x: np.ndarray, scale: float) -> np.ndarray:
    """x for x >= 0, scale·x otherwise."""
    return np.where(x >= 0, x, scale * x)


def clipped_relu(x: np.ndarray, ceiling: float) -> np.ndarray:
    """min(max(x, 0), ceiling)"""
    return np.minimum(np.maximum(x, 0.0), ceiling)


def elu(x: np.ndarray, alpha: float) -> np.ndarray:
    """x for x >= 0, alpha·(eˣ - 1) otherwise (expm1 keeps small |x| exact)."""
    return np.where(x >= 0, x, alpha * np.expm1(np.minimum(x, 0.0)))


def swish(x: np.ndarray) -> np.ndarray:
    """x · σ(x)"""
    return x * sigmoid(x)


def softplus(x: np.ndarray) -> np.ndarray:
    """log(1 + eˣ), as max(x, 0) + log1p(e^-|x|): no overflow for large x, exact for very negative x."""
    return np.maximum(x, 0.0) + np.log1p(np.exp(-np.abs(x)))


def gelu(x: np.ndarray, approximation: str = "none") -> np.ndarray:
    """x/2 · (1 + erf(x/√2)) ('none'), or x/2 · (1 + tanh(√(2/π) (x + 0.044715 x³))) ('tanh')."""
    if approximation == "tanh":
        return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))


def activate(layer: Layer, x: np.ndarray) -> np.ndarray:
    """The activation ``layer`` computes, applied to ``x`` element-wise."""
    if isinstance(layer, ReLULayer):
        return relu(x)
    if isinstance(layer, LeakyReLULayer):
        return leaky_relu(x, layer.Scale)
    if isinstance(layer, ClippedReLULayer):
        return clipped_relu(x, layer.Ceiling)
    if isinstance(layer, ELULayer):
        return elu(x, layer.Alpha)
    if isinstance(layer, TanhLayer):
        return np.tanh(x)
    if isinstance(layer, SigmoidLayer):
        return sigmoid(x)
    if isinstance(layer, SwishLayer):
        return swish(x)
    if isinstance(layer, GELULayer):
        return gelu(x, layer.Approximation)
    if isinstance(layer, SoftplusLayer):
        return softplus(x)
    assert isinstance(layer, FlattenLayer), layer  # sequence data has no spatial dimensions: channels-by-time stays
    return x


def compute_activation(layer: Layer, flow: Flow) -> Flow:
    flow.data = activate(layer, flow.data)
    return flow


for _kind in (*ACTIVATION_LAYERS, FlattenLayer):
    computes(_kind)(compute_activation)
