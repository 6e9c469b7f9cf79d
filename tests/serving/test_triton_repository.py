"""``lstm2onnx triton``: the model repository, its configs parsed with Triton's own schema, state pairs against the graph.

The onnxruntime-backend model is also run the way Triton's implicit state runs
it (each request's output state fed back as the next request's input state,
the START control set on a sequence's first request), in onnxruntime, against
the float64 reference: tolerance 1e-5.
"""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from conftest import ATOL_FLOAT32
from serving_helpers import FEATURES, network, repository

from lstm2onnx import exportONNXNetwork, lstmLayer, reference, sequenceInputLayer, initialize, bilstmLayer
from lstm2onnx.cli import main
from lstm2onnx.errors import Lstm2OnnxError
from lstm2onnx.serving import write_repository

model_config_pb2 = pytest.importorskip("tritonclient.grpc.model_config_pb2", reason="tritonclient is in the serve/dev extras")
from google.protobuf import text_format  # noqa: E402  (protobuf comes with tritonclient's schema)


def parse(folder):
    return text_format.Parse((folder / "config.pbtxt").read_text(), model_config_pb2.ModelConfig())


def graph_io(model: onnx.ModelProto):
    shape = lambda v: [d.dim_value if d.HasField("dim_value") else -1 for d in v.type.tensor_type.shape.dim]  # noqa: E731
    return {i.name: shape(i) for i in model.graph.input}, {o.name: shape(o) for o in model.graph.output}


@pytest.mark.parametrize("ragged", [False, True], ids=["plain", "ragged"])
def test_onnxruntime_config_has_one_state_pair_per_graph_state_tensor(tmp_path, ragged):
    layers = network()
    exportONNXNetwork(layers, tmp_path / "m.onnx", ragged=ragged)
    folder = repository(tmp_path, tmp_path / "m.onnx", backend="onnxruntime", max_batch=32, instances=2, idle_us=5_000_000,
                        queue_delay_us=250)
    config = parse(folder)
    model = onnx.load(folder / "1" / "model.onnx")
    inputs, outputs = graph_io(model)
    assert config.backend == "onnxruntime" and config.max_batch_size == 32
    assert [(g.count, g.kind) for g in config.instance_group] == [(2, model_config_pb2.ModelInstanceGroup.KIND_CPU)]
    batching = config.sequence_batching
    assert batching.max_sequence_idle_microseconds == 5_000_000
    assert batching.WhichOneof("strategy_choice") == "direct" and batching.direct.max_queue_delay_microseconds == 250
    # START: the onnxruntime backend loads the model only if each control is a graph input of dims [1] after the batch
    # axis and the control's data type (int32_false_true: INT32)
    (control,) = batching.control_input
    assert control.name == "START" and len(control.control) == 1
    assert control.control[0].kind == model_config_pb2.ModelSequenceBatching.Control.CONTROL_SEQUENCE_START
    assert list(control.control[0].int32_false_true) == [0, 1]
    start = next(i for i in model.graph.input if i.name == "START")
    assert start.type.tensor_type.elem_type == onnx.TensorProto.INT32 and inputs["START"] == [-1, 1]
    assert start.type.tensor_type.shape.dim[0].dim_param == model.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    onnx.checker.check_model(model, full_check=True)
    # every state input of the graph is carried, each to its own output, with dims [H] = the graph's [batch, H] minus batch
    pairs = {s.input_name: s for s in batching.state}
    state_inputs = sorted(n for n in inputs if n.endswith(".in"))
    assert sorted(pairs) == state_inputs == ["lstm_a.CellState.in", "lstm_a.HiddenState.in", "lstm_b.CellState.in", "lstm_b.HiddenState.in"]
    for name, state in pairs.items():
        assert state.output_name == name.removesuffix(".in") + ".out" and state.output_name in outputs
        assert inputs[name] == outputs[state.output_name] == [-1, state.dims[0]]
        assert len(state.initial_state) == 1  # a repeated field in Triton's schema
        assert list(state.initial_state[0].dims) == list(state.dims) and state.data_type == model_config_pb2.TYPE_FP32
    # what the backend counts: config inputs + controls + states = graph inputs
    assert len(config.input) + len(batching.control_input) + len(batching.state) == len(inputs)
    assert config.input[0].name == "sequences" and list(config.input[0].dims) == [-1, FEATURES]
    if ragged:
        assert config.input[1].name == "sequence_lengths" and list(config.input[1].dims) == [1]
        assert list(config.input[1].reshape.shape) == []
    assert [o.name for o in config.output] == [model.graph.output[0].name] and list(config.output[0].dims) == [-1, 2]
    # non-zero initial states come from data files; zeros from zero_data
    assert pairs["lstm_b.HiddenState.in"].initial_state[0].zero_data
    hidden = pairs["lstm_a.HiddenState.in"].initial_state[0]
    data = np.fromfile(folder / "initial_state" / hidden.data_file, "<f4")
    np.testing.assert_array_equal(data, np.full(8, 0.1, np.float32))
    cell = np.fromfile(folder / "initial_state" / pairs["lstm_a.CellState.in"].initial_state[0].data_file, "<f4")
    np.testing.assert_array_equal(cell, np.full(8, -0.2, np.float32))


