"""Element-wise activation layers, and flattenLayer (the identity on sequence data).

Each layer applies one scalar function f to every element, so it keeps the
shape: ``[N, T, C]`` sequences (per time step) and ``[N, C]`` single steps
alike. The functions, as MATLAB's layer pages define them:

============================  ==========================================================
reluLayer                     f(x) = max(x, 0)
leakyReluLayer(Scale)         f(x) = x for x >= 0, Scale·x otherwise (Scale 0.01)
clippedReluLayer(Ceiling)     f(x) = min(max(x, 0), Ceiling)
eluLayer(Alpha)               f(x) = x for x >= 0, Alpha·(eˣ - 1) otherwise (Alpha 1)
tanhLayer                     f(x) = tanh(x)
sigmoidLayer                  f(x) = 1 / (1 + e⁻ˣ)
swishLayer                    f(x) = x / (1 + e⁻ˣ)
softplusLayer                 f(x) = log(1 + eˣ)
geluLayer 'none'              f(x) = x/2 · (1 + erf(x/√2))
geluLayer 'tanh'              f(x) = x/2 · (1 + tanh(√(2/π) (x + 0.044715 x³)))
============================  ==========================================================

Hyperparameters are MATLAB doubles, kept as Python floats.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, ClassVar

from .. import values
from ..errors import LayerError
from . import HYPER, Layer, name_value_pairs, prop, required


def real_scalar(expected: str, accept: Callable[[float], bool]) -> values.Converter:
    """A finite real number for which ``accept`` holds, else "<where> must be <expected>, got ..."."""

    def convert(value: Any, where: str) -> float:
        scalar = values._scalar(value)
        if values._is_number(scalar) and math.isfinite(scalar) and accept(float(scalar)):
            return float(scalar)
        raise LayerError(f"{where} must be {expected}, got {values.describe(value)}")

    return convert


finite_scalar = real_scalar("a finite real scalar", lambda v: True)
positive_scalar = real_scalar("a finite positive scalar", lambda v: v > 0)


def optional_first(cls: type[Layer], prop_name: str, args: tuple, kwargs: dict[str, Any]) -> Layer:
    """``f()``, ``f(value)``, ``f(value, 'Name', n)`` or ``f('Name', n)``: an optional leading positional value."""
    if len(args) % 2 == 1:
        first, *rest = args
        return cls(**name_value_pairs(cls, tuple(rest), kwargs, **{prop_name: first}))
    return cls(**name_value_pairs(cls, args, kwargs))


@dataclass(frozen=True, eq=False, kw_only=True, repr=False)
class ReLULayer(Layer):
    """f(x) = max(x, 0) element-wise."""

    FUNCTION: ClassVar[str] = "reluLayer"
    TYPE: ClassVar[str] = "ReLU"
    DEFAULT_NAME: ClassVar[str] = "relu"

    def description(self) -> str:
        return "ReLU"


@dataclass(frozen=True, eq=False, kw_only=True, repr=False)
class LeakyReLULayer(Layer):
    """f(x) = x for x >= 0 and Scale·x for x < 0 (``Scale`` a finite real scalar, default 0.01)."""

    FUNCTION: ClassVar[str] = "leakyReluLayer"
    TYPE: ClassVar[str] = "Leaky ReLU"
    DEFAULT_NAME: ClassVar[str] = "leakyrelu"

    Scale: float = prop(0.01, finite_scalar)

    def description(self) -> str:
        return f"Leaky ReLU with scale {self.Scale:g}"


@dataclass(frozen=True, eq=False, kw_only=True, repr=False)
class ClippedReLULayer(Layer):
    """f(x) = min(max(x, 0), Ceiling); ``Ceiling`` is required and positive."""

    FUNCTION: ClassVar[str] = "clippedReluLayer"
    TYPE: ClassVar[str] = "Clipped ReLU"
    DEFAULT_NAME: ClassVar[str] = "clippedrelu"

    Ceiling: float = required(positive_scalar, HYPER)

    def description(self) -> str:
        return f"Clipped ReLU with ceiling {self.Ceiling:g}"


@dataclass(frozen=True, eq=False, kw_only=True, repr=False)
class ELULayer(Layer):
    """f(x) = x for x >= 0 and Alpha·(eˣ - 1) for x < 0 (``Alpha`` positive, default 1)."""

    FUNCTION: ClassVar[str] = "eluLayer"
    TYPE: ClassVar[str] = "ELU"
    DEFAULT_NAME: ClassVar[str] = "elu"

    Alpha: float = prop(1.0, positive_scalar)

    def description(self) -> str:
        return f"ELU with Alpha {self.Alpha:g}"


@dataclass(frozen=True, eq=False, kw_only=True, repr=False)
class TanhLayer(Layer):
    """f(x) = tanh(x) element-wise."""

    FUNCTION: ClassVar[str] = "tanhLayer"
    TYPE: ClassVar[str] = "Tanh"
    DEFAULT_NAME: ClassVar[str] = "tanh"

    def description(self) -> str:
        return "Hyperbolic tangent"


@dataclass(frozen=True, eq=False, kw_only=True, repr=False)
class SigmoidLayer(Layer):
    """f(x) = 1 / (1 + e⁻ˣ) element-wise."""

    FUNCTION: ClassVar[str] = "sigmoidLayer"
    TYPE: ClassVar[str] = "Sigmoid"
    DEFAULT_NAME: ClassVar[str] = "sigmoid"


@dataclass(frozen=True, eq=False, kw_only=True, repr=False)
class SwishLayer(Layer):
    """f(x) = x · σ(x) = x / (1 + e⁻ˣ) element-wise."""

    FUNCTION: ClassVar[str] = "swishLayer"
    TYPE: ClassVar[str] = "Swish"
    DEFAULT_NAME: ClassVar[str] = "swish"


@dataclass(frozen=True, eq=False, kw_only=True, repr=False)
class SoftplusLayer(Layer):
    """f(x) = log(1 + eˣ) element-wise (Deep Learning Toolbox's ``softplusLayer``; its only property is Name).

    Computed as max(x, 0) + log(1 + e^-|x|), which neither overflows for large x nor loses small values for very
    negative x.
    """

    FUNCTION: ClassVar[str] = "softplusLayer"
    TYPE: ClassVar[str] = "Softplus"
    DEFAULT_NAME: ClassVar[str] = "softplus"

    def description(self) -> str:
        return "Softplus"


@dataclass(frozen=True, eq=False, kw_only=True, repr=False)
class GELULayer(Layer):
    """Gaussian error linear unit: f(x) = x Φ(x) ('none'), or its tanh approximation ('tanh').

    'none': x/2 · (1 + erf(x/√2)); 'tanh': x/2 · (1 + tanh(√(2/π) (x + 0.044715 x³))).
    """

    FUNCTION: ClassVar[str] = "geluLayer"
    TYPE: ClassVar[str] = "GELU"
    DEFAULT_NAME: ClassVar[str] = "gelu"

    Approximation: str = prop("none", values.choice("none", "tanh"))

    def description(self) -> str:
        return "GELU"


@dataclass(frozen=True, eq=False, kw_only=True, repr=False)
class FlattenLayer(Layer):
    """MATLAB's ``flattenLayer``: collapses the spatial dimensions into the channels.

    Sequence data (``[N, T, C]``, MATLAB's 'CBT') has no spatial dimensions,
    so for it MATLAB leaves channels-by-time as it is, and a single step
    ``[N, C]`` ('CB') stays as it is too: here the layer is the identity and
    adds no ONNX node. (With 1-D convolutions the channels are already the
    last axis, so it stays the identity there as well.)
    """

    FUNCTION: ClassVar[str] = "flattenLayer"
    TYPE: ClassVar[str] = "Flatten"
    DEFAULT_NAME: ClassVar[str] = "flatten"

    def description(self) -> str:
        return "Flatten"


ACTIVATION_LAYERS = (ReLULayer, LeakyReLULayer, ClippedReLULayer, ELULayer, TanhLayer, SigmoidLayer, SwishLayer, GELULayer,
                     SoftplusLayer)


# -- MATLAB-named constructors ---------------------------------------------------------------------


def reluLayer(*args: Any, **kwargs: Any) -> ReLULayer:
    """``reluLayer()`` or ``reluLayer('Name', 'relu1')``."""
    return ReLULayer(**name_value_pairs(ReLULayer, args, kwargs))


def leakyReluLayer(*args: Any, **kwargs: Any) -> LeakyReLULayer:
    """``leakyReluLayer()``, ``leakyReluLayer(scale)``, ``leakyReluLayer(0.2, 'Name', 'lrelu')``."""
    return optional_first(LeakyReLULayer, "Scale", args, kwargs)


def clippedReluLayer(ceiling: Any, *args: Any, **kwargs: Any) -> ClippedReLULayer:
    """``clippedReluLayer(ceiling)`` or ``clippedReluLayer(10, 'Name', 'clip')``."""
    return ClippedReLULayer(**name_value_pairs(ClippedReLULayer, args, kwargs, Ceiling=ceiling))


def eluLayer(*args: Any, **kwargs: Any) -> ELULayer:
    """``eluLayer()``, ``eluLayer(alpha)``, ``eluLayer(0.5, 'Name', 'elu1')``."""
    return optional_first(ELULayer, "Alpha", args, kwargs)


def tanhLayer(*args: Any, **kwargs: Any) -> TanhLayer:
    """``tanhLayer()`` or ``tanhLayer('Name', 'tanh1')``."""
    return TanhLayer(**name_value_pairs(TanhLayer, args, kwargs))


def sigmoidLayer(*args: Any, **kwargs: Any) -> SigmoidLayer:
    """``sigmoidLayer()`` or ``sigmoidLayer('Name', 'sig')``."""
    return SigmoidLayer(**name_value_pairs(SigmoidLayer, args, kwargs))


def swishLayer(*args: Any, **kwargs: Any) -> SwishLayer:
    """``swishLayer()`` or ``swishLayer('Name', 'swish1')``."""
    return SwishLayer(**name_value_pairs(SwishLayer, args, kwargs))


def softplusLayer(*args: Any, **kwargs: Any) -> SoftplusLayer:
    """``softplusLayer()`` or ``softplusLayer('Name', 'splus')``."""
    return SoftplusLayer(**name_value_pairs(SoftplusLayer, args, kwargs))


def geluLayer(*args: Any, **kwargs: Any) -> GELULayer:
    """``geluLayer()``, ``geluLayer('Approximation', 'tanh')`` or ``geluLayer(Approximation='tanh')``."""
    return GELULayer(**name_value_pairs(GELULayer, args, kwargs))


def flattenLayer(*args: Any, **kwargs: Any) -> FlattenLayer:
    """``flattenLayer()`` or ``flattenLayer('Name', 'flat')``."""
    return FlattenLayer(**name_value_pairs(FlattenLayer, args, kwargs))
