"""The numpy reference itself: a case worked by hand, the activations, and its independence from the builder."""

from __future__ import annotations

import ast
import pathlib
from math import exp, tanh

import numpy as np
import pytest
from conftest import run

from lstm2onnx import build, initialize, lstmLayer, reference, sequenceInputLayer


def sig(x: float) -> float:
    return 1.0 / (1.0 + exp(-x))


# I = 1, H = 1: W, R, b stacked i, f, g, o as on MATLAB's page.
W = [0.5, -0.5, 1.0, 0.25]
R = [0.125, 0.25, -0.375, 0.5]  # exact in float32, like every number here
b = [0.0, 1.0, 0.0, 0.0]
X = [1.0, -2.0]


def tiny_layers(**options):
    return [
        sequenceInputLayer(1),
        lstmLayer(1, InputWeights=np.reshape(W, (4, 1)), RecurrentWeights=np.reshape(R, (4, 1)), Bias=b, **options),
    ]


def test_tiny_case_by_hand():
    # t = 1 (h0 = c0 = 0): i = σ(0.5), f = σ(-0.5 + 1), g = tanh(1), o = σ(0.25)
    i1, f1, g1, o1 = sig(0.5), sig(0.5), tanh(1.0), sig(0.25)
    c1 = f1 * 0.0 + i1 * g1
    h1 = o1 * tanh(c1)
    assert (c1, h1) == pytest.approx((0.474061388963, 0.248186867178), abs=1e-12)
    # t = 2, x = -2: every gate also sees R h1
    i2 = sig(0.5 * -2 + 0.125 * h1)
    f2 = sig(-0.5 * -2 + 0.25 * h1 + 1.0)
    g2 = tanh(1.0 * -2 - 0.375 * h1)
    o2 = sig(0.25 * -2 + 0.5 * h1)
    c2 = f2 * c1 + i2 * g2
    h2 = o2 * tanh(c2)
    assert (c2, h2) == pytest.approx((0.153723364142, 0.062094671730), abs=1e-12)

    x = np.array([[[X[0]], [X[1]]]])
    (seq,) = reference.predict(tiny_layers(), x)
    np.testing.assert_allclose(seq[:, 0], [h1, h2], rtol=0, atol=1e-15)
    _, states = reference.predict(tiny_layers(), x, return_states=True)
    np.testing.assert_allclose(states["lstm"][1][0], [c2], rtol=0, atol=1e-15)
    # onnxruntime agrees to float32 rounding
    (ort_seq,) = run(build(tiny_layers()), {"sequences": x.astype(np.float32)}).values()
    np.testing.assert_allclose(ort_seq[0, :, 0], [h1, h2], rtol=0, atol=1e-6)


def test_tiny_case_with_hard_sigmoid_and_softsign():
    def hs(x):
        return min(1.0, max(0.0, 0.2 * x + 0.5))

    def ss(x):
        return x / (1 + abs(x))

    h = c = 0.0
    expected = []
    for x in X:
        i, f = hs(W[0] * x + R[0] * h + b[0]), hs(W[1] * x + R[1] * h + b[1])
        g, o = ss(W[2] * x + R[2] * h + b[2]), hs(W[3] * x + R[3] * h + b[3])
        c = f * c + i * g
        h = o * ss(c)
        expected.append(h)
    layers = tiny_layers(GateActivationFunction="hard-sigmoid", StateActivationFunction="softsign")
    (seq,) = reference.predict(layers, np.array([[[X[0]], [X[1]]]]))
    np.testing.assert_allclose(seq[:, 0], expected, rtol=0, atol=1e-15)


def test_hard_sigmoid_matches_matlab_formula():
    x = np.array([-10, -2.5, -1.0, 0.0, 1.0, 2.5, 10])
    np.testing.assert_allclose(reference.hard_sigmoid(x), [0, 0, 0.3, 0.5, 0.7, 1, 1])
    np.testing.assert_allclose(reference.softsign(np.array([-3.0, 0.0, 1.0])), [-0.75, 0.0, 0.5])


def test_ragged_equals_each_sequence_alone():
    rng = np.random.default_rng(0)
    net = initialize([sequenceInputLayer(3), lstmLayer(4)], seed=0)
    seqs = [rng.normal(size=(L, 3)) for L in (1, 5, 3)]
    together = reference.predict(net, seqs)
    for s, t in zip(seqs, together):
        (alone,) = reference.predict(net, [s])
        np.testing.assert_allclose(alone, t, rtol=0, atol=1e-12)  # float64 BLAS rounding differs with batch size


@pytest.mark.parametrize("path", sorted(pathlib.Path(reference.__file__).parent.glob("*.py")), ids=lambda p: p.name)
def test_reference_never_imports_the_builder_or_gates(path):
    tree = ast.parse(path.read_text())
    imported = {(node.module or "") for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)} | {
        alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names
    }
    assert not any("builder" in m or "gates" in m or m.startswith("onnx") for m in imported), imported
