"""Reference (float64) of MATLAB's ``gruLayer``, written from the equations on its page.

Gates are sliced straight from MATLAB's r, z, h stacking (never through
the gate module). Each sequence stops at its own last step, as if run alone.

Shapes: N sequences, T time steps, I input features, H hidden units.
"""

from __future__ import annotations

import numpy as np

from ..layers.gru import RECURRENT_BIAS_MODE, GRULayer
from . import GATE_ACTIVATIONS, STATE_ACTIVATIONS, Activation, Flow, _learnable, _State, _vector, as_sequence, recurrent


def gru_direction(
    X: np.ndarray,
    lengths: np.ndarray,
    W: np.ndarray,
    R: np.ndarray,
    b: np.ndarray,
    b_R: np.ndarray,
    h0: np.ndarray,
    sigma_g: Activation,
    sigma_s: Activation,
    reset_gate_mode: str,
) -> tuple[np.ndarray, np.ndarray]:
    """One forward pass of MATLAB's GRU equations.

    X ``[N, T, I]`` (padded), lengths ``[N]``, W ``[3H, I]``, R ``[3H, H]``,
    b and b_R ``[3H]`` stacked r, z, h (b_R zero except in
    'recurrent-bias-after-multiplication'), h0 ``[N, H]``::

        r_t = σ_g(W_r x_t + b_r + R_r h_{t-1} + b_Rr)
        z_t = σ_g(W_z x_t + b_z + R_z h_{t-1} + b_Rz)
        h~_t = σ_s(W_h x_t + b_h + r_t ⊙ (R_h h_{t-1} + b_Rh))     'after-multiplication' (+ recurrent bias)
        h~_t = σ_s(W_h x_t + b_h + R_h (r_t ⊙ h_{t-1}))            'before-multiplication'
        h_t = (1 - z_t) ⊙ h~_t + z_t ⊙ h_{t-1}

    Returns Y ``[N, T, H]`` (zero beyond each length) and ``h_T`` ``[N, H]``,
    the state after each sequence's last valid step.
    """
    N, T, _ = X.shape
    W_r, W_z, W_h = np.split(W, 3)
    R_r, R_z, R_h = np.split(R, 3)
    b_r, b_z, b_h = np.split(b, 3)
    b_Rr, b_Rz, b_Rh = np.split(b_R, 3)
    h_prev = h0.copy()
    Y = np.zeros((N, T, R.shape[1]))
    for t in range(T):
        x_t = X[:, t]
        r_t = sigma_g(x_t @ W_r.T + b_r + h_prev @ R_r.T + b_Rr)
        z_t = sigma_g(x_t @ W_z.T + b_z + h_prev @ R_z.T + b_Rz)
        if reset_gate_mode == "before-multiplication":
            candidate = sigma_s(x_t @ W_h.T + b_h + (r_t * h_prev) @ R_h.T)
        else:
            candidate = sigma_s(x_t @ W_h.T + b_h + r_t * (h_prev @ R_h.T + b_Rh))
        h_t = (1.0 - z_t) * candidate + z_t * h_prev
        valid = (t < lengths)[:, None]
        h_prev = np.where(valid, h_t, h_prev)
        Y[:, t] = np.where(valid, h_t, 0.0)
    return Y, h_prev


@recurrent(GRULayer)
def compute_gru(layer: GRULayer, flow: Flow, initial: tuple[np.ndarray, ...] | None, states: dict) -> Flow:
    """Run one gruLayer; ``initial`` ``(h0,)`` with h0 ``[N, H]`` replaces HiddenState; stores ``(h_T,)``."""
    H, N = layer.NumHiddenUnits, flow.data.shape[0]
    W, R, b = (_learnable(layer, k) for k in ("InputWeights", "RecurrentWeights", "Bias"))
    b_R = _learnable(layer, "RecurrentBias") if layer.ResetGateMode == RECURRENT_BIAS_MODE else np.zeros(3 * H)
    if initial is not None:
        (h0,) = initial
        h0 = np.broadcast_to(np.asarray(h0, np.float64), (N, H))
    else:
        h0 = np.broadcast_to(_vector(layer.HiddenState, H), (N, H))
    X, lengths = as_sequence(flow)
    Y, h_T = gru_direction(
        X, lengths, W, R, b, b_R, h0,
        GATE_ACTIVATIONS[layer.GateActivationFunction], STATE_ACTIVATIONS[layer.StateActivationFunction], layer.ResetGateMode,
    )
    states[layer.Name] = (h_T,)
    if layer.OutputMode == "last" or not flow.sequence:
        return _State(h_T, flow.lengths, False)
    return _State(Y, lengths, True)
