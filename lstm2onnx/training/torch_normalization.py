"""Torch modules of batchNormalizationLayer and layerNormalizationLayer, with MATLAB's learnables.

Statistics are taken over valid time steps only (``lengths``), so padding
never changes a result, in training as at inference. x is ``[N, T, C]``
(``sequence``) or ``[N, C]``; Offset β and Scale γ are ``[C]`` parameters.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Iterable

import numpy as np
import torch
from torch import nn

from ..layers import BatchNormalizationLayer, LayerNormalizationLayer
from .torch_net import stage


def valid_steps(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """bool ``[N, T, 1]``: step t of sequence n is valid (t < lengths[n])."""
    steps = torch.arange(x.shape[1], device=x.device)
    return (steps[None, :] < lengths.to(x.device)[:, None])[..., None]


def masked_moments(x: torch.Tensor, valid: torch.Tensor | None, dims: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(mean, biased variance, count)`` of x over ``dims`` (kept), counting only ``valid`` elements."""
    if valid is None:
        valid = torch.ones_like(x, dtype=torch.bool)
    valid = valid.expand_as(x)
    count = valid.sum(dim=dims, keepdim=True).to(x.dtype)
    zero = torch.zeros((), dtype=x.dtype, device=x.device)
    mean = torch.where(valid, x, zero).sum(dim=dims, keepdim=True) / count
    variance = torch.where(valid, (x - mean) ** 2, zero).sum(dim=dims, keepdim=True) / count
    return mean, variance, count


class _Normalization(nn.Module):
    """Offset β and Scale γ as parameters; ``y = γ (x - μ) / √(σ² + ε) + β``."""

    def __init__(self, layer) -> None:
        super().__init__()
        self.spec, self.epsilon = layer, layer.Epsilon
        self.offset = nn.Parameter(torch.tensor(np.asarray(layer.Offset, np.float32)))
        self.scale = nn.Parameter(torch.tensor(np.asarray(layer.Scale, np.float32)))

    def affine(self, x: torch.Tensor, mean: torch.Tensor, variance: torch.Tensor) -> torch.Tensor:
        return self.scale * (x - mean) / torch.sqrt(variance + self.epsilon) + self.offset

    def learnables(self) -> dict[str, list[nn.Parameter]]:
        return {"Offset": [self.offset], "Scale": [self.scale]}

    def learned(self) -> dict[str, np.ndarray]:
        return {"Offset": self.offset.detach().cpu().numpy(), "Scale": self.scale.detach().cpu().numpy()}

    def to_layer(self):
        return dataclasses.replace(self.spec, **self.learned())


class BatchNormalization(_Normalization):
    """batchNormalizationLayer: mini-batch statistics in training, TrainedMean/TrainedVariance otherwise.

    In training mode each call normalizes with the mean and biased variance of
    the valid elements of each channel (m of them: the batch's valid steps, or
    the N observations of ``[N, C]``) and updates the running statistics::

        TrainedMean     ← (1 - MeanDecay) · TrainedMean + MeanDecay · μ_B
        TrainedVariance ← (1 - VarianceDecay) · TrainedVariance + VarianceDecay · σ²_B · m/(m-1)

    (m/(m-1) taken as 1 when m = 1; see :class:`lstm2onnx.layers.BatchNormalizationLayer`
    for why the running variance is the unbiased one). Under data-parallel
    training each process uses the statistics of its own shard, and the
    network returned holds the first process's running statistics. With
    'population' statistics (the default) :func:`population_statistics`
    replaces them after training.
    """

    def __init__(self, layer: BatchNormalizationLayer) -> None:
        super().__init__(layer)
        self.register_buffer("trained_mean", torch.tensor(np.asarray(layer.TrainedMean, np.float32)))
        self.register_buffer("trained_variance", torch.tensor(np.asarray(layer.TrainedVariance, np.float32)))

    def forward(self, x: torch.Tensor, lengths: torch.Tensor, sequence: bool) -> tuple[torch.Tensor, bool]:
        if not self.training:
            return self.affine(x, self.trained_mean, self.trained_variance), sequence
        dims = (0, 1) if sequence else (0,)
        mean, variance, count = masked_moments(x, valid_steps(x, lengths) if sequence else None, dims)
        with torch.no_grad():
            m = count.reshape(-1)[0]
            unbiased = variance * (m / (m - 1)) if m > 1 else variance
            self.trained_mean.lerp_(mean.reshape(-1).to(self.trained_mean.dtype), self.spec.MeanDecay)
            self.trained_variance.lerp_(unbiased.reshape(-1).to(self.trained_variance.dtype), self.spec.VarianceDecay)
        return self.affine(x, mean, variance), sequence

    def learned(self) -> dict[str, np.ndarray]:
        return {**super().learned(), "TrainedMean": self.trained_mean.detach().cpu().numpy(),
                "TrainedVariance": self.trained_variance.detach().cpu().numpy()}


class LayerNormalization(_Normalization):
    """layerNormalizationLayer: statistics of each observation, over C per step (or over valid steps and C)."""

    def forward(self, x: torch.Tensor, lengths: torch.Tensor, sequence: bool) -> tuple[torch.Tensor, bool]:
        if self.spec.over_time and sequence:
            mean, variance, _ = masked_moments(x, valid_steps(x, lengths), (1, 2))
        else:
            mean, variance, _ = masked_moments(x, None, (-1,))
        return self.affine(x, mean, variance), sequence


@torch.no_grad()
def population_statistics(module: nn.Module, batches: Callable[[], Iterable[tuple[torch.Tensor, torch.Tensor]]]) -> None:
    """MATLAB's BatchNormalizationStatistics 'population': TrainedMean/TrainedVariance from one more pass over the data.

    After training MATLAB "finalizes the statistics by passing through the
    training data once more"; here each batch-normalization stage in network
    order gets the mean and the (biased, population) variance of its input
    over every valid element of every sequence that ``batches()`` yields as
    ``(x [N, T, F], lengths [N])``, with the network in inference mode, so the
    stages before it already use their final statistics. One pass per stage;
    sums are accumulated in float64.
    """
    stages = [m for m in module.modules() if isinstance(m, BatchNormalization)]
    was_training = module.training
    module.eval()
    for bn in stages:
        total = {"count": 0.0, "sum": 0.0, "squares": 0.0}

        def accumulate(stage: nn.Module, inputs: tuple) -> None:
            x, lengths, sequence = inputs
            x = x.double()
            valid = valid_steps(x, lengths).expand_as(x) if sequence else torch.ones_like(x, dtype=torch.bool)
            dims = (0, 1) if sequence else (0,)
            total["count"] = total["count"] + valid.sum(dim=dims)
            total["sum"] = total["sum"] + torch.where(valid, x, 0.0).sum(dim=dims)
            total["squares"] = total["squares"] + torch.where(valid, x * x, 0.0).sum(dim=dims)

        handle = bn.register_forward_pre_hook(accumulate)
        try:
            for x, lengths in batches():
                module(x, lengths)
        finally:
            handle.remove()
        mean = total["sum"] / total["count"]
        variance = (total["squares"] / total["count"] - mean * mean).clamp_min(0.0)
        bn.trained_mean.copy_(mean)
        bn.trained_variance.copy_(variance)
    module.train(was_training)


@stage(BatchNormalizationLayer)
def batch_normalization_module(layer: BatchNormalizationLayer) -> BatchNormalization:
    return BatchNormalization(layer)


@stage(LayerNormalizationLayer)
def layer_normalization_module(layer: LayerNormalizationLayer) -> LayerNormalization:
    return LayerNormalization(layer)
