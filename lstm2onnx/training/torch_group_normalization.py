"""Torch modules of instanceNormalizationLayer and groupNormalizationLayer, with MATLAB's learnables.

Statistics of each observation's channel group over its valid time steps
(``lengths``), in training as at inference (no running statistics). x is
``[N, T, C]`` (``sequence``) or ``[N, C]``; Offset β and Scale γ are ``[C]`` parameters.
"""

from __future__ import annotations

import torch

from ..layers.group_normalization import GroupNormalizationLayer, InstanceNormalizationLayer
from .torch_net import stage
from .torch_normalization import _Normalization, masked_moments, valid_steps


class GroupNormalization(_Normalization):
    """``γ_c (x - μ_g) / √(σ²_g + ε) + β_c``, μ_g and σ²_g (biased) over group g's channels and the valid steps."""

    def forward(self, x: torch.Tensor, lengths: torch.Tensor, sequence: bool) -> tuple[torch.Tensor, bool]:
        C = x.shape[-1]
        G = self.spec.groups(C)
        grouped = x.reshape(*x.shape[:-1], G, C // G)
        if sequence:
            mean, variance, _ = masked_moments(grouped, valid_steps(x, lengths)[..., None], (1, 3))
        else:
            mean, variance, _ = masked_moments(grouped, None, (-1,))
        normalized = ((grouped - mean) / torch.sqrt(variance + self.epsilon)).reshape(x.shape)
        return self.scale * normalized + self.offset, sequence


@stage(InstanceNormalizationLayer)
@stage(GroupNormalizationLayer)
def group_normalization_module(layer: GroupNormalizationLayer | InstanceNormalizationLayer) -> GroupNormalization:
    return GroupNormalization(layer)
