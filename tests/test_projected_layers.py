"""lstmProjectedLayer through the compiler, and the state-port / ResponseNames options of MATLAB's layers.

Tolerances: onnxruntime (float32) against the float64 reference 1e-5
(ATOL_FLOAT32); torch in float64 against the reference 1e-12; a trained
network's ONNX export against torch's float32 outputs 1e-5.
"""

from __future__ import annotations

import dataclasses
import itertools
import re

import numpy as np
import onnx
import pytest
from conftest import ATOL_FLOAT32, assert_matches_reference, random_batch, run

from lstm2onnx import (
    Layer,
    LayerError,
    NetworkError,
    bilstmLayer,
    build,
    classificationLayer,
    fullyConnectedLayer,
    gruLayer,
    initialize,
    lstmLayer,
    lstmProjectedLayer,
    reference,
    regressionLayer,
    sequenceInputLayer,
    softmaxLayer,
)
from lstm2onnx.layers import LSTMProjectedLayer
from lstm2onnx.matlab import from_matlab
from lstm2onnx.matlab.writer import to_matlab

ACTIVATIONS = list(itertools.product(["sigmoid", "hard-sigmoid"], ["tanh", "softsign"]))


def random_projected(rng: np.random.Generator, inputs: int, hidden: int, out_size: int, in_size: int, **options) -> LSTMProjectedLayer:
    """Every learnable and the initial states at unit scale, so a transposed projector or a wrong gate shows."""
    return lstmProjectedLayer(
        hidden, out_size, in_size,
        InputWeights=rng.normal(0, 0.7, (4 * hidden, in_size)), RecurrentWeights=rng.normal(0, 0.7, (4 * hidden, out_size)),
        Bias=rng.normal(0, 1, 4 * hidden), InputProjector=rng.normal(0, 0.7, (inputs, in_size)),
        OutputProjector=rng.normal(0, 0.7, (hidden, out_size)), HiddenState=rng.uniform(-0.8, 0.8, hidden),
        CellState=rng.normal(0, 1, hidden), **options,
    )


def feeds_for(batch, ragged: bool) -> dict[str, np.ndarray]:
    return {"sequences": batch.padded, **({"sequence_lengths": batch.lengths} if ragged else {})}


# -- numerics ------------------------------------------------------------------------------------

CASES = list(itertools.product(["sequence", "last"], [False, True], ACTIVATIONS))


@pytest.mark.parametrize("output,ragged,activations", CASES, ids=lambda v: "-".join(v) if isinstance(v, tuple) else str(v))
def test_built_graph_matches_reference(output, ragged, activations):
    case = CASES.index((output, ragged, activations))
    rng = np.random.default_rng(300 + case)
    gate, state = activations
    layers = [sequenceInputLayer(5), random_projected(rng, 5, 6, 3, 2, OutputMode=output, GateActivationFunction=gate,
                                                       StateActivationFunction=state), fullyConnectedLayer(3)]
    net = initialize(layers, seed=case)
    batch = random_batch(rng, 6, 11, 5, ragged=ragged)
    model = build(net, ragged=ragged)
    assert [n.op_type for n in model.graph.node].count("LSTM") == 1
    (actual,) = run(model, feeds_for(batch, ragged)).values()
    assert_matches_reference(actual, reference.predict(net, batch.sequences if ragged else batch.padded))


def test_reference_is_the_factored_equation_for_one_step():
    """One step written out from MATLAB's page: z = W (Q_iᵀ x) + R (Q_oᵀ h0) + b, gates i, f, g, o."""
    rng = np.random.default_rng(1)
    layer = random_projected(rng, 4, 3, 2, 2, OutputMode="last")
    x = rng.normal(size=(1, 1, 4))
    f64 = {k: np.asarray(getattr(layer, k), np.float64)
           for k in ("InputWeights", "RecurrentWeights", "Bias", "InputProjector", "OutputProjector", "HiddenState", "CellState")}
    z = f64["InputWeights"] @ (f64["InputProjector"].T @ x[0, 0]) + f64["RecurrentWeights"] @ (f64["OutputProjector"].T @ f64["HiddenState"]) + f64["Bias"]
    i, f, g, o = np.split(z, 4)
    sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    c = sig(f) * f64["CellState"] + sig(i) * np.tanh(g)
    h = sig(o) * np.tanh(c)
    np.testing.assert_allclose(reference.predict([sequenceInputLayer(4), layer], x)[0], h, rtol=0, atol=1e-13)


