"""MATLAB's prediction functions on the torch side: predict, classify, predictAndUpdateState,
classifyAndUpdateState and resetState, for a trained network, a dlnetwork (see ``dlnetwork``)
or an initialized layer array.

Every result is what MATLAB gives for that sequence run alone (MiniBatchSize 1), and it is
the same *bit for bit* whatever MiniBatchSize is and whichever other sequences come along:
each sequence runs alone, in input order. (A batched matrix product picks its blocking from
the number of rows, so a sequence's float32 sums, and its scores, drift by ~1e-7 with the
batch composition; one row at a time fixes the summation order. Serving at speed is the
runtime's job; this front end checks and reproduces.)

Options (MATLAB's names, name-value pairs or keywords, names case-insensitive):

- ``MiniBatchSize`` (default 128): with SequenceLength 'shortest', the groups (in input order)
  whose shortest member truncates the others, as MATLAB's mini-batches; otherwise no effect.
- ``SequenceLength``: 'longest' (default), 'shortest', or an integer S: sequences run in chunks
  of S steps with the recurrent state carried (MATLAB's splitting; equal to 'longest' up to
  float32 rounding; refused for a bilstmLayer, whose backward direction needs the whole sequence).
- ``SequencePaddingValue``, ``SequencePaddingDirection`` ('right'/'left'): validated; they
  cannot change a result, since padded steps are never computed.
- ``ExecutionEnvironment``: 'auto' and 'cpu' run on the CPU (where the trained network lives),
  'gpu' on CUDA (an error without one; TF32 off). MATLAB's 'multi-gpu' and 'parallel' run as 'auto'.
- ``Acceleration`` ('auto', 'mex', 'none'): validated; no effect (torch has no MEX path).

The stateful functions follow MATLAB: ``predictAndUpdateState(net, X)`` returns
``(updatedNet, Y)`` whose state (per sequence, every lstmLayer's hidden and cell state) is
where these sequences ended; ``predict``/``classify`` start from the network's state too;
``resetState(net)`` returns to HiddenState/CellState. Y1 ++ Y2 == predict(X1 ++ X2).
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._torch import torch  # before anything else imports torch: a missing torch gets the install hint

from ..errors import LayerError, Lstm2OnnxError
from ..layers import GRULayer, LSTMLayer
from ..network import LayerArray, analyze
from ..values import name_value
from .options import _check as check_training_option
from .options import _flag as training_flag
from .torch_net import TorchNetwork

State = dict[str, tuple[np.ndarray, ...]]  # layer Name -> (h [N, H], c [N, H]); N == 1 stands for every sequence


@dataclass(frozen=True)
class PredictOptions:
    """MATLAB's prediction options (see the module docstring for what each does here)."""

    MiniBatchSize: int = 128
    SequenceLength: str | int = "longest"
    SequencePaddingValue: float = 0.0
    SequencePaddingDirection: str = "right"
    ExecutionEnvironment: str = "auto"
    Acceleration: str = "auto"


OPTION_NAMES = [f.name for f in dataclasses.fields(PredictOptions)]
TRAINING_NAMES = ("MiniBatchSize", "SequenceLength", "SequencePaddingValue", "SequencePaddingDirection")  # as trainingOptions checks them
ENVIRONMENTS = ("auto", "cpu", "gpu", "multi-gpu", "parallel")
ACCELERATIONS = ("auto", "mex", "none")


def parse_options(function: str, args: tuple, kwargs: dict[str, Any], extra: tuple[str, ...] = ()) -> tuple[PredictOptions, dict[str, Any]]:
    """Checked options, and the values of the ``extra`` names the caller handles itself."""
    given = name_value(function, args, kwargs, [*OPTION_NAMES, *extra])
    rest = {name: given.pop(name) for name in extra if name in given}
    checked = {name: _as_in_training(function, name, value) for name, value in given.items() if name in TRAINING_NAMES}
    checked["ExecutionEnvironment"] = _choice(function, "ExecutionEnvironment", given.get("ExecutionEnvironment", "auto"), ENVIRONMENTS)
    checked["Acceleration"] = _choice(function, "Acceleration", given.get("Acceleration", "auto"), ACCELERATIONS)
    return PredictOptions(**checked), rest


