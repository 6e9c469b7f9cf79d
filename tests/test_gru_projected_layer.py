"""gruProjectedLayer (R2023b) through the compiler, the reference, torch and MATLAB text.

Tolerances: onnxruntime (float32) against the float64 reference 1e-5
(ATOL_FLOAT32); the factored reference against the gruLayer reference with the
products (stored float32) 1e-5; torch in float64 against the reference 1e-12;
a trained network's ONNX export against torch's float32 outputs 1e-5.
"""

from __future__ import annotations

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
    build,
    fullyConnectedLayer,
    gruLayer,
    gruProjectedLayer,
    initialize,
    reference,
    regressionLayer,
    sequenceInputLayer,
    softmaxLayer,
)
from lstm2onnx.layers import GRULayer, GRUProjectedLayer
from lstm2onnx.layers.gru import RESET_GATE_MODES
from lstm2onnx.matlab import from_matlab
from lstm2onnx.matlab.writer import to_matlab

THIRD = "recurrent-bias-after-multiplication"


def random_projected(rng: np.random.Generator, inputs: int, hidden: int, out_size: int, in_size: int, **options) -> GRUProjectedLayer:
    """Every learnable and the initial state at unit scale, so a transposed projector or a wrong gate shows; in the
    recurrent-bias mode the Bias is MATLAB's 6H x 1 ``[b; b_R]``."""
    rows = 3 * hidden
    bias_rows = 2 * rows if options.get("ResetGateMode") == THIRD else rows
    return gruProjectedLayer(
        hidden, out_size, in_size,
        InputWeights=rng.normal(0, 0.7, (rows, in_size)), RecurrentWeights=rng.normal(0, 0.7, (rows, out_size)),
        Bias=rng.normal(0, 1, bias_rows), InputProjector=rng.normal(0, 0.7, (inputs, in_size)),
        OutputProjector=rng.normal(0, 0.7, (hidden, out_size)), HiddenState=rng.uniform(-0.8, 0.8, hidden), **options,
    )


def feeds_for(batch, ragged: bool) -> dict[str, np.ndarray]:
    return {"sequences": batch.padded, **({"sequence_lengths": batch.lengths} if ragged else {})}


# -- numerics ------------------------------------------------------------------------------------

CASES = list(itertools.product(RESET_GATE_MODES, ["sequence", "last"], [False, True]))


@pytest.mark.parametrize("mode,output,ragged", CASES, ids=lambda v: str(v))
def test_built_graph_is_one_gru_node_and_matches_reference(mode, output, ragged):
    case = CASES.index((mode, output, ragged))
    rng = np.random.default_rng(400 + case)
    activations = {"GateActivationFunction": "hard-sigmoid", "StateActivationFunction": "softsign"} if case % 3 == 2 else {}
    net = initialize([sequenceInputLayer(5), random_projected(rng, 5, 6, 3, 2, ResetGateMode=mode, OutputMode=output, **activations),
                      fullyConnectedLayer(3)], seed=case)
    batch = random_batch(rng, 6, 11, 5, ragged=ragged)
    model = build(net, ragged=ragged)
    (node,) = [n for n in model.graph.node if n.op_type in ("GRU", "LSTM")]
    assert node.op_type == "GRU"
    linear_before_reset = {a.name: a.i for a in node.attribute}["linear_before_reset"]
    assert linear_before_reset == (0 if mode == "before-multiplication" else 1)
    (actual,) = run(model, feeds_for(batch, ragged)).values()
    assert_matches_reference(actual, reference.predict(net, batch.sequences if ragged else batch.padded))


def test_reference_is_the_factored_equation_for_one_step():
    """One step written out: x~ = Q_iᵀ x, every recurrent product R (Q_oᵀ v), gates r, z, h, each ResetGateMode."""
    sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    for mode in RESET_GATE_MODES:
        rng = np.random.default_rng(1)
        layer = random_projected(rng, 4, 3, 2, 2, OutputMode="last", ResetGateMode=mode)
        x = rng.normal(size=(1, 1, 4))
        f = {k: np.asarray(getattr(layer, k), np.float64)
             for k in ("InputWeights", "RecurrentWeights", "Bias", "InputProjector", "OutputProjector", "HiddenState")}
        b_R = np.asarray(layer.RecurrentBias, np.float64) if mode == THIRD else np.zeros(9)
        W, R, Q_o, h0 = np.split(f["InputWeights"], 3), np.split(f["RecurrentWeights"], 3), f["OutputProjector"], f["HiddenState"]
        b, bR = np.split(f["Bias"], 3), np.split(b_R, 3)
        xp = f["InputProjector"].T @ x[0, 0]
        r = sig(W[0] @ xp + b[0] + R[0] @ (Q_o.T @ h0) + bR[0])
        z = sig(W[1] @ xp + b[1] + R[1] @ (Q_o.T @ h0) + bR[1])
        if mode == "before-multiplication":
            cand = np.tanh(W[2] @ xp + b[2] + R[2] @ (Q_o.T @ (r * h0)))
        else:
            cand = np.tanh(W[2] @ xp + b[2] + r * (R[2] @ (Q_o.T @ h0) + bR[2]))
        h = (1 - z) * cand + z * h0
        np.testing.assert_allclose(reference.predict([sequenceInputLayer(4), layer], x)[0], h, rtol=0, atol=1e-13)


