"""Emitters of 1-D convolution and pooling over time: Conv, MaxPool, AveragePool on ``[N, C, T]``.

Sequences are time-major ``[T, N, C]`` between layers; a windowed layer goes
to ``[N, C, T]``, pads explicitly (a Pad node: the padding value is the
layer's, and 'same' padding may differ per sequence) and runs the ONNX
operator without its own ``pads``.

The padding promise in ragged graphs (input ``sequence_lengths``): steps
past a sequence's end are set to the layer's padding value first (0, or
PaddingValue, for a convolution; -∞ for max pooling; 0 and left out of the
count for average pooling with PaddingValue 'mean'), so every window sees
what it sees when the sequence runs alone; the lengths after the layer are
``floor((L + l + r - D)/s) + 1`` per sequence (``ceil(L/s)`` for 'same').
'same' padding with a stride above 1 depends on each sequence's length
(``l = floor(total/2)``): each sequence is shifted into place by a GatherND.

Stateful graphs are refused: MATLAB's ``predictAndUpdateState`` carries
only recurrent state, so a window over time would see each chunk alone.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np
from onnx import TensorProto, numpy_helper

from ...errors import Lstm2OnnxError
from ...layers import Layer
from ...layers.convolution import (
    AveragePooling1DLayer,
    Convolution1DLayer,
    GlobalAveragePooling1DLayer,
    GlobalMaxPooling1DLayer,
    Indexing1DLayer,
    MaxPooling1DLayer,
    TimeWindow,
)
from . import EmitContext, Tensor, emits

TO_NCT, FROM_NCT = [1, 2, 0], [2, 0, 1]  # [T, N, C] <-> [N, C, T]
OUTPUT_TIME = "output_time"


def _refuse_stateful(ctx: EmitContext, layer) -> None:
    if ctx.stateful:
        raise Lstm2OnnxError(
            f"{layer.where()}: a stateful graph streams chunks carrying only recurrent state (MATLAB's "
            "predictAndUpdateState), so a convolution or pooling over time would see each chunk alone; "
            "build without stateful=True and predict whole sequences"
        )


def _masked(ctx: EmitContext, x: str, fill: float, hint: str) -> str:
    """``x`` ``[T, N, C]`` with the steps past each length set to ``fill`` (unchanged when not ragged)."""
    if ctx.lengths is None:
        return x
    g = ctx.graph
    return g.op("Where", [ctx.valid_steps(x, hint), x, g.const(f"fill_{fill:g}", fill)], hint)


def _ones_like_steps(ctx: EmitContext, x: str, hint: str) -> str:
    """float ``[T, N, 1]``: 1 on each sequence's real steps, 0 past its length."""
    g = ctx.graph
    if ctx.lengths is not None:
        return g.op("Cast", [ctx.valid_steps(x, hint)], hint, to=TensorProto.FLOAT)
    shape = g.op("Slice", [g.op("Shape", [x], hint), g.const("zero", [0], np.int64), g.const("two", [2], np.int64)], hint)
    shape = g.op("Concat", [shape, g.const("one", [1], np.int64)], hint, axis=0)
    return g.op("ConstantOfShape", [shape], hint, value=numpy_helper.from_array(np.ones(1, np.float32)))


def _windowed_input(ctx: EmitContext, layer: TimeWindow, x: str, fill: float, hint: str) -> str:
    """Time-major ``x`` (already masked) as ``[N, C, T̃]``, padded so that an unpadded operator gives each output."""
    g = ctx.graph
    if layer.Padding == "same" and layer.Stride > 1:
        return _shifted_same(ctx, layer, x, fill, hint)
    nct = g.op("Transpose", [x], hint, perm=TO_NCT)
    left, right = layer.pads(0) if layer.Padding == "same" else layer.PaddingSize  # stride 1: 'same' does not depend on T
    if left == 0 and right == 0:
        return nct
    pads = g.const(f"pads_{left}_{right}", [0, 0, left, 0, 0, right], np.int64)
    return g.op("Pad", [nct, pads, g.const(f"fill_{fill:g}", fill)], hint, mode="constant")


