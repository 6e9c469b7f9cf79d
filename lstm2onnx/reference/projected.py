"""Reference (float64) of MATLAB's ``lstmProjectedLayer``, from the factored learnables.

Every step projects first, as the layer's page writes it: the input through
``Q_iᵀ`` (InputProjector ``I x P``) and the previous hidden state through
``Q_oᵀ`` (OutputProjector ``H x Q``), then the lstmLayer gates i, f, g, o from
``W`` (``4H x P``), ``R`` (``4H x Q``) and ``b``. It never forms ``W Q_iᵀ``.

Shapes: N sequences, T time steps, I input features, H hidden units.
"""

from __future__ import annotations

import numpy as np

from ..layers.projected import LSTMProjectedLayer
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
