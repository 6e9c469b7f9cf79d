"""JSON/YAML specs, the CLI (build, inspect), exportONNXNetwork and the seed examples (the main job)."""

from __future__ import annotations

import dataclasses
import os
import pathlib
import re
import subprocess
import sys

import numpy as np
import onnx
import pytest
from conftest import assert_matches_reference, random_batch, run

from lstm2onnx import (
    Lstm2OnnxError,
    SpecError,
    build,
    exportONNXNetwork,
    fullyConnectedLayer,
    initialize,
    lstmLayer,
    reference,
    sequenceInputLayer,
    softmaxLayer,
)
from lstm2onnx.cli import main
from lstm2onnx.examples import EXAMPLES
from lstm2onnx.examples import main as examples_main
from lstm2onnx.spec import dump_spec, load_spec, parse_spec

MODELS = pathlib.Path(__file__).resolve().parent.parent / "models" / "seed"


class TestSpec:
    def test_every_entry_form(self):
        layers, name = parse_spec(
            """
            name: demo
            layers:
              - sequenceInputLayer: [3, Normalization, zerocenter, Mean, [1, 2, 3]]
              - lstmLayer: {numhiddenunits: 4, outputmode: last}
              - {type: fullyConnectedLayer, OutputSize: 2}
              - dropoutLayer: 0.1
              - softmaxLayer
              - classificationLayer: {Classes: [no, yes]}
            """
        )
        assert name == "demo"
        assert [layer.FUNCTION for layer in layers] == ["sequenceInputLayer", "lstmLayer", "fullyConnectedLayer", "dropoutLayer",
                                                        "softmaxLayer", "classificationLayer"]
        assert layers[0].Normalization == "zerocenter" and layers[1].OutputMode == "last" and layers[5].Classes == ("no", "yes")

    def test_dump_and_load_round_trip(self, tmp_path):
        layers = [sequenceInputLayer(3, Name="x"), lstmLayer(4, OutputMode="last", BiasL2Factor=[1, 0, 1, 1]), fullyConnectedLayer(2), softmaxLayer()]
        path = tmp_path / "net.json"
        path.write_text(dump_spec(layers, name="n"))
        loaded, name = load_spec(path)
        assert name == "n" and list(loaded) == layers

    @pytest.mark.parametrize("text,message", [
        ("layers: [", "not valid JSON/YAML at line 1"),
        ("{}", "expected a list of layers or a mapping with 'layers'"),
        ("[]", "expected a non-empty list of layers"),
        ("- lstmLayr: 3", "<spec>: layer 1: unknown layer type 'lstmLayr'; supported: averagePooling1dLayer, "),
        ("- sequenceInputLayer: 3\n- lstmLayer: [3, OutputMode, first]", "<spec>: layer 2: lstmLayer: OutputMode must be one of 'sequence', 'last', got 'first'"),
        ("- lstmLayer", "<spec>: layer 1: lstmLayer() missing 1 required positional argument: 'numHiddenUnits'"),
        ("- lstmLayer: {OutputMode: last}", "<spec>: layer 1: lstmLayer: NumHiddenUnits must be given"),
        ("- [1, 2]", "<spec>: layer 1: expected a layer name, a one-key mapping"),
        ("name: 3\nlayers: [softmaxLayer]", "'name' must be a string"),
        ("- !!python/object/apply:os.system [echo hacked]", "not valid JSON/YAML"),
    ])
    def test_bad_specs(self, text, message):
        with pytest.raises(SpecError, match=re.escape(message)):
            parse_spec(text)

    def test_missing_file(self, tmp_path):
        with pytest.raises(SpecError, match="cannot read spec"):
            load_spec(tmp_path / "nope.yaml")


@pytest.mark.parametrize("path", sorted(MODELS.iterdir()), ids=lambda p: p.name)
def test_shipped_seed_specs_equal_the_python_examples(path):
    layers, name = load_spec(path)
    assert list(layers) == list(EXAMPLES[name]())


