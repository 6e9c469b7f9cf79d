"""A real Triton server (the nvidia-pytriton wheel's, started by ``lstm2onnx serve``'s TritonServer) and tritonclient.

One server for the module, on free ports, serving two python-backend models
written by ``lstm2onnx triton``: ``net`` (from a model built without state, so
the stateful copy is what is served) and ``brief`` (the same network with a
0.3 s idle timeout). Tolerance: 1e-5 against the float64 reference.
Skipped, with the reason, only when the server cannot start here.
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from conftest import ATOL_FLOAT32
from serving_helpers import FEATURES, network

from lstm2onnx import exportONNXNetwork, reference
from lstm2onnx.serving import ServeError, TritonServer, write_repository

grpcclient = pytest.importorskip("tritonclient.grpc", reason="tritonclient is in the serve/dev extras")
from tritonclient.utils import InferenceServerException  # noqa: E402

QUEUE_DELAY_US = 20_000  # long enough that concurrent clients on a loaded 2-core CI machine land in one batch


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("triton")
    layers = network()
    exportONNXNetwork(layers, folder / "plain.onnx")
    (folder / "repo").mkdir()
    write_repository(folder / "plain.onnx", folder / "repo", name="net", max_batch=32, queue_delay_us=QUEUE_DELAY_US, idle_us=60_000_000)
    write_repository(folder / "plain.onnx", folder / "repo", name="brief", max_batch=4, idle_us=300_000)
    try:
        triton = TritonServer(folder / "repo").start(timeout=90)
    except ServeError as error:
        pytest.skip(f"Triton's server cannot start here: {error}")
    yield layers, triton
    triton.stop()


def infer(client, model: str, sequence_id: int, chunk: np.ndarray, *, start=False, end=False) -> np.ndarray:
    tensor = grpcclient.InferInput("sequences", [1, *chunk.shape], "FP32")
    tensor.set_data_from_numpy(np.ascontiguousarray(chunk[None], np.float32))
    result = client.infer(model, [tensor], sequence_id=sequence_id, sequence_start=start, sequence_end=end)
    return result.as_numpy(result.get_response().outputs[0].name)[0]


def statistics(client, model: str) -> tuple[int, int]:
    stats = client.get_inference_statistics(model, as_json=True)["model_stats"][0]
    return int(stats.get("inference_count", 0)), int(stats.get("execution_count", 0))


def test_interleaved_sequences_equal_the_reference_and_are_batched(server):
    """20 clients at once, each a sequence in random chunk lengths from START to END."""
    layers, triton = server
    rng = np.random.default_rng(13)
    xs = {sid: rng.standard_normal((int(rng.integers(8, 24)), FEATURES)).astype(np.float32) for sid in range(1000, 1020)}
    cuts = {sid: np.cumsum(rng.integers(1, 5, size=len(x))) for sid, x in xs.items()}
    got: dict[int, list[np.ndarray]] = {sid: [] for sid in xs}
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(xs))
    before = statistics(grpcclient.InferenceServerClient(triton.grpc_url), "net")

    def client_of(sid: int) -> None:
        try:
            client = grpcclient.InferenceServerClient(triton.grpc_url)
            pieces = np.split(xs[sid], [c for c in cuts[sid] if c < len(xs[sid])])
            barrier.wait()
            for k, chunk in enumerate(pieces):
                got[sid].append(infer(client, "net", sid, chunk, start=k == 0, end=k == len(pieces) - 1))
        except BaseException as error:  # reported by the main thread
            errors.append(error)

    threads = [threading.Thread(target=client_of, args=(sid,)) for sid in xs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors[0]
    expected = reference.predict(layers, list(xs.values()))
    for sid, e in zip(xs, expected):
        assert np.abs(np.concatenate(got[sid]) - e).max() <= ATOL_FLOAT32, sid
    inferences, executions = (a - b for a, b in zip(statistics(grpcclient.InferenceServerClient(triton.grpc_url), "net"), before))
    assert inferences == sum(len(g) for g in got.values())
    assert executions < inferences  # requests of different sequences were stepped together


def test_start_on_a_live_sequence_restarts_it(server):
    layers, triton = server
    client = grpcclient.InferenceServerClient(triton.grpc_url)
    rng = np.random.default_rng(14)
    first, second = (rng.standard_normal((4, FEATURES)).astype(np.float32) for _ in range(2))
    infer(client, "net", 77, first, start=True)
    y = infer(client, "net", 77, second, start=True, end=True)
    np.testing.assert_allclose(y, reference.predict(layers, [second])[0], rtol=0, atol=ATOL_FLOAT32)


def test_a_bad_request_fails_alone(server):
    """A NaN chunk among concurrent good ones: its own error; the others, and its sequence afterwards, are right."""
    layers, triton = server
    rng = np.random.default_rng(15)
    xs = {sid: rng.standard_normal((6, FEATURES)).astype(np.float32) for sid in range(2000, 2006)}
    bad_sid = 2003
    results: dict[int, object] = {}
    client = grpcclient.InferenceServerClient(triton.grpc_url)
    for sid, x in xs.items():
        infer(client, "net", sid, x[:3], start=True)
    barrier = threading.Barrier(len(xs))

    def second_chunk(sid: int) -> None:
        chunk = xs[sid][3:].copy()
        if sid == bad_sid:
            chunk[1, 0] = np.nan
        c = grpcclient.InferenceServerClient(triton.grpc_url)
        barrier.wait()
        try:
            results[sid] = infer(c, "net", sid, chunk)
        except InferenceServerException as error:
            results[sid] = error

    threads = [threading.Thread(target=second_chunk, args=(sid,)) for sid in xs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    expected = dict(zip(xs, reference.predict(layers, list(xs.values()))))
    for sid, result in results.items():
        if sid == bad_sid:
            assert isinstance(result, InferenceServerException) and "NaN or Inf" in str(result) and f"correlation ID {sid}" in str(result)
        else:
            np.testing.assert_allclose(result, expected[sid][3:], rtol=0, atol=ATOL_FLOAT32)
    # the refused chunk moved nothing: the bad sequence goes on from step 3 with clean data
    y = infer(client, "net", bad_sid, xs[bad_sid][3:], end=True)
    np.testing.assert_allclose(y, expected[bad_sid][3:], rtol=0, atol=ATOL_FLOAT32)
    for sid in xs:
        if sid != bad_sid:
            infer(client, "net", sid, xs[sid][:1], end=True)


def test_an_idle_sequence_is_freed(server):
    """Triton drops the sequence after 0.3 s idle; the model frees its stream at its next execute (and logs it)."""
    _, triton = server
    client = grpcclient.InferenceServerClient(triton.grpc_url)
    x = np.random.default_rng(16).standard_normal((3, FEATURES)).astype(np.float32)
    infer(client, "brief", 501, x, start=True)
    time.sleep(1.0)
    with pytest.raises(InferenceServerException, match="START"):
        infer(client, "brief", 501, x)
    infer(client, "brief", 502, x, start=True, end=True)  # an execute after the timeout: the idle stream is freed
    deadline = time.monotonic() + 10
    while "freed idle sequences [501]" not in triton.log_tail(200) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "freed idle sequences [501]" in triton.log_tail(200)


def test_lstm2onnx_serve_starts_and_stops_cleanly_on_ctrl_c(server, tmp_path):
    """The CLI: serves on the ports asked for, logs to the file asked for, and on SIGINT stops the server and exits 0."""
    import signal
    import subprocess
    import sys

    from lstm2onnx.serving.server import free_ports

    _, triton = server
    http, grpc, metrics = free_ports(3)
    log = tmp_path / "served.log"
    process = subprocess.Popen([sys.executable, "-m", "lstm2onnx.cli", "serve", str(triton.repository), "--http-port", str(http),
                                "--grpc-port", str(grpc), "--metrics-port", str(metrics), "--log-file", str(log)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()
        assert line.startswith("serving") and f"gRPC localhost:{grpc}" in line, (line, process.stderr.read() if process.poll() is not None else "")
        client = grpcclient.InferenceServerClient(f"localhost:{grpc}")
        assert client.is_model_ready("net")
        process.send_signal(signal.SIGINT)
        assert process.wait(60) == 0
    finally:
        if process.poll() is None:
            process.kill()
    with pytest.raises(InferenceServerException):
        client.is_server_live()
    assert "Started GRPCInferenceService" in log.read_text()