def test_projectors_matter_and_as_lstm_is_the_same_function():
    """Swapping in another projector changes the numbers; as_lstm (the multiplied-out lstmLayer) gives the same ones."""
    rng = np.random.default_rng(2)
    layer = random_projected(rng, 3, 4, 2, 2, OutputMode="last")
    x = rng.normal(size=(3, 6, 3))
    base = reference.predict([sequenceInputLayer(3), layer], x)
    other = LSTMProjectedLayer(**{**layer._non_default(), "OutputProjector": rng.normal(0, 0.7, (4, 2))})
    assert np.abs(reference.predict([sequenceInputLayer(3), other], x) - base).max() > 100 * ATOL_FLOAT32
    lstm = layer.as_lstm()
    assert type(lstm).__name__ == "LSTMLayer" and lstm.InputWeights.shape == (16, 3) and lstm.RecurrentWeights.shape == (16, 4)
    np.testing.assert_allclose(reference.predict([sequenceInputLayer(3), lstm], x), base, rtol=0, atol=ATOL_FLOAT32)


def test_stateful_graph_states_and_chunks():
    """Stateful: <layer>.HiddenState/CellState inputs and outputs; chunks with the state carried equal the whole sequence."""
    rng = np.random.default_rng(3)
    net = initialize([sequenceInputLayer(3), random_projected(rng, 3, 5, 2, 2, Name="p"), lstmProjectedLayer(4, 2, 3, Name="q"),
                      fullyConnectedLayer(2), regressionLayer()], seed=1)
    model = build(net, ragged=True, stateful=True)
    names = [i.name for i in model.graph.input]
    assert names == ["sequences", "sequence_lengths", "p.HiddenState.in", "p.CellState.in", "q.HiddenState.in", "q.CellState.in"]
    batch = random_batch(rng, 4, 9, 3, ragged=True)
    initial = {name: (rng.uniform(-0.5, 0.5, (4, H)).astype(np.float32), rng.normal(0, 1, (4, H)).astype(np.float32)) for name, H in (("p", 5), ("q", 4))}
    feeds = {**feeds_for(batch, True), **{f"{n}.{k}.in": v for n, parts in initial.items() for k, v in zip(("HiddenState", "CellState"), parts)}}
    out = run(model, feeds)
    expected, states = reference.predict(net, batch.sequences, initial_states=initial, return_states=True)
    assert_matches_reference(out["responses"], expected)
    for name, parts in states.items():
        for key, value in zip(("HiddenState", "CellState"), parts):
            assert_matches_reference(out[f"{name}.{key}.out"], value)

    x = rng.normal(size=(2, 10, 3)).astype(np.float32)
    state = {f"{n}.{k}.in": np.zeros((2, H), np.float32) for n, H in (("p", 5), ("q", 4)) for k in ("HiddenState", "CellState")}
    whole = run(model, {"sequences": x, "sequence_lengths": np.full(2, 10, np.int32), **state})["responses"]
    pieces = []
    for start, stop in ((0, 4), (4, 5), (5, 10)):
        got = run(model, {"sequences": x[:, start:stop], "sequence_lengths": np.full(2, stop - start, np.int32), **state})
        pieces.append(got["responses"])
        state = {k: got[k.replace(".in", ".out")] for k in state}
    np.testing.assert_allclose(np.concatenate(pieces, axis=1), whole, rtol=0, atol=ATOL_FLOAT32)


# -- properties, sizes and errors ------------------------------------------------------------------


