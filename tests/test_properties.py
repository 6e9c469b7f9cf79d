"""Property-based tests (hypothesis): random valid arrays build and match the reference; random invalid
input only ever raises lstm2onnx's own errors.

Numerical tolerance: max abs error <= 1e-5 against the float64 reference.
"""

from __future__ import annotations

import numpy as np
from conftest import assert_matches_reference, random_batch, run
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lstm2onnx import (
    BiLSTMLayer,
    Lstm2OnnxError,
    analyze,
    bilstmLayer,
    build,
    classificationLayer,
    dropoutLayer,
    fullyConnectedLayer,
    initialize,
    lstmLayer,
    reference,
    regressionLayer,
    sequenceInputLayer,
    softmaxLayer,
)
from lstm2onnx.layers import LAYER_TYPES, Layer, gruLayer
from lstm2onnx.layers.gru import RESET_GATE_MODES

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)

recurrent_options = st.fixed_dictionaries(
    {},
    optional={
        "GateActivationFunction": st.sampled_from(["sigmoid", "hard-sigmoid"]),
        "StateActivationFunction": st.sampled_from(["tanh", "softsign"]),
    },
)


@st.composite
def valid_networks(draw):
    features = draw(st.integers(1, 6))
    layers = [sequenceInputLayer(features)]
    depth = draw(st.integers(1, 3))
    for k in range(depth):
        make = draw(st.sampled_from([lstmLayer, bilstmLayer, gruLayer]))
        # a recurrent layer after OutputMode 'last' gets a one-step sequence
        mode = draw(st.sampled_from(["sequence", "last"] if k == depth - 1 else ["sequence", "sequence", "last"]))
        options = draw(recurrent_options)
        if make is gruLayer:
            options["ResetGateMode"] = draw(st.sampled_from(RESET_GATE_MODES))
        layers.append(make(draw(st.integers(1, 6)), OutputMode=mode, **options))
        if draw(st.booleans()):
            layers.append(dropoutLayer(draw(st.floats(0, 0.9))))
    tail = draw(st.sampled_from(["classification", "regression", "fc", "none"]))
    if tail == "classification":
        layers += [fullyConnectedLayer(draw(st.integers(2, 5))), softmaxLayer(), classificationLayer()]
    elif tail == "regression":
        layers += [fullyConnectedLayer(draw(st.integers(1, 3))), regressionLayer()]
    elif tail == "fc":
        layers += [fullyConnectedLayer(draw(st.integers(1, 4)))]
    return layers


@SETTINGS
@given(layers=valid_networks(), seed=st.integers(0, 2**16), ragged=st.booleans(), stateful=st.booleans(), data_seed=st.integers(0, 2**16))
def test_valid_arrays_build_and_match_the_reference(layers, seed, ragged, stateful, data_seed):
    net = initialize(layers, seed)
    stateful = stateful and not any(isinstance(layer, BiLSTMLayer) for layer in net)  # refused for a bilstm (tests/test_stateful_bilstm.py)
    model = build(net, ragged=ragged, stateful=stateful)
    rng = np.random.default_rng(data_seed)
    n = int(rng.integers(1, 6))
    batch = random_batch(rng, n, int(rng.integers(1, 9)), net[0].InputSize, ragged=ragged)
    feeds = {"sequences": batch.padded}
    if ragged:
        feeds["sequence_lengths"] = batch.lengths
    for value in model.graph.input:
        if value.name.endswith(".in"):
            feeds[value.name] = np.zeros((n, value.type.tensor_type.shape.dim[1].dim_value), np.float32)
    out = run(model, feeds)
    assert_matches_reference(out[model.graph.output[0].name], reference.predict(net, batch.sequences if ragged else batch.padded))


def mutations():
    """Ways to break a valid array; each must give a NetworkError/LayerError naming the problem."""
    return st.sampled_from(["drop_input", "double_input", "wrong_input_size", "gru_input_weights", "output_not_last",
                            "class_count", "duplicate_name", "not_a_layer", "missing_softmax", "fc_weights"])


@SETTINGS
@given(layers=valid_networks(), mutation=mutations(), position=st.integers(0, 100))
def test_invalid_arrays_raise_only_our_errors(layers, mutation, position):
    layers = list(layers)
    k = 1 + position % (len(layers) - 1) if len(layers) > 1 else 1
    if mutation == "drop_input":
        layers = layers[1:] or [softmaxLayer()]
    elif mutation == "double_input":
        layers.insert(k, sequenceInputLayer(3))
    elif mutation == "wrong_input_size":
        layers.insert(1, lstmLayer(2, InputSize=layers[0].InputSize + 1))
    elif mutation == "gru_input_weights":  # (a recurrent layer after OutputMode 'last' is valid: it gets a one-step sequence)
        layers.insert(1, gruLayer(2, InputWeights=np.zeros((6, layers[0].InputSize + 1))))
    elif mutation == "output_not_last":
        layers.insert(k, regressionLayer())
        layers.append(fullyConnectedLayer(1))
    elif mutation == "class_count":
        layers = layers[:1] + [lstmLayer(3), fullyConnectedLayer(4), softmaxLayer(), classificationLayer(Classes=["a", "b"])]
    elif mutation == "duplicate_name":
        layers = [sequenceInputLayer(2, Name="same"), lstmLayer(2, Name="same")]
    elif mutation == "not_a_layer":
        layers.insert(k, {"type": "lstmLayer"})
    elif mutation == "missing_softmax":
        layers = layers[:1] + [lstmLayer(3), fullyConnectedLayer(2), classificationLayer()]
    elif mutation == "fc_weights":
        layers = layers[:1] + [lstmLayer(3), fullyConnectedLayer(2, Weights=np.zeros((2, 4)))]
    try:
        analyze(layers)
    except Lstm2OnnxError as error:
        assert "layer" in str(error)
    else:
        raise AssertionError(f"{mutation} was accepted")


any_value = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 300), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12), st.sampled_from(["auto", "last", "sequence", "tanh", "softsign", "hard-sigmoid", "zscore", "none", "glorot"]),
    st.lists(st.floats(-3, 3), max_size=10), st.lists(st.text(max_size=3), max_size=4),
    st.builds(lambda r, c: np.zeros((r, c)), st.integers(0, 9), st.integers(0, 9)),
)


@SETTINGS
@given(kind=st.sampled_from(sorted(LAYER_TYPES)), options=st.dictionaries(st.sampled_from(
    ["Name", "InputSize", "NumHiddenUnits", "OutputMode", "OutputSize", "Probability", "Classes", "ClassWeights", "Normalization",
     "Mean", "StandardDeviation", "Min", "Max", "Bias", "HiddenState", "CellState", "InputWeights", "Weights", "BiasL2Factor",
     "GateActivationFunction", "StateActivationFunction", "BiasInitializer", "NoSuchOption"]), any_value, max_size=5))
def test_random_options_give_a_layer_or_our_error(kind, options):
    try:
        layer = Layer.from_dict({"type": kind, **options})
    except Lstm2OnnxError as error:
        assert kind in str(error) or "layer" in str(error)
    else:
        assert Layer.from_dict(layer.to_dict()) == layer
