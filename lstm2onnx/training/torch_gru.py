"""gruLayer as a torch module for trainNetwork.

- ResetGateMode 'after-multiplication' or 'recurrent-bias-after-multiplication'
  with the default activations (sigmoid/tanh) is exactly ``torch.nn.GRU`` (cuDNN
  on a GPU): PyTorch stacks r, z, n like MATLAB's r, z, h and computes
  ``n = tanh(W_n x + b_in + r ⊙ (R_n h + b_hn))``. MATLAB's Bias is ``bias_ih``;
  ``bias_hh`` is the RecurrentBias in the third mode and otherwise held at zero
  (frozen), since MATLAB has no recurrent bias there.
- Every other combination ('before-multiplication', hard-sigmoid, softsign) runs
  :class:`CellGRU`, MATLAB's equations step by step with MATLAB-layout parameters.

Both carry the state like the LSTM stages: ``forward(x, lengths, state, need_state)``
returns ``(output, is_sequence, (h_n,))`` with ``h_n`` ``[1, N, H]``.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from .. import gates
from ..layers.gru import GRULayer
from .torch_net import GATE, STATE, _torch, stage


class _GRUStage(nn.Module):
    """What both GRU implementations share: the spec, the initial state, the output modes."""

    GATE_ORDERS: tuple[str, str]  # (MATLAB's order, the parameters' order) for per-gate factors

    def __init__(self, layer: GRULayer) -> None:
        super().__init__()
        self.spec, self.hidden = layer, layer.NumHiddenUnits
        value = np.zeros(self.hidden, np.float32) if layer.HiddenState is None else np.asarray(layer.HiddenState, np.float32)
        self.register_buffer("HiddenState", torch.tensor(value.reshape(1, 1, self.hidden)))

    def forward(self, x: torch.Tensor, lengths: torch.Tensor, state: tuple[torch.Tensor] | None = None, need_state: bool = True):
        """``(output, is_sequence, (h_n,))`` for x ``[N, T, I]``; ``state`` ``(h0,)`` ``[1, N, H]`` replaces HiddenState."""
        (h0,) = state if state is not None else (self.HiddenState.expand(1, x.shape[0], self.hidden).contiguous(),)
        Y, h_n = self.forward_with_state(x, lengths, h0)
        if self.spec.OutputMode == "sequence":
            return Y, True, (h_n,)
        return h_n[0], False, (h_n,)


class TorchGRU(_GRUStage):
    """nn.GRU on packed sequences: 'after-multiplication' (bias_hh frozen at zero) or the recurrent-bias mode."""

    GATE_ORDERS = (gates.GRU_MATLAB, gates.GRU_PYTORCH)

    def __init__(self, layer: GRULayer) -> None:
        super().__init__(layer)
        self.gru = nn.GRU(layer.InputSize, layer.NumHiddenUnits, batch_first=True)
        src, dst = self.GATE_ORDERS
        with torch.no_grad():
            self.gru.weight_ih_l0.copy_(_torch(gates.reorder_gates(layer.InputWeights, src, dst)))
            self.gru.weight_hh_l0.copy_(_torch(gates.reorder_gates(layer.RecurrentWeights, src, dst)))
            self.gru.bias_ih_l0.copy_(_torch(gates.reorder_gates(layer.Bias, src, dst)))
            if layer.recurrent_bias_mode:
                self.gru.bias_hh_l0.copy_(_torch(gates.reorder_gates(layer.RecurrentBias, src, dst)))
            else:
                self.gru.bias_hh_l0.zero_()
                self.gru.bias_hh_l0.requires_grad_(False)  # MATLAB has no recurrent bias in this mode

    def forward_with_state(self, x, lengths, h0):
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, h_n = self.gru(packed, h0)
        Y, _ = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
        return Y, h_n

    def learnables(self) -> dict[str, list[nn.Parameter]]:
        out = {"InputWeights": [self.gru.weight_ih_l0], "RecurrentWeights": [self.gru.weight_hh_l0], "Bias": [self.gru.bias_ih_l0]}
        if self.spec.recurrent_bias_mode:
            out["RecurrentBias"] = [self.gru.bias_hh_l0]
        return out

    def to_layer(self) -> GRULayer:
        dst, src = self.GATE_ORDERS

        def matlab(p: nn.Parameter) -> np.ndarray:
            return gates.reorder_gates(p.detach().cpu().numpy(), src, dst)

        return dataclasses.replace(
            self.spec, InputWeights=matlab(self.gru.weight_ih_l0), RecurrentWeights=matlab(self.gru.weight_hh_l0),
            Bias=matlab(self.gru.bias_ih_l0), RecurrentBias=matlab(self.gru.bias_hh_l0) if self.spec.recurrent_bias_mode else None,
        )


class CellGRU(_GRUStage):
    """Any ResetGateMode and activations: MATLAB's GRU equations step by step, MATLAB-layout parameters (r, z, h)."""

    GATE_ORDERS = (gates.GRU_MATLAB, gates.GRU_MATLAB)

    def __init__(self, layer: GRULayer) -> None:
        super().__init__(layer)
        self.W = nn.Parameter(_torch(layer.InputWeights))
        self.R = nn.Parameter(_torch(layer.RecurrentWeights))
        self.b = nn.Parameter(_torch(layer.Bias))
        self.b_R = nn.Parameter(_torch(layer.RecurrentBias)) if layer.recurrent_bias_mode else None
        self.sigma_g = GATE[layer.GateActivationFunction]
        self.sigma_s = STATE[layer.StateActivationFunction]
        self.before_reset = layer.ResetGateMode == "before-multiplication"

    def forward_with_state(self, x, lengths, h0):
        """Over x ``[N, T, I]``: padded steps keep the state and give zero output."""
        N, T, _ = x.shape
        h = h0[0]
        Z = (x @ self.W.T + self.b).chunk(3, dim=2)  # the input side of r, z, h for every step
        R_r, R_z, R_h = self.R.chunk(3)
        b_Rr, b_Rz, b_Rh = self.b_R.chunk(3) if self.b_R is not None else (0.0, 0.0, 0.0)
        valid = torch.arange(T, device=x.device)[None, :] < lengths[:, None]
        outputs = []
        for t in range(T):
            r = self.sigma_g(Z[0][:, t] + h @ R_r.T + b_Rr)
            z = self.sigma_g(Z[1][:, t] + h @ R_z.T + b_Rz)
            if self.before_reset:
                candidate = self.sigma_s(Z[2][:, t] + (r * h) @ R_h.T)
            else:
                candidate = self.sigma_s(Z[2][:, t] + r * (h @ R_h.T + b_Rh))
            h_t = (1 - z) * candidate + z * h
            m = valid[:, t, None]
            h = torch.where(m, h_t, h)
            outputs.append(torch.where(m, h_t, torch.zeros_like(h_t)))
        return torch.stack(outputs, dim=1), h[None]

    def learnables(self) -> dict[str, list[nn.Parameter]]:
        out = {"InputWeights": [self.W], "RecurrentWeights": [self.R], "Bias": [self.b]}
        if self.b_R is not None:
            out["RecurrentBias"] = [self.b_R]
        return out

    def to_layer(self) -> GRULayer:
        def value(p: nn.Parameter | None) -> np.ndarray | None:
            return None if p is None else p.detach().cpu().numpy()

        return dataclasses.replace(self.spec, InputWeights=value(self.W), RecurrentWeights=value(self.R), Bias=value(self.b),
                                   RecurrentBias=value(self.b_R))


@stage(GRULayer)
def gru_stage(layer: GRULayer) -> _GRUStage:
    """nn.GRU where it computes MATLAB's function exactly, else the per-step cell."""
    exact = layer.ResetGateMode != "before-multiplication" and (layer.GateActivationFunction, layer.StateActivationFunction) == ("sigmoid", "tanh")
    return TorchGRU(layer) if exact else CellGRU(layer)
