"""MATLAB's R2023b+ network object and its functions: dlnetwork, predict with state, minibatchpredict, scores2label.

``net = dlnetwork(layers)`` initializes a layer array (MATLAB's initializers, from ``seed``); layer
arrays without an output layer are the norm here (trainnet takes the loss separately). The object
holds ``Layers``, the ``Learnables`` and ``State`` tables (rows Layer, Parameter, Value; state
values are H-by-N, MATLAB's layout: one column per sequence), ``InputNames``/``OutputNames``, and
the torch module the functions run.

Stateful use as MATLAB documents it::

    Y, state = predict(net, X, return_state=True)   # MATLAB: [Y, state] = predict(net, X)
    net.State = state                                # the next call continues these sequences
    net = resetState(net)                            # back to HiddenState/CellState

``exportONNXNetwork(net, filename)`` builds the same graph as for the layer array; class names
(``net.Classes``, set by trainnet from label targets) go into the model's metadata, so the runtime's
classify returns them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Iterator, Sequence

import numpy as np

from ..errors import Lstm2OnnxError
from ..layers import ClassificationOutputLayer, Layer, RegressionOutputLayer
from ..network import LayerArray, analyze, initialize
from . import inference
from .torch_net import TorchNetwork


@dataclass(frozen=True)
class Table:
    """MATLAB's Learnables/State table: rows of (Layer, Parameter, Value); ``table["lstm", "HiddenState"]`` is a Value."""

    Layer: tuple[str, ...]
    Parameter: tuple[str, ...]
    Value: tuple[np.ndarray, ...]

    def __len__(self) -> int:
        return len(self.Layer)

    def __iter__(self) -> Iterator[tuple[str, str, np.ndarray]]:
        return iter(zip(self.Layer, self.Parameter, self.Value))

    def __getitem__(self, key: tuple[str, str] | str) -> Any:
        """``table["lstm", "Bias"]``: that row's Value; ``table["Value"]``: a whole column (as ``table.Value``)."""
        if isinstance(key, str):
            if key in ("Layer", "Parameter", "Value"):
                return getattr(self, key)
            raise KeyError(f"no column {key!r}: the columns are 'Layer', 'Parameter', 'Value'; a row is table[layer, parameter]")
        for layer, parameter, value in self:
            if (layer, parameter) == tuple(key):
                return value
        raise KeyError(f"no row {tuple(key)!r}; rows: {list(zip(self.Layer, self.Parameter))}")

    def __str__(self) -> str:
        lines = [f"  {len(self)}x3 table", "", f"    {'Layer':<16}{'Parameter':<20}Value", ""]
        for layer, parameter, value in self:
            lines.append(f"    {layer!r:<16}{parameter!r:<20}{{{'x'.join(map(str, value.shape))} {value.dtype}}}")
        return "\n".join(lines)


@dataclass
class DLNetwork:
    """A dlnetwork: ``Layers`` (initialized, with learnables), the torch ``module``, and the recurrent state.

    ``Classes``: the class names when trainnet learned from labels (not a MATLAB property: MATLAB
    keeps them with the data; here they travel to scores2label's default and the ONNX metadata).
    """

    Layers: LayerArray
    module: TorchNetwork = field(repr=False)
    state: dict | None = field(default=None, repr=False)  # layer -> (h [N, H], c [N, H]); None: HiddenState/CellState
    Classes: tuple[str, ...] | None = None

    Initialized = True

    @property
    def InputNames(self) -> list[str]:
        return [self.Layers[0].Name]

    @property
    def OutputNames(self) -> list[str]:
        return [self.Layers[-1].Name]

    @property
    def Learnables(self) -> Table:
        """Every layer's learnable properties (MATLAB layout, float32), in layer order."""
        rows = [(layer.Name, f.name, np.asarray(getattr(layer, f.name)))
                for layer in self.Layers for f in dataclasses.fields(layer)
                if f.metadata.get("learnable") and getattr(layer, f.name) is not None]
        return _table(rows)

    @property
    def State(self) -> Table:
        """Each lstmLayer's HiddenState and CellState, H-by-N (N sequences; 1 before any stateful call)."""
        state = self.state if self.state is not None else inference.initial_state(self.module)
        rows = []
        for name, values in state.items():
            rows += [(name, parameter, np.ascontiguousarray(value.T)) for parameter, value in zip(("HiddenState", "CellState"), values)]
        return _table(rows)

    @State.setter
    def State(self, table: Table) -> None:
        if not isinstance(table, Table):
            raise Lstm2OnnxError(f"dlnetwork: State must be a state table (from predict(net, X, return_state=True)), got {type(table).__name__}")
        current = self.State
        if list(zip(table.Layer, table.Parameter)) != list(zip(current.Layer, current.Parameter)):
            raise Lstm2OnnxError(f"dlnetwork: the state table's rows {list(zip(table.Layer, table.Parameter))} do not match the "
                                 f"network's {list(zip(current.Layer, current.Parameter))}")
        state: dict[str, list[np.ndarray]] = {}
        for layer, parameter, value in table:
            expected = current[layer, parameter].shape[0]
            value = np.asarray(value, np.float32)
            if value.ndim != 2 or value.shape[0] != expected:
                raise Lstm2OnnxError(f"dlnetwork: State {layer}/{parameter} must be {expected}-by-N, got shape {value.shape}")
            state.setdefault(layer, []).append(np.ascontiguousarray(value.T))
        self.state = {name: tuple(values) for name, values in state.items()}

    def __str__(self) -> str:
        return f"dlnetwork with {len(self.Layers)} layers:\n{self.Layers}"