def _as_in_training(function: str, name: str, value: Any, check: Any = check_training_option) -> Any:
    """The option checked as trainingOptions checks it (or its flags, ``check=training_flag``), the message naming ``function``."""
    try:
        return check(name, value)
    except LayerError as error:
        raise LayerError(str(error).replace("trainingOptions:", f"{function}:", 1)) from None


def _choice(function: str, name: str, value: Any, allowed: tuple[str, ...]) -> str:
    if isinstance(value, str) and value.lower() in allowed:
        return value.lower()
    raise Lstm2OnnxError(f"{function}: {name} must be one of {', '.join(map(repr, allowed))}, got {value!r}")


def as_sequences(function: str, X: Any, features: int) -> tuple[list[np.ndarray], str]:
    """float32 ``[T, F]`` arrays and the input's form: 'single' (one 2-D array), 'array' (``[N, T, F]``) or 'list'."""
    if isinstance(X, np.ndarray) and X.ndim == 2:
        items, form = [X], "single"
    elif isinstance(X, np.ndarray) and X.ndim == 3:
        items, form = list(X), "array"
    elif isinstance(X, (list, tuple)) and len(X):
        items, form = list(X), "list"
    else:
        raise Lstm2OnnxError(f"{function}: expected a list of [time, {features}] arrays, one such array, or a [batch, time, {features}] array, "
                             f"got {type(X).__name__}{getattr(X, 'shape', '')}")
    sequences = []
    for k, x in enumerate(items, 1):
        x = np.asarray(x, np.float32)
        if x.ndim != 2 or x.shape[1] != features or len(x) == 0:
            hint = "; it looks like MATLAB's features-by-time layout: pass x.T" if x.ndim == 2 and x.shape[0] == features else ""
            raise Lstm2OnnxError(f"{function}: sequence {k} must be a non-empty [time, {features}] array, got shape {x.shape}{hint}")
        sequences.append(x)
    return sequences, form


def shape_like_input(outputs: list[np.ndarray], form: str, sequence_output: bool):
    """``[K]``/``[T, K]`` for one sequence, ``[N, K]`` after OutputMode 'last', else a list of ``[T_n, K]``
    (stacked ``[N, T, K]`` for a 3-D input whose outputs have equal lengths)."""
    if form == "single":
        return outputs[0]
    if not sequence_output or (form == "array" and len({len(o) for o in outputs}) == 1):
        return np.stack(outputs)
    return outputs


CARRIED = (LSTMLayer, GRULayer)  # the layer kinds whose state the torch stages carry


def recurrent_layers(module: TorchNetwork) -> list[str]:
    """Names of the layers that hold a state (every layer kind with a HiddenState property)."""
    return [layer.Name for layer in module.specs if hasattr(layer, "HiddenState")]


def bidirectional_layers(module: TorchNetwork) -> list[str]:
    return [layer.Name for layer in module.specs if getattr(layer, "DIRECTIONS", 1) == 2]


def initial_state(module: TorchNetwork) -> State:
    """Every lstmLayer's HiddenState/CellState (a gruLayer's HiddenState) as one-row ``[1, H]`` float32 arrays."""
    state: State = {}
    for layer in module.specs:
        if isinstance(layer, CARRIED) and layer.DIRECTIONS == 1:
            H = layer.NumHiddenUnits
            values = (layer.HiddenState,) if isinstance(layer, GRULayer) else (layer.HiddenState, layer.CellState)
            state[layer.Name] = tuple(np.zeros((1, H), np.float32) if v is None else np.asarray(v, np.float32).reshape(1, H) for v in values)
    return state


def require_streaming(module: TorchNetwork, function: str, why: str = "") -> None:
    """Carrying state is defined for unidirectional lstmLayers: refuse a bilstm (its backward direction would have to
    run from the future) and any recurrent kind whose state the torch stages do not carry."""
    bidirectional = bidirectional_layers(module)
    if bidirectional:
        raise Lstm2OnnxError(f"{function}: layer {bidirectional[0]!r} is a bilstmLayer, whose backward direction needs the whole "
                             f"sequence, so its state cannot be carried from one call (or chunk) to the next{why}")
    carried = {layer.Name for layer in module.specs if isinstance(layer, CARRIED)}
    other = [name for name in recurrent_layers(module) if name not in carried]
    if other:
        raise Lstm2OnnxError(f"{function}: the torch front end carries the state of lstmLayers and gruLayers only; layer {other[0]!r} "
                             f"would start afresh each call{why}; use the ONNX runtime for it")


