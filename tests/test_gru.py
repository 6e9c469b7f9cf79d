"""gruLayer through the compiler: properties, the ONNX GRU node, the reference, stateful/ragged graphs, MATLAB text.

Numerical tolerance: max abs error <= 1e-5 (ATOL_FLOAT32) of onnxruntime
(float32) against the float64 reference.
"""

from __future__ import annotations

import itertools
import json
import re

import numpy as np
import onnx
import pytest
from conftest import ATOL_FLOAT32, assert_matches_reference, onnxruntime_max_opset, random_batch, run
from onnx import helper, numpy_helper

from lstm2onnx import (
    Layer,
    LayerError,
    bilstmLayer,
    build,
    classificationLayer,
    fullyConnectedLayer,
    initialize,
    lstmLayer,
    reference,
    regressionLayer,
    sequenceInputLayer,
    softmaxLayer,
)
from lstm2onnx.builder import META_IO, MIN_OPSET
from lstm2onnx.layers import GRULayer, gruLayer
from lstm2onnx.layers.gru import RESET_GATE_MODES
from lstm2onnx.network import layer_table

ACTIVATIONS = list(itertools.product(["sigmoid", "hard-sigmoid"], ["tanh", "softsign"]))
THIRD = "recurrent-bias-after-multiplication"


def random_gru(rng: np.random.Generator, inputs: int, hidden: int, **options) -> GRULayer:
    """A gruLayer with every learnable and the initial state drawn at unit scale, so a wrong gate or bias shows."""
    mode = options.get("ResetGateMode", "after-multiplication")
    learnables = {
        "InputWeights": rng.normal(0, 0.6, (3 * hidden, inputs)),
        "RecurrentWeights": rng.normal(0, 0.6, (3 * hidden, hidden)),
        "Bias": rng.normal(0, 1, 3 * hidden),
        "HiddenState": rng.uniform(-0.8, 0.8, hidden),
    }
    if mode == THIRD:
        learnables["RecurrentBias"] = rng.normal(0, 1, 3 * hidden)
    return gruLayer(hidden, **learnables, **options)


def feeds_for(batch, ragged: bool) -> dict[str, np.ndarray]:
    feeds = {"sequences": batch.padded}
    if ragged:
        feeds["sequence_lengths"] = batch.lengths
    return feeds


def gru_nodes(model: onnx.ModelProto) -> list[onnx.NodeProto]:
    return [n for n in model.graph.node if n.op_type == "GRU"]


# -- numerics against the reference --------------------------------------------------------------


CASES = list(itertools.product(RESET_GATE_MODES, ACTIVATIONS, ["sequence", "last"]))


@pytest.mark.parametrize("mode,activations,output", CASES, ids=lambda v: "-".join(v) if isinstance(v, tuple) else str(v))
def test_every_reset_gate_mode_and_activation_pair_matches_reference(mode, activations, output):
    case = CASES.index((mode, activations, output))
    rng = np.random.default_rng(200 + case)
    gate, state = activations
    ragged = case % 2 == 0
    layers = [sequenceInputLayer(4), random_gru(rng, 4, 6, ResetGateMode=mode, GateActivationFunction=gate,
                                                 StateActivationFunction=state, OutputMode=output), fullyConnectedLayer(3)]
    net = initialize(layers, seed=case)
    batch = random_batch(rng, 7, 12, 4, ragged=ragged)
    (actual,) = run(build(net, ragged=ragged), feeds_for(batch, ragged)).values()
    assert_matches_reference(actual, reference.predict(net, batch.sequences if ragged else batch.padded))