@pytest.mark.parametrize("mode", RESET_GATE_MODES)
def test_reference_equals_the_gru_layer_with_the_multiplied_out_weights(mode):
    """as_gru: the gruLayer with W Q_iᵀ (3H x I) and R Q_oᵀ (3H x H), the same biases and state, the same numbers;
    another projector changes them."""
    rng = np.random.default_rng(2)
    layer = random_projected(rng, 3, 4, 2, 2, ResetGateMode=mode)
    x = [rng.normal(size=(T, 3)) for T in (6, 2, 4)]
    base = reference.predict([sequenceInputLayer(3), layer], x)
    gru = layer.as_gru()
    assert type(gru) is GRULayer and gru.InputWeights.shape == (12, 3) and gru.RecurrentWeights.shape == (12, 4)
    assert (gru.RecurrentBias is not None) == (mode == THIRD) and gru.ResetGateMode == mode and gru.Name == layer.Name
    for got, want in zip(reference.predict([sequenceInputLayer(3), gru], x), base):
        np.testing.assert_allclose(got, want, rtol=0, atol=ATOL_FLOAT32)
    other = GRUProjectedLayer(**{**layer._non_default(), "OutputProjector": rng.normal(0, 0.7, (4, 2))})
    changed = reference.predict([sequenceInputLayer(3), other], x)
    assert max(np.abs(a - b).max() for a, b in zip(changed, base)) > 100 * ATOL_FLOAT32


def test_stateful_graph_states_and_chunks():
    """Stateful: <layer>.HiddenState inputs and outputs only; chunks with the state carried equal the whole sequence."""
    rng = np.random.default_rng(3)
    net = initialize([sequenceInputLayer(3), random_projected(rng, 3, 5, 2, 2, Name="p", ResetGateMode=THIRD),
                      gruProjectedLayer(4, 2, 3, Name="q", ResetGateMode="before-multiplication"), fullyConnectedLayer(2), regressionLayer()], seed=1)
    model = build(net, ragged=True, stateful=True)
    assert [i.name for i in model.graph.input] == ["sequences", "sequence_lengths", "p.HiddenState.in", "q.HiddenState.in"]
    batch = random_batch(rng, 4, 9, 3, ragged=True)
    initial = {name: (rng.uniform(-0.5, 0.5, (4, H)).astype(np.float32),) for name, H in (("p", 5), ("q", 4))}
    out = run(model, {**feeds_for(batch, True), **{f"{n}.HiddenState.in": v[0] for n, v in initial.items()}})
    expected, states = reference.predict(net, batch.sequences, initial_states=initial, return_states=True)
    assert_matches_reference(out["responses"], expected)
    for name, (h_T,) in states.items():
        assert_matches_reference(out[f"{name}.HiddenState.out"], h_T)

    x = rng.normal(size=(2, 10, 3)).astype(np.float32)
    state = {f"{n}.HiddenState.in": np.zeros((2, H), np.float32) for n, H in (("p", 5), ("q", 4))}
    whole = run(model, {"sequences": x, "sequence_lengths": np.full(2, 10, np.int32), **state})["responses"]
    pieces = []
    for start, stop in ((0, 4), (4, 5), (5, 10)):
        got = run(model, {"sequences": x[:, start:stop], "sequence_lengths": np.full(2, stop - start, np.int32), **state})
        pieces.append(got["responses"])
        state = {k: got[k.replace(".in", ".out")] for k in state}
    np.testing.assert_allclose(np.concatenate(pieces, axis=1), whole, rtol=0, atol=ATOL_FLOAT32)


# -- properties, sizes and errors ------------------------------------------------------------------


