"""Normalization layers: ``batchNormalizationLayer`` and ``layerNormalizationLayer``.

Both normalize, then scale and shift per channel (``Offset`` β and ``Scale``
γ are ``NumChannels``-by-1, as MATLAB stores them for sequence data)::

    y = γ · (x - μ) / √(σ² + ε) + β

They differ in where μ and σ² come from. For a batch norm at inference they
are the per-channel ``TrainedMean`` and ``TrainedVariance`` (from training);
for a layer norm they are computed from each observation (see
:class:`LayerNormalizationLayer` for the dimensions).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable, ClassVar

import numpy as np

from .. import initializers, values
from ..errors import LayerError, NetworkError
from . import HIDDEN, LEARNABLE, NAME, STATE, Layer, name_value_pairs, prop
from .activation import real_scalar

NORM_INITIALIZERS = ("zeros", "ones", "narrow-normal")

decay = real_scalar("a number in the range [0, 1]", lambda v: 0 <= v <= 1)
positive_epsilon = real_scalar("a finite positive scalar", lambda v: v > 0)
batchnorm_epsilon = real_scalar("a finite scalar greater than or equal to 1e-05", lambda v: v >= 1e-5)


@dataclass(frozen=True, eq=False, kw_only=True, repr=False)
class _PerChannel(Layer):
    """What both normalization layers share: NumChannels, Offset/Scale, their initializers and factors.

    (The display groups properties, so the subclasses' hyperparameters still show in MATLAB's order.)
    """

    VECTORS: ClassVar[tuple[str, ...]] = ("Offset", "Scale")

    NumChannels: str | int = prop("auto", values.auto_or_positive_int, NAME)
    Offset: np.ndarray | None = prop(None, values.vector(), LEARNABLE, learnable=True)
    Scale: np.ndarray | None = prop(None, values.vector(), LEARNABLE, learnable=True)
    OffsetInitializer: str | Callable = prop("zeros", values.initializer(*NORM_INITIALIZERS), HIDDEN)
    ScaleInitializer: str | Callable = prop("ones", values.initializer(*NORM_INITIALIZERS), HIDDEN)
    OffsetLearnRateFactor: float = prop(1.0, values.scalar_factor, HIDDEN)
    ScaleLearnRateFactor: float = prop(1.0, values.scalar_factor, HIDDEN)
    OffsetL2Factor: float = prop(1.0, values.scalar_factor, HIDDEN)
    ScaleL2Factor: float = prop(1.0, values.scalar_factor, HIDDEN)

    def _channels(self) -> tuple[int | None, str]:
        """The number of channels this layer's own properties fix, and the property that fixes it."""
        if self.NumChannels != "auto":
            return self.NumChannels, "NumChannels"
        for name in self.VECTORS:
            value = getattr(self, name)
            if value is not None:
                return value.size, name
        return None, ""

    def _check(self) -> None:
        channels, source = self._channels()
        for name in self.VECTORS:
            value = getattr(self, name)
            if value is not None and value.size != channels:
                raise LayerError(f"{self.where(name)} must be a {channels}-by-1 vector (one per channel, as {source}), got {value.size} elements")

    def infer(self, input_size: int, sequence: bool, where: str) -> tuple[int, bool]:
        channels, source = self._channels()
        if channels is not None and channels != input_size:
            raise NetworkError(f"{where}: {source} says {channels} channels, but the previous layer outputs {input_size}")
        return input_size, sequence

    def resolved(self, input_size: int) -> "_PerChannel":
        return dataclasses.replace(self, NumChannels=input_size)

    def _initialized_learnables(self, rng: Callable[[int], np.random.Generator]) -> dict[str, np.ndarray]:
        C, new = self.NumChannels, {}
        if self.Offset is None:
            new["Offset"] = initializers.vector_bias(self.OffsetInitializer, C, rng(0), self.where("OffsetInitializer"))
        if self.Scale is None:
            new["Scale"] = initializers.vector_bias(self.ScaleInitializer, C, rng(1), self.where("ScaleInitializer"))
        return new

    def initialized(self, rng: Callable[[int], np.random.Generator]) -> "_PerChannel":
        new = self._initialized_learnables(rng)
        return dataclasses.replace(self, **new) if new else self

    def description(self) -> str:
        text = self.TYPE[0] + self.TYPE[1:].lower()
        return text if self.NumChannels == "auto" else f"{text} with {self.NumChannels} channels"


def nonnegative_vector(value: Any, where: str) -> np.ndarray | None:
    out = values.vector()(value, where)
    if out is not None and np.any(out < 0):
        raise LayerError(f"{where} must be nonnegative, got a negative element")
    return out


