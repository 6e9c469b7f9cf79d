"""Activation layers and flattenLayer through the whole project.

Constructors (MATLAB syntax, defaults, validation messages), display, the
float64 reference against MATLAB's formulas, ONNX at every supported opset
(checker full check + strict shape inference; onnxruntime against the
reference), the torch modules, MATLAB text and spec round trips.

Tolerances: onnxruntime float32 vs the float64 reference, max abs error
<= 1e-5 (ATOL_FLOAT32); torch run in float64 vs the reference, 1e-10;
hand-computed values, 1e-12.
"""

from __future__ import annotations

import math
import re

import numpy as np
import onnx
import pytest
import torch
from conftest import ATOL_FLOAT32, assert_matches_reference, onnxruntime_max_opset, random_batch, run

from lstm2onnx import (
    LayerError,
    LayerArray,
    build,
    clippedReluLayer,
    eluLayer,
    flattenLayer,
    fullyConnectedLayer,
    geluLayer,
    initialize,
    leakyReluLayer,
    lstmLayer,
    reference,
    reluLayer,
    sequenceInputLayer,
    sigmoidLayer,
    swishLayer,
    tanhLayer,
)
from lstm2onnx.builder import MIN_OPSET, max_opset
from lstm2onnx.matlab import from_matlab
from lstm2onnx.matlab.writer import to_matlab
from lstm2onnx.network import layer_table
from lstm2onnx.reference import activation as ref
from lstm2onnx.spec import dump_spec, parse_spec
from lstm2onnx.training.torch_net import TorchNetwork

OPSETS = list(range(MIN_OPSET, max_opset() + 1))
ORT_MAX = onnxruntime_max_opset()

# (id, layer factory, MATLAB's Description column, the ONNX operators it emits at opset 17 / at opset 20)
LAYERS = {
    "relu": (reluLayer, "ReLU", {"Relu"}, {"Relu"}),
    "leakyrelu": (lambda: leakyReluLayer(0.3), "Leaky ReLU with scale 0.3", {"LeakyRelu"}, {"LeakyRelu"}),
    "leakyrelu-default": (leakyReluLayer, "Leaky ReLU with scale 0.01", {"LeakyRelu"}, {"LeakyRelu"}),
    "clippedrelu": (lambda: clippedReluLayer(1.5), "Clipped ReLU with ceiling 1.5", {"Clip"}, {"Clip"}),
    "elu": (lambda: eluLayer(0.7), "ELU with Alpha 0.7", {"Elu"}, {"Elu"}),
    "elu-default": (eluLayer, "ELU with Alpha 1", {"Elu"}, {"Elu"}),
    "tanh": (tanhLayer, "Hyperbolic tangent", {"Tanh"}, {"Tanh"}),
    "sigmoid": (sigmoidLayer, "sigmoid", {"Sigmoid"}, {"Sigmoid"}),
    "swish": (swishLayer, "swish", {"Sigmoid", "Mul"}, {"Sigmoid", "Mul"}),
    "gelu": (geluLayer, "GELU", {"Erf", "Mul", "Add"}, {"Gelu"}),
    "gelu-tanh": (lambda: geluLayer(Approximation="tanh"), "GELU", {"Tanh", "Mul", "Add"}, {"Gelu"}),
}


def network(make, mode: str, rng: np.random.Generator) -> LayerArray:
    """input -> fc (wide weights: inputs on both sides of 0 and past a ceiling) -> activation -> fc, or with an LSTM 'last'."""
    front = [fullyConnectedLayer(5, Weights=rng.normal(0, 1.5, (5, 3)), Bias=rng.normal(0, 1, 5))]
    if mode == "last":
        front = [lstmLayer(5, OutputMode="last"), fullyConnectedLayer(5, Weights=rng.normal(0, 3, (5, 5)), Bias=rng.normal(0, 1, 5))]
    return initialize([sequenceInputLayer(3), *front, make(), fullyConnectedLayer(2)], seed=int(rng.integers(1000)))


def op_types(model: onnx.ModelProto) -> set[str]:
    return {node.op_type for node in model.graph.node}


def checked(model: onnx.ModelProto) -> onnx.ModelProto:
    onnx.checker.check_model(model, full_check=True)
    onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True, data_prop=True)
    return model


# -- constructors, validation, display -----------------------------------------------------------


