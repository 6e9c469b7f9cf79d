"""Runtime hardening (issue 11): leaks, lost outputs, hostile metadata and data files, CLI behaviour.

Numerical tolerance where results are compared: 1e-6 between runtime paths (same float32 graph).
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import lstm2onnx_runtime as rt
from lstm2onnx import exportONNXNetwork, fullyConnectedLayer, initialize, lstmLayer, sequenceInputLayer, softmaxLayer
from lstm2onnx_runtime import StreamError, StreamPool


def _stateful(tmp_path, hidden=16, name="net"):
    layers = [sequenceInputLayer(3), lstmLayer(hidden, OutputMode="last"), fullyConnectedLayer(2), softmaxLayer()]
    exportONNXNetwork(initialize(layers, seed=1), tmp_path / f"{name}.onnx", stateful=True, ragged=True)
    return rt.load(tmp_path / f"{name}.onnx", "cpu")


# -- item 3: open_group pages are freed ------------------------------------------------------------


@pytest.mark.parametrize("device", ["host", "cpu"], ids=["numpy-pages", "ortvalue-pages"])
def test_open_group_close_cycles_do_not_grow_the_pool(tmp_path, rng, device):
    net = _stateful(tmp_path)
    pool = StreamPool(net, device=device)
    X = rng.normal(size=(8, 2, 3)).astype(np.float32)
    for _ in range(50):
        group = pool.open_group(8)
        group.step(X)
        for s in group.streams:
            s.close()
        assert pool.allocated_pages == 0 and pool.state_bytes == 0
    assert len(pool._owner) == 8  # the slot tables did not grow either


def test_released_group_slots_are_reused_best_fit_and_state_is_fresh(tmp_path, rng):
    net = _stateful(tmp_path)
    pool = StreamPool(net)
    X = rng.normal(size=(6, 4, 3)).astype(np.float32)
    expected = rt.predict(net, X)
    first = pool.open_group(6)
    first.step(X)
    for s in first.streams:
        s.close()
    smaller = pool.open_group(4)  # takes 4 of the 6 released slots; 2 stay released
    bigger = pool.open_group(2)  # exactly the 2 left over
    assert len(pool._owner) == 6 and pool.allocated_pages == 2
    np.testing.assert_allclose(smaller.step(X[:4]), expected[:4], rtol=0, atol=1e-6)  # starts from the initial state
    np.testing.assert_allclose(bigger.step(X[4:]), expected[4:], rtol=0, atol=1e-6)
    with pytest.raises(StreamError, match="closed"):
        first.step(X)


def test_a_partly_closed_group_keeps_its_page_and_its_open_members_work(tmp_path, rng):
    net = _stateful(tmp_path)
    pool = StreamPool(net)
    group = pool.open_group(3)
    x = rng.normal(size=(5, 3)).astype(np.float32)
    group.streams[0].close()
    group.streams[1].close()
    assert pool.allocated_pages == 1
    np.testing.assert_allclose(group.streams[2].step(x), rt.predict(net, x), rtol=0, atol=1e-6)
    single = pool.open()  # a plain stream never lands on a group's rows
    assert pool._page_of[single.slot] != pool._page_of[group.streams[2].slot]
    group.streams[2].close()
    assert pool.allocated_pages == 1  # only the plain streams' page


# -- low items: foreign objects in pool steps, NaN set_state ---------------------------------------


def test_foreign_objects_in_pool_steps_are_type_errors_and_move_nothing(tmp_path, rng):
    net = _stateful(tmp_path)
    pool, big = StreamPool(net, page_size=2), StreamPool(net, page_size=64)
    a = pool.open()
    a.step(rng.normal(size=(2, 3)).astype(np.float32))
    before = a.get_state()
    far = [big.open() for _ in range(40)][-1]  # a slot number past the end of pool's tables
    X = np.zeros((1, 1, 3), np.float32)
    for call, error, message in [
        (lambda: pool.step({object(): np.zeros((1, 3))}), TypeError, "keys must be streams"),
        (lambda: pool.step_many([None], X), TypeError, "items must be streams from StreamPool.open(), got NoneType"),
        (lambda: pool.step_many(["abc"], X), TypeError, "got str"),
        (lambda: pool.step_many(a, X), TypeError, "expected a list of streams, got Stream"),
        (lambda: pool.step_many(42, X), TypeError, "expected a list of streams, got int"),
        (lambda: pool.step_many([far], X), StreamError, "does not belong to this StreamPool"),
        (lambda: pool.step({far: np.zeros((1, 3))}), StreamError, "does not belong to this StreamPool"),
        (lambda: pool.step_many([], X), StreamError, "no streams given"),
    ]:
        with pytest.raises(error, match=re.escape(message)):
            call()
    after = a.get_state()
    np.testing.assert_array_equal(before["lstm"]["HiddenState"], after["lstm"]["HiddenState"])


def test_set_state_with_nan_says_which_element(tmp_path):
    net = _stateful(tmp_path)
    s = StreamPool(net).open()
    hidden = np.zeros(16)
    hidden[4] = np.nan
    with pytest.raises(StreamError, match=re.escape("lstm.HiddenState must be finite, got nan at element 5")):
        s.set_state({"lstm": {"HiddenState": hidden, "CellState": np.zeros(16)}})


# -- items 4 and 5, low items: the lstm2onnx-run command line -------------------------------------

import io  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import zipfile  # noqa: E402

from lstm2onnx import classificationLayer, reference, regressionLayer  # noqa: E402
from lstm2onnx_runtime import RuntimeInputError, _files  # noqa: E402
from lstm2onnx_runtime.cli import main  # noqa: E402
from lstm2onnx_runtime.datafiles import read_csv, read_data  # noqa: E402

CLASSES = ["no", "yes"]


@pytest.fixture
def model(tmp_path):
    net = initialize([sequenceInputLayer(3), lstmLayer(5, OutputMode="last"), fullyConnectedLayer(2), softmaxLayer(),
                      classificationLayer(Classes=CLASSES)], 0)
    path = tmp_path / "net.onnx"
    exportONNXNetwork(net, path, ragged=True)
    return net, path


@pytest.fixture
def data(tmp_path, rng):
    xs = [rng.normal(size=(n, 3)).astype(np.float32) for n in (4, 7, 2)]
    np.savez(tmp_path / "data.npz", *xs)
    return xs, tmp_path / "data.npz"


def test_excel_csv_utf8_with_bom_keeps_its_first_time_step(tmp_path):
    x = np.array([[0.5, 1, 2], [3, 4, 5.25]], np.float32)
    (tmp_path / "excel.csv").write_bytes(b"\xef\xbb\xbf0.5,1,2\r\n3,4,5.25\r\n")
    data, said = read_data(str(tmp_path / "excel.csv"))
    np.testing.assert_array_equal(data, x)
    assert said == "2 rows x 3 columns (separated by ',')"


@pytest.mark.parametrize("text,said", [
    ("a,b,c\n0.5,1,2\n3,4,5.25\n", "separated by ',', header row skipped"),
    ('"a";"b";"c"\n0,5;1;2\n3;4;5,25\n', "separated by ';', header row skipped"),  # Excel in a decimal-comma locale
    ("0.5\t1\t2\n3\t4\t5.25\n", "separated by tab"),
    ("  0.5  1 2\n3 4   5.25\n", "separated by spaces"),
    ("x, y, z\n0.5, 1, 2\n\n3, 4, 5.25\n", "separated by ',', header row skipped"),
])
def test_csv_delimiters_and_headers(tmp_path, text, said):
    (tmp_path / "d.csv").write_text(text, encoding="utf-8")
    data, description = read_csv(str(tmp_path / "d.csv"))
    np.testing.assert_array_equal(data, np.array([[0.5, 1, 2], [3, 4, 5.25]], np.float32))
    assert description == f"2 rows x 3 columns ({said})"


@pytest.mark.parametrize("text,message", [
    ("a,b\nc,d\n1,2\n", "row 2 is not numbers"),  # only the first row may be a header
    ("1,2\n3,x\n", "row 2 is not numbers"),
    ("1,2\n3,4,5\n", "row 2 is not numbers"),
    ("\n  \n", "no rows"),
])
def test_csv_errors_name_the_row(tmp_path, text, message):
    (tmp_path / "d.csv").write_text(text)
    with pytest.raises(RuntimeInputError, match=message):
        read_csv(str(tmp_path / "d.csv"))


def test_csv_not_utf8(tmp_path):
    (tmp_path / "d.csv").write_bytes("é,1\n1,2\n".encode("cp1252"))
    with pytest.raises(RuntimeInputError, match="not UTF-8 text"):
        read_csv(str(tmp_path / "d.csv"))


def _npy_bytes(array):
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


@pytest.mark.parametrize("name,content,message", [
    ("t.npy", _npy_bytes(np.zeros((4, 3), np.float32))[:-7], "not a readable .npy file"),
    ("g.npy", b"\x93NUMPY garbage" * 5, "not a readable .npy file"),
    ("e.npy", b"", "not a readable .npy file"),
    ("s.npy", _npy_bytes(np.array(["a", "b"])), "expected numbers"),
    ("bomb.npy", _npy_bytes(np.zeros((2, 3), np.float32)).replace(b"(2, 3)", b"(99999999999, 3)"[:6]), "not a readable .npy file"),
    ("t.npz", b"PK\x03\x04garbage", "not a readable .npz file"),
])
def test_garbage_data_files_are_clean_errors(model, tmp_path, capsys, name, content, message):
    (tmp_path / name).write_bytes(content)
    assert main(["predict", str(model[1]), str(tmp_path / name), "--provider", "cpu"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err


def test_npz_member_declaring_more_than_it_stores_is_refused_before_allocating(tmp_path):
    header = _npy_bytes(np.zeros((2, 3), np.float32)).replace(b"'shape': (2, 3)", b"'shape': (99999999999,)")
    with zipfile.ZipFile(tmp_path / "bomb.npz", "w") as archive:
        archive.writestr("x.npy", header)
    with pytest.raises(RuntimeInputError, match="declares 99999999999 float32 but stores"):
        read_data(str(tmp_path / "bomb.npz"))
    truncated = (tmp_path / "bomb.npz").read_bytes()
    (tmp_path / "half.npz").write_bytes(truncated[: len(truncated) // 2])
    with pytest.raises(RuntimeInputError, match="not a readable .npz file"):
        read_data(str(tmp_path / "half.npz"))


def _expected_labels(net, xs):
    return list(np.array(CLASSES)[reference.predict(net, xs).argmax(axis=1)])


def test_output_path_is_used_as_given_with_the_format_of_its_extension(model, data, tmp_path, capsys):
    net, path = model
    xs, data_path = data
    out = tmp_path / "res.txt"
    assert main(["predict", str(path), str(data_path), "--provider", "cpu", "-o", str(out)]) == 0
    assert sorted(os.listdir(tmp_path)) == ["data.npz", "net.onnx", "res.txt"]  # no res.txt.npz, no temporary left
    lines = out.read_text().splitlines()
    assert [line.split()[1] for line in lines] == _expected_labels(net, xs)
    assert f"wrote {out} (text, 3 results)" in capsys.readouterr().err
    assert main(["predict", str(path), str(data_path), "--provider", "cpu", "-o", str(tmp_path / "res.dat")]) == 1
    assert "cannot tell the format" in capsys.readouterr().err
    assert main(["predict", str(path), str(data_path), "--provider", "cpu", "--format", "npz", "-o", str(tmp_path / "res.dat")]) == 0
    with np.load(tmp_path / "res.dat") as archive:
        assert list(archive["labels"]) == _expected_labels(net, xs)


def test_json_and_csv_formats_and_stdout(model, data, tmp_path, capsys):
    net, path = model
    xs, data_path = data
    expected = reference.predict(net, xs)
    assert main(["predict", str(path), str(data_path), "--provider", "cpu", "--format", "json", "-o", "-"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["task"] == "classification" and result["classes"] == CLASSES
    assert [r["label"] for r in result["results"]] == _expected_labels(net, xs)
    assert np.abs(np.array([r["output"] for r in result["results"]]) - expected).max() <= 1e-5
    assert main(["predict", str(path), str(data_path), "--provider", "cpu", "-o", str(tmp_path / "r.csv")]) == 0
    rows = (tmp_path / "r.csv").read_text().splitlines()
    assert rows[0] == "sequence,label,no,yes" and [r.split(",")[1] for r in rows[1:]] == _expected_labels(net, xs)
    assert np.abs(np.array([[float(v) for v in r.split(",")[2:]] for r in rows[1:]]) - expected).max() <= 1e-5
    assert main(["predict", str(path), str(data_path), "--provider", "cpu", "--format", "npz"]) == 1
    assert "give -o OUT.npz" in capsys.readouterr().err


def test_output_equal_to_the_input_or_the_model_is_refused(model, data, tmp_path, capsys):
    _, path = model
    _, data_path = data
    before = data_path.read_bytes()
    for out in (str(data_path), str(path), os.path.relpath(data_path)):
        assert main(["predict", str(path), str(data_path), "--provider", "cpu", "--format", "npz", "-o", out]) == 1
        assert "choose another output name" in capsys.readouterr().err
    assert data_path.read_bytes() == before


def test_a_failing_write_keeps_the_previous_output(model, data, tmp_path, monkeypatch, capsys):
    _, path = model
    _, data_path = data
    out = tmp_path / "out.npz"
    out.write_bytes(b"the previous good results")

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "savez", full_disk)
    assert main(["predict", str(path), str(data_path), "--provider", "cpu", "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert "No space left on device" in err and str(out) in err and ".part" not in err
    assert out.read_bytes() == b"the previous good results"
    assert sorted(os.listdir(tmp_path)) == ["data.npz", "net.onnx", "out.npz"]


def test_atomic_write_leaves_nothing_on_an_interrupt(tmp_path):
    target = tmp_path / "f.txt"
    target.write_text("old")
    with pytest.raises(KeyboardInterrupt):
        with _files.atomic_write(target, text=True) as handle:
            handle.write("half")
            raise KeyboardInterrupt
    assert target.read_text() == "old" and os.listdir(tmp_path) == ["f.txt"]


def test_predict_into_a_closed_pipe_is_quiet(model, data):
    _, path = model
    xs, _ = data
    many = tmp = os.path.dirname(path)
    np.savez(os.path.join(tmp, "many.npz"), *[xs[0]] * 3000)
    command = f"{sys.executable} -m lstm2onnx_runtime.cli predict {path} {os.path.join(many, 'many.npz')} --provider cpu | head -n 1"
    proc = subprocess.run(["bash", "-o", "pipefail", "-c", command], capture_output=True, text=True)
    assert proc.stdout.startswith("1: ") and "Broken pipe" not in proc.stderr and "Traceback" not in proc.stderr
    assert proc.returncode == 0, proc.stderr


def test_stream_exits_1_after_skipping_bad_lines(tmp_path, rng):
    net = _stateful(tmp_path)
    from lstm2onnx_runtime.cli import stream

    out, err = io.StringIO(), io.StringIO()
    assert stream(net, io.StringIO("1,2,3\n1,2\n4 5 6\n"), out, err) == 1
    assert len(out.getvalue().splitlines()) == 2 and "skipped 1 bad line" in err.getvalue()
    assert stream(net, io.StringIO("1,2,3\n"), io.StringIO(), io.StringIO()) == 0


def test_version_and_argument_checks(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0 and capsys.readouterr().out.strip() == f"lstm2onnx-run (lstm2onnx-runtime) {rt.__version__}"
    for bad in ("0", "-3", "x"):
        with pytest.raises(SystemExit) as exit_:
            main(["predict", "m.onnx", "d.npy", "--mini-batch-size", bad])
        assert exit_.value.code == 2 and "expected a positive integer" in capsys.readouterr().err


# -- low items: options parsing, classify on a regression network ---------------------------------


def test_minibatchsize_validation_does_not_depend_on_call_history(tmp_path):
    """1 and 1.0 (a whole number as a double, as MATLAB and the training side take it) are accepted, True and 1.5
    refused, whatever was asked before (1 == 1.0 == True: a cache keyed on the value must not mix them up)."""
    net = _stateful(tmp_path)
    x = [np.zeros((2, 3), np.float32)]
    for order in ([1, True, 1.0, 1.5], [True, 1.5, 1.0, 1], [1.0, 1, 1.5, True]):
        for size in order:
            if type(size) is int or size == 1.0 and type(size) is float:
                rt.predict(net, x, MiniBatchSize=size)
                rt.predict(net, x, "MiniBatchSize", size)
            else:
                with pytest.raises(RuntimeInputError, match="MiniBatchSize must be a positive integer"):
                    rt.predict(net, x, MiniBatchSize=size)
                with pytest.raises(RuntimeInputError, match="MiniBatchSize must be a positive integer"):
                    rt.predict(net, x, "MiniBatchSize", size)


def test_huge_sequence_length_and_minibatch_size_do_not_overflow(tmp_path, rng):
    net = _stateful(tmp_path)
    x = [rng.normal(size=(5, 3)).astype(np.float32), rng.normal(size=(2, 3)).astype(np.float32)]
    expected = rt.predict(net, x)
    for value in (2**31, 2**63, 2**80):
        np.testing.assert_allclose(rt.predict(net, x, SequenceLength=value, MiniBatchSize=value), expected, rtol=0, atol=1e-6)


def test_classify_refuses_a_regression_network(tmp_path):
    layers = [sequenceInputLayer(3), lstmLayer(4, OutputMode="last"), fullyConnectedLayer(2), regressionLayer()]
    exportONNXNetwork(initialize(layers, 0), tmp_path / "r.onnx", stateful=True)
    net = rt.load(tmp_path / "r.onnx", "cpu")
    for call in (lambda: rt.classify(net, [np.zeros((2, 3))]), lambda: rt.classifyAndUpdateState(net, [np.zeros((2, 3))])):
        with pytest.raises(RuntimeInputError, match="is a regression .output 'responses'., not a classifier; use predict"):
            call()


# -- item 6: metadata_props checked against the graph ---------------------------------------------

import copy  # noqa: E402

import onnx  # noqa: E402 (tests may use onnx; the runtime never does)
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from lstm2onnx_runtime import ModelError  # noqa: E402
from lstm2onnx_runtime.contract import META_CLASSES, META_IO, META_SPEC, read_contract  # noqa: E402


def _two_layer_model(tmp_path):
    """Stateful, ragged, two LSTM layers of the same size (so a swap between layers keeps every shape)."""
    layers = [sequenceInputLayer(3), lstmLayer(4, Name="a"), lstmLayer(4, Name="b", OutputMode="last"), fullyConnectedLayer(3),
              softmaxLayer(), classificationLayer(Classes=["x", "y", "z"])]
    path = tmp_path / "two.onnx"
    exportONNXNetwork(initialize(layers, 0), path, stateful=True, ragged=True)
    return path


def _metadata(path):
    model = onnx.load(path)
    return model, {p.key: p.value for p in model.metadata_props}


def _with_metadata(path, target, changes):
    model, meta = _metadata(path)
    meta.update(changes)
    for key in [k for k, v in meta.items() if v is None]:
        del meta[key]
    del model.metadata_props[:]
    onnx.helper.set_model_props(model, meta)
    onnx.save(model, target)
    return target


def _io(path):
    return json.loads(_metadata(path)[1][META_IO])


def _swap(io, k1, key1, k2, key2):
    io = copy.deepcopy(io)
    s = io["states"]
    s[k1][key1], s[k2][key2] = s[k2][key2], s[k1][key1]
    return io


def _edit(io, edit):
    io = copy.deepcopy(io)
    edit(io)
    return io


@pytest.mark.parametrize("changes,message", [
    ({META_IO: "{not json"}, "not valid JSON"),
    ({META_IO: "[1, 2]"}, "expected a JSON object, got list"),
    ({META_IO: "[" * 100000 + "]" * 100000}, "nested more than 32 levels"),
    ({META_CLASSES: "{" * 50000}, "nested more than 32 levels"),
    ({META_IO: lambda io: _edit(io, lambda d: d.pop("sequences"))}, "'sequences' must be a tensor name, got None"),
    ({META_IO: lambda io: _edit(io, lambda d: d.update(sequences="x"))}, "names input 'x', but the graph has no such input"),
    ({META_IO: lambda io: _edit(io, lambda d: d.update(output="a.HiddenState.out"))}, "has 2 dimensions|expected 2 dimensions|values per step"),
    ({META_IO: lambda io: _edit(io, lambda d: d.update(output_size=5))}, "has 3 values per step, but 'output_size' says 5"),
    ({META_IO: lambda io: _edit(io, lambda d: d.update(output_size="3"))}, "'output_size' must be a positive integer"),
    ({META_IO: lambda io: _edit(io, lambda d: d.update(sequence_output=1))}, "'sequence_output' must be true or false"),
    ({META_IO: lambda io: _edit(io, lambda d: d.update(sequence_output=True))}, "expected 3 dimensions"),
    ({META_IO: lambda io: _edit(io, lambda d: d.update(task="magic"))}, "'task' must be one of"),
    ({META_IO: lambda io: _edit(io, lambda d: d.update(states={}))}, "'states' must be a list"),
    ({META_IO: lambda io: _edit(io, lambda d: d["states"].pop())}, "inputs \\['b.CellState.in', 'b.HiddenState.in'\\] that the metadata does not describe"),
    ({META_IO: lambda io: _edit(io, lambda d: d["states"][0].update(hidden_size=5))}, "has shape \\['batch', 4\\], but layer 'a' has hidden_size 5"),
    ({META_IO: lambda io: _edit(io, lambda d: d["states"][0].update(initial_hidden=[0.0] * 3))}, "'initial_hidden' must be 4 finite numbers"),
    ({META_IO: lambda io: _edit(io, lambda d: d["states"][0].update(initial_cell=[float("nan")] * 4))}, "not valid JSON"),
    ({META_IO: lambda io: _edit(io, lambda d: d["states"][0].pop("layer"))}, "states\\[1\\].layer' must be a tensor name"),
    ({META_IO: lambda io: _edit(io, lambda d: d["states"].append(d["states"][0]))}, "named twice"),
    ({META_IO: lambda io: _swap(io, 0, "hidden_in", 0, "cell_in")}, "'hidden_in' must be 'a.HiddenState.in', got 'a.CellState.in'"),
    ({META_IO: lambda io: _swap(io, 0, "hidden_out", 1, "hidden_out")}, "'hidden_out' must be 'a.HiddenState.out', got 'b.HiddenState.out'"),
    ({META_IO: lambda io: _swap(io, 0, "hidden_in", 0, "hidden_out")}, "'hidden_in' must be 'a.HiddenState.in'"),
    ({META_IO: lambda io: _edit(io, lambda d: d["states"][1].update(cell_in=None))}, "'cell_in' must be 'b.CellState.in', got None"),
    ({META_CLASSES: '["x", "y"]'}, "lists 2 \\(2 distinct\\) class names for an output of 3 values"),
    ({META_CLASSES: '["x", "x", "y"]'}, "lists 3 \\(2 distinct\\) class names"),
    ({META_CLASSES: "[1, 2, 3]"}, "must be null or a list of strings"),
    ({META_CLASSES: "NaN"}, "not valid JSON"),
    ({META_SPEC: '[{"Name": "x"}]'}, "must be a list of layers, each with a 'type'"),
    ({META_SPEC: '{"type": "x"}'}, "must be a list of layers"),
    ({META_IO: None}, "has no lstm2onnx metadata"),
])
def test_tampered_metadata_is_a_model_error(tmp_path, changes, message):
    path = _two_layer_model(tmp_path)
    io = _io(path)
    changes = {k: json.dumps(v(io)) if callable(v) else v for k, v in changes.items()}
    bad = _with_metadata(path, tmp_path / "bad.onnx", changes)
    with pytest.raises(ModelError, match=message):
        rt.load(bad, "cpu")


def test_untampered_two_layer_model_loads_and_streams(tmp_path, rng):
    net = rt.load(_two_layer_model(tmp_path), "cpu")
    assert [s.layer for s in net.info.states] == ["a", "b"] and net.classes == ("x", "y", "z")
    x = rng.normal(size=(5, 3)).astype(np.float32)
    np.testing.assert_allclose(StreamPool(net).open().step(x), rt.predict(net, x), rtol=0, atol=1e-6)


class _Arg:
    def __init__(self, name, type_, shape):
        self.name, self.type, self.shape = name, type_, shape


class _Session:
    """What read_contract reads from an onnxruntime session: metadata, inputs and outputs."""

    def __init__(self, meta, inputs, outputs):
        self._meta, self._inputs, self._outputs = meta, inputs, outputs

    def get_modelmeta(self):
        return type("Meta", (), {"custom_metadata_map": self._meta})()

    def get_inputs(self):
        return self._inputs

    def get_outputs(self):
        return self._outputs


def _hidden_only_session(io_changes=None):
    """A stateful graph's contract where the recurrent layer carries a hidden state only (as a GRU does)."""
    io = {"sequences": "sequences", "sequence_lengths": None, "output": "responses", "output_size": 2, "sequence_output": False,
          "task": "regression", "states": [{"layer": "gru", "hidden_size": 4, "hidden_in": "gru.HiddenState.in",
                                            "hidden_out": "gru.HiddenState.out", "initial_hidden": [0.5] * 4}]}
    io.update(io_changes or {})
    inputs = [_Arg("sequences", "tensor(float)", ["batch", "time", 3]), _Arg("gru.HiddenState.in", "tensor(float)", ["batch", 4])]
    outputs = [_Arg("responses", "tensor(float)", ["batch", 2]), _Arg("gru.HiddenState.out", "tensor(float)", ["batch", 4])]
    return _Session({META_IO: json.dumps(io), META_CLASSES: "null"}, inputs, outputs)


