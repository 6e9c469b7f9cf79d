"""MATLAB weights (.mat v5/v7 via scipy, v7.3 via h5py) and the CLI: build net.m --weights, to-matlab, verify.

Numerical tolerance: max abs error <= 1e-5 against the float64 reference.
"""

from __future__ import annotations

import dataclasses
import re

import h5py
import numpy as np
import onnx
import pytest
import scipy.io
from conftest import assert_matches_reference, random_batch, run

from lstm2onnx import LayerArray, SpecError, exportONNXNetwork, initialize, reference
from lstm2onnx.cli import main
from lstm2onnx.importer import load_onnx
from lstm2onnx.matlab import from_matlab
from lstm2onnx.matlab.weights import apply_weights, load_weights

NET_M = """
numFeatures = 3;
layers = [ ...
    sequenceInputLayer(numFeatures, 'Normalization', 'zscore')
    lstmLayer(4, 'OutputMode', 'sequence')
    bilstmLayer(2, 'OutputMode', 'last')
    fullyConnectedLayer(2)
    softmaxLayer
    classificationLayer('Classes', {'cat', 'dog'})];
"""


def trained_weights(rng):
    """What the README's MATLAB snippet saves for NET_M after training: one struct per layer Name (MATLAB's names)."""
    return {
        "sequenceinput": {"Mean": rng.normal(size=(3, 1)), "StandardDeviation": rng.uniform(0.5, 2, size=(3, 1))},
        "lstm": {"InputWeights": rng.normal(0, 0.3, (16, 3)), "RecurrentWeights": rng.normal(0, 0.3, (16, 4)), "Bias": rng.normal(0, 0.3, (16, 1)),
                 "HiddenState": rng.normal(0, 0.3, (4, 1)), "CellState": rng.normal(0, 0.3, (4, 1))},
        "bilstm": {"InputWeights": rng.normal(0, 0.3, (16, 4)), "RecurrentWeights": rng.normal(0, 0.3, (16, 2)), "Bias": rng.normal(0, 0.3, (16, 1))},
        "fc": {"Weights": rng.normal(0, 0.3, (2, 4)), "Bias": rng.normal(0, 0.3, (2, 1))},
    }


