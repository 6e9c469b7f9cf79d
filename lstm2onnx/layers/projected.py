"""MATLAB's ``lstmProjectedLayer`` (R2022b) and ``gruProjectedLayer`` (R2023b): an LSTM or a GRU whose
weights are stored factored through projectors.

A projected layer replaces each product ``W x`` by ``W (Qᵀ x)`` and stores the
projector Q and the smaller W (MATLAB's lstmProjectedLayer and gruProjectedLayer
pages). The layer keeps the NumHiddenUnits output of an lstmLayer (gruLayer);
only the stored learnables shrink. For ONNX the factors multiply back into one
standard ``LSTM`` (``GRU``) node.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable, ClassVar

import numpy as np

from .. import initializers, values
from ..errors import LayerError, NetworkError
from . import HIDDEN, LEARNABLE, LSTM_INPUT_INITIALIZERS, Layer, LSTMLayer, name_value_pairs, prop, required
from .gru import GRU_WEIGHT_INITIALIZERS, GRULayer


@dataclass(frozen=True, eq=False, kw_only=True, repr=False)
class LSTMProjectedLayer(LSTMLayer):
    """LSTM with projected learnables, MATLAB's ``lstmProjectedLayer``.

    With I input features, H hidden units, P = InputProjectorSize,
    Q = OutputProjectorSize and gates stacked i, f, g, o:

    - ``InputProjector`` Q_i ``I x P``, ``OutputProjector`` Q_o ``H x Q``;
    - ``InputWeights`` W ``4H x P``, ``RecurrentWeights`` R ``4H x Q``, ``Bias`` b ``4H x 1``;

    and the lstmLayer equations with every gate's pre-activation::

        z_t = W (Q_iᵀ x_t) + R (Q_oᵀ h_{t-1}) + b

    so the layer is the lstmLayer with ``InputWeights = W Q_iᵀ`` (``4H x I``)
    and ``RecurrentWeights = R Q_oᵀ`` (``4H x H``) (:meth:`as_lstm`). The
    output is h_t (H features), ``[N, T, H]`` or ``[N, H]`` as lstmLayer's.
    """

    FUNCTION: ClassVar[str] = "lstmProjectedLayer"
    TYPE: ClassVar[str] = "Projected Layer"  # as MATLAB lists every projected layer (unpackProjectedLayers' example)
    DEFAULT_NAME: ClassVar[str] = "lstmprojected"

    OutputProjectorSize: int = required(values.positive_int)
    InputProjectorSize: int = required(values.positive_int)
    InputProjector: np.ndarray | None = prop(None, values.matrix(), LEARNABLE, learnable=True)
    OutputProjector: np.ndarray | None = prop(None, values.matrix(), LEARNABLE, learnable=True)
    InputProjectorInitializer: str | Callable = prop("orthogonal", values.initializer(*LSTM_INPUT_INITIALIZERS), HIDDEN)
    OutputProjectorInitializer: str | Callable = prop("orthogonal", values.initializer(*LSTM_INPUT_INITIALIZERS), HIDDEN)
    InputProjectorLearnRateFactor: float = prop(1.0, values.scalar_factor, HIDDEN)
    OutputProjectorLearnRateFactor: float = prop(1.0, values.scalar_factor, HIDDEN)
    InputProjectorL2Factor: float = prop(1.0, values.scalar_factor, HIDDEN)
    OutputProjectorL2Factor: float = prop(1.0, values.scalar_factor, HIDDEN)

    def _check(self) -> None:
        rows, H = self.stacked_units, self.NumHiddenUnits
        _check_factor_shapes(self, "4*NumHiddenUnits")
        self._expect_length("Bias", rows, "4*NumHiddenUnits")
        self._expect_length("HiddenState", H, "NumHiddenUnits")
        self._expect_length("CellState", H, "NumHiddenUnits")

    def infer(self, input_size: int, sequence: bool, where: str) -> tuple[int, bool]:
        """As lstmLayer's, except that the input size is InputSize or else the rows of InputProjector."""
        _check_projected_input(self, input_size, where)
        return self.state_size, sequence and self.OutputMode == "sequence"

    def initialized(self, rng: Callable[[int], np.random.Generator]) -> "LSTMProjectedLayer":
        """Unset learnables by their initializers: W ``4H x P`` (glorot, fan-in P), R ``4H x Q`` (orthogonal),
        b (unit-forget-gate), Q_i ``I x P`` and Q_o ``H x Q`` (orthogonal), each from its own generator."""
        H = self.NumHiddenUnits
        new: dict[str, Any] = {}
        _initialize_factors(self, new, rng, projector_streams=(3, 4))
        if self.Bias is None:
            new["Bias"] = initializers.bias(self.BiasInitializer, H, 1, rng(2), self.where("BiasInitializer"))
        return dataclasses.replace(self, **new) if new else self

    def as_lstm(self) -> LSTMLayer:
        """The lstmLayer computing the same function: ``W Q_iᵀ`` and ``R Q_oᵀ`` multiplied out in float64."""
        return dataclasses.replace(self.unprojected(), **_products(self))

    def unprojected(self) -> LSTMLayer:
        """An lstmLayer with this layer's options, Bias and state, and no InputWeights/RecurrentWeights (the
        shape of what an ONNX file holds: the products, not the factors)."""
        return _unprojected(self, LSTMLayer)

    def description(self) -> str:
        return f"Projected LSTM with {self.NumHiddenUnits} hidden units"