def _table(rows: list[tuple[str, str, np.ndarray]]) -> Table:
    return Table(tuple(r[0] for r in rows), tuple(r[1] for r in rows), tuple(r[2] for r in rows))


def dlnetwork(layers: Sequence[Layer] | Any, *, seed: int = 0, Classes: Sequence[str] | None = None) -> DLNetwork:
    """MATLAB's ``net = dlnetwork(layers)``: an initialized network (unset learnables drawn from ``seed``).

    As in MATLAB, output layers (classificationLayer, regressionLayer) are not allowed: the loss is
    trainnet's argument. A trained network (``.Layers``) keeps its learnables.
    """
    layers = LayerArray(getattr(layers, "Layers", layers))
    for layer in layers:
        if isinstance(layer, (ClassificationOutputLayer, RegressionOutputLayer)):
            raise Lstm2OnnxError(f"dlnetwork: {layer.where()}: output layers are not supported in a dlnetwork (MATLAB refuses them too); "
                                 "remove it and give trainnet the loss, e.g. \"crossentropy\"")
    net = initialize(layers, seed)
    network = analyze(net)
    classes = tuple(str(c) for c in Classes) if Classes is not None else None
    if classes is not None and len(classes) != network.output_size:
        raise Lstm2OnnxError(f"dlnetwork: {len(classes)} class names for a network with {network.output_size} outputs")
    return DLNetwork(network.layers, TorchNetwork(network.layers).eval(), None, classes)


def _check(net: Any, function: str) -> DLNetwork:
    if not isinstance(net, DLNetwork):
        raise Lstm2OnnxError(f"{function}: expected a dlnetwork (from dlnetwork(layers) or trainnet), got {type(net).__name__}")
    return net


def predict(net: DLNetwork, X: Any, *args: Any, return_state: bool = False, **kwargs: Any):
    """``Y = predict(net, X)``, or with ``return_state=True`` ``(Y, state)`` (MATLAB: ``[Y, state] = predict(net, X)``).

    X: one ``[T, C]`` sequence, a list of them, or a ``[N, T, C]`` array; Y as :func:`lstm2onnx.predict`.
    Starts from ``net.State``; the returned state is where each sequence ended (H-by-N columns in
    input order); ``net`` itself is not changed until you assign ``net.State = state``.
    """
    _check(net, "predict")
    if return_state:
        inference.require_streaming(net.module, "predict", " (asked for with return_state=True)")
    Y, final = inference.outputs_and_state(net, X, "predict", args, kwargs)
    if not return_state:
        return Y
    return Y, dataclasses.replace(net, state=final).State


