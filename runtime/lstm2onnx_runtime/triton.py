"""Triton Inference Server's python backend on a :class:`StreamPool`: correlation IDs become streams.

``lstm2onnx triton MODEL.onnx -o REPO --backend python`` writes a
``model.py`` whose only line imports :class:`TritonPythonModel` from here, so
the serving logic is tested and versioned with the runtime. Triton's sequence
batcher (``direct`` strategy) routes every request of a sequence (one
correlation ID) to the same model instance and fills the slots of a batch with
the requests that are waiting; :meth:`TritonPythonModel.execute` then gets one
request per slot and sends back one response per request:

- START opens a stream for the correlation ID (or, on a live ID, resets it to
  the network's initial state); END closes it after its step;
- slots with READY = 0 are Triton's null requests, whose tensors hold garbage
  (stepping them puts NaN and junk into state rows): they are skipped;
- all ready requests are stepped together in one :meth:`StreamPool.step`,
  whatever their chunk lengths ``T_i`` (``[1, T_i, F]`` in, ``[1, T_i, K]`` or
  ``[1, K]`` out);
- a bad request (wrong shape, NaN/Inf, a correlation ID without START) gets its
  own error response; the other requests of the batch proceed;
- Triton does not tell the model when it drops a sequence that stayed idle past
  ``max_sequence_idle_microseconds``; each ``execute`` first frees the streams
  idle longer than that (measured from their last request, which is never
  earlier than Triton's own clock for the sequence, so a stream is never freed
  before Triton has released its slot).

The model's parameters (``config.pbtxt``): ``provider`` ('cpu' or 'cuda'; with
'cuda' the state pages stay in GPU memory), ``intra_op_threads`` (onnxruntime
threads per instance), ``page_size`` (streams per state page),
``model_file`` (default ``model.onnx`` in the version folder).

Only numpy and onnxruntime are imported; ``triton_python_backend_utils``
exists only inside Triton's python backend stub and is imported in
:meth:`TritonPythonModel.initialize` (tests give a stand-in).
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from .batching import check_sequence
from .errors import RuntimeInputError, StreamError
from .network import Network, load
from .streams import Stream, StreamPool

CONTROLS = {"START": "CONTROL_SEQUENCE_START", "END": "CONTROL_SEQUENCE_END", "READY": "CONTROL_SEQUENCE_READY",
            "CORRID": "CONTROL_SEQUENCE_CORRID"}
TRITON_DEFAULT_IDLE_US = 1_000_000  # Triton's max_sequence_idle_microseconds when a config leaves it out


@dataclass(frozen=True)
class SequenceStep:
    """One ready request of a sequence: its correlation ID, its flags and its ``[T, F]`` chunk."""

    sequence_id: int
    start: bool
    end: bool
    chunk: Any


class SequenceStreams:
    """Correlation ID -> :class:`Stream` on one pool, stepped a batch of requests at a time.

    ``idle_seconds``: a stream whose last request is older than this is freed at
    the next :meth:`execute` (None: never). ``clock``: seconds, monotonic.
    """

    def __init__(self, pool: StreamPool, idle_seconds: float | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.pool, self.idle_seconds, self.clock = pool, idle_seconds, clock
        self._streams: dict[int, Stream] = {}
        self._last: dict[int, float] = {}
        self._features, self._nan_policy = pool.info.features, pool.net.nan_policy
        self._sequence_output = pool.info.sequence_output

    def __len__(self) -> int:
        return len(self._streams)

    def __contains__(self, sequence_id: int) -> bool:
        return sequence_id in self._streams

    def execute(self, steps: list[SequenceStep]) -> list[np.ndarray | Exception]:
        """Advance every step's stream; per step its output (``[T, K]`` or ``[K]``) or the error it alone caused.

        Streams idle past ``idle_seconds`` are freed first. Steps with START
        open (or reset) their stream even when their chunk is then refused.
        Two steps of one correlation ID (Triton never batches them, a caller
        might) are stepped one after the other, in order.
        """
        now = self.clock()
        self.free_idle(now)
        results: list[np.ndarray | Exception | None] = [None] * len(steps)
        pending: list[tuple[int, Stream, np.ndarray]] = []
        for k, step in enumerate(steps):
            try:
                stream = self._stream_for(step)
                self._last[step.sequence_id] = now
                pending.append((k, stream, check_sequence("request", step.chunk, f"of correlation ID {step.sequence_id}",
                                                          self._features, self._nan_policy)))
            except (RuntimeInputError, StreamError) as error:
                results[k] = error
        while pending:
            batch, later, seen = [], [], set()
            for item in pending:
                (later if item[1] in seen else batch).append(item)
                seen.add(item[1])
            try:
                out = self.pool.step({stream: chunk for _, stream, chunk in batch})
            except Exception as error:  # onnxruntime's own types: the batch fails together, each request told why
                for k, _, _ in batch:
                    results[k] = error
            else:
                for k, stream, _ in batch:
                    results[k] = out[stream]
            pending = later
        for step in steps:
            if step.end:
                self.close(step.sequence_id)
        return results  # type: ignore[return-value]

    def _stream_for(self, step: SequenceStep) -> Stream:
        stream = self._streams.get(step.sequence_id)
        if step.start:
            if stream is None:
                stream = self._streams[step.sequence_id] = self.pool.open()
            else:
                stream.reset()
            return stream
        if stream is None:
            raise StreamError(f"correlation ID {step.sequence_id} has no open sequence: its first request needs the START flag "
                              f"(a sequence idle for more than {self.idle_seconds} s is freed)")
        return stream

    def free_idle(self, now: float | None = None) -> list[int]:
        """Close the streams whose last request is more than ``idle_seconds`` old; return their correlation IDs."""
        if self.idle_seconds is None:
            return []
        now = self.clock() if now is None else now
        idle = [sid for sid, last in self._last.items() if now - last > self.idle_seconds]
        for sid in idle:
            self.close(sid)
        return idle

    def close(self, sequence_id: int) -> None:
        stream = self._streams.pop(sequence_id, None)
        self._last.pop(sequence_id, None)
        if stream is not None and not stream.closed:
            stream.close()

    def close_all(self) -> None:
        for sid in list(self._streams):
            self.close(sid)


class TritonPythonModel:
    """The model class Triton's python backend instantiates (one per model instance, each in its own process)."""

    pb: Any = None  # triton_python_backend_utils; set here only by tests

    def initialize(self, args: dict[str, str]) -> None:
        """Load ``<repository>/<version>/model.onnx`` and read the names and the idle timeout from the config."""
        if self.pb is None:
            self.pb = importlib.import_module("triton_python_backend_utils")
            _quiet_dlpack_capsules()
        config = json.loads(args["model_config"])
        params = {key: value.get("string_value", "") for key, value in config.get("parameters", {}).items()}
        provider = params.get("provider", "cpu")
        if provider == "cuda" and args.get("model_instance_kind") == "GPU":
            # Each instance is its own stub process, and CUDA starts with the first onnxruntime CUDA session: showing
            # only the instance's GPU places the session and the state pages on it (device 0 of this process).
            os.environ["CUDA_VISIBLE_DEVICES"] = instance_gpu(os.environ.get("CUDA_VISIBLE_DEVICES"),
                                                              int(args.get("model_instance_device_id", "0")))
        path = os.path.join(args["model_repository"], str(args["model_version"]), params.get("model_file", "model.onnx"))
        threads = int(params.get("intra_op_threads", "0")) or None
        net = load(path, provider, intra_op_threads=threads)
        batching = config.get("sequence_batching", {})
        idle_us = int(batching.get("max_sequence_idle_microseconds", 0) or TRITON_DEFAULT_IDLE_US)
        self.controls = _control_names(batching)
        self.input = config["input"][0]["name"]
        self.output = config["output"][0]["name"]
        self.setup(net, idle_us / 1e6, int(params.get("page_size", "256")))

    def setup(self, net: Network, idle_seconds: float | None, page_size: int = 256) -> None:
        """The pool and the correlation-ID table (initialize's second half; tests call it with a loaded network)."""
        self.streams = SequenceStreams(StreamPool(net, page_size), idle_seconds)

    def execute(self, requests: list) -> list:
        """One response per request: READY=0 slots get an empty one, the others their output or their own error."""
        pb, names = self.pb, self.controls
        freed = self.streams.free_idle()
        if freed and hasattr(pb, "Logger"):
            pb.Logger.log_info(f"lstm2onnx: freed idle sequences {freed} (no request for {self.streams.idle_seconds} s)")
        steps, where, responses = [], [], []
        for k, request in enumerate(requests):
            if not _flag(pb, request, names["READY"]):
                responses.append(pb.InferenceResponse(output_tensors=[]))
                continue
            responses.append(None)
            x = _array(pb, request, self.input)
            if x.ndim == 3 and x.shape[0] == 1:
                x = x[0]  # one request is one sequence: Triton adds the batch axis of max_batch_size
            sequence_id = int(_array(pb, request, names["CORRID"]).reshape(-1)[0])
            steps.append(SequenceStep(sequence_id, _flag(pb, request, names["START"]), _flag(pb, request, names["END"]), x))
            where.append(k)
        for k, result in zip(where, self.streams.execute(steps)):
            if isinstance(result, Exception):
                responses[k] = pb.InferenceResponse(output_tensors=[], error=pb.TritonError(str(result)))
            else:
                # DLPack, not pb.Tensor(name, ndarray): the stub of Triton 2.5x reads numpy 1's array descriptor and
                # sends an empty buffer for a numpy 2 array; DLPack carries shape and dtype itself.
                responses[k] = pb.InferenceResponse(output_tensors=[pb.Tensor.from_dlpack(self.output, np.ascontiguousarray(result[None]))])
        return responses

    def finalize(self) -> None:
        streams = getattr(self, "streams", None)
        if streams is not None:
            streams.close_all()


