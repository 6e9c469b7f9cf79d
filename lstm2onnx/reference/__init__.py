"""The numpy float64 oracle of MATLAB semantics.

Written from the formulas on MATLAB's ``lstmLayer`` page, independently of
the ONNX builder (it never touches :mod:`lstm2onnx.gates`): gates are
sliced straight from MATLAB's i, f, g, o stacking. Every sequence is run as
if alone (MATLAB with MiniBatchSize 1): a shorter sequence in a batch stops
at its own last step and padding never reaches a result.

Shapes: N sequences, T time steps, F input features, H hidden units.
"""

from __future__ import annotations

from typing import Callable, Mapping, Sequence

import numpy as np

from ..errors import Lstm2OnnxError
from ..layers import (
    BiLSTMLayer,
    FullyConnectedLayer,
    Layer,
    LSTMLayer,
    SequenceInputLayer,
    SoftmaxLayer,
    divisor,
)
from ..network import analyze

Activation = Callable[[np.ndarray], np.ndarray]


def sigmoid(x: np.ndarray) -> np.ndarray:
    """σ(x) = 1 / (1 + e^-x), computed as (1 + tanh(x/2)) / 2 (the same function; e^-x would overflow for x < -709)."""
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def hard_sigmoid(x: np.ndarray) -> np.ndarray:
    """0 below -2.5, 0.2 x + 0.5 between, 1 above 2.5 (MATLAB's 'hard-sigmoid')."""
    return np.clip(0.2 * x + 0.5, 0.0, 1.0)


def softsign(x: np.ndarray) -> np.ndarray:
    """x / (1 + |x|)"""
    return x / (1.0 + np.abs(x))


GATE_ACTIVATIONS: dict[str, Activation] = {"sigmoid": sigmoid, "hard-sigmoid": hard_sigmoid}
STATE_ACTIVATIONS: dict[str, Activation] = {"tanh": np.tanh, "softsign": softsign}