def minibatchpredict(net: DLNetwork, X: Any, *args: Any, **kwargs: Any):
    """MATLAB's ``scores = minibatchpredict(net, X, MiniBatchSize=128, ...)``.

    Options: MiniBatchSize, SequenceLength, SequencePaddingValue, SequencePaddingDirection,
    ExecutionEnvironment, Acceleration (see :mod:`lstm2onnx.training.inference`: every sequence's
    result is the one it gets alone, bit for bit whatever MiniBatchSize is), ``InputDataFormats``
    ('auto' = ``[N, T, C]``/``[T, C]``; e.g. 'CTB' for MATLAB-layout arrays) and ``UniformOutput``
    (default true: sequence outputs of equal lengths come as one ``[N, T, K]`` array, ragged ones as
    a list, MATLAB would pad them; false: always a list). Returns ``[N, K]`` for one step per sequence.
    """
    _check(net, "minibatchpredict")
    options, extra = inference.parse_options("minibatchpredict", args, kwargs, ("InputDataFormats", "UniformOutput"))
    X = to_native(X, extra.get("InputDataFormats", "auto"), "minibatchpredict: InputDataFormats")
    uniform = extra.get("UniformOutput", True)
    if not isinstance(uniform, (bool, np.bool_)):
        raise Lstm2OnnxError(f"minibatchpredict: UniformOutput must be true or false, got {uniform!r}")
    sequences, form = inference.as_sequences("minibatchpredict", X, net.module.specs[0].InputSize)
    net.module.specs[0].check_lengths([len(x) for x in sequences], "minibatchpredict")
    outputs, _ = inference.run_sequences(net.module, sequences, options, net.state, "minibatchpredict")
    if not net.module.sequence_output:
        return np.stack(outputs)
    if uniform and len({len(o) for o in outputs}) == 1:
        return np.stack(outputs)
    return outputs


def to_native(X: Any, fmt: str, what: str) -> Any:
    """Data in a MATLAB data format (letters B, T, C; e.g. 'CTB') as this project's layout: ``[N, T, C]`` arrays,
    ``[T, C]`` sequences (a list's items in the format without B, e.g. 'CT' for MATLAB's cell arrays)."""
    if fmt == "auto" or fmt is None:
        return X
    from .options import _check as check_option

    fmt = check_option("InputDataFormats", fmt)
    if isinstance(X, np.ndarray):
        target = [c for c in "BTC" if c in fmt]
        if X.ndim != len(fmt):
            raise Lstm2OnnxError(f"{what} {fmt!r} has {len(fmt)} dimensions, the data {X.ndim} (shape {X.shape})")
        return np.transpose(X, [fmt.index(c) for c in target])
    per_item = fmt.replace("B", "")
    return [to_native(np.asarray(x), per_item, what) for x in X]


def scores2label(scores: Any, classNames: Sequence[str] | Any = None, dim: int | str = "auto") -> Any:
    """MATLAB's ``labels = scores2label(scores, classNames, dim)``: the class with the highest score along the
    channel dimension; a list of ``[T, K]`` score arrays gives a list of label arrays. ``classNames`` may also be
    a network with ``Classes``. ``dim`` counts from 1 as in MATLAB (``2`` for ``[N, K]`` scores, ``1`` for
    MATLAB's ``[K, N]``); 'auto' (default) is the last dimension, where this project keeps the classes. A
    negative ``dim`` counts from the end, as numpy's axes do."""
    names = getattr(classNames, "Classes", classNames)
    if names is None:
        raise Lstm2OnnxError("scores2label: classNames must be given (a list of K class names)")
    names = np.asarray([str(c) for c in names])
    if isinstance(scores, list):
        return [scores2label(s, names, dim) for s in scores]
    scores = np.asarray(scores)
    if scores.ndim == 0:
        raise Lstm2OnnxError(f"scores2label: scores must be an array with a dimension of {len(names)} class scores, got a scalar")
    axis = _channel_axis(scores.shape, dim)
    if scores.shape[axis] != len(names):
        raise Lstm2OnnxError(f"scores2label: {len(names)} class names but the scores have {scores.shape[axis]} "
                             f"entries along dimension {dim} (shape {scores.shape})")
    return names[scores.argmax(axis=axis)]


def _channel_axis(shape: tuple[int, ...], dim: int | str) -> int:
    """The numpy axis of MATLAB's ``dim`` (see scores2label)."""
    if isinstance(dim, str) and dim.lower() == "auto":
        return len(shape) - 1
    if isinstance(dim, (int, np.integer)) and not isinstance(dim, bool) and dim != 0 and -len(shape) <= dim <= len(shape):
        return int(dim) - 1 if dim > 0 else len(shape) + int(dim)
    raise Lstm2OnnxError(f"scores2label: dim must be 'auto' or a dimension of the scores counted from 1 (MATLAB's) or from the end "
                         f"(negative), 1..{len(shape)} or -{len(shape)}..-1 here, got {dim!r}")
