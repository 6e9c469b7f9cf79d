"""Layer specs: one frozen dataclass per MATLAB layer kind, and MATLAB-named constructors.

Properties carry MATLAB's names and defaults. Every value is validated and
converted on construction (numeric arrays become read-only float32), so a
layer that exists is a valid layer; size checks that need the neighbouring
layers live in :mod:`lstm2onnx.network`.

Shapes use MATLAB's layout: ``InputWeights`` is ``4H x I`` with the gate
blocks stacked i, f, g, o (``8H x I`` for a bilstm: forward then backward).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, fields
from typing import Any, Callable, ClassVar

import numpy as np

from .. import initializers, values
from ..errors import LayerError, Lstm2OnnxError, NetworkError, SpecError

NAME = ""
HYPER = "Hyperparameters"
LEARNABLE = "Learnable Parameters"
STATE = "State Parameters"
HIDDEN = None  # shown only by display(all=True), like MATLAB's "Show all properties"


def prop(default: Any, convert: values.Converter, group: str | None = HYPER, *, learnable: bool = False, show=None):
    """A layer property: its default, its converter, where the display puts it (and how, if not the usual way)."""
    return field(default=default, metadata={"convert": convert, "group": group, "learnable": learnable, "show": show})


def required(convert: values.Converter, group: str | None = HYPER):
    return field(metadata={"convert": convert, "group": group, "learnable": False})


LAYER_TYPES: dict[str, type["Layer"]] = {}


@dataclass(frozen=True, eq=False, kw_only=True, repr=False)
class Layer:
    """Base of every layer spec. Subclasses set FUNCTION, TYPE and DEFAULT_NAME."""

    FUNCTION: ClassVar[str]  # the MATLAB constructor name, e.g. "lstmLayer"
    TYPE: ClassVar[str]  # the "Type" column of a layer array display
    DEFAULT_NAME: ClassVar[str]  # the name MATLAB assigns to an unnamed layer

    Name: str = prop("", values.text, NAME)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "FUNCTION" in cls.__dict__:
            LAYER_TYPES[cls.FUNCTION] = cls

    def __post_init__(self) -> None:
        for f in fields(self):
            converted = f.metadata["convert"](getattr(self, f.name), self.where(f.name))
            object.__setattr__(self, f.name, converted)
        self._check()

    def _check(self) -> None:
        """Cross-property checks; subclasses extend."""

    def where(self, prop_name: str | None = None) -> str:
        """``lstmLayer 'lstm1': OutputMode`` — the prefix of every message about this layer."""
        name = getattr(self, "Name", "")
        if isinstance(name, str) and not name.isprintable():
            name = name.encode("unicode_escape").decode("ascii")  # a name being refused for its control characters
        label = f"{self.FUNCTION} '{name}'" if isinstance(name, str) and name else self.FUNCTION
        return f"{label}: {prop_name}" if prop_name else label

    def _expect_length(self, prop_name: str, length: int, what: str) -> None:
        value = getattr(self, prop_name)
        if value is not None and value.size != length:
            raise LayerError(
                f"{self.where(prop_name)} must be a {length}-by-1 vector ({what}), got {value.size} elements"
            )

    def _expect_shape(self, prop_name: str, shape: tuple[int | None, int | None], what: str) -> None:
        value = getattr(self, prop_name)
        if value is None:
            return
        if any(want is not None and want != got for want, got in zip(shape, value.shape)):
            raise LayerError(
                f"{self.where(prop_name)} must be a {what} matrix, got {value.shape[0]}-by-{value.shape[1]}"
            )

    # -- network hooks (see network.py) ---------------------------------------------------------

    def infer(self, input_size: int, sequence: bool, where: str) -> tuple[int, bool]:
        """Output (size, is-sequence) for an input of ``input_size`` features; raise NetworkError if incompatible."""
        return input_size, sequence

    def _check_input_size(self, input_size: int, weights_prop: str, where: str) -> None:
        """InputSize, or else the columns of the input weight matrix, must match the inferred input size."""
        expected, source = getattr(self, "InputSize"), "InputSize"
        weights = getattr(self, weights_prop)
        if expected == "auto" and weights is not None:
            expected, source = weights.shape[1], weights_prop
        if expected != "auto" and expected != input_size:
            raise NetworkError(f"{where}: {source} says {expected} input features, but the previous layer outputs {input_size}")

    def resolved(self, input_size: int) -> "Layer":
        """This layer with 'auto' sizes set from the inferred input size."""
        return self

    def initialized(self, rng: Callable[[int], np.random.Generator]) -> "Layer":
        """This layer with unset learnables drawn by its initializers; ``rng(k)`` is parameter k's generator."""
        return self

    def description(self) -> str:
        """The "Description" column of a layer array display."""
        return self.TYPE.lower()

    # -- display ---------------------------------------------------------------------------------

    def __str__(self) -> str:
        return self.display()

    def display(self, all: bool = False) -> str:
        """MATLAB's property display; ``all=True`` also shows the hidden properties."""
        groups: dict[str | None, list[tuple[str, str]]] = {}
        for f in fields(self):
            group = f.metadata["group"]
            if group is HIDDEN and not all:
                continue
            groups.setdefault(group, []).append((f.name, (f.metadata.get("show") or _show)(getattr(self, f.name))))
        width = max(len(name) for rows in groups.values() for name, _ in rows) + 4
        lines = [f"  {type(self).__name__} with properties:", ""]
        order = [NAME, HYPER, LEARNABLE, STATE, HIDDEN]
        for group in sorted(groups, key=order.index):
            if group:
                lines.append(f"   {group}")
            elif group is HIDDEN:
                lines.append("   Other Properties")
            lines += [f"{name:>{width}}: {text}" for name, text in groups[group]]
            lines.append("")
        if not all and any(f.metadata["group"] is HIDDEN for f in fields(self)):
            lines.append("  Show all properties: layer.display(all=True)")
        return "\n".join(lines).rstrip() + "\n"

    def __repr__(self) -> str:
        args = [f"{k}={_python(v)}" for k, v in self._non_default().items()]
        return f"{self.FUNCTION}({', '.join(args)})"

    # -- equality and serialization --------------------------------------------------------------

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(_same(getattr(self, f.name), getattr(other, f.name)) for f in fields(self))

    __hash__ = None  # type: ignore[assignment]  # holds arrays; compare with ==

    def _non_default(self) -> dict[str, Any]:
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.default is dataclasses.MISSING or not _same(value, f.default):
                out[f.name] = value
        return out

    def to_dict(self, learnables: bool = True) -> dict[str, Any]:
        """JSON-ready spec: ``{"type": "lstmLayer", <non-default properties>}``.

        ``learnables=False`` leaves out the learnable matrices (InputWeights,
        RecurrentWeights, Bias, Weights), keeping the hyperparameters,
        normalization statistics and states.
        """
        out: dict[str, Any] = {"type": self.FUNCTION}
        for name, value in self._non_default().items():
            f = self.__dataclass_fields__[name]
            if f.metadata["learnable"] and not learnables:
                continue
            if callable(value):
                if self._callable_needed(name):
                    raise SpecError(
                        f"{self.where(name)} is a Python callable, which a spec cannot store; "
                        "initialize the network first (lstm2onnx.initialize) so no learnable needs it"
                    )
                continue
            out[name] = _jsonable(value)
        return out

    def _callable_needed(self, initializer_name: str) -> bool:
        learnable = initializer_name.removesuffix("Initializer")
        return getattr(self, learnable, None) is None

    @staticmethod
    def from_dict(spec: dict[str, Any]) -> "Layer":
        """Inverse of :meth:`to_dict`; keys are matched case-insensitively."""
        if not isinstance(spec, dict) or not isinstance(spec.get("type"), str):
            raise SpecError(f"a layer spec must be a mapping with a 'type' key such as 'lstmLayer', got {values.describe(spec)}")
        cls = layer_class(spec["type"])
        options = canonical_options(cls, {k: v for k, v in spec.items() if k != "type"})
        missing = [f.name for f in fields(cls) if f.default is dataclasses.MISSING and f.name not in options]
        if missing:
            raise LayerError(f"{cls.FUNCTION}: {' and '.join(missing)} must be given")
        return cls(**options)


