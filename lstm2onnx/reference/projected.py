"""Reference (float64) of MATLAB's ``lstmProjectedLayer`` and ``gruProjectedLayer``, from the factored learnables.

Every step projects first, as the layers' pages write it: the input through
``Q_iᵀ`` (InputProjector ``I x P``) and the previous hidden state through
``Q_oᵀ`` (OutputProjector ``H x Q``), then the lstmLayer gates i, f, g, o from
``W`` (``4H x P``), ``R`` (``4H x Q``) and ``b`` (the gruLayer gates r, z, h
from ``3H`` rows). It never forms ``W Q_iᵀ``.

Shapes: N sequences, T time steps, I input features, H hidden units.
"""

from __future__ import annotations

import numpy as np

from ..layers.gru import RECURRENT_BIAS_MODE
from ..layers.projected import GRUProjectedLayer, LSTMProjectedLayer
from . import GATE_ACTIVATIONS, STATE_ACTIVATIONS, Activation, Flow, _learnable, _State, _vector, as_sequence, recurrent


def projected_direction(
    X: np.ndarray,
    lengths: np.ndarray,
    W: np.ndarray,
    R: np.ndarray,
    b: np.ndarray,
    Q_i: np.ndarray,
    Q_o: np.ndarray,
    h0: np.ndarray,
    c0: np.ndarray,
    sigma_g: Activation,
    sigma_c: Activation,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One forward pass over X ``[N, T, I]`` (padded), lengths ``[N]``, h0, c0 ``[N, H]``::

        z_t = W (Q_iᵀ x_t) + R (Q_oᵀ h_{t-1}) + b          split into i, f, g, o
        c_t = σ_g(f) ⊙ c_{t-1} + σ_g(i) ⊙ σ_c(g)         h_t = σ_g(o) ⊙ σ_c(c_t)

    Returns Y ``[N, T, H]`` (zero beyond each length) and ``h_T, c_T`` ``[N, H]``
    after each sequence's last valid step.
    """
    N, T, _ = X.shape
    h_prev, c_prev = h0.copy(), c0.copy()
    Y = np.zeros((N, T, Q_o.shape[0]))
    for t in range(T):
        z_t = (X[:, t] @ Q_i) @ W.T + (h_prev @ Q_o) @ R.T + b
        i_t, f_t, g_t, o_t = np.split(z_t, 4, axis=1)
        c_t = sigma_g(f_t) * c_prev + sigma_g(i_t) * sigma_c(g_t)
        h_t = sigma_g(o_t) * sigma_c(c_t)
        valid = (t < lengths)[:, None]
        h_prev = np.where(valid, h_t, h_prev)
        c_prev = np.where(valid, c_t, c_prev)
        Y[:, t] = np.where(valid, h_t, 0.0)
    return Y, h_prev, c_prev


@recurrent(LSTMProjectedLayer)
def compute_lstm_projected(layer: LSTMProjectedLayer, flow: Flow, initial: tuple[np.ndarray, ...] | None, states: dict) -> Flow:
    """Run one lstmProjectedLayer; ``initial`` ``(h0, c0)`` ``[N, H]`` replaces HiddenState/CellState; stores ``(h_T, c_T)``."""
    H, N = layer.NumHiddenUnits, flow.data.shape[0]
    W, R, b, Q_i, Q_o = (_learnable(layer, k) for k in ("InputWeights", "RecurrentWeights", "Bias", "InputProjector", "OutputProjector"))
    if initial is not None:
        h0, c0 = (np.broadcast_to(np.asarray(s, np.float64), (N, H)) for s in initial)
    else:
        h0, c0 = (np.broadcast_to(_vector(getattr(layer, k), H), (N, H)) for k in ("HiddenState", "CellState"))
    X, lengths = as_sequence(flow)
    Y, h_T, c_T = projected_direction(
        X, lengths, W, R, b, Q_i, Q_o, h0, c0, GATE_ACTIVATIONS[layer.GateActivationFunction], STATE_ACTIVATIONS[layer.StateActivationFunction],
    )
    states[layer.Name] = (h_T, c_T)
    if layer.OutputMode == "last" or not flow.sequence:
        return _State(h_T, flow.lengths, False)
    return _State(Y, lengths, True)


def gru_projected_direction(
    X: np.ndarray,
    lengths: np.ndarray,
    W: np.ndarray,
    R: np.ndarray,
    b: np.ndarray,
    b_R: np.ndarray,
    Q_i: np.ndarray,
    Q_o: np.ndarray,
    h0: np.ndarray,
    sigma_g: Activation,
    sigma_s: Activation,
    reset_gate_mode: str,
) -> tuple[np.ndarray, np.ndarray]:
    """One forward pass over X ``[N, T, I]`` (padded), lengths ``[N]``, h0 ``[N, H]``; W ``[3H, P]``,
    R ``[3H, Q]``, b and b_R ``[3H]`` stacked r, z, h (b_R zero except in the recurrent-bias mode)::

        x~_t = Q_iᵀ x_t                     p(v) = Q_oᵀ v
        r_t = σ_g(W_r x~_t + b_r + R_r p(h_{t-1}) + b_Rr)
        z_t = σ_g(W_z x~_t + b_z + R_z p(h_{t-1}) + b_Rz)
        h~_t = σ_s(W_h x~_t + b_h + r_t ⊙ (R_h p(h_{t-1}) + b_Rh))      'after-multiplication' (+ recurrent bias)
        h~_t = σ_s(W_h x~_t + b_h + R_h p(r_t ⊙ h_{t-1}))               'before-multiplication'
        h_t = (1 - z_t) ⊙ h~_t + z_t ⊙ h_{t-1}

    Returns Y ``[N, T, H]`` (zero beyond each length) and ``h_T`` ``[N, H]``.
    """
    N, T, _ = X.shape
    W_r, W_z, W_h = np.split(W, 3)
    R_r, R_z, R_h = np.split(R, 3)
    b_r, b_z, b_h = np.split(b, 3)
    b_Rr, b_Rz, b_Rh = np.split(b_R, 3)
    h_prev = h0.copy()
    Y = np.zeros((N, T, Q_o.shape[0]))
    for t in range(T):
        x_p, h_p = X[:, t] @ Q_i, h_prev @ Q_o
        r_t = sigma_g(x_p @ W_r.T + b_r + h_p @ R_r.T + b_Rr)
        z_t = sigma_g(x_p @ W_z.T + b_z + h_p @ R_z.T + b_Rz)
        if reset_gate_mode == "before-multiplication":
            candidate = sigma_s(x_p @ W_h.T + b_h + ((r_t * h_prev) @ Q_o) @ R_h.T)
        else:
            candidate = sigma_s(x_p @ W_h.T + b_h + r_t * (h_p @ R_h.T + b_Rh))
        h_t = (1.0 - z_t) * candidate + z_t * h_prev
        valid = (t < lengths)[:, None]
        h_prev = np.where(valid, h_t, h_prev)
        Y[:, t] = np.where(valid, h_t, 0.0)
    return Y, h_prev


@recurrent(GRUProjectedLayer)
def compute_gru_projected(layer: GRUProjectedLayer, flow: Flow, initial: tuple[np.ndarray, ...] | None, states: dict) -> Flow:
    """Run one gruProjectedLayer; ``initial`` ``(h0,)`` ``[N, H]`` replaces HiddenState; stores ``(h_T,)``."""
    H, N = layer.NumHiddenUnits, flow.data.shape[0]
    W, R, b, Q_i, Q_o = (_learnable(layer, k) for k in ("InputWeights", "RecurrentWeights", "Bias", "InputProjector", "OutputProjector"))
    b_R = _learnable(layer, "RecurrentBias") if layer.ResetGateMode == RECURRENT_BIAS_MODE else np.zeros(3 * H)
    source = initial[0] if initial is not None else _vector(layer.HiddenState, H)
    h0 = np.broadcast_to(np.asarray(source, np.float64), (N, H))
    X, lengths = as_sequence(flow)
    Y, h_T = gru_projected_direction(
        X, lengths, W, R, b, b_R, Q_i, Q_o, h0,
        GATE_ACTIVATIONS[layer.GateActivationFunction], STATE_ACTIVATIONS[layer.StateActivationFunction], layer.ResetGateMode,
    )
    states[layer.Name] = (h_T,)
    if layer.OutputMode == "last" or not flow.sequence:
        return _State(h_T, flow.lengths, False)
    return _State(Y, lengths, True)
