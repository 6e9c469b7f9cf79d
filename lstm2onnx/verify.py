"""``lstm2onnx verify``: onnxruntime against the numpy reference, on the model file's own weights."""

from __future__ import annotations

import os

import numpy as np
import onnx

from . import reference
from .errors import Lstm2OnnxError
from .importer import load_onnx
from .layers import WordEmbeddingLayer
from .layers.convolution import min_sequence_length

STATE_KEYS = ("HiddenState", "CellState")


def verify_model(path: str | os.PathLike, *, provider: str = "cpu", batch: int = 8, time: int = 20, seed: int = 0) -> dict[str, float]:
    """Max abs error per output between onnxruntime and the float64 reference on random ragged sequences.

    A graph with ``sequence_lengths`` gets lengths from 1 to ``time``; one without gets
    equal lengths. Stateful graphs start from random states (the reference is given the same).
    """
    import onnxruntime as ort

    model = onnx.load(os.fspath(path))
    layers = load_onnx(model)
    rng = np.random.default_rng(seed)
    names = {i.name for i in model.graph.input}
    ragged = "sequence_lengths" in names
    lengths = rng.integers(min_sequence_length(layers), time + 1, size=batch) if ragged else np.full(batch, time)
    lengths[0] = time
    features = layers[0].InputSize
    sequences = [rng.standard_normal((int(L), features)).astype(np.float32) for L in lengths]
    if len(layers) > 1 and isinstance(layers[1], WordEmbeddingLayer):  # the steps are word indices
        sequences = [rng.integers(1, layers[1].NumWords + 1, size=x.shape).astype(np.float32) for x in sequences]
    padded = np.zeros((batch, time, features), np.float32)
    for k, x in enumerate(sequences):
        padded[k, : len(x)] = x
    feeds = {"sequences": padded}
    if ragged:
        feeds["sequence_lengths"] = lengths.astype(np.int32)
    initial = {}
    for layer in layers:
        if f"{layer.Name}.HiddenState.in" in names:  # (h, c) for an lstmLayer, (h,) for a gruLayer
            parts = [rng.uniform(-0.5, 0.5, (batch, layer.NumHiddenUnits)).astype(np.float32)]
            if f"{layer.Name}.CellState.in" in names:
                parts.append(rng.uniform(-1, 1, (batch, layer.NumHiddenUnits)).astype(np.float32))
            for key, value in zip(STATE_KEYS, parts):
                feeds[f"{layer.Name}.{key}.in"] = value
            initial[layer.Name] = tuple(parts)
    session = ort.InferenceSession(model.SerializeToString(), providers=_providers(provider))
    if provider == "cuda" and "CUDAExecutionProvider" not in session.get_providers():
        raise Lstm2OnnxError("verify: provider 'cuda' was asked for, but onnxruntime could not start CUDA (check the GPU driver and CUDA/cuDNN libraries)")
    outputs = dict(zip([o.name for o in session.get_outputs()], session.run(None, feeds)))
    bilstm_last = "matlab"
    io = {p.key: p.value for p in model.metadata_props}.get("lstm2onnx.io")
    if io:
        import json

        bilstm_last = json.loads(io).get("bilstm_last", "matlab")
    expected, states = reference.predict(layers, sequences if ragged else padded, initial_states=initial,
                                         bilstm_last=bilstm_last, return_states=True)
    first = model.graph.output[0].name
    report = {first: reference.max_abs_error(outputs[first], expected)}
    for name, parts in states.items():
        for key, value in zip(STATE_KEYS, parts):
            if f"{name}.{key}.out" in outputs:
                report[f"{name}.{key}.out"] = reference.max_abs_error(outputs[f"{name}.{key}.out"], value)
    return report


def _providers(provider: str) -> list:
    """CPU alone, or the runtime's CUDA providers with TF32 off (TF32 alone is about 1e-3 off the reference)."""
    if provider == "cpu":
        return ["CPUExecutionProvider"]
    try:
        from lstm2onnx_runtime import ProviderError, session_providers
    except ImportError:
        raise Lstm2OnnxError(f"verify --provider {provider} needs lstm2onnx-runtime, which is not on a package index: "
                             "pip install './runtime[gpu]' from a checkout of lstm2onnx (see the README's Install section)") from None
    try:
        return session_providers(provider)
    except ProviderError as error:
        raise Lstm2OnnxError(str(error)) from None