def layer_class(function_name: str) -> type[Layer]:
    for name, cls in LAYER_TYPES.items():
        if name.lower() == str(function_name).lower():
            return cls
    supported = ", ".join(sorted(LAYER_TYPES))
    raise SpecError(f"unknown layer type {function_name!r}; supported: {supported}")


def canonical_options(cls: type[Layer], options: dict[str, Any]) -> dict[str, Any]:
    """Map case-insensitive option names to ``cls``'s property names; reject unknown or repeated ones."""
    return values.name_value(cls.FUNCTION, (), options, [f.name for f in fields(cls)])


def name_value_pairs(cls: type[Layer], args: tuple, kwargs: dict[str, Any], **given: Any) -> dict[str, Any]:
    """Merge MATLAB-style ``'Name', value`` pairs and Python keywords into ``cls`` options."""
    return values.name_value(cls.FUNCTION, args, kwargs, [f.name for f in fields(cls)], given)


# -- layer kinds ---------------------------------------------------------------------------------

NORMALIZATIONS = ("none", "zerocenter", "zscore", "rescale-symmetric", "rescale-zero-one")
STATISTICS = {
    "none": (),
    "zerocenter": ("Mean",),
    "zscore": ("Mean", "StandardDeviation"),
    "rescale-symmetric": ("Min", "Max"),
    "rescale-zero-one": ("Min", "Max"),
}