def test_state_entries_without_a_cell_are_accepted():
    for cells in ({}, {"cell_in": None, "cell_out": None, "initial_cell": None}):
        session = _hidden_only_session()
        io = json.loads(session._meta[META_IO])
        io["states"][0].update(cells)
        session._meta[META_IO] = json.dumps(io)
        checked, classes, types = read_contract(session, "g.onnx")
        state = checked["states"][0]
        assert (state["cell_in"], state["cell_out"], state["initial_cell"]) == (None, None, None)
        assert checked["features"] == 3 and classes is None and types == ()
    half = _hidden_only_session()
    io = json.loads(half._meta[META_IO])
    io["states"][0]["cell_out"] = "gru.CellState.out"
    half._meta[META_IO] = json.dumps(io)
    with pytest.raises(ModelError, match="'cell_in' must be 'gru.CellState.in', got None"):
        read_contract(half, "g.onnx")


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 10**20) | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
KEYS = st.sampled_from(["sequences", "sequence_lengths", "output", "output_size", "sequence_output", "task", "states",
                        "layer", "hidden_size", "hidden_in", "cell_in", "hidden_out", "cell_out", "initial_hidden", "initial_cell"])


def _paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for k, v in enumerate(value):
            yield from _paths(v, (*prefix, k))