def test_reset_gate_modes_give_different_numbers():
    """The three modes are three functions on the same weights, so a swapped mapping cannot pass the tests above."""
    rng = np.random.default_rng(1)
    base = random_gru(rng, 3, 5, ResetGateMode=THIRD, OutputMode="last")
    batch = random_batch(rng, 4, 9, 3, ragged=False)
    results = []
    for mode in RESET_GATE_MODES:
        layer = GRULayer(**{**base._non_default(), "ResetGateMode": mode, "RecurrentBias": base.RecurrentBias if mode == THIRD else None})
        results.append(reference.predict([sequenceInputLayer(3), layer], batch.padded))
    for a, b in itertools.combinations(results, 2):
        assert np.abs(a - b).max() > 100 * ATOL_FLOAT32


def test_reset_gate_mode_takes_matlabs_spellings():
    """MATLAB's three values (any case); 'before-reset', lstm2onnx's earlier spelling, still reads as
    'before-multiplication' (files written with it load); anything else names the property and the three values."""
    assert [gruLayer(4, ResetGateMode=m).ResetGateMode for m in RESET_GATE_MODES] == list(RESET_GATE_MODES)
    assert RESET_GATE_MODES == ("after-multiplication", "before-multiplication", "recurrent-bias-after-multiplication")
    assert gruLayer(4, "ResetGateMode", "Before-Multiplication").ResetGateMode == "before-multiplication"
    assert gruLayer(4, ResetGateMode="before-reset").ResetGateMode == "before-multiplication"
    with pytest.raises(LayerError, match=r"ResetGateMode.*'after-multiplication', 'before-multiplication', 'recurrent-bias-after-multiplication'"):
        gruLayer(4, ResetGateMode="before")


def test_reference_follows_matlabs_equations_for_one_step():
    """One step by hand from MATLAB's formulas, r, z, h stacking, h0 nonzero, 'before-multiplication'."""
    rng = np.random.default_rng(2)
    layer = random_gru(rng, 2, 3, ResetGateMode="before-multiplication", OutputMode="last")
    x = rng.normal(size=(1, 1, 2))
    W, R, b, h0 = (np.asarray(getattr(layer, k), np.float64) for k in ("InputWeights", "RecurrentWeights", "Bias", "HiddenState"))
    sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    r = sig(W[0:3] @ x[0, 0] + R[0:3] @ h0 + b[0:3])
    z = sig(W[3:6] @ x[0, 0] + R[3:6] @ h0 + b[3:6])
    candidate = np.tanh(W[6:9] @ x[0, 0] + R[6:9] @ (r * h0) + b[6:9])
    expected = (1 - z) * candidate + z * h0
    np.testing.assert_allclose(reference.predict([sequenceInputLayer(2), layer], x)[0], expected, rtol=0, atol=1e-12)


def test_node_attributes_and_bias_per_mode():
    """One GRU node per layer; linear_before_reset per ResetGateMode; Rb zero or RecurrentBias; attributes only when meaningful."""
    rng = np.random.default_rng(3)
    layers = [sequenceInputLayer(2),
              random_gru(rng, 2, 4, Name="a"),
              random_gru(rng, 4, 4, Name="b", ResetGateMode="before-multiplication", StateActivationFunction="softsign"),
              random_gru(rng, 4, 4, Name="c", ResetGateMode=THIRD, GateActivationFunction="hard-sigmoid")]
    model = build(layers)
    nodes = {n.name.split("/")[0]: n for n in gru_nodes(model)}
    attrs = {k: {a.name: helper.get_attribute_value(a) for a in n.attribute} for k, n in nodes.items()}
    assert attrs["a"] == {"hidden_size": 4, "linear_before_reset": 1}
    assert attrs["b"] == {"hidden_size": 4, "linear_before_reset": 0, "activations": [b"Sigmoid", b"Softsign"]}
    assert attrs["c"]["linear_before_reset"] == 1 and attrs["c"]["activations"] == [b"HardSigmoid", b"Tanh"]
    np.testing.assert_allclose(attrs["c"]["activation_alpha"], [0.2]) and np.testing.assert_allclose(attrs["c"]["activation_beta"], [0.5])
    tensors = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    H = 4
    assert not tensors["a.B"][0, 3 * H:].any()  # Rb zero: MATLAB's single bias is Wb
    zrh = lambda v: np.concatenate([v[H:2 * H], v[:H], v[2 * H:]])  # noqa: E731  (MATLAB r, z, h -> ONNX z, r, h)
    np.testing.assert_array_equal(tensors["c.B"][0, :3 * H], zrh(layers[3].Bias))
    np.testing.assert_array_equal(tensors["c.B"][0, 3 * H:], zrh(layers[3].RecurrentBias))
    np.testing.assert_array_equal(tensors["a.W"][0], zrh(layers[1].InputWeights))


