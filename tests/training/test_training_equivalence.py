"""The torch front end against the numpy reference and onnxruntime, and against PyTorch's own ONNX exporter.

Tolerance: max abs error <= 1e-5 (float32 torch and onnxruntime against the float64 reference).
"""

from __future__ import annotations

import io
import itertools
import warnings

import numpy as np
import onnx
import pytest
import torch
from conftest import ATOL_FLOAT32, assert_matches_reference, random_batch, run

from lstm2onnx import (
    bilstmLayer,
    build,
    fullyConnectedLayer,
    initialize,
    lstmLayer,
    reference,
    regressionLayer,
    sequenceInputLayer,
    softmaxLayer,
)
from lstm2onnx.training.torch_net import CellLSTM, TorchLSTM, TorchNetwork

ACTIVATIONS = list(itertools.product(["sigmoid", "hard-sigmoid"], ["tanh", "softsign"]))


def network(gate, state, bi, mode, depth):
    rng = np.random.default_rng(depth)
    layers = [sequenceInputLayer(3, Normalization="zscore", Mean=[0.5, -1, 0], StandardDeviation=[1, 2, 0.5])]
    for k in range(depth):
        make = bilstmLayer if bi and k % 2 == 0 else lstmLayer
        size = 5 * (2 if make is bilstmLayer else 1)
        layers.append(make(5, GateActivationFunction=gate, StateActivationFunction=state, OutputMode=mode if k == depth - 1 else "sequence",
                           HiddenState=rng.uniform(-0.5, 0.5, size), CellState=rng.uniform(-1, 1, size)))
    return layers + [fullyConnectedLayer(4), softmaxLayer()]


@pytest.mark.parametrize("gate,state", ACTIVATIONS)
@pytest.mark.parametrize("bi", [False, True], ids=["lstm", "bilstm"])
@pytest.mark.parametrize("mode", ["last", "sequence"])
@pytest.mark.parametrize("depth", [1, 2])
def test_torch_equals_reference_and_onnxruntime(gate, state, bi, mode, depth):
    net = initialize(network(gate, state, bi, mode, depth), seed=depth)
    module = TorchNetwork(net).eval()
    kind = TorchLSTM if (gate, state) == ("sigmoid", "tanh") else CellLSTM
    recurrent = [stage for stage in module.stages.values() if isinstance(stage, (TorchLSTM, CellLSTM))]
    assert len(recurrent) == depth and all(isinstance(stage, kind) for stage in recurrent)
    batch = random_batch(np.random.default_rng(3), 7, 11, 3, ragged=True)
    with torch.no_grad():
        ours = module.outputs(torch.from_numpy(batch.padded), torch.from_numpy(batch.lengths.astype(np.int64))).numpy()
    expected = reference.predict(net, batch.sequences)
    assert_matches_reference(ours, expected)
    (onnx_out,) = run(build(net, ragged=True), {"sequences": batch.padded, "sequence_lengths": batch.lengths}).values()
    assert_matches_reference(onnx_out, expected)
    assert list(module.to_layers()) == list(net)  # weights survive the trip through torch bit for bit


def test_cell_and_nn_lstm_agree_in_forward_and_gradients():
    """The cell implementation, forced onto default activations, gives nn.LSTM's outputs and gradients."""
    net = initialize([sequenceInputLayer(3), bilstmLayer(4, OutputMode="last"), fullyConnectedLayer(2), softmaxLayer()], seed=0)
    fast = TorchNetwork(net)
    cell = TorchNetwork(net)
    cell.stages["layer_bilstm"] = CellLSTM(net[1], "matlab")
    batch = random_batch(np.random.default_rng(0), 5, 8, 3, ragged=True)
    x, lengths = torch.from_numpy(batch.padded), torch.from_numpy(batch.lengths.astype(np.int64))
    outs, grads = [], []
    for module in (fast, cell):
        y = module(x, lengths)
        y.square().sum().backward()
        outs.append(y.detach().numpy())
        weights = module.stages["layer_bilstm"].learnables()["InputWeights"]
        grads.append(np.concatenate([p.grad.numpy() for p in weights]))
    np.testing.assert_allclose(outs[0], outs[1], rtol=0, atol=1e-6)
    np.testing.assert_allclose(grads[0], grads[1], rtol=0, atol=1e-5)


def test_builder_agrees_with_torch_onnx_export():
    """Cross-framework: our graph and PyTorch's exporter on the same weights give the same numbers in onnxruntime."""
    net = initialize([sequenceInputLayer(6), lstmLayer(8), lstmLayer(5, OutputMode="sequence"), fullyConnectedLayer(3), regressionLayer()], seed=4)

    class Plain(torch.nn.Module):  # the same network as the torch user writes it: two nn.LSTM + Linear, batch-first
        def __init__(self, module: TorchNetwork) -> None:
            super().__init__()
            self.l1, self.l2 = module.stages["layer_lstm_1"].lstm, module.stages["layer_lstm_2"].lstm
            self.fc = module.stages["layer_fc"].linear

        def forward(self, x):
            return self.fc(self.l2(self.l1(x)[0])[0])

    plain = Plain(TorchNetwork(net)).eval()
    x = np.random.default_rng(0).standard_normal((4, 9, 6)).astype(np.float32)
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(plain, (torch.from_numpy(x),), buffer, dynamo=False, opset_version=17, input_names=["x"], output_names=["y"],
                          dynamic_axes={"x": {0: "batch", 1: "time"}, "y": {0: "batch", 1: "time"}})
    exported = onnx.load_from_string(buffer.getvalue())
    assert any(node.op_type == "LSTM" for node in exported.graph.node)
    (theirs,) = run(exported, {"x": x}).values()
    (ours,) = run(build(net), {"sequences": x}).values()
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-6)
    assert_matches_reference(ours, reference.predict(net, x))
    with torch.no_grad():
        np.testing.assert_allclose(plain(torch.from_numpy(x)).numpy(), ours, rtol=0, atol=ATOL_FLOAT32)