def divisor(value: Any) -> np.ndarray:
    """A normalization divisor (StandardDeviation, or Max - Min) with zeros replaced by 1 (float64), as MATLAB's
    input layers compute it (``Std(Std==0)=1``; ``range(range==0)=1``): a constant feature is shifted, not divided by 0."""
    value = np.asarray(value, dtype=np.float64)
    return np.where(value == 0, 1.0, value)


def false_only(value: Any, where: str, refusal: str) -> bool:
    """A logical option lstm2onnx supports only as false: true raises ``where: refusal``."""
    flag = values._scalar(value)
    if isinstance(flag, (bool, np.bool_)) or (values._is_number(flag) and flag in (0, 1)):
        if flag:
            raise LayerError(f"{where}: {refusal}")
        return False
    raise LayerError(f"{where} must be a logical scalar (true or false), got {values.describe(value)}")


def sequence_input_size(value: Any, where: str) -> int:
    """InputSize: a positive integer (vector sequences); MATLAB's [h w c] / [h w d c] image-sequence sizes are refused
    with what to do instead."""
    array = np.asarray(value) if isinstance(value, (list, tuple, np.ndarray)) else None
    if array is not None and array.ndim == 2 and array.shape[0] == 1:  # MATLAB's row vector
        array = array[0]
    if array is not None and array.ndim == 1 and array.size in (2, 3, 4) and array.dtype.kind in "iuf":
        dims = [int(v) if float(v).is_integer() else float(v) for v in array]
        raise LayerError(f"{where}: {array.size - 1}-D image sequences (InputSize {dims}) are not supported: lstm2onnx builds "
                         f"vector sequences; give each time step's frame as {' * '.join(map(str, dims))} features "
                         "(sequenceInputLayer(numFeatures)) instead")
    return values.positive_int(value, where)


def real_inputs_only(value: Any, where: str) -> bool:
    """SplitComplexInputs: false, since the graphs take real float32 data; true is refused with the reason."""
    return false_only(value, where, "complex-valued input is not supported (the ONNX graphs take real float32 sequences); "
                      "split real and imaginary parts into channels yourself and leave SplitComplexInputs false")


def no_state_ports(value: Any, where: str) -> bool:
    """HasStateInputs/HasStateOutputs: false. True makes the states extra network inputs/outputs, which only a
    layer graph (dlnetwork) can connect; a layer array is one chain, so true is refused with what to use instead."""
    return false_only(value, where, "true adds the layer's states as extra inputs/outputs that only a layer graph can connect, "
                      "and a layer array is a single chain; to carry the state from one call to the next, build a stateful "
                      "graph (build(..., stateful=True), lstm2onnx build --stateful: inputs/outputs <layer>.HiddenState.in/.out) "
                      "or use predictAndUpdateState")


def names(value: Any, where: str) -> tuple[str, ...]:
    """A cell array or string array of names (``{}`` or empty for none), as a tuple of printable strings."""
    if values._is_empty(value):
        return ()
    items = [value] if isinstance(value, (str, np.str_)) else list(np.asarray(value, dtype=object).reshape(-1))
    if not all(isinstance(item, (str, np.str_)) for item in items):
        raise LayerError(f"{where} must be a cell array or string array of names, got {values.describe(value)}")
    return tuple(values.printable(str(item), where) for item in items)


def show_names(value: tuple[str, ...]) -> str:
    """MATLAB's display of a cell array of character vectors: ``{'a'  'b'}``."""
    return "{" + "  ".join(f"'{item}'" for item in value) + "}"


