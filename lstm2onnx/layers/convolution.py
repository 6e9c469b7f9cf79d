"""1-D convolution and pooling over time: ``convolution1dLayer``, ``maxPooling1dLayer``,
``averagePooling1dLayer``, ``globalMaxPooling1dLayer``, ``globalAveragePooling1dLayer``.

Sequences are ``[N, T, C]`` (N batch, T time, C channels). A windowed layer
slides a window of ``D = DilationFactor*(FilterSize-1) + 1`` steps (``PoolSize``
for pooling) with stride ``s`` over a sequence padded with ``l`` steps on the
left and ``r`` on the right; the output has::

    T_out = floor((T + l + r - D) / s) + 1

steps. ``Padding`` is numeric (``p`` for ``[p p]``, or ``[l r]``), 'same'
(``T_out = ceil(T/s)``: total padding ``max((ceil(T/s)-1)*s + D - T, 0)``,
``l = floor(total/2)``, the odd step on the right, as MATLAB's documentation
for R2021b..R2024b says: "if the padding that must be added ... has an odd
value, then the software adds extra padding to the ... right") or 'causal'
(``l = D - 1``, ``r = 0``). 'same' padding is computed for each sequence
from its own length, as MATLAB computes it at prediction time for one
sequence (MiniBatchSize 1); so each sequence of a ragged batch gets the
result it gets alone, which is the project's padding promise.

Decisions (MATLAB R2024b documentation followed): the default ``Padding``
is 0 and the default pooling ``Stride`` is 1; ``PaddingValue`` of
``convolution1dLayer`` is a number (MATLAB's 'replicate' and
'symmetric-*' edge modes are rejected with an error); pooling padding must
be smaller than ``PoolSize`` (ONNX's MaxPool/AveragePool and onnxruntime
require it, and a window wholly inside the padding has no value to pool).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any, Callable, ClassVar

import numpy as np

from .. import initializers, values
from ..errors import LayerError, NetworkError
from . import HIDDEN, LEARNABLE, Layer, false_only, name_value_pairs, prop, required

PADDING_MODES = ("same", "causal")
CONV_WEIGHT_INITIALIZERS = ("glorot", "he", "narrow-normal", "zeros", "ones")
CONV_BIAS_INITIALIZERS = ("zeros", "narrow-normal", "ones")


def padding(value: Any, where: str) -> str | tuple[int, int]:
    """'same', 'causal', or nonnegative integers ``p`` (both sides) / ``[l r]``; canonical ``(l, r)``."""
    expected = "'same', 'causal', a nonnegative integer or a 1-by-2 vector [left right] of nonnegative integers"
    if isinstance(value, (str, np.str_)):
        for mode in PADDING_MODES:
            if str(value).lower() == mode:
                return mode
        raise LayerError(f"{where} must be {expected}, got {values.describe(value)}")
    try:
        arr = np.asarray(value, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise LayerError(f"{where} must be {expected}, got {values.describe(value)}") from None
    if arr.size not in (1, 2) or not np.all(np.isfinite(arr)) or np.any(arr < 0) or np.any(arr != np.round(arr)):
        raise LayerError(f"{where} must be {expected}, got {values.describe(value)}")
    left, right = (int(arr[0]), int(arr[-1]))
    return (left, right)


def _conv_padding_value(value: Any, where: str) -> float:
    scalar = values._scalar(value)
    if values._is_number(scalar) and np.isfinite(scalar):
        return float(scalar)
    raise LayerError(f"{where} must be a finite number (lstm2onnx does not support MATLAB's 'replicate' and "
                     f"'symmetric-*' edge modes), got {values.describe(value)}")


def _average_padding_value(value: Any, where: str) -> float | str:
    if isinstance(value, (str, np.str_)) and str(value).lower() == "mean":
        return "mean"
    scalar = values._scalar(value)
    if values._is_number(scalar) and scalar == 0:
        return 0.0
    raise LayerError(f"{where} must be 0 or 'mean', got {values.describe(value)}")


def filter_weights(value: Any, where: str) -> np.ndarray | None:
    """``FilterSize x NumChannels x NumFilters``; MATLAB drops trailing singleton dimensions, so 2-D/1-D arrays are accepted."""
    if values._is_empty(value):
        return None
    arr = values._numeric_array(value, where, "a FilterSize-by-NumChannels-by-NumFilters numeric array")
    if arr.ndim > 3:
        raise LayerError(f"{where} must be a FilterSize-by-NumChannels-by-NumFilters numeric array, got {values.describe(value)}")
    arr = arr.reshape(arr.shape + (1,) * (3 - arr.ndim))
    arr.flags.writeable = False
    return arr


def require_sequence(sequence: bool, where: str) -> None:
    if not sequence:
        raise NetworkError(
            f"{where} works over time and needs sequence input, but an earlier layer outputs one time step "
            "(OutputMode 'last' or global pooling)"
        )


class TimeWindow:
    """What a layer that slides a window over time shares: its padding and the output length."""

    Padding: str | tuple[int, int]
    Stride: int

    @property
    def window(self) -> int:
        """D: the steps one output sees (``DilationFactor*(FilterSize-1) + 1``, or ``PoolSize``)."""
        raise NotImplementedError

    @property
    def PaddingMode(self) -> str:
        """MATLAB's read-only PaddingMode: 'manual', 'same' or 'causal'."""
        return self.Padding if isinstance(self.Padding, str) else "manual"

    @property
    def PaddingSize(self) -> tuple[int, int]:
        """MATLAB's read-only PaddingSize ``[left right]`` ([0 0] for 'same', whose padding depends on T)."""
        if self.Padding == "causal":
            return (self.window - 1, 0)
        return self.Padding if isinstance(self.Padding, tuple) else (0, 0)

    def pads(self, T: int) -> tuple[int, int]:
        """``(l, r)`` for a sequence of T steps."""
        if self.Padding == "same":
            total = max((-(-T // self.Stride) - 1) * self.Stride + self.window - T, 0)
            return total // 2, total - total // 2
        return self.PaddingSize

    def output_length(self, T: int) -> int:
        """``floor((T + l + r - D)/s) + 1`` (below 1 when the sequence is shorter than the window allows)."""
        left, right = self.pads(T)
        return (T + left + right - self.window) // self.Stride + 1

    def too_short(self, n: int, T: int) -> str:
        """The error message for sequence ``n`` (0-based) reaching this layer with T steps, fewer than :meth:`min_length`."""
        return (f"{self.where()}: sequence {n + 1} reaches this layer with {T} time steps; its window of {self.window} "  # type: ignore[attr-defined]
                f"steps with padding {list(self.PaddingSize)} needs at least {self.min_length()}")

    @property
    def keeps_length(self) -> bool:
        """Whether every sequence leaves the layer as long as it came (stride 1 and ``l + r = D - 1``)."""
        return self.Stride == 1 and (isinstance(self.Padding, str) or sum(self.Padding) == self.window - 1)

    def min_length(self) -> int:
        """The fewest input steps that give at least one output step."""
        if self.Padding == "same":
            return 1
        return max(self.window - sum(self.PaddingSize), 1)

    def display(self, all: bool = False) -> str:  # noqa: A002 (MATLAB's word)
        """MATLAB's display: the ``Padding`` option shows as PaddingMode and PaddingSize."""
        size = "[" + " ".join(str(v) for v in self.PaddingSize) + "]"
        text = super().display(all)  # type: ignore[misc]
        text = re.sub(r"^ *Padding: .*$", f"PaddingMode: '{self.PaddingMode}'\nPaddingSize: {size}", text, count=1, flags=re.M)
        rows = re.compile(r"^ *(\w+): (.*)$")
        width = max(len(m.group(1)) for line in text.splitlines() if (m := rows.match(line))) + 4
        return "\n".join(f"{m.group(1):>{width}}: {m.group(2)}" if (m := rows.match(line)) else line
                         for line in text.split("\n"))


@dataclass(frozen=True, eq=False, kw_only=True, repr=False)
class Convolution1DLayer(TimeWindow, Layer):
    """1-D convolution over time, MATLAB's ``convolution1dLayer`` (cross-correlation, as MATLAB computes it).

    With W ``[K, C, F]`` (FilterSize, NumChannels, NumFilters), b ``[F]``,
    stride s, dilation d and the input x padded to x̃ (``l`` steps of
    PaddingValue before, ``r`` after)::

        y[j, f] = b[f] + Σ_k Σ_c W[k, c, f] · x̃[j·s + k·d, c],   j = 0 .. T_out-1

    Input ``[N, T, C]``; output ``[N, T_out, F]``.
    """

    FUNCTION: ClassVar[str] = "convolution1dLayer"
    TYPE: ClassVar[str] = "1-D Convolution"
    DEFAULT_NAME: ClassVar[str] = "conv1d"

    FilterSize: int = required(values.positive_int)
    NumChannels: str | int = prop("auto", values.auto_or_positive_int)
    NumFilters: int = required(values.positive_int)
    Stride: int = prop(1, values.positive_int)
    DilationFactor: int = prop(1, values.positive_int)
    Padding: str | tuple[int, int] = prop((0, 0), padding)
    PaddingValue: float = prop(0.0, _conv_padding_value)
    Weights: np.ndarray | None = prop(None, filter_weights, LEARNABLE, learnable=True)
    Bias: np.ndarray | None = prop(None, values.vector(), LEARNABLE, learnable=True)
    WeightsInitializer: str | Callable = prop("glorot", values.initializer(*CONV_WEIGHT_INITIALIZERS), HIDDEN)
    BiasInitializer: str | Callable = prop("zeros", values.initializer(*CONV_BIAS_INITIALIZERS), HIDDEN)
    WeightLearnRateFactor: float = prop(1.0, values.scalar_factor, HIDDEN)
    BiasLearnRateFactor: float = prop(1.0, values.scalar_factor, HIDDEN)
    WeightL2Factor: float = prop(1.0, values.scalar_factor, HIDDEN)
    BiasL2Factor: float = prop(0.0, values.scalar_factor, HIDDEN)

    @property
    def window(self) -> int:
        return self.DilationFactor * (self.FilterSize - 1) + 1

    def _check(self) -> None:
        K, F = self.FilterSize, self.NumFilters
        C = self.NumChannels if isinstance(self.NumChannels, int) else None
        if self.Weights is not None:
            k, c, f = self.Weights.shape
            if k != K or f != F or (C is not None and c != C):
                raise LayerError(
                    f"{self.where('Weights')} must be a {K}-by-{C or 'NumChannels'}-by-{F} array "
                    f"(FilterSize-by-NumChannels-by-NumFilters), got {k}-by-{c}-by-{f}"
                )
        self._expect_length("Bias", F, "NumFilters")

    def infer(self, input_size: int, sequence: bool, where: str) -> tuple[int, bool]:
        require_sequence(sequence, where)
        expected, source = self.NumChannels, "NumChannels"
        if expected == "auto" and self.Weights is not None:
            expected, source = self.Weights.shape[1], "Weights"
        if expected != "auto" and expected != input_size:
            raise NetworkError(f"{where}: {source} says {expected} input channels, but the previous layer outputs {input_size}")
        return self.NumFilters, True

    def resolved(self, input_size: int) -> "Convolution1DLayer":
        return dataclasses.replace(self, NumChannels=input_size)

    def initialized(self, rng: Callable[[int], np.random.Generator]) -> "Convolution1DLayer":
        """'glorot': fan-in ``K*C``, fan-out ``K*F`` (MATLAB's convolution rule); 'he': fan-in ``K*C``."""
        K, C, F = self.FilterSize, self.NumChannels, self.NumFilters
        new: dict[str, Any] = {}
        if self.Weights is None:
            method = self.WeightsInitializer
            if callable(method):  # MATLAB calls a function handle with sz = [FilterSize NumChannels NumFilters]
                user = method

                def method(shape: tuple[int, int]) -> np.ndarray:
                    return np.reshape(np.asarray(user((K, C, F)), dtype=np.float64), shape)

            flat = initializers.weights(method, (K * C, F), K * C, K * F, rng(0), self.where("WeightsInitializer"))
            new["Weights"] = _frozen(flat.reshape(K, C, F))
        if self.Bias is None:
            new["Bias"] = initializers.vector_bias(self.BiasInitializer, F, rng(1), self.where("BiasInitializer"))
        return dataclasses.replace(self, **new) if new else self

    def description(self) -> str:
        dilation = f", dilation factor {self.DilationFactor}" if self.DilationFactor != 1 else ""
        return f"{self.NumFilters} {self.FilterSize} convolutions with stride {self.Stride}{dilation} and padding {_padding_text(self)}"


@dataclass(frozen=True, eq=False, kw_only=True, repr=False)
class Pooling1DLayer(TimeWindow, Layer):
    """What max and average 1-D pooling share: PoolSize, Stride, Padding."""

    PoolSize: int = required(values.positive_int)
    Stride: int = prop(1, values.positive_int)
    Padding: str | tuple[int, int] = prop((0, 0), padding)

    @property
    def window(self) -> int:
        return self.PoolSize

    def _check(self) -> None:
        if isinstance(self.Padding, tuple) and max(self.Padding) >= self.PoolSize:
            raise LayerError(f"{self.where('Padding')} must be smaller than PoolSize ({self.PoolSize}) on each side, "
                             f"got [{self.Padding[0]} {self.Padding[1]}]")

    def infer(self, input_size: int, sequence: bool, where: str) -> tuple[int, bool]:
        require_sequence(sequence, where)
        return input_size, True


@dataclass(frozen=True, eq=False, kw_only=True, repr=False)
class MaxPooling1DLayer(Pooling1DLayer):
    """``y[j, c] = max_{k < PoolSize} x̃[j·s + k, c]``; padding never wins (it is -∞)."""

    FUNCTION: ClassVar[str] = "maxPooling1dLayer"
    TYPE: ClassVar[str] = "1-D Max Pooling"
    DEFAULT_NAME: ClassVar[str] = "maxpool1d"

    def description(self) -> str:
        return f"max pooling with pool size {self.PoolSize}, stride {self.Stride} and padding {_padding_text(self)}"


@dataclass(frozen=True, eq=False, kw_only=True, repr=False)
class AveragePooling1DLayer(Pooling1DLayer):
    """The mean over each window. PaddingValue 0: padded steps count as zeros (divide by PoolSize);
    'mean': padded steps are left out (divide by the number of real steps in the window)."""

    FUNCTION: ClassVar[str] = "averagePooling1dLayer"
    TYPE: ClassVar[str] = "1-D Average Pooling"
    DEFAULT_NAME: ClassVar[str] = "avgpool1d"

    PaddingValue: float | str = prop(0.0, _average_padding_value)

    def description(self) -> str:
        return f"average pooling with pool size {self.PoolSize}, stride {self.Stride} and padding {_padding_text(self)}"


@dataclass(frozen=True, eq=False, kw_only=True, repr=False)
class GlobalPooling1DLayer(Layer):
    """Pooling over each sequence's whole time axis: ``[N, T, C]`` -> ``[N, C]`` (one time step)."""

    def infer(self, input_size: int, sequence: bool, where: str) -> tuple[int, bool]:
        require_sequence(sequence, where)
        return input_size, False


@dataclass(frozen=True, eq=False, kw_only=True, repr=False)
class GlobalMaxPooling1DLayer(GlobalPooling1DLayer):
    """``y[c] = max_t x[t, c]`` over each sequence's own steps."""

    FUNCTION: ClassVar[str] = "globalMaxPooling1dLayer"
    TYPE: ClassVar[str] = "1-D Global Max Pooling"
    DEFAULT_NAME: ClassVar[str] = "gmpool1d"

    def description(self) -> str:
        return "1-D global max pooling"


@dataclass(frozen=True, eq=False, kw_only=True, repr=False)
class GlobalAveragePooling1DLayer(GlobalPooling1DLayer):
    """``y[c] = (1/T_n) Σ_{t < T_n} x[t, c]`` over each sequence's own T_n steps."""

    FUNCTION: ClassVar[str] = "globalAveragePooling1dLayer"
    TYPE: ClassVar[str] = "1-D Global Average Pooling"
    DEFAULT_NAME: ClassVar[str] = "gapool1d"

    def description(self) -> str:
        return "1-D global average pooling"


def _no_padding_mask(value: Any, where: str) -> bool:
    return false_only(value, where, "true adds a padding-mask input that only a layer graph can connect; lstm2onnx already "
                      "takes each sequence's own last step ('last' reads it, padding never does)")


@dataclass(frozen=True, eq=False, kw_only=True, repr=False)
class Indexing1DLayer(GlobalPooling1DLayer):
    """MATLAB's ``indexing1dLayer`` (R2023b) over time: ``[N, T, C]`` -> ``[N, C]``, the data at each sequence's
    first step (``Index`` 'first', the default) or at its own last step ('last'; MATLAB's reading with a padding
    mask, and of every sequence predicted alone)."""

    FUNCTION: ClassVar[str] = "indexing1dLayer"
    TYPE: ClassVar[str] = "1-D Indexing"
    DEFAULT_NAME: ClassVar[str] = "index1d"

    Index: str = prop("first", values.choice("first", "last"))
    HasPaddingMaskInput: bool = prop(False, _no_padding_mask)

    def description(self) -> str:
        return f"1-D indexing ({self.Index} time step)"


TIME_LAYERS = (Convolution1DLayer, Pooling1DLayer, GlobalPooling1DLayer)  # layers that mix time steps


def min_sequence_length(layers) -> int:
    """The fewest input steps with which every window over time in ``layers`` gives at least one step."""
    windows = [layer for layer in layers if isinstance(layer, TimeWindow)]

    def long_enough(T: int) -> bool:
        for layer in windows:
            T = layer.output_length(T)
            if T < 1:
                return False
        return True

    T = 1
    while not long_enough(T):
        T += 1
    return T


def _padding_text(layer: TimeWindow) -> str:
    if isinstance(layer.Padding, str):
        return f"'{layer.Padding}'"
    return "[" + " ".join(str(v) for v in layer.Padding) + "]"


def _frozen(values_: np.ndarray) -> np.ndarray:
    out = np.ascontiguousarray(values_, dtype=np.float32)
    out.flags.writeable = False
    return out


# -- MATLAB-named constructors -----------------------------------------------------------------------


def convolution1dLayer(filterSize: int, numFilters: int, *args: Any, **kwargs: Any) -> Convolution1DLayer:
    """``convolution1dLayer(filterSize, numFilters, 'Padding', 'causal', 'Stride', 2, ...)``."""
    options = name_value_pairs(Convolution1DLayer, args, kwargs, FilterSize=filterSize, NumFilters=numFilters)
    return Convolution1DLayer(**options)


def maxPooling1dLayer(poolSize: int, *args: Any, **kwargs: Any) -> MaxPooling1DLayer:
    """``maxPooling1dLayer(poolSize, 'Stride', 2, 'Padding', 'same')``."""
    return MaxPooling1DLayer(**name_value_pairs(MaxPooling1DLayer, args, kwargs, PoolSize=poolSize))


def averagePooling1dLayer(poolSize: int, *args: Any, **kwargs: Any) -> AveragePooling1DLayer:
    """``averagePooling1dLayer(poolSize, 'Stride', 2, 'Padding', 'same', 'PaddingValue', 'mean')``."""
    return AveragePooling1DLayer(**name_value_pairs(AveragePooling1DLayer, args, kwargs, PoolSize=poolSize))


def globalMaxPooling1dLayer(*args: Any, **kwargs: Any) -> GlobalMaxPooling1DLayer:
    """``globalMaxPooling1dLayer('Name', 'gmp')``."""
    return GlobalMaxPooling1DLayer(**name_value_pairs(GlobalMaxPooling1DLayer, args, kwargs))


def globalAveragePooling1dLayer(*args: Any, **kwargs: Any) -> GlobalAveragePooling1DLayer:
    """``globalAveragePooling1dLayer('Name', 'gap')``."""
    return GlobalAveragePooling1DLayer(**name_value_pairs(GlobalAveragePooling1DLayer, args, kwargs))


def indexing1dLayer(*args: Any, **kwargs: Any) -> Indexing1DLayer:
    """``indexing1dLayer``, ``indexing1dLayer("last")``, ``indexing1dLayer("last", Name="idx")``."""
    from .activation import optional_first

    return optional_first(Indexing1DLayer, "Index", args, kwargs)