def write_v73(path, weights):
    """A MATLAB v7.3 file as MATLAB writes it: HDF5, one group per struct, column-major datasets (transposed)."""
    with h5py.File(path, "w", userblock_size=512) as f:
        for name, fields in weights.items():
            group = f.create_group(name)
            group.attrs["MATLAB_class"] = np.bytes_("struct")
            for field, value in fields.items():
                dataset = group.create_dataset(field, data=np.asarray(value, np.float64).T)
                dataset.attrs["MATLAB_class"] = np.bytes_("double")
    with open(path, "r+b") as f:
        f.write(b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Wed Nov 25 2026 HDF5 schema 1.00 .".ljust(116))


@pytest.mark.parametrize("fmt", ["v5", "v7", "v7.3"])
def test_weights_files_load_and_build_the_same_network(tmp_path, rng, fmt):
    weights = trained_weights(rng)
    path = tmp_path / "learnables.mat"
    if fmt == "v7.3":
        write_v73(path, weights)
    else:
        scipy.io.savemat(path, weights, format="5", do_compression=(fmt == "v7"))
    loaded = load_weights(path)
    assert set(loaded) == set(weights)
    for name, fields in weights.items():
        for field, value in fields.items():
            np.testing.assert_array_equal(loaded[name][field], value)
    layers = apply_weights(from_matlab(NET_M), loaded)
    np.testing.assert_array_equal(layers[1].InputWeights, weights["lstm"]["InputWeights"].astype(np.float32))
    np.testing.assert_array_equal(layers[0].Mean, weights["sequenceinput"]["Mean"].ravel().astype(np.float32))

    spec = tmp_path / "net.m"
    spec.write_text(NET_M)
    out = tmp_path / "net.onnx"
    assert main(["build", str(spec), "--weights", str(path), "-o", str(out), "--ragged"]) == 0
    model = onnx.load(out)
    assert model.graph.name == "net"
    batch = random_batch(rng, 6, 9, 3, ragged=True)
    (probabilities,) = run(model, {"sequences": batch.padded, "sequence_lengths": batch.lengths}).values()
    assert_matches_reference(probabilities, reference.predict(layers, batch.sequences))


@pytest.mark.parametrize("change,message", [
    (lambda w: w["lstm"].update(InputWeights=np.zeros((16, 5))), "weights for layer 'lstm': lstmLayer 'lstm': InputWeights must be a 16-by-3"),
    (lambda w: w["lstm"].update(Bias=np.zeros((15, 1))), "weights for layer 'lstm': lstmLayer 'lstm': Bias must be a 16-by-1 vector (4*NumHiddenUnits), got 15 elements"),
    (lambda w: w["fc"].update(Weights=np.zeros((2, 3))), "weights for layer 'fc': fullyConnectedLayer 'fc': Weights must be a 2-by-4 (OutputSize-by-InputSize) matrix, got 2-by-3"),
    (lambda w: w.update(lstm2={"Bias": np.zeros((16, 1))}), "weights for layer 'lstm2', but the network has no layer of that Name"),
    (lambda w: w["fc"].update(RecurrentWeights=np.zeros((2, 2))), "weights for fullyConnectedLayer 'fc': unknown field 'RecurrentWeights'; expected one of Bias, Weights"),
])
def test_weights_are_checked_against_the_spec(tmp_path, rng, change, message):
    weights = trained_weights(rng)
    change(weights)
    path = tmp_path / "w.mat"
    scipy.io.savemat(path, weights)
    with pytest.raises(SpecError, match=re.escape(message)):
        apply_weights(from_matlab(NET_M), load_weights(path))


def test_files_that_are_not_plain_structs(tmp_path):
    scipy.io.savemat(tmp_path / "cell.mat", {"lstm": np.array([np.zeros(3), np.ones(2)], dtype=object)})
    with pytest.raises(SpecError, match="variable 'lstm' is a cell array; expected a struct of arrays per layer Name; save the learnables as plain arrays"):
        load_weights(tmp_path / "cell.mat")
    scipy.io.savemat(tmp_path / "matrix.mat", {"lstm": np.zeros((2, 2))})
    with pytest.raises(SpecError, match="variable 'lstm' is a 2x2 float64 array; expected a struct"):
        load_weights(tmp_path / "matrix.mat")
    path = tmp_path / "object.mat"
    write_v73(path, {"net": {"x": np.zeros(1)}})
    with h5py.File(path, "a") as f:
        f.create_group("#subsystem#")
    with pytest.raises(SpecError, match="holds a MATLAB object, which cannot be read outside MATLAB; save the learnables as plain arrays"):
        load_weights(path)
    (tmp_path / "junk.mat").write_bytes(b"not a mat file at all")
    with pytest.raises(SpecError, match="not a readable .mat file"):
        load_weights(tmp_path / "junk.mat")


def test_to_matlab_and_verify(tmp_path, rng, capsys):
    source = NET_M.replace("'Normalization', 'zscore'", "'Normalization', 'zerocenter', 'Mean', [1 2 3]")
    net = initialize(from_matlab(source), seed=3)
    path = tmp_path / "net.onnx"
    exportONNXNetwork(net, path, ragged=True)
    assert list(load_onnx(path)) == list(net)  # learnables recovered exactly from the initializers
    assert main(["to-matlab", str(path)]) == 0
    text = capsys.readouterr().out
    assert list(from_matlab(text)) == list(LayerArray.from_dict(net.to_dict(learnables=False)))
    assert main(["to-matlab", str(path), "--learnables"]) == 0
    assert list(from_matlab(capsys.readouterr().out)) == list(net)
    assert main(["verify", str(path)]) == 0
    assert "PASS" in capsys.readouterr().out

    # a stateful graph (no bilstm: its backward direction cannot be carried between chunks) verifies its states too
    streaming = initialize(from_matlab(source.replace("bilstmLayer(2", "lstmLayer(2")), seed=3)
    exportONNXNetwork(streaming, path, ragged=True, stateful=True)
    assert main(["verify", str(path)]) == 0
    report = capsys.readouterr().out
    assert "probabilities: max abs error" in report and "lstm_2.CellState.out" in report and report.strip().endswith("tolerance 1e-05")
    assert "PASS" in report



def test_verify_fails_above_tolerance(tmp_path, capsys, monkeypatch):
    net = initialize(from_matlab(NET_M.replace("'Normalization', 'zscore'", "")), seed=0)
    path = tmp_path / "net.onnx"
    exportONNXNetwork(net, path)
    import lstm2onnx.verify as verify

    original = verify.load_onnx

    def perturbed(model):  # the reference sees slightly different weights than onnxruntime runs
        layers = original(model)
        layers[3] = dataclasses.replace(layers[3], Bias=layers[3].Bias + np.array([0.01, 0.0], np.float32))
        return layers

    monkeypatch.setattr(verify, "load_onnx", perturbed)
    assert main(["verify", str(path)]) == 1
    assert "FAIL" in capsys.readouterr().out


@pytest.mark.skipif("CUDAExecutionProvider" in __import__("onnxruntime").get_available_providers(),
                    reason="this onnxruntime has the CUDA provider")
def test_verify_on_cuda_without_cuda_is_one_line(tmp_path, capsys):
    path = tmp_path / "net.onnx"
    exportONNXNetwork(initialize(from_matlab(NET_M.replace("'Normalization', 'zscore'", "")), seed=0), path)
    assert main(["verify", str(path), "--provider", "cuda"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("lstm2onnx verify: error: provider 'cuda' was asked for")


def test_build_m_file_errors_are_one_line_plus_source(tmp_path, capsys):
    spec = tmp_path / "bad.m"
    spec.write_text("layers = [sequenceInputLayer(3)\n    system('ls')];\n")
    assert main(["build", str(spec), "-o", str(tmp_path / "x.onnx")]) == 1
    err = capsys.readouterr().err
    assert "line 2, column 5: 'layers' comes from system(...) (line 2), which lstm2onnx never runs" in err
    assert not (tmp_path / "x.onnx").exists()
    spec.write_bytes(b"\xff\xfe layers")
    assert main(["build", str(spec), "-o", str(tmp_path / "x.onnx")]) == 1
    assert "not UTF-8 text" in capsys.readouterr().err