def device_for(options: PredictOptions, function: str) -> torch.device:
    if options.ExecutionEnvironment != "gpu":
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise Lstm2OnnxError(f"{function}: ExecutionEnvironment 'gpu' was asked for, but torch sees no CUDA device; use 'auto' or 'cpu'")
    return torch.device("cuda")


def truncated_lengths(lengths: np.ndarray, options: PredictOptions) -> np.ndarray:
    """The steps each sequence runs: all of them, or with 'shortest' its input-order group's shortest length."""
    if options.SequenceLength != "shortest":
        return lengths
    size = options.MiniBatchSize
    return np.concatenate([np.full(len(lengths[k : k + size]), lengths[k : k + size].min()) for k in range(0, len(lengths), size)])


@torch.no_grad()
def run_sequences(module: TorchNetwork, sequences: list[np.ndarray], options: PredictOptions, state: State | None,
                  function: str) -> tuple[list[np.ndarray], State]:
    """Outputs (probabilities after a final softmax) per sequence, each computed alone, and the final state.

    ``state`` gives each lstmLayer's ``(h, c)`` ``[N or 1, H]`` before the first step (None: the layers'
    HiddenState/CellState); the returned state holds ``[N, H]`` after each sequence's last step run.
    """
    from .trainer import float32_math

    n = len(sequences)
    lengths = truncated_lengths(np.array([len(x) for x in sequences]), options)
    chunk = options.SequenceLength if isinstance(options.SequenceLength, int) else None
    if chunk is not None and lengths.max() > chunk:
        require_streaming(module, function, f" (needed for SequenceLength={chunk})")
    if state is not None:
        for name, (h, *_) in state.items():
            if len(h) not in (1, n):
                raise Lstm2OnnxError(f"{function}: the network's state holds {len(h)} sequences (from an earlier predictAndUpdateState), "
                                     f"but {n} were given; pass {len(h)} sequences or call resetState first")
    device = device_for(options, function)
    net = module if device.type == "cpu" else copy.deepcopy(module).to(device)
    net.eval()
    outputs: list[np.ndarray] = []
    finals: list[dict] = []
    with float32_math():
        for k, (x, L) in enumerate(zip(sequences, lengths)):
            carried = None if state is None else {name: tuple(torch.from_numpy(np.ascontiguousarray(v[k if len(v) > 1 else 0]))[None, None].to(device)
                                                              for v in pair) for name, pair in state.items()}
            pieces = []
            for start in range(0, int(L), chunk or int(L)):
                part = x[start : min(int(L), start + (chunk or int(L)))]
                final: dict = {}
                y = net(torch.from_numpy(part)[None].to(device), torch.tensor([len(part)], device=device), carried, final)
                pieces.append((torch.softmax(y, dim=-1) if net.ends_in_softmax else y)[0].cpu().numpy())
                carried = final
            outputs.append(np.concatenate(pieces) if net.sequence_output else pieces[-1])
            finals.append(carried)
    names = [name for name in finals[0] if finals[0][name][0].shape[0] == 1] if finals[0] else []
    final_state = {name: tuple(np.concatenate([f[name][j][0].cpu().numpy() for f in finals]) for j in range(len(finals[0][name])))
                   for name in names}
    return outputs, final_state


def as_module(net: Any) -> tuple[TorchNetwork, tuple[str, ...] | None]:
    """The torch module and class names of a trained network (or a dlnetwork, or an initialized layer array)."""
    module = getattr(net, "module", None)
    if isinstance(module, TorchNetwork):
        return module, getattr(net, "Classes", None)
    layers = LayerArray(getattr(net, "Layers", net))
    network = analyze(layers)
    return TorchNetwork(layers).eval(), tuple(network.classes) if network.classes else None


def outputs_and_state(net: Any, X: Any, function: str, args: tuple, kwargs: dict, categorical: bool = False):
    """``(Y, final state)`` of ``net`` on X from the network's own state, with ``function``'s options checked.

    ``categorical``: the function takes MATLAB's ReturnCategorical (SeriesNetwork's predict and
    predictAndUpdateState; not classify, nor a dlnetwork's predict): when true, a network ending in a
    classificationLayer gives its labels instead of its scores (other networks' outputs stay numbers, as MATLAB's)."""
    options, extra = parse_options(function, args, kwargs, ("ReturnCategorical",) if categorical else ())
    module, _ = as_module(net)
    sequences, form = as_sequences(function, X, module.specs[0].InputSize)
    module.specs[0].check_lengths([len(x) for x in sequences], function)
    outputs, final = run_sequences(module, sequences, options, getattr(net, "state", None), function)
    Y = shape_like_input(outputs, form, module.sequence_output)
    if "ReturnCategorical" in extra and _as_in_training(function, "ReturnCategorical", extra["ReturnCategorical"], training_flag) \
            and module.task == "classification":
        Y = labels_of(class_names(net, Y), Y)
    return Y, final


