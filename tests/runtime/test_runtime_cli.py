"""The runtime's command line: lstm2onnx-run predict / stream, and lstm2onnx predict / stream.

Numerical tolerance: max abs error <= 1e-5 against the float64 reference.
"""

from __future__ import annotations

import io
import subprocess
import sys

import numpy as np
import pytest
from conftest import ATOL_FLOAT32

import lstm2onnx_runtime as rt
from lstm2onnx import classificationLayer, exportONNXNetwork, fullyConnectedLayer, initialize, lstmLayer, reference, sequenceInputLayer, softmaxLayer
from lstm2onnx.cli import main as compiler_main
from lstm2onnx_runtime.cli import main, stream


@pytest.fixture
def model(tmp_path):
    net = initialize([sequenceInputLayer(3), lstmLayer(5), fullyConnectedLayer(2), softmaxLayer(), classificationLayer(Classes=["no", "yes"])], 0)
    path = tmp_path / "net.onnx"
    exportONNXNetwork(net, path, stateful=True, ragged=True)
    return net, path


def test_predict_npz_to_npz(model, tmp_path, rng):
    net, path = model
    xs = [rng.normal(size=(n, 3)).astype(np.float32) for n in (4, 7, 2)]
    np.savez(tmp_path / "data.npz", *xs)
    assert main(["predict", str(path), str(tmp_path / "data.npz"), "--provider", "cpu", "-o", str(tmp_path / "out.npz")]) == 0
    with np.load(tmp_path / "out.npz") as out:
        expected = reference.predict(net, xs)
        for k in range(3):
            assert np.abs(out[f"output_{k}"] - expected[k]).max() <= ATOL_FLOAT32
            assert list(out[f"labels_{k}"]) == list(np.array(["no", "yes"])[expected[k].argmax(axis=1)])


def test_predict_csv_prints(model, tmp_path, capsys):
    _, path = model
    (tmp_path / "x.csv").write_text("f1,f2,f3\n0.1,0.2,0.3\n0.0,-1,2\n")
    assert compiler_main(["predict", str(path), str(tmp_path / "x.csv"), "--provider", "cpu"]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("1: ") and ("no" in printed or "yes" in printed)


def test_predict_bad_data_is_one_line(model, tmp_path):
    _, path = model
    np.save(tmp_path / "bad.npy", np.zeros((4, 5), np.float32))
    proc = subprocess.run([sys.executable, "-m", "lstm2onnx_runtime.cli", "predict", str(path), str(tmp_path / "bad.npy"), "--provider", "cpu"],
                          capture_output=True, text=True)
    assert proc.returncode == 1
    assert proc.stderr.strip() == "lstm2onnx-run predict: error: classify: sequence 1 has 5 features per time step, expected 3"  # a classifier: the command classifies


def test_stream_keeps_state_and_resets(model, rng):
    net, path = model
    x = rng.normal(size=(5, 3)).astype(np.float32)
    lines = [",".join(map(str, row)) for row in x[:3]] + ["not numbers", "reset"] + [" ".join(map(str, row)) for row in x]
    out, err = io.StringIO(), io.StringIO()
    stream(rt.load(path, "cpu"), io.StringIO("\n".join(lines) + "\n"), out, err)
    printed = out.getvalue().splitlines()
    assert printed[3] == "reset" and len(printed) == 3 + 1 + 5
    assert "line 4: could not convert string to float" in err.getvalue()
    expected = reference.predict(net, [x])[0]
    after_reset = np.array([[float(v) for v in line.split()[1:]] for line in printed[4:]])
    assert np.abs(after_reset - expected).max() <= 1e-5  # printed with 6 significant digits
    before_reset = np.array([[float(v) for v in line.split()[1:]] for line in printed[:3]])
    assert np.abs(before_reset - expected[:3]).max() <= 1e-5
    assert printed[0].split()[0] in ("no", "yes")