@st.composite
def tampered(draw, base):
    """The io object with a few edits: a value replaced by random JSON, a key dropped or added, two values swapped."""
    io = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, 3))):
        paths = list(_paths(io))
        where = draw(st.sampled_from(paths))
        parent = io
        for step in where[:-1]:
            parent = parent[step]
        action = draw(st.sampled_from(["replace", "drop", "add", "swap"]))
        if not where:
            io = draw(JSON) if action == "replace" else io
            continue
        last = where[-1]
        if action == "replace":
            parent[last] = draw(JSON)
        elif action == "drop" and isinstance(parent, dict):
            del parent[last]
        elif action == "add" and isinstance(parent, dict):
            parent[draw(KEYS)] = draw(JSON)
        elif action == "swap":
            other = draw(st.sampled_from(paths))
            target = io
            try:
                for step in other[:-1]:
                    target = target[step]
                if other and other[-1] in (target if isinstance(target, dict) else range(len(target))):
                    parent[last], target[other[-1]] = target[other[-1]], parent[last]
            except (TypeError, KeyError, IndexError):
                pass
    return io


@pytest.fixture(scope="module")
def real_contract(tmp_path_factory):
    import onnxruntime as ort

    path = _two_layer_model(tmp_path_factory.mktemp("contract"))
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    meta = dict(session.get_modelmeta().custom_metadata_map)
    return session, meta