@dataclass(frozen=True, eq=False, kw_only=True, repr=False)
class SequenceInputLayer(Layer):
    """Sequence input with ``InputSize`` features and optional per-feature normalization.

    Normalization of a feature x: 'zerocenter' x - Mean; 'zscore'
    (x - Mean) / StandardDeviation; 'rescale-zero-one' (x - Min) / (Max - Min);
    'rescale-symmetric' 2 (x - Min) / (Max - Min) - 1. Statistics are
    InputSize-by-1 vectors, or scalars for all features ('all'). A zero
    StandardDeviation or Max - Min divides by 1 instead (:func:`divisor`), as
    MATLAB's own input-layer code does, so a constant feature of a MATLAB-trained
    network loads and gives MATLAB's numbers.
    ``MinLength`` (default 1): as in MATLAB, a sequence with fewer time steps is
    a data error when training and predicting (the runtime checks it too).
    """

    FUNCTION: ClassVar[str] = "sequenceInputLayer"
    TYPE: ClassVar[str] = "Sequence Input"
    DEFAULT_NAME: ClassVar[str] = "sequenceinput"

    InputSize: int = required(sequence_input_size, NAME)
    MinLength: int = prop(1, values.positive_int, NAME)
    SplitComplexInputs: bool = prop(False, real_inputs_only, NAME)
    Normalization: str = prop("none", values.choice(*NORMALIZATIONS))
    # 'element': per element; for vector sequences the elements are the features, so it is 'channel' here
    # (MATLAB's sequenceInputLayer help: vector-sequence statistics are a scalar or InputSize-by-1)
    NormalizationDimension: str = prop("auto", values.choice("auto", "channel", "element", "all"))
    Mean: np.ndarray | None = prop(None, values.vector(scalar_ok=True))
    StandardDeviation: np.ndarray | None = prop(None, values.vector(scalar_ok=True))
    Min: np.ndarray | None = prop(None, values.vector(scalar_ok=True))
    Max: np.ndarray | None = prop(None, values.vector(scalar_ok=True))

    def _check(self) -> None:
        for stat in ("Mean", "StandardDeviation", "Min", "Max"):
            value = getattr(self, stat)
            if value is None:
                continue
            if self.NormalizationDimension == "all" and value.ndim != 0:
                raise LayerError(f"{self.where(stat)} must be a scalar when NormalizationDimension is 'all', got {value.size} elements")
            if value.ndim == 1 and value.size != self.InputSize:
                raise LayerError(
                    f"{self.where(stat)} must be a scalar or a {self.InputSize}-by-1 vector (InputSize), "
                    f"got {value.size} elements"
                )
        if self.StandardDeviation is not None and np.any(self.StandardDeviation < 0):
            raise LayerError(f"{self.where('StandardDeviation')} must be nonnegative (0 divides by 1, as in MATLAB)")
        if self.Min is not None and self.Max is not None and np.any(self.Max < self.Min):
            raise LayerError(f"{self.where('Max')} must be greater than or equal to Min for every feature")

    def missing_statistics(self) -> list[str]:
        return [stat for stat in STATISTICS[self.Normalization] if getattr(self, stat) is None]

    def check_lengths(self, lengths: Any, function: str = "") -> None:
        """Raise for the first sequence (lengths ``[N]``, in the caller's order) shorter than MinLength."""
        if self.MinLength > 1 and min(lengths) < self.MinLength:
            n = next(n for n, T in enumerate(lengths) if T < self.MinLength)
            raise Lstm2OnnxError(f"{function + ': ' if function else ''}sequence {n + 1} has {int(lengths[n])} time steps, "
                                 f"fewer than {self.where('MinLength')} {self.MinLength}")

    def infer(self, input_size: int, sequence: bool, where: str) -> tuple[int, bool]:
        return self.InputSize, True

    def description(self) -> str:
        text = f"Sequence input with {self.InputSize} dimensions"
        return text if self.Normalization == "none" else f"{text} and '{self.Normalization}' normalization"


LSTM_INPUT_INITIALIZERS = ("glorot", "he", "orthogonal", "narrow-normal", "zeros", "ones")
LSTM_BIAS_INITIALIZERS = ("unit-forget-gate", "narrow-normal", "ones", "zeros")


