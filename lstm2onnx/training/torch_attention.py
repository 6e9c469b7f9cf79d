"""selfAttentionLayer as a torch module for trainNetwork, with MATLAB's learnables as the parameters.

x is ``[N, T, C]`` (``sequence``) with ``lengths`` ``[N]``, or one step ``[N, C]``. Each query sees only the
keys of its own sequence (and, with AttentionMask 'causal', none after it), as the reference and the ONNX
graph compute it; padded steps of x are zeroed first so nothing from them reaches a valid step. In training
mode DropoutProbability drops attention weights (scaled by 1/(1-p), as dropout does).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..layers.attention import BIASES, WEIGHTS, SelfAttentionLayer
from .torch_net import _torch, stage


class SelfAttention(nn.Module):
    def __init__(self, layer: SelfAttentionLayer) -> None:
        super().__init__()
        self.spec, self.heads = layer, layer.NumHeads
        self.causal, self.dropout = layer.AttentionMask == "causal", layer.DropoutProbability
        self.weights = nn.ParameterDict({k: nn.Parameter(_torch(getattr(layer, k))) for k in WEIGHTS})
        self.biases = nn.ParameterDict({k: nn.Parameter(_torch(getattr(layer, k))) for k in BIASES})

    def _project(self, x: torch.Tensor, kind: str) -> torch.Tensor:
        return F.linear(x, self.weights[f"{kind}Weights"], self.biases[f"{kind}Bias"])

    def forward(self, x: torch.Tensor, lengths: torch.Tensor, sequence: bool) -> tuple[torch.Tensor, bool]:
        if not sequence:  # one step attends to itself alone
            return self._project(self._project(x, "Value"), "Output"), False
        N, T, _ = x.shape
        steps = torch.arange(T, device=x.device)
        valid = steps[None, :] < lengths.to(x.device)[:, None]  # [N, T]
        x = torch.where(valid[..., None], x, torch.zeros((), dtype=x.dtype, device=x.device))

        def heads(kind: str) -> torch.Tensor:  # [N, T, h·d] -> [N, h, T, d]
            y = self._project(x, kind)
            return y.reshape(N, T, self.heads, -1).transpose(1, 2)

        Q, K, V = heads("Query"), heads("Key"), heads("Value")
        scores = Q @ K.transpose(-1, -2) / math.sqrt(Q.shape[-1])  # [N, h, T(query), T(key)]
        hidden = ~valid[:, None, None, :]
        if self.causal:
            hidden = hidden | (steps[None, :] > steps[:, None])
        weights = torch.softmax(scores.masked_fill(hidden, -math.inf), dim=-1)
        weights = F.dropout(weights, self.dropout, self.training)
        merged = (weights @ V).transpose(1, 2).reshape(N, T, -1)
        return self._project(merged, "Output"), True

    def learnables(self) -> dict[str, list[nn.Parameter]]:
        return {k: [self.weights[k]] for k in WEIGHTS} | {k: [self.biases[k]] for k in BIASES}

    def to_layer(self) -> SelfAttentionLayer:
        learned = {k: p[0].detach().cpu().numpy().astype(np.float32) for k, p in self.learnables().items()}
        return dataclasses.replace(self.spec, **learned)


@stage(SelfAttentionLayer)
def self_attention_stage(layer: SelfAttentionLayer) -> nn.Module:
    return SelfAttention(layer)