def test_constructor_defaults_initializers_and_sizes():
    layer = lstmProjectedLayer(100, 30, 8, OutputMode="last")
    assert (layer.NumHiddenUnits, layer.OutputProjectorSize, layer.InputProjectorSize, layer.OutputMode) == (100, 30, 8, "last")
    assert layer.InputProjectorInitializer == layer.OutputProjectorInitializer == "orthogonal"
    assert (layer.HasStateInputs, layer.HasStateOutputs) == (False, False)
    net = initialize([sequenceInputLayer(12), layer], seed=0)
    p = net[1]
    assert p.InputWeights.shape == (400, 8) and p.RecurrentWeights.shape == (400, 30) and p.Bias.shape == (400,)
    assert p.InputProjector.shape == (12, 8) and p.OutputProjector.shape == (100, 30)
    np.testing.assert_allclose(p.InputProjector.T @ p.InputProjector, np.eye(8), atol=1e-5)  # orthogonal columns
    np.testing.assert_array_equal(p.Bias[100:200], 1.0)  # unit-forget-gate
    assert re.search(r"'lstmprojected'\s+Projected Layer\s+Projected LSTM with 100 hidden units\n", str(net))


BAD = [
    (lambda: lstmProjectedLayer(4, 0, 2), "lstmProjectedLayer: OutputProjectorSize"),
    (lambda: lstmProjectedLayer(4, 2, 1.5), "lstmProjectedLayer: InputProjectorSize"),
    (lambda: lstmProjectedLayer(4, 2, 3, InputWeights=np.zeros((16, 2))), "InputWeights must be a 16-by-3 (4*NumHiddenUnits-by-InputProjectorSize) matrix, got 16-by-2"),
    (lambda: lstmProjectedLayer(4, 2, 3, RecurrentWeights=np.zeros((16, 4))), "RecurrentWeights must be a 16-by-2 (4*NumHiddenUnits-by-OutputProjectorSize) matrix"),
    (lambda: lstmProjectedLayer(4, 2, 3, OutputProjector=np.zeros((2, 4))), "OutputProjector must be a 4-by-2 (NumHiddenUnits-by-OutputProjectorSize) matrix, got 2-by-4"),
    (lambda: lstmProjectedLayer(4, 2, 3, InputSize=5, InputProjector=np.zeros((6, 3))), "InputProjector must be a 5-by-3 (InputSize-by-InputProjectorSize) matrix"),
    (lambda: lstmProjectedLayer(4, 2, 3, Name="p", InputProjector=np.zeros((6, 2))), "lstmProjectedLayer 'p': InputProjector must be a InputSize-by-3"),
    (lambda: lstmProjectedLayer(4, 2, 3, Bias=np.zeros(4)), "Bias must be a 16-by-1 vector (4*NumHiddenUnits)"),
    (lambda: lstmProjectedLayer(4, 2), "missing"),
]


@pytest.mark.parametrize("make,message", BAD)
def test_bad_sizes_name_the_property_and_the_expected_shape(make, message):
    with pytest.raises((LayerError, TypeError), match=re.escape(message)):
        make()


def test_network_checks_input_size_against_the_input_projector():
    layer = lstmProjectedLayer(4, 2, 3, InputProjector=np.zeros((6, 3)))
    with pytest.raises(NetworkError, match=r"InputProjector says 6 input features, but the previous layer outputs 5"):
        initialize([sequenceInputLayer(5), layer])
    initialize([sequenceInputLayer(6), layer])


# -- MATLAB text, specs, display ------------------------------------------------------------------


