"""softplusLayer: f(x) = log(1 + eˣ) element-wise, through the reference, ONNX, torch and MATLAB text.

Tolerances: onnxruntime float32 vs the float64 reference, max abs error
<= 1e-5 (ATOL_FLOAT32) — relative for the large inputs, where float32 itself
rounds x; torch in float64 vs the reference, 1e-10; the reference vs the
formula, 1e-12.
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
from conftest import ATOL_FLOAT32, assert_matches_reference, onnxruntime_max_opset, random_batch, run

from lstm2onnx import LayerError, build, fullyConnectedLayer, initialize, lstmLayer, reference, sequenceInputLayer, softplusLayer
from lstm2onnx.builder import MIN_OPSET, max_opset
from lstm2onnx.matlab import from_matlab
from lstm2onnx.matlab.writer import to_matlab
from lstm2onnx.reference.activation import softplus
from lstm2onnx.training.torch_net import TorchNetwork

ORT_OPSETS = sorted({MIN_OPSET, 17, min(onnxruntime_max_opset(), max_opset())})
EXTREMES = np.array([-800.0, -40.0, -1e-8, 0.0, 1e-8, 3.0, 40.0, 800.0])


def test_constructor_and_display():
    layer = softplusLayer(Name="splus")
    assert layer == softplusLayer("Name", "splus") and layer.Name == "splus"
    assert (layer.TYPE, layer.description(), softplusLayer().Name) == ("Softplus", "Softplus", "")
    with pytest.raises(LayerError, match=r"softplusLayer: unknown option 'Beta'"):
        softplusLayer(Beta=2)
    assert initialize([sequenceInputLayer(2), softplusLayer()])[1].Name == "softplus"


def test_reference_is_the_formula_and_stable_at_the_extremes():
    x = np.linspace(-30, 30, 121)
    np.testing.assert_allclose(softplus(x), np.log(1.0 + np.exp(x)), atol=1e-12)
    y = softplus(EXTREMES)
    assert np.all(np.isfinite(y)) and np.all(y >= 0)
    np.testing.assert_allclose(y[[0, 1]], [0.0, np.exp(-40.0)], rtol=1e-12, atol=0)  # log1p keeps e⁻⁴⁰, not 0
    np.testing.assert_allclose(y[[-2, -1]], [40.0 + np.exp(-40.0), 800.0], rtol=1e-15)
    np.testing.assert_allclose(y[3], np.log(2.0), rtol=1e-15)


@pytest.mark.parametrize("ragged", [True, False], ids=["ragged", "full"])
def test_onnxruntime_matches_reference(ragged, rng):
    net = initialize([sequenceInputLayer(3), fullyConnectedLayer(5, Weights=rng.normal(0, 4, (5, 3))), softplusLayer(),
                      lstmLayer(4, OutputMode="last"), fullyConnectedLayer(3), softplusLayer(Name="sp2")], seed=1)
    batch = random_batch(rng, 6, 9, 3, ragged=ragged)
    feeds = {"sequences": batch.padded, **({"sequence_lengths": batch.lengths} if ragged else {})}
    expected = reference.predict(net, batch.sequences)
    for opset in ORT_OPSETS:
        model = build(net, ragged=ragged, opset=opset)
        onnx.checker.check_model(model, full_check=True)
        assert [n.op_type for n in model.graph.node].count("Softplus") == 2
        assert_matches_reference(run(model, feeds)["outputs"], expected, atol=ATOL_FLOAT32)


def test_onnxruntime_softplus_at_the_extremes():
    net = initialize([sequenceInputLayer(len(EXTREMES)), softplusLayer()])
    x = EXTREMES.astype(np.float32)[None, None, :]
    y = run(build(net), {"sequences": x})["outputs"][0, 0]
    expected = softplus(x[0, 0].astype(np.float64))
    assert np.all(np.isfinite(y))
    np.testing.assert_allclose(y, expected, rtol=1e-6, atol=ATOL_FLOAT32)


def test_padding_never_changes_a_result(rng):
    """NaN padding in a ragged batch: each sequence's outputs are those it gets run alone (to float32 rounding: the
    fully connected layer's MatMul may round differently for another batch shape)."""
    net = initialize([sequenceInputLayer(3), softplusLayer(), fullyConnectedLayer(2)], seed=0)
    batch = random_batch(rng, 5, 8, 3, ragged=True, pad_value=np.nan)
    model = build(net, ragged=True)
    together = run(model, {"sequences": batch.padded, "sequence_lengths": batch.lengths})["outputs"]
    for n, s in enumerate(batch.sequences):
        alone = run(model, {"sequences": s[None], "sequence_lengths": np.array([len(s)], np.int32)})["outputs"]
        np.testing.assert_allclose(together[n, : len(s)], alone[0], rtol=0, atol=1e-6)


def test_stateful_graph_builds(rng):
    """Element-wise: a chunk needs nothing from earlier chunks, so streaming is allowed."""
    net = initialize([sequenceInputLayer(3), softplusLayer(), lstmLayer(4, Name="lstm"), fullyConnectedLayer(2)], seed=0)
    model = build(net, ragged=True, stateful=True)
    batch = random_batch(rng, 3, 5, 3, ragged=True)
    zeros = np.zeros((3, 4), np.float32)
    out = run(model, {"sequences": batch.padded, "sequence_lengths": batch.lengths, "lstm.HiddenState.in": zeros, "lstm.CellState.in": zeros})
    assert_matches_reference(out["outputs"], reference.predict(net, batch.sequences), batch.lengths, atol=ATOL_FLOAT32)


def test_torch_forward_matches_reference(rng):
    net = initialize([sequenceInputLayer(3), fullyConnectedLayer(4, Weights=rng.normal(0, 20, (4, 3))), softplusLayer(),
                      fullyConnectedLayer(2)], seed=2)
    batch = random_batch(rng, 5, 7, 3, ragged=True)
    module = TorchNetwork(net).double()
    with torch.no_grad():
        out = module(torch.from_numpy(batch.padded).double(), torch.from_numpy(batch.lengths).long()).numpy()
    assert_matches_reference(out, reference.predict(net, batch.sequences), batch.lengths, atol=1e-10)
    x = torch.tensor(EXTREMES, requires_grad=True)
    y = TorchNetwork(initialize([sequenceInputLayer(len(EXTREMES)), softplusLayer()])).double()(x[None, None, :], torch.tensor([1]))
    np.testing.assert_allclose(y.detach().numpy()[0, 0], softplus(EXTREMES), rtol=1e-15, atol=0)
    y.sum().backward()  # d/dx softplus = σ(x): finite everywhere
    np.testing.assert_allclose(x.grad.numpy(), 0.5 * (1 + np.tanh(EXTREMES / 2)), atol=1e-15)


def test_matlab_text_parses_and_writes_back():
    layers = from_matlab('layers = [sequenceInputLayer(2)\n softplusLayer\n softplusLayer(Name="splus")\n softplusLayer(\'Name\', \'s3\')];')
    assert [layer.Name for layer in layers[1:]] == ["", "splus", "s3"]
    text = to_matlab(layers)
    assert 'softplusLayer("Name", "splus")' in text
    assert list(from_matlab(text)) == list(layers)
