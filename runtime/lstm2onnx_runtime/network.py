"""Loading an lstm2onnx model: the session, its I/O contract from ``metadata_props``, and the state it carries.

A :class:`Network` has MATLAB's value semantics: ``predictAndUpdateState``
returns a new Network with the new state and leaves the old one as it was;
all Networks made from one :func:`load` share the onnxruntime session.
"""

from __future__ import annotations

import functools
import json
import math
import os
import tempfile
from dataclasses import dataclass, field, replace
from typing import Any, Callable

import numpy as np

from ._ort import CUDA, fast_run, ort, session_providers
from .batching import check_finite
from .contract import META_CLASSES, META_IO, META_SPEC, read_contract  # noqa: F401 (re-exported)
from .errors import ModelError, ProviderError
from .input_rules import InputRules, read_rules

NAN_POLICIES = ("error", "allow")
_FLOAT32 = np.dtype(np.float32)


@dataclass(frozen=True)
class StateSpec:
    """One unidirectional recurrent layer's state I/O in a stateful graph; initial values are ``[H]`` float32.

    An lstmLayer carries a hidden and a cell state; a gruLayer only a hidden
    state (``cell_in``, ``cell_out``, ``initial_cell`` None).
    """

    layer: str
    hidden_size: int
    hidden_in: str
    cell_in: str | None
    hidden_out: str
    cell_out: str | None
    initial_hidden: np.ndarray
    initial_cell: np.ndarray | None

    @property
    def tensors(self) -> tuple["StateTensor", ...]:
        """The layer's state tensors: HiddenState, then CellState where the layer has one."""
        out = (StateTensor(self.layer, "HiddenState", self.hidden_in, self.hidden_out, self.hidden_size, self.initial_hidden),)
        if self.cell_in is not None:
            out += (StateTensor(self.layer, "CellState", self.cell_in, self.cell_out, self.hidden_size, self.initial_cell),)
        return out


@dataclass(frozen=True)
class StateTensor:
    """One state tensor of a stateful graph: graph input ``name_in`` and output ``name_out``, ``[batch, size]``."""

    layer: str
    key: str  # "HiddenState" or "CellState"
    name_in: str
    name_out: str
    size: int
    initial: np.ndarray


@dataclass(frozen=True)
class ModelInfo:
    """What the runtime needs to know about a model, read from its metadata and session."""

    sequences: str
    sequence_lengths: str | None
    output: str
    output_size: int
    features: int
    sequence_output: bool
    task: str
    classes: tuple[str, ...] | None
    states: tuple[StateSpec, ...]
    layer_types: tuple[str, ...]
    rules: InputRules = InputRules()  # word indices, convolution windows: see input_rules.py

    @property
    def stateful(self) -> bool:
        return bool(self.states)

    @property
    def bidirectional(self) -> bool:
        return "bilstmLayer" in self.layer_types

    @functools.cached_property
    def state_tensors(self) -> tuple[StateTensor, ...]:
        """Every state tensor of every stateful layer, in graph order (the order of ``Network.state``)."""
        return tuple(t for s in self.states for t in s.tensors)

    @functools.cached_property
    def output_names(self) -> list[str]:
        return [self.output] + [t.name_out for t in self.state_tensors]


@dataclass(frozen=True, eq=False)
class Network:
    """A loaded model plus the recurrent state a MATLAB network carries.

    ``state`` holds one array ``[S, H]`` per state tensor (``info.state_tensors``:
    h and c of each lstmLayer, h of each gruLayer) where S is 1 (one state for
    every sequence) or the batch size of the last ``predictAndUpdateState`` call.
    """

    session: Any = field(repr=False)
    info: ModelInfo
    path: str
    providers: tuple[str, ...]
    nan_policy: str = "error"
    tf32: bool = False
    state: tuple[np.ndarray, ...] = field(default=(), repr=False)

    @functools.cached_property
    def run(self):
        """``run(output_names, feeds, run_options) -> list`` on this network's session (see ``_ort.fast_run``)."""
        return fast_run(self.session)

    @functools.cached_property
    def run_whole(self) -> Callable[[np.ndarray], np.ndarray | None]:
        """``run_whole(X)``: the output for a C-contiguous float32 ``[N, T, F]`` batch fed whole in one run, else None.

        The serving hot path of ``predict``, so it is built once per network with
        everything it needs bound: next to an onnxruntime run every µs of Python
        costs about two (measured). X is checked for NaN/Inf when ``nan_policy``
        is 'error'. Always None for a stateful graph, whose state inputs each call feeds, and for a
        model with input rules (:mod:`.input_rules`), which the general path checks.
        """
        info = self.info
        run, names, sequences, lengths, features = self.run, info.output_names, info.sequences, info.sequence_lengths, info.features
        check_nan, vdot, isfinite = self.nan_policy == "error", np.vdot, math.isfinite
        general_only = bool(info.states) or info.rules.active  # input rules (word indices, windows, MinLength): the general path checks them

        def run_whole(X: np.ndarray) -> np.ndarray | None:
            shape = X.shape
            if (general_only or len(shape) != 3 or X.dtype is not _FLOAT32 or shape[2] != features or not shape[0] or not shape[1]
                    or not X.flags.c_contiguous):
                return None
            if check_nan and not isfinite(vdot(X, X)):  # one BLAS call decides for clean data (see check_finite)
                check_finite("predict", X)
            feeds = {sequences: X}
            if lengths:
                feeds[lengths] = np.full(shape[0], shape[1], np.int32)
            return run(names, feeds, None)[0]

        return run_whole

    @property
    def on_cuda(self) -> bool:
        return self.providers[0] == CUDA

    @property
    def classes(self) -> tuple[str, ...]:
        """Class names stored in the model, or "1".."K" when the network was built with Classes 'auto'."""
        return self.info.classes or tuple(str(k) for k in range(1, self.info.output_size + 1))

    def initial_state(self) -> tuple[np.ndarray, ...]:
        return tuple(t.initial[None, :] for t in self.info.state_tensors)

    def with_state(self, state: tuple[np.ndarray, ...]) -> "Network":
        return replace(self, state=state)

    def node_placement(self) -> dict[str, str]:
        """Which execution provider runs each node, read from an onnxruntime profile of one small run.

        Under the CUDA provider, LSTM nodes with non-default activations (hard-sigmoid,
        softsign) show up on CPUExecutionProvider.
        """
        return node_placement(self.path, session_providers("cuda" if self.on_cuda else "cpu", tf32=self.tf32), self.info)

    def __repr__(self) -> str:
        return f"Network({self.path!r}, providers={list(self.providers)}, task={self.info.task!r}, stateful={self.info.stateful})"


