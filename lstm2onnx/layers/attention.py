"""MATLAB's ``selfAttentionLayer`` (R2023a) over time: multihead scaled dot-product self-attention.

For a sequence X (T steps of C channels), with h = NumHeads, d_k = NumKeyChannels/h and
d_v = NumValueChannels/h, the layer computes, as MATLAB's page lists its steps::

    Q = X W_Qᵀ + b_Q     K = X W_Kᵀ + b_K     V = X W_Vᵀ + b_V          (T x NumKeyChannels, ..., T x NumValueChannels)
    head_i = softmax_keys(Q_i K_iᵀ / √d_k + M) V_i                      (Q_i: channels (i-1)·d_k+1 .. i·d_k of Q)
    Y = [head_1 ... head_h] W_Oᵀ + b_O                                  (T x OutputSize)

M is 0 where query step s may see key step t and -∞ elsewhere: a key past the sequence's end is never
seen (each sequence attends to its own steps, as when MATLAB predicts it alone, so padding never changes
a result) and AttentionMask 'causal' also hides t > s. Learnables: QueryWeights W_Q and KeyWeights W_K
``NumKeyChannels x C``, ValueWeights W_V ``NumValueChannels x C``, OutputWeights W_O
``OutputSize x NumValueChannels``, and the biases (column vectors of those row counts). KeyBias never changes an
output: it adds Q_i·b_K,i to every score of a query's row, which the softmax takes out again, so its gradient is 0
(MATLAB keeps it as a learnable all the same).
NumValueChannels 'auto' is NumKeyChannels; OutputSize 'auto' is C. DropoutProbability drops
attention weights in training only. The layer needs the whole sequence, so stateful (streaming) graphs
refuse it.

``InputSize`` (hidden, not a MATLAB option: MATLAB infers it) records C once the network is analyzed,
so initialization knows the weights' columns; MATLAB text leaves it out.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable, ClassVar

import numpy as np

from .. import initializers, values
from ..errors import LayerError, NetworkError
from . import HIDDEN, LEARNABLE, FC_BIAS_INITIALIZERS, Layer, false_only, name_value_pairs, prop, required

ATTENTION_WEIGHT_INITIALIZERS = ("glorot", "he", "narrow-normal", "zeros", "ones")
ATTENTION_MASKS = ("none", "causal")
WEIGHTS = ("QueryWeights", "KeyWeights", "ValueWeights", "OutputWeights")
BIASES = ("QueryBias", "KeyBias", "ValueBias", "OutputBias")


def _no_padding_mask(value: Any, where: str) -> bool:
    return false_only(value, where, "true adds a padding-mask input that only a layer graph can connect; lstm2onnx already "
                      "masks the steps past each sequence's end (sequence_lengths), so padding never changes a result")


def _no_scores_output(value: Any, where: str) -> bool:
    return false_only(value, where, "true adds the attention scores as a second output that only a layer graph can connect, "
                      "and a layer array is a single chain")


@dataclass(frozen=True, eq=False, kw_only=True, repr=False)
class SelfAttentionLayer(Layer):
    """``selfAttentionLayer(numHeads, numKeyChannels, Name=Value)``: see the module docstring for the maths."""

    FUNCTION: ClassVar[str] = "selfAttentionLayer"
    TYPE: ClassVar[str] = "Self-Attention"
    DEFAULT_NAME: ClassVar[str] = "selfattention"
    # the torch trainer's learn-rate/L2 factor of each learnable: MATLAB has one pair for all weights, one for all biases
    FACTOR_PREFIXES: ClassVar[dict[str, str]] = {**{w: "Weight" for w in WEIGHTS}, **{b: "Bias" for b in BIASES}}

    NumHeads: int = required(values.positive_int)
    NumKeyChannels: int = required(values.positive_int)
    NumValueChannels: str | int = prop("auto", values.auto_or_positive_int)
    OutputSize: str | int = prop("auto", values.auto_or_positive_int)
    HasPaddingMaskInput: bool = prop(False, _no_padding_mask)
    HasScoresOutput: bool = prop(False, _no_scores_output)
    AttentionMask: str = prop("none", values.choice(*ATTENTION_MASKS))
    DropoutProbability: float = prop(0.0, values.probability)
    InputSize: str | int = prop("auto", values.auto_or_positive_int, HIDDEN)
    QueryWeights: np.ndarray | None = prop(None, values.matrix(), LEARNABLE, learnable=True)
    KeyWeights: np.ndarray | None = prop(None, values.matrix(), LEARNABLE, learnable=True)
    ValueWeights: np.ndarray | None = prop(None, values.matrix(), LEARNABLE, learnable=True)
    OutputWeights: np.ndarray | None = prop(None, values.matrix(), LEARNABLE, learnable=True)
    QueryBias: np.ndarray | None = prop(None, values.vector(), LEARNABLE, learnable=True)
    KeyBias: np.ndarray | None = prop(None, values.vector(), LEARNABLE, learnable=True)
    ValueBias: np.ndarray | None = prop(None, values.vector(), LEARNABLE, learnable=True)
    OutputBias: np.ndarray | None = prop(None, values.vector(), LEARNABLE, learnable=True)
    WeightsInitializer: str | Callable = prop("glorot", values.initializer(*ATTENTION_WEIGHT_INITIALIZERS), HIDDEN)
    BiasInitializer: str | Callable = prop("zeros", values.initializer(*FC_BIAS_INITIALIZERS), HIDDEN)
    WeightLearnRateFactor: float = prop(1.0, values.scalar_factor, HIDDEN)
    BiasLearnRateFactor: float = prop(1.0, values.scalar_factor, HIDDEN)
    WeightL2Factor: float = prop(1.0, values.scalar_factor, HIDDEN)
    BiasL2Factor: float = prop(0.0, values.scalar_factor, HIDDEN)

    @property
    def value_channels(self) -> int:
        """NumValueChannels, 'auto' read as NumKeyChannels."""
        return self.NumKeyChannels if self.NumValueChannels == "auto" else self.NumValueChannels

    def _check(self) -> None:
        h = self.NumHeads
        for prop_name, channels in (("NumKeyChannels", self.NumKeyChannels), ("NumValueChannels", self.value_channels)):
            if channels % h:
                raise LayerError(f"{self.where(prop_name)} must be divisible by NumHeads ({h}), got {channels}")
        Dk, Dv = self.NumKeyChannels, self.value_channels
        C = self.InputSize if isinstance(self.InputSize, int) else None
        out = self.OutputSize if isinstance(self.OutputSize, int) else None
        columns = f"{C or 'InputSize'}"
        self._expect_shape("QueryWeights", (Dk, C), f"{Dk}-by-{columns} (NumKeyChannels-by-InputSize)")
        self._expect_shape("KeyWeights", (Dk, C), f"{Dk}-by-{columns} (NumKeyChannels-by-InputSize)")
        self._expect_shape("ValueWeights", (Dv, C), f"{Dv}-by-{columns} (NumValueChannels-by-InputSize)")
        self._expect_shape("OutputWeights", (out, Dv), f"{out or 'OutputSize'}-by-{Dv} (OutputSize-by-NumValueChannels)")
        self._expect_length("QueryBias", Dk, "NumKeyChannels")
        self._expect_length("KeyBias", Dk, "NumKeyChannels")
        self._expect_length("ValueBias", Dv, "NumValueChannels")
        given = [(name, getattr(self, name).shape[1]) for name in WEIGHTS[:3] if getattr(self, name) is not None]
        if any(cols != given[0][1] for _, cols in given):
            listing = ", ".join(f"{name} {cols}" for name, cols in given)
            raise LayerError(f"{self.where(given[0][0])}: QueryWeights, KeyWeights and ValueWeights must have one column per "
                             f"input channel, the same number, got {listing}")
        if out is None and self.OutputWeights is not None:
            out = self.OutputWeights.shape[0]
        if out is not None:
            self._expect_length("OutputBias", out, "OutputSize")

    def _input_channels(self) -> tuple[int | None, str]:
        """The input channels this layer's own properties fix, and the property that fixes them."""
        if self.InputSize != "auto":
            return self.InputSize, "InputSize"
        for name in WEIGHTS[:3]:
            if getattr(self, name) is not None:
                return getattr(self, name).shape[1], name
        return None, ""

    def _output_size(self, input_size: int) -> int:
        if self.OutputSize != "auto":
            return self.OutputSize
        return self.OutputWeights.shape[0] if self.OutputWeights is not None else input_size

    def infer(self, input_size: int, sequence: bool, where: str) -> tuple[int, bool]:
        """``[N, T, C]`` -> ``[N, T, OutputSize]``; one step ``[N, C]`` (after OutputMode 'last') attends to itself only."""
        channels, source = self._input_channels()
        if channels is not None and channels != input_size:
            raise NetworkError(f"{where}: {source} says {channels} input channels, but the previous layer outputs {input_size}")
        return self._output_size(input_size), sequence

    def resolved(self, input_size: int) -> "SelfAttentionLayer":
        return dataclasses.replace(self, InputSize=input_size, NumValueChannels=self.value_channels,
                                   OutputSize=self._output_size(input_size))

    def initialized(self, rng: Callable[[int], np.random.Generator]) -> "SelfAttentionLayer":
        """Unset weights by WeightsInitializer (glorot with fan-in the columns, fan-out the rows), unset biases by
        BiasInitializer (zeros), each from its own generator: the weights Q, K, V, O streams 0-3, the biases 4-7."""
        C, Dk, Dv, out = self.InputSize, self.NumKeyChannels, self.value_channels, self.OutputSize
        shapes = {"QueryWeights": (Dk, C), "KeyWeights": (Dk, C), "ValueWeights": (Dv, C), "OutputWeights": (out, Dv)}
        new: dict[str, Any] = {}
        for stream, (name, (rows, cols)) in enumerate(shapes.items()):
            if getattr(self, name) is None:
                new[name] = initializers.weights(self.WeightsInitializer, (rows, cols), cols, rows, rng(stream),
                                                 self.where("WeightsInitializer"))
        for stream, (name, (rows, _)) in enumerate(zip(BIASES, shapes.values()), start=4):
            if getattr(self, name) is None:
                new[name] = initializers.vector_bias(self.BiasInitializer, rows, rng(stream), self.where("BiasInitializer"))
        return dataclasses.replace(self, **new) if new else self

    def matlab_values(self, props: dict[str, Any]) -> dict[str, Any]:
        """MATLAB text: no InputSize (MATLAB infers it from the layer's input)."""
        return {name: value for name, value in props.items() if name != "InputSize"}

    def description(self) -> str:
        return f"self attention with {self.NumHeads} heads and {self.NumKeyChannels} key channels"


def selfAttentionLayer(numHeads: int, numKeyChannels: int, *args: Any, **kwargs: Any) -> SelfAttentionLayer:
    """``selfAttentionLayer(numHeads, numKeyChannels, 'AttentionMask', 'causal', ...)`` or with keywords."""
    return SelfAttentionLayer(**name_value_pairs(SelfAttentionLayer, args, kwargs, NumHeads=numHeads, NumKeyChannels=numKeyChannels))
