"""A small value-based ONNX graph builder: the one naming authority of a build.

Emitters ask for nodes and constants and get tensor names back; nothing
else in the builder invents a name.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


class Graph:
    """Nodes, initializers and I/O of one graph under construction."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self.inputs: list[onnx.ValueInfoProto] = []
        self.outputs: list[onnx.ValueInfoProto] = []
        self._taken: set[str] = set()
        self._small_consts: dict[tuple, str] = {}

    def name(self, hint: str) -> str:
        """A fresh tensor/node name built from ``hint``."""
        candidate, k = hint, 1
        while candidate in self._taken:
            candidate, k = f"{hint}_{k}", k + 1
        self._taken.add(candidate)
        return candidate

    def reserve(self, name: str) -> str:
        """Claim an exact name (graph inputs/outputs, whose names are the model's interface)."""
        if name in self._taken:
            raise ValueError(f"tensor name {name!r} is used twice")
        self._taken.add(name)
        return name

    def const(self, hint: str, value: Any, dtype: Any = np.float32) -> str:
        """An initializer; small constants with the same hint and value are shared."""
        array = np.asarray(value, dtype=dtype)
        key = (hint, array.dtype.str, array.shape, array.tobytes()) if array.size <= 16 else None
        if key in self._small_consts:
            return self._small_consts[key]
        name = self.name(hint)
        self.initializers.append(numpy_helper.from_array(array, name))
        if key is not None:
            self._small_consts[key] = name
        return name

    def op(self, op_type: str, inputs: Sequence[str], hint: str, *, outputs: Sequence[str] | int = 1, **attrs: Any):
        """Add a node; return its output name (one output) or names.

        ``outputs`` is a count of fresh outputs, or explicit names where ""
        leaves an optional output unset.
        """
        if isinstance(outputs, int):
            out_names = [self.name(f"{hint}/{op_type}" if outputs == 1 else f"{hint}/{op_type}:{k}") for k in range(outputs)]
        else:
            out_names = list(outputs)
        attrs = {k: v for k, v in attrs.items() if v is not None}
        self.nodes.append(helper.make_node(op_type, list(inputs), out_names, name=self.name(f"{hint}/{op_type}_node"), **attrs))
        return out_names[0] if len(out_names) == 1 else out_names

    def add_input(self, name: str, elem_type: int, shape: Sequence[int | str]) -> str:
        self.inputs.append(helper.make_tensor_value_info(self.reserve(name), elem_type, list(shape)))
        return name

    def add_output(self, tensor: str, name: str, shape: Sequence[int | str], elem_type: int = TensorProto.FLOAT) -> None:
        """Expose ``tensor`` as graph output ``name`` by renaming its producer's output."""
        self.reserve(name)
        producer = next((node for node in self.nodes if tensor in node.output), None)
        if producer is None:  # a graph input or initializer passed straight through
            self.op("Identity", [tensor], name, outputs=[name])
        else:
            for node in self.nodes:
                for k, value in enumerate(node.output):
                    if value == tensor:
                        node.output[k] = name
                for k, value in enumerate(node.input):
                    if value == tensor:
                        node.input[k] = name
        self.outputs.append(helper.make_tensor_value_info(name, elem_type, list(shape)))

    def to_graph(self, name: str) -> onnx.GraphProto:
        return helper.make_graph(self.nodes, name, self.inputs, self.outputs, self.initializers)