def lstm_direction(
    X: np.ndarray,
    lengths: np.ndarray,
    W: np.ndarray,
    R: np.ndarray,
    b: np.ndarray,
    h0: np.ndarray,
    c0: np.ndarray,
    sigma_g: Activation,
    sigma_c: Activation,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One forward pass of MATLAB's LSTM equations.

    X ``[N, T, I]`` (padded), lengths ``[N]``, W ``[4H, I]``, R ``[4H, H]``,
    b ``[4H]`` stacked i, f, g, o; h0, c0 ``[N, H]``. Returns Y ``[N, T, H]``
    (zero beyond each length) and the state ``h_T, c_T`` ``[N, H]`` after
    each sequence's last valid step.
    """
    N, T, _ = X.shape
    W_i, W_f, W_g, W_o = np.split(W, 4)
    R_i, R_f, R_g, R_o = np.split(R, 4)
    b_i, b_f, b_g, b_o = np.split(b, 4)
    h_prev, c_prev = h0.copy(), c0.copy()
    Y = np.zeros((N, T, R.shape[1]))
    for t in range(T):
        x_t = X[:, t]
        i_t = sigma_g(x_t @ W_i.T + h_prev @ R_i.T + b_i)
        f_t = sigma_g(x_t @ W_f.T + h_prev @ R_f.T + b_f)
        g_t = sigma_c(x_t @ W_g.T + h_prev @ R_g.T + b_g)
        o_t = sigma_g(x_t @ W_o.T + h_prev @ R_o.T + b_o)
        c_t = f_t * c_prev + i_t * g_t
        h_t = o_t * sigma_c(c_t)
        valid = (t < lengths)[:, None]
        h_prev = np.where(valid, h_t, h_prev)
        c_prev = np.where(valid, c_t, c_prev)
        Y[:, t] = np.where(valid, h_t, 0.0)
    return Y, h_prev, c_prev


def reverse_in_time(X: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Reverse each sequence's valid steps in place of them; padding stays at the end."""
    out = np.zeros_like(X)
    for n, L in enumerate(lengths):
        out[n, :L] = X[n, :L][::-1]
    return out


class _State:
    """Sequences flowing through the layers: padded ``[N, T, C]`` plus lengths, or ``[N, C]``."""

    def __init__(self, data: np.ndarray, lengths: np.ndarray, sequence: bool) -> None:
        self.data, self.lengths, self.sequence = data, lengths, sequence


Flow = _State
Compute = Callable[[Layer, Flow], Flow]
COMPUTES: dict[type[Layer], Compute] = {}


def computes(layer_type: type[Layer]) -> Callable[[Compute], Compute]:
    """Register the reference function of a layer family module: ``compute(layer, flow) -> flow``."""

    def register(compute: Compute) -> Compute:
        COMPUTES[layer_type] = compute
        return compute

    return register


def _compute_for(layer: Layer) -> Compute | None:
    for cls in type(layer).__mro__:
        if cls in COMPUTES:
            return COMPUTES[cls]
    return None


RecurrentCompute = Callable[[Layer, Flow, "tuple[np.ndarray, ...] | None", dict], Flow]
RECURRENT: dict[type[Layer], RecurrentCompute] = {}


def recurrent(layer_type: type[Layer]) -> Callable[[RecurrentCompute], RecurrentCompute]:
    """Register a recurrent family's reference: ``compute(layer, flow, initial, states) -> flow``.

    ``initial`` is the caller's initial state tuple for this layer (each ``[N, H]``) or None;
    the function stores its final state tuple in ``states[layer.Name]``.
    """

    def register(compute: RecurrentCompute) -> RecurrentCompute:
        RECURRENT[layer_type] = compute
        return compute

    return register


def as_sequence(flow: Flow) -> tuple[np.ndarray, np.ndarray]:
    """A recurrent layer's input as padded ``[N, T, C]`` and lengths ``[N]``.

    After a layer with OutputMode 'last' the flow is one step ``[N, C]``: a
    one-step sequence (T = 1, every length 1).
    """
    if flow.sequence:
        return flow.data, flow.lengths
    return flow.data[:, None, :], np.ones(len(flow.data), dtype=int)


def predict(
    layers: Sequence[Layer],
    sequences: Sequence[np.ndarray] | np.ndarray,
    *,
    initial_states: Mapping[str, tuple[np.ndarray, np.ndarray]] | None = None,
    bilstm_last: str = "matlab",
    return_states: bool = False,
):
    """Run an initialized layer array on sequences, in float64.

    ``sequences`` is a list of ``[T_n, F]`` arrays (ragged) or one ``[N, T, F]``
    array. Returns ``[N, K]`` when the network ends in one time step
    (OutputMode 'last') and otherwise a list of ``[T_n, K]`` arrays.
    ``initial_states`` maps an lstmLayer Name to ``(h0, c0)``, each ``[N, H]``,
    replacing its HiddenState/CellState, and a gruLayer Name to ``(h0,)``.
    ``bilstm_last`` 'matlab' (the last step of the bilstm sequence output) or
    'final-state' (both directions' final states, ONNX Y_h).
    ``return_states=True`` also returns ``{name: (h_T, c_T)}`` for every
    lstmLayer and ``{name: (h_T,)}`` for every gruLayer.
    """
    network = analyze(layers)
    X, lengths = _pad(sequences, network.input_layer.InputSize)
    flow = _State(X, lengths, True)
    initial_states = dict(initial_states or {})
    states: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for info in network.infos:
        layer = info.layer
        if isinstance(layer, SequenceInputLayer):
            layer.check_lengths(flow.lengths)
            flow.data = normalize(layer, flow.data)
        elif type(layer) in RECURRENT:  # before lstmLayer: lstmProjectedLayer is one with its own equations
            flow = RECURRENT[type(layer)](layer, flow, initial_states.pop(layer.Name, None), states)
        elif isinstance(layer, LSTMLayer):
            flow = _lstm(layer, flow, initial_states.pop(layer.Name, None), bilstm_last, states)
        elif isinstance(layer, FullyConnectedLayer):
            W, b = _learnable(layer, "Weights"), _learnable(layer, "Bias")
            flow.data = flow.data @ W.T + b
        elif isinstance(layer, SoftmaxLayer):
            z = np.exp(flow.data - flow.data.max(axis=-1, keepdims=True))
            flow.data = z / z.sum(axis=-1, keepdims=True)
        elif (compute := _compute_for(layer)) is not None:
            flow = compute(layer, flow)
        # dropout is the identity at inference; output layers are losses: nothing to compute
    if initial_states:
        raise Lstm2OnnxError(f"initial_states names no recurrent layer (lstmLayer, gruLayer): {sorted(initial_states)}")
    if flow.sequence:
        out = [flow.data[n, :L] for n, L in enumerate(flow.lengths)]
    else:
        out = flow.data
    return (out, states) if return_states else out


def max_abs_error(actual: np.ndarray, expected) -> float:
    """Max |actual - expected|: ``actual`` padded ``[N, T, K]`` against a list of ``[T_n, K]`` (valid steps only), or same-shape arrays."""
    if isinstance(expected, list):
        return max(float(np.abs(actual[n, : len(e)] - e).max()) for n, e in enumerate(expected))
    return float(np.abs(actual - expected).max())


def normalize(layer: SequenceInputLayer, X: np.ndarray) -> np.ndarray:
    """Apply the input layer's Normalization to ``[..., F]`` data."""
    stat = {k: _stat(layer, k) for k in ("Mean", "StandardDeviation", "Min", "Max")}
    mode = layer.Normalization
    if mode == "zerocenter":
        return X - stat["Mean"]
    if mode == "zscore":
        return (X - stat["Mean"]) / divisor(stat["StandardDeviation"])
    if mode == "rescale-zero-one":
        return (X - stat["Min"]) / divisor(stat["Max"] - stat["Min"])
    if mode == "rescale-symmetric":
        return 2.0 * (X - stat["Min"]) / divisor(stat["Max"] - stat["Min"]) - 1.0
    return X


def _lstm(layer: LSTMLayer, flow: _State, initial, bilstm_last: str, states: dict) -> _State:
    H, N = layer.NumHiddenUnits, flow.data.shape[0]
    W, R, b = (_learnable(layer, k) for k in ("InputWeights", "RecurrentWeights", "Bias"))
    if initial is not None:
        h0, c0 = (np.broadcast_to(np.asarray(s, np.float64), (N, layer.state_size)) for s in initial)
    else:
        h0 = np.broadcast_to(_vector(layer.HiddenState, layer.state_size), (N, layer.state_size))
        c0 = np.broadcast_to(_vector(layer.CellState, layer.state_size), (N, layer.state_size))
    acts = GATE_ACTIVATIONS[layer.GateActivationFunction], STATE_ACTIVATIONS[layer.StateActivationFunction]
    X, lengths = as_sequence(flow)
    fwd = slice(0, 4 * H)
    Y_f, h_f, c_f = lstm_direction(X, lengths, W[fwd], R[fwd], b[fwd], h0[:, :H], c0[:, :H], *acts)
    if not isinstance(layer, BiLSTMLayer):
        states[layer.Name] = (h_f, c_f)
        if layer.OutputMode == "last" or not flow.sequence:
            return _State(h_f, flow.lengths, False)
        return _State(Y_f, lengths, True)
    bwd = slice(4 * H, 8 * H)
    Y_b_rev, h_b, _ = lstm_direction(reverse_in_time(X, lengths), lengths, W[bwd], R[bwd], b[bwd], h0[:, H:], c0[:, H:], *acts)
    Y = np.concatenate([Y_f, reverse_in_time(Y_b_rev, lengths)], axis=-1)
    if not flow.sequence:  # one step: both directions' outputs at it (also their final states)
        return _State(Y[:, 0], flow.lengths, False)
    if layer.OutputMode == "sequence":
        return _State(Y, lengths, True)
    if bilstm_last == "final-state":
        return _State(np.concatenate([h_f, h_b], axis=-1), lengths, False)
    return _State(Y[np.arange(N), lengths - 1], lengths, False)


def _pad(sequences, features: int) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(sequences, np.ndarray) and sequences.ndim == 3:
        sequences = list(sequences)
    arrays = [np.asarray(s, dtype=np.float64) for s in sequences]
    if not arrays or any(a.ndim != 2 or a.shape[1] != features or a.shape[0] == 0 for a in arrays):
        shapes = [a.shape for a in arrays]
        raise Lstm2OnnxError(f"sequences must be non-empty [T, {features}] arrays, got shapes {shapes[:5]}")
    lengths = np.array([a.shape[0] for a in arrays])
    X = np.zeros((len(arrays), lengths.max(), features))
    for n, a in enumerate(arrays):
        X[n, : len(a)] = a
    return X, lengths


def _learnable(layer: Layer, prop_name: str) -> np.ndarray:
    value = getattr(layer, prop_name)
    if value is None:
        raise Lstm2OnnxError(f"{layer.where(prop_name)} is unset; initialize the network first (lstm2onnx.initialize)")
    return np.asarray(value, dtype=np.float64)


def _vector(value: np.ndarray | None, size: int) -> np.ndarray:
    return np.zeros(size) if value is None else np.asarray(value, dtype=np.float64)


def _stat(layer: SequenceInputLayer, name: str) -> np.ndarray | None:
    value = getattr(layer, name)
    return None if value is None else np.asarray(value, dtype=np.float64)


# -- layer families (imported last: they register with @computes) --------------------------------

from . import activation, normalization  # noqa: E402,F401
from . import gru  # noqa: E402,F401
from . import projected  # noqa: E402,F401
from . import convolution, embedding  # noqa: E402,F401
from . import group_normalization  # noqa: E402,F401
from . import attention  # noqa: E402,F401
