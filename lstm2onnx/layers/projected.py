"""MATLAB's ``lstmProjectedLayer`` (R2022b): an LSTM whose weights are stored factored through projectors.

A projected layer replaces each product ``W x`` by ``W (Qᵀ x)`` and stores the
projector Q and the smaller W (MATLAB's lstmProjectedLayer page). The layer
keeps the NumHiddenUnits output of an lstmLayer; only the stored learnables
shrink. For ONNX the factors multiply back into one standard ``LSTM`` node.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable, ClassVar

import numpy as np

from .. import initializers, values
from ..errors import NetworkError
from . import HIDDEN, LEARNABLE, LSTM_INPUT_INITIALIZERS, LSTMLayer, name_value_pairs, prop, required


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
        rows, H, P, Q = self.stacked_units, self.NumHiddenUnits, self.InputProjectorSize, self.OutputProjectorSize
        I = self.InputSize if isinstance(self.InputSize, int) else None
        self._expect_shape("InputWeights", (rows, P), f"{rows}-by-{P} (4*NumHiddenUnits-by-InputProjectorSize)")
        self._expect_shape("RecurrentWeights", (rows, Q), f"{rows}-by-{Q} (4*NumHiddenUnits-by-OutputProjectorSize)")
        self._expect_shape("InputProjector", (I, P), f"{I or 'InputSize'}-by-{P} (InputSize-by-InputProjectorSize)")
        self._expect_shape("OutputProjector", (H, Q), f"{H}-by-{Q} (NumHiddenUnits-by-OutputProjectorSize)")
        self._expect_length("Bias", rows, "4*NumHiddenUnits")
        self._expect_length("HiddenState", H, "NumHiddenUnits")
        self._expect_length("CellState", H, "NumHiddenUnits")

    def infer(self, input_size: int, sequence: bool, where: str) -> tuple[int, bool]:
        """As lstmLayer's, except that the input size is InputSize or else the rows of InputProjector."""
        expected, source = self.InputSize, "InputSize"
        if expected == "auto" and self.InputProjector is not None:
            expected, source = self.InputProjector.shape[0], "InputProjector"
        if expected != "auto" and expected != input_size:
            raise NetworkError(f"{where}: {source} says {expected} input features, but the previous layer outputs {input_size}")
        return self.state_size, sequence and self.OutputMode == "sequence"

    def initialized(self, rng: Callable[[int], np.random.Generator]) -> "LSTMProjectedLayer":
        """Unset learnables by their initializers: W ``4H x P`` (glorot, fan-in P), R ``4H x Q`` (orthogonal),
        b (unit-forget-gate), Q_i ``I x P`` and Q_o ``H x Q`` (orthogonal), each from its own generator."""
        I, H, P, Q, rows = self.InputSize, self.NumHiddenUnits, self.InputProjectorSize, self.OutputProjectorSize, self.stacked_units
        new: dict[str, Any] = {}
        for prop_name, shape, fan_in, fan_out, stream in (
            ("InputWeights", (rows, P), P, rows, 0),
            ("RecurrentWeights", (rows, Q), Q, rows, 1),
            ("InputProjector", (I, P), I, P, 3),
            ("OutputProjector", (H, Q), H, Q, 4),
        ):
            if getattr(self, prop_name) is None:
                method = f"{prop_name}Initializer"
                new[prop_name] = initializers.weights(getattr(self, method), shape, fan_in, fan_out, rng(stream), self.where(method))
        if self.Bias is None:
            new["Bias"] = initializers.bias(self.BiasInitializer, H, 1, rng(2), self.where("BiasInitializer"))
        return dataclasses.replace(self, **new) if new else self

    def as_lstm(self) -> LSTMLayer:
        """The lstmLayer computing the same function: ``W Q_iᵀ`` and ``R Q_oᵀ`` multiplied out in float64."""
        def product(weights: str, projector: str) -> np.ndarray:
            return np.asarray(getattr(self, weights), np.float64) @ np.asarray(getattr(self, projector), np.float64).T

        return dataclasses.replace(self.unprojected(), InputWeights=product("InputWeights", "InputProjector"),
                                   RecurrentWeights=product("RecurrentWeights", "OutputProjector"))

    def unprojected(self) -> LSTMLayer:
        """An lstmLayer with this layer's options, Bias and state, and no InputWeights/RecurrentWeights (the
        shape of what an ONNX file holds: the products, not the factors)."""
        same = {f.name: getattr(self, f.name) for f in dataclasses.fields(LSTMLayer)
                if f.metadata["group"] is not HIDDEN and f.name not in ("InputWeights", "RecurrentWeights")}
        return LSTMLayer(**same)

    def description(self) -> str:
        return f"Projected LSTM with {self.NumHiddenUnits} hidden units"


def lstmProjectedLayer(numHiddenUnits: int, outputProjectorSize: int, inputProjectorSize: int, *args: Any, **kwargs: Any) -> LSTMProjectedLayer:
    """``lstmProjectedLayer(numHiddenUnits, outputProjectorSize, inputProjectorSize, 'OutputMode', 'last', ...)``: note
    MATLAB's order, the output projector size before the input projector size."""
    return LSTMProjectedLayer(**name_value_pairs(
        LSTMProjectedLayer, args, kwargs,
        NumHiddenUnits=numHiddenUnits, OutputProjectorSize=outputProjectorSize, InputProjectorSize=inputProjectorSize,
    ))
