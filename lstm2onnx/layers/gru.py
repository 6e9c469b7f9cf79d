"""MATLAB's ``gruLayer``: a gated recurrent unit over a sequence.

MATLAB stacks the three gate blocks reset, update, candidate (r, z, h) in
``InputWeights`` (``3H x I``), ``RecurrentWeights`` (``3H x H``) and ``Bias``
(``3H x 1``). MATLAB has no bidirectional GRU layer, and neither has lstm2onnx.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable, ClassVar

import numpy as np

from .. import initializers, values
from ..errors import LayerError
from . import HIDDEN, LEARNABLE, STATE, Layer, name_value_pairs, no_state_ports, prop, required

RESET_GATE_MODES = ("after-multiplication", "before-multiplication", "recurrent-bias-after-multiplication")
RECURRENT_BIAS_MODE = "recurrent-bias-after-multiplication"
GRU_WEIGHT_INITIALIZERS = ("glorot", "he", "orthogonal", "narrow-normal", "zeros", "ones")
GRU_BIAS_INITIALIZERS = ("zeros", "narrow-normal", "ones")
GRU_GATES = "rzh"  # MATLAB's stacking, for messages and the per-gate factors


@dataclass(frozen=True, eq=False, kw_only=True, repr=False)
class GRULayer(Layer):
    """GRU over a sequence, MATLAB's ``gruLayer``.

    With gates stacked r, z, h in W (``3H x I``), R (``3H x H``), b (``3H``),
    σ_g the GateActivationFunction and σ_s the StateActivationFunction::

        r_t = σ_g(W_r x_t + R_r h_{t-1} + b_r)        z_t = σ_g(W_z x_t + R_z h_{t-1} + b_z)
        h~_t = σ_s(W_h x_t + r_t ⊙ (R_h h_{t-1}) + b_h)          'after-multiplication'
        h~_t = σ_s(W_h x_t + R_h (r_t ⊙ h_{t-1}) + b_h)          'before-multiplication'
        h_t = (1 - z_t) ⊙ h~_t + z_t ⊙ h_{t-1}

    'recurrent-bias-after-multiplication' adds a second bias ``RecurrentBias``
    (``3H x 1``, b_R) on the recurrent side of every gate:
    ``r_t = σ_g(W_r x_t + b_r + R_r h_{t-1} + b_Rr)``, likewise z, and
    ``h~_t = σ_s(W_h x_t + b_h + r_t ⊙ (R_h h_{t-1} + b_Rh))`` (the form of
    cuDNN, PyTorch and ONNX's ``linear_before_reset=1``). In the other modes
    RecurrentBias is unset (``[]``). MATLAB itself stores that mode's biases
    as one ``6H x 1`` Bias ``[b; b_R]`` (as we read the gruLayer page of
    R2020a and later): such a Bias is accepted and split into Bias and
    RecurrentBias, and ``to_matlab`` writes that form.

    Shapes: input ``[N, T, I]``; output ``[N, T, H]`` ('sequence') or
    ``[N, H]`` ('last'). After a layer with OutputMode 'last' the input is one
    time step ``[N, I]``: it runs as a one-step sequence and the output is one
    step ``[N, H]`` for either OutputMode.
    """

    FUNCTION: ClassVar[str] = "gruLayer"
    TYPE: ClassVar[str] = "GRU"
    DEFAULT_NAME: ClassVar[str] = "gru"
    DIRECTIONS: ClassVar[int] = 1
    GATES: ClassVar[int] = 3

    InputSize: str | int = prop("auto", values.auto_or_positive_int)
    NumHiddenUnits: int = required(values.positive_int)
    OutputMode: str = prop("sequence", values.choice("sequence", "last"))
    HasStateInputs: bool = prop(False, no_state_ports)
    HasStateOutputs: bool = prop(False, no_state_ports)
    # 'before-reset': how lstm2onnx spelled 'before-multiplication' before 2026-12 (files written then still load)
    ResetGateMode: str = prop("after-multiplication", values.choice(*RESET_GATE_MODES, aliases={"before-reset": "before-multiplication"}))
    StateActivationFunction: str = prop("tanh", values.choice("tanh", "softsign"))
    GateActivationFunction: str = prop("sigmoid", values.choice("sigmoid", "hard-sigmoid"))
    InputWeights: np.ndarray | None = prop(None, values.matrix(), LEARNABLE, learnable=True)
    RecurrentWeights: np.ndarray | None = prop(None, values.matrix(), LEARNABLE, learnable=True)
    Bias: np.ndarray | None = prop(None, values.vector(), LEARNABLE, learnable=True)
    RecurrentBias: np.ndarray | None = prop(None, values.vector(), LEARNABLE, learnable=True)
    HiddenState: np.ndarray | None = prop(None, values.vector(), STATE)
    InputWeightsInitializer: str | Callable = prop("glorot", values.initializer(*GRU_WEIGHT_INITIALIZERS), HIDDEN)
    RecurrentWeightsInitializer: str | Callable = prop("orthogonal", values.initializer(*GRU_WEIGHT_INITIALIZERS), HIDDEN)
    BiasInitializer: str | Callable = prop("zeros", values.initializer(*GRU_BIAS_INITIALIZERS), HIDDEN)
    InputWeightsLearnRateFactor: float | tuple = prop(1.0, values.gate_factor(GRU_GATES), HIDDEN)
    RecurrentWeightsLearnRateFactor: float | tuple = prop(1.0, values.gate_factor(GRU_GATES), HIDDEN)
    BiasLearnRateFactor: float | tuple = prop(1.0, values.gate_factor(GRU_GATES), HIDDEN)
    InputWeightsL2Factor: float | tuple = prop(1.0, values.gate_factor(GRU_GATES), HIDDEN)
    RecurrentWeightsL2Factor: float | tuple = prop(1.0, values.gate_factor(GRU_GATES), HIDDEN)
    BiasL2Factor: float | tuple = prop(0.0, values.gate_factor(GRU_GATES), HIDDEN)

    @property
    def stacked_units(self) -> int:
        """Rows of each gate stack: 3H."""
        return self.GATES * self.NumHiddenUnits

    @property
    def state_size(self) -> int:
        """Length of HiddenState and of the output: H."""
        return self.NumHiddenUnits

    @property
    def recurrent_bias_mode(self) -> bool:
        return self.ResetGateMode == RECURRENT_BIAS_MODE

    def _check(self) -> None:
        rows, H = self.stacked_units, self.NumHiddenUnits
        if self.recurrent_bias_mode and self.Bias is not None and self.Bias.size == 2 * rows and self.RecurrentBias is None:
            both = self.Bias  # MATLAB's 6H x 1 form [b; b_R]
            object.__setattr__(self, "Bias", _frozen(both[:rows]))
            object.__setattr__(self, "RecurrentBias", _frozen(both[rows:]))
        if self.RecurrentBias is not None and not self.recurrent_bias_mode:
            raise LayerError(
                f"{self.where('RecurrentBias')} is used only when ResetGateMode is '{RECURRENT_BIAS_MODE}', "
                f"got ResetGateMode '{self.ResetGateMode}' (leave RecurrentBias empty)"
            )
        cols = self.InputSize if isinstance(self.InputSize, int) else None
        self._expect_shape("InputWeights", (rows, cols), f"{rows}-by-{cols or 'InputSize'} (3*NumHiddenUnits-by-InputSize)")
        self._expect_shape("RecurrentWeights", (rows, H), f"{rows}-by-{H} (3*NumHiddenUnits-by-NumHiddenUnits)")
        self._expect_length("Bias", rows, "3*NumHiddenUnits")
        self._expect_length("RecurrentBias", rows, "3*NumHiddenUnits")
        self._expect_length("HiddenState", H, "NumHiddenUnits")

    def infer(self, input_size: int, sequence: bool, where: str) -> tuple[int, bool]:
        self._check_input_size(input_size, "InputWeights", where)
        return self.state_size, sequence and self.OutputMode == "sequence"

    def resolved(self, input_size: int) -> "GRULayer":
        return dataclasses.replace(self, InputSize=input_size)

    def initialized(self, rng: Callable[[int], np.random.Generator]) -> "GRULayer":
        """Unset learnables by MATLAB's initializers: glorot over the whole ``3H x I`` stack (fan-in I,
        fan-out 3H), orthogonal ``3H x H``, and the biases by BiasInitializer (default zeros)."""
        I, H, rows = self.InputSize, self.NumHiddenUnits, self.stacked_units
        new: dict[str, Any] = {}
        if self.InputWeights is None:
            new["InputWeights"] = initializers.weights(self.InputWeightsInitializer, (rows, I), I, rows, rng(0), self.where("InputWeightsInitializer"))
        if self.RecurrentWeights is None:
            new["RecurrentWeights"] = initializers.weights(
                self.RecurrentWeightsInitializer, (rows, H), H, rows, rng(1), self.where("RecurrentWeightsInitializer")
            )
        if self.Bias is None:
            new["Bias"] = initializers.vector_bias(self.BiasInitializer, rows, rng(2), self.where("BiasInitializer"))
        if self.RecurrentBias is None and self.recurrent_bias_mode:
            new["RecurrentBias"] = initializers.vector_bias(self.BiasInitializer, rows, rng(3), self.where("BiasInitializer"))
        return dataclasses.replace(self, **new) if new else self

    def _callable_needed(self, initializer_name: str) -> bool:
        if initializer_name == "BiasInitializer" and self.recurrent_bias_mode and self.RecurrentBias is None:
            return True
        return super()._callable_needed(initializer_name)

    def description(self) -> str:
        return f"{self.TYPE} with {self.NumHiddenUnits} hidden units"

    def matlab_values(self, values: dict[str, Any]) -> dict[str, Any]:
        """The name-value pairs as MATLAB's gruLayer takes them (for ``to_matlab``): in the recurrent-bias
        mode MATLAB's Bias is ``6H x 1``, ``[Bias; RecurrentBias]``, and it has no RecurrentBias property."""
        if "Bias" not in values or "RecurrentBias" not in values:
            return values
        values = dict(values)
        values["Bias"] = np.concatenate([values["Bias"], values.pop("RecurrentBias")])
        return values


def gruLayer(numHiddenUnits: int, *args: Any, **kwargs: Any) -> GRULayer:
    """``gruLayer(numHiddenUnits, 'OutputMode', 'last', 'ResetGateMode', 'before-multiplication', ...)`` or with keywords."""
    return GRULayer(**name_value_pairs(GRULayer, args, kwargs, NumHiddenUnits=numHiddenUnits))


def _frozen(array: np.ndarray) -> np.ndarray:
    out = np.array(array, dtype=np.float32)
    out.flags.writeable = False
    return out

