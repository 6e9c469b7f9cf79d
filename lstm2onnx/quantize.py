"""int8 models with onnxruntime's dynamic quantization, and the figures a user needs to choose them.

:func:`quantize` hands an lstm2onnx model to ``onnxruntime.quantization.quantize_dynamic``
(no quantizer of our own) and keeps what the runtime relies on: the graph's
inputs and outputs (names, dtypes, shapes) and every ``metadata_props`` entry
are the float model's, so ``lstm2onnx_runtime`` loads, predicts, classifies and
streams the int8 file exactly as the float one. One key is added,
``lstm2onnx.quantization``, saying how it was quantized and which layers are.

What onnxruntime (1.17 and later) quantizes dynamically, and what this module asks for:

- ``LSTM`` -> ``com.microsoft.DynamicQuantizeLSTM``: ``W``, ``R`` int8 (per direction,
  or per gate row with ``per_channel``), each step's ``X_t`` and ``h_{t-1}``
  quantized to uint8 with a range measured on that call; bias, states and
  activations stay float32. CPU kernel only (a CUDA session runs it on the CPU).
- ``MatMul`` with a constant weight (fullyConnectedLayer) -> ``DynamicQuantizeLinear``
  + ``MatMulInteger`` (fused by onnxruntime into ``DynamicQuantizeMatMul``).
- ``GRU``: onnxruntime has no quantized GRU kernel (its dynamic-quantization
  registry covers LSTM, MatMul, Conv, Gather, Attention, ...), so gruLayer nodes stay
  float32. ``Conv`` (ConvInteger) and ``Gather`` could be quantized but are left
  float32: convolution and embedding layers are small next to the recurrent ones.

Accuracy, as measured by the tests (``INT8_TOLERANCE``): on seeded networks
(MATLAB's initializers, H 16-32, inputs N(0, 1), 1-30 steps; LSTM, bilstm, stacked,
hard-sigmoid/softsign, GRU + FC) the int8 outputs stay within 5e-3 of the float64
reference on class probabilities (measured at most 1.3e-3, mean 2e-4) and within
2e-2 on regression responses (measured at most 6e-3). Trained networks with larger
weights can move further on single values (the shipped Japanese Vowels models: one
probability moves 0.08-0.15, mean 5e-4) while the labels do not: the tests require at least
99% label agreement and accuracy within 0.5 points there (measured on both shipped
versions: 100% agreement, accuracy unchanged at 0.9514 and 0.9568).
The error has two parts: weights rounded to 1/254 of each block's largest magnitude,
and the inputs of every product rounded to 1/255 of that call's range; so a stream fed
one step per call is quantized on different ranges than the same sequence run whole
(each is within the bounds above, not equal to the other).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import statistics
import tempfile
import time
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

import numpy as np
import onnx
from onnx import numpy_helper

from . import reference
from ._files import atomic_write
from .builder import META_IO, META_SPEC, build
from .errors import Lstm2OnnxError
from .network import LayerArray

META_QUANTIZATION = "lstm2onnx.quantization"
QUANTIZED_OPS = ("LSTM", "MatMul")  # what quantize() asks onnxruntime to quantize
INT8_OPS = {"DynamicQuantizeLSTM": "LSTM", "MatMulInteger": "MatMul", "DynamicQuantizeMatMul": "MatMul"}
FLOAT_OPS = ("LSTM", "GRU", "MatMul", "Conv", "Gather")  # nodes that hold a layer's weights
INT8_TOLERANCE = {"probabilities": 5e-3, "responses": 2e-2}  # max |int8 - float64 reference|, seeded networks (module docstring)


def quantize(
    model: str | os.PathLike | onnx.ModelProto,
    output: str | os.PathLike | None = None,
    *,
    per_channel: bool = False,
    reduce_range: bool = False,
) -> onnx.ModelProto:
    """The int8 version of an lstm2onnx model (written atomically to ``output`` when given).

    ``per_channel``: one weight scale per gate row (LSTM, ``[dirs, 4H]``) and per
    output (fullyConnectedLayer) instead of one per tensor; usually closer to the
    float model, at the same speed. ``reduce_range``: 7-bit weights, for CPUs
    without VNNI where the 8-bit products can saturate (AVX2's ``vpmaddubsw``).
    """
    _check_output("quantize", output)
    float_model = load_model(model)
    meta = _metadata(float_model)
    if META_SPEC not in meta:
        raise Lstm2OnnxError("quantize: the model has no lstm2onnx.spec metadata: it was not built by lstm2onnx")
    if is_quantized(float_model):
        raise Lstm2OnnxError("quantize: the model is already quantized")
    for flag, value in (("per_channel", per_channel), ("reduce_range", reduce_range)):
        if not isinstance(value, (bool, np.bool_)):
            raise Lstm2OnnxError(f"quantize: {flag} must be True or False, got {value!r}")
    import onnxruntime
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory() as folder:
        target = os.path.join(folder, "int8.onnx")
        with _without_preprocessing_hint():
            quantize_dynamic(float_model, target, op_types_to_quantize=list(QUANTIZED_OPS), per_channel=bool(per_channel),
                             reduce_range=bool(reduce_range), weight_type=QuantType.QInt8, extra_options={"MatMulConstBOnly": True})
        int8 = onnx.load(target)
    layers = _layer_ops(int8, json.loads(meta[META_SPEC]))
    if not any(int8_op for _, int8_op in layers.values()):
        raise Lstm2OnnxError("quantize: nothing in this model has an int8 kernel in onnxruntime (it quantizes lstmLayer/bilstmLayer "
                             f"and fullyConnectedLayer weights; here: {', '.join(f'{k} ({op})' for k, (op, _) in layers.items()) or 'none'}), "
                             "so an int8 file would be the float model; keep the float one")
    info = {
        "method": "onnxruntime.quantization.quantize_dynamic",
        "onnxruntime": onnxruntime.__version__,
        "weights": "int8, symmetric, " + ("per output channel" if per_channel else "per tensor (per direction for LSTM)"),
        "activations": "uint8, range measured on each call",
        "per_channel": bool(per_channel),
        "reduce_range": bool(reduce_range),
        "quantized": {name: op for name, (op, int8_op) in layers.items() if int8_op},
        "float": {name: op for name, (op, int8_op) in layers.items() if not int8_op},
    }
    del int8.metadata_props[:]  # exactly the float model's entries (the quantizer adds its own), plus ours
    onnx.helper.set_model_props(int8, {**meta, META_QUANTIZATION: json.dumps(info)})
    onnx.checker.check_model(int8, full_check=True)
    if output is not None:
        _write(int8, output)
    return int8


@contextlib.contextmanager
def _without_preprocessing_hint() -> Iterator[None]:
    """Drop the quantizer's root-logger advice to run its shape pre-processing (our graphs carry their shapes already)."""

    def keep(record: logging.LogRecord) -> bool:
        return "pre-processing before quantization" not in record.getMessage()

    root = logging.getLogger()
    root.addFilter(keep)
    try:
        yield
    finally:
        root.removeFilter(keep)


def requantized(float_model: onnx.ModelProto, like: onnx.ModelProto) -> onnx.ModelProto:
    """``float_model`` (e.g. a stateful copy rebuilt from ``like``'s dequantized weights) quantized as ``like`` was,
    holding exactly ``like``'s int8 weights, scales and zero points."""
    info = quantization_info(like) or {}
    int8 = quantize(float_model, per_channel=bool(info.get("per_channel", False)), reduce_range=bool(info.get("reduce_range", False)))
    originals = {t.name: t for t in like.graph.initializer if t.name.endswith(("_quantized", "_scale", "_zero_point"))}
    for tensor in int8.graph.initializer:
        original = originals.get(tensor.name)
        if original is not None and list(original.dims) == list(tensor.dims) and original.data_type == tensor.data_type:
            tensor.CopyFrom(original)
    return int8


def rebuilt(int8_model: onnx.ModelProto, output: str | os.PathLike | None = None, **options: Any) -> onnx.ModelProto:
    """An int8 model built again with :func:`lstm2onnx.build`'s ``options`` (e.g. ``stateful=True`` for streaming): its
    dequantized layers built in float32, then quantized as it was (:func:`requantized`: exactly its int8 weights,
    scales and zero points). Written atomically to ``output`` when given."""
    _check_output("build", output)
    copy = requantized(build(dequantized_layers(int8_model), **options), int8_model)
    if output is not None:
        _write(copy, output)
    return copy


def _check_output(what: str, output: str | os.PathLike | None) -> None:
    if output is not None and not os.fspath(output).lower().endswith(".onnx"):
        raise Lstm2OnnxError(f"{what}: the output must end in .onnx, got {os.fspath(output)!r}")


def load_model(model: str | os.PathLike | onnx.ModelProto) -> onnx.ModelProto:
    """A ModelProto as it is, or a file read without trust (folders, devices, garbage, external data: one-line errors)."""
    if isinstance(model, onnx.ModelProto):
        return model
    from .modelfile import read_model

    return read_model(model)


def _write(model: onnx.ModelProto, output: str | os.PathLike) -> None:
    with atomic_write(output) as handle:
        handle.write(model.SerializeToString())


def _metadata(model: onnx.ModelProto) -> dict[str, str]:
    return {p.key: p.value for p in model.metadata_props}


def is_quantized(model: onnx.ModelProto) -> bool:
    """True when the graph holds onnxruntime's int8 operators (whatever wrote it)."""
    return any(node.op_type in INT8_OPS for node in model.graph.node)


def quantization_info(model: onnx.ModelProto) -> dict | None:
    """The ``lstm2onnx.quantization`` entry of a quantized model; for one quantized elsewhere, what the graph says."""
    meta = _metadata(model)
    if META_QUANTIZATION in meta:
        return json.loads(meta[META_QUANTIZATION])
    if not is_quantized(model):
        return None
    layers = _layer_ops(model, json.loads(meta[META_SPEC])) if META_SPEC in meta else {}
    return {"method": "unknown (no lstm2onnx.quantization metadata)",
            "quantized": {name: op for name, (op, int8_op) in layers.items() if int8_op},
            "float": {name: op for name, (op, int8_op) in layers.items() if not int8_op}}


def _layer_ops(model: onnx.ModelProto, spec: Any) -> dict[str, tuple[str, bool]]:
    """``{layer Name: (operator, quantized)}`` for every node that holds a layer's weights.

    A node belongs to the layer whose ``Name + '.'`` starts its weight initializer's
    name (the builder names them ``L.W``, ``L.R``, ``fc.Weights.T``; the quantizer
    appends ``_quantized``); the longest such Name wins, since Names may contain dots.
    """
    names = sorted((layer.Name for layer in LayerArray.from_dict(spec)), key=len, reverse=True)
    constants = {t.name for t in model.graph.initializer}
    out: dict[str, tuple[str, bool]] = {}
    for node in model.graph.node:
        int8_op = node.op_type in INT8_OPS
        if not int8_op and (node.op_type not in FLOAT_OPS or node.domain not in ("", "ai.onnx")):
            continue
        weight = next((i for i in node.input[1:] if i in constants), None)
        layer = next((n for n in names if weight is not None and weight.startswith(n + ".")), None)
        if layer is not None:
            out[layer] = (node.op_type, int8_op)
    return out


def dequantized_layers(model: onnx.ModelProto) -> LayerArray:
    """The layer array of an int8 model with its weights dequantized to float64: ``W = (q - zero_point) · scale``.

    ``DynamicQuantizeLSTM`` stores ``W`` as ``[dirs, I, 4H]`` (transposed from ONNX's
    ``[dirs, 4H, I]``) with a scale per direction ``[dirs]`` or per gate row ``[dirs, 4H]``;
    ``MatMulInteger``'s weight is ``[in, out]`` with one scale or one per output.
    """
    from .importer import load_onnx

    tensors = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    floats = {name: value for name, value in tensors.items() if not name.endswith(("_quantized", "_scale", "_zero_point"))}
    lstm_weights = {node.input[k] for node in model.graph.node if node.op_type == "DynamicQuantizeLSTM" for k in (1, 2)}
    for name, q in tensors.items():
        if not name.endswith("_quantized"):
            continue
        base = name[: -len("_quantized")]
        scale, zero = tensors[f"{base}_scale"].astype(np.float64), tensors[f"{base}_zero_point"].astype(np.float64)
        if name in lstm_weights:  # [dirs, I, 4H] with [dirs] or [dirs, 4H] scales -> [dirs, 4H, I]
            shape = (-1, 1, 1) if scale.ndim == 1 else (scale.shape[0], 1, scale.shape[1])
            floats[base] = ((q.astype(np.float64) - zero.reshape(shape)) * scale.reshape(shape)).transpose(0, 2, 1)
        else:  # [in, out] with a scalar or [out] scale
            floats[base] = (q.astype(np.float64) - zero) * scale
    carrier = onnx.ModelProto()  # what load_onnx reads: the metadata and float initializers under the builder's names
    carrier.metadata_props.extend(model.metadata_props)
    carrier.graph.initializer.extend(numpy_helper.from_array(np.asarray(v), k) for k, v in floats.items())
    return load_onnx(carrier)


# -- the figures for the decision ------------------------------------------------------------------

@dataclass
class QuantizationReport:
    """int8 against float32 (and the float64 reference) on the user's data, and the speed ratio.

    Differences are max/mean of ``|y_int8 - y_float|`` over every output value
    (every valid time step for sequence outputs). ``agreement``: the fraction of
    labels (per sequence, or per valid step) the two models give alike;
    ``accuracy_*`` against the given labels. Times are medians of interleaved
    ``predict`` calls over the whole data at ``mini_batch_size``.
    """

    sequences: int
    mini_batch_size: int
    float_source: str
    max_abs: float
    mean_abs: float
    reference_max_abs: float
    reference_mean_abs: float
    float_reference_max_abs: float
    agreement: float | None
    accuracy_float: float | None
    accuracy_int8: float | None
    seconds_float: float
    seconds_int8: float

    @property
    def speedup(self) -> float:
        """float32 time / int8 time (above 1: int8 is faster)."""
        return self.seconds_float / self.seconds_int8

    def __str__(self) -> str:
        lines = [f"{self.sequences} sequences, MiniBatchSize {self.mini_batch_size}; float model: {self.float_source}",
                 f"int8 vs float32:   max abs diff {self.max_abs:.3e}, mean abs diff {self.mean_abs:.3e}",
                 f"int8 vs float64 reference: max {self.reference_max_abs:.3e}, mean {self.reference_mean_abs:.3e} "
                 f"(float32 vs reference: max {self.float_reference_max_abs:.3e})"]
        if self.agreement is not None:
            lines.append(f"label agreement:   {100 * self.agreement:.2f}%")
        if self.accuracy_float is not None:
            lines.append(f"accuracy:          float32 {self.accuracy_float:.4f}, int8 {self.accuracy_int8:.4f} "
                         f"({100 * (self.accuracy_int8 - self.accuracy_float):+.2f} points)")
        verdict = f"{self.speedup:.2f}x faster" if self.speedup >= 1 else f"{1 / self.speedup:.2f}x slower"
        lines.append(f"speed:             float32 {1e3 * self.seconds_float:.3f} ms, int8 {1e3 * self.seconds_int8:.3f} ms per predict "
                     f"call over the data: int8 is {verdict}")
        return "\n".join(lines)


def check(
    float_model: str | os.PathLike | onnx.ModelProto,
    int8_model: str | os.PathLike | onnx.ModelProto,
    X: Sequence[np.ndarray] | np.ndarray,
    labels: Sequence[Any] | None = None,
    *,
    mini_batch_size: int = 128,
    provider: str = "cpu",
    seconds: float = 1.0,
    float_source: str = "the given float model",
) -> QuantizationReport:
    """Run both models through ``lstm2onnx_runtime`` on ``X`` (a list of ``[T_n, C]`` arrays or ``[N, T, C]``).

    ``labels``: one class name per sequence (or, for sequence output, one array of
    names per sequence) to measure accuracy. ``seconds`` bounds the timing.
    """
    try:
        import lstm2onnx_runtime as rt
    except ImportError:
        raise Lstm2OnnxError("quantize --check needs lstm2onnx-runtime: pip install 'lstm2onnx-runtime[cpu]'") from None
    if isinstance(mini_batch_size, bool) or not isinstance(mini_batch_size, (int, np.integer)) or mini_batch_size < 1:
        raise Lstm2OnnxError(f"quantize check: mini_batch_size must be a positive integer, got {mini_batch_size!r}")
    float_model, int8_model = load_model(float_model), load_model(int8_model)
    if isinstance(X, np.ndarray) and X.ndim == 2:  # one [T, C] sequence, as predict takes it (a .csv or 2-D .npy file)
        X = [X]
    sequences = [np.asarray(x, np.float32) for x in (list(X) if isinstance(X, np.ndarray) and X.ndim == 3 else X)]
    if not sequences:
        raise Lstm2OnnxError("quantize check: the data holds no sequences")
    with tempfile.TemporaryDirectory() as folder:
        nets = []
        for tag, model in (("float", float_model), ("int8", int8_model)):
            path = os.path.join(folder, f"{tag}.onnx")
            onnx.save(model, path)
            nets.append(rt.load(path, provider))
        try:
            outputs = [rt.predict(net, sequences, MiniBatchSize=int(mini_batch_size)) for net in nets]
        except rt.RuntimeInputError as error:
            raise Lstm2OnnxError(f"quantize check: {error}") from None
        times = _interleaved({tag: _predictor(rt, net, sequences, int(mini_batch_size)) for tag, net in zip(("float", "int8"), nets)}, seconds)
        classes = nets[0].classes if nets[0].info.output == "probabilities" else None  # what classify accepts
    y_float, y_int8 = (_flat(y) for y in outputs)
    io = json.loads(_metadata(float_model).get(META_IO, "{}"))
    expected = _flat(reference.predict(_reference_layers(float_model), sequences, bilstm_last=io.get("bilstm_last", "matlab")))
    diff, ref_diff = np.abs(y_int8 - y_float), np.abs(y_int8 - expected)
    agreement = accuracy_float = accuracy_int8 = None
    if classes:
        names = np.asarray(classes)
        flat = [names[_rows(y).argmax(axis=1)] for y in outputs]  # one label per sequence, or per valid step
        agreement = float(np.mean(flat[0] == flat[1]))
        if labels is not None:
            truth = _flat_labels(labels, sequences, io.get("sequence_output", False))
            if len(truth) != len(flat[0]):
                raise Lstm2OnnxError(f"quantize check: {len(truth)} labels for {len(flat[0])} predictions")
            unknown = sorted(set(truth.tolist()) - set(names.tolist()))
            if unknown:
                raise Lstm2OnnxError(f"quantize check: labels {unknown[:5]} are not among the model's classes {names.tolist()[:10]}")
            accuracy_float, accuracy_int8 = (float(np.mean(f == truth)) for f in flat)
    return QuantizationReport(len(sequences), int(mini_batch_size), float_source, float(diff.max()), float(diff.mean()),
                              float(ref_diff.max()), float(ref_diff.mean()), float(np.abs(y_float - expected).max()),
                              agreement, accuracy_float, accuracy_int8, times["float"], times["int8"])


def _reference_layers(model: onnx.ModelProto) -> LayerArray:
    if is_quantized(model):
        return dequantized_layers(model)
    from .importer import load_onnx

    return load_onnx(model)


def _predictor(rt: Any, net: Any, sequences: list[np.ndarray], size: int):
    def run() -> Any:
        return rt.predict(net, sequences, MiniBatchSize=size)

    return run


def _interleaved(fns: dict, seconds: float, rounds: int = 5) -> dict[str, float]:
    """Median seconds per call, the functions taking turns (A, B, A, B, ...) so drift hits both alike."""
    per_call = {}
    for name, fn in fns.items():
        start = time.perf_counter()
        fn()
        per_call[name] = time.perf_counter() - start
    repeats = {name: max(1, int(seconds / rounds / len(fns) / max(t, 1e-7))) for name, t in per_call.items()}
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            start = time.perf_counter()
            for _ in range(repeats[name]):
                fn()
            samples[name].append((time.perf_counter() - start) / repeats[name])
    return {name: statistics.median(values) for name, values in samples.items()}


def _flat(y: Any) -> np.ndarray:
    """Every output value of a predict result (``[N, K]`` or a list of ``[T_n, K]``) as one float64 vector."""
    if isinstance(y, list):
        return np.concatenate([np.asarray(v, np.float64).reshape(-1) for v in y])
    return np.asarray(y, np.float64).reshape(-1)


def _rows(y: Any) -> np.ndarray:
    """Class scores ``[M, K]``: one row per sequence (``[N, K]``) or per valid step (a list of ``[T_n, K]``)."""
    return np.concatenate([np.asarray(v).reshape(-1, np.shape(v)[-1]) for v in y]) if isinstance(y, list) else np.asarray(y)


def _flat_labels(labels: Any, sequences: list[np.ndarray], sequence_output: bool) -> np.ndarray:
    if not sequence_output:
        return np.asarray(labels).astype(str).reshape(-1)
    parts = [np.asarray(y).astype(str).reshape(-1) for y in labels]
    for k, (y, x) in enumerate(zip(parts, sequences), 1):
        if len(y) != len(x):
            raise Lstm2OnnxError(f"quantize check: sequence {k} has {len(x)} time steps but {len(y)} labels")
    return np.concatenate(parts) if parts else np.array([], str)


def read_labels(path: str) -> list[Any] | np.ndarray:
    """Labels from a file: ``.npy`` (one per sequence), ``.npz`` (one array per sequence, for sequence
    output; file order), or text (``.txt``/``.csv``: one label per line)."""
    extension = os.path.splitext(path)[1].lower()
    try:
        if extension == ".npy":
            return np.load(path, allow_pickle=False).astype(str)
        if extension == ".npz":
            with np.load(path, allow_pickle=False) as data:
                return [data[name].astype(str) for name in data.files]
        with open(path, encoding="utf-8-sig") as handle:
            return np.array([line.strip() for line in handle if line.strip()])
    except (OSError, ValueError, UnicodeDecodeError) as error:
        raise Lstm2OnnxError(f"cannot read labels from {path!r}: {error}") from None


def read_sequences(path: str) -> list[np.ndarray] | np.ndarray:
    """A data file as the runtime reads it (``.npy``, ``.npz``, ``.csv``; see ``lstm2onnx_runtime.datafiles``)."""
    try:
        from lstm2onnx_runtime.datafiles import read_data
        from lstm2onnx_runtime.errors import RuntimeInputError
    except ImportError:
        raise Lstm2OnnxError("reading data files needs lstm2onnx-runtime: pip install 'lstm2onnx-runtime[cpu]'") from None
    try:
        return read_data(path)[0]
    except RuntimeInputError as error:
        raise Lstm2OnnxError(str(error)) from None


def float_twin(int8_model: onnx.ModelProto) -> onnx.ModelProto:
    """A float32 model with the int8 model's dequantized weights and the same I/O (ragged, stateful, bilstm_last, opset).

    It differs from the int8 model only by the activation rounding, and from the
    original float model by the weight rounding; ``verify`` compares against it
    when the original is not given.
    """
    meta = _metadata(int8_model)
    io = json.loads(meta.get(META_IO, "{}"))
    opset = next((o.version for o in int8_model.opset_import if o.domain in ("", "ai.onnx")), 17)
    return build(dequantized_layers(int8_model), ragged=io.get("sequence_lengths") is not None, stateful=bool(io.get("states")),
                 bilstm_last=io.get("bilstm_last", "matlab"), opset=opset, name=int8_model.graph.name or "lstm2onnx")


def random_sequences(features: int, *, batch: int = 8, time_steps: int = 20, seed: int = 0) -> list[np.ndarray]:
    """Seeded N(0, 1) sequences of 1..time_steps steps (the first the longest), as ``verify`` draws them."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, time_steps + 1, size=batch)
    lengths[0] = time_steps
    return [rng.standard_normal((int(L), features)).astype(np.float32) for L in lengths]