def test_constructor_defaults_initializers_and_sizes():
    layer = gruProjectedLayer(100, 30, 8, OutputMode="last")
    assert (layer.NumHiddenUnits, layer.OutputProjectorSize, layer.InputProjectorSize, layer.OutputMode) == (100, 30, 8, "last")
    assert layer.ResetGateMode == "after-multiplication" and layer.BiasInitializer == "zeros"
    assert layer.InputProjectorInitializer == layer.OutputProjectorInitializer == "orthogonal"
    assert (layer.HasStateInputs, layer.HasStateOutputs) == (False, False)
    net = initialize([sequenceInputLayer(12), layer, gruProjectedLayer(6, 2, 4, ResetGateMode=THIRD)], seed=0)
    p, q = net[1], net[2]
    assert p.InputWeights.shape == (300, 8) and p.RecurrentWeights.shape == (300, 30) and p.Bias.shape == (300,)
    assert p.InputProjector.shape == (12, 8) and p.OutputProjector.shape == (100, 30) and p.RecurrentBias is None
    np.testing.assert_allclose(p.InputProjector.T @ p.InputProjector, np.eye(8), atol=1e-5)  # orthogonal columns
    assert not p.Bias.any()
    assert q.InputProjector.shape == (100, 4) and q.Bias.shape == q.RecurrentBias.shape == (18,)
    assert re.search(r"'gruprojected_1'\s+Projected Layer\s+Projected GRU with 100 hidden units\n", str(net))


BAD = [
    (lambda: gruProjectedLayer(4, 0, 2), "gruProjectedLayer: OutputProjectorSize"),
    (lambda: gruProjectedLayer(4, 2, 1.5), "gruProjectedLayer: InputProjectorSize"),
    (lambda: gruProjectedLayer(4, 2, 3, InputWeights=np.zeros((16, 3))),
     "InputWeights must be a 12-by-3 (3*NumHiddenUnits-by-InputProjectorSize) matrix, got 16-by-3"),
    (lambda: gruProjectedLayer(4, 2, 3, RecurrentWeights=np.zeros((12, 4))),
     "RecurrentWeights must be a 12-by-2 (3*NumHiddenUnits-by-OutputProjectorSize) matrix, got 12-by-4"),
    (lambda: gruProjectedLayer(4, 2, 3, OutputProjector=np.zeros((2, 4))),
     "OutputProjector must be a 4-by-2 (NumHiddenUnits-by-OutputProjectorSize) matrix, got 2-by-4"),
    (lambda: gruProjectedLayer(4, 2, 3, InputSize=5, InputProjector=np.zeros((6, 3))),
     "InputProjector must be a 5-by-3 (InputSize-by-InputProjectorSize) matrix"),
    (lambda: gruProjectedLayer(4, 2, 3, Name="p", InputProjector=np.zeros((6, 2))), "gruProjectedLayer 'p': InputProjector must be a InputSize-by-3"),
    (lambda: gruProjectedLayer(4, 2, 3, Bias=np.zeros(24)), "Bias must be a 12-by-1 vector (3*NumHiddenUnits), got 24 elements"),
    (lambda: gruProjectedLayer(4, 2, 3, ResetGateMode=THIRD, Bias=np.zeros(18)), "Bias must be a 12-by-1 vector (3*NumHiddenUnits)"),
    (lambda: gruProjectedLayer(4, 2, 3, RecurrentBias=np.zeros(12)), "RecurrentBias is used only when ResetGateMode is"),
    (lambda: gruProjectedLayer(4, 2, 3, HiddenState=np.zeros(2)), "HiddenState must be a 4-by-1 vector (NumHiddenUnits)"),
    (lambda: gruProjectedLayer(4, 2, 3, ResetGateMode="reset-later"), "gruProjectedLayer: ResetGateMode"),
    (lambda: gruProjectedLayer(4, 2, 3, InputProjectorLearnRateFactor=[1, 2, 3]), "gruProjectedLayer: InputProjectorLearnRateFactor"),
    (lambda: gruProjectedLayer(4, 2), "missing"),
]


@pytest.mark.parametrize("make,message", BAD)
def test_bad_sizes_name_the_property_and_the_expected_shape(make, message):
    with pytest.raises((LayerError, TypeError), match=re.escape(message)):
        make()


def test_network_checks_input_size_against_the_input_projector():
    layer = gruProjectedLayer(4, 2, 3, InputProjector=np.zeros((6, 3)))
    with pytest.raises(NetworkError, match=r"InputProjector says 6 input features, but the previous layer outputs 5"):
        initialize([sequenceInputLayer(5), layer])
    initialize([sequenceInputLayer(6), layer])


