"""The python backend's TritonPythonModel without a server: request objects shaped as Triton's python backend makes them.

A stand-in for ``triton_python_backend_utils`` hands out input tensors (numpy
arrays, which speak DLPack like the stub's tensors) and records responses. A
batch is what Triton's direct sequence batcher sends: one request per slot,
READY=0 slots filled with garbage. Tolerance: 1e-5 against the float64 reference.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import ATOL_FLOAT32
from serving_helpers import FEATURES, config_json, network, repository

from lstm2onnx import exportONNXNetwork, reference
from lstm2onnx_runtime import StreamPool, load
from lstm2onnx_runtime.errors import RuntimeInputError, StreamError
from lstm2onnx_runtime.triton import SequenceStep, SequenceStreams, TritonPythonModel


class FakePb:
    """What the model uses of ``triton_python_backend_utils``."""

    class TritonError:
        def __init__(self, message: str) -> None:
            self.message = message

    class InferenceResponse:
        def __init__(self, output_tensors, error=None) -> None:
            self.output_tensors, self.error = output_tensors, error

    class Tensor:
        @staticmethod
        def from_dlpack(name, array):
            return name, np.from_dlpack(array).copy()

    @staticmethod
    def get_input_tensor_by_name(request, name):
        return request[name]


def request(sequence_id: int, x: np.ndarray, *, start=False, end=False, ready=True) -> dict:
    flag = lambda value: np.array([[int(value)]], np.int32)  # noqa: E731
    return {"sequences": x[None].astype(np.float32), "START": flag(start), "END": flag(end), "READY": flag(ready),
            "CORRID": np.array([[sequence_id]], np.uint64)}


def null_request(rng, steps: int) -> dict:
    """A READY=0 slot: Triton copies a shape and leaves garbage (here NaN and huge values) in every tensor."""
    junk = rng.standard_normal((steps, FEATURES)) * 1e30
    junk[0, 0] = np.nan
    return {**request(int(rng.integers(1, 2**40)), junk, start=bool(rng.integers(2)), end=True), "READY": np.zeros((1, 1), np.int32)}


@pytest.fixture
def served(tmp_path):
    """(layers, model) with initialize() run on a repository written by lstm2onnx triton from a non-stateful model."""
    layers = network()
    path = tmp_path / "plain.onnx"
    exportONNXNetwork(layers, path)
    folder = repository(tmp_path, path, idle_us=2_000_000)
    model = TritonPythonModel()
    model.pb = FakePb
    model.initialize({"model_config": config_json((folder / "config.pbtxt").read_text()), "model_repository": str(folder),
                      "model_version": "1", "model_instance_kind": "CPU", "model_instance_device_id": "0"})
    return layers, model


def outputs(response) -> np.ndarray:
    assert response.error is None, response.error.message
    (name, value), = response.output_tensors
    assert name == "softmax_1" or name  # the graph's output name, whatever the head is called
    return value[0]


def test_interleaved_sequences_with_null_slots_equal_the_reference(served, rng):
    layers, model = served
    xs = {sid: rng.standard_normal((int(rng.integers(6, 20)), FEATURES)).astype(np.float32) for sid in range(101, 117)}
    position = dict.fromkeys(xs, 0)
    got: dict[int, list[np.ndarray]] = {sid: [] for sid in xs}
    while any(position[s] < len(xs[s]) for s in xs):
        live = [s for s in xs if position[s] < len(xs[s])]
        chosen = rng.choice(live, size=int(rng.integers(1, len(live) + 1)), replace=False)
        batch, order = [], []
        for sid in chosen:
            n = int(rng.integers(1, 5))
            chunk = xs[sid][position[sid] : position[sid] + n]
            batch.append(request(int(sid), chunk, start=position[sid] == 0, end=position[sid] + n >= len(xs[sid])))
            order.append(int(sid))
            position[sid] += len(chunk)
            if rng.random() < 0.5:
                batch.append(null_request(rng, len(chunk)))
                order.append(None)
        responses = model.execute(batch)
        assert len(responses) == len(batch)
        for sid, response in zip(order, responses):
            if sid is None:
                assert response.output_tensors == [] and response.error is None
            else:
                got[sid].append(outputs(response))
    expected = reference.predict(layers, list(xs.values()))
    for sid, e in zip(xs, expected):
        assert np.abs(np.concatenate(got[sid]) - e).max() <= ATOL_FLOAT32
    assert len(model.streams) == 0  # every sequence ended with END
    assert len(model.streams.pool) == 0


def test_start_on_a_live_correlation_id_restarts_the_sequence(served, rng):
    layers, model = served
    first, second = (rng.standard_normal((5, FEATURES)).astype(np.float32) for _ in range(2))
    model.execute([request(7, first, start=True)])
    y = outputs(model.execute([request(7, second, start=True)])[0])
    np.testing.assert_allclose(y, reference.predict(layers, [second])[0], rtol=0, atol=ATOL_FLOAT32)
    assert len(model.streams.pool) == 1  # reset, not a second stream


def test_a_bad_request_fails_alone_and_leaves_its_sequence_as_it_was(served, rng):
    layers, model = served
    xs = [rng.standard_normal((6, FEATURES)).astype(np.float32) for _ in range(3)]
    model.execute([request(k, x[:3], start=True) for k, x in enumerate(xs)])
    nan = xs[1][3:].copy()
    nan[1, 2] = np.nan
    batch = [request(0, xs[0][3:]), request(1, nan), request(2, xs[2][3:, :2]), request(99, xs[0][3:])]
    responses = model.execute(batch)
    assert outputs(responses[0]).shape == (3, 2)
    assert "NaN or Inf" in responses[1].error.message and "correlation ID 1" in responses[1].error.message
    assert "2 features per time step, expected 3" in responses[2].error.message
    assert "correlation ID 99 has no open sequence" in responses[3].error.message and "START" in responses[3].error.message
    # the refused chunks moved nothing: sequences 1 and 2 go on from where they were
    for k in (1, 2):
        y = outputs(model.execute([request(k, xs[k][3:])])[0])
        np.testing.assert_allclose(y, reference.predict(layers, [xs[k]])[0][3:], rtol=0, atol=ATOL_FLOAT32)


def test_end_closes_and_a_later_request_needs_start(served, rng):
    _, model = served
    x = rng.standard_normal((4, FEATURES)).astype(np.float32)
    model.execute([request(5, x, start=True, end=True)])
    assert 5 not in model.streams and len(model.streams.pool) == 0
    assert "no open sequence" in model.execute([request(5, x)])[0].error.message


def test_sequences_idle_past_the_timeout_are_freed(tmp_path, rng):
    """The table frees on its clock; a sequence stepped within the timeout survives."""
    layers = network()
    exportONNXNetwork(layers, tmp_path / "s.onnx", stateful=True)
    now = [0.0]
    streams = SequenceStreams(StreamPool(load(tmp_path / "s.onnx", "cpu")), idle_seconds=10.0, clock=lambda: now[0])
    x = rng.standard_normal((8, FEATURES)).astype(np.float32)
    streams.execute([SequenceStep(1, True, False, x[:4]), SequenceStep(2, True, False, x[:4])])
    now[0] = 8.0
    streams.execute([SequenceStep(2, False, False, x[4:6])])
    now[0] = 10.5  # sequence 1 idle 10.5 s > 10 s, sequence 2 idle 2.5 s
    y, error = streams.execute([SequenceStep(2, False, False, x[6:]), SequenceStep(1, False, False, x[4:])])
    assert isinstance(error, StreamError) and "no open sequence" in str(error)
    np.testing.assert_allclose(y, reference.predict(layers, [x])[0][6:], rtol=0, atol=ATOL_FLOAT32)
    assert 1 not in streams and len(streams.pool) == 1


def test_two_requests_of_one_sequence_in_a_batch_step_in_order(tmp_path, rng):
    layers = network()
    exportONNXNetwork(layers, tmp_path / "s.onnx", stateful=True)
    streams = SequenceStreams(StreamPool(load(tmp_path / "s.onnx", "cpu")))
    x = rng.standard_normal((5, FEATURES)).astype(np.float32)
    first, second = streams.execute([SequenceStep(3, True, False, x[:2]), SequenceStep(3, False, True, x[2:])])
    np.testing.assert_allclose(np.concatenate([first, second]), reference.predict(layers, [x])[0], rtol=0, atol=ATOL_FLOAT32)
    assert len(streams.pool) == 0


def test_last_output_mode_answers_one_vector_per_request(tmp_path, rng):
    layers = network("last")
    exportONNXNetwork(layers, tmp_path / "last.onnx", stateful=True, ragged=True)
    streams = SequenceStreams(StreamPool(load(tmp_path / "last.onnx", "cpu")))
    xs = [rng.standard_normal((n, FEATURES)).astype(np.float32) for n in (2, 5)]
    out = streams.execute([SequenceStep(k, True, False, x) for k, x in enumerate(xs)])
    np.testing.assert_allclose(np.stack(out), reference.predict(layers, xs), rtol=0, atol=ATOL_FLOAT32)


def test_initialize_refuses_a_config_without_the_sequence_controls(tmp_path):
    layers = network()
    exportONNXNetwork(layers, tmp_path / "plain.onnx")
    folder = repository(tmp_path, tmp_path / "plain.onnx")
    text = (folder / "config.pbtxt").read_text()
    text = text.replace('{ name: "READY" control [ { kind: CONTROL_SEQUENCE_READY int32_false_true: [ 0, 1 ] } ] },\n', "")
    model = TritonPythonModel()
    model.pb = FakePb
    with pytest.raises(StreamError, match="CONTROL_SEQUENCE_READY"):
        model.initialize({"model_config": config_json(text), "model_repository": str(folder), "model_version": "1"})


def test_runtime_input_errors_are_the_runtime_types(tmp_path, rng):
    """The table answers with the runtime's own error types (the adapter turns them into TritonError responses)."""
    layers = network()
    exportONNXNetwork(layers, tmp_path / "s.onnx", stateful=True)
    streams = SequenceStreams(StreamPool(load(tmp_path / "s.onnx", "cpu")))
    (error,) = streams.execute([SequenceStep(1, True, False, np.zeros((0, FEATURES), np.float32))])
    assert isinstance(error, RuntimeInputError) and "0 time steps" in str(error)