def _check_or_model_error(session, meta, io_text, classes_text, spec_text):
    fake = _Session({META_IO: io_text, META_CLASSES: classes_text, META_SPEC: spec_text}, session.get_inputs(), session.get_outputs())
    try:
        io, classes, _ = read_contract(fake, "fuzz.onnx")
    except ModelError:
        return None
    # accepted: then every claim holds for the real graph
    inputs = {i.name: i for i in session.get_inputs()}
    outputs = {o.name: o for o in session.get_outputs()}
    assert inputs[io["sequences"]].shape[2] == io["features"] == 3
    assert outputs[io["output"]].shape[-1] == io["output_size"] == 3
    for s in io["states"]:
        assert s["hidden_in"] == f"{s['layer']}.HiddenState.in" and s["cell_in"] == f"{s['layer']}.CellState.in"
        assert inputs[s["hidden_in"]].shape[1] == s["hidden_size"]
    assert classes is None or len(classes) == 3
    return io


@settings(derandomize=True, max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_fuzzed_metadata_is_accepted_only_when_it_matches_the_graph(real_contract, data):
    session, meta = real_contract
    base = json.loads(meta[META_IO])
    io = data.draw(tampered(base))
    io_text = json.dumps(io)
    classes_text = data.draw(st.sampled_from([meta[META_CLASSES], "null", '["x"]', "[1, 2, 3]", "{"])
                             | JSON.map(json.dumps) | st.text(max_size=20))
    spec_text = data.draw(st.sampled_from([meta[META_SPEC], "[]", "null"]) | JSON.map(json.dumps) | st.text(max_size=20))
    _check_or_model_error(session, meta, io_text, classes_text, spec_text)


@settings(derandomize=True, max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=200) | st.binary(max_size=200).map(lambda b: b.decode("latin-1")))
def test_fuzzed_metadata_text_never_escapes_as_another_exception(real_contract, text):
    session, meta = real_contract
    _check_or_model_error(session, meta, text, meta[META_CLASSES], meta[META_SPEC])
    _check_or_model_error(session, meta, meta[META_IO], text, meta[META_SPEC])
    _check_or_model_error(session, meta, meta[META_IO], meta[META_CLASSES], text)