@pytest.mark.parametrize("opset", list(range(MIN_OPSET, onnxruntime_max_opset() + 1)))
def test_every_supported_opset(opset):
    """build checks each model (onnx.checker full check, strict shape inference); onnxruntime runs it."""
    rng = np.random.default_rng(opset)
    layers = [sequenceInputLayer(3), random_gru(rng, 3, 5, ResetGateMode=RESET_GATE_MODES[opset % 3]),
              gruLayer(4, OutputMode="last", GateActivationFunction="hard-sigmoid"), fullyConnectedLayer(2), softmaxLayer()]
    net = initialize(layers, seed=opset)
    model = build(net, opset=opset, ragged=True, stateful=opset % 2 == 0)
    assert model.opset_import[0].version == opset
    batch = random_batch(rng, 5, 8, 3, ragged=True)
    feeds = feeds_for(batch, True)
    if opset % 2 == 0:
        feeds |= {"gru_1.HiddenState.in": np.broadcast_to(net[1].HiddenState, (5, 5)).copy(), "gru_2.HiddenState.in": np.zeros((5, 4), np.float32)}
    actual = run(model, feeds)["probabilities"]
    assert_matches_reference(actual, reference.predict(net, batch.sequences))


def test_padding_never_changes_a_result():
    """A ragged batch gives each sequence's numbers as if run alone (no padded step reaches a result)."""
    rng = np.random.default_rng(4)
    net = initialize([sequenceInputLayer(3), random_gru(rng, 3, 6, ResetGateMode="before-multiplication"), fullyConnectedLayer(2)], seed=0)
    batch = random_batch(rng, 6, 10, 3, ragged=True, pad_value=7.0)
    model = build(net, ragged=True)
    together = run(model, feeds_for(batch, True))["outputs"]
    for n, x in enumerate(batch.sequences):
        alone = run(model, {"sequences": x[None], "sequence_lengths": np.array([len(x)], np.int32)})["outputs"]
        np.testing.assert_allclose(together[n, : len(x)], alone[0], rtol=0, atol=ATOL_FLOAT32)


# -- stateful graphs -----------------------------------------------------------------------------


def mixed_stack(rng, order: str, last: bool = False):
    """lstm then gru ("lg") or gru then lstm ("gl"), each with a nonzero initial state."""
    out = [sequenceInputLayer(3, Name="in")]
    inputs = 3
    for k, kind in enumerate(order):
        mode = "last" if last and k == len(order) - 1 else "sequence"
        if kind == "g":
            out.append(random_gru(rng, inputs, 5, Name=f"g{k}", OutputMode=mode, ResetGateMode=RESET_GATE_MODES[k % 3]))
            inputs = 5
        else:
            out.append(lstmLayer(4, Name=f"l{k}", OutputMode=mode, HiddenState=rng.uniform(-0.5, 0.5, 4), CellState=rng.normal(0, 1, 4)))
            inputs = 4
    return out + [fullyConnectedLayer(2, Name="head"), regressionLayer()]


