"""Emitters of the element-wise activation layers and flattenLayer.

Each activation is one standard ONNX operator where the opset has it, so
every execution provider runs it natively; the operators keep the layout
(time-major ``[T, N, C]`` or ``[N, C]``) and need no sequence lengths:

=================  ====================================================================
reluLayer          Relu
leakyReluLayer     LeakyRelu(alpha=Scale)
clippedReluLayer   Clip(x, 0, Ceiling), min/max as inputs
eluLayer           Elu(alpha=Alpha)
tanhLayer          Tanh
sigmoidLayer       Sigmoid
softplusLayer      Softplus
swishLayer         Mul(x, Sigmoid(x)) at every opset
geluLayer          opset >= 20: Gelu (approximate='tanh' for Approximation 'tanh');
                   opset 14-19 (no Gelu operator): the formula itself,
                   x/2·(1 + Erf(x/√2)) for 'none',
                   x/2·(1 + Tanh(√(2/π)(x + 0.044715 x³))) for 'tanh'
flattenLayer       no node (the identity on sequence data)
=================  ====================================================================
"""

from __future__ import annotations

import math

from ...layers import (
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
from . import EmitContext, Tensor, emits

GELU_OPSET = 20  # the first opset with the Gelu operator


def _same_shape(x: Tensor, name: str) -> Tensor:
    return Tensor(name, x.size, x.sequence)


# the layers that are one operator: (operator, the property that is its alpha attribute)
ONE_OPERATOR = {ReLULayer: ("Relu", None), LeakyReLULayer: ("LeakyRelu", "Scale"), ELULayer: ("Elu", "Alpha"),
                TanhLayer: ("Tanh", None), SigmoidLayer: ("Sigmoid", None), SoftplusLayer: ("Softplus", None)}


def emit_one_operator(ctx: EmitContext, layer: Layer, x: Tensor) -> Tensor:
    """Relu, LeakyRelu(alpha=Scale), Elu(alpha=Alpha), Tanh, Sigmoid or Softplus: one node."""
    op_type, alpha = ONE_OPERATOR[type(layer)]
    return _same_shape(x, ctx.graph.op(op_type, [x.name], layer.Name, alpha=getattr(layer, alpha) if alpha else None))


for _kind in ONE_OPERATOR:
    emits(_kind)(emit_one_operator)


@emits(ClippedReLULayer)
def emit_clipped_relu(ctx: EmitContext, layer: ClippedReLULayer, x: Tensor) -> Tensor:
    g = ctx.graph
    low, high = g.const("zero_f", 0.0), g.const(f"{layer.Name}.Ceiling", layer.Ceiling)
    return _same_shape(x, g.op("Clip", [x.name, low, high], layer.Name))


@emits(SwishLayer)
def emit_swish(ctx: EmitContext, layer: SwishLayer, x: Tensor) -> Tensor:
    g = ctx.graph
    return _same_shape(x, g.op("Mul", [x.name, g.op("Sigmoid", [x.name], layer.Name)], layer.Name))


@emits(GELULayer)
def emit_gelu(ctx: EmitContext, layer: GELULayer, x: Tensor) -> Tensor:
    """Gelu from opset 20; below it x/2·(1 + Erf(x/√2)) or the tanh approximation, node by node."""
    g, name, tanh = ctx.graph, layer.Name, layer.Approximation == "tanh"
    if ctx.opset >= GELU_OPSET:
        return _same_shape(x, g.op("Gelu", [x.name], name, approximate="tanh" if tanh else None))
    if tanh:  # √(2/π)·(x + 0.044715 x³) = x·(√(2/π) + √(2/π)·0.044715·x²)
        c = math.sqrt(2.0 / math.pi)
        square = g.op("Mul", [x.name, x.name], name)
        inner = g.op("Add", [g.op("Mul", [square, g.const("gelu_c3", c * 0.044715)], name), g.const("gelu_c1", c)], name)
        core = g.op("Tanh", [g.op("Mul", [x.name, inner], name)], name)
    else:
        core = g.op("Erf", [g.op("Mul", [x.name, g.const("inv_sqrt2", 1.0 / math.sqrt(2.0))], name)], name)
    half_x = g.op("Mul", [x.name, g.const("half_f", 0.5)], name)
    return _same_shape(x, g.op("Mul", [half_x, g.op("Add", [core, g.const("one_f", 1.0)], name)], name))


@emits(FlattenLayer)
def emit_flatten(ctx: EmitContext, layer: FlattenLayer, x: Tensor) -> Tensor:
    """Channels-by-time stays as it is (see :class:`lstm2onnx.layers.FlattenLayer`): no node."""
    return x
