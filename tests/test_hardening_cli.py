"""Hardening of the lstm2onnx command line (issue 11): hostile model files, names that are code, atomic builds, rebuilds.

Numerical tolerance: a rebuilt model against its original, max abs error <= 1e-6 (the same float32 weights).
"""

from __future__ import annotations

import json
import os
import re

import numpy as np
import onnx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lstm2onnx_runtime as rt
from lstm2onnx import (LayerError, classificationLayer, exportONNXNetwork, fullyConnectedLayer, initialize, lstmLayer,
                       sequenceInputLayer, softmaxLayer)
from lstm2onnx import _files
from lstm2onnx.cli import main
from lstm2onnx.matlab import from_matlab
from lstm2onnx.matlab.writer import to_matlab
from lstm2onnx.values import UNPRINTABLE


def _layers(name="lstm", classes=("a", "b")):
    return [sequenceInputLayer(3), lstmLayer(4, Name=name, OutputMode="last"), fullyConnectedLayer(len(classes)), softmaxLayer(),
            classificationLayer(Classes=list(classes))]


@pytest.fixture
def model(tmp_path):
    path = tmp_path / "net.onnx"
    exportONNXNetwork(initialize(_layers(), 0), path, ragged=True)
    return path


def _one_line_error(capsys, command):
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and err.startswith(f"lstm2onnx {command}: error: "), err
    assert "Traceback" not in err
    return err


def _tampered(model, tmp_path, changes, name="bad.onnx"):
    m = onnx.load(model)
    meta = {p.key: p.value for p in m.metadata_props}
    meta.update(changes)
    del m.metadata_props[:]
    onnx.helper.set_model_props(m, meta)
    onnx.save(m, tmp_path / name)
    return tmp_path / name


# -- item 6 for the compiler's CLI: inspect, verify, to-matlab on hostile files ---------------------