@pytest.mark.parametrize("at_start", ["initial", "garbage"])
def test_onnxruntime_model_with_implicit_state_equals_the_reference(tmp_path, rng, at_start):
    """Triton's implicit state, done by hand: each output state fed back, START=1 on a sequence's first request.

    At START the state Triton passes is the config's initial state, or (no
    initial_state, or a START on a live correlation ID) whatever the slot holds:
    NaN here. The graph's START must replace it by the initial state; START=0
    carries the state on. One sequence starts over in the middle.
    """
    layers = network()
    exportONNXNetwork(layers, tmp_path / "m.onnx")
    folder = repository(tmp_path, tmp_path / "m.onnx", backend="onnxruntime")
    config = parse(folder)
    session = ort.InferenceSession(str(folder / "1" / "model.onnx"), providers=["CPUExecutionProvider"])
    n, steps, restart = 4, 9, 5  # four sequences stepped together, one step per request (a shared chunk length)
    xs = rng.standard_normal((n, steps, FEATURES)).astype(np.float32)
    state = {}
    for s in config.sequence_batching.state:
        (initial,) = s.initial_state
        value = np.zeros(s.dims[0], np.float32) if initial.zero_data else np.fromfile(folder / "initial_state" / initial.data_file, "<f4")
        state[s.input_name] = np.tile(value, (n, 1)) if at_start == "initial" else np.full((n, s.dims[0]), np.nan, np.float32)
    names = [config.output[0].name] + [s.output_name for s in config.sequence_batching.state]
    outputs = []
    for t in range(steps):
        start = np.zeros((n, 1), np.int32)
        start[:, 0] = t == 0
        start[2, 0] |= t == restart  # sequence 2 starts over, its carried state in the slot
        y, *new = session.run(names, {"sequences": xs[:, t : t + 1], "START": start, **state})
        state = dict(zip(state, new))
        outputs.append(y)
    outputs = np.concatenate(outputs, axis=1)
    expected = reference.predict(layers, list(xs))
    for k in (0, 1, 3):
        assert np.abs(outputs[k] - expected[k]).max() <= ATOL_FLOAT32
    assert np.abs(outputs[2, :restart] - expected[2][:restart]).max() <= ATOL_FLOAT32
    fresh = reference.predict(layers, [xs[2, restart:]])[0]
    assert np.abs(outputs[2, restart:] - fresh).max() <= ATOL_FLOAT32
    assert np.abs(outputs[2, restart:] - expected[2][restart:]).max() > 1e-3  # the restart changed something


def test_a_graph_with_a_start_tensor_is_refused_for_the_onnxruntime_backend(tmp_path):
    exportONNXNetwork(network(), tmp_path / "m.onnx", stateful=True)
    model = onnx.load(tmp_path / "m.onnx")
    model.graph.initializer.append(onnx.numpy_helper.from_array(np.zeros(1, np.float32), "START"))
    onnx.save(model, tmp_path / "m.onnx")
    with pytest.raises(Lstm2OnnxError, match=r"the graph already has tensors named \['START'\]"):
        repository(tmp_path, tmp_path / "m.onnx", backend="onnxruntime")
    assert repository(tmp_path, tmp_path / "m.onnx").is_dir()  # the python backend adds nothing to the graph