@dataclass(frozen=True, eq=False, kw_only=True, repr=False)
class BatchNormalizationLayer(_PerChannel):
    """MATLAB's ``batchNormalizationLayer``: per-channel normalization with statistics from training.

    Inference, per channel c (any time step of ``[N, T, C]`` or ``[N, C]``)::

        y_c = Scale_c · (x_c - TrainedMean_c) / √(TrainedVariance_c + Epsilon) + Offset_c

    Training (trainNetwork) normalizes with the mini-batch's own mean μ_B and
    biased variance σ²_B per channel, over the batch and the *valid* time
    steps only (MATLAB includes the padded steps; we do not, so padding never
    changes a result), and after each iteration updates, as MATLAB's page
    gives it::

        TrainedMean     ← (1 - MeanDecay) · TrainedMean + MeanDecay · μ_B
        TrainedVariance ← (1 - VarianceDecay) · TrainedVariance + VarianceDecay · σ²_B · m/(m-1)

    with m the number of values averaged per channel. The Bessel factor
    m/(m-1) is our reading: MATLAB's page does not say, and its GPU path
    (cuDNN's batch-norm training call) as well as PyTorch update the running
    variance with the unbiased estimate. With trainingOptions'
    ``BatchNormalizationStatistics`` 'population' (MATLAB's default) these
    running values are replaced after training by the mean and population
    (biased) variance of the layer's input over all valid steps of the
    training data, one more pass as MATLAB makes it; 'moving' keeps them.

    ``Epsilon`` must be at least 1e-5, as MATLAB requires (cuDNN's minimum).
    Unset statistics are MATLAB's initial values: TrainedMean zeros,
    TrainedVariance ones.
    """

    FUNCTION: ClassVar[str] = "batchNormalizationLayer"
    TYPE: ClassVar[str] = "Batch Normalization"
    DEFAULT_NAME: ClassVar[str] = "batchnorm"
    VECTORS: ClassVar[tuple[str, ...]] = ("Offset", "Scale", "TrainedMean", "TrainedVariance")

    MeanDecay: float = prop(0.1, decay)
    VarianceDecay: float = prop(0.1, decay)
    Epsilon: float = prop(1e-5, batchnorm_epsilon)
    TrainedMean: np.ndarray | None = prop(None, values.vector(), STATE)
    TrainedVariance: np.ndarray | None = prop(None, nonnegative_vector, STATE)

    def initialized(self, rng: Callable[[int], np.random.Generator]) -> "BatchNormalizationLayer":
        new: dict[str, Any] = self._initialized_learnables(rng)
        if self.TrainedMean is None:
            new["TrainedMean"] = np.zeros(self.NumChannels)
        if self.TrainedVariance is None:
            new["TrainedVariance"] = np.ones(self.NumChannels)
        return dataclasses.replace(self, **new) if new else self


OPERATION_DIMENSIONS = ("auto", "channel-only", "spatial-channel", "batch-excluded")


@dataclass(frozen=True, eq=False, kw_only=True, repr=False)
class LayerNormalizationLayer(_PerChannel):
    """MATLAB's ``layerNormalizationLayer``: each observation normalized by its own statistics.

    μ and σ² (biased) are taken over the dimensions ``OperationDimension``
    names, then ``y = Scale_c · (x - μ) / √(σ² + Epsilon) + Offset_c``.
    We follow MATLAB R2023a and later (the release that added
    OperationDimension): for sequence data ('CBT', ours ``[N, T, C]``)
    'auto' normalizes over the channel dimension only, i.e. per time step.
    Before R2023a MATLAB normalized sequences over channels *and* time;
    'batch-excluded' reproduces that. Sequence data has no spatial
    dimensions, so 'spatial-channel' equals 'channel-only' here. Over time,
    only each sequence's valid steps count, so padding never changes a
    result. A single step ``[N, C]`` ('CB') is normalized over C in every mode.
    Streaming (a stateful graph, MATLAB's ``predictAndUpdateState``) carries
    only recurrent state, so 'batch-excluded' then takes each chunk's own steps,
    as MATLAB does for each call.
    """

    FUNCTION: ClassVar[str] = "layerNormalizationLayer"
    TYPE: ClassVar[str] = "Layer Normalization"
    DEFAULT_NAME: ClassVar[str] = "layernorm"

    Epsilon: float = prop(1e-5, positive_epsilon)
    OperationDimension: str = prop("auto", values.choice(*OPERATION_DIMENSIONS))

    @property
    def over_time(self) -> bool:
        """Whether sequence statistics span the (valid) time steps as well as the channels."""
        return self.OperationDimension == "batch-excluded"


def batchNormalizationLayer(*args: Any, **kwargs: Any) -> BatchNormalizationLayer:
    """``batchNormalizationLayer('Epsilon', 1e-4, 'TrainedMean', mu, ...)`` or with keywords."""
    return BatchNormalizationLayer(**name_value_pairs(BatchNormalizationLayer, args, kwargs))


def layerNormalizationLayer(*args: Any, **kwargs: Any) -> LayerNormalizationLayer:
    """``layerNormalizationLayer('OperationDimension', 'batch-excluded', ...)`` or with keywords."""
    return LayerNormalizationLayer(**name_value_pairs(LayerNormalizationLayer, args, kwargs))
