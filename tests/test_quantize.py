"""int8 models (lstm2onnx.quantize): the I/O contract and metadata kept, served by the runtime, and how far they move.

Tolerances (``INT8_TOLERANCE``, justified in lstm2onnx/quantize.py): seeded networks
within 5e-3 of the float64 reference on probabilities and 2e-2 on responses; the
shipped Japanese Vowels model at least 99% label agreement with the float model and
accuracy within 0.5 points.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import onnx
import pytest

import lstm2onnx_runtime as rt
from lstm2onnx import (
    bilstmLayer,
    build,
    gruLayer,
    classificationLayer,
    exportONNXNetwork,
    fullyConnectedLayer,
    japaneseVowelsTestData,
    lstmLayer,
    reference,
    regressionLayer,
    sequenceInputLayer,
    softmaxLayer,
)
from lstm2onnx.builder import META_CLASSES, META_IO, META_SPEC
from lstm2onnx.cli import main
from lstm2onnx.errors import Lstm2OnnxError
from lstm2onnx.importer import load_onnx
from lstm2onnx.network import initialize
from lstm2onnx.quantize import (
    INT8_TOLERANCE,
    META_QUANTIZATION,
    check,
    dequantized_layers,
    float_twin,
    is_quantized,
    quantization_info,
    quantize,
    random_sequences,
)

JAPANESE_VOWELS = Path(__file__).resolve().parents[1] / "models" / "japanese_vowels" / "japanese_vowels.onnx"


def classifier(mode: str = "last", **lstm) -> list:
    return [sequenceInputLayer(6, Name="in"), lstmLayer(24, OutputMode=mode, Name="lstm_1", **lstm),
            fullyConnectedLayer(5, Name="fc"), softmaxLayer(Name="sm"), classificationLayer(Name="out", Classes=["a", "b", "c", "d", "e"])]


def save(model: onnx.ModelProto, folder: Path, name: str) -> str:
    path = str(folder / name)
    onnx.save(model, path)
    return path


def flat(y) -> np.ndarray:
    return np.concatenate([np.ravel(v) for v in y]) if isinstance(y, list) else np.ravel(y)


def io_signature(model: onnx.ModelProto) -> list:
    def sig(values):
        return [(v.name, v.type.tensor_type.elem_type, [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]) for v in values]

    initializers = {t.name for t in model.graph.initializer}
    return [sig(v for v in model.graph.input if v.name not in initializers), sig(model.graph.output)]


@pytest.mark.parametrize("per_channel", [False, True])
def test_quantize_keeps_inputs_outputs_and_metadata(per_channel):
    """A ragged, stateful classifier: same I/O names/dtypes/shapes, the float model's metadata entries unchanged."""
    layers = [sequenceInputLayer(6, Name="in"), lstmLayer(16, Name="lstm_1"), lstmLayer(8, OutputMode="last", Name="lstm_2"),
              fullyConnectedLayer(3, Name="fc"), softmaxLayer(Name="sm"), classificationLayer(Name="out", Classes=["x", "y", "z"])]
    model = build(layers, ragged=True, stateful=True, seed=2)
    int8 = quantize(model, per_channel=per_channel)
    assert io_signature(int8) == io_signature(model)
    before, after = ({p.key: p.value for p in m.metadata_props} for m in (model, int8))
    assert {k: v for k, v in after.items() if k != META_QUANTIZATION} == before
    assert json.loads(after[META_CLASSES]) == ["x", "y", "z"]
    onnx.checker.check_model(int8, full_check=True)
    ops = [n.op_type for n in int8.graph.node]
    assert ops.count("DynamicQuantizeLSTM") == 2 and "MatMulInteger" in ops and "LSTM" not in ops and "MatMul" not in ops
    info = quantization_info(int8)
    assert info["quantized"] == {"lstm_1": "DynamicQuantizeLSTM", "lstm_2": "DynamicQuantizeLSTM", "fc": "MatMulInteger"}
    assert info["float"] == {} and info["per_channel"] is per_channel
    assert is_quantized(int8) and not is_quantized(model)