@pytest.mark.parametrize("order", ["lg", "gl", "glg"])
def test_stateful_mixed_stacks_interface_states_and_numbers(order):
    rng = np.random.default_rng(len(order) + ord(order[0]))
    net = initialize(mixed_stack(rng, order), seed=1)
    model = build(net, ragged=True, stateful=True)
    inputs, outputs = [i.name for i in model.graph.input], [o.name for o in model.graph.output]
    want_in, want_out = ["sequences", "sequence_lengths"], ["responses"]
    for k, kind in enumerate(order):
        name = f"{kind}{k}"
        parts = ["HiddenState"] if kind == "g" else ["HiddenState", "CellState"]
        want_in += [f"{name}.{p}.in" for p in parts]
        want_out += [f"{name}.{p}.out" for p in parts]
    assert inputs == want_in and outputs == want_out
    batch = random_batch(rng, 5, 9, 3, ragged=True)
    feeds, initial = feeds_for(batch, True), {}
    for layer in net[1:-2]:
        parts = (rng.uniform(-0.5, 0.5, (5, layer.NumHiddenUnits)).astype(np.float32),)
        if not isinstance(layer, GRULayer):
            parts += (rng.normal(0, 1, (5, layer.NumHiddenUnits)).astype(np.float32),)
        for key, value in zip(("HiddenState", "CellState"), parts):
            feeds[f"{layer.Name}.{key}.in"] = value
        initial[layer.Name] = parts
    out = run(model, feeds)
    expected, states = reference.predict(net, batch.sequences, initial_states=initial, return_states=True)
    assert_matches_reference(out["responses"], expected)
    for name, parts in states.items():
        for key, value in zip(("HiddenState", "CellState"), parts):
            assert_matches_reference(out[f"{name}.{key}.out"], value)


def test_stateful_chunks_equal_the_whole_sequence():
    """Feeding a sequence in chunks with the state carried gives the whole-sequence outputs."""
    rng = np.random.default_rng(5)
    net = initialize([sequenceInputLayer(2), random_gru(rng, 2, 5, ResetGateMode=THIRD), gruLayer(3, ResetGateMode="before-multiplication")], seed=2)
    model = build(net, stateful=True)
    x = rng.normal(size=(3, 12, 2)).astype(np.float32)
    state = {"gru_1.HiddenState.in": np.broadcast_to(net[1].HiddenState, (3, 5)).astype(np.float32),
             "gru_2.HiddenState.in": np.zeros((3, 3), np.float32)}
    whole = run(model, {"sequences": x, **state})["outputs"]
    pieces = []
    for start, stop in ((0, 5), (5, 6), (6, 12)):
        out = run(model, {"sequences": x[:, start:stop], **state})
        pieces.append(out["outputs"])
        state = {k: out[k.replace(".in", ".out")] for k in state}
    np.testing.assert_allclose(np.concatenate(pieces, axis=1), whole, rtol=0, atol=ATOL_FLOAT32)
    assert_matches_reference(whole, reference.predict(net, x))


def test_metadata_lists_hidden_only_states():
    rng = np.random.default_rng(6)
    net = initialize(mixed_stack(rng, "gl"), seed=0)
    io = json.loads({p.key: p.value for p in build(net, stateful=True).metadata_props}[META_IO])
    gru_state, lstm_state = io["states"]
    assert gru_state["layer"] == "g0" and gru_state["hidden_in"] == "g0.HiddenState.in" and gru_state["hidden_out"] == "g0.HiddenState.out"
    assert gru_state["cell_in"] is None and gru_state["cell_out"] is None and gru_state["initial_cell"] is None
    np.testing.assert_allclose(gru_state["initial_hidden"], net[1].HiddenState, rtol=1e-7)
    assert lstm_state["cell_in"] == "l1.CellState.in" and len(lstm_state["initial_cell"]) == 4


# -- a recurrent layer after OutputMode 'last' (issue 9 item 6) ----------------------------------

