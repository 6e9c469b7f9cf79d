"""onnxruntime CPU vs the float64 numpy reference over a seeded matrix of networks.

Tolerance: max abs error <= 1e-5 (ATOL_FLOAT32) for float32 models.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from conftest import ATOL_FLOAT32, assert_matches_reference, onnxruntime_max_opset, random_batch, run

from lstm2onnx import (
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
from lstm2onnx.layers import NORMALIZATIONS

ACTIVATIONS = list(itertools.product(["sigmoid", "hard-sigmoid"], ["tanh", "softsign"]))
DIRECTIONS = ["uni", "bi", "mixed"]


def input_layer(rng: np.random.Generator, features: int, normalization: str):
    stats = {}
    if normalization in ("zerocenter", "zscore"):
        stats["Mean"] = rng.normal(0, 2, features)
    if normalization == "zscore":
        stats["StandardDeviation"] = rng.uniform(0.5, 2.0, features)
    if normalization.startswith("rescale"):
        lo = rng.uniform(-3, -1, features)
        stats["Min"], stats["Max"] = lo, lo + rng.uniform(1, 4, features)
    return sequenceInputLayer(features, Normalization=normalization, **stats)


def recurrent_stack(rng, direction: str, depth: int, gate: str, state: str, last_mode: str, initial_states: bool):
    layers = []
    for k in range(depth):
        bi = direction == "bi" or (direction == "mixed" and k % 2 == 0)
        hidden = int(rng.integers(1, 20))
        states = {}
        if initial_states:
            size = hidden * (2 if bi else 1)
            states = {"HiddenState": rng.uniform(-0.9, 0.9, size), "CellState": rng.normal(0, 1, size)}
        make = bilstmLayer if bi else lstmLayer
        mode = last_mode if k == depth - 1 else "sequence"
        layers.append(make(hidden, OutputMode=mode, GateActivationFunction=gate, StateActivationFunction=state, **states))
    return layers


def head(rng, kind: str):
    if kind == "classification":
        classes = int(rng.integers(2, 10))
        return [fullyConnectedLayer(classes), softmaxLayer(), classificationLayer()]
    if kind == "regression":
        return [dropoutLayer(0.3), fullyConnectedLayer(int(rng.integers(1, 4))), regressionLayer()]
    return []


CASES = list(itertools.product(DIRECTIONS, [1, 2, 3], ACTIVATIONS, ["last", "sequence"]))


@pytest.mark.parametrize("direction,depth,activations,mode", CASES, ids=lambda v: "-".join(v) if isinstance(v, tuple) else str(v))
def test_matrix_matches_reference(direction, depth, activations, mode):
    case = CASES.index((direction, depth, activations, mode))
    rng = np.random.default_rng(1000 + case)
    normalization = NORMALIZATIONS[case % len(NORMALIZATIONS)]
    ragged = case % 2 == 0
    features = int(rng.integers(1, 16))
    layers = [
        input_layer(rng, features, normalization),
        *recurrent_stack(rng, direction, depth, *activations, mode, initial_states=case % 3 != 0),
        *head(rng, ["classification", "regression", "none"][case % 3]),
    ]
    batch = random_batch(rng, int(rng.integers(1, 65)), int(rng.integers(1, 40)), features, ragged=ragged)
    net = initialize(layers, seed=case)
    feeds = {"sequences": batch.padded}
    if ragged:
        feeds["sequence_lengths"] = batch.lengths
    outputs = run(build(net, ragged=ragged), feeds)
    (actual,) = outputs.values()
    expected = reference.predict(net, batch.sequences if ragged else batch.padded)
    assert_matches_reference(actual, expected, batch.lengths if ragged else None)


@pytest.mark.parametrize("bi", [False, True], ids=["lstm", "bilstm"])
def test_long_sequences_large_batch(bi):
    """T up to 500, batch 64, ragged lengths from 1 to T, a 3-deep stack."""
    rng = np.random.default_rng(7)
    make = bilstmLayer if bi else lstmLayer
    layers = [
        sequenceInputLayer(8),
        make(32, HiddenState=rng.uniform(-0.5, 0.5, 32 * (1 + bi))),
        lstmLayer(24, StateActivationFunction="softsign"),
        make(16, OutputMode="last", GateActivationFunction="hard-sigmoid"),
        fullyConnectedLayer(5),
        softmaxLayer(),
    ]
    batch = random_batch(rng, 64, 500, 8, ragged=True)
    batch.lengths[0] = 1
    batch.sequences[0] = batch.sequences[0][:1]
    net = initialize(layers, seed=3)
    (actual,) = run(build(net, ragged=True), {"sequences": batch.padded, "sequence_lengths": batch.lengths}).values()
    assert_matches_reference(actual, reference.predict(net, batch.sequences))


@pytest.mark.parametrize("normalization", NORMALIZATIONS)
def test_every_normalization(normalization):
    rng = np.random.default_rng(NORMALIZATIONS.index(normalization))
    layers = [input_layer(rng, 6, normalization), lstmLayer(10), fullyConnectedLayer(2), regressionLayer()]
    batch = random_batch(rng, 9, 17, 6, ragged=False)
    batch.padded *= 5.0  # exercise the statistics well beyond unit scale
    net = initialize(layers, seed=1)
    (actual,) = run(build(net), {"sequences": batch.padded}).values()
    assert_matches_reference(actual, reference.predict(net, batch.padded))


@pytest.mark.parametrize("stat_shape", ["scalar", "column", "row"])
def test_statistics_as_scalar_column_or_row(stat_shape):
    rng = np.random.default_rng(5)
    mean, std = rng.normal(size=4), rng.uniform(1, 2, 4)
    shape = {"scalar": lambda v: float(v[0]), "column": lambda v: v.reshape(4, 1), "row": lambda v: v.reshape(1, 4)}[stat_shape]
    layers = [sequenceInputLayer(4, Normalization="zscore", Mean=shape(mean), StandardDeviation=shape(std)), lstmLayer(3)]
    net = initialize(layers, seed=0)
    batch = random_batch(rng, 3, 6, 4, ragged=False)
    (actual,) = run(build(net), {"sequences": batch.padded}).values()
    assert_matches_reference(actual, reference.predict(net, batch.padded))


@pytest.mark.parametrize("opset", sorted({o for o in (14, 17, 21) if o <= onnxruntime_max_opset()} | {onnxruntime_max_opset()}))
def test_opsets(opset):
    rng = np.random.default_rng(opset)
    layers = [sequenceInputLayer(3), bilstmLayer(4, OutputMode="last", GateActivationFunction="hard-sigmoid"), fullyConnectedLayer(2), softmaxLayer()]
    net = initialize(layers, seed=0)
    model = build(net, opset=opset, ragged=True)
    assert model.opset_import[0].version == opset
    batch = random_batch(rng, 5, 7, 3, ragged=True)
    (actual,) = run(model, {"sequences": batch.padded, "sequence_lengths": batch.lengths}).values()
    assert_matches_reference(actual, reference.predict(net, batch.sequences))


def test_tolerance_is_meaningful():
    """A one-ulp-scale perturbation of a weight is invisible, a real one is caught: the check can fail."""
    rng = np.random.default_rng(0)
    net = initialize([sequenceInputLayer(2), lstmLayer(3, OutputMode="last")], seed=0)
    batch = random_batch(rng, 2, 5, 2, ragged=False)
    (actual,) = run(build(net), {"sequences": batch.padded}).values()
    expected = reference.predict(net, batch.padded)
    with pytest.raises(AssertionError):
        assert_matches_reference(actual + 10 * ATOL_FLOAT32, expected)
