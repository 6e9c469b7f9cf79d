"""Float64 reference of 1-D convolution and pooling over time, one sequence at a time.

Each sequence is taken alone (its own T_n steps, nothing of the batch
padding), padded as MATLAB pads it (see :mod:`lstm2onnx.layers.convolution`)
and windowed; the results are padded back into a batch with zeros. So the
reference is MATLAB with MiniBatchSize 1 by construction.
"""

from __future__ import annotations

import numpy as np

from ..errors import Lstm2OnnxError
from ..layers.convolution import (
    AveragePooling1DLayer,
    Convolution1DLayer,
    GlobalAveragePooling1DLayer,
    GlobalMaxPooling1DLayer,
    Indexing1DLayer,
    MaxPooling1DLayer,
    TimeWindow,
)
from . import Flow, computes


def _padded(layer: TimeWindow, x: np.ndarray, value: float) -> np.ndarray:
    """One sequence ``[T, C]`` with ``l`` steps of ``value`` before and ``r`` after."""
    left, right = layer.pads(len(x))
    return np.concatenate([np.full((left, x.shape[1]), value), x, np.full((right, x.shape[1]), value)])


def _output_length(layer: TimeWindow, T: int, n: int) -> int:
    T_out = layer.output_length(T)
    if T_out < 1:
        raise Lstm2OnnxError(layer.too_short(n, T))
    return T_out


def _per_sequence(layer: TimeWindow, flow: Flow, window_fn, value: float, channels: int) -> Flow:
    """Apply ``window_fn(x̃, T_out, real)`` to each padded sequence; ``real`` marks its non-padding steps."""
    outputs = []
    for n, T in enumerate(flow.lengths):
        x = flow.data[n, :T]
        T_out = _output_length(layer, int(T), n)
        real = _padded(layer, np.ones((T, 1)), 0.0)[:, 0]
        outputs.append(window_fn(_padded(layer, x, value), T_out, real))
    lengths = np.array([len(y) for y in outputs])
    data = np.zeros((len(outputs), lengths.max(), channels))
    for n, y in enumerate(outputs):
        data[n, : len(y)] = y
    return Flow(data, lengths, True)


def _windows(x: np.ndarray, T_out: int, stride: int, size: int, step: int = 1) -> np.ndarray:
    """``[T_out, size, ...]``: window j holds x̃[j·s + k·step] for k < size."""
    index = np.arange(T_out)[:, None] * stride + np.arange(size)[None, :] * step
    return x[index]


@computes(Convolution1DLayer)
def convolution1d(layer: Convolution1DLayer, flow: Flow) -> Flow:
    """``y[j, f] = b[f] + Σ_k Σ_c W[k, c, f] x̃[j·s + k·d, c]`` (cross-correlation, as MATLAB computes it)."""
    W = np.asarray(layer.Weights, np.float64)  # [K, C, F]
    b = np.asarray(layer.Bias, np.float64)  # [F]

    def convolve(x: np.ndarray, T_out: int, real: np.ndarray) -> np.ndarray:
        windows = _windows(x, T_out, layer.Stride, layer.FilterSize, layer.DilationFactor)  # [T_out, K, C]
        return np.einsum("jkc,kcf->jf", windows, W) + b

    return _per_sequence(layer, flow, convolve, layer.PaddingValue, layer.NumFilters)


@computes(MaxPooling1DLayer)
def max_pooling1d(layer: MaxPooling1DLayer, flow: Flow) -> Flow:
    """``y[j, c] = max_k x̃[j·s + k, c]`` with padding -∞ (it never wins)."""

    def pool(x: np.ndarray, T_out: int, real: np.ndarray) -> np.ndarray:
        return _windows(x, T_out, layer.Stride, layer.PoolSize).max(axis=1)

    return _per_sequence(layer, flow, pool, -np.inf, flow.data.shape[2])


@computes(AveragePooling1DLayer)
def average_pooling1d(layer: AveragePooling1DLayer, flow: Flow) -> Flow:
    """PaddingValue 0: ``y[j] = (1/P) Σ_k x̃[j·s + k]`` (padding counts as zeros);
    'mean': the sum over the window's real steps divided by their number."""

    def pool(x: np.ndarray, T_out: int, real: np.ndarray) -> np.ndarray:
        total = _windows(x, T_out, layer.Stride, layer.PoolSize).sum(axis=1)
        if layer.PaddingValue == "mean":
            return total / _windows(real, T_out, layer.Stride, layer.PoolSize).sum(axis=1)[:, None]
        return total / layer.PoolSize

    return _per_sequence(layer, flow, pool, 0.0, flow.data.shape[2])


@computes(GlobalMaxPooling1DLayer)
def global_max_pooling1d(layer: GlobalMaxPooling1DLayer, flow: Flow) -> Flow:
    """``y[n, c] = max_{t < T_n} x[n, t, c]``: one time step."""
    return Flow(np.stack([flow.data[n, :T].max(axis=0) for n, T in enumerate(flow.lengths)]), flow.lengths, False)


@computes(GlobalAveragePooling1DLayer)
def global_average_pooling1d(layer: GlobalAveragePooling1DLayer, flow: Flow) -> Flow:
    """``y[n, c] = (1/T_n) Σ_{t < T_n} x[n, t, c]``: one time step."""
    return Flow(np.stack([flow.data[n, :T].mean(axis=0) for n, T in enumerate(flow.lengths)]), flow.lengths, False)


@computes(Indexing1DLayer)
def indexing1d(layer: Indexing1DLayer, flow: Flow) -> Flow:
    """``y[n, c] = x[n, 0, c]`` ('first') or ``x[n, T_n - 1, c]`` ('last'): one time step."""
    steps = np.zeros(len(flow.lengths), int) if layer.Index == "first" else np.asarray(flow.lengths) - 1
    return Flow(flow.data[np.arange(len(steps)), steps], flow.lengths, False)