def predict(net: Any, X: Any, *args: Any, return_state: bool = False, **kwargs: Any):
    """Outputs of a trained network, a dlnetwork or an initialized layer array: ``[N, K]`` after OutputMode 'last',
    else a list of ``[T_n, K]`` (``[K]``/``[T, K]`` for one 2-D sequence); probabilities when the network ends in
    softmax. Starts from the network's state (see :func:`predictAndUpdateState`). For a dlnetwork,
    ``return_state=True`` gives ``(Y, state)`` as MATLAB's ``[Y, state] = predict(net, X)`` (see ``dlnetwork``).
    ``ReturnCategorical=True`` (MATLAB's option, default false) gives a classification network's labels instead
    (not for a dlnetwork: its predict has no such option)."""
    from ._dlnetwork import DLNetwork, predict as predict_with_state

    if return_state:
        return predict_with_state(net, X, *args, return_state=True, **kwargs)
    return outputs_and_state(net, X, "predict", args, kwargs, categorical=not isinstance(net, DLNetwork))[0]


def class_names(net: Any, scores: Any) -> np.ndarray:
    """The class names of ``net``, or ``'1'..'K'`` when it has none (MATLAB's 'auto' classes); a regression network has none."""
    module, classes = as_module(net)
    if module.task == "regression":
        raise Lstm2OnnxError("classify: the network ends in a regressionLayer: it has responses, not classes; use predict")
    if classes:
        return np.asarray(classes)
    K = np.shape(scores[0] if isinstance(scores, list) else scores)[-1]
    return np.asarray([str(k) for k in range(1, K + 1)])


def labels_of(names: np.ndarray, scores: Any):
    if isinstance(scores, list):
        return [names[s.argmax(-1)] for s in scores]
    return names[np.asarray(scores).argmax(-1)]


def classify(net: Any, X: Any, *args: Any, **kwargs: Any):
    """``(labels, scores)`` like MATLAB's classify: labels are the class names (``'1'``..``'K'`` when 'auto')."""
    scores = outputs_and_state(net, X, "classify", args, kwargs)[0]
    return labels_of(class_names(net, scores), scores), scores


def _stateful(net: Any, function: str, streaming: bool = True) -> TorchNetwork:
    module = getattr(net, "module", None)
    if not isinstance(module, TorchNetwork) or not hasattr(net, "state"):
        raise Lstm2OnnxError(f"{function}: expected a trained network (from trainNetwork or trainnet) or a dlnetwork, got {type(net).__name__}")
    if streaming:
        require_streaming(module, function)
    return module


def predictAndUpdateState(net: Any, X: Any, *args: Any, **kwargs: Any):
    """``(updatedNet, Y)``: :func:`predict`, and a copy of the network whose state is where these sequences ended.

    Calling it again with the next chunk of the same sequences continues them:
    ``Y1 ++ Y2 == predict(net, X1 ++ X2)``. ``net`` itself is not changed. ``ReturnCategorical`` as in :func:`predict`.
    """
    _stateful(net, "predictAndUpdateState")
    Y, final = outputs_and_state(net, X, "predictAndUpdateState", args, kwargs, categorical=True)
    return dataclasses.replace(net, state=final), Y


def classifyAndUpdateState(net: Any, X: Any, *args: Any, **kwargs: Any):
    """``(updatedNet, labels, scores)``, as :func:`predictAndUpdateState` with labels."""
    _stateful(net, "classifyAndUpdateState")
    scores, final = outputs_and_state(net, X, "classifyAndUpdateState", args, kwargs)
    return dataclasses.replace(net, state=final), labels_of(class_names(net, scores), scores), scores


def resetState(net: Any):
    """A copy of the network with every layer's state back to its HiddenState/CellState."""
    _stateful(net, "resetState", streaming=False)
    return dataclasses.replace(net, state=None)
