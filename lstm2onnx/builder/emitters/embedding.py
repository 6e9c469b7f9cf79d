"""Emitter of ``wordEmbeddingLayer``: a Gather of ``Weightsᵀ`` rows by word index.

The input steps hold 1-based word indices as float32 ``[T, N, 1]``. OOVMode
'map-to-last' maps an index outside ``1..NumWords`` to NumWords+1, the
out-of-vocabulary column of the ``Dimension x (NumWords+1)`` Weights, in the
graph (Where). The graph then clips every index into the columns of Weights
before the Gather, so no input can make onnxruntime fail inside the node; a
non-integer index, or an out-of-range one under OOVMode 'error', is data the
runtime rejects before the run (``lstm2onnx.io`` metadata ``word_indices``).
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np
from onnx import TensorProto

from ...layers import Layer
from ...layers.embedding import WordEmbeddingLayer
from . import EmitContext, Tensor, emits


@emits(WordEmbeddingLayer)
def emit_word_embedding(ctx: EmitContext, layer: WordEmbeddingLayer, x: Tensor) -> Tensor:
    """``y_t = Weightsᵀ[w_t - 1]``: ``[T, N, 1]`` indices -> ``[T, N, Dimension]``."""
    g, name, K, C = ctx.graph, layer.Name, layer.NumWords, layer.columns
    words = g.op("Squeeze", [x.name, g.const("axis_2", [2], np.int64)], name)  # [T, N]
    first, last = g.const("one_f", 1.0), g.const(f"{name}.columns", float(C))
    if layer.OOVMode == "map-to-last":
        vocabulary = g.const(f"{name}.NumWords", float(K))
        outside = g.op("Or", [g.op("Less", [words, first], name), g.op("Greater", [words, vocabulary], name)], name)
        words = g.op("Where", [outside, last, words], name)
    words = g.op("Clip", [words, first, last], name)
    rows = g.op("Sub", [g.op("Cast", [words], name, to=TensorProto.INT64), g.const("one_i64", 1, np.int64)], name)
    table = g.const(f"{name}.Weights.T", np.asarray(layer.Weights).T)  # [columns, Dimension]
    return Tensor(g.op("Gather", [table, rows], name, axis=0), layer.Dimension, True)


def word_indices(layers: Sequence[Layer]) -> dict | None:
    """Metadata ``lstm2onnx.io`` ``word_indices`` when a wordEmbeddingLayer reads the unnormalized input: the runtime
    then rejects steps that are not integer word indices (``lstm2onnx_runtime.input_rules``)."""
    first, second = layers[0], layers[1] if len(layers) > 1 else None
    if not isinstance(second, WordEmbeddingLayer) or getattr(first, "Normalization", "none") != "none":
        return None
    return {"num_words": second.NumWords, "oov_mode": second.OOVMode}


def learnables_from_onnx(layer: WordEmbeddingLayer, tensor) -> WordEmbeddingLayer:
    """The layer with Weights read back from its initializer (``tensor(name) -> array``): the inverse of the emitter."""
    return dataclasses.replace(layer, Weights=tensor(f"{layer.Name}.Weights.T").T)