class TestCli:
    def test_build_then_inspect(self, tmp_path, capsys):
        out = tmp_path / "net.onnx"
        assert main(["build", str(MODELS / "stacked_sequence_to_label.json"), "-o", str(out), "--ragged", "--stateful", "--opset", "18", "--seed", "3"]) == 0
        model = onnx.load(out)
        assert model.opset_import[0].version == 18 and model.graph.name == "stacked_sequence_to_label"
        assert [i.name for i in model.graph.input][:2] == ["sequences", "sequence_lengths"]
        assert model.SerializeToString() == build(load_spec(MODELS / "stacked_sequence_to_label.json")[0], seed=3, ragged=True,
                                                  stateful=True, opset=18, name="stacked_sequence_to_label").SerializeToString()
        capsys.readouterr()
        assert main(["inspect", str(out)]) == 0
        text = capsys.readouterr().out
        assert "6x1 Layer array with layers:" in text and "'lstm_2'" in text
        assert re.search(r"sequences +float +\[batch, time, 12\]", text)
        assert re.search(r"lstm_1.HiddenState.in +float +\[batch, 125\]", text)
        assert re.search(r"probabilities +float +\[batch, 9\]", text)
        assert "opset 18" in text and "runs on CUDA" in text

    def test_inspect_notes_cuda_fallback(self, tmp_path, capsys):
        out = tmp_path / "hs.onnx"
        exportONNXNetwork([sequenceInputLayer(2), lstmLayer(3, GateActivationFunction="hard-sigmoid")], out)
        main(["inspect", str(out)])
        assert "falls back to CPU (carries activation_alpha, activation_beta, activations)" in capsys.readouterr().out

    def test_bad_spec_exits_nonzero_with_one_line_and_no_file(self, tmp_path):
        spec = tmp_path / "bad.yaml"
        spec.write_text("- sequenceInputLayer: 3\n- lstmLayer: [4, InputSize, 5]\n")
        out = tmp_path / "bad.onnx"
        proc = subprocess.run([sys.executable, "-m", "lstm2onnx.cli", "build", str(spec), "-o", str(out)], capture_output=True, text=True)
        assert proc.returncode == 1
        assert proc.stderr.strip().count("\n") == 0
        assert "layer 2 'lstm' (lstmLayer): InputSize says 5 input features, but the previous layer outputs 3" in proc.stderr
        assert os.listdir(tmp_path) == ["bad.yaml"]

    def test_an_os_error_is_one_line_and_leaves_no_partial_file(self, tmp_path, capsys):
        (tmp_path / "taken.onnx").mkdir()  # the output name is a folder: the final rename fails
        assert main(["build", str(MODELS / "sequence_to_label.yaml"), "-o", str(tmp_path / "taken.onnx")]) == 1
        err = capsys.readouterr().err.strip()
        assert err.startswith("lstm2onnx build: error: ") and "\n" not in err
        assert sorted(os.listdir(tmp_path)) == ["taken.onnx"]  # no .part file left behind

    def test_inspect_of_a_non_model(self, tmp_path, capsys):
        junk = tmp_path / "junk.onnx"
        junk.write_bytes(b"\x00not a model")
        assert main(["inspect", str(junk)]) == 1
        assert "cannot read" in capsys.readouterr().err