ONE_STEP_STACKS = {
    "gru-last-gru-last-fc": lambda rng: [random_gru(rng, 3, 5, OutputMode="last"), random_gru(rng, 5, 4, OutputMode="last"), fullyConnectedLayer(2)],
    "lstm-last-lstm-seq": lambda rng: [lstmLayer(5, OutputMode="last"), lstmLayer(4, HiddenState=rng.uniform(-1, 1, 4), CellState=rng.uniform(-1, 1, 4))],
    "bilstm-last-gru-seq": lambda rng: [bilstmLayer(3, OutputMode="last"), random_gru(rng, 6, 4, ResetGateMode="before-multiplication")],
    "gru-last-bilstm-last": lambda rng: [random_gru(rng, 3, 5, OutputMode="last"), bilstmLayer(2, OutputMode="last", StateActivationFunction="softsign")],
}


@pytest.mark.parametrize("name", list(ONE_STEP_STACKS))
@pytest.mark.parametrize("ragged,stateful", [(False, False), (True, True)], ids=["plain", "ragged+stateful"])
def test_recurrent_layer_after_last_gets_a_one_step_sequence(name, ragged, stateful):
    """Shapes: after 'last' the next recurrent layer sees ``[N, C]`` as a one-step sequence and outputs ``[N, H]``."""
    rng = np.random.default_rng(len(name))
    body = ONE_STEP_STACKS[name](rng)
    net = initialize([sequenceInputLayer(3), *body], seed=4)
    batch = random_batch(rng, 6, 11, 3, ragged=ragged)
    model = build(net, ragged=ragged, stateful=stateful and "bilstm" not in name)  # a bilstm cannot be stateful
    feeds = feeds_for(batch, ragged)
    for state in json.loads({p.key: p.value for p in model.metadata_props}[META_IO])["states"]:  # each layer's own initial state
        for key in ("hidden", "cell"):
            if state[f"{key}_in"]:
                feeds[state[f"{key}_in"]] = np.tile(np.float32(state[f"initial_{key}"]), (6, 1))
    out = run(model, feeds)
    expected = reference.predict(net, batch.sequences if ragged else batch.padded)
    assert out["outputs"].shape == (6, net[-1].OutputSize if hasattr(net[-1], "OutputSize") else net[-1].state_size)
    assert_matches_reference(out["outputs"], expected)
    # the reference itself: layer 2 on the one-step sequence made of layer 1's outputs
    first = reference.predict(net[:2], batch.sequences if ragged else batch.padded)
    second = reference.predict([sequenceInputLayer(first.shape[1]), *net[2:]], first[:, None, :])
    np.testing.assert_allclose(np.asarray(second).reshape(expected.shape), expected, rtol=0, atol=1e-12)


# -- the layer spec ------------------------------------------------------------------------------