def test_defaults_and_matlab_syntax():
    assert leakyReluLayer().Scale == 0.01 and eluLayer().Alpha == 1.0 and geluLayer().Approximation == "none"
    assert leakyReluLayer(0.2, "Name", "lr") == leakyReluLayer(Scale=0.2, Name="lr") == leakyReluLayer("name", "lr", "scale", 0.2)
    assert eluLayer(0.5, "Name", "e") == eluLayer(Alpha=0.5, Name="e") and eluLayer("Name", "e").Alpha == 1.0
    assert clippedReluLayer(6, "Name", "c") == clippedReluLayer(6, Name="c") and clippedReluLayer(6).Ceiling == 6.0
    assert geluLayer("Approximation", "TANH").Approximation == "tanh"
    assert reluLayer("Name", "r").Name == "r" and flattenLayer(Name="f").Name == "f"
    assert isinstance(leakyReluLayer(np.array([[0.5]])).Scale, float)


@pytest.mark.parametrize(
    "make,message",
    [
        (lambda: clippedReluLayer(0), r"clippedReluLayer: Ceiling must be a finite positive scalar, got 0"),
        (lambda: clippedReluLayer(-1, "Name", "c"), r"clippedReluLayer 'c': Ceiling must be a finite positive scalar, got -1"),
        (lambda: clippedReluLayer(math.inf), r"Ceiling must be a finite positive scalar, got inf"),
        (lambda: clippedReluLayer("high"), r"Ceiling must be a finite positive scalar, got 'high'"),
        (lambda: leakyReluLayer(math.nan), r"leakyReluLayer: Scale must be a finite real scalar, got nan"),
        (lambda: leakyReluLayer([0.1, 0.2]), r"Scale must be a finite real scalar, got \[0.1, 0.2\]"),
        (lambda: eluLayer(0), r"eluLayer: Alpha must be a finite positive scalar, got 0"),
        (lambda: geluLayer(Approximation="erf"), r"geluLayer: Approximation must be one of 'none', 'tanh', got 'erf'"),
        (lambda: reluLayer("Scale", 2), r"reluLayer: unknown option 'Scale'; supported options: Name"),
        (lambda: tanhLayer("Name"), r"tanhLayer: name-value arguments must come in pairs"),
        (lambda: leakyReluLayer(0.1, "Scale", 0.2), r"leakyReluLayer: option 'Scale' is given more than once"),
    ],
)
def test_validation_messages(make, message):
    with pytest.raises(LayerError, match=message):
        make()


def test_clipped_relu_needs_its_ceiling():
    with pytest.raises(TypeError):
        clippedReluLayer()  # type: ignore[call-arg]
    with pytest.raises(Exception, match="Ceiling must be given"):
        LayerArray.from_dict([{"type": "clippedReluLayer"}])


def test_layer_table_shows_matlab_types_and_descriptions():
    layers = initialize([sequenceInputLayer(3), *(make() for make, *_ in LAYERS.values()), flattenLayer()])
    rows = [re.split(r"\s{3,}", row.strip()) for row in layer_table(layers).splitlines()[3:]]
    for (_, _, kind, text), (key, (make, description, *_)) in zip(rows, LAYERS.items()):
        assert (kind, text) == (make().TYPE, description), key
    assert rows[-1] == ["13", "'flatten'", "Flatten", "Flatten"]
    names = [row[1].strip("'") for row in rows]
    assert names[:3] == ["relu", "leakyrelu_1", "leakyrelu_2"] and "clippedrelu" in names and "gelu_1" in names
    assert [make().TYPE for make, *_ in LAYERS.values()] == ["ReLU", "Leaky ReLU", "Leaky ReLU", "Clipped ReLU", "ELU", "ELU", "Tanh",
                                                             "Sigmoid", "Swish", "GELU", "GELU"]


def test_property_display():
    text = leakyReluLayer(0.2, Name="lr").display()
    assert "LeakyReLULayer with properties:" in text and "Name: 'lr'" in text
    assert "Hyperparameters" in text.split("Name: 'lr'")[1] and "Scale: 0.2" in text
    assert "Approximation: 'tanh'" in geluLayer(Approximation="tanh").display()
    assert "Ceiling: 6" in str(clippedReluLayer(6)) and "Alpha: 1" in str(eluLayer())


# -- the reference against MATLAB's formulas -------------------------------------------------------