def lstmProjectedLayer(numHiddenUnits: int, outputProjectorSize: int, inputProjectorSize: int, *args: Any, **kwargs: Any) -> LSTMProjectedLayer:
    """``lstmProjectedLayer(numHiddenUnits, outputProjectorSize, inputProjectorSize, 'OutputMode', 'last', ...)``: note
    MATLAB's order, the output projector size before the input projector size."""
    return LSTMProjectedLayer(**name_value_pairs(
        LSTMProjectedLayer, args, kwargs,
        NumHiddenUnits=numHiddenUnits, OutputProjectorSize=outputProjectorSize, InputProjectorSize=inputProjectorSize,
    ))


@dataclass(frozen=True, eq=False, kw_only=True, repr=False)
class GRUProjectedLayer(GRULayer):
    """GRU with projected learnables, MATLAB's ``gruProjectedLayer`` (R2023b).

    With I input features, H hidden units, P = InputProjectorSize,
    Q = OutputProjectorSize and gates stacked r, z, h as gruLayer's:

    - ``InputProjector`` Q_i ``I x P``, ``OutputProjector`` Q_o ``H x Q``;
    - ``InputWeights`` W ``3H x P``, ``RecurrentWeights`` R ``3H x Q``, ``Bias`` b ``3H x 1``
      (``6H x 1`` ``[b; b_R]`` in ResetGateMode 'recurrent-bias-after-multiplication',
      split into Bias and RecurrentBias as for gruLayer);

    and the gruLayer equations with every ``W x_t`` read as ``W (Q_iᵀ x_t)`` and
    every ``R v`` (v = h_{t-1}, or r_t ⊙ h_{t-1} in 'before-multiplication') as
    ``R (Q_oᵀ v)``. So the layer is the gruLayer with ``InputWeights = W Q_iᵀ``
    (``3H x I``) and ``RecurrentWeights = R Q_oᵀ`` (``3H x H``) (:meth:`as_gru`),
    the products MATLAB's own TensorFlow exporter forms for this layer. The
    output is h_t (H features), ``[N, T, H]`` or ``[N, H]`` as gruLayer's.
    """

    FUNCTION: ClassVar[str] = "gruProjectedLayer"
    TYPE: ClassVar[str] = "Projected Layer"  # as MATLAB lists every projected layer
    DEFAULT_NAME: ClassVar[str] = "gruprojected"

    OutputProjectorSize: int = required(values.positive_int)
    InputProjectorSize: int = required(values.positive_int)
    InputProjector: np.ndarray | None = prop(None, values.matrix(), LEARNABLE, learnable=True)
    OutputProjector: np.ndarray | None = prop(None, values.matrix(), LEARNABLE, learnable=True)
    InputProjectorInitializer: str | Callable = prop("orthogonal", values.initializer(*GRU_WEIGHT_INITIALIZERS), HIDDEN)
    OutputProjectorInitializer: str | Callable = prop("orthogonal", values.initializer(*GRU_WEIGHT_INITIALIZERS), HIDDEN)
    InputProjectorLearnRateFactor: float = prop(1.0, values.scalar_factor, HIDDEN)
    OutputProjectorLearnRateFactor: float = prop(1.0, values.scalar_factor, HIDDEN)
    InputProjectorL2Factor: float = prop(1.0, values.scalar_factor, HIDDEN)
    OutputProjectorL2Factor: float = prop(1.0, values.scalar_factor, HIDDEN)

    def _check(self) -> None:
        rows, H = self.stacked_units, self.NumHiddenUnits
        if self.recurrent_bias_mode and self.Bias is not None and self.Bias.size == 2 * rows and self.RecurrentBias is None:
            both = self.Bias  # MATLAB's 6H x 1 form [b; b_R], as gruLayer takes it
            object.__setattr__(self, "Bias", both[:rows])
            object.__setattr__(self, "RecurrentBias", both[rows:])
        if self.RecurrentBias is not None and not self.recurrent_bias_mode:
            raise LayerError(f"{self.where('RecurrentBias')} is used only when ResetGateMode is 'recurrent-bias-after-multiplication', "
                             f"got ResetGateMode '{self.ResetGateMode}' (leave RecurrentBias empty)")
        _check_factor_shapes(self, "3*NumHiddenUnits")
        self._expect_length("Bias", rows, "3*NumHiddenUnits")
        self._expect_length("RecurrentBias", rows, "3*NumHiddenUnits")
        self._expect_length("HiddenState", H, "NumHiddenUnits")

    def infer(self, input_size: int, sequence: bool, where: str) -> tuple[int, bool]:
        """As gruLayer's, except that the input size is InputSize or else the rows of InputProjector."""
        _check_projected_input(self, input_size, where)
        return self.state_size, sequence and self.OutputMode == "sequence"

    def initialized(self, rng: Callable[[int], np.random.Generator]) -> "GRUProjectedLayer":
        """Unset learnables by their initializers: W ``3H x P`` (glorot, fan-in P), R ``3H x Q`` (orthogonal),
        the biases by BiasInitializer (zeros) as gruLayer's, Q_i ``I x P`` and Q_o ``H x Q`` (orthogonal), each
        from its own generator (streams 0-3 as gruLayer's, the projectors 4 and 5)."""
        new: dict[str, Any] = {}
        _initialize_factors(self, new, rng, projector_streams=(4, 5))
        rows = self.stacked_units
        if self.Bias is None:
            new["Bias"] = initializers.vector_bias(self.BiasInitializer, rows, rng(2), self.where("BiasInitializer"))
        if self.RecurrentBias is None and self.recurrent_bias_mode:
            new["RecurrentBias"] = initializers.vector_bias(self.BiasInitializer, rows, rng(3), self.where("BiasInitializer"))
        return dataclasses.replace(self, **new) if new else self

    def as_gru(self) -> GRULayer:
        """The gruLayer computing the same function: ``W Q_iᵀ`` and ``R Q_oᵀ`` multiplied out in float64."""
        return dataclasses.replace(self.unprojected(), **_products(self))

    def unprojected(self) -> GRULayer:
        """A gruLayer with this layer's options, Bias, RecurrentBias and state, and no InputWeights/RecurrentWeights."""
        return _unprojected(self, GRULayer)

    def description(self) -> str:
        return f"Projected GRU with {self.NumHiddenUnits} hidden units"


