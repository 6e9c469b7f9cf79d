"""Layer arrays: MATLAB-style display, network checks, size inference, initialization.

:func:`analyze` runs every network-level check before anything is emitted
and returns a :class:`Network`: the layers with names assigned and 'auto'
sizes resolved, each with its input/output size. :func:`initialize` also
fills unset learnables MATLAB's way from a seed.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Iterable, Sequence

import numpy as np

from .errors import NetworkError
from .layers import (
    OUTPUT_LAYERS,
    ClassificationOutputLayer,
    Layer,
    RegressionOutputLayer,
    SequenceInputLayer,
    SoftmaxLayer,
)


class LayerArray(list):
    """A list of layers that prints like MATLAB's ``Layer array``."""

    def __str__(self) -> str:
        return layer_table(self)

    def __repr__(self) -> str:
        return layer_table(self)

    def to_dict(self, learnables: bool = True) -> list[dict[str, Any]]:
        """JSON-ready spec of every layer (see :meth:`Layer.to_dict`)."""
        return [layer.to_dict(learnables) for layer in self]

    @classmethod
    def from_dict(cls, specs: Iterable[dict[str, Any]]) -> "LayerArray":
        return cls(Layer.from_dict(spec) for spec in specs)


def layer_table(layers: Sequence[Layer]) -> str:
    """``5x1 Layer array with layers:`` and one row per layer: index, Name, Type, Description."""
    rows = [(str(i), f"'{layer.Name}'", layer.TYPE, layer.description()) for i, layer in enumerate(layers, 1)]
    lines = [f"  {len(layers)}x1 Layer array with layers:", ""]
    if rows:
        widths = [max(len(row[k]) for row in rows) for k in range(3)]
        for index, name, kind, text in rows:
            lines.append(f"    {index:>{widths[0] + 1}}   {name:<{widths[1]}}   {kind:<{widths[2]}}   {text}")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class LayerInfo:
    """One analyzed layer: the resolved layer, its 1-based index and its sizes."""

    index: int
    layer: Layer
    input_size: int | None
    output_size: int
    sequence_output: bool


@dataclass(frozen=True)
class Network:
    """The result of :func:`analyze`."""

    infos: tuple[LayerInfo, ...]

    @property
    def layers(self) -> LayerArray:
        return LayerArray(info.layer for info in self.infos)

    @property
    def input_layer(self) -> SequenceInputLayer:
        return self.infos[0].layer  # type: ignore[return-value]

    @property
    def output_size(self) -> int:
        return self.infos[-1].output_size

    @property
    def sequence_output(self) -> bool:
        return self.infos[-1].sequence_output

    @property
    def task(self) -> str:
        """'classification', 'regression' or 'none' (no output layer)."""
        last = self.infos[-1].layer
        if isinstance(last, ClassificationOutputLayer):
            return "classification"
        if isinstance(last, RegressionOutputLayer):
            return "regression"
        return "none"

    @property
    def classes(self) -> list[str] | None:
        last = self.infos[-1].layer
        if isinstance(last, ClassificationOutputLayer) and isinstance(last.Classes, tuple):
            return list(last.Classes)
        return None


def label(index: int, layer: Layer) -> str:
    """``layer 2 'lstm_1' (lstmLayer)`` — how network errors name a layer."""
    name = f" '{layer.Name}'" if layer.Name else ""
    return f"layer {index}{name} ({layer.FUNCTION})"


def analyze(layers: Sequence[Layer] | Any, *, need_statistics: bool = True) -> Network:
    """Check a layer array and infer every size, before anything is emitted.

    Raises :class:`NetworkError` naming the layer for: a missing or misplaced
    input layer, duplicate names, an InputSize or learnable that contradicts
    the inferred sizes, an output layer that is not last, a classification layer without a softmax before
    it or whose Classes disagree with it, and (``need_statistics``)
    normalization statistics that are missing.
    """
    layers = _as_layer_list(layers)
    _check_order(layers)
    layers = _assign_names(layers)
    infos: list[LayerInfo] = []
    size, sequence = 0, True
    for index, layer in enumerate(layers, 1):
        where = label(index, layer)
        input_size = None if index == 1 else size
        size, sequence = layer.infer(size, sequence, where)
        if input_size is not None:
            layer = layer.resolved(input_size)
        infos.append(LayerInfo(index, layer, input_size, size, sequence))
    first = layers[0]
    assert isinstance(first, SequenceInputLayer)
    if need_statistics and first.missing_statistics():
        missing = " and ".join(first.missing_statistics())
        raise NetworkError(
            f"{label(1, first)}: Normalization '{first.Normalization}' needs {missing}; give them "
            "(InputSize-by-1 vectors or scalars) or let trainNetwork compute them from the training data"
        )
    return Network(tuple(infos))