def load(
    path: str | os.PathLike,
    provider: str = "auto",
    *,
    intra_op_threads: int | None = None,
    nan_policy: str = "error",
    session_options: Any = None,
    tf32: bool = False,
) -> Network:
    """Load an lstm2onnx ``.onnx`` file for inference.

    ``provider``: 'cpu', 'cuda', or 'auto' (CUDA when onnxruntime offers it, else CPU).
    ``nan_policy``: 'error' (default) rejects NaN/Inf in inputs; 'allow' passes them on
    (onnxruntime's LSTM kernel then returns finite numbers for NaN input, silently).
    ``session_options``: an ``onnxruntime.SessionOptions`` to start from (thread pools,
    spinning, optimization level); ``intra_op_threads`` overrides its thread count.
    ``tf32``: on CUDA, let Ampere and later GPUs compute float32 products in TF32
    (faster, about 1e-3 off); off by default, see :func:`session_providers`.
    """
    path = os.fspath(path)
    if nan_policy not in NAN_POLICIES:
        raise ValueError(f"nan_policy must be one of 'error', 'allow', got {nan_policy!r}")
    if not isinstance(tf32, bool):
        raise ValueError(f"tf32 must be True or False, got {tf32!r}")
    if not os.path.isfile(path):
        raise ModelError(f"no model file at {path!r}")
    providers = session_providers(provider, tf32=tf32)
    options = session_options if session_options is not None else ort.SessionOptions()
    if intra_op_threads is not None:
        options.intra_op_num_threads = int(intra_op_threads)
    try:
        session = ort.InferenceSession(path, options, providers=providers)
    except Exception as error:  # onnxruntime raises its own exception types for unreadable models
        raise ModelError(f"onnxruntime cannot load {path!r}: {error}") from None
    names = [p[0] if isinstance(p, tuple) else p for p in providers]
    if names[0] == CUDA and CUDA not in session.get_providers():
        if provider.lower() == "cuda":
            raise ProviderError(f"provider 'cuda' was asked for, but onnxruntime could not start CUDA for {path!r} (check the CUDA/cuDNN libraries)")
        names = [p for p in names if p != CUDA]
    info = model_info(session, path)
    net = Network(session, info, path, tuple(names), nan_policy, tf32)
    return net.with_state(net.initial_state())


def model_info(session: Any, path: str) -> ModelInfo:
    io, classes, layer_types = read_contract(session, path)  # checked against the graph: see contract.py
    features = io["features"]
    states = tuple(
        StateSpec(
            s["layer"], int(s["hidden_size"]), s["hidden_in"], s["cell_in"], s["hidden_out"], s["cell_out"],
            _frozen(s["initial_hidden"]), None if s["initial_cell"] is None else _frozen(s["initial_cell"]),
        )
        for s in io["states"]
    )
    return ModelInfo(
        io["sequences"], io["sequence_lengths"], io["output"], int(io["output_size"]), int(features),
        bool(io["sequence_output"]), io["task"], tuple(classes) if classes else None, states, layer_types,
        read_rules(io, path),
    )


def node_placement(path: str, providers: list, info: ModelInfo) -> dict[str, str]:
    options = ort.SessionOptions()
    options.enable_profiling = True
    with tempfile.TemporaryDirectory() as folder:
        options.profile_file_prefix = os.path.join(folder, "placement")
        session = ort.InferenceSession(path, options, providers=providers)
        steps = info.rules.min_length()
        feeds = {info.sequences: np.ones((1, steps, info.features), np.float32)}  # ones: a valid word index too
        if info.sequence_lengths:
            feeds[info.sequence_lengths] = np.full(1, steps, np.int32)
        for t in info.state_tensors:
            feeds[t.name_in] = np.zeros((1, t.size), np.float32)
        session.run(None, feeds)
        with open(session.end_profiling()) as handle:
            events = json.load(handle)
    placement: dict[str, str] = {}
    for event in events:
        args = event.get("args", {})
        if event.get("cat") == "Node" and "provider" in args:
            placement[event["name"].removesuffix("_kernel_time").removesuffix("_fence_before").removesuffix("_fence_after")] = args["provider"]
    return placement


def _frozen(values: list[float]) -> np.ndarray:
    array = np.asarray(values, dtype=np.float32)
    array.flags.writeable = False
    return array