def gruProjectedLayer(numHiddenUnits: int, outputProjectorSize: int, inputProjectorSize: int, *args: Any, **kwargs: Any) -> GRUProjectedLayer:
    """``gruProjectedLayer(numHiddenUnits, outputProjectorSize, inputProjectorSize, 'ResetGateMode', ...)``: MATLAB's
    order, the output projector size before the input projector size, as lstmProjectedLayer's."""
    return GRUProjectedLayer(**name_value_pairs(
        GRUProjectedLayer, args, kwargs,
        NumHiddenUnits=numHiddenUnits, OutputProjectorSize=outputProjectorSize, InputProjectorSize=inputProjectorSize,
    ))


# -- what both projected layers share ---------------------------------------------------------------

Projected = LSTMProjectedLayer | GRUProjectedLayer


def _check_factor_shapes(layer: Projected, unit: str) -> None:
    """W ``G*H x P``, R ``G*H x Q``, Q_i ``I x P``, Q_o ``H x Q`` (G gates), named as MATLAB's pages name the sizes."""
    rows, H, P, Q = layer.stacked_units, layer.NumHiddenUnits, layer.InputProjectorSize, layer.OutputProjectorSize
    I = layer.InputSize if isinstance(layer.InputSize, int) else None
    layer._expect_shape("InputWeights", (rows, P), f"{rows}-by-{P} ({unit}-by-InputProjectorSize)")
    layer._expect_shape("RecurrentWeights", (rows, Q), f"{rows}-by-{Q} ({unit}-by-OutputProjectorSize)")
    layer._expect_shape("InputProjector", (I, P), f"{I or 'InputSize'}-by-{P} (InputSize-by-InputProjectorSize)")
    layer._expect_shape("OutputProjector", (H, Q), f"{H}-by-{Q} (NumHiddenUnits-by-OutputProjectorSize)")