def test_python_config_and_files(tmp_path):
    layers = network()
    exportONNXNetwork(layers, tmp_path / "m.onnx", stateful=True)
    folder = repository(tmp_path, tmp_path / "m.onnx", name="speech-v2", max_batch=16, idle_us=3_000_000)
    config = parse(folder)
    assert folder.name == "speech-v2" and config.name == "speech-v2" and config.backend == "python"
    kinds = {c.name: model_config_pb2.ModelSequenceBatching.Control.Kind.Name(c.control[0].kind) for c in config.sequence_batching.control_input}
    assert kinds == {"START": "CONTROL_SEQUENCE_START", "END": "CONTROL_SEQUENCE_END", "READY": "CONTROL_SEQUENCE_READY",
                     "CORRID": "CONTROL_SEQUENCE_CORRID"}
    assert config.sequence_batching.direct.max_queue_delay_microseconds == 1000
    assert {k: v.string_value for k, v in config.parameters.items()} == {"provider": "cpu", "intra_op_threads": "1", "model_file": "model.onnx"}
    assert [i.name for i in config.input] == ["sequences"]  # no state inputs: the StreamPool keeps the state
    # model.py only imports the runtime's class; the stateful model is copied as it is
    source = (folder / "1" / "model.py").read_text()
    assert "from lstm2onnx_runtime.triton import TritonPythonModel" in source
    assert (folder / "1" / "model.onnx").read_bytes() == (tmp_path / "m.onnx").read_bytes()
    assert not (folder / "initial_state").exists()


def test_cuda_instances_are_gpu_instances(tmp_path):
    exportONNXNetwork(network(), tmp_path / "m.onnx")
    for backend in ("python", "onnxruntime"):
        config = parse(repository(tmp_path, tmp_path / "m.onnx", name=backend, backend=backend, provider="cuda"))
        assert config.instance_group[0].kind == model_config_pb2.ModelInstanceGroup.KIND_GPU


def test_last_mode_output_dims(tmp_path):
    exportONNXNetwork(network("last"), tmp_path / "m.onnx")
    assert list(parse(repository(tmp_path, tmp_path / "m.onnx")).output[0].dims) == [2]


def test_an_existing_model_folder_is_replaced_whole(tmp_path):
    exportONNXNetwork(network(), tmp_path / "m.onnx")
    folder = repository(tmp_path, tmp_path / "m.onnx", backend="onnxruntime")
    assert (folder / "initial_state").is_dir()
    folder = repository(tmp_path, tmp_path / "m.onnx", backend="python")
    assert not (folder / "initial_state").exists() and (folder / "1" / "model.py").is_file()
    assert sorted(p.name for p in folder.parent.iterdir()) == ["net"]  # no staging or old folders left


@pytest.mark.parametrize("options, message", [
    ({"backend": "tensorrt"}, "backend must be one of python, onnxruntime, got 'tensorrt'"),
    ({"provider": "rocm"}, "provider must be one of cpu, cuda"),
    ({"max_batch": 0}, "max_batch must be an integer from 1 to 2,147,483,647, got 0"),
    ({"max_batch": 2**31}, "max_batch must be an integer from 1 to 2,147,483,647, got 2147483648"),  # int32 in Triton's schema
    ({"instances": True}, "instances must be an integer from 1 to 2,147,483,647, got True"),
    ({"idle_us": 2**64}, "idle_us must be an integer from 1 to 18,446,744,073,709,551,615"),  # uint64
    ({"queue_delay_us": -1}, "queue_delay_us must be an integer from 0 to 18,446,744,073,709,551,615, got -1"),
    ({"name": "../escape"}, "model name must be letters"),
])
def test_bad_options_are_refused_before_anything_is_written(tmp_path, options, message):
    exportONNXNetwork(network(), tmp_path / "m.onnx")
    (tmp_path / "repo").mkdir()
    with pytest.raises(Lstm2OnnxError, match=message.replace("(", r"\(").replace(")", r"\)")):
        write_repository(tmp_path / "m.onnx", tmp_path / "repo", **options)
    assert list((tmp_path / "repo").iterdir()) == []


