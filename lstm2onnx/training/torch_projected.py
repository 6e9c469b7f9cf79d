"""lstmProjectedLayer and gruProjectedLayer as torch modules for trainNetwork: the factored learnables are the parameters.

Each forward forms ``W Q_iᵀ`` and ``R Q_oᵀ`` from the MATLAB learnables
(InputWeights, RecurrentWeights, Bias, InputProjector, OutputProjector) and
runs :class:`CellLSTM`'s (:class:`CellGRU`'s) per-step equations with them, so
gradients reach the factors and ``to_layer`` gives back the factored layer.
States, OutputMode and the carried state are lstmLayer's
(``(output, is_sequence, (h_n, c_n))``) and gruLayer's (``(h_n,)``).
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn
from torch.nn.utils import parametrize

from .. import gates
from ..layers.projected import GRUProjectedLayer, LSTMProjectedLayer
from .torch_net import CellLSTM, _torch, stage


class ProjectedLSTM(CellLSTM):
    """CellLSTM whose ``4H x I`` and ``4H x H`` weights are products of trained factors."""

    def __init__(self, layer: LSTMProjectedLayer) -> None:
        super().__init__(layer, "matlab")
        self.Q_i = nn.Parameter(_torch(layer.InputProjector))
        self.Q_o = nn.Parameter(_torch(layer.OutputProjector))

    def forward_with_state(self, x, lengths, h0, c0, need_state: bool = True):
        W, R = self.W[0] @ self.Q_i.T, self.R[0] @ self.Q_o.T
        Y, h, c = self.direction(x, lengths, W, R, self.b[0], h0[0], c0[0])
        return Y, h[None], c[None]

    def learnables(self) -> dict[str, list[nn.Parameter]]:
        return {**super().learnables(), "InputProjector": [self.Q_i], "OutputProjector": [self.Q_o]}

    def to_layer(self) -> LSTMProjectedLayer:
        return dataclasses.replace(super().to_layer(), InputProjector=self.Q_i.detach().cpu().numpy(),
                                   OutputProjector=self.Q_o.detach().cpu().numpy())


class _TimesProjectorT(nn.Module):
    """A parametrization ``W -> W Qᵀ`` whose projector Q is itself a trained parameter."""

    def __init__(self, projector: torch.Tensor) -> None:
        super().__init__()
        self.Q = nn.Parameter(projector)

    def forward(self, factor: torch.Tensor) -> torch.Tensor:
        return factor @ self.Q.T


class ProjectedGRU(nn.Module):
    """A CellGRU (any ResetGateMode and activations) whose ``W`` and ``R`` read as ``W Q_iᵀ`` (``3H x I``) and
    ``R Q_oᵀ`` (``3H x H``): torch's parametrize keeps the factors W ``3H x P``, R ``3H x Q``, Q_i, Q_o as the
    parameters and forms the products on each read, so CellGRU's equations run unchanged."""

    GATE_ORDERS = (gates.GRU_MATLAB, gates.GRU_MATLAB)  # CellGRU's: MATLAB-layout rows for per-gate factors

    def __init__(self, layer: GRUProjectedLayer) -> None:
        from .torch_gru import CellGRU  # here, not at the top: torch_gru imports torch_net, which imports this module

        super().__init__()
        self.spec = layer
        self.cell = CellGRU(layer)  # its W and R hold MATLAB's factors InputWeights, RecurrentWeights
        # unsafe=True: the product has the shape of the full weights, not of the stored factor
        parametrize.register_parametrization(self.cell, "W", _TimesProjectorT(_torch(layer.InputProjector)), unsafe=True)
        parametrize.register_parametrization(self.cell, "R", _TimesProjectorT(_torch(layer.OutputProjector)), unsafe=True)

    def forward(self, x, lengths, state=None, need_state: bool = True):
        """CellGRU's: ``(output, is_sequence, (h_n,))``."""
        return self.cell(x, lengths, state, need_state)

    def learnables(self) -> dict[str, list[nn.Parameter]]:
        W, R = self.cell.parametrizations.W, self.cell.parametrizations.R
        out = {"InputWeights": [W.original], "RecurrentWeights": [R.original], "InputProjector": [W[0].Q],
               "OutputProjector": [R[0].Q], "Bias": [self.cell.b]}
        if self.cell.b_R is not None:
            out["RecurrentBias"] = [self.cell.b_R]
        return out

    def to_layer(self) -> GRUProjectedLayer:
        values = {name: params[0].detach().cpu().numpy() for name, params in self.learnables().items()}
        return dataclasses.replace(self.spec, **values)


@stage(LSTMProjectedLayer)
def lstm_projected_stage(layer: LSTMProjectedLayer) -> ProjectedLSTM:
    return ProjectedLSTM(layer)


@stage(GRUProjectedLayer)
def gru_projected_stage(layer: GRUProjectedLayer) -> ProjectedGRU:
    return ProjectedGRU(layer)