@dataclass(frozen=True, eq=False, kw_only=True, repr=False)
class LSTMLayer(Layer):
    """LSTM over a sequence, MATLAB's ``lstmLayer``.

    With gates stacked i, f, g, o in W (``4H x I``), R (``4H x H``), b (``4H``)::

        i_t = σ_g(W_i x_t + R_i h_{t-1} + b_i)    f_t = σ_g(W_f x_t + R_f h_{t-1} + b_f)
        g_t = σ_c(W_g x_t + R_g h_{t-1} + b_g)    o_t = σ_g(W_o x_t + R_o h_{t-1} + b_o)
        c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t          h_t = o_t ⊙ σ_c(c_t)

    Input ``[N, T, I]``; output ``[N, T, H]`` ('sequence') or ``[N, H]`` ('last').
    After a layer with OutputMode 'last' the input is one time step ``[N, I]``:
    it runs as a one-step sequence (T = 1) and the output is one step
    ``[N, H]`` (``[N, 2H]`` for a bilstm) for either OutputMode, since with one
    step both modes hold the same numbers.
    """

    FUNCTION: ClassVar[str] = "lstmLayer"
    TYPE: ClassVar[str] = "LSTM"
    DEFAULT_NAME: ClassVar[str] = "lstm"
    DIRECTIONS: ClassVar[int] = 1

    InputSize: str | int = prop("auto", values.auto_or_positive_int)
    NumHiddenUnits: int = required(values.positive_int)
    OutputMode: str = prop("sequence", values.choice("sequence", "last"))
    HasStateInputs: bool = prop(False, no_state_ports)
    HasStateOutputs: bool = prop(False, no_state_ports)
    StateActivationFunction: str = prop("tanh", values.choice("tanh", "softsign"))
    GateActivationFunction: str = prop("sigmoid", values.choice("sigmoid", "hard-sigmoid"))
    InputWeights: np.ndarray | None = prop(None, values.matrix(), LEARNABLE, learnable=True)
    RecurrentWeights: np.ndarray | None = prop(None, values.matrix(), LEARNABLE, learnable=True)
    Bias: np.ndarray | None = prop(None, values.vector(), LEARNABLE, learnable=True)
    HiddenState: np.ndarray | None = prop(None, values.vector(), STATE)
    CellState: np.ndarray | None = prop(None, values.vector(), STATE)
    InputWeightsInitializer: str | Callable = prop("glorot", values.initializer(*LSTM_INPUT_INITIALIZERS), HIDDEN)
    RecurrentWeightsInitializer: str | Callable = prop("orthogonal", values.initializer(*LSTM_INPUT_INITIALIZERS), HIDDEN)
    BiasInitializer: str | Callable = prop("unit-forget-gate", values.initializer(*LSTM_BIAS_INITIALIZERS), HIDDEN)
    InputWeightsLearnRateFactor: float | tuple = prop(1.0, values.factor, HIDDEN)
    RecurrentWeightsLearnRateFactor: float | tuple = prop(1.0, values.factor, HIDDEN)
    BiasLearnRateFactor: float | tuple = prop(1.0, values.factor, HIDDEN)
    InputWeightsL2Factor: float | tuple = prop(1.0, values.factor, HIDDEN)
    RecurrentWeightsL2Factor: float | tuple = prop(1.0, values.factor, HIDDEN)
    BiasL2Factor: float | tuple = prop(0.0, values.factor, HIDDEN)

    @property
    def stacked_units(self) -> int:
        """Rows of each gate stack over all directions: 4H (lstm) or 8H (bilstm)."""
        return 4 * self.NumHiddenUnits * self.DIRECTIONS

    @property
    def state_size(self) -> int:
        """Length of HiddenState/CellState and of the output: H (lstm) or 2H (bilstm)."""
        return self.NumHiddenUnits * self.DIRECTIONS

    def _check(self) -> None:
        rows, H, S = self.stacked_units, self.NumHiddenUnits, self.state_size
        unit = f"{4 * self.DIRECTIONS}*NumHiddenUnits"
        cols = self.InputSize if isinstance(self.InputSize, int) else None
        self._expect_shape("InputWeights", (rows, cols), f"{rows}-by-{cols or 'InputSize'} ({unit}-by-InputSize)")
        self._expect_shape("RecurrentWeights", (rows, H), f"{rows}-by-{H} ({unit}-by-NumHiddenUnits)")
        self._expect_length("Bias", rows, unit)
        states = "NumHiddenUnits" if self.DIRECTIONS == 1 else "2*NumHiddenUnits"
        self._expect_length("HiddenState", S, states)
        self._expect_length("CellState", S, states)

    def infer(self, input_size: int, sequence: bool, where: str) -> tuple[int, bool]:
        """After a layer with OutputMode 'last' the input is one time step: a one-step sequence, one step out."""
        self._check_input_size(input_size, "InputWeights", where)
        return self.state_size, sequence and self.OutputMode == "sequence"

    def resolved(self, input_size: int) -> "LSTMLayer":
        return dataclasses.replace(self, InputSize=input_size)

    def initialized(self, rng: Callable[[int], np.random.Generator]) -> "LSTMLayer":
        I, H, dirs, rows = self.InputSize, self.NumHiddenUnits, self.DIRECTIONS, self.stacked_units
        new: dict[str, Any] = {}
        if self.InputWeights is None:
            new["InputWeights"] = initializers.weights(
                self.InputWeightsInitializer, (rows, I), I, rows, rng(0), self.where("InputWeightsInitializer"), dirs
            )
        if self.RecurrentWeights is None:
            new["RecurrentWeights"] = initializers.weights(
                self.RecurrentWeightsInitializer, (rows, H), H, rows, rng(1), self.where("RecurrentWeightsInitializer"), dirs
            )
        if self.Bias is None:
            new["Bias"] = initializers.bias(self.BiasInitializer, H, dirs, rng(2), self.where("BiasInitializer"))
        return dataclasses.replace(self, **new) if new else self

    def description(self) -> str:
        return f"{self.TYPE} with {self.NumHiddenUnits} hidden units"


