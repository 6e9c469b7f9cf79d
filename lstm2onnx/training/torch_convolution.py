"""Torch stages of 1-D convolution, pooling and word embeddings, with the graph's padding promise.

Sequences are batch-first ``[N, T, C]`` with lengths ``[N]``. As in the ONNX
graph, steps past each length are set to the padding value before a window
sees them (-∞ for max pooling), 'same' padding with a stride above 1 is
placed per sequence, and the stage hands back the new lengths:
``forward(x, lengths, sequence) -> (y, sequence, new_lengths)``. Learnables
keep MATLAB's layout (``Weights`` ``K x C x F`` for a convolution,
``Dimension x (NumWords+1)`` for an embedding under OOVMode 'map-to-last') so ``to_layer`` is a copy.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import Lstm2OnnxError
from ..layers.convolution import (
    AveragePooling1DLayer,
    Convolution1DLayer,
    GlobalAveragePooling1DLayer,
    GlobalMaxPooling1DLayer,
    Indexing1DLayer,
    MaxPooling1DLayer,
    TimeWindow,
)
from ..layers.embedding import WordEmbeddingLayer
from .torch_net import stage


def _valid(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """bool ``[N, T, 1]``: step t of sequence n is before its length."""
    return (torch.arange(x.shape[1], device=x.device)[None, :] < lengths.to(x.device)[:, None])[..., None]


def _fill(x: torch.Tensor, lengths: torch.Tensor, value: float) -> torch.Tensor:
    return torch.where(_valid(x, lengths), x, torch.full((), value, dtype=x.dtype, device=x.device))


def windowed(layer: TimeWindow, x: torch.Tensor, lengths: torch.Tensor, value: float) -> torch.Tensor:
    """``[N, T, C]`` (steps past each length already ``value``) -> ``[N, C, T̃]`` padded for an unpadded operator."""
    s, D = layer.Stride, layer.window
    if layer.Padding == "same" and s > 1:  # sequence n needs l_n = floor(total_n / 2) steps before it
        P = (D - 1) // 2
        padded = F.pad(x.transpose(1, 2), (P, D), value=value).transpose(1, 2)  # [N, P+T+D, C]
        L = lengths.to(x.device)
        total = torch.clamp((torch.div(L + s - 1, s, rounding_mode="floor") - 1) * s + D - L, min=0)
        span = (-(-x.shape[1] // s) - 1) * s + D
        index = torch.arange(span, device=x.device)[None, :] + (P - torch.div(total, 2, rounding_mode="floor"))[:, None]
        return torch.gather(padded, 1, index[..., None].expand(-1, -1, x.shape[2])).transpose(1, 2)
    left, right = layer.pads(0) if layer.Padding == "same" else layer.PaddingSize
    return F.pad(x.transpose(1, 2), (left, right), value=value)


def new_lengths(layer: TimeWindow, lengths: torch.Tensor) -> torch.Tensor:
    """``floor((L + l + r - D)/s) + 1`` (``ceil(L/s)`` for 'same'); a sequence left without a step is an error."""
    s = layer.Stride
    if layer.Padding == "same":
        return torch.div(lengths + s - 1, s, rounding_mode="floor")
    left, right = layer.PaddingSize
    out = torch.div(lengths + left + right - layer.window, s, rounding_mode="floor") + 1
    if bool((out < 1).any()):
        n = int(torch.nonzero(out < 1)[0, 0])
        raise Lstm2OnnxError(layer.too_short(n, int(lengths[n])))
    return out


class Convolution1D(nn.Module):
    """``y[j, f] = b[f] + Σ_k Σ_c W[k, c, f] x̃[j·s + k·d, c]`` with W ``[K, C, F]``."""

    def __init__(self, layer: Convolution1DLayer) -> None:
        super().__init__()
        self.spec = layer
        self.Weights = nn.Parameter(torch.tensor(np.asarray(layer.Weights, np.float32)))
        self.Bias = nn.Parameter(torch.tensor(np.asarray(layer.Bias, np.float32)))

    def forward(self, x: torch.Tensor, lengths: torch.Tensor, sequence: bool):
        layer = self.spec
        data = windowed(layer, _fill(x, lengths, layer.PaddingValue), lengths, layer.PaddingValue)
        y = F.conv1d(data, self.Weights.permute(2, 1, 0), self.Bias, stride=layer.Stride, dilation=layer.DilationFactor)
        return y.transpose(1, 2), True, new_lengths(layer, lengths)

    def learnables(self) -> dict[str, list[nn.Parameter]]:
        return {"Weights": [self.Weights], "Bias": [self.Bias]}

    def to_layer(self) -> Convolution1DLayer:
        return dataclasses.replace(self.spec, Weights=self.Weights.detach().cpu().numpy(), Bias=self.Bias.detach().cpu().numpy())


class MaxPooling1D(nn.Module):
    """Max over each window, padding -∞; steps past the new lengths are 0."""

    def __init__(self, layer: MaxPooling1DLayer) -> None:
        super().__init__()
        self.spec = layer

    def forward(self, x: torch.Tensor, lengths: torch.Tensor, sequence: bool):
        layer = self.spec
        data = windowed(layer, _fill(x, lengths, -np.inf), lengths, -np.inf)
        y = F.max_pool1d(data, layer.PoolSize, layer.Stride).transpose(1, 2)
        out_lengths = new_lengths(layer, lengths)
        return _fill(y, out_lengths, 0.0), True, out_lengths


class AveragePooling1D(nn.Module):
    """Mean over each window: padding counts as 0 (PaddingValue 0) or is left out ('mean')."""

    def __init__(self, layer: AveragePooling1DLayer) -> None:
        super().__init__()
        self.spec = layer

    def forward(self, x: torch.Tensor, lengths: torch.Tensor, sequence: bool):
        layer = self.spec
        y = F.avg_pool1d(windowed(layer, _fill(x, lengths, 0.0), lengths, 0.0), layer.PoolSize, layer.Stride)
        if layer.PaddingValue == "mean":
            real = _valid(x, lengths).to(x.dtype)
            y = y / F.avg_pool1d(windowed(layer, real, lengths, 0.0), layer.PoolSize, layer.Stride)
        return y.transpose(1, 2), True, new_lengths(layer, lengths)


class GlobalMaxPooling1D(nn.Module):
    def forward(self, x: torch.Tensor, lengths: torch.Tensor, sequence: bool):
        return _fill(x, lengths, -np.inf).amax(dim=1), False


class GlobalAveragePooling1D(nn.Module):
    def forward(self, x: torch.Tensor, lengths: torch.Tensor, sequence: bool):
        total = _fill(x, lengths, 0.0).sum(dim=1)
        return total / lengths.to(x.device, x.dtype)[:, None], False


class Indexing1D(nn.Module):
    def __init__(self, layer: Indexing1DLayer) -> None:
        super().__init__()
        self.last = layer.Index == "last"

    def forward(self, x: torch.Tensor, lengths: torch.Tensor, sequence: bool):
        steps = lengths.to(x.device) - 1 if self.last else torch.zeros_like(lengths, device=x.device)
        return x[torch.arange(x.shape[0], device=x.device), steps.long()], False


class WordEmbedding(nn.Module):
    """``y_t = Weights[:, w_t]`` for 1-based indices w_t; 'map-to-last' maps indices outside 1..NumWords to NumWords+1,
    the out-of-vocabulary column of the initialized ``Dimension x (NumWords+1)`` Weights, which trains like the others.

    Indices are clipped into range as in the graph; checking them is the data loader's job.
    """

    def __init__(self, layer: WordEmbeddingLayer) -> None:
        super().__init__()
        self.spec = layer
        self.Weights = nn.Parameter(torch.tensor(np.asarray(layer.Weights, np.float32)))

    def forward(self, x: torch.Tensor, lengths: torch.Tensor, sequence: bool):
        K, C = self.spec.NumWords, self.spec.columns
        words = x[..., 0]
        if self.spec.OOVMode == "map-to-last":
            words = torch.where((words < 1) | (words > K), torch.full_like(words, C), words)
        rows = words.clamp(1, C).long() - 1
        return F.embedding(rows, self.Weights.t()), True

    def learnables(self) -> dict[str, list[nn.Parameter]]:
        return {"Weights": [self.Weights]}

    def to_layer(self) -> WordEmbeddingLayer:
        return dataclasses.replace(self.spec, Weights=self.Weights.detach().cpu().numpy())


@stage(Convolution1DLayer)
def convolution1d_stage(layer: Convolution1DLayer) -> nn.Module:
    return Convolution1D(layer)


@stage(MaxPooling1DLayer)
def max_pooling1d_stage(layer: MaxPooling1DLayer) -> nn.Module:
    return MaxPooling1D(layer)


@stage(AveragePooling1DLayer)
def average_pooling1d_stage(layer: AveragePooling1DLayer) -> nn.Module:
    return AveragePooling1D(layer)


@stage(GlobalMaxPooling1DLayer)
def global_max_pooling1d_stage(layer: GlobalMaxPooling1DLayer) -> nn.Module:
    return GlobalMaxPooling1D()


@stage(GlobalAveragePooling1DLayer)
def global_average_pooling1d_stage(layer: GlobalAveragePooling1DLayer) -> nn.Module:
    return GlobalAveragePooling1D()


@stage(Indexing1DLayer)
def indexing1d_stage(layer: Indexing1DLayer) -> nn.Module:
    return Indexing1D(layer)


@stage(WordEmbeddingLayer)
def word_embedding_stage(layer: WordEmbeddingLayer) -> nn.Module:
    return WordEmbedding(layer)