def test_the_python_model_module_imports_only_the_runtime():
    """model.py runs inside Triton's stub: numpy and onnxruntime only (no torch, onnx, lstm2onnx or tritonclient)."""
    import subprocess
    import sys

    code = ("import sys, lstm2onnx_runtime.triton\n"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'onnx', 'lstm2onnx', 'tritonclient', 'triton_python_backend_utils'))\n"
            "assert not bad, bad\n")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_only_the_dlpack_capsule_message_is_silenced(monkeypatch):
    """The hook drops numpy's complaint about the stub's renamed capsules and passes every other unraisable on."""
    import sys
    from types import SimpleNamespace

    from lstm2onnx_runtime import triton

    seen = []
    monkeypatch.setattr(sys, "unraisablehook", seen.append)
    triton._quiet_dlpack_capsules()
    capsule = SimpleNamespace(exc_value=ValueError("PyCapsule_GetPointer called with incorrect name"))
    other = SimpleNamespace(exc_value=ValueError("something else"))
    sys.unraisablehook(capsule)
    sys.unraisablehook(other)
    assert seen == [other]


@pytest.mark.parametrize("visible, device_id, expected", [
    (None, 0, "0"), (None, 3, "3"),
    ("2,3", 1, "3"), ("2, 3", 0, "2"), ("GPU-5f1e,GPU-77aa", 1, "GPU-77aa"),  # Triton numbers the GPUs it was shown
])
def test_a_gpu_instance_sees_only_its_gpu(visible, device_id, expected):
    from lstm2onnx_runtime.triton import instance_gpu

    assert instance_gpu(visible, device_id) == expected


def test_a_gpu_instance_outside_the_visible_gpus_is_refused():
    from lstm2onnx_runtime.triton import instance_gpu

    with pytest.raises(StreamError, match=r"GPU 2, but CUDA_VISIBLE_DEVICES='0,1' shows 2 GPU\(s\)"):
        instance_gpu("0,1", 2)
    with pytest.raises(StreamError, match=r"CUDA_VISIBLE_DEVICES='' shows 0 GPU"):  # set but empty: no GPU at all
        instance_gpu("", 0)