def test_reference_formulas_at_hand_computed_points():
    x = np.array([-2.0, -0.5, 0.0, 0.5, 3.0])
    np.testing.assert_allclose(ref.relu(x), [0, 0, 0, 0.5, 3], atol=1e-12)
    np.testing.assert_allclose(ref.leaky_relu(x, 0.1), [-0.2, -0.05, 0, 0.5, 3], atol=1e-12)
    np.testing.assert_allclose(ref.clipped_relu(x, 1.0), [0, 0, 0, 0.5, 1], atol=1e-12)
    np.testing.assert_allclose(ref.elu(x, 2.0), [2 * (math.exp(-2) - 1), 2 * (math.exp(-0.5) - 1), 0, 0.5, 3], atol=1e-12)
    np.testing.assert_allclose(ref.swish(x), x / (1 + np.exp(-x)), atol=1e-12)
    # Φ(1) = 0.841344746068543, so GELU(1) = Φ(1) and GELU(-1) = -(1 - Φ(1))
    np.testing.assert_allclose(ref.gelu(np.array([1.0, -1.0])), [0.841344746068543, -0.158655253931457], atol=1e-12)
    tanh_form = 0.5 * (1 + math.tanh(math.sqrt(2 / math.pi) * 1.044715))
    np.testing.assert_allclose(ref.gelu(np.array([1.0]), "tanh"), [tanh_form], atol=1e-12)
    assert abs(tanh_form - 0.841344746068543) < 2e-4  # the approximation is close, but not the same function


def test_elu_has_no_overflow_warning_for_large_inputs():
    with np.errstate(all="raise"):
        np.testing.assert_allclose(ref.elu(np.array([-1000.0, 1000.0]), 1.0), [-1.0, 1000.0])


# -- ONNX ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", list(LAYERS))
@pytest.mark.parametrize("mode", ["sequence", "last"])
def test_onnxruntime_matches_reference_at_every_opset(key, mode, rng):
    make = LAYERS[key][0]
    net = network(make, mode, rng)
    batch = random_batch(rng, 6, 9, 3, ragged=True)
    expected = reference.predict(net, batch.sequences)
    for opset in OPSETS:
        model = checked(build(net, ragged=True, opset=opset))
        assert model.opset_import[0].version == opset
        if opset > ORT_MAX:
            continue
        out = run(model, {"sequences": batch.padded, "sequence_lengths": batch.lengths})["outputs"]
        assert_matches_reference(out, expected, batch.lengths, atol=ATOL_FLOAT32)


@pytest.mark.parametrize("key", list(LAYERS))
def test_operators_by_opset(key):
    make, _, below_20, from_20 = LAYERS[key]
    net = initialize([sequenceInputLayer(3), make()])
    for opset, expected in ((MIN_OPSET, below_20), (17, below_20), (19, below_20), (20, from_20), (max_opset(), from_20)):
        ops = op_types(build(net, opset=opset)) - {"Transpose"}
        assert ops == expected, (opset, ops)


def test_gelu_tanh_attribute_only_for_the_approximation():
    def gelu_node(layer):
        return next(n for n in build([sequenceInputLayer(2), layer], opset=20).graph.node if n.op_type == "Gelu")

    assert [a.name for a in gelu_node(geluLayer()).attribute] == []
    (attr,) = gelu_node(geluLayer(Approximation="tanh")).attribute
    assert (attr.name, attr.s) == ("approximate", b"tanh")


def test_leaky_relu_and_elu_carry_their_parameter():
    model = build([sequenceInputLayer(2), leakyReluLayer(0.25), eluLayer(0.5)])
    alphas = {n.op_type: onnx.helper.get_attribute_value(n.attribute[0]) for n in model.graph.node if n.op_type in ("LeakyRelu", "Elu")}
    assert alphas == {"LeakyRelu": 0.25, "Elu": 0.5}


def test_flatten_is_the_identity_and_adds_no_node(rng):
    plain = initialize([sequenceInputLayer(3), lstmLayer(4), fullyConnectedLayer(2)], seed=3)
    flat = LayerArray([plain[0], plain[1], flattenLayer(), plain[2]])
    assert len(build(flat).graph.node) == len(build(plain).graph.node)
    batch = random_batch(rng, 4, 6, 3, ragged=True)
    feeds = {"sequences": batch.padded, "sequence_lengths": batch.lengths}
    np.testing.assert_array_equal(run(build(flat, ragged=True), feeds)["outputs"], run(build(plain, ragged=True), feeds)["outputs"])
    for a, b in zip(reference.predict(flat, batch.sequences), reference.predict(plain, batch.sequences)):
        np.testing.assert_array_equal(a, b)
    last = initialize([sequenceInputLayer(3), lstmLayer(4, OutputMode="last"), flattenLayer(), fullyConnectedLayer(2)])
    assert run(build(last), {"sequences": batch.padded})["outputs"].shape == (4, 2)