def test_one_csv_sequence_through_a_sequence_output_network_is_one_result(tmp_path, rng, capsys):
    net = initialize([sequenceInputLayer(3), lstmLayer(4), fullyConnectedLayer(2), softmaxLayer(), classificationLayer(Classes=CLASSES)], 0)
    exportONNXNetwork(net, tmp_path / "seq.onnx")
    x = rng.normal(size=(5, 3)).astype(np.float32)
    np.savetxt(tmp_path / "x.csv", x, delimiter=",", header="a,b,c", comments="")
    assert main(["predict", str(tmp_path / "seq.onnx"), str(tmp_path / "x.csv"), "--provider", "cpu", "--format", "csv"]) == 0
    captured = capsys.readouterr()
    rows = captured.out.splitlines()
    assert rows[0] == "sequence,step,label,no,yes" and [r.split(",")[:2] for r in rows[1:]] == [["1", str(t)] for t in range(1, 6)]
    expected = reference.predict(net, [x])[0]
    assert np.abs(np.array([[float(v) for v in r.split(",")[3:]] for r in rows[1:]]) - expected).max() <= 1e-5
    assert "read " in captured.err and "5 rows x 3 columns (separated by ',', header row skipped)" in captured.err
    assert main(["predict", str(tmp_path / "seq.onnx"), str(tmp_path / "x.csv"), "--provider", "cpu"]) == 0
    text = capsys.readouterr().out
    assert [line.split(":")[0] for line in text.splitlines() if re.match(r"\d+: ", line)] == ["1"]  # text: one numbered result
    assert main(["predict", str(tmp_path / "seq.onnx"), str(tmp_path / "x.csv"), "--provider", "cpu", "--format", "json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert len(result["results"]) == 1 and len(result["results"][0]["label"]) == 5


def test_whole_numbers_given_as_floats_are_taken_as_matlab_does(tmp_path, rng):
    """MATLAB's numbers are doubles: MiniBatchSize=27.0 and SequenceLength=4.0 mean 27 and 4 (a value read from a
    .mat file arrives as a float); 4.5 is refused naming the option."""
    net = _stateful(tmp_path)
    x = [rng.normal(size=(int(t), 3)).astype(np.float32) for t in (7, 3, 9)]
    expected = rt.predict(net, x, MiniBatchSize=2, SequenceLength=4)
    got = rt.predict(net, x, MiniBatchSize=2.0, SequenceLength=np.float64(4.0))
    np.testing.assert_array_equal(got, expected)
    with pytest.raises(RuntimeInputError, match="SequenceLength must be 'longest', 'shortest' or a positive integer, got 4.5"):
        rt.predict(net, x, SequenceLength=4.5)