def initialize(layers: Sequence[Layer], seed: int = 0) -> LayerArray:
    """The checked layer array with names assigned, sizes resolved and unset learnables drawn.

    Each learnable comes from ``numpy.random.default_rng((seed, layer index,
    parameter index))`` by the layer's MATLAB initializer; learnables that
    are set are kept as given. Unset HiddenState/CellState stay unset (zeros).
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise NetworkError(f"seed must be a nonnegative integer, got {seed!r}")
    network = analyze(layers, need_statistics=False)

    def filled(info: LayerInfo) -> Layer:
        return info.layer.initialized(lambda k: np.random.default_rng((int(seed), info.index, k)))

    return LayerArray(filled(info) for info in network.infos)


def _as_layer_list(layers: Any) -> list[Layer]:
    if isinstance(layers, Layer):
        layers = [layers]
    if not isinstance(layers, (list, tuple)):
        raise NetworkError(f"expected a list of layers such as [sequenceInputLayer(12), lstmLayer(100), ...], got {type(layers).__name__}")
    if not layers:
        raise NetworkError("the layer array is empty; it must start with sequenceInputLayer")
    for index, layer in enumerate(layers, 1):
        if not isinstance(layer, Layer):
            hint = " (call it: softmaxLayer())" if callable(layer) else ""
            raise NetworkError(f"element {index} of the layer array is a {type(layer).__name__}, expected a layer{hint}")
    return list(layers)


def _check_order(layers: list[Layer]) -> None:
    if not isinstance(layers[0], SequenceInputLayer):
        raise NetworkError(f"{label(1, layers[0])}: the first layer must be sequenceInputLayer, got {layers[0].FUNCTION}")
    for index, layer in enumerate(layers[1:], 2):
        if isinstance(layer, SequenceInputLayer):
            raise NetworkError(f"{label(index, layer)}: a network has one input layer, and it must be the first")
        if isinstance(layer, OUTPUT_LAYERS) and index != len(layers):
            raise NetworkError(f"{label(index, layer)}: an output layer must be the last layer of the array")
        if isinstance(layer, ClassificationOutputLayer) and not isinstance(layers[index - 2], SoftmaxLayer):
            raise NetworkError(
                f"{label(index, layer)}: a classification layer must follow a softmaxLayer, "
                f"got {layers[index - 2].FUNCTION} before it"
            )
    seen: dict[str, int] = {}
    for index, layer in enumerate(layers, 1):
        if layer.Name in seen:
            raise NetworkError(f"{label(index, layer)}: layer names must be unique; layer {seen[layer.Name]} has the same Name")
        if layer.Name:
            seen[layer.Name] = index


def _assign_names(layers: list[Layer]) -> list[Layer]:
    """MATLAB's automatic names: 'lstm' for a single unnamed LSTM, 'lstm_1', 'lstm_2' for several."""
    taken = {layer.Name for layer in layers if layer.Name}
    counts: dict[str, int] = {}
    for layer in layers:
        if not layer.Name:
            counts[layer.DEFAULT_NAME] = counts.get(layer.DEFAULT_NAME, 0) + 1
    next_suffix: dict[str, int] = {}
    named = []
    for layer in layers:
        if layer.Name:
            named.append(layer)
            continue
        base = layer.DEFAULT_NAME
        if counts[base] == 1 and base not in taken:
            name = base
        else:
            k = next_suffix.get(base, 1)
            while f"{base}_{k}" in taken:
                k += 1
            name = f"{base}_{k}"
            next_suffix[base] = k + 1
        taken.add(name)
        named.append(replace(layer, Name=name))
    return named