def _hostile_files(model, tmp_path):
    data = model.read_bytes()
    (tmp_path / "truncated.onnx").write_bytes(data[: len(data) // 2])
    (tmp_path / "random.onnx").write_bytes(np.random.default_rng(0).bytes(4096))
    (tmp_path / "empty.onnx").write_bytes(b"")
    onnx.save(onnx.helper.make_model(onnx.helper.make_graph([], "g", [], [])), tmp_path / "empty_graph.onnx")
    (tmp_path / "folder.onnx").mkdir()
    return {
        "/dev/zero": "is not a regular file",
        str(tmp_path / "folder.onnx"): "is a folder",
        str(tmp_path / "missing.onnx"): "No such file or directory",
        str(tmp_path / "truncated.onnx"): "as an ONNX model|holds no ONNX graph",
        str(tmp_path / "random.onnx"): "as an ONNX model|holds no ONNX graph",
        str(tmp_path / "empty.onnx"): "is empty",
        str(tmp_path / "empty_graph.onnx"): "holds no ONNX graph",
        str(_tampered(model, tmp_path, {"lstm2onnx.spec": "[" * 100000 + "]" * 100000}, "deep.onnx")): "not a valid lstm2onnx model",
        str(_tampered(model, tmp_path, {"lstm2onnx.spec": "{bad json"}, "json.onnx")): "not a valid lstm2onnx model",
        str(_tampered(model, tmp_path, {"lstm2onnx.spec": '[{"type": 3}]'}, "types.onnx")): "lstm2onnx model|unknown layer|type",
    }


@pytest.mark.parametrize("command", ["to-matlab", "verify"])
def test_hostile_model_files_are_one_line_errors(model, tmp_path, capsys, command):
    for path, message in _hostile_files(model, tmp_path).items():
        assert main([command, path]) == 1, path
        assert re.search(message, _one_line_error(capsys, command)), path


def test_inspect_hostile_files(model, tmp_path, capsys):
    for path, message in _hostile_files(model, tmp_path).items():
        code = main(["inspect", path])
        if code == 0:  # a readable graph with an unreadable spec: described, and the spec's problem said
            assert "the layer spec in the metadata cannot be read" in capsys.readouterr().out, path
        else:
            assert code == 1 and re.search(message, _one_line_error(capsys, "inspect")), path


def test_models_with_external_data_are_refused(model, tmp_path, capsys):
    m = onnx.load(model)
    onnx.save(m, tmp_path / "ext.onnx", save_as_external_data=True, all_tensors_to_one_file=True, location="weights.bin", size_threshold=0)
    for command in ("inspect", "to-matlab", "verify"):
        assert main([command, str(tmp_path / "ext.onnx")]) == 1
        assert "keeps tensors in external files" in _one_line_error(capsys, command)


def test_inspect_prints_control_characters_escaped(model, tmp_path, capsys):
    m = onnx.load(model)
    m.graph.name = "evil\n\x1b[2Jgraph"
    m.producer_name = "p\rq"
    onnx.helper.set_model_props(m, {**{p.key: p.value for p in m.metadata_props}, "note": "line1\nline2\x07\u202e"})
    spec = json.loads(next(p.value for p in m.metadata_props if p.key == "lstm2onnx.spec"))
    spec[1]["Name"] = "x\ny"
    del m.metadata_props[:]
    onnx.helper.set_model_props(m, {"lstm2onnx.spec": json.dumps(spec), "note": "line1\nline2\x07\u202e", "lstm2onnx.classes": '["a\\u001b[31m", "b"]'})
    onnx.save(m, tmp_path / "evil.onnx")
    assert main(["inspect", str(tmp_path / "evil.onnx")]) == 0
    out = capsys.readouterr().out
    assert all(c.isprintable() for line in out.splitlines() for c in line), out
    assert "evil\\n\\x1b[2Jgraph" in out and "line1\\nline2\\x07\\u202e" in out and "a\\x1b[31m" in out
    assert "Name must be text without control characters" in out  # the tampered spec is refused, and said so


def test_verify_batch_and_time_must_be_positive(model, capsys):
    for option, value in (("--batch", "0"), ("--batch", "-1"), ("--time", "0"), ("--time", "x")):
        with pytest.raises(SystemExit) as exit_:
            main(["verify", str(model), option, value])
        assert exit_.value.code == 2 and "expected a positive integer" in capsys.readouterr().err


def test_version(capsys):
    from lstm2onnx import __version__

    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0 and capsys.readouterr().out.strip() == f"lstm2onnx {__version__}"


# -- low items: spec and .m encodings ------------------------------------------------------------


def test_build_on_a_non_utf8_spec_is_one_line(model, tmp_path, capsys):
    os.rename(model, tmp_path / "model.yaml")  # an .onnx file given as a spec
    assert main(["build", str(tmp_path / "model.yaml"), "-o", str(tmp_path / "out.onnx")]) == 1
    assert "not UTF-8 text" in _one_line_error(capsys, "build")
    assert not (tmp_path / "out.onnx").exists()


M_FILE = "layers = [sequenceInputLayer(3) lstmLayer(4, 'Name', 'caf\u00e9', 'OutputMode', 'last') fullyConnectedLayer(2) softmaxLayer];\n"


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp1252"])
def test_m_files_with_a_bom_or_in_windows_1252(tmp_path, encoding):
    (tmp_path / "net.m").write_bytes(M_FILE.replace("\n", "\r\n").encode(encoding))
    assert main(["build", str(tmp_path / "net.m"), "-o", str(tmp_path / "net.onnx")]) == 0
    assert rt.load(tmp_path / "net.onnx", "cpu").info.layer_types[1] == "lstmLayer"
    spec = json.loads({p.key: p.value for p in onnx.load(tmp_path / "net.onnx").metadata_props}["lstm2onnx.spec"])
    assert spec[1]["Name"] == "caf\u00e9"


# -- item 4 for builds: atomic, and errors name the file asked for ---------------------------------


def test_a_failing_build_write_keeps_the_previous_file_and_names_the_output(tmp_path, monkeypatch, capsys):
    spec = tmp_path / "net.json"
    spec.write_text('[{"sequenceInputLayer": 3}, {"lstmLayer": 4}, {"fullyConnectedLayer": 2}]')
    out = tmp_path / "out.onnx"
    out.write_bytes(b"previous model")

    def full_disk(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(_files.os, "fsync", full_disk)
    assert main(["build", str(spec), "-o", str(out)]) == 1
    err = _one_line_error(capsys, "build")
    assert "No space left on device" in err and str(out) in err and ".part" not in err
    assert out.read_bytes() == b"previous model" and sorted(os.listdir(tmp_path)) == ["net.json", "out.onnx"]


# -- build MODEL.onnx --stateful: a stateful copy -----------------------------------------------------


def test_build_a_stateful_copy_of_an_existing_model(model, tmp_path, rng, capsys):
    out = tmp_path / "stateful.onnx"
    assert main(["build", str(model), "--stateful", "-o", str(out)]) == 0
    original, copy = rt.load(model, "cpu"), rt.load(out, "cpu")
    assert copy.info.stateful and copy.info.sequence_lengths == "sequence_lengths" and copy.classes == ("a", "b")
    assert onnx.load(out).graph.name == onnx.load(model).graph.name
    X = [rng.normal(size=(n, 3)).astype(np.float32) for n in (5, 2, 7)]
    np.testing.assert_allclose(rt.predict(copy, X), rt.predict(original, X), rtol=0, atol=1e-6)
    x = X[2]
    stream = rt.StreamPool(copy).open()
    streamed = [stream.step(x[:3]), stream.step(x[3:])][-1]
    np.testing.assert_allclose(streamed, rt.predict(original, x), rtol=0, atol=1e-6)
    assert main(["build", str(tmp_path / "missing.onnx"), "--stateful", "-o", str(out)]) == 1
    assert "No such file" in _one_line_error(capsys, "build")


# -- item 7: names are refused at creation if they cannot be MATLAB text; everything else round-trips -


NAMES = st.text(st.characters(exclude_categories=UNPRINTABLE), min_size=1, max_size=12)
TRICKY = ['a"); system("rm -rf ~', "it's", "%{", "...", "a;b", "[x]", "'", '"', '""', "é☃ 名前", "\u00a0nbsp", "#", "end"]


@settings(derandomize=True, max_examples=300, deadline=None)
@given(st.lists(NAMES | st.sampled_from(TRICKY), min_size=4, max_size=4, unique=True), st.lists(NAMES | st.sampled_from(TRICKY), min_size=2, max_size=4, unique=True))
def test_to_matlab_round_trips_every_allowed_name(names, classes):
    layers = [sequenceInputLayer(3, Name=names[0]), lstmLayer(4, Name=names[1]), fullyConnectedLayer(len(classes), Name=names[2]),
              softmaxLayer(Name=names[3]), classificationLayer(Classes=classes)]
    code = to_matlab(layers)
    assert len(code.splitlines()) == len(layers) + 1  # one line per layer: no name starts a line of its own
    back = from_matlab(code)
    assert [layer.Name for layer in back] == [layer.Name for layer in layers]
    assert back[-1].Classes == tuple(classes)


@pytest.mark.parametrize("bad", ["a\nb", "x\r", "tab\there", "\x1b[31m", "bidi\u202e", "line\u2028sep", "nul\x00"])
def test_names_with_control_characters_are_refused_at_creation(bad):
    with pytest.raises(LayerError, match=r"Name must be text without control characters \(found U\+"):
        lstmLayer(4, Name=bad)
    with pytest.raises(LayerError, match=r"Classes must be text without control characters"):
        classificationLayer(Classes=["ok", bad])


def test_to_matlab_refuses_an_unprintable_name_that_bypassed_the_layer_checks():
    layer = lstmLayer(4, Name="ok")
    object.__setattr__(layer, "Name", "x\nsystem('rm')")
    with pytest.raises(LayerError, match="to_matlab: a name or class must be text without control characters"):
        to_matlab([sequenceInputLayer(3), layer])


def test_install_hints_name_an_install_that_works(monkeypatch, capsys):
    """Neither distribution is on a package index: hints say how to install from the source, never `pip install lstm2onnx-runtime`."""
    monkeypatch.setitem(__import__("sys").modules, "lstm2onnx_runtime.cli", None)
    assert main(["predict", "m.onnx", "d.npy"]) == 1
    err = capsys.readouterr().err
    assert "pip install './runtime[cpu]' from a checkout of lstm2onnx" in err and "'lstm2onnx-runtime[" not in err
    monkeypatch.setitem(__import__("sys").modules, "lstm2onnx_runtime", None)
    from lstm2onnx.verify import _providers

    with pytest.raises(Exception, match=re.escape("pip install './runtime[gpu]' from a checkout of lstm2onnx")):
        _providers("cuda")