# -- MATLAB text, specs, reading a built model back ------------------------------------------------


def test_matlab_script_builds_and_matches_reference():
    text = """
    numHiddenUnits = 64;
    layers = [
        sequenceInputLayer(12)
        gruProjectedLayer(numHiddenUnits, 8, 6, OutputMode="last", ResetGateMode="recurrent-bias-after-multiplication")
        fullyConnectedLayer(9)
        softmaxLayer];
    """
    layers = from_matlab(text)
    layer = layers[1]
    assert isinstance(layer, GRUProjectedLayer) and layer == gruProjectedLayer(64, 8, 6, OutputMode="last", ResetGateMode=THIRD)
    net = initialize(layers, seed=0)
    batch = random_batch(np.random.default_rng(4), 3, 7, 12, ragged=False)
    (probabilities,) = run(build(net), {"sequences": batch.padded}).values()
    assert_matches_reference(probabilities, reference.predict(net, batch.padded))
    quoted = from_matlab("layers = [sequenceInputLayer(3) gruProjectedLayer(6, 2, 2, 'Name', 'gp', 'ResetGateMode', 'before-multiplication')];")
    assert quoted[1].Name == "gp" and quoted[1].ResetGateMode == "before-multiplication"


def test_to_matlab_writes_the_6h_bias_and_round_trips():
    rng = np.random.default_rng(5)
    net = initialize([sequenceInputLayer(3), random_projected(rng, 3, 4, 2, 2, Name="gp", ResetGateMode=THIRD,
                                                             InputProjectorLearnRateFactor=0.5, InputWeightsL2Factor=[1, 2, 0.5]),
                      fullyConnectedLayer(2), regressionLayer()], seed=0)
    text = to_matlab(net, learnables=True)
    assert 'gruProjectedLayer(4, 2, 2, "Name", "gp"' in text and '"InputProjector", [' in text and '"RecurrentBias"' not in text
    bias = re.search(r'"Bias", \[([^\]]*)\]', text.split("gruProjectedLayer")[1]).group(1)
    assert bias.count(";") == 23  # MATLAB's 6H x 1 [Bias; RecurrentBias]
    assert list(from_matlab(text)) == list(net)
    assert list(from_matlab(to_matlab(net))) == [Layer.from_dict(layer.to_dict(learnables=False)) for layer in net]
    assert [Layer.from_dict(layer.to_dict()) for layer in net] == list(net)
    shown = net[1].display(all=True)
    for line in ("OutputProjectorSize: 2", "InputProjector: [3×2 single]", "OutputProjector: [4×2 single]", "InputProjectorLearnRateFactor: 0.5"):
        assert line in shown


def test_spec_entry_forms_take_matlabs_argument_order():
    from lstm2onnx.spec import parse_spec

    layers, _ = parse_spec("- sequenceInputLayer: 12\n- gruProjectedLayer: [100, 30, 8, OutputMode, last]\n"
                           "- {gruProjectedLayer: {NumHiddenUnits: 10, OutputProjectorSize: 3, InputProjectorSize: 2}}\n")
    assert layers[1] == gruProjectedLayer(100, 30, 8, OutputMode="last") and layers[2] == gruProjectedLayer(10, 3, 2)


def test_a_built_model_reads_back_as_the_gru_it_computes(tmp_path, rng):
    """The ONNX file holds W·Q_iᵀ and R·Q_oᵀ: load_onnx gives the gruLayer with those products (and the recurrent
    bias), which computes the same numbers; verify and a stateful rebuild work from the file."""
    from lstm2onnx.cli import main
    from lstm2onnx.importer import load_onnx

    layers = [sequenceInputLayer(3, Name="in"), random_projected(rng, 3, 5, 2, 2, Name="proj", OutputMode="last", ResetGateMode=THIRD),
              fullyConnectedLayer(2, Name="fc")]
    net = initialize(layers, seed=0)
    path = tmp_path / "proj.onnx"
    onnx.save(build(net), path)
    back = load_onnx(str(path))
    assert type(back[1]) is GRULayer and back[1].Name == "proj" and back[1].ResetGateMode == THIRD
    X = [rng.normal(size=(T, 3)) for T in (4, 7)]
    np.testing.assert_allclose(reference.predict(back, X), reference.predict(net, X), rtol=0, atol=1e-6)
    assert main(["verify", str(path)]) == 0
    assert main(["build", str(path), "--stateful", "-o", str(tmp_path / "stateful.onnx")]) == 0


# -- training ------------------------------------------------------------------------------------