def test_matlab_text_builds():
    text = """
    numHiddenUnits = 100;
    layers = [
        sequenceInputLayer(12)
        lstmProjectedLayer(numHiddenUnits, 30, 8, OutputMode="last")
        fullyConnectedLayer(9)
        softmaxLayer
        classificationLayer];
    """
    layers = from_matlab(text)
    layer = layers[1]
    assert isinstance(layer, LSTMProjectedLayer) and layer == lstmProjectedLayer(100, 30, 8, OutputMode="last")
    net = initialize(layers, seed=0)
    rng = np.random.default_rng(4)
    batch = random_batch(rng, 3, 7, 12, ragged=False)
    (probabilities,) = run(build(net), {"sequences": batch.padded}).values()
    assert_matches_reference(probabilities, reference.predict(net, batch.padded))
    quoted = from_matlab("layers = [sequenceInputLayer(3) lstmProjectedLayer(6, 2, 2, 'Name', 'lp', 'StateActivationFunction', 'softsign')];")
    assert quoted[1].Name == "lp" and quoted[1].StateActivationFunction == "softsign"


def test_to_matlab_spec_and_display_round_trip():
    rng = np.random.default_rng(5)
    net = initialize([sequenceInputLayer(3), random_projected(rng, 3, 4, 2, 2, Name="lp", InputProjectorLearnRateFactor=0.5,
                                                             InputWeightsL2Factor=[1, 2, 0.5, 1]),
                      fullyConnectedLayer(2), regressionLayer(ResponseNames=["x", "y"])], seed=0)
    text = to_matlab(net, learnables=True)
    assert 'lstmProjectedLayer(4, 2, 2, "Name", "lp"' in text and '"InputProjector", [' in text
    assert list(from_matlab(text)) == list(net)
    plain = to_matlab(net)
    assert '"InputProjector",' not in plain
    assert list(from_matlab(plain)) == [Layer.from_dict(layer.to_dict(learnables=False)) for layer in net]
    assert [Layer.from_dict(layer.to_dict()) for layer in net] == list(net)
    shown = net[1].display(all=True)
    for line in ("OutputProjectorSize: 2", "InputProjector: [3×2 single]", "OutputProjector: [4×2 single]", "InputProjectorLearnRateFactor: 0.5"):
        assert line in shown


def test_spec_entry_forms_take_matlabs_argument_order():
    from lstm2onnx.spec import parse_spec

    layers, _ = parse_spec("- sequenceInputLayer: 12\n- lstmProjectedLayer: [100, 30, 8, OutputMode, last]\n"
                           "- {lstmProjectedLayer: {NumHiddenUnits: 10, OutputProjectorSize: 3, InputProjectorSize: 2}}\n")
    assert layers[1] == lstmProjectedLayer(100, 30, 8, OutputMode="last") and layers[2] == lstmProjectedLayer(10, 3, 2)


# -- training ------------------------------------------------------------------------------------


def test_torch_stage_equals_reference_and_keeps_the_factors():
    torch = pytest.importorskip("torch")
    from lstm2onnx.training.torch_net import TorchNetwork

    rng = np.random.default_rng(6)
    for output, activations in (("sequence", ("sigmoid", "tanh")), ("last", ("hard-sigmoid", "softsign"))):
        net = initialize([sequenceInputLayer(3), random_projected(rng, 3, 5, 2, 2, GateActivationFunction=activations[0],
                                                                  StateActivationFunction=activations[1]),
                          lstmProjectedLayer(4, 3, 2, OutputMode=output), fullyConnectedLayer(2)], seed=2)
        module = TorchNetwork(net).double()
        batch = random_batch(rng, 5, 8, 3, ragged=True)
        with torch.no_grad():
            y = module(torch.tensor(batch.padded, dtype=torch.float64), torch.tensor(batch.lengths, dtype=torch.int64)).numpy()
        assert reference.max_abs_error(y, reference.predict(net, batch.sequences)) <= 1e-12
        assert list(module.to_layers()) == list(net)
        names = {(learnable.layer, learnable.name) for learnable in module.learnables()}
        assert {("lstmprojected_1", k) for k in ("InputWeights", "RecurrentWeights", "Bias", "InputProjector", "OutputProjector")} <= names