@dataclass(frozen=True, eq=False, kw_only=True, repr=False)
class BiLSTMLayer(LSTMLayer):
    """Bidirectional LSTM, MATLAB's ``bilstmLayer``.

    Learnables stack the forward direction then the backward one (``8H x I``,
    ``8H x H``, ``8H``); the output concatenates ``[h_forward; h_backward]``
    (``2H`` features). 'last' is the last time step of the 'sequence'
    output, as MATLAB's ``predict`` computes it.
    """

    FUNCTION: ClassVar[str] = "bilstmLayer"
    TYPE: ClassVar[str] = "BiLSTM"
    DEFAULT_NAME: ClassVar[str] = "bilstm"
    DIRECTIONS: ClassVar[int] = 2

    # per-gate factors: also 1-by-8, the forward direction's i, f, g, o then the backward's (MATLAB's bilstmLayer)
    InputWeightsLearnRateFactor: float | tuple = prop(1.0, values.bidirectional_factor, HIDDEN)
    RecurrentWeightsLearnRateFactor: float | tuple = prop(1.0, values.bidirectional_factor, HIDDEN)
    BiasLearnRateFactor: float | tuple = prop(1.0, values.bidirectional_factor, HIDDEN)
    InputWeightsL2Factor: float | tuple = prop(1.0, values.bidirectional_factor, HIDDEN)
    RecurrentWeightsL2Factor: float | tuple = prop(1.0, values.bidirectional_factor, HIDDEN)
    BiasL2Factor: float | tuple = prop(0.0, values.bidirectional_factor, HIDDEN)


FC_WEIGHT_INITIALIZERS = ("glorot", "he", "orthogonal", "narrow-normal", "zeros", "ones")
FC_BIAS_INITIALIZERS = ("zeros", "narrow-normal", "ones")


@dataclass(frozen=True, eq=False, kw_only=True, repr=False)
class FullyConnectedLayer(Layer):
    """y = W x + b per time step; ``Weights`` is ``OutputSize x InputSize``, ``Bias`` ``OutputSize x 1``."""

    FUNCTION: ClassVar[str] = "fullyConnectedLayer"
    TYPE: ClassVar[str] = "Fully Connected"
    DEFAULT_NAME: ClassVar[str] = "fc"

    InputSize: str | int = prop("auto", values.auto_or_positive_int)
    OutputSize: int = required(values.positive_int)
    Weights: np.ndarray | None = prop(None, values.matrix(), LEARNABLE, learnable=True)
    Bias: np.ndarray | None = prop(None, values.vector(), LEARNABLE, learnable=True)
    WeightsInitializer: str | Callable = prop("glorot", values.initializer(*FC_WEIGHT_INITIALIZERS), HIDDEN)
    BiasInitializer: str | Callable = prop("zeros", values.initializer(*FC_BIAS_INITIALIZERS), HIDDEN)
    WeightLearnRateFactor: float = prop(1.0, values.scalar_factor, HIDDEN)
    BiasLearnRateFactor: float = prop(1.0, values.scalar_factor, HIDDEN)
    WeightL2Factor: float = prop(1.0, values.scalar_factor, HIDDEN)
    BiasL2Factor: float = prop(0.0, values.scalar_factor, HIDDEN)

    def _check(self) -> None:
        K = self.OutputSize
        cols = self.InputSize if isinstance(self.InputSize, int) else None
        self._expect_shape("Weights", (K, cols), f"{K}-by-{cols or 'InputSize'} (OutputSize-by-InputSize)")
        self._expect_length("Bias", K, "OutputSize")

    def infer(self, input_size: int, sequence: bool, where: str) -> tuple[int, bool]:
        self._check_input_size(input_size, "Weights", where)
        return self.OutputSize, sequence

    def resolved(self, input_size: int) -> "FullyConnectedLayer":
        return dataclasses.replace(self, InputSize=input_size)

    def initialized(self, rng: Callable[[int], np.random.Generator]) -> "FullyConnectedLayer":
        I, K = self.InputSize, self.OutputSize
        new: dict[str, Any] = {}
        if self.Weights is None:
            new["Weights"] = initializers.weights(self.WeightsInitializer, (K, I), I, K, rng(0), self.where("WeightsInitializer"))
        if self.Bias is None:
            new["Bias"] = initializers.vector_bias(self.BiasInitializer, K, rng(1), self.where("BiasInitializer"))
        return dataclasses.replace(self, **new) if new else self

    def description(self) -> str:
        return f"{self.OutputSize} fully connected layer"


