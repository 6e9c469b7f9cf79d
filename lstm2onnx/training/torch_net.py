"""A layer array as a torch module with MATLAB semantics, and back to layers.

- Default activations (sigmoid/tanh) use ``torch.nn.LSTM`` (cuDNN on a GPU): a
  unidirectional layer runs the right-padded batch whole (padding comes after each
  sequence's valid steps, so it never reaches them), a bilstmLayer, or a call that
  asks for the final cell states, runs packed sequences; PyTorch stacks gates i, f, g, o like MATLAB, MATLAB's single
  bias is ``bias_ih`` and ``bias_hh`` is held at zero (frozen).
- Other activations use :class:`CellLSTM`, a per-step implementation of the
  same equations with MATLAB-layout parameters.
- Padded steps never reach a result: outputs past each end are zeroed (padded
  nn.LSTM), skipped (packed) or masked (CellLSTM), and 'last' reads each sequence's
  last valid step.

Shapes: x ``[N, T, F]`` padded, lengths ``[N]``; sequence values are ``[N, T, C]``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from .. import gates
from ..layers import (
    ClassificationOutputLayer,
    DropoutLayer,
    FullyConnectedLayer,
    GRULayer,
    Layer,
    LSTMLayer,
    RegressionOutputLayer,
    SequenceInputLayer,
    SoftmaxLayer,
    divisor,
)
from ..network import LayerArray, analyze


@dataclass
class Learnable:
    """One MATLAB learnable (e.g. lstm_1's InputWeights) as torch parameters (one per direction) and its factors.

    ``lr`` and ``l2`` are scalars or per-row tensors ``[rows, 1]`` / ``[rows]`` (per-gate factors expanded).
    """

    layer: str
    name: str
    params: list[nn.Parameter]
    lr: list[torch.Tensor | float]
    l2: list[torch.Tensor | float]


def gate_rows(factor, hidden: int, ndim: int, orders: tuple[str, str] = (gates.MATLAB, gates.PYTORCH)):
    """A MATLAB factor (scalar, or 1-by-G over the gates in ``orders[0]``, e.g. 1-by-4 over i, f, g, o) as a
    per-row multiplier for a G*H-row parameter whose gates are stacked in ``orders[1]``."""
    if isinstance(factor, tuple):
        rows = torch.tensor(np.repeat(gates.reorder_gates(np.asarray(factor), *orders), hidden), dtype=torch.float32)
        return rows[:, None] if ndim == 2 else rows
    return float(factor)


def hard_sigmoid(x: torch.Tensor) -> torch.Tensor:
    """MATLAB's hard sigmoid: 0.2 x + 0.5 clipped to [0, 1] (not torch's x/6 + 1/2)."""
    return torch.clamp(0.2 * x + 0.5, 0.0, 1.0)


GATE = {"sigmoid": torch.sigmoid, "hard-sigmoid": hard_sigmoid}
STATE = {"tanh": torch.tanh, "softsign": F.softsign}


class Normalize(nn.Module):
    """sequenceInputLayer's Normalization, per feature, as the ONNX graph computes it."""

    def __init__(self, layer: SequenceInputLayer) -> None:
        super().__init__()
        self.mode = layer.Normalization
        stats = {name: getattr(layer, name) for name in ("Mean", "StandardDeviation", "Min")}
        if stats["StandardDeviation"] is not None:
            stats["StandardDeviation"] = divisor(stats["StandardDeviation"])
        both = layer.Min is not None and layer.Max is not None
        stats["Range"] = divisor(np.asarray(layer.Max, np.float64) - np.asarray(layer.Min, np.float64)) if both else None
        for name, value in stats.items():
            self.register_buffer(name, None if value is None else torch.tensor(np.asarray(value, np.float32)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mode in ("zerocenter", "zscore"):
            x = x - self.Mean
            return x / self.StandardDeviation if self.mode == "zscore" else x
        if self.mode == "rescale-zero-one":
            return (x - self.Min) / self.Range
        if self.mode == "rescale-symmetric":
            return (x - self.Min) / (self.Range / 2.0) - 1.0
        return x


class _Recurrent(nn.Module):
    """What both LSTM implementations share: the spec, initial states, the 'last' readings."""

    def __init__(self, layer: LSTMLayer, bilstm_last: str) -> None:
        super().__init__()
        self.spec, self.bilstm_last = layer, bilstm_last
        self.dirs, self.hidden = layer.DIRECTIONS, layer.NumHiddenUnits
        for name in ("HiddenState", "CellState"):
            value = getattr(layer, name)
            state = np.zeros(layer.state_size, np.float32) if value is None else np.asarray(value, np.float32)
            self.register_buffer(name, torch.tensor(state.reshape(self.dirs, 1, self.hidden)))

    def initial(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        return (self.HiddenState.expand(self.dirs, n, self.hidden).contiguous(),
                self.CellState.expand(self.dirs, n, self.hidden).contiguous())

    def forward(self, x: torch.Tensor, lengths: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None,
                need_state: bool = True):
        """``(output, is_sequence, (h_n, c_n))``; ``state`` ``(h0, c0)`` ``[dirs, N, H]`` replaces HiddenState/CellState.
        Without ``need_state`` the layer may skip computing ``c_n`` (then None)."""
        h0, c0 = state if state is not None else self.initial(x.shape[0])
        Y, h_n, c_n = self.forward_with_state(x, lengths, h0, c0, need_state)
        out, sequence = self.finish(Y, h_n, lengths)
        return out, sequence, (h_n, c_n)

    def finish(self, Y: torch.Tensor, h_n: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, bool]:
        """Y ``[N, T, dirs*H]`` (zero past each length), h_n ``[dirs, N, H]`` -> the layer's output."""
        if self.spec.OutputMode == "sequence":
            return Y, True
        if self.dirs == 1:
            return h_n[0], False
        if self.bilstm_last == "final-state":
            return torch.cat([h_n[0], h_n[1]], dim=1), False
        return Y[torch.arange(Y.shape[0], device=Y.device), lengths - 1], False


class TorchLSTM(_Recurrent):
    """lstmLayer / bilstmLayer with default activations: torch.nn.LSTM on packed sequences."""

    def __init__(self, layer: LSTMLayer, bilstm_last: str) -> None:
        super().__init__(layer, bilstm_last)
        H, rows = layer.NumHiddenUnits, 4 * layer.NumHiddenUnits
        self.lstm = nn.LSTM(layer.InputSize, H, batch_first=True, bidirectional=self.dirs == 2)
        with torch.no_grad():
            for d, suffix in enumerate(self._suffixes()):
                part = slice(d * rows, (d + 1) * rows)
                getattr(self.lstm, f"weight_ih_l0{suffix}").copy_(_torch(gates.reorder_gates(layer.InputWeights[part], gates.MATLAB, gates.PYTORCH)))
                getattr(self.lstm, f"weight_hh_l0{suffix}").copy_(_torch(gates.reorder_gates(layer.RecurrentWeights[part], gates.MATLAB, gates.PYTORCH)))
                getattr(self.lstm, f"bias_ih_l0{suffix}").copy_(_torch(gates.reorder_gates(layer.Bias[part], gates.MATLAB, gates.PYTORCH)))
                bias_hh = getattr(self.lstm, f"bias_hh_l0{suffix}")
                bias_hh.zero_()
                bias_hh.requires_grad_(False)  # MATLAB has one bias: b_ih carries it

    def _suffixes(self) -> list[str]:
        return ["", "_reverse"][: self.dirs]

    def params(self, kind: str) -> list[nn.Parameter]:
        return [getattr(self.lstm, f"{kind}_l0{s}") for s in self._suffixes()]

    def forward_with_state(self, x, lengths, h0, c0, need_state: bool = True):
        """``(Y [N, T, dirs*H], h_n, c_n)``, Y zero past each length.

        Unidirectional without ``need_state``: the padded batch in one call, exact
        for every valid step since right padding only follows them; ``h_n`` is Y at
        each sequence's last valid step and ``c_n`` None (the cell state there is not
        an output of nn.LSTM). Otherwise packed sequences (bilstm, final states).
        """
        if self.dirs == 1 and not need_state:
            Y, _ = self.lstm(x, (h0, c0))
            h_n = Y[torch.arange(Y.shape[0], device=Y.device), lengths - 1][None]
            if self.spec.OutputMode == "sequence":
                Y = Y * (torch.arange(Y.shape[1], device=Y.device)[None, :, None] < lengths[:, None, None])
            return Y, h_n, None
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, (h_n, c_n) = self.lstm(packed, (h0, c0))
        Y, _ = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
        return Y, h_n, c_n

    def learnables(self) -> dict[str, list[nn.Parameter]]:
        return {"InputWeights": self.params("weight_ih"), "RecurrentWeights": self.params("weight_hh"), "Bias": self.params("bias_ih")}

    def to_layer(self) -> LSTMLayer:
        def stacked(kind: str, extra: str | None = None) -> np.ndarray:
            parts = []
            for p, q in zip(self.params(kind), self.params(extra) if extra else [None] * self.dirs):
                value = p.detach().cpu().numpy() + (q.detach().cpu().numpy() if q is not None else 0.0)
                parts.append(gates.reorder_gates(value, gates.PYTORCH, gates.MATLAB))
            return np.concatenate(parts)

        return dataclasses.replace(self.spec, InputWeights=stacked("weight_ih"), RecurrentWeights=stacked("weight_hh"),
                                   Bias=stacked("bias_ih", "bias_hh"))


class CellLSTM(_Recurrent):
    """lstmLayer / bilstmLayer with any activations: MATLAB's equations step by step, MATLAB-layout parameters."""

    def __init__(self, layer: LSTMLayer, bilstm_last: str) -> None:
        super().__init__(layer, bilstm_last)
        rows = 4 * layer.NumHiddenUnits
        parts = [slice(d * rows, (d + 1) * rows) for d in range(self.dirs)]
        self.W = nn.ParameterList(nn.Parameter(_torch(layer.InputWeights[p])) for p in parts)
        self.R = nn.ParameterList(nn.Parameter(_torch(layer.RecurrentWeights[p])) for p in parts)
        self.b = nn.ParameterList(nn.Parameter(_torch(layer.Bias[p])) for p in parts)
        self.sigma_g = GATE[layer.GateActivationFunction]
        self.sigma_c = STATE[layer.StateActivationFunction]

    def direction(self, x, lengths, W, R, b, h, c):
        """One pass of i, f, g, o gates over x ``[N, T, I]``; padded steps keep the state and output zero."""
        N, T, _ = x.shape
        Z = x @ W.T + b
        valid = torch.arange(T, device=x.device)[None, :] < lengths[:, None]
        outputs = []
        for t in range(T):
            i, f, g, o = (Z[:, t] + h @ R.T).chunk(4, dim=1)
            c_t = self.sigma_g(f) * c + self.sigma_g(i) * self.sigma_c(g)
            h_t = self.sigma_g(o) * self.sigma_c(c_t)
            m = valid[:, t, None]
            h, c = torch.where(m, h_t, h), torch.where(m, c_t, c)
            outputs.append(torch.where(m, h_t, torch.zeros_like(h_t)))
        return torch.stack(outputs, dim=1), h, c

    def forward_with_state(self, x, lengths, h0, c0, need_state: bool = True):
        Y_f, h_f, c_f = self.direction(x, lengths, self.W[0], self.R[0], self.b[0], h0[0], c0[0])
        if self.dirs == 1:
            return Y_f, h_f[None], c_f[None]
        index = _reversal_index(lengths, x.shape[1])
        x_rev = torch.gather(x, 1, index[:, :, None].expand_as(x))
        Y_b, h_b, c_b = self.direction(x_rev, lengths, self.W[1], self.R[1], self.b[1], h0[1], c0[1])
        Y_b = torch.gather(Y_b, 1, index[:, :, None].expand_as(Y_b))
        return torch.cat([Y_f, Y_b], dim=2), torch.stack([h_f, h_b]), torch.stack([c_f, c_b])

    def learnables(self) -> dict[str, list[nn.Parameter]]:
        return {"InputWeights": list(self.W), "RecurrentWeights": list(self.R), "Bias": list(self.b)}

    def to_layer(self) -> LSTMLayer:
        def stacked(params) -> np.ndarray:
            return np.concatenate([p.detach().cpu().numpy() for p in params])

        return dataclasses.replace(self.spec, InputWeights=stacked(self.W), RecurrentWeights=stacked(self.R), Bias=stacked(self.b))


def _reversal_index(lengths: torch.Tensor, T: int) -> torch.Tensor:
    """index[n, t] = L_n - 1 - t for t < L_n, else t: reverses each sequence's valid steps in place."""
    t = torch.arange(T, device=lengths.device)[None, :]
    L = lengths[:, None]
    return torch.where(t < L, L - 1 - t, t)


class Dense(nn.Module):
    """fullyConnectedLayer: y = W x + b on the last axis."""

    def __init__(self, layer: FullyConnectedLayer) -> None:
        super().__init__()
        self.spec = layer
        self.linear = nn.Linear(layer.InputSize, layer.OutputSize)
        with torch.no_grad():
            self.linear.weight.copy_(_torch(layer.Weights))
            self.linear.bias.copy_(_torch(layer.Bias))

    def forward(self, x: torch.Tensor, lengths: torch.Tensor, sequence: bool) -> tuple[torch.Tensor, bool]:
        return self.linear(x), sequence

    def learnables(self) -> dict[str, list[nn.Parameter]]:
        return {"Weights": [self.linear.weight], "Bias": [self.linear.bias]}

    def to_layer(self) -> FullyConnectedLayer:
        return dataclasses.replace(self.spec, Weights=self.linear.weight.detach().cpu().numpy(), Bias=self.linear.bias.detach().cpu().numpy())


class TorchNetwork(nn.Module):
    """An initialized layer array as a module. ``forward`` returns logits when the network ends in softmax."""

    def __init__(self, layers: LayerArray, bilstm_last: str = "matlab") -> None:
        super().__init__()
        network = analyze(layers)
        self.specs = network.layers
        self.task = network.task
        self.sequence_output = network.sequence_output
        computing = [k for k, layer in enumerate(self.specs) if not isinstance(layer, (ClassificationOutputLayer, RegressionOutputLayer))]
        self.ends_in_softmax = isinstance(self.specs[computing[-1]], SoftmaxLayer)
        self.final_softmax = computing[-1] if self.ends_in_softmax else -1  # left to the loss / outputs()
        self.stages = nn.ModuleDict()
        self.order: list[str] = []
        for layer in self.specs:
            module = _stage(layer, bilstm_last)
            if module is not None:
                self.stages[_key(layer.Name)] = module
            self.order.append(layer.Name)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor, state: dict | None = None, final: dict | None = None) -> torch.Tensor:
        """Logits (after a final softmax) or outputs. ``state`` ``{layer: (h0, c0)}`` (``(h0,)`` for a gruLayer) replaces
        initial states; ``final``, if given, receives ``{layer: (h_n, c_n)}`` / ``(h_n,)`` (the state after each
        sequence's last valid step)."""
        sequence = True
        for k, layer in enumerate(self.specs):
            key = _key(layer.Name)
            if isinstance(layer, SequenceInputLayer):
                x = self.stages[key](x)
            elif isinstance(layer, (LSTMLayer, GRULayer)):
                x, sequence, carried = _recurrent(self.stages[key], x, lengths, sequence, None if state is None else state.get(layer.Name),
                                                  final is not None)
                if final is not None:
                    final[layer.Name] = carried
            elif isinstance(layer, FullyConnectedLayer):
                x, sequence = self.stages[key](x, lengths, sequence)
            elif isinstance(layer, DropoutLayer):
                x = self.stages[key](x)
            elif isinstance(layer, SoftmaxLayer) and k != self.final_softmax:
                x = torch.softmax(x, dim=-1)
            elif key in self.stages and type(layer) in STAGES:
                x, sequence, *changed = self.stages[key](x, lengths, sequence)
                lengths = changed[0] if changed else lengths  # a stage that changes lengths returns them third
        return x

    def outputs(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """The network's outputs (probabilities after a final softmax)."""
        y = self.forward(x, lengths)
        return torch.softmax(y, dim=-1) if self.ends_in_softmax else y

    def learnables(self) -> list[Learnable]:
        """Every trainable MATLAB learnable with its learn-rate and L2 factors (per-gate factors as row multipliers)."""
        out = []
        for layer in self.specs:
            key = _key(layer.Name)
            if key not in self.stages or not hasattr(self.stages[key], "learnables"):
                continue
            for name, params in self.stages[key].learnables().items():
                lr_factor, l2_factor = _factors(layer, name)
                hidden = getattr(layer, "NumHiddenUnits", None)
                orders = getattr(self.stages[key], "GATE_ORDERS", (gates.MATLAB, gates.PYTORCH))
                gate_count = len(orders[0])
                lr = [gate_rows(_direction(lr_factor, d, gate_count), hidden, p.dim(), orders) if hidden else float(lr_factor)
                      for d, p in enumerate(params)]
                l2 = [gate_rows(_direction(l2_factor, d, gate_count), hidden, p.dim(), orders) if hidden else float(l2_factor)
                      for d, p in enumerate(params)]
                out.append(Learnable(layer.Name, name, params, lr, l2))
        return out

    def to_layers(self) -> LayerArray:
        """The layer array with the current weights (float32, MATLAB layout)."""
        result = []
        for layer in self.specs:
            stage = self.stages[_key(layer.Name)] if _key(layer.Name) in self.stages else None
            result.append(stage.to_layer() if hasattr(stage, "to_layer") else layer)
        return LayerArray(result)


def _recurrent(module: nn.Module, x: torch.Tensor, lengths: torch.Tensor, sequence: bool, state, *options):
    """A recurrent stage ``module(x, lengths, state, *options)``: ``(output, is_sequence, final state)``.

    After a layer with OutputMode 'last' the input is one step ``[N, C]``: it
    runs as a one-step sequence ``[N, 1, C]`` and gives one step ``[N, H]``.
    """
    if sequence:
        return module(x, lengths, state, *options)
    y, steps, carried = module(x[:, None, :], torch.ones_like(lengths), state, *options)
    return (y[:, 0] if steps else y), False, carried


def _direction(factor, direction: int, gate_count: int):
    """Direction ``direction``'s part of a factor: a bilstmLayer's 1-by-8 factor holds the forward direction's gates,
    then the backward's; a scalar or a 1-by-4 factor applies to every direction."""
    if isinstance(factor, tuple) and len(factor) > gate_count:
        return factor[direction * gate_count : (direction + 1) * gate_count]
    return factor


def _factors(layer: Layer, learnable: str):
    prefix = "Weight" if learnable == "Weights" else learnable  # MATLAB: Weights' factors are Weight*Factor
    prefix = "Bias" if learnable == "RecurrentBias" else prefix  # gruLayer: one set of bias factors for both biases
    prefix = getattr(layer, "FACTOR_PREFIXES", {}).get(learnable, prefix)  # a layer naming its own (selfAttentionLayer)
    return getattr(layer, f"{prefix}LearnRateFactor"), getattr(layer, f"{prefix}L2Factor")


Stage = Callable[[Layer], nn.Module]
STAGES: dict[type[Layer], Stage] = {}


def stage(layer_type: type[Layer]) -> Callable[[Stage], Stage]:
    """Register a family's torch module factory; the module's ``forward(x, lengths, sequence)`` returns ``(y, sequence)``,
    or ``(y, sequence, new_lengths)`` when it changes the sequence lengths (strided/padded convolution, pooling)."""

    def register(factory: Stage) -> Stage:
        STAGES[layer_type] = factory
        return factory

    return register


def _stage(layer: Layer, bilstm_last: str) -> nn.Module | None:
    if type(layer) in STAGES:
        return STAGES[type(layer)](layer)
    if isinstance(layer, SequenceInputLayer):
        return Normalize(layer)
    if isinstance(layer, LSTMLayer):
        default = (layer.GateActivationFunction, layer.StateActivationFunction) == ("sigmoid", "tanh")
        return TorchLSTM(layer, bilstm_last) if default else CellLSTM(layer, bilstm_last)
    if isinstance(layer, FullyConnectedLayer):
        return Dense(layer)
    if isinstance(layer, DropoutLayer):
        return nn.Dropout(layer.Probability)
    return None


def _key(name: str) -> str:
    """ModuleDict keys cannot contain '.'; layer names may."""
    return "layer_" + name.replace(".", "\u2024")


def _torch(array: np.ndarray) -> torch.Tensor:
    return torch.tensor(np.asarray(array, np.float32))


# -- layer families (imported last: they register with @stage) -----------------------------------

from . import torch_activation, torch_normalization  # noqa: E402,F401
from . import torch_convolution  # noqa: E402,F401
from . import torch_gru  # noqa: E402,F401
from . import torch_projected  # noqa: E402,F401
from . import torch_group_normalization  # noqa: E402,F401
from . import torch_attention  # noqa: E402,F401