def _check_projected_input(layer: Projected, input_size: int, where: str) -> None:
    """The input size is InputSize, or else the rows of InputProjector."""
    expected, source = layer.InputSize, "InputSize"
    if expected == "auto" and layer.InputProjector is not None:
        expected, source = layer.InputProjector.shape[0], "InputProjector"
    if expected != "auto" and expected != input_size:
        raise NetworkError(f"{where}: {source} says {expected} input features, but the previous layer outputs {input_size}")


def _initialize_factors(layer: Projected, new: dict[str, Any], rng: Callable[[int], np.random.Generator],
                        projector_streams: tuple[int, int]) -> None:
    """Put the unset W (stream 0), R (1), Q_i and Q_o (``projector_streams``) into ``new``."""
    I, H, P, Q, rows = layer.InputSize, layer.NumHiddenUnits, layer.InputProjectorSize, layer.OutputProjectorSize, layer.stacked_units
    for prop_name, shape, fan_in, fan_out, stream in (
        ("InputWeights", (rows, P), P, rows, 0),
        ("RecurrentWeights", (rows, Q), Q, rows, 1),
        ("InputProjector", (I, P), I, P, projector_streams[0]),
        ("OutputProjector", (H, Q), H, Q, projector_streams[1]),
    ):
        if getattr(layer, prop_name) is None:
            method = f"{prop_name}Initializer"
            new[prop_name] = initializers.weights(getattr(layer, method), shape, fan_in, fan_out, rng(stream), layer.where(method))


def _products(layer: Projected) -> dict[str, np.ndarray]:
    """``InputWeights · InputProjectorᵀ`` and ``RecurrentWeights · OutputProjectorᵀ``, in float64."""
    def product(weights: str, projector: str) -> np.ndarray:
        return np.asarray(getattr(layer, weights), np.float64) @ np.asarray(getattr(layer, projector), np.float64).T

    return {"InputWeights": product("InputWeights", "InputProjector"), "RecurrentWeights": product("RecurrentWeights", "OutputProjector")}


def _unprojected(layer: Projected, base: type[Layer]) -> Any:
    """``base`` (lstmLayer or gruLayer) with ``layer``'s options, biases and state, and no InputWeights/RecurrentWeights
    (the shape of what an ONNX file holds: the products, not the factors)."""
    same = {f.name: getattr(layer, f.name) for f in dataclasses.fields(base)
            if f.metadata["group"] is not HIDDEN and f.name not in ("InputWeights", "RecurrentWeights")}
    return base(**same)