def test_train_a_few_steps_and_the_export_equals_torch():
    torch = pytest.importorskip("torch")
    from lstm2onnx import predictAndUpdateState, trainingOptions, trainNetwork
    from lstm2onnx.training.torch_net import TorchNetwork

    rng = np.random.default_rng(7)
    X = [rng.normal(0, 1, (int(rng.integers(3, 9)), 3)) for _ in range(16)]
    Y = np.array([[x[:, 0].sum() * 0.3, x[:, 1].mean()] for x in X])
    layers = [sequenceInputLayer(3), lstmProjectedLayer(6, 2, 2), lstmProjectedLayer(5, 2, 3, OutputMode="last"),
              fullyConnectedLayer(2), regressionLayer()]
    options = trainingOptions("adam", MaxEpochs=3, MiniBatchSize=8, InitialLearnRate=0.02, Verbose=False)
    net, info = trainNetwork(X, Y, layers, options, seed=0)
    before, after = initialize(layers, seed=0), net.Layers
    for k in ("InputWeights", "RecurrentWeights", "Bias", "InputProjector", "OutputProjector"):
        assert np.abs(getattr(after[1], k) - getattr(before[1], k)).max() > 1e-4, k
    lengths = np.array([len(x) for x in X], np.int32)
    padded = np.zeros((len(X), lengths.max(), 3), np.float32)
    for n, x in enumerate(X):
        padded[n, : len(x)] = x
    with torch.no_grad():
        expected = TorchNetwork(after).outputs(torch.tensor(padded), torch.tensor(lengths, dtype=torch.int64)).numpy()
    (actual,) = run(build(after, ragged=True), {"sequences": padded, "sequence_lengths": lengths}).values()
    np.testing.assert_allclose(actual, expected, rtol=0, atol=ATOL_FLOAT32)
    assert_matches_reference(actual, reference.predict(after, [x.astype(np.float32) for x in X]))
    # the torch front end carries both states of a projected layer like an lstmLayer's (predictAndUpdateState)
    x = rng.standard_normal((11, 3)).astype(np.float32)
    updated, _ = predictAndUpdateState(net, x[:6])
    _, Y = predictAndUpdateState(updated, x[6:])
    assert_matches_reference(np.asarray(Y).reshape(1, -1), reference.predict(after, [x]))


# -- HasStateInputs / HasStateOutputs, ResponseNames -----------------------------------------------


@pytest.mark.parametrize("make", [lstmLayer, bilstmLayer, gruLayer, lambda h, **kw: lstmProjectedLayer(h, 2, 2, **kw)],
                         ids=["lstm", "bilstm", "gru", "projected"])
@pytest.mark.parametrize("option", ["HasStateInputs", "HasStateOutputs"])
def test_state_ports_false_is_accepted_true_is_refused_pointing_at_stateful(make, option):
    assert getattr(make(4, **{option: False}), option) is False
    assert getattr(make(4, **{option: 0}), option) is False
    with pytest.raises(LayerError, match=rf"{option}: true adds the layer's states as extra inputs/outputs.*stateful=True.*--stateful"):
        make(4, **{option: True})
    with pytest.raises(LayerError, match=rf"{option} must be a logical scalar"):
        make(4, **{option: "yes"})


def test_state_ports_from_matlab_text():
    layers = from_matlab("layers = [sequenceInputLayer(3) lstmLayer(4, 'HasStateInputs', false, HasStateOutputs=false) gruLayer(2, HasStateOutputs=0)];")
    assert layers[1] == lstmLayer(4) and layers[2] == gruLayer(2)
    with pytest.raises(Exception, match=r"HasStateOutputs: true adds .*stateful=True"):
        from_matlab("layers = [sequenceInputLayer(3) lstmLayer(4, HasStateOutputs=true)];")


