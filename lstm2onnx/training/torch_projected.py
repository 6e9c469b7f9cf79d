"""lstmProjectedLayer as a torch module for trainNetwork: the factored learnables are the parameters.

Each forward forms ``W Q_iᵀ`` and ``R Q_oᵀ`` from the five MATLAB learnables
(InputWeights, RecurrentWeights, Bias, InputProjector, OutputProjector) and
runs :class:`CellLSTM`'s per-step equations with them, so gradients reach the
factors and ``to_layer`` gives back the factored layer. States, OutputMode and
the carried state are lstmLayer's (``(output, is_sequence, (h_n, c_n))``).
"""

from __future__ import annotations

import dataclasses

from torch import nn

from ..layers.projected import LSTMProjectedLayer
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


@stage(LSTMProjectedLayer)
def lstm_projected_stage(layer: LSTMProjectedLayer) -> ProjectedLSTM:
    return ProjectedLSTM(layer)
