"""The four graph variants (plain, ragged, stateful, ragged+stateful), the graph's interface and metadata.

Numerical tolerance: max abs error <= 1e-5 against the float64 reference.
"""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from conftest import assert_matches_reference, random_batch, run

from lstm2onnx import (
    Lstm2OnnxError,
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
from lstm2onnx.builder import META_CLASSES, META_IO, META_SPEC, META_VERSION

VARIANTS = [(False, False), (True, False), (False, True), (True, True)]
VARIANT_IDS = ["plain", "ragged", "stateful", "ragged+stateful"]


def stacked(mode="sequence"):
    return [
        sequenceInputLayer(5, Name="in"),
        lstmLayer(7, Name="enc", GateActivationFunction="hard-sigmoid"),
        lstmLayer(6, Name="dec", OutputMode=mode, StateActivationFunction="softsign"),
        fullyConnectedLayer(3, Name="head"),
        softmaxLayer(),
        classificationLayer(Classes=["a", "b", "c"]),
    ]


def io_names(model):
    return [i.name for i in model.graph.input], [o.name for o in model.graph.output]


@pytest.mark.parametrize("ragged,stateful", VARIANTS, ids=VARIANT_IDS)
def test_variant_interface(ragged, stateful):
    model = build(stacked(), ragged=ragged, stateful=stateful)
    inputs, outputs = io_names(model)
    expected_in = ["sequences"] + (["sequence_lengths"] if ragged else [])
    expected_out = ["probabilities"]
    if stateful:
        expected_in += ["enc.HiddenState.in", "enc.CellState.in", "dec.HiddenState.in", "dec.CellState.in"]
        expected_out += ["enc.HiddenState.out", "enc.CellState.out", "dec.HiddenState.out", "dec.CellState.out"]
    assert inputs == expected_in
    assert outputs == expected_out
    dims = {v.name: [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim] for v in [*model.graph.input, *model.graph.output]}
    assert dims["sequences"] == ["batch", "time", 5]
    assert dims["probabilities"] == ["batch", "time", 3]
    if ragged:
        assert model.graph.input[1].type.tensor_type.elem_type == onnx.TensorProto.INT32
        assert dims["sequence_lengths"] == ["batch"]
    if stateful:
        assert dims["enc.HiddenState.in"] == ["batch", 7] and dims["dec.CellState.out"] == ["batch", 6]
    assert [n.op_type for n in model.graph.node].count("LSTM") == 2


@pytest.mark.parametrize("ragged,stateful", VARIANTS, ids=VARIANT_IDS)
def test_variant_numerics_and_states(ragged, stateful):
    rng = np.random.default_rng(11)
    net = initialize(stacked(), seed=4)
    batch = random_batch(rng, 12, 15, 5, ragged=ragged)
    feeds = {"sequences": batch.padded}
    initial = {}
    if ragged:
        feeds["sequence_lengths"] = batch.lengths
    if stateful:
        for name, H in (("enc", 7), ("dec", 6)):
            h0, c0 = rng.uniform(-0.5, 0.5, (12, H)).astype(np.float32), rng.normal(0, 1, (12, H)).astype(np.float32)
            feeds[f"{name}.HiddenState.in"], feeds[f"{name}.CellState.in"] = h0, c0
            initial[name] = (h0, c0)
    out = run(build(net, ragged=ragged, stateful=stateful), feeds)
    expected, states = reference.predict(net, batch.sequences if ragged else batch.padded, initial_states=initial, return_states=True)
    assert_matches_reference(out["probabilities"], expected)
    if stateful:
        for name in ("enc", "dec"):
            assert_matches_reference(out[f"{name}.HiddenState.out"], states[name][0])
            assert_matches_reference(out[f"{name}.CellState.out"], states[name][1])


def test_stateful_chunks_equal_one_shot():
    """Feeding the state outputs back as inputs continues the sequence exactly (predictAndUpdateState)."""
    rng = np.random.default_rng(2)
    net = initialize(stacked(), seed=9)
    model = build(net, stateful=True)
    batch = random_batch(rng, 4, 24, 5, ragged=False)
    state = {f"{n}.{s}.in": np.zeros((4, H), np.float32) for n, H in (("enc", 7), ("dec", 6)) for s in ("HiddenState", "CellState")}
    pieces = []
    for start, stop in ((0, 1), (1, 4), (4, 11), (11, 24)):
        out = run(model, {"sequences": batch.padded[:, start:stop], **state})
        pieces.append(out["probabilities"])
        state = {name.replace(".out", ".in"): value for name, value in out.items() if name.endswith(".out")}
    assert_matches_reference(np.concatenate(pieces, axis=1), reference.predict(net, batch.padded))


def test_default_graph_uses_hidden_and_cell_state_properties():
    rng = np.random.default_rng(3)
    layers = [sequenceInputLayer(2), lstmLayer(3, HiddenState=[0.5, -0.2, 0.1], CellState=[[1.0], [0.0], [-1.0]])]
    net = initialize(layers, seed=0)
    batch = random_batch(rng, 6, 4, 2, ragged=False)
    (actual,) = run(build(net), {"sequences": batch.padded}).values()
    expected = reference.predict(net, batch.padded)
    assert_matches_reference(actual, expected)
    zero_state = reference.predict(initialize([sequenceInputLayer(2), lstmLayer(3, InputWeights=net[1].InputWeights, RecurrentWeights=net[1].RecurrentWeights, Bias=net[1].Bias)], 0), batch.padded)
    assert np.abs(expected[0] - zero_state[0]).max() > 1e-2  # the initial state really matters here


@pytest.mark.parametrize("ragged", [False, True], ids=["plain", "ragged"])
def test_bilstm_last_readings(ragged):
    """'matlab' (last step of the sequence output) and 'final-state' (Y_h) differ, and each matches the reference."""
    rng = np.random.default_rng(4)
    net = initialize([sequenceInputLayer(3), bilstmLayer(5, OutputMode="last")], seed=2)
    batch = random_batch(rng, 8, 9, 3, ragged=ragged)
    feeds = {"sequences": batch.padded, **({"sequence_lengths": batch.lengths} if ragged else {})}
    data = batch.sequences if ragged else batch.padded
    results = {}
    for reading in ("matlab", "final-state"):
        (results[reading],) = run(build(net, ragged=ragged, bilstm_last=reading), feeds).values()
        assert_matches_reference(results[reading], reference.predict(net, data, bilstm_last=reading))
    assert np.abs(results["matlab"][:, 5:] - results["final-state"][:, 5:]).max() > 1e-3
    np.testing.assert_array_equal(results["matlab"][:, :5], results["final-state"][:, :5])


def test_standard_lstm_operator_and_attributes():
    model = build([sequenceInputLayer(3), lstmLayer(4, Name="a"), lstmLayer(4, Name="b", GateActivationFunction="hard-sigmoid"),
                   bilstmLayer(2, Name="c", StateActivationFunction="softsign", OutputMode="last")])
    lstm = {n.name.split("/")[0]: n for n in model.graph.node if n.op_type == "LSTM"}
    attrs = {k: {a.name: onnx.helper.get_attribute_value(a) for a in n.attribute} for k, n in lstm.items()}
    assert attrs["a"] == {"hidden_size": 4}  # default activations: no activations/alpha/beta/clip attributes
    assert attrs["b"]["activations"] == [b"HardSigmoid", b"Tanh", b"Tanh"]
    assert attrs["b"]["activation_alpha"] == pytest.approx([0.2]) and attrs["b"]["activation_beta"] == pytest.approx([0.5])
    assert attrs["c"]["activations"] == [b"Sigmoid", b"Softsign", b"Softsign"] * 2
    assert attrs["c"]["direction"] == b"bidirectional"
    assert "activation_alpha" not in attrs["c"] and all("clip" not in a and "layout" not in a for a in attrs.values())


def test_weights_are_permuted_to_onnx_gate_order():
    """ONNX W holds MATLAB's blocks i, f, g, o as i, o, f, c; MATLAB's bias is Wb and Rb is zero."""
    H, I = 2, 3
    W = np.arange(4 * H * I, dtype=np.float32).reshape(4 * H, I)
    R = np.arange(4 * H * H, dtype=np.float32).reshape(4 * H, H) + 100
    b = np.arange(4 * H, dtype=np.float32) + 1000
    model = build([sequenceInputLayer(I), lstmLayer(H, InputWeights=W, RecurrentWeights=R, Bias=b, Name="l")])
    inits = {t.name: onnx.numpy_helper.to_array(t) for t in model.graph.initializer}
    i, f, g, o = (slice(k * H, (k + 1) * H) for k in range(4))
    np.testing.assert_array_equal(inits["l.W"][0], np.concatenate([W[i], W[o], W[f], W[g]]))
    np.testing.assert_array_equal(inits["l.R"][0], np.concatenate([R[i], R[o], R[f], R[g]]))
    np.testing.assert_array_equal(inits["l.B"][0], np.concatenate([b[i], b[o], b[f], b[g], np.zeros(4 * H)]))


def test_metadata_and_versions():
    model = build(stacked("last"), stateful=True, opset=17, name="speakers")
    assert model.ir_version == onnx.helper.find_min_ir_version_for([onnx.helper.make_opsetid("", 17)]) == 8
    assert model.graph.name == "speakers" and model.producer_name == "lstm2onnx"
    meta = {p.key: p.value for p in model.metadata_props}
    assert json.loads(meta[META_CLASSES]) == ["a", "b", "c"]
    spec = json.loads(meta[META_SPEC])
    assert [s["type"] for s in spec] == ["sequenceInputLayer", "lstmLayer", "lstmLayer", "fullyConnectedLayer", "softmaxLayer", "classificationLayer"]
    assert spec[5]["Name"] == "classoutput" and "InputWeights" not in spec[1]
    io = json.loads(meta[META_IO])
    assert io["output"] == "probabilities" and io["sequence_output"] is False and io["task"] == "classification"
    assert [s["layer"] for s in io["states"]] == ["enc", "dec"]
    assert io["states"][0]["hidden_in"] == "enc.HiddenState.in" and io["states"][0]["initial_hidden"] == [0.0] * 7
    assert meta[META_VERSION] == model.producer_version


def test_output_names_follow_the_task():
    def output(layers):
        return build(layers).graph.output[0].name

    assert output([sequenceInputLayer(2), lstmLayer(3), fullyConnectedLayer(1), regressionLayer()]) == "responses"
    assert output([sequenceInputLayer(2), lstmLayer(3)]) == "outputs"
    assert output([sequenceInputLayer(2), lstmLayer(3), fullyConnectedLayer(2), softmaxLayer()]) == "probabilities"


def test_same_seed_same_model_and_seed_changes_weights():
    layers = stacked()
    a, b, c = build(layers, seed=1), build(layers, seed=1), build(layers, seed=2)
    assert a.SerializeToString() == b.SerializeToString()
    assert a.SerializeToString() != c.SerializeToString()


def test_stateful_graph_with_a_bilstm_is_refused():
    """A bilstm cannot carry its backward direction from chunk to chunk (more in tests/test_stateful_bilstm.py)."""
    with pytest.raises(Lstm2OnnxError, match="bilstmLayer 'bilstm': a stateful graph carries each layer's state"):
        build([sequenceInputLayer(3), bilstmLayer(4), lstmLayer(5, Name="top", OutputMode="last")], stateful=True)