def test_models_that_cannot_be_served_with_state(tmp_path):
    (tmp_path / "repo").mkdir()
    exportONNXNetwork(initialize([sequenceInputLayer(3), bilstmLayer(4)], seed=0), tmp_path / "bi.onnx")
    with pytest.raises(Lstm2OnnxError, match="cannot be served as a stateful sequence: bilstmLayer") as error:
        write_repository(tmp_path / "bi.onnx", tmp_path / "repo")
    assert "Triton's sequence batcher sends each sequence in chunks" in str(error.value)
    assert "stateful=True" not in str(error.value)  # the builder's remedy names its Python API, not this command
    (tmp_path / "junk.onnx").write_bytes(b"not a model")
    with pytest.raises(Lstm2OnnxError, match="cannot read"):
        write_repository(tmp_path / "junk.onnx", tmp_path / "repo")
    exportONNXNetwork(initialize([sequenceInputLayer(3), lstmLayer(4)], seed=0), tmp_path / "ok.onnx")
    (tmp_path / "a-file").write_text("")
    with pytest.raises(Lstm2OnnxError, match="cannot make the repository folder .*a-file"):
        write_repository(tmp_path / "ok.onnx", tmp_path / "a-file")
    assert write_repository(tmp_path / "ok.onnx", tmp_path / "new" / "repo") == tmp_path / "new" / "repo" / "ok"  # made on the way


def test_cli_triton_writes_the_repository(tmp_path, capsys):
    exportONNXNetwork(network(), tmp_path / "m.onnx")
    (tmp_path / "repo").mkdir()
    assert main(["triton", str(tmp_path / "m.onnx"), "-o", str(tmp_path / "repo"), "--backend", "onnxruntime", "--max-batch", "8",
                 "--instances", "3", "--idle-us", "7000000", "--name", "lstm"]) == 0
    config = parse(tmp_path / "repo" / "lstm")
    assert (config.max_batch_size, config.instance_group[0].count, config.sequence_batching.max_sequence_idle_microseconds) == (8, 3, 7_000_000)
    printed = capsys.readouterr().out
    assert "(onnxruntime backend); serve it in Triton's container" in printed and "tritonserver --model-repository /models" in printed
    assert main(["triton", str(tmp_path / "m.onnx"), "-o", str(tmp_path / "repo"), "--name", "py"]) == 0
    assert f"(python backend); serve it with: lstm2onnx serve {tmp_path / 'repo'}" in capsys.readouterr().out
    assert main(["triton", str(tmp_path / "m.onnx"), "-o", str(tmp_path / "m.onnx")]) == 1  # a file, not a folder
    assert "cannot make the repository folder" in capsys.readouterr().err
    assert main(["triton", str(tmp_path / "m.onnx"), "-o", str(tmp_path / "fresh")]) == 0
    assert parse(tmp_path / "fresh" / "m").name == "m"


def test_cli_serve_without_the_wheel_says_how_to_install_it(tmp_path, capsys, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "pytriton" else real(name, *a))
    (tmp_path / "repo").mkdir()
    assert main(["serve", str(tmp_path / "repo")]) == 1
    err = capsys.readouterr().err
    assert "Triton's server is not installed" in err and "nvidia-pytriton" in err


def test_cli_triton_refuses_values_triton_cannot_hold(tmp_path, capsys):
    exportONNXNetwork(network(), tmp_path / "m.onnx")
    assert main(["triton", str(tmp_path / "m.onnx"), "-o", str(tmp_path / "repo"), "--max-batch", "99999999999999999999"]) == 1
    assert "max_batch must be an integer from 1 to 2,147,483,647" in capsys.readouterr().err
    assert not (tmp_path / "repo" / "m").exists()


def local_server(repo, **ports):
    """A TritonServer object (not started), or a skip where the nvidia-pytriton wheel is missing."""
    from lstm2onnx.serving import ServeError, TritonServer
    from lstm2onnx.serving.server import find_triton

    try:
        find_triton()
    except ServeError as error:
        pytest.skip(f"the nvidia-pytriton wheel is not installed: {error}")
    return TritonServer(repo, **ports)


def test_serve_refuses_a_repository_with_a_backend_the_local_server_lacks(tmp_path, capsys):
    """The wheel's server has the python backend only: an onnxruntime-backend model is refused before the server
    starts, naming the model and what to do (its own log would only say that a backend library is missing)."""
    from lstm2onnx.serving import ServeError

    exportONNXNetwork(network(), tmp_path / "m.onnx")
    repository(tmp_path, tmp_path / "m.onnx", backend="onnxruntime", name="implicit")
    repository(tmp_path, tmp_path / "m.onnx", name="pooled")
    with pytest.raises(ServeError, match=r"has only the python backend, not the one of 'implicit' \(onnxruntime\)"):
        local_server(tmp_path / "repo")
    assert main(["serve", str(tmp_path / "repo")]) == 1
    err = capsys.readouterr().err
    assert "'implicit' (onnxruntime)" in err and "Triton's container" in err and "--backend python" in err
    (tmp_path / "repo" / "implicit" / "config.pbtxt").write_text('name: "implicit"\nplatform: "onnxruntime_onnx"\n')
    with pytest.raises(ServeError, match=r"'implicit' \(onnxruntime\)"):  # the platform names the backend too
        local_server(tmp_path / "repo")


