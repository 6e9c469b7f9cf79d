"""Float64 reference of ``wordEmbeddingLayer``: ``y_t = Weights[:, w_t]`` for 1-based word indices w_t.

OOVMode 'map-to-last' reads column NumWords+1 (the out-of-vocabulary vector) for an index outside 1..NumWords.
"""

from __future__ import annotations

import numpy as np

from ..errors import Lstm2OnnxError
from ..layers.embedding import WordEmbeddingLayer
from . import Flow, computes


def word_indices(layer: WordEmbeddingLayer, flow: Flow) -> np.ndarray:
    """The 0-based row of ``Weightsᵀ`` for every step ``[N, T]``; padded steps read row 0.

    A non-integer index, and with OOVMode 'error' an index outside 1..NumWords, is an error naming
    the sequence and step; 'map-to-last' maps an index outside 1..NumWords to NumWords+1.
    """
    x = flow.data[..., 0]
    valid = np.arange(x.shape[1])[None, :] < np.asarray(flow.lengths)[:, None]
    w = np.where(valid, x, 1.0)
    K = layer.NumWords
    bad = ~np.isfinite(w) | (w != np.round(w))
    if layer.OOVMode == "error":
        bad |= (w < 1) | (w > K)
    if bad.any():
        n, t = map(int, np.argwhere(bad)[0])
        expected = "an integer word index" if layer.OOVMode == "map-to-last" else f"an integer word index from 1 to {K}"
        raise Lstm2OnnxError(f"{layer.where()}: sequence {n + 1}, time step {t + 1} holds {float(x[n, t]):g}; expected {expected}")
    w = np.where((w < 1) | (w > K), layer.columns, w)
    return w.astype(np.int64) - 1


@computes(WordEmbeddingLayer)
def word_embedding(layer: WordEmbeddingLayer, flow: Flow) -> Flow:
    if layer.Weights is None:
        raise Lstm2OnnxError(f"{layer.where('Weights')} is unset; initialize the network first (lstm2onnx.initialize)")
    if layer.Weights.shape[1] != layer.columns:
        raise Lstm2OnnxError(
            f"{layer.where('Weights')} is Dimension-by-NumWords; OOVMode 'map-to-last' reads column NumWords+1 = {layer.columns}, "
            "the out-of-vocabulary vector: initialize the network first (lstm2onnx.initialize appends it, as MATLAB's "
            "trainNetwork and dlnetwork initialization do)"
        )
    E = np.asarray(layer.Weights, np.float64).T  # [columns, Dimension]: row w-1 is word w's vector
    return Flow(E[word_indices(layer, flow)], flow.lengths, True)
