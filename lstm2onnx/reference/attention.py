"""Reference (float64) of selfAttentionLayer: each sequence attends to its own valid steps only.

Per sequence n with T_n valid steps X ``[T_n, C]`` (see :mod:`lstm2onnx.layers.attention`)::

    Q = X W_Qᵀ + b_Q,  K = X W_Kᵀ + b_K,  V = X W_Vᵀ + b_V
    head_i = softmax(Q_i K_iᵀ / √d_k + M) V_i,   M[s, t] = -∞ where t > s ('causal'), else 0
    Y = [head_1 ... head_h] W_Oᵀ + b_O

computed on the sequence alone, so padding never reaches a result; padded output steps are 0.
"""

from __future__ import annotations

import numpy as np

from ..layers.attention import SelfAttentionLayer
from . import Flow, _learnable, computes


def self_attention(X: np.ndarray, W_Q: np.ndarray, W_K: np.ndarray, W_V: np.ndarray, W_O: np.ndarray, b_Q: np.ndarray,
                   b_K: np.ndarray, b_V: np.ndarray, b_O: np.ndarray, heads: int, causal: bool) -> np.ndarray:
    """One sequence X ``[T, C]`` -> ``[T, OutputSize]``: the formulas above, head by head."""
    T = X.shape[0]
    Q, K, V = X @ W_Q.T + b_Q, X @ W_K.T + b_K, X @ W_V.T + b_V
    d_k, d_v = Q.shape[1] // heads, V.shape[1] // heads
    hidden = np.triu(np.ones((T, T), bool), k=1) if causal else np.zeros((T, T), bool)  # hidden[s, t]: t > s
    merged = []
    for i in range(heads):
        Q_i, K_i, V_i = Q[:, i * d_k:(i + 1) * d_k], K[:, i * d_k:(i + 1) * d_k], V[:, i * d_v:(i + 1) * d_v]
        scores = np.where(hidden, -np.inf, Q_i @ K_i.T / np.sqrt(d_k))
        scores = scores - scores.max(axis=1, keepdims=True)  # every row keeps key 0, so its max is finite
        weights = np.exp(scores)
        merged.append(weights / weights.sum(axis=1, keepdims=True) @ V_i)
    return np.concatenate(merged, axis=1) @ W_O.T + b_O


@computes(SelfAttentionLayer)
def compute_self_attention(layer: SelfAttentionLayer, flow: Flow) -> Flow:
    params = [_learnable(layer, k) for k in ("QueryWeights", "KeyWeights", "ValueWeights", "OutputWeights",
                                             "QueryBias", "KeyBias", "ValueBias", "OutputBias")]
    causal = layer.AttentionMask == "causal"
    if not flow.sequence:  # one step: it attends to itself alone
        flow.data = np.stack([self_attention(x[None], *params, layer.NumHeads, causal)[0] for x in flow.data])
        return flow
    N, T, _ = flow.data.shape
    Y = np.zeros((N, T, params[3].shape[0]))
    for n, L in enumerate(flow.lengths):
        Y[n, :L] = self_attention(flow.data[n, :L], *params, layer.NumHeads, causal)
    flow.data = Y
    return flow
