"""Data-parallel training with torchrun (2 processes, gloo on the CPU) gives single-process results.

Tolerance: 1e-5 on every learnable after training (the only difference is floating-point summation order).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch.distributed

from lstm2onnx import classificationLayer, fullyConnectedLayer, lstmLayer, sequenceInputLayer, softmaxLayer, trainingOptions, trainNetwork

SCRIPT = textwrap.dedent('''
    import sys
    import numpy as np
    import torch.distributed as dist
    from lstm2onnx import classificationLayer, fullyConnectedLayer, lstmLayer, sequenceInputLayer, softmaxLayer, trainingOptions, trainNetwork

    rng = np.random.default_rng(0)
    X = [rng.normal(size=(int(rng.integers(2, 10)), 3)) for _ in range(24)]
    Y = np.array(["a", "b", "c"] * 8)
    layers = [sequenceInputLayer(3), lstmLayer(6, OutputMode="last"), fullyConnectedLayer(3), softmaxLayer(), classificationLayer()]
    length = sys.argv[2] if sys.argv[2] == "longest" else int(sys.argv[2])
    options = trainingOptions("sgdm", MaxEpochs=3, MiniBatchSize=8, Verbose=False, GradientThreshold=1, Shuffle="every-epoch",
                              SequenceLength=length)
    net, info = trainNetwork(X, Y, layers, options, seed=5)
    if dist.get_rank() == 0:
        np.savez(sys.argv[1], W=net.Layers[1].InputWeights, R=net.Layers[1].RecurrentWeights, b=net.Layers[1].Bias,
                 F=net.Layers[2].Weights, loss=info.TrainingLoss, world=dist.get_world_size())
    dist.destroy_process_group()
''')


@pytest.mark.skipif(not torch.distributed.is_available(), reason="this torch build has no torch.distributed")
@pytest.mark.parametrize("length", ["longest", 3], ids=["whole-sequences", "chunks-of-3"])
def test_two_process_training_equals_single_process(tmp_path, length):
    """With chunks, a process whose shard has no sequence left in a chunk still takes part (zero gradients)."""
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    out = tmp_path / "weights.npz"
    env = {k: v for k, v in os.environ.items() if k not in ("WORLD_SIZE", "RANK", "LOCAL_RANK")}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(script), str(out), str(length)],
                          capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rng = np.random.default_rng(0)
    X = [rng.normal(size=(int(rng.integers(2, 10)), 3)) for _ in range(24)]
    Y = np.array(["a", "b", "c"] * 8)
    layers = [sequenceInputLayer(3), lstmLayer(6, OutputMode="last"), fullyConnectedLayer(3), softmaxLayer(), classificationLayer()]
    options = trainingOptions("sgdm", MaxEpochs=3, MiniBatchSize=8, Verbose=False, GradientThreshold=1, Shuffle="every-epoch",
                              SequenceLength=length)
    net, info = trainNetwork(X, Y, layers, options, seed=5)
    with np.load(out) as parallel:
        assert int(parallel["world"]) == 2
        for key, value in (("W", net.Layers[1].InputWeights), ("R", net.Layers[1].RecurrentWeights), ("b", net.Layers[1].Bias), ("F", net.Layers[2].Weights)):
            np.testing.assert_allclose(parallel[key], value, rtol=0, atol=1e-5, err_msg=key)
        np.testing.assert_allclose(parallel["loss"], info.TrainingLoss, rtol=0, atol=1e-5)
        assert np.abs(net.Layers[1].InputWeights - initial_weights()).max() > 1e-3  # it did train


def initial_weights():
    from lstm2onnx import initialize

    return initialize([sequenceInputLayer(3), lstmLayer(6, OutputMode="last"), fullyConnectedLayer(3), softmaxLayer(),
                       classificationLayer(Classes=["a", "b", "c"])], seed=5)[1].InputWeights


TRAINNET_SCRIPT = textwrap.dedent('''
    import sys
    import numpy as np
    import torch.distributed as dist
    from lstm2onnx import fullyConnectedLayer, lstmLayer, sequenceInputLayer, softmaxLayer, trainingOptions
    from lstm2onnx.training import trainnet

    rng = np.random.default_rng(0)
    X = [rng.normal(size=(int(rng.integers(2, 10)), 3)) for _ in range(24)]
    Y = np.array(["a", "b", "c"] * 8)
    layers = [sequenceInputLayer(3), lstmLayer(6, OutputMode="last"), fullyConnectedLayer(3), softmaxLayer()]
    options = trainingOptions("adam", MaxEpochs=2, MiniBatchSize=8, Verbose=False, Shuffle="never", SequenceLength=3,
                              Metrics=["accuracy", "rmse"])
    net, info = trainnet(X, Y, layers, "crossentropy", options, seed=5)
    if dist.get_rank() == 0:
        h = info.TrainingHistory
        np.savez(sys.argv[1], loss=h["Loss"], accuracy=h["Accuracy"], rmse=h["RMSE"], W=net.Layers[1].InputWeights)
    dist.destroy_process_group()
''')


@pytest.mark.skipif(not torch.distributed.is_available(), reason="this torch build has no torch.distributed")
def test_two_process_trainnet_with_two_metrics_equals_single_process(tmp_path):
    """trainnet's metric terms are arrays (one entry per metric) summed over processes, also from a process whose
    shard has no sequence left in a chunk; the tables equal one process's."""
    script = tmp_path / "trainnet.py"
    script.write_text(TRAINNET_SCRIPT)
    out = tmp_path / "history.npz"
    env = {k: v for k, v in os.environ.items() if k not in ("WORLD_SIZE", "RANK", "LOCAL_RANK")}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(script), str(out)],
                          capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    single = tmp_path / "single.npz"
    code = TRAINNET_SCRIPT.replace("import torch.distributed as dist", "class dist:\n    get_rank = staticmethod(lambda: 0)\n"
                                   "    destroy_process_group = staticmethod(lambda: None)")
    proc = subprocess.run([sys.executable, "-c", code, str(single)], capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    with np.load(out) as parallel, np.load(single) as alone:
        for key in ("loss", "accuracy", "rmse", "W"):
            np.testing.assert_allclose(parallel[key], alone[key], rtol=0, atol=1e-5, err_msg=key)
        assert np.isfinite(parallel["rmse"]).all() and len(parallel["accuracy"]) > 3