def test_response_names_stored_shown_and_written():
    layer = regressionLayer("ResponseNames", ["speed", "angle"], "Name", "out")
    assert layer.ResponseNames == ("speed", "angle")
    assert "ResponseNames: {'speed'  'angle'}" in str(layer)
    assert regressionLayer().ResponseNames == () and "ResponseNames: {}" in str(regressionLayer())
    assert regressionLayer(ResponseNames="speed").ResponseNames == ("speed",)
    with pytest.raises(LayerError, match=r"regressionLayer: ResponseNames must be a cell array or string array of names"):
        regressionLayer(ResponseNames=[1, 2])
    layers = [sequenceInputLayer(2), lstmLayer(3, OutputMode="last"), fullyConnectedLayer(2), layer]
    text = to_matlab(layers)
    assert 'regressionLayer("Name", "out", "ResponseNames", ["speed" "angle"])' in text
    assert list(from_matlab(text)) == layers
    assert from_matlab("layers = [sequenceInputLayer(2) fullyConnectedLayer(1) regressionLayer('ResponseNames', {'y'})];")[2].ResponseNames == ("y",)
    assert Layer.from_dict(layer.to_dict()) == layer
    assert build(initialize(layers)).graph.output[0].name == "responses"


def test_classification_network_with_a_projected_layer():
    """A projected layer feeding softmax/classification builds and matches the reference."""
    rng = np.random.default_rng(8)
    net = initialize([sequenceInputLayer(4), lstmProjectedLayer(8, 3, 2), lstmProjectedLayer(6, 2, 3, OutputMode="last"),
                      fullyConnectedLayer(3), softmaxLayer(), classificationLayer()], seed=3)
    model = build(net)
    onnx.checker.check_model(model)
    batch = random_batch(rng, 4, 6, 4, ragged=False)
    (actual,) = run(model, {"sequences": batch.padded}).values()
    assert_matches_reference(actual, reference.predict(net, batch.padded))


def test_a_built_model_reads_back_as_the_lstm_it_computes(tmp_path, rng):
    """The ONNX file holds W·Q_iᵀ and R·Q_oᵀ, not the factors: load_onnx (and so verify, to-matlab, stateful copies)
    gives the lstmLayer with those products, which computes the same numbers."""
    from lstm2onnx.cli import main
    from lstm2onnx.importer import load_onnx

    layers = [sequenceInputLayer(3, Name="in"), random_projected(rng, 3, 5, 2, 2, Name="proj", OutputMode="last"), fullyConnectedLayer(2, Name="fc")]
    net = initialize(layers, seed=0)
    path = tmp_path / "proj.onnx"
    onnx.save(build(net), path)
    back = load_onnx(str(path))
    assert type(back[1]) is type(lstmLayer(5)) and back[1].Name == "proj" and back[1].OutputMode == "last"
    X = [rng.normal(size=(T, 3)) for T in (4, 7)]
    np.testing.assert_allclose(reference.predict(back, X), reference.predict(net, X), rtol=0, atol=1e-6)
    assert main(["verify", str(path)]) == 0
    assert main(["build", str(path), "--stateful", "-o", str(tmp_path / "stateful.onnx")]) == 0


def test_weights_from_a_mat_file_set_the_projectors(tmp_path, rng):
    """MATLAB's learnables export (lstm2onnx.matlab.weights' snippet) carries InputProjector/OutputProjector too."""
    import scipy.io

    from lstm2onnx.cli import main

    made = random_projected(rng, 3, 5, 2, 2, Name="proj")
    weights = {"proj": {k: np.asarray(getattr(made, k), np.float64) for k in
                        ("InputWeights", "RecurrentWeights", "Bias", "InputProjector", "OutputProjector")}}
    scipy.io.savemat(tmp_path / "learnables.mat", weights)
    (tmp_path / "net.m").write_text("layers = [sequenceInputLayer(3, Name='in'); lstmProjectedLayer(5, 2, 2, Name='proj')];\n")
    out = tmp_path / "net.onnx"
    assert main(["build", str(tmp_path / "net.m"), "--weights", str(tmp_path / "learnables.mat"), "-o", str(out)]) == 0
    expected = [sequenceInputLayer(3, Name="in"), dataclasses.replace(made, HiddenState=None, CellState=None)]
    batch = random_batch(rng, 4, 6, 3, ragged=False)
    (y,) = run(onnx.load(out), feeds_for(batch, False)).values()
    assert_matches_reference(y, reference.predict(expected, batch.sequences))