@pytest.mark.parametrize("per_channel", [False, True])
def test_dequantized_weights_are_within_half_a_step(per_channel):
    """W = (q - zero_point)·scale is within scale/2 of the float weight, per tensor or per gate row."""
    layers = initialize(classifier(), 4)
    int8 = quantize(build(layers, seed=4), per_channel=per_channel)
    back = dequantized_layers(int8)
    for original, restored in zip(layers, back):
        for prop in ("InputWeights", "RecurrentWeights", "Weights"):
            w = getattr(original, prop, None)
            if w is None:
                continue
            w, r = np.asarray(w, np.float64), np.asarray(getattr(restored, prop))
            rows = np.abs(w).max(axis=1, keepdims=True) if per_channel else np.abs(w).max()
            step = rows / 127.0  # symmetric int8: the largest magnitude maps to 127
            assert np.all(np.abs(w - r) <= step / 2 + 1e-7), prop
            assert not np.array_equal(w, r)  # rounded, not copied


CASES = {
    "lstm last": classifier(),
    "stacked sequence": [sequenceInputLayer(6), lstmLayer(24), lstmLayer(12), fullyConnectedLayer(4), softmaxLayer(), classificationLayer()],
    "bilstm": [sequenceInputLayer(6), bilstmLayer(12, OutputMode="last"), fullyConnectedLayer(5), softmaxLayer(), classificationLayer()],
    "hard-sigmoid/softsign": classifier(GateActivationFunction="hard-sigmoid", StateActivationFunction="softsign"),
    "regression": [sequenceInputLayer(6), lstmLayer(24, OutputMode="last"), fullyConnectedLayer(3), regressionLayer()],
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("per_channel", [False, True])
def test_int8_runtime_against_reference(case, per_channel, tmp_path):
    """rt.predict on the int8 model vs the float64 reference (ragged batch of 1-30 steps) within INT8_TOLERANCE."""
    layers = initialize(CASES[case], 7)
    model = build(layers, ragged=True, seed=7)
    net = rt.load(save(quantize(model, per_channel=per_channel), tmp_path, "int8.onnx"), "cpu")
    X = random_sequences(6, batch=24, time_steps=30, seed=7)
    error = np.abs(flat(rt.predict(net, X, MiniBatchSize=8)) - flat(reference.predict(layers, X)))
    tolerance = INT8_TOLERANCE[net.info.output]
    assert error.max() <= tolerance, f"{case}: max abs error {error.max():.3g} > {tolerance:g}"
    assert error.max() > 1e-6  # int8 really ran (float32 alone is within 1e-6 here)


def test_gru_stays_float_and_its_head_is_int8(tmp_path):
    """onnxruntime has no int8 GRU kernel: the GRU node stays float32, the fullyConnectedLayer is quantized."""
    from lstm2onnx.layers.gru import gruLayer

    layers = initialize([sequenceInputLayer(6), gruLayer(24, OutputMode="last", Name="gru"), fullyConnectedLayer(5, Name="fc"),
                         softmaxLayer(), classificationLayer()], 3)
    int8 = quantize(build(layers, ragged=True, seed=3))
    info = quantization_info(int8)
    assert info["quantized"] == {"fc": "MatMulInteger"} and info["float"] == {"gru": "GRU"}
    assert "GRU" in [n.op_type for n in int8.graph.node]
    X = random_sequences(6, batch=16, time_steps=25, seed=3)
    y = rt.predict(rt.load(save(int8, tmp_path, "gru.onnx"), "cpu"), X)
    assert np.abs(y - reference.predict(layers, X)).max() <= INT8_TOLERANCE["probabilities"]


def test_runtime_classifies_and_streams_int8(tmp_path):
    """Stateful ragged int8 model: classify matches the float model's labels (where not a near-tie); streams, chunked predictAndUpdateState
    and StreamPool steps stay within INT8_TOLERANCE of the reference run on whole sequences."""
    layers = initialize(classifier(mode="sequence"), 5)
    model = build(layers, ragged=True, stateful=True, seed=5)
    float_net = rt.load(save(model, tmp_path, "float.onnx"), "cpu")
    net = rt.load(save(quantize(model), tmp_path, "int8.onnx"), "cpu")
    assert net.info.stateful and net.info.classes == ("a", "b", "c", "d", "e")
    X = random_sequences(6, batch=12, time_steps=20, seed=5)
    expected = reference.predict(layers, X)
    labels, scores = rt.classify(net, X, MiniBatchSize=4)
    float_labels, float_scores = rt.classify(float_net, X, MiniBatchSize=4)
    tolerance = INT8_TOLERANCE["probabilities"]
    top_two = np.sort(np.concatenate(float_scores), axis=1)[:, -2:]
    clear = top_two[:, 1] - top_two[:, 0] > 2 * tolerance  # an untrained net's near-ties may flip; clear wins may not
    assert clear.mean() > 0.5 and np.array_equal(np.concatenate(labels)[clear], np.concatenate(float_labels)[clear])
    assert np.abs(flat(scores) - flat(expected)).max() <= tolerance

    pool = rt.StreamPool(net)
    streams = [pool.open() for _ in X[:3]]
    for stream, x, y in zip(streams, X[:3], expected[:3]):
        steps = np.concatenate([stream.step(x[t : t + 1]) for t in range(len(x))])  # one step per call
        assert np.abs(steps - y).max() <= tolerance
    state_net, first = rt.predictAndUpdateState(net, X[0][:7])
    _, rest = rt.predictAndUpdateState(state_net, X[0][7:])
    assert np.abs(np.concatenate([first, rest]) - expected[0]).max() <= tolerance


def test_japanese_vowels_int8_keeps_labels_and_accuracy(tmp_path):
    """The shipped model: >= 99% label agreement, accuracy within 0.5 points (measured: 100%, 0.9514 both)."""
    X, Y = japaneseVowelsTestData()
    int8_path = tmp_path / "jv_int8.onnx"
    quantize(str(JAPANESE_VOWELS), int8_path)
    report = check(str(JAPANESE_VOWELS), str(int8_path), X, Y, mini_batch_size=27, seconds=0.2)
    assert report.sequences == 370 and report.agreement >= 0.99
    assert abs(report.accuracy_int8 - report.accuracy_float) <= 0.005
    assert report.accuracy_float > 0.927  # the trained model beats MATLAB's documented figure
    assert report.float_reference_max_abs <= 1e-5 and report.max_abs == pytest.approx(report.reference_max_abs, abs=1e-5)
    assert 0 < report.mean_abs < 5e-3 and report.seconds_float > 0 and report.seconds_int8 > 0 and report.speedup > 0
    text = str(report)
    for part in ("max abs diff", "label agreement", "accuracy", "MiniBatchSize 27", "faster" if report.speedup >= 1 else "slower"):
        assert part in text


def test_check_report_on_sequence_labels_and_regression():
    """Sequence-to-sequence labels are compared per valid step; a regression network reports no labels."""
    layers = initialize(classifier(mode="sequence"), 6)
    model = build(layers, ragged=True, seed=6)
    X = random_sequences(6, batch=10, time_steps=12, seed=6)
    truth = [np.array(["a", "b", "c", "d", "e"])[np.asarray(y).argmax(axis=1)] for y in reference.predict(layers, X)]
    report = check(model, quantize(model), X, truth, seconds=0.05)
    assert report.accuracy_float == 1.0  # the labels are the reference's, which float32 reproduces
    assert report.accuracy_int8 == report.agreement >= 0.95  # so int8's accuracy is its agreement (near-ties may flip)
    with pytest.raises(Lstm2OnnxError, match="sequence 1 has"):
        check(model, quantize(model), X, [t[:-1] for t in truth], seconds=0.05)
    regression = build(initialize(CASES["regression"], 6), seed=6)
    report = check(regression, quantize(regression), X, seconds=0.05)
    assert report.agreement is None and report.accuracy_int8 is None and report.max_abs <= INT8_TOLERANCE["responses"]


def test_float_twin_has_the_same_interface_and_dequantized_weights():
    model = build(classifier(mode="sequence"), ragged=True, stateful=True, seed=8)
    int8 = quantize(model)
    twin = float_twin(int8)
    assert io_signature(twin) == io_signature(model) and not is_quantized(twin)
    restored = load_onnx(twin)
    assert np.array_equal(np.asarray(restored[1].InputWeights, np.float32), np.asarray(dequantized_layers(int8)[1].InputWeights, np.float32))


def test_export_quantize_option(tmp_path):
    path = tmp_path / "net.onnx"
    exportONNXNetwork(classifier(), path, "Quantize", "int8", ragged=True)
    model = onnx.load(str(path))
    assert is_quantized(model) and json.loads({p.key: p.value for p in model.metadata_props}[META_IO])["sequence_lengths"]
    exportONNXNetwork(classifier(), path, Quantize="none")
    assert not is_quantized(onnx.load(str(path)))
    with pytest.raises(Lstm2OnnxError, match="Quantize must be one of 'none', 'int8', got 'int4'"):
        exportONNXNetwork(classifier(), tmp_path / "other.onnx", Quantize="int4")
    assert not (tmp_path / "other.onnx").exists()


def test_quantize_refuses_what_it_cannot_do(tmp_path):
    model = build(classifier(), seed=1)
    with pytest.raises(Lstm2OnnxError, match="already quantized"):
        quantize(quantize(model))
    bare = onnx.ModelProto()
    bare.CopyFrom(model)
    del bare.metadata_props[:]
    with pytest.raises(Lstm2OnnxError, match="not built by lstm2onnx"):
        quantize(bare)
    with pytest.raises(Lstm2OnnxError, match="per_channel must be True or False"):
        quantize(model, per_channel="yes")
    with pytest.raises(Lstm2OnnxError, match="must end in .onnx"):
        quantize(model, tmp_path / "out.txt")
    gru_only = build([sequenceInputLayer(3, Name="in"), gruLayer(4, Name="gru")], seed=1)  # onnxruntime has no int8 GRU kernel
    with pytest.raises(Lstm2OnnxError, match=r"quantize: nothing in this model has an int8 kernel in onnxruntime .*here: gru \(GRU\)"):
        quantize(gru_only, tmp_path / "gru8.onnx")
    assert os.listdir(tmp_path) == []


def test_check_takes_one_sequence_and_refuses_unknown_labels(tmp_path):
    """A single [T, C] sequence is one sequence, as predict takes it; labels the model does not know are an error, not 0%."""
    model = build(classifier(), seed=3)
    int8 = quantize(model)
    x = random_sequences(6, batch=1, time_steps=9, seed=1)[0]
    report = check(model, int8, x, ["c"], seconds=0.05)
    assert report.sequences == 1 and report.max_abs <= 0.2
    with pytest.raises(Lstm2OnnxError, match=re.escape("quantize check: labels ['q'] are not among the model's classes ['a', 'b', 'c', 'd', 'e']")):
        check(model, int8, [x, x], ["a", "q"], seconds=0.05)


def test_cli_check_reads_one_sequence_files_and_checks_its_arguments_first(tmp_path, capsys):
    model = save(build(classifier(), seed=3), tmp_path, "f.onnx")
    x = random_sequences(6, batch=1, time_steps=7, seed=2)[0]
    np.save(tmp_path / "one.npy", x)
    np.savetxt(tmp_path / "one.csv", x, delimiter=",")
    for data in ("one.npy", "one.csv"):
        assert main(["quantize", model, "-o", str(tmp_path / "q.onnx"), "--check", str(tmp_path / data)]) == 0
        assert "1 sequences, MiniBatchSize 128" in capsys.readouterr().out
        assert main(["verify", str(tmp_path / "q.onnx"), "--data", str(tmp_path / data)]) == 0
        assert "label agreement" in capsys.readouterr().out
    assert main(["quantize", model, "-o", str(tmp_path / "l.onnx"), "--labels", str(tmp_path / "one.npy")]) == 1
    assert "--labels are the labels of --check DATA; give --check too" in capsys.readouterr().err
    assert main(["verify", str(tmp_path / "q.onnx"), "--labels", str(tmp_path / "one.npy")]) == 1
    assert "--labels are the labels of --data; give --data too" in capsys.readouterr().err
    assert main(["quantize", model, "-o", str(tmp_path / "bad.onnx"), "--check", str(tmp_path / "missing.npz")]) == 1
    capsys.readouterr()
    assert not (tmp_path / "l.onnx").exists() and not (tmp_path / "bad.onnx").exists()  # nothing written for bad arguments


def test_cli_quantize_check_inspect_verify(tmp_path, capsys):
    X, Y = japaneseVowelsTestData()
    data, labels, out = tmp_path / "test.npz", tmp_path / "labels.txt", tmp_path / "jv8.onnx"
    np.savez(data, *[x.astype(np.float32) for x in X[:60]])
    labels.write_text("\n".join(Y[:60]) + "\n")
    assert main(["quantize", str(JAPANESE_VOWELS), "-o", str(out), "--check", str(data), "--labels", str(labels), "--mini-batch-size", "27"]) == 0
    text = capsys.readouterr().out
    assert "int8 lstm (DynamicQuantizeLSTM), fc (MatMulInteger)" in text
    for part in ("60 sequences, MiniBatchSize 27", "max abs diff", "label agreement", "accuracy:", "speed:"):
        assert part in text

    assert main(["inspect", str(out)]) == 0
    text = capsys.readouterr().out
    assert "quantized: int8 by onnxruntime.quantization.quantize_dynamic" in text
    assert "lstm: DynamicQuantizeLSTM (int8)" in text and "fc: MatMulInteger (int8)" in text
    assert "sequence_lengths" in text and META_SPEC not in text.split("metadata:")[-1]

    assert main(["verify", str(out), "--float", str(JAPANESE_VOWELS), "--data", str(data), "--labels", str(labels)]) == 0
    text = capsys.readouterr().out
    assert f"float model: {JAPANESE_VOWELS}" in text and "label agreement" in text
    assert main(["verify", str(out), "--tolerance", "1"]) == 0
    text = capsys.readouterr().out
    assert "rebuilt from the int8 weights" in text and "PASS" in text
    assert main(["verify", str(out), "--tolerance", "1e-9"]) == 1
    assert "FAIL" in capsys.readouterr().out

    assert main(["quantize", str(out), "-o", str(tmp_path / "again.onnx")]) == 1
    assert "already quantized" in capsys.readouterr().err
    assert main(["quantize", str(out), "-o", str(out)]) == 1
    assert "is the model itself" in capsys.readouterr().err


def test_triton_repository_of_an_int8_model(tmp_path):
    """lstm2onnx triton on a stateless int8 model: the stateful copy is int8 with exactly the same int8 weights,
    and the runtime's StreamPool (what the python backend runs) streams it within INT8_TOLERANCE."""
    from lstm2onnx.serving import write_repository

    layers = initialize(classifier(mode="sequence"), 9)
    path = tmp_path / "int8.onnx"
    exportONNXNetwork(layers, path, Quantize="int8", ragged=True)
    original = {t.name: t.SerializeToString() for t in onnx.load(str(path)).graph.initializer if t.name.endswith(("_quantized", "_scale"))}
    repository = tmp_path / "repository"
    repository.mkdir()
    for backend in ("python", "onnxruntime"):
        folder = write_repository(path, repository, name=f"net_{backend}", backend=backend)
        served = onnx.load(str(folder / "1" / "model.onnx"))
        assert is_quantized(served) and [s["layer"] for s in json.loads({p.key: p.value for p in served.metadata_props}[META_IO])["states"]] == ["lstm_1"]
        assert {t.name: t.SerializeToString() for t in served.graph.initializer if t.name in original} == original
    X = random_sequences(6, batch=3, time_steps=15, seed=9)
    expected = reference.predict(layers, X)
    # the python backend's copy: the onnxruntime backend's has Triton's START control input, which the runtime does not feed
    pool = rt.StreamPool(rt.load(str(repository / "net_python" / "1" / "model.onnx"), "cpu"))
    for x, y in zip(X, expected):
        stream = pool.open()
        chunks = np.concatenate([stream.step(x[t : t + 4]) for t in range(0, len(x), 4)])
        assert np.abs(chunks - y).max() <= INT8_TOLERANCE["probabilities"]


@pytest.mark.parametrize("per_channel", [False, True])
def test_cli_build_stateful_copy_of_an_int8_model(tmp_path, capsys, per_channel):
    """lstm2onnx build INT8.onnx --stateful: an int8 copy with the state inputs/outputs, exactly the original's int8 weights,
    scales and zero points and its quantization settings, that the runtime's streams serve within INT8_TOLERANCE."""
    layers = initialize(classifier(mode="sequence"), 11)
    source, copy = tmp_path / "int8.onnx", tmp_path / "stateful.onnx"
    save(quantize(build(layers, ragged=True, seed=11), per_channel=per_channel), tmp_path, "int8.onnx")
    assert main(["build", str(source), "-o", str(copy), "--stateful"]) == 0
    assert "int8" in capsys.readouterr().out
    original, served = onnx.load(str(source)), onnx.load(str(copy))
    meta = {p.key: p.value for p in served.metadata_props}
    assert is_quantized(served) and [s["layer"] for s in json.loads(meta[META_IO])["states"]] == ["lstm_1"]
    assert json.loads(meta[META_IO])["sequence_lengths"] and json.loads(meta[META_CLASSES]) == ["a", "b", "c", "d", "e"]
    assert quantization_info(served)["per_channel"] is per_channel
    int8_tensors = {t.name: t.SerializeToString() for t in original.graph.initializer if t.name.endswith(("_quantized", "_scale", "_zero_point"))}
    assert len(int8_tensors) == 9  # lstm_1 W and R, fc Weights: each its int8 values, scale and zero point
    assert {t.name: t.SerializeToString() for t in served.graph.initializer if t.name in int8_tensors} == int8_tensors

    X = random_sequences(6, batch=3, time_steps=12, seed=11)
    expected = reference.predict(layers, X)
    pool = rt.StreamPool(rt.load(str(copy), "cpu"))
    for x, y in zip(X, expected):
        stream = pool.open()
        steps = np.concatenate([stream.step(x[t : t + 1]) for t in range(len(x))])  # one step per call
        assert np.abs(steps - y).max() <= INT8_TOLERANCE["probabilities"]


def test_cli_build_int8_with_new_weights_says_what_to_do(tmp_path, capsys):
    path = save(quantize(build(classifier(), seed=1)), tmp_path, "int8.onnx")
    weights = tmp_path / "w.mat"
    weights.write_bytes(b"")
    assert main(["build", path, "-o", str(tmp_path / "out.onnx"), "--weights", str(weights)]) == 1
    error = capsys.readouterr().err
    assert "is an int8 model" in error and "lstm2onnx quantize" in error
    assert not (tmp_path / "out.onnx").exists()