def test_activations_stack_after_each_other(rng):
    layers = [sequenceInputLayer(3), fullyConnectedLayer(6, Weights=rng.normal(0, 2, (6, 3)))]
    layers += [make() for make, *_ in LAYERS.values()] + [flattenLayer(), fullyConnectedLayer(2)]
    net = initialize(layers, seed=1)
    batch = random_batch(rng, 5, 8, 3, ragged=False)
    for opset in (MIN_OPSET, 17, 20, min(ORT_MAX, max_opset())):
        out = run(build(net, opset=opset), {"sequences": batch.padded})["outputs"]
        assert_matches_reference(out, reference.predict(net, batch.sequences), atol=ATOL_FLOAT32)


# -- torch -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", list(LAYERS))
@pytest.mark.parametrize("mode", ["sequence", "last"])
def test_torch_forward_matches_reference(key, mode, rng):
    net = network(LAYERS[key][0], mode, rng)
    batch = random_batch(rng, 5, 7, 3, ragged=True)
    module = TorchNetwork(net).double().eval()
    with torch.no_grad():
        out = module(torch.from_numpy(batch.padded).double(), torch.from_numpy(batch.lengths).long()).numpy()
    assert_matches_reference(out, reference.predict(net, batch.sequences), batch.lengths, atol=1e-10)


def test_torch_network_has_no_learnables_for_activations():
    module = TorchNetwork(initialize([sequenceInputLayer(2), reluLayer(), geluLayer(), flattenLayer(), fullyConnectedLayer(2)]))
    assert [(entry.layer, entry.name) for entry in module.learnables()] == [("fc", "Weights"), ("fc", "Bias")]
    assert all(a == b for a, b in zip(module.to_layers(), module.specs))


# -- MATLAB text and specs -------------------------------------------------------------------------


def every_layer() -> list:
    return [sequenceInputLayer(3), leakyReluLayer(0.2, "Name", "lr"), clippedReluLayer(6), eluLayer(), eluLayer(0.3),
            geluLayer("Approximation", "tanh"), geluLayer(), reluLayer(), tanhLayer(), sigmoidLayer(), swishLayer(),
            flattenLayer(Name="flat")]


def test_to_matlab_and_back():
    layers = every_layer()
    text = to_matlab(layers)
    assert "leakyReluLayer(0.2, \"Name\", \"lr\")" in text and "clippedReluLayer(6)" in text and "eluLayer(0.3)" in text
    assert all(a == b for a, b in zip(from_matlab(text), layers)) and len(from_matlab(text)) == len(layers)


def test_matlab_script_with_activations_builds():
    text = """
    layers = [sequenceInputLayer(3)
              fullyConnectedLayer(8)
              leakyReluLayer(0.1, 'Name', 'lrelu')
              clippedReluLayer(10)
              geluLayer(Approximation="tanh")
              flattenLayer
              fullyConnectedLayer(2)];
    """
    layers = from_matlab(text)
    assert [layer.FUNCTION for layer in layers[2:6]] == ["leakyReluLayer", "clippedReluLayer", "geluLayer", "flattenLayer"]
    assert layers[2].Scale == 0.1 and layers[3].Ceiling == 10 and layers[4].Approximation == "tanh"
    checked(build(layers))


def test_spec_round_trip_and_entry_forms():
    layers = every_layer()
    back, _ = parse_spec(dump_spec(layers))
    assert len(back) == len(layers) and all(a == b for a, b in zip(back, layers))
    parsed, _ = parse_spec("""
    - sequenceInputLayer: 3
    - leakyReluLayer: 0.2
    - clippedReluLayer: [6, Name, clip]
    - eluLayer
    - geluLayer: {Approximation: tanh}
    - {type: swishLayer, Name: sw}
    """)
    assert parsed[1] == leakyReluLayer(0.2) and parsed[2] == clippedReluLayer(6, Name="clip") and parsed[3] == eluLayer()
    assert parsed[4] == geluLayer(Approximation="tanh") and parsed[5] == swishLayer(Name="sw")