def instance_gpu(visible: str | None, device_id: int) -> str:
    """``CUDA_VISIBLE_DEVICES`` for a model instance on Triton's GPU ``device_id``: Triton numbers the GPUs that its
    own ``CUDA_VISIBLE_DEVICES`` shows (which the stub inherits), so with ``visible`` '2,3' its device 1 is GPU 3."""
    if visible is None:
        return str(device_id)
    shown = [entry.strip() for entry in visible.split(",") if entry.strip()]
    if not 0 <= device_id < len(shown):
        raise StreamError(f"Triton placed this instance on GPU {device_id}, but CUDA_VISIBLE_DEVICES={visible!r} shows "
                          f"{len(shown)} GPU(s)")
    return shown[device_id]


def _quiet_dlpack_capsules() -> None:
    """Silence one harmless message per response in the server log.

    The stub takes over the DLPack capsule of each output array and renames it
    ("used_dlpack"); numpy's capsule destructor knows only its own "used"
    name, so it reports ``ValueError: PyCapsule_GetPointer called with
    incorrect name`` as an unraisable exception and leaves the tensor to its
    new owner, which frees it. Every other unraisable exception is shown as before.
    """
    previous = sys.unraisablehook

    def hook(unraisable: Any) -> None:
        error = unraisable.exc_value
        if not (isinstance(error, ValueError) and str(error) == "PyCapsule_GetPointer called with incorrect name"):
            previous(unraisable)

    sys.unraisablehook = hook


def _control_names(batching: dict) -> dict[str, str]:
    """``{"START": input name, ...}`` from the config's control inputs; all four are required."""
    names = {}
    for control_input in batching.get("control_input", []):
        for control in control_input.get("control", []):
            for short, kind in CONTROLS.items():
                if control.get("kind") == kind:
                    names[short] = control_input["name"]
    missing = [CONTROLS[short] for short in CONTROLS if short not in names]
    if missing:
        raise StreamError(f"the model config's sequence_batching needs control inputs for {', '.join(missing)}")
    return names


def _array(pb: Any, request: Any, name: str) -> np.ndarray:
    """A request's input tensor through DLPack: the stub's ``as_numpy`` (Triton 2.5x) builds numpy 2 arrays with the
    wrong element layout (a [1, 4, 2] float32 input 0..7 reads back as zeros), DLPack carries shape and dtype itself."""
    return np.from_dlpack(pb.get_input_tensor_by_name(request, name))


def _flag(pb: Any, request: Any, name: str) -> bool:
    return bool(_array(pb, request, name).reshape(-1)[0])