BAD = [
    (lambda: gruLayer(0), "gruLayer: NumHiddenUnits must be a positive integer, got 0"),
    (lambda: gruLayer(4, ResetGateMode="after"), "gruLayer: ResetGateMode must be one of 'after-multiplication', 'before-multiplication', "
                                                 "'recurrent-bias-after-multiplication', got 'after'"),
    (lambda: gruLayer(4, Name="g", StateActivationFunction="relu"), "gruLayer 'g': StateActivationFunction must be one of 'tanh', 'softsign', got 'relu'"),
    (lambda: gruLayer(4, GateActivationFunction="tanh"), "GateActivationFunction must be one of 'sigmoid', 'hard-sigmoid'"),
    (lambda: gruLayer(2, InputWeights=np.zeros((8, 3))), "gruLayer: InputWeights must be a 6-by-InputSize (3*NumHiddenUnits-by-InputSize) matrix, got 8-by-3"),
    (lambda: gruLayer(2, InputSize=3, InputWeights=np.zeros((6, 2))), "InputWeights must be a 6-by-3 (3*NumHiddenUnits-by-InputSize) matrix, got 6-by-2"),
    (lambda: gruLayer(2, RecurrentWeights=np.zeros((6, 3))), "RecurrentWeights must be a 6-by-2 (3*NumHiddenUnits-by-NumHiddenUnits) matrix, got 6-by-3"),
    (lambda: gruLayer(2, Bias=np.zeros(8)), "gruLayer: Bias must be a 6-by-1 vector (3*NumHiddenUnits), got 8 elements"),
    (lambda: gruLayer(2, Bias=np.zeros(12)), "gruLayer: Bias must be a 6-by-1 vector (3*NumHiddenUnits), got 12 elements"),
    (lambda: gruLayer(2, RecurrentBias=np.zeros(6)), "gruLayer: RecurrentBias is used only when ResetGateMode is "
                                                     "'recurrent-bias-after-multiplication', got ResetGateMode 'after-multiplication'"),
    (lambda: gruLayer(2, ResetGateMode=THIRD, RecurrentBias=np.zeros(4)), "RecurrentBias must be a 6-by-1 vector (3*NumHiddenUnits), got 4 elements"),
    (lambda: gruLayer(2, HiddenState=np.zeros(3)), "gruLayer: HiddenState must be a 2-by-1 vector (NumHiddenUnits), got 3 elements"),
    (lambda: gruLayer(2, CellState=np.zeros(2)), "gruLayer: unknown option 'CellState'"),
    (lambda: gruLayer(2, BiasLearnRateFactor=[1, 2, 3, 4]), "gruLayer: BiasLearnRateFactor must be a nonnegative scalar or a 1-by-3 vector "
                                                          "of nonnegative numbers (gates r, z, h), got [1, 2, 3, 4]"),
    (lambda: gruLayer(2, InputWeightsL2Factor=-1), "InputWeightsL2Factor must be a nonnegative scalar or a 1-by-3 vector"),
    (lambda: gruLayer(2, BiasInitializer="unit-forget-gate"), "BiasInitializer must be one of 'zeros', 'narrow-normal', 'ones' or a callable"),
]


@pytest.mark.parametrize("make,message", BAD, ids=[m for _, m in BAD])
def test_property_validation_names_layer_property_and_expectation(make, message):
    with pytest.raises(LayerError, match=_escaped(message)):
        make()


def _escaped(message: str) -> str:
    return re.escape(message)


def test_network_checks_input_size_against_the_weights():
    from lstm2onnx import NetworkError

    with pytest.raises(NetworkError, match=r"layer 2 'gru' \(gruLayer\): InputWeights says 4 input features, but the previous layer outputs 3"):
        initialize([sequenceInputLayer(3), gruLayer(2, InputWeights=np.zeros((6, 4)))])


def test_constructor_forms_defaults_and_per_gate_factors():
    import lstm2onnx

    assert lstm2onnx.gruLayer is gruLayer and lstm2onnx.GRULayer is GRULayer and "gruLayer" in lstm2onnx.__all__
    a = gruLayer(8, "OutputMode", "last", "resetgatemode", "Before-Reset", Name="g")
    b = gruLayer(8, OutputMode="last", ResetGateMode="before-multiplication", Name="g")
    assert a == b and a.ResetGateMode == "before-multiplication"
    d = gruLayer(8)
    assert (d.InputSize, d.OutputMode, d.ResetGateMode, d.StateActivationFunction, d.GateActivationFunction) == (
        "auto", "sequence", "after-multiplication", "tanh", "sigmoid")
    assert (d.InputWeightsInitializer, d.RecurrentWeightsInitializer, d.BiasInitializer) == ("glorot", "orthogonal", "zeros")
    assert (d.BiasL2Factor, d.InputWeightsL2Factor, d.BiasLearnRateFactor) == (0.0, 1.0, 1.0)
    assert gruLayer(2, InputWeightsLearnRateFactor=[[1], [0.5], [2]]).InputWeightsLearnRateFactor == (1.0, 0.5, 2.0)