@dataclass(frozen=True, eq=False, kw_only=True, repr=False)
class DropoutLayer(Layer):
    """Dropout with ``Probability`` during training; the identity at inference."""

    FUNCTION: ClassVar[str] = "dropoutLayer"
    TYPE: ClassVar[str] = "Dropout"
    DEFAULT_NAME: ClassVar[str] = "dropout"

    Probability: float = prop(0.5, values.probability)

    def description(self) -> str:
        return f"{100 * self.Probability:g}% dropout"


@dataclass(frozen=True, eq=False, kw_only=True, repr=False)
class SoftmaxLayer(Layer):
    """Softmax over the feature (class) axis, per time step for sequences."""

    FUNCTION: ClassVar[str] = "softmaxLayer"
    TYPE: ClassVar[str] = "Softmax"
    DEFAULT_NAME: ClassVar[str] = "softmax"


@dataclass(frozen=True, eq=False, kw_only=True, repr=False)
class ClassificationOutputLayer(Layer):
    """Cross-entropy training loss; adds no nodes, keeps the class names for ``classify``."""

    FUNCTION: ClassVar[str] = "classificationLayer"
    TYPE: ClassVar[str] = "Classification Output"
    DEFAULT_NAME: ClassVar[str] = "classoutput"

    Classes: str | tuple[str, ...] = prop("auto", values.classes)
    ClassWeights: str | np.ndarray = prop("none", values.class_weights)

    def _check(self) -> None:
        if isinstance(self.ClassWeights, np.ndarray):
            if not isinstance(self.Classes, tuple):  # MATLAB: "you must also specify the classes using the Classes option"
                raise LayerError(f"{self.where('ClassWeights')} needs Classes: name the classes the weights belong to, in "
                                 "the same order (Classes=[...]), as MATLAB's classificationLayer requires")
            self._expect_length("ClassWeights", len(self.Classes), "one per class")

    def infer(self, input_size: int, sequence: bool, where: str) -> tuple[int, bool]:
        if isinstance(self.Classes, tuple) and len(self.Classes) != input_size:
            raise NetworkError(f"{where}: Classes names {len(self.Classes)} classes, but the previous layer outputs {input_size}")
        return input_size, sequence

    def description(self) -> str:
        if isinstance(self.Classes, tuple):
            return f"crossentropyex with '{self.Classes[0]}' and {len(self.Classes) - 1} other classes"
        return "crossentropyex"


@dataclass(frozen=True, eq=False, kw_only=True, repr=False)
class RegressionOutputLayer(Layer):
    """Mean-squared-error training loss; adds no nodes. ``ResponseNames`` (default ``{}``) is kept and shown."""

    FUNCTION: ClassVar[str] = "regressionLayer"
    TYPE: ClassVar[str] = "Regression Output"
    DEFAULT_NAME: ClassVar[str] = "regressionoutput"

    ResponseNames: tuple[str, ...] = prop((), names, show=show_names)

    def description(self) -> str:
        return "mean-squared-error"


OUTPUT_LAYERS = (ClassificationOutputLayer, RegressionOutputLayer)


# -- MATLAB-named constructors ---------------------------------------------------------------------


def sequenceInputLayer(inputSize: int, *args: Any, **kwargs: Any) -> SequenceInputLayer:
    """``sequenceInputLayer(inputSize, Name=..., Normalization=..., Mean=..., ...)``."""
    return SequenceInputLayer(**name_value_pairs(SequenceInputLayer, args, kwargs, InputSize=inputSize))


def lstmLayer(numHiddenUnits: int, *args: Any, **kwargs: Any) -> LSTMLayer:
    """``lstmLayer(numHiddenUnits, 'OutputMode', 'last', ...)`` or with keywords."""
    return LSTMLayer(**name_value_pairs(LSTMLayer, args, kwargs, NumHiddenUnits=numHiddenUnits))


def bilstmLayer(numHiddenUnits: int, *args: Any, **kwargs: Any) -> BiLSTMLayer:
    """``bilstmLayer(numHiddenUnits, ...)``: the options of :func:`lstmLayer`."""
    return BiLSTMLayer(**name_value_pairs(BiLSTMLayer, args, kwargs, NumHiddenUnits=numHiddenUnits))


def fullyConnectedLayer(outputSize: int, *args: Any, **kwargs: Any) -> FullyConnectedLayer:
    """``fullyConnectedLayer(outputSize, Weights=..., Bias=..., ...)``."""
    return FullyConnectedLayer(**name_value_pairs(FullyConnectedLayer, args, kwargs, OutputSize=outputSize))


