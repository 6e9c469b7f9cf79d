"""instanceNormalizationLayer and groupNormalizationLayer through the whole project.

Constructors and validation, the float64 reference against a hand-written
numpy formula, ONNX (checker + strict shape inference; onnxruntime against the
reference on ragged batches; padding that never changes a result), the torch
module (forward and training), MATLAB text, load_onnx, and the refusals
(stateful graphs, an instance norm after OutputMode 'last').

Tolerances: onnxruntime float32 vs the float64 reference, max abs error
<= 1e-5 (ATOL_FLOAT32); torch in float64 vs the reference, 1e-10; float64
formulas by hand, 1e-12.
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
from conftest import ATOL_FLOAT32, assert_matches_reference, onnxruntime_max_opset, random_batch, run

from lstm2onnx import (
    LayerError,
    Lstm2OnnxError,
    NetworkError,
    build,
    fullyConnectedLayer,
    groupNormalizationLayer,
    initialize,
    instanceNormalizationLayer,
    lstmLayer,
    reference,
    regressionLayer,
    sequenceInputLayer,
    trainingOptions,
    trainNetwork,
)
from lstm2onnx.builder import MIN_OPSET, max_opset
from lstm2onnx.matlab import from_matlab
from lstm2onnx.matlab.writer import to_matlab
from lstm2onnx.reference import group_normalization as ref
from lstm2onnx.training.torch_net import TorchNetwork

ORT_OPSETS = sorted({MIN_OPSET, 17, min(onnxruntime_max_opset(), max_opset())})
C = 6


def learnables(rng: np.random.Generator) -> dict:
    return {"Offset": rng.normal(0, 1, C), "Scale": rng.normal(1, 0.5, C)}


def norms(rng: np.random.Generator) -> dict:
    """Every way of grouping C = 6 channels, with learnables away from 0 and 1."""
    return {"instance": instanceNormalizationLayer(**learnables(rng)),
            "groups-2": groupNormalizationLayer(2, Epsilon=0.01, **learnables(rng)),
            "groups-3": groupNormalizationLayer(3, **learnables(rng)),
            "all-channels": groupNormalizationLayer("all-channels", **learnables(rng)),
            "channel-wise": groupNormalizationLayer("channel-wise", Epsilon=0.3, **learnables(rng))}


KINDS = ["instance", "groups-2", "groups-3", "all-channels", "channel-wise"]


def network(norm, rng: np.random.Generator, last: bool = False):
    """input -> fc with offsets (statistics far from 0 and 1) -> norm -> fc; 'last': an lstm 'last' before the norm."""
    front = [fullyConnectedLayer(C, Weights=rng.normal(0, 2, (C, 3)), Bias=rng.normal(3, 1, C))]
    if last:
        front = [lstmLayer(8, OutputMode="last"), fullyConnectedLayer(C, Weights=rng.normal(0, 2, (C, 8)), Bias=rng.normal(3, 1, C))]
    return initialize([sequenceInputLayer(3), *front, norm, fullyConnectedLayer(2)], seed=int(rng.integers(1000)))


def checked(model: onnx.ModelProto) -> onnx.ModelProto:
    onnx.checker.check_model(model, full_check=True)
    onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True, data_prop=True)
    return model


# -- constructors, validation ---------------------------------------------------------------------------


def test_defaults_follow_matlab():
    layer = instanceNormalizationLayer()
    assert (layer.NumChannels, layer.Epsilon, layer.Name) == ("auto", 1e-5, "")
    assert layer.Offset is layer.Scale is None and (layer.OffsetInitializer, layer.ScaleInitializer) == ("zeros", "ones")
    assert layer.OffsetLearnRateFactor == layer.ScaleL2Factor == 1.0
    assert not hasattr(layer, "TrainedMean")  # no running statistics
    group = groupNormalizationLayer(4, "Epsilon", 1e-3, "Name", "gn")
    assert (group.NumGroups, group.Epsilon, group.Name, group.NumChannels) == (4, 1e-3, "gn", "auto")
    assert groupNormalizationLayer("All-Channels").NumGroups == "all-channels"
    assert groupNormalizationLayer("CHANNEL-WISE").NumGroups == "channel-wise"
    net = initialize([sequenceInputLayer(3), instanceNormalizationLayer(), groupNormalizationLayer(3)])
    for layer in net[1:]:
        assert layer.NumChannels == 3
        np.testing.assert_array_equal(layer.Offset, np.zeros(3))
        np.testing.assert_array_equal(layer.Scale, np.ones(3))


@pytest.mark.parametrize(
    "make,error,message",
    [
        (lambda: groupNormalizationLayer(0), LayerError, r"groupNormalizationLayer: NumGroups must be a positive integer, 'all-channels' or 'channel-wise', got 0"),
        (lambda: groupNormalizationLayer("layer-wise"), LayerError, r"NumGroups must be a positive integer, 'all-channels' or 'channel-wise', got 'layer-wise'"),
        (lambda: groupNormalizationLayer(2.5), LayerError, r"NumGroups must be a positive integer, 'all-channels' or 'channel-wise', got 2.5"),
        (lambda: groupNormalizationLayer(4, NumChannels=6), LayerError, r"groupNormalizationLayer: NumGroups: NumGroups \(4\) must divide the number of channels \(6\), as NumChannels"),
        (lambda: groupNormalizationLayer(2, Scale=[1, 2, 3]), LayerError, r"NumGroups \(2\) must divide the number of channels \(3\), as Scale"),
        (lambda: instanceNormalizationLayer(Epsilon=0), LayerError, r"instanceNormalizationLayer: Epsilon must be a finite positive scalar, got 0"),
        (lambda: instanceNormalizationLayer(NumChannels=3, Offset=[1, 2]), LayerError, r"Offset must be a 3-by-1 vector \(one per channel, as NumChannels\)"),
        (lambda: instanceNormalizationLayer(ScaleInitializer="glorot"), LayerError, r"ScaleInitializer must be one of 'zeros', 'ones', 'narrow-normal'"),
        (lambda: instanceNormalizationLayer(TrainedMean=[1]), LayerError, r"instanceNormalizationLayer: unknown option 'TrainedMean'"),
        (lambda: initialize([sequenceInputLayer(5), groupNormalizationLayer(2, Name="gn")]), NetworkError,
         r"layer 2 'gn' \(groupNormalizationLayer\): NumGroups \(2\) must divide the number of channels \(5\)"),
        (lambda: initialize([sequenceInputLayer(3), lstmLayer(4, OutputMode="last"), instanceNormalizationLayer()]), NetworkError,
         r"instanceNormalizationLayer\): instance normalization needs sequence input"),
    ],
)
def test_bad_options_name_the_property(make, error, message):
    with pytest.raises(error, match=message):
        make()


# -- the reference -------------------------------------------------------------------------------------


def test_reference_is_the_formula_on_an_unpadded_sequence(rng):
    x = rng.normal(2, 3, (1, 7, 4))
    offset, scale = rng.normal(size=4), rng.normal(size=4)
    eps = 1e-5
    # instance: each channel over time
    mu, var = x.mean(axis=1, keepdims=True), x.var(axis=1, keepdims=True)
    np.testing.assert_allclose(ref.group_normalization(x, np.array([7]), offset, scale, eps, 4),
                               scale * (x - mu) / np.sqrt(var + eps) + offset, atol=1e-12)
    # two groups: channels 0-1 and 2-3, each over time and its channels
    expected = np.empty_like(x)
    for channels in (slice(0, 2), slice(2, 4)):
        part = x[:, :, channels]
        expected[:, :, channels] = (part - part.mean()) / np.sqrt(part.var() + eps)
    np.testing.assert_allclose(ref.group_normalization(x, np.array([7]), offset, scale, eps, 2), scale * expected + offset, atol=1e-12)
    # one step [N, C]: over each group's channels
    step = x[:, 0]
    half = step[:, :2]
    np.testing.assert_allclose(ref.group_normalization(step, None, np.zeros(4), np.ones(4), 0.0, 2)[:, :2],
                               (half - half.mean()) / half.std(), atol=1e-12)


@pytest.mark.parametrize("kind", KINDS)
def test_reference_gives_each_sequence_what_it_gives_alone(kind, rng):
    net = network(norms(rng)[kind], rng)
    sequences = [rng.normal(1, 2, (L, 3)) for L in (1, 6, 3)]
    together = reference.predict(net, sequences)
    for s, t in zip(sequences, together):
        np.testing.assert_allclose(reference.predict(net, [s])[0], t, atol=1e-12)


# -- ONNX --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("ragged", [True, False], ids=["ragged", "full"])
def test_onnxruntime_matches_reference(kind, ragged, rng):
    net = network(norms(rng)[kind], rng)
    batch = random_batch(rng, 6, 9, 3, ragged=ragged)
    expected = reference.predict(net, batch.sequences)
    feeds = {"sequences": batch.padded, **({"sequence_lengths": batch.lengths} if ragged else {})}
    for opset in ORT_OPSETS:
        assert_matches_reference(run(checked(build(net, ragged=ragged, opset=opset)), feeds)["outputs"], expected, batch.lengths,
                                 atol=ATOL_FLOAT32)


@pytest.mark.parametrize("kind", ["groups-2", "all-channels", "channel-wise"])
def test_group_norm_after_last_normalizes_each_step_over_its_groups(kind, rng):
    net = network(norms(rng)[kind], rng, last=True)
    batch = random_batch(rng, 5, 7, 3, ragged=True)
    out = run(checked(build(net, ragged=True)), {"sequences": batch.padded, "sequence_lengths": batch.lengths})["outputs"]
    assert_matches_reference(out, reference.predict(net, batch.sequences), atol=ATOL_FLOAT32)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("pad_value", [1e4, np.nan])
def test_padding_never_changes_a_result(kind, pad_value, rng):
    """The normalization right after the input sees the padded steps themselves, garbage included."""
    net = initialize([sequenceInputLayer(C), norms(rng)[kind], fullyConnectedLayer(2)], seed=1)
    batch = random_batch(rng, 5, 8, C, ragged=True)
    garbage = batch.padded.copy()
    for n, L in enumerate(batch.lengths):
        garbage[n, L:] = pad_value
    model = build(net, ragged=True)
    clean = run(model, {"sequences": batch.padded, "sequence_lengths": batch.lengths})["outputs"]
    dirty = run(model, {"sequences": garbage, "sequence_lengths": batch.lengths})["outputs"]
    for n, L in enumerate(batch.lengths):
        np.testing.assert_array_equal(dirty[n, :L], clean[n, :L])
    assert_matches_reference(clean, reference.predict(net, batch.sequences), batch.lengths, atol=ATOL_FLOAT32)


@pytest.mark.parametrize("make", [instanceNormalizationLayer, lambda **kw: groupNormalizationLayer(2, **kw)], ids=["instance", "group"])
def test_stateful_graph_is_refused(make):
    net = initialize([sequenceInputLayer(4), lstmLayer(4), make(Name="norm"), fullyConnectedLayer(2)], seed=0)
    with pytest.raises(Lstm2OnnxError, match=r"'norm': a stateful graph streams chunks .* statistics are taken over the whole sequence"):
        build(net, stateful=True)
    build(net, ragged=True)  # the same network builds without stateful


def test_load_onnx_gives_back_offset_and_scale(rng):
    from lstm2onnx.importer import load_onnx

    net = initialize([sequenceInputLayer(C), norms(rng)["instance"], norms(rng)["groups-3"]], seed=0)
    back = load_onnx(build(net, ragged=True))
    for original, loaded in zip(net, back):
        assert type(original) is type(loaded)
        for prop in ("Offset", "Scale"):
            if hasattr(original, prop):
                np.testing.assert_array_equal(getattr(loaded, prop), getattr(original, prop))


# -- torch ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_torch_forward_matches_reference(kind, rng):
    net = network(norms(rng)[kind], rng)
    batch = random_batch(rng, 5, 7, 3, ragged=True)
    module = TorchNetwork(net).double()
    with torch.no_grad():
        out = module(torch.from_numpy(batch.padded).double(), torch.from_numpy(batch.lengths).long()).numpy()
    assert_matches_reference(out, reference.predict(net, batch.sequences), batch.lengths, atol=1e-10)


def test_training_moves_offset_and_scale(rng):
    X = [rng.normal(0, 1, (int(rng.integers(3, 10)), 3)).astype(np.float32) for _ in range(32)]
    Y = [np.float32([x[:, 0].max() - x[:, 1].min()]) for x in X]
    layers = [sequenceInputLayer(3), fullyConnectedLayer(4), instanceNormalizationLayer(), groupNormalizationLayer(2, ScaleLearnRateFactor=0),
              lstmLayer(6, OutputMode="last"), fullyConnectedLayer(1), regressionLayer()]
    options = trainingOptions("adam", InitialLearnRate=0.02, MaxEpochs=6, MiniBatchSize=8, Verbose=False)
    net, info = trainNetwork(X, Y, layers, options, seed=3)
    assert info.TrainingLoss[-4:].mean() < info.TrainingLoss[:4].mean()
    inorm, gnorm = net.Layers[2], net.Layers[3]
    assert not np.allclose(inorm.Offset, 0.0) and not np.allclose(inorm.Scale, 1.0) and not np.allclose(gnorm.Offset, 0.0)
    np.testing.assert_array_equal(gnorm.Scale, np.ones(4, np.float32))  # learn-rate factor 0: untouched
    batch = random_batch(rng, 6, 8, 3, ragged=True)
    out = next(iter(run(build(net, ragged=True), {"sequences": batch.padded, "sequence_lengths": batch.lengths}).values()))
    assert_matches_reference(out, reference.predict(net.Layers, batch.sequences), atol=ATOL_FLOAT32)


# -- MATLAB text -----------------------------------------------------------------------------------------

NET_M = """
layers = [sequenceInputLayer(6)
          instanceNormalizationLayer('Epsilon', 1e-4, 'Name', 'in')
          groupNormalizationLayer(3, 'OffsetL2Factor', 0)
          groupNormalizationLayer("all-channels", Name="gn_all")
          groupNormalizationLayer('channel-wise')
          fullyConnectedLayer(2)];
"""


def test_matlab_text_parses_and_writes_back(rng):
    layers = from_matlab(NET_M)
    assert [type(layer).__name__ for layer in layers[1:5]] == ["InstanceNormalizationLayer", "GroupNormalizationLayer",
                                                                "GroupNormalizationLayer", "GroupNormalizationLayer"]
    assert (layers[1].Epsilon, layers[1].Name, layers[2].NumGroups, layers[2].OffsetL2Factor) == (1e-4, "in", 3, 0.0)
    assert (layers[3].NumGroups, layers[3].Name, layers[4].NumGroups) == ("all-channels", "gn_all", "channel-wise")
    text = to_matlab(layers)
    assert 'groupNormalizationLayer(3, "OffsetL2Factor", 0)' in text and 'groupNormalizationLayer("all-channels", "Name", "gn_all")' in text
    assert list(from_matlab(text)) == list(layers)
    net = initialize(layers, seed=2)
    with_learnables = from_matlab(to_matlab(net, learnables=True))
    assert all(a == b for a, b in zip(with_learnables, net))