def test_matlab_six_h_bias_splits_into_bias_and_recurrent_bias():
    both = np.arange(12, dtype=float)
    layer = gruLayer(2, ResetGateMode=THIRD, Bias=both)
    np.testing.assert_array_equal(layer.Bias, both[:6])
    np.testing.assert_array_equal(layer.RecurrentBias, both[6:])


def test_initializers_follow_matlab():
    I, H = 7, 5
    net = initialize([sequenceInputLayer(I), gruLayer(H), gruLayer(H, ResetGateMode=THIRD, BiasInitializer="ones")], seed=3)
    plain, third = net[1], net[2]
    bound = np.sqrt(6 / (I + 3 * H))  # glorot over the stacked 3H x I matrix
    assert plain.InputWeights.shape == (3 * H, I) and np.abs(plain.InputWeights).max() <= bound
    assert np.abs(plain.InputWeights).max() > 0.8 * bound
    R = plain.RecurrentWeights.astype(np.float64)
    np.testing.assert_allclose(R.T @ R, np.eye(H), atol=1e-6)  # orthogonal columns of the 3H x H matrix
    assert not plain.Bias.any() and plain.RecurrentBias is None
    assert (third.Bias == 1).all() and (third.RecurrentBias == 1).all()
    again = initialize([sequenceInputLayer(I), gruLayer(H), gruLayer(H, ResetGateMode=THIRD, BiasInitializer="ones")], seed=3)
    np.testing.assert_array_equal(again[1].InputWeights, plain.InputWeights)


def test_display_and_layer_table():
    layer = gruLayer(6, Name="g", ResetGateMode=THIRD)
    text = str(layer)
    assert text.startswith("  GRULayer with properties:")
    for line in ("Name: 'g'", "NumHiddenUnits: 6", "ResetGateMode: 'recurrent-bias-after-multiplication'",
                 "RecurrentBias: []", "HiddenState: []", "Show all properties"):
        assert line in text
    assert "CellState" not in text and "BiasInitializer" not in text
    assert "BiasInitializer: 'zeros'" in layer.display(all=True)
    table = layer_table([sequenceInputLayer(3), layer])
    assert "'g'   GRU              GRU with 6 hidden units" in table
    assert repr(layer) == "gruLayer(Name='g', NumHiddenUnits=6, ResetGateMode='recurrent-bias-after-multiplication')"


# -- spec, MATLAB text, .mat weights, verify, inspect --------------------------------------------


def test_spec_round_trip_json_and_yaml():
    from lstm2onnx.spec import dump_spec, parse_spec

    rng = np.random.default_rng(7)
    net = initialize([sequenceInputLayer(3), random_gru(rng, 3, 4, ResetGateMode=THIRD, BiasLearnRateFactor=[1, 0, 2])], seed=0)
    layers, _ = parse_spec(dump_spec(net, learnables=True))
    assert list(layers) == list(net)
    yaml_layers, _ = parse_spec("- sequenceInputLayer: 3\n- gruLayer: [4, OutputMode, last, ResetGateMode, before-multiplication]\n- {gruLayer: {NumHiddenUnits: 2}}\n")
    assert yaml_layers[1] == gruLayer(4, OutputMode="last", ResetGateMode="before-multiplication") and yaml_layers[2] == gruLayer(2)


def test_to_matlab_and_back():
    from lstm2onnx.matlab import from_matlab
    from lstm2onnx.matlab.writer import to_matlab

    rng = np.random.default_rng(8)
    net = initialize([sequenceInputLayer(3), random_gru(rng, 3, 4, ResetGateMode=THIRD, Name="g", InputWeightsL2Factor=[1, 2, 0.5]),
                      gruLayer(2, OutputMode="last", StateActivationFunction="softsign"), fullyConnectedLayer(2), softmaxLayer(),
                      classificationLayer()], seed=0)
    text = to_matlab(net, learnables=True)
    assert 'gruLayer(4, "Name", "g"' in text and '"RecurrentBias"' not in text  # MATLAB's form: one 6H x 1 Bias [Bias; RecurrentBias]
    bias = text.split('"Bias", [')[1].split("]")[0]
    assert len(bias.split(";")) == 24
    assert list(from_matlab(text)) == list(net)
    plain = to_matlab(net)
    assert '"InputWeights",' not in plain and '"Bias",' not in plain
    assert list(from_matlab(plain)) == [Layer.from_dict(layer.to_dict(learnables=False)) for layer in net]