class TestExport:
    def test_matlab_pairs_and_keywords(self, tmp_path):
        layers = [sequenceInputLayer(3), lstmLayer(4, OutputMode="last"), fullyConnectedLayer(2), softmaxLayer()]
        a, b = tmp_path / "a.onnx", tmp_path / "b.onnx"
        exportONNXNetwork(layers, a, "OpsetVersion", 15, "NetworkName", "net", "seed", 2)
        exportONNXNetwork(layers, str(b), opsetversion=15, NetworkName="net", seed=2)
        assert a.read_bytes() == b.read_bytes()
        model = onnx.load(a)
        assert model.opset_import[0].version == 15 and model.graph.name == "net"
        assert oct(a.stat().st_mode & 0o777) == oct(0o666 & ~_umask())

    def test_exported_file_runs(self, tmp_path):
        net = initialize([sequenceInputLayer(3), lstmLayer(4, OutputMode="last"), fullyConnectedLayer(2)], seed=0)
        exportONNXNetwork(net, tmp_path / "n.onnx")
        batch = random_batch(np.random.default_rng(0), 4, 6, 3, ragged=False)
        (out,) = run(onnx.load(tmp_path / "n.onnx"), {"sequences": batch.padded}).values()
        assert_matches_reference(out, reference.predict(net, batch.padded))

    @pytest.mark.parametrize("args,kwargs,message", [
        ((), {"OpsetVersion": 9}, "OpsetVersion must be an integer from 14 to"),
        ((), {"Opset": 17}, "unknown option 'Opset'; supported options: OpsetVersion, NetworkName"),
        (("OpsetVersion",), {}, "name-value arguments must come in pairs"),
        ((), {"ragged": "yes"}, "ragged must be True or False"),
        ((), {"bilstm_last": "keras"}, "bilstm_last must be one of 'matlab', 'final-state'"),
        ((), {"NetworkName": ""}, "NetworkName must be a non-empty string"),
        ((), {"seed": 1.5}, "seed must be a nonnegative integer"),
    ])
    def test_bad_options_write_nothing(self, tmp_path, args, kwargs, message):
        with pytest.raises(Lstm2OnnxError, match=re.escape(message)):
            exportONNXNetwork([sequenceInputLayer(3), lstmLayer(4)], tmp_path / "x.onnx", *args, **kwargs)
        assert os.listdir(tmp_path) == []

    def test_bad_filenames(self, tmp_path):
        with pytest.raises(Lstm2OnnxError, match="filename must end in .onnx"):
            exportONNXNetwork([sequenceInputLayer(3), lstmLayer(4)], tmp_path / "x.txt")
        with pytest.raises(Lstm2OnnxError, match="does not exist"):
            exportONNXNetwork([sequenceInputLayer(3), lstmLayer(4)], tmp_path / "no" / "x.onnx")

    def test_accepts_an_object_with_layers(self, tmp_path):
        class Trained:
            Layers = [sequenceInputLayer(3), lstmLayer(4)]

        exportONNXNetwork(Trained(), tmp_path / "t.onnx")
        assert onnx.load(tmp_path / "t.onnx").graph.input[0].name == "sequences"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_main_job_trains_japanese_vowels_and_runs_every_seed_example(tmp_path, capsys):
    """The README's main command: the page's training example end to end, then every other network of the page."""
    assert examples_main(["--out", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    expected = {f"{name}.onnx" for name in EXAMPLES} | {"japanese_vowels.onnx", "japanese_vowels_trainnet.onnx", "training-progress.png"}
    assert set(os.listdir(tmp_path)) == expected
    assert f"{len(EXAMPLES)} networks built and run" in text and "OK" in text
    assert "onnxruntime CPU output (27, 9)" in text and "LSTMLayer with properties:" in text
    accuracy = float(re.search(r"test accuracy in onnxruntime: ([0-9.]+)", text).group(1))
    assert accuracy >= 0.927  # MATLAB's documented figure for this recipe
    assert "(MATLAB's documented figure: 0.9270" in text
    assert re.search(r"accuracy \(trainNetwork\) [0-9.]+ vs MATLAB's 0.9270: reached", text)
    accuracies = [float(v) for v in re.findall(r"test accuracy in onnxruntime: ([0-9.]+)", text)]
    assert len(accuracies) == 2 and abs(accuracies[1] - accuracies[0]) <= 0.02  # trainnet: the same band


def test_the_compiler_never_imports_torch_until_training_is_used():
    code = (
        "import sys, lstm2onnx\n"
        "from lstm2onnx import build, sequenceInputLayer, lstmLayer, trainingOptions\n"
        "from lstm2onnx.matlab import from_matlab\n"
        "build([sequenceInputLayer(2), lstmLayer(3)])\n"
        "trainingOptions('adam', MaxEpochs=2)\n"
        "from_matlab('layers = [sequenceInputLayer(2) lstmLayer(3)];')\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
        "assert 'scipy' not in sys.modules and 'h5py' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("normalization,given,expected", [
    ("zscore", "", {"Mean": 0.0, "StandardDeviation": 1.0}),
    ("zerocenter", "", {"Mean": 0.0}),
    ("rescale-zero-one", "", {"Min": 0.0, "Max": 1.0}),
    ("rescale-symmetric", "", {"Min": -1.0, "Max": 1.0}),
    ("zscore", ", 'Mean', [1; 2; 3]", {"StandardDeviation": 1.0}),
])
def test_build_fills_statistics_that_training_would_compute_with_the_identity(tmp_path, capsys, rng, normalization, given, expected):
    """MathWorks' R2024 examples write sequenceInputLayer(n, Normalization="zscore") and let training compute the
    statistics; `build` of such a script gives the untrained network, its statistics the identity's, and says so."""
    from lstm2onnx.importer import load_onnx

    (tmp_path / "net.m").write_text(f"layers = [sequenceInputLayer(3, 'Normalization', '{normalization}'{given})\n"
                                    "          lstmLayer(4, 'OutputMode', 'last')\n          fullyConnectedLayer(2)];\n")
    assert main(["build", str(tmp_path / "net.m"), "-o", str(tmp_path / "net.onnx")]) == 0
    note = capsys.readouterr().err
    assert f"note: sequenceInputLayer Normalization '{normalization}' has no {' or '.join(expected)}" in note
    built = load_onnx(str(tmp_path / "net.onnx"))
    for name, value in expected.items():
        assert float(getattr(built[0], name)) == value
    if not given:  # the identity: the same outputs as without normalization
        plain = [dataclasses.replace(built[0], Normalization="none", **{k: None for k in expected}), *built[1:]]
        batch = random_batch(rng, 3, 5, 3, ragged=False)
        (y,) = run(onnx.load(tmp_path / "net.onnx"), {"sequences": batch.padded}).values()
        assert_matches_reference(y, reference.predict(plain, batch.sequences))