def test_torch_stage_equals_reference_and_keeps_the_factors():
    torch = pytest.importorskip("torch")
    from lstm2onnx.training.torch_net import TorchNetwork

    rng = np.random.default_rng(6)
    for mode, gate in (("after-multiplication", "sigmoid"), ("before-multiplication", "hard-sigmoid"), (THIRD, "sigmoid")):
        net = initialize([sequenceInputLayer(3), random_projected(rng, 3, 5, 2, 2, ResetGateMode=mode, GateActivationFunction=gate),
                          gruProjectedLayer(4, 3, 2, OutputMode="last", ResetGateMode=mode), fullyConnectedLayer(2)], seed=2)
        module = TorchNetwork(net).double()
        batch = random_batch(rng, 5, 8, 3, ragged=True)
        with torch.no_grad():
            y = module(torch.tensor(batch.padded, dtype=torch.float64), torch.tensor(batch.lengths, dtype=torch.int64)).numpy()
        assert reference.max_abs_error(y, reference.predict(net, batch.sequences)) <= 1e-12
        assert list(module.to_layers()) == list(net)
        names = {(learnable.layer, learnable.name) for learnable in module.learnables()}
        wanted = ["InputWeights", "RecurrentWeights", "Bias", "InputProjector", "OutputProjector"] + (["RecurrentBias"] if mode == THIRD else [])
        assert {("gruprojected_1", k) for k in wanted} <= names


def test_train_a_few_steps_and_the_export_equals_torch():
    torch = pytest.importorskip("torch")
    from lstm2onnx import predictAndUpdateState, trainingOptions, trainNetwork
    from lstm2onnx.training.torch_net import TorchNetwork

    rng = np.random.default_rng(7)
    X = [rng.normal(0, 1, (int(rng.integers(3, 9)), 3)) for _ in range(16)]
    Y = np.array([[x[:, 0].sum() * 0.3, x[:, 1].mean()] for x in X])
    layers = [sequenceInputLayer(3), gruProjectedLayer(6, 2, 2, ResetGateMode=THIRD, BiasInitializer="narrow-normal"),
              gruProjectedLayer(5, 2, 3, OutputMode="last", ResetGateMode="before-multiplication"), fullyConnectedLayer(2), regressionLayer()]
    options = trainingOptions("adam", MaxEpochs=3, MiniBatchSize=8, InitialLearnRate=0.02, Verbose=False)
    net, _ = trainNetwork(X, Y, layers, options, seed=0)
    before, after = initialize(layers, seed=0), net.Layers
    for k in ("InputWeights", "RecurrentWeights", "Bias", "RecurrentBias", "InputProjector", "OutputProjector"):
        assert np.abs(getattr(after[1], k) - getattr(before[1], k)).max() > 1e-4, k
    assert isinstance(after[2], GRUProjectedLayer) and after[2].InputWeights.shape == (15, 3)
    lengths = np.array([len(x) for x in X], np.int32)
    padded = np.zeros((len(X), lengths.max(), 3), np.float32)
    for n, x in enumerate(X):
        padded[n, : len(x)] = x
    with torch.no_grad():
        expected = TorchNetwork(after).outputs(torch.tensor(padded), torch.tensor(lengths, dtype=torch.int64)).numpy()
    (actual,) = run(build(after, ragged=True), {"sequences": padded, "sequence_lengths": lengths}).values()
    np.testing.assert_allclose(actual, expected, rtol=0, atol=ATOL_FLOAT32)
    assert_matches_reference(actual, reference.predict(after, [x.astype(np.float32) for x in X]))
    # the torch front end carries a projected GRU's hidden state like a gruLayer's (predictAndUpdateState)
    x = rng.standard_normal((11, 3)).astype(np.float32)
    updated, _ = predictAndUpdateState(net, x[:6])
    _, Y = predictAndUpdateState(updated, x[6:])
    assert_matches_reference(np.asarray(Y).reshape(1, -1), reference.predict(after, [x]))


def test_classification_network_mixing_gru_and_projected_gru():
    rng = np.random.default_rng(8)
    net = initialize([sequenceInputLayer(4), gruLayer(5), gruProjectedLayer(6, 2, 3, OutputMode="last"),
                      fullyConnectedLayer(3), softmaxLayer()], seed=3)
    model = build(net)
    onnx.checker.check_model(model)
    assert [n.op_type for n in model.graph.node].count("GRU") == 2
    batch = random_batch(rng, 4, 6, 4, ragged=False)
    (actual,) = run(model, {"sequences": batch.padded}).values()
    assert_matches_reference(actual, reference.predict(net, batch.padded))