def test_serve_refuses_ports_in_use_or_shared(tmp_path):
    """A port something already listens on is refused before the server starts: another server there would answer
    the readiness check for it. The three ports must differ."""
    import socket

    from lstm2onnx.serving import ServeError

    exportONNXNetwork(network(), tmp_path / "m.onnx")
    repository(tmp_path, tmp_path / "m.onnx")
    with pytest.raises(ServeError, match="ports must differ, got 7000, 7000 and 7001"):
        local_server(tmp_path / "repo", http_port=7000, grpc_port=7000, metrics_port=7001)
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        taken = listener.getsockname()[1]
        server = local_server(tmp_path / "repo", http_port=taken)
        with pytest.raises(ServeError, match=f"port {taken} \\(HTTP\\) is in use"):
            server.start()
    assert server.process is None  # nothing was started


def test_the_work_folder_goes_at_stop_and_a_failed_start_keeps_its_log(tmp_path):
    exportONNXNetwork(network(), tmp_path / "m.onnx")
    repository(tmp_path, tmp_path / "m.onnx")
    server = local_server(tmp_path / "repo")
    server.command()  # prepares the backends folder in the work folder
    server.log_file.write_text("a failed start's log")
    server._cleanup(keep_log=True)
    assert server.log_file.read_text() == "a failed start's log" and not (server._work / "backends").exists()
    server.stop()
    assert not server._work.exists()
    kept = tmp_path / "kept.log"
    server = local_server(tmp_path / "repo", log_file=kept)
    kept.write_text("the caller's log")
    server.stop()
    assert kept.read_text() == "the caller's log" and not server._work.exists()


def test_serve_ports_are_tcp_ports(tmp_path, capsys):
    exportONNXNetwork(network(), tmp_path / "m.onnx")
    repository(tmp_path, tmp_path / "m.onnx")
    with pytest.raises(SystemExit):
        main(["serve", str(tmp_path / "repo"), "--http-port", "70000"])
    assert "expected a TCP port from 1 to 65535, got '70000'" in capsys.readouterr().err
    from lstm2onnx.serving import ServeError

    with pytest.raises(ServeError, match="grpc_port must be a TCP port from 1 to 65535, got 70000"):
        local_server(tmp_path / "repo", grpc_port=70000)


def test_serve_keeps_and_shows_the_log_of_a_server_that_died(tmp_path, capsys, monkeypatch):
    """When tritonserver exits by itself, serve prints the end of its log and exits 1, and the log stays."""
    import subprocess

    from lstm2onnx.serving.server import TritonServer

    exportONNXNetwork(network(), tmp_path / "m.onnx")
    repository(tmp_path, tmp_path / "m.onnx")
    local_server(tmp_path / "repo")  # skips without the wheel

    def fake_start(self, timeout=120.0):
        self.log_file.write_text("E1202 model 'net' failed: out of memory\n")
        self.process = subprocess.Popen(["sh", "-c", "exit 3"])
        return self

    monkeypatch.setattr(TritonServer, "start", fake_start)
    log = tmp_path / "t.log"
    assert main(["serve", str(tmp_path / "repo"), "--log-file", str(log)]) == 1
    err = capsys.readouterr().err
    assert "tritonserver exited with status 3" in err and "failed: out of memory" in err
    assert log.read_text().startswith("E1202")


def test_model_backends_reads_both_quotes_and_skips_ensembles(tmp_path):
    from lstm2onnx.serving.server import model_backends

    for name, text in {"a": "name: 'a'\nbackend: 'onnxruntime'\n", "b": 'platform: "onnxruntime_onnx"\n',
                       "c": 'platform: "ensemble"\nensemble_scheduling {}\n', "d": 'backend: "python"\n', "e": "name: 'e'\n"}.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / "config.pbtxt").write_text(text)
    assert model_backends(tmp_path) == {"a": "onnxruntime", "b": "onnxruntime", "d": "python"}