def test_mat_weights_file(tmp_path):
    scipy_io = pytest.importorskip("scipy.io")
    from lstm2onnx.matlab.weights import apply_weights, load_weights

    rng = np.random.default_rng(9)
    H = 3
    fields = {"InputWeights": rng.normal(size=(3 * H, 2)), "RecurrentWeights": rng.normal(size=(3 * H, H)),
              "Bias": rng.normal(size=(6 * H, 1)), "HiddenState": rng.normal(size=(H, 1))}  # MATLAB's 6H x 1 Bias in the third mode
    path = tmp_path / "w.mat"
    scipy_io.savemat(path, {"g": fields})
    layers = apply_weights([sequenceInputLayer(2), gruLayer(H, Name="g", ResetGateMode=THIRD)], load_weights(path))
    np.testing.assert_allclose(layers[1].Bias, fields["Bias"][: 3 * H, 0], rtol=1e-7)
    np.testing.assert_allclose(layers[1].RecurrentBias, fields["Bias"][3 * H:, 0], rtol=1e-7)
    np.testing.assert_allclose(layers[1].InputWeights, fields["InputWeights"], rtol=1e-7)
    scipy_io.savemat(path, {"g": {"RecurrentBias": rng.normal(size=(3 * H, 1))}})
    layers = apply_weights([sequenceInputLayer(2), gruLayer(H, Name="g", ResetGateMode=THIRD)], load_weights(path))
    assert layers[1].RecurrentBias.shape == (3 * H,)


@pytest.mark.parametrize("ragged,stateful", [(False, False), (True, True)])
def test_verify_and_import_read_gru_models_back(tmp_path, ragged, stateful):
    from lstm2onnx.importer import load_onnx
    from lstm2onnx.verify import verify_model

    rng = np.random.default_rng(10)
    net = initialize(mixed_stack(rng, "glg", last=True), seed=5)
    path = tmp_path / "m.onnx"
    onnx.save(build(net, ragged=ragged, stateful=stateful), path)
    assert list(load_onnx(path)) == list(initialize(net))
    report = verify_model(path)
    assert set(report) == {"responses"} | ({"g0.HiddenState.out", "l1.HiddenState.out", "l1.CellState.out", "g2.HiddenState.out"} if stateful else set())
    assert max(report.values()) <= ATOL_FLOAT32


def test_inspect_says_where_gru_nodes_run():
    from lstm2onnx.cli import describe_model

    rng = np.random.default_rng(11)
    layers = [sequenceInputLayer(2), random_gru(rng, 2, 3, Name="fast"), random_gru(rng, 3, 3, Name="slow", ResetGateMode="before-multiplication"),
              random_gru(rng, 3, 3, Name="soft", ResetGateMode=THIRD, StateActivationFunction="softsign")]
    text = describe_model(build(layers), "m.onnx")
    assert "GRU with 3 hidden units" in text
    assert "GRU nodes (onnxruntime CUDA provider):" in text
    assert "fast/GRU_node: hidden 3, linear_before_reset=1, Sigmoid/Tanh -> runs on CUDA" in text
    assert "slow/GRU_node: hidden 3, linear_before_reset=0, Sigmoid/Tanh -> falls back to CPU (linear_before_reset=0)" in text
    assert "soft/GRU_node: hidden 3, linear_before_reset=1, Sigmoid/Softsign -> falls back to CPU (carries activations)" in text