def dropoutLayer(*args: Any, **kwargs: Any) -> DropoutLayer:
    """``dropoutLayer()``, ``dropoutLayer(probability)``, ``dropoutLayer(0.2, 'Name', 'drop')``."""
    if len(args) % 2 == 1:
        probability, *rest = args
        return DropoutLayer(**name_value_pairs(DropoutLayer, tuple(rest), kwargs, Probability=probability))
    return DropoutLayer(**name_value_pairs(DropoutLayer, args, kwargs))


def softmaxLayer(*args: Any, **kwargs: Any) -> SoftmaxLayer:
    """``softmaxLayer()`` or ``softmaxLayer('Name', 'sm')``."""
    return SoftmaxLayer(**name_value_pairs(SoftmaxLayer, args, kwargs))


def classificationLayer(*args: Any, **kwargs: Any) -> ClassificationOutputLayer:
    """``classificationLayer(Classes=[...], ClassWeights=..., Name=...)``."""
    return ClassificationOutputLayer(**name_value_pairs(ClassificationOutputLayer, args, kwargs))


def regressionLayer(*args: Any, **kwargs: Any) -> RegressionOutputLayer:
    """``regressionLayer(Name=..., ResponseNames=[...])``."""
    return RegressionOutputLayer(**name_value_pairs(RegressionOutputLayer, args, kwargs))


# -- helpers -------------------------------------------------------------------------------------


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.shape == b.shape and np.array_equal(a, b)
    return type(a) is type(b) and a == b if not callable(a) else a is b


def _show(value: Any) -> str:
    """MATLAB's display of a property value."""
    if value is None:
        return "[]"
    if isinstance(value, bool):  # a MATLAB logical shows as 0 or 1
        return str(int(value))
    if isinstance(value, str):
        return f"'{value}'"
    if isinstance(value, np.ndarray):
        if value.ndim == 0:
            return f"{value.item():g}"
        shape = value.shape if value.ndim >= 2 else (value.shape[0], 1)
        return "[" + "×".join(map(str, shape)) + " single]"
    if isinstance(value, tuple):
        if all(isinstance(v, str) for v in value):
            return f"[{len(value)}×1 categorical]"
        return "[" + " ".join(f"{v:g}" for v in value) + "]"
    if isinstance(value, float):
        return f"{value:g}"
    if callable(value):
        return f"@{getattr(value, '__name__', 'function')}"
    return str(value)


def _python(value: Any) -> str:
    """A value as Python source where that is short; arrays as ``<4x12 float32>``."""
    if isinstance(value, np.ndarray):
        return repr(value.item()) if value.ndim == 0 else f"<{'x'.join(map(str, value.shape))} {value.dtype}>"
    if isinstance(value, tuple):
        return repr(list(value))
    if callable(value):
        return getattr(value, "__name__", "<function>")
    return repr(value)


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, tuple):
        return list(value)
    return value


# -- layer families (imported last: they subclass Layer and register in LAYER_TYPES) ----------------

from .gru import GRULayer, gruLayer  # noqa: E402
from .projected import GRUProjectedLayer, LSTMProjectedLayer, gruProjectedLayer, lstmProjectedLayer  # noqa: E402

from .activation import (  # noqa: E402
    ClippedReLULayer,
    ELULayer,
    FlattenLayer,
    GELULayer,
    LeakyReLULayer,
    ReLULayer,
    SigmoidLayer,
    SoftplusLayer,
    SwishLayer,
    TanhLayer,
    clippedReluLayer,
    eluLayer,
    flattenLayer,
    geluLayer,
    leakyReluLayer,
    reluLayer,
    sigmoidLayer,
    softplusLayer,
    swishLayer,
    tanhLayer,
)
from .normalization import (  # noqa: E402
    BatchNormalizationLayer,
    LayerNormalizationLayer,
    batchNormalizationLayer,
    layerNormalizationLayer,
)
from .convolution import (  # noqa: E402
    AveragePooling1DLayer,
    Convolution1DLayer,
    GlobalAveragePooling1DLayer,
    GlobalMaxPooling1DLayer,
    Indexing1DLayer,
    MaxPooling1DLayer,
    averagePooling1dLayer,
    convolution1dLayer,
    globalAveragePooling1dLayer,
    globalMaxPooling1dLayer,
    indexing1dLayer,
    maxPooling1dLayer,
)
from .embedding import WordEmbeddingLayer, wordEmbeddingLayer  # noqa: E402
from .group_normalization import (  # noqa: E402
    GroupNormalizationLayer,
    InstanceNormalizationLayer,
    groupNormalizationLayer,
    instanceNormalizationLayer,
)
from .attention import SelfAttentionLayer, selfAttentionLayer  # noqa: E402