def _shifted_same(ctx: EmitContext, layer: TimeWindow, x: str, fill: float, hint: str) -> str:
    """'same' with stride s > 1: sequence n needs ``l_n = floor(total_n/2)`` steps before it, with
    ``total_n = max((ceil(L_n/s) - 1)·s + D - L_n, 0)``. Pad every sequence by ``P = floor((D-1)/2)`` (the most any
    needs) and ``D`` after, then read window positions ``t + P - l_n`` for ``t < (ceil(T/s) - 1)·s + D``."""
    g, s, D = ctx.graph, layer.Stride, layer.window
    P = (D - 1) // 2

    def i64(value: int) -> str:
        return g.const(f"i64_{value}", value, np.int64)

    T = g.op("Gather", [g.op("Shape", [x], hint), g.const("zero_scalar", 0, np.int64)], hint, axis=0)
    L = T if ctx.lengths is None else g.op("Cast", [ctx.lengths], hint, to=TensorProto.INT64)
    ceil_L = g.op("Div", [g.op("Add", [L, i64(s - 1)], hint), i64(s)], hint)
    total = g.op("Sub", [g.op("Add", [g.op("Mul", [g.op("Sub", [ceil_L, i64(1)], hint), i64(s)], hint), i64(D)], hint), L], hint)
    left = g.op("Div", [g.op("Max", [total, i64(0)], hint), i64(2)], hint)  # [N] (or a scalar when not ragged)
    ceil_T = g.op("Div", [g.op("Add", [T, i64(s - 1)], hint), i64(s)], hint)
    span = g.op("Add", [g.op("Mul", [g.op("Sub", [ceil_T, i64(1)], hint), i64(s)], hint), i64(D)], hint)
    steps = g.op("Range", [i64(0), span, i64(1)], hint)  # [T̃]
    shift = g.op("Sub", [i64(P), left], hint)
    shift = g.op("Unsqueeze", [shift, g.const("axis_1", [1], np.int64)], hint) if ctx.lengths is not None else shift
    index = g.op("Add", [g.op("Unsqueeze", [steps, g.const("axis_0", [0], np.int64)], hint), shift], hint)  # [N or 1, T̃]
    batch_major = g.op("Transpose", [x], hint, perm=[1, 0, 2])  # [N, T, C]
    pads = g.const(f"pads_time_{P}_{D}", [0, P, 0, 0, D, 0], np.int64)
    padded = g.op("Pad", [batch_major, pads, g.const(f"fill_{fill:g}", fill)], hint, mode="constant")
    if ctx.lengths is None:  # one shift for all: a plain Gather along time
        shifted = g.op("Gather", [padded, g.op("Squeeze", [index, g.const("axis_0", [0], np.int64)], hint)], hint, axis=1)
    else:
        index = g.op("Unsqueeze", [index, g.const("axis_2", [2], np.int64)], hint)  # [N, T̃, 1]
        shifted = g.op("GatherND", [padded, index], hint, batch_dims=1)  # [N, T̃, C]
    return g.op("Transpose", [shifted], hint, perm=[0, 2, 1])


def _new_lengths(ctx: EmitContext, layer: TimeWindow, hint: str) -> None:
    """Hand later layers each sequence's output length (ragged graphs), and rename the time axis if it changes."""
    g, s, D = ctx.graph, layer.Stride, layer.window
    if layer.keeps_length:
        return
    ctx.time = OUTPUT_TIME
    if ctx.lengths is None:
        return
    if layer.Padding == "same":  # ceil(L/s)
        numerator = g.op("Add", [ctx.lengths, g.const(f"i32_{s - 1}", s - 1, np.int32)], hint)
        ctx.set_lengths(g.op("Div", [numerator, g.const(f"i32_{s}", s, np.int32)], hint))
        return
    left, right = layer.PaddingSize
    numerator = g.op("Add", [ctx.lengths, g.const(f"i32_{left + right - D}", left + right - D, np.int32)], hint)
    quotient = g.op("Div", [numerator, g.const(f"i32_{s}", s, np.int32)], hint)
    ctx.set_lengths(g.op("Add", [quotient, g.const("i32_1", 1, np.int32)], hint))


def _slide(ctx: EmitContext, layer: TimeWindow, x: str, fill: float, op_type: str, *params: str, **attrs) -> str:
    """Mask, pad, run ``op_type`` (Conv/MaxPool/AveragePool) on ``[N, C, T̃]``; return time-major ``[T_out, N, C']``."""
    g, name = ctx.graph, layer.Name
    data = _windowed_input(ctx, layer, _masked(ctx, x, fill, name), fill, name)
    y = g.op(op_type, [data, *params], name, strides=[layer.Stride], **attrs)
    return g.op("Transpose", [y], name, perm=FROM_NCT)


@emits(Convolution1DLayer)
def emit_convolution1d(ctx: EmitContext, layer: Convolution1DLayer, x: Tensor) -> Tensor:
    """Conv on ``[N, C, T̃]`` with W ``[F, C, K]`` (MATLAB's ``K x C x F`` transposed), B ``[F]``, strides, dilations."""
    _refuse_stateful(ctx, layer)
    g, name = ctx.graph, layer.Name
    W = g.const(f"{name}.W", np.transpose(np.asarray(layer.Weights), (2, 1, 0)))
    y = _slide(ctx, layer, x.name, layer.PaddingValue, "Conv", W, g.const(f"{name}.B", layer.Bias),
               kernel_shape=[layer.FilterSize], dilations=[layer.DilationFactor])
    _new_lengths(ctx, layer, name)
    return Tensor(y, layer.NumFilters, True)


