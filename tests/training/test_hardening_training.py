"""Training hardening (issue 11): checkpoints and plots written atomically, CheckpointPath checked up front, a failed
checkpoint warns and training goes on, the install hint for a missing torch, huge SequenceLength, classify on regression."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

from lstm2onnx import (LayerError, Lstm2OnnxError, classificationLayer, classify, fullyConnectedLayer, initialize, lstmLayer, predict,
                       regressionLayer, sequenceInputLayer, softmaxLayer, trainingOptions, trainNetwork)
from lstm2onnx import _files
from lstm2onnx.spec import load_spec


def _data(n=8, seed=0):
    rng = np.random.default_rng(seed)
    X = [rng.normal(size=(int(rng.integers(3, 8)), 3)).astype(np.float32) for _ in range(n)]
    return X, np.array([str(k % 2) for k in range(n)])


LAYERS = [sequenceInputLayer(3), lstmLayer(4, OutputMode="last"), fullyConnectedLayer(2), softmaxLayer(), classificationLayer()]


def test_checkpoint_path_is_checked_by_training_options(tmp_path):
    (tmp_path / "file").write_text("x")
    for path, message in ((tmp_path / "missing", "does not exist; create the folder first"), (tmp_path / "file", "is not a folder")):
        with pytest.raises(LayerError, match=message):
            trainingOptions("adam", CheckpointPath=str(path))
    assert trainingOptions("adam", CheckpointPath=tmp_path).CheckpointPath == str(tmp_path)  # a PathLike is a folder name
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        with pytest.raises(LayerError, match="is not writable"):
            trainingOptions("adam", CheckpointPath=str(locked))


def test_a_failing_checkpoint_warns_training_continues_and_earlier_checkpoints_survive(tmp_path, monkeypatch):
    X, Y = _data()
    options = trainingOptions("adam", MaxEpochs=3, MiniBatchSize=4, Verbose=False, CheckpointPath=str(tmp_path))
    real_replace, calls = _files.os.replace, []

    def full_disk_after_the_first(source, target):
        calls.append(target)
        if len(calls) > 1:
            raise OSError(28, "No space left on device")
        real_replace(source, target)

    monkeypatch.setattr(_files.os, "replace", full_disk_after_the_first)
    with pytest.warns(RuntimeWarning, match=r"checkpoint at iteration [46] not saved \(cannot write '[^']*net_checkpoint__[46]__[^']*\.json': No space left on device\); training continues"):
        net, info = trainNetwork(X, Y, LAYERS, options)
    assert len(info.TrainingLoss) == 6  # all three epochs ran
    files = os.listdir(tmp_path)
    assert len(files) == 1 and files[0].startswith("net_checkpoint__2__")  # the first one, complete; no temporaries left
    restored, _ = load_spec(tmp_path / files[0])
    assert [layer.FUNCTION for layer in restored] == [layer.FUNCTION for layer in net.Layers]


def test_the_plot_is_written_atomically_and_announced_only_when_verbose(tmp_path, capsys, caplog, monkeypatch):
    X, Y = _data()
    options = trainingOptions("adam", MaxEpochs=1, MiniBatchSize=4, Verbose=False, Plots="training-progress")
    with caplog.at_level("INFO", logger="lstm2onnx.training.trainer"):
        _, info = trainNetwork(X, Y, LAYERS, options, plot_file=str(tmp_path / "p.png"))
    assert capsys.readouterr().out == "" and "plot written to" in caplog.text
    assert (tmp_path / "p.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    before = (tmp_path / "p.png").read_bytes()

    def full_disk(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(_files.os, "fsync", full_disk)
    with pytest.warns(RuntimeWarning, match="training progress plot not saved"):
        net, info = trainNetwork(X, Y, LAYERS, options, plot_file=str(tmp_path / "p.png"))
    assert info.PlotFile is None and net is not None
    assert (tmp_path / "p.png").read_bytes() == before and os.listdir(tmp_path) == ["p.png"]


def test_missing_torch_gives_the_install_hint():
    code = ("import sys; sys.modules['torch'] = None\n"
            "import numpy as np, lstm2onnx\n"
            "try:\n    lstm2onnx.trainNetwork([np.zeros((2, 3))], ['a'], [], None)\n"
            "except ModuleNotFoundError as e:\n    print('A', e)\n"
            "try:\n    lstm2onnx.classify([], [np.zeros((2, 3))])\n"
            "except ModuleNotFoundError as e:\n    print('B', e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.count("pip install 'lstm2onnx[train]'") == 2, out


def test_huge_sequence_length_trains_and_predicts():
    X, _ = _data()
    Y = np.random.default_rng(1).normal(size=(8, 2)).astype(np.float32)
    layers = [sequenceInputLayer(3), lstmLayer(4, OutputMode="last"), fullyConnectedLayer(2), regressionLayer()]
    options = trainingOptions("adam", MaxEpochs=1, MiniBatchSize=4, Verbose=False, SequenceLength=2**63)
    net, info = trainNetwork(X, Y, layers, options)
    np.testing.assert_allclose(predict(net, X, SequenceLength=2**63), predict(net, X), rtol=0, atol=1e-6)
    with pytest.raises(Lstm2OnnxError, match="regressionLayer: it has responses, not classes; use predict"):
        classify(net, X)
    with pytest.raises(Lstm2OnnxError, match="not classes"):
        classify(initialize(layers, 0), X)


def test_no_warnings_on_a_clean_run(tmp_path):
    X, Y = _data()
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        trainNetwork(X, Y, LAYERS, trainingOptions("adam", MaxEpochs=1, MiniBatchSize=4, Verbose=False, CheckpointPath=str(tmp_path)))
    assert len(os.listdir(tmp_path)) == 1
