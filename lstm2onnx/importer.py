"""An lstm2onnx-built ONNX model back to its full layer array (spec from metadata, learnables from initializers).

Used by ``lstm2onnx verify`` (run the numpy reference on the file's own
weights) and ``lstm2onnx to-matlab --learnables``.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper

from . import gates
from .builder import META_SPEC
from .builder.emitters.attention import learnables_from_onnx as attention_learnables
from .builder.emitters.convolution import learnables_from_onnx as convolution_learnables
from .builder.emitters.embedding import learnables_from_onnx as embedding_learnables
from .builder.emitters.group_normalization import learnables_from_onnx as group_normalization_learnables
from .builder.emitters.normalization import learnables_from_onnx as normalization_learnables
from .errors import Lstm2OnnxError
from .layers import (
    BatchNormalizationLayer,
    Convolution1DLayer,
    FullyConnectedLayer,
    GRULayer,
    LayerNormalizationLayer,
    LSTMLayer,
    WordEmbeddingLayer,
)
from .layers.attention import SelfAttentionLayer
from .layers.group_normalization import GroupNormalizationLayer, InstanceNormalizationLayer
from .layers.projected import GRUProjectedLayer, LSTMProjectedLayer
from .network import LayerArray


def load_onnx(model: str | os.PathLike | onnx.ModelProto) -> LayerArray:
    """The layer array, with learnables, that an lstm2onnx ``.onnx`` file was built from."""
    if not isinstance(model, onnx.ModelProto):
        try:
            model = onnx.load(os.fspath(model))
        except Exception as error:  # onnx raises several types for unreadable files
            raise Lstm2OnnxError(f"cannot read {os.fspath(model)!r} as an ONNX model: {error}") from None
    meta = {p.key: p.value for p in model.metadata_props}
    if META_SPEC not in meta:
        raise Lstm2OnnxError("the model has no lstm2onnx.spec metadata: it was not built by lstm2onnx")
    layers = LayerArray.from_dict(json.loads(meta[META_SPEC]))
    tensors = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    return LayerArray(_with_learnables(layer, tensors) for layer in layers)


def _with_learnables(layer: Any, tensors: dict[str, np.ndarray]) -> Any:
    name = layer.Name
    if isinstance(layer, (LSTMProjectedLayer, GRUProjectedLayer)):  # the graph holds W·Q_iᵀ and R·Q_oᵀ, not the factors:
        # it reads back as that lstmLayer (gruLayer)
        layer = layer.unprojected()
    if isinstance(layer, LSTMLayer):
        W, R, B = (_tensor(tensors, f"{name}.{k}") for k in ("W", "R", "B"))
        H = layer.NumHiddenUnits
        dirs = range(W.shape[0])
        return dataclasses.replace(
            layer,
            InputWeights=np.concatenate([gates.reorder_gates(W[d], gates.ONNX, gates.MATLAB) for d in dirs]),
            RecurrentWeights=np.concatenate([gates.reorder_gates(R[d], gates.ONNX, gates.MATLAB) for d in dirs]),
            Bias=np.concatenate([gates.reorder_gates(B[d, : 4 * H] + B[d, 4 * H :], gates.ONNX, gates.MATLAB) for d in dirs]),
        )
    if isinstance(layer, GRULayer):
        W, R, Wb, Rb = gates.from_onnx_gru(*(_tensor(tensors, f"{name}.{k}") for k in ("W", "R", "B")))
        return dataclasses.replace(layer, InputWeights=W, RecurrentWeights=R, Bias=Wb, RecurrentBias=Rb if layer.recurrent_bias_mode else None)
    if isinstance(layer, FullyConnectedLayer):
        return dataclasses.replace(layer, Weights=_tensor(tensors, f"{name}.Weights.T").T, Bias=_tensor(tensors, f"{name}.Bias"))
    if isinstance(layer, (BatchNormalizationLayer, LayerNormalizationLayer)):
        return normalization_learnables(layer, lambda key: _tensor(tensors, key))
    if isinstance(layer, (GroupNormalizationLayer, InstanceNormalizationLayer)):
        return group_normalization_learnables(layer, lambda key: _tensor(tensors, key))
    if isinstance(layer, Convolution1DLayer):
        return convolution_learnables(layer, lambda key: _tensor(tensors, key))
    if isinstance(layer, WordEmbeddingLayer):
        return embedding_learnables(layer, lambda key: _tensor(tensors, key))
    if isinstance(layer, SelfAttentionLayer):
        return attention_learnables(layer, lambda key: _tensor(tensors, key))
    return layer


def _tensor(tensors: dict[str, np.ndarray], name: str) -> np.ndarray:
    if name not in tensors:
        raise Lstm2OnnxError(f"the model has no initializer {name!r}; was it modified after lstm2onnx built it?")
    return tensors[name]