@emits(MaxPooling1DLayer)
def emit_max_pooling1d(ctx: EmitContext, layer: MaxPooling1DLayer, x: Tensor) -> Tensor:
    """MaxPool over input padded with -∞; steps past each new length are set to 0 (they would hold -∞)."""
    _refuse_stateful(ctx, layer)
    y = _slide(ctx, layer, x.name, -np.inf, "MaxPool", kernel_shape=[layer.PoolSize])
    _new_lengths(ctx, layer, layer.Name)
    return Tensor(_masked(ctx, y, 0.0, layer.Name), x.size, True)


@emits(AveragePooling1DLayer)
def emit_average_pooling1d(ctx: EmitContext, layer: AveragePooling1DLayer, x: Tensor) -> Tensor:
    """AveragePool over zero-padded input (sum/P); with PaddingValue 'mean', divided by the same pooling of a
    0/1 mask of real steps (sum/count)."""
    _refuse_stateful(ctx, layer)
    y = _slide(ctx, layer, x.name, 0.0, "AveragePool", kernel_shape=[layer.PoolSize])
    if layer.PaddingValue == "mean":
        count = _slide(ctx, layer, _ones_like_steps(ctx, x.name, layer.Name), 0.0, "AveragePool", kernel_shape=[layer.PoolSize])
        y = ctx.graph.op("Div", [y, count], layer.Name)
    _new_lengths(ctx, layer, layer.Name)
    return Tensor(y, x.size, True)


@emits(GlobalMaxPooling1DLayer)
def emit_global_max_pooling1d(ctx: EmitContext, layer: GlobalMaxPooling1DLayer, x: Tensor) -> Tensor:
    """GlobalMaxPool over each sequence's steps (the rest -∞): ``[T, N, C]`` -> ``[N, C]``."""
    _refuse_stateful(ctx, layer)
    g, name = ctx.graph, layer.Name
    nct = g.op("Transpose", [_masked(ctx, x.name, -np.inf, name)], name, perm=TO_NCT)
    y = g.op("GlobalMaxPool", [nct], name)
    return Tensor(g.op("Squeeze", [y, g.const("axis_2", [2], np.int64)], name), x.size, False)


@emits(GlobalAveragePooling1DLayer)
def emit_global_average_pooling1d(ctx: EmitContext, layer: GlobalAveragePooling1DLayer, x: Tensor) -> Tensor:
    """``Σ_t x / L`` over each sequence's steps (the rest 0): ``[T, N, C]`` -> ``[N, C]``."""
    _refuse_stateful(ctx, layer)
    g, name = ctx.graph, layer.Name
    total = g.op("ReduceSum", [_masked(ctx, x.name, 0.0, name), g.const("axis_0", [0], np.int64)], name, keepdims=0)
    if ctx.lengths is None:
        count = g.op("Gather", [g.op("Shape", [x.name], name), g.const("zero", [0], np.int64)], name, axis=0)
    else:
        count = g.op("Unsqueeze", [ctx.lengths, g.const("axis_1", [1], np.int64)], name)
    return Tensor(g.op("Div", [total, g.op("Cast", [count], name, to=TensorProto.FLOAT)], name), x.size, False)



def time_windows(layers: Sequence[Layer]) -> list[dict]:
    """Metadata ``lstm2onnx.io`` ``time_windows``: each window over time in order, so the runtime knows each
    sequence's output length and the shortest input (``lstm2onnx_runtime.input_rules``)."""
    return [{"padding": "same" if layer.Padding == "same" else list(layer.PaddingSize), "window": layer.window, "stride": layer.Stride}
            for layer in layers if isinstance(layer, TimeWindow)]


def learnables_from_onnx(layer: Convolution1DLayer, tensor) -> Convolution1DLayer:
    """The layer with Weights/Bias read back from its initializers (``tensor(name) -> array``): the inverse of the emitter."""
    return dataclasses.replace(layer, Weights=np.transpose(tensor(f"{layer.Name}.W"), (2, 1, 0)), Bias=tensor(f"{layer.Name}.B"))


@emits(Indexing1DLayer)
def emit_indexing1d(ctx: EmitContext, layer: Indexing1DLayer, x: Tensor) -> Tensor:
    """Step 0, or each sequence's own last step (``ctx.last_index``: the current lengths - 1): ``[T, N, C]`` -> ``[N, C]``."""
    _refuse_stateful(ctx, layer)
    g, name = ctx.graph, layer.Name
    if layer.Index == "first" or ctx.lengths is None:
        step = g.const("zero_scalar" if layer.Index == "first" else "minus_one", 0 if layer.Index == "first" else -1, np.int64)
        return Tensor(g.op("Gather", [x.name, step], name, axis=0), x.size, False)
    batch_major = g.op("Transpose", [x.name], name, perm=[1, 0, 2])  # [N, T, C]
    return Tensor(g.op("GatherND", [batch_major, ctx.last_index], name, batch_dims=1), x.size, False)
