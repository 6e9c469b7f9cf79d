"""batchNormalizationLayer and layerNormalizationLayer through the whole project.

Constructors, validation, display, the float64 reference against the
formulas, ONNX at every supported opset (checker full check + strict shape
inference; onnxruntime against the reference, sequence and 'last' networks,
ragged batches, padding that never changes a result), the torch modules
(inference and training statistics), .mat weights, MATLAB text and spec
round trips, and trainNetwork.

Tolerances: onnxruntime float32 vs the float64 reference, max abs error
<= 1e-5 (ATOL_FLOAT32); torch in float64 vs the reference, 1e-10; float64
formulas by hand, 1e-12.
"""

from __future__ import annotations

import re

import h5py
import numpy as np
import onnx
import pytest
import scipy.io
import torch
from conftest import ATOL_FLOAT32, assert_matches_reference, cuda_works, onnxruntime_max_opset, random_batch, run

from lstm2onnx import (
    LayerArray,
    LayerError,
    NetworkError,
    SpecError,
    batchNormalizationLayer,
    build,
    classificationLayer,
    fullyConnectedLayer,
    initialize,
    layerNormalizationLayer,
    lstmLayer,
    reference,
    regressionLayer,
    reluLayer,
    sequenceInputLayer,
    softmaxLayer,
    trainingOptions,
    trainNetwork,
)
from lstm2onnx.builder import MIN_OPSET, max_opset
from lstm2onnx.matlab import from_matlab
from lstm2onnx.matlab.weights import apply_weights, load_weights
from lstm2onnx.matlab.writer import to_matlab
from lstm2onnx.network import layer_table
from lstm2onnx.reference import normalization as ref
from lstm2onnx.spec import dump_spec, parse_spec
from lstm2onnx.training.torch_net import TorchNetwork

OPSETS = list(range(MIN_OPSET, max_opset() + 1))
ORT_MAX = onnxruntime_max_opset()
MODES = ["auto", "channel-only", "spatial-channel", "batch-excluded"]


def batchnorm(rng: np.random.Generator, C: int, **options):
    return batchNormalizationLayer(TrainedMean=rng.normal(0, 1, C), TrainedVariance=rng.uniform(0.2, 3, C),
                                   Offset=rng.normal(0, 1, C), Scale=rng.normal(1, 0.5, C), **options)


def layernorm(rng: np.random.Generator, C: int, **options):
    return layerNormalizationLayer(Offset=rng.normal(0, 1, C), Scale=rng.normal(1, 0.5, C), **options)


def network(norm, mode: str, rng: np.random.Generator) -> LayerArray:
    """input -> (fc | lstm 'last' -> fc) with offset inputs -> norm -> fc: statistics far from 0 and 1."""
    front = [fullyConnectedLayer(5, Weights=rng.normal(0, 2, (5, 3)), Bias=rng.normal(3, 1, 5))]
    if mode == "last":
        front = [lstmLayer(6, OutputMode="last"), fullyConnectedLayer(5, Weights=rng.normal(0, 2, (5, 6)), Bias=rng.normal(3, 1, 5))]
    return initialize([sequenceInputLayer(3), *front, norm, fullyConnectedLayer(2)], seed=int(rng.integers(1000)))


def checked(model: onnx.ModelProto) -> onnx.ModelProto:
    onnx.checker.check_model(model, full_check=True)
    onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True, data_prop=True)
    return model


def torch_outputs(net, batch, train: bool = False) -> np.ndarray:
    module = TorchNetwork(net).double().train(train)
    with torch.no_grad():
        return module(torch.from_numpy(batch.padded).double(), torch.from_numpy(batch.lengths).long()).numpy()


# -- constructors, validation, display -------------------------------------------------------------


def test_batchnorm_defaults_follow_matlab():
    layer = batchNormalizationLayer()
    assert (layer.NumChannels, layer.MeanDecay, layer.VarianceDecay, layer.Epsilon) == ("auto", 0.1, 0.1, 1e-5)
    assert layer.Offset is layer.Scale is layer.TrainedMean is layer.TrainedVariance is None
    assert (layer.OffsetInitializer, layer.ScaleInitializer) == ("zeros", "ones")
    assert layer.OffsetLearnRateFactor == layer.ScaleLearnRateFactor == layer.OffsetL2Factor == layer.ScaleL2Factor == 1.0
    assert batchNormalizationLayer("epsilon", 1e-3, "Name", "bn") == batchNormalizationLayer(Epsilon=1e-3, Name="bn")


def test_layernorm_defaults_follow_matlab():
    layer = layerNormalizationLayer()
    assert (layer.NumChannels, layer.Epsilon, layer.OperationDimension) == ("auto", 1e-5, "auto")
    assert (layer.OffsetInitializer, layer.ScaleInitializer, layer.ScaleL2Factor, layer.OffsetL2Factor) == ("zeros", "ones", 1.0, 1.0)
    assert layerNormalizationLayer("OperationDimension", "Batch-Excluded").OperationDimension == "batch-excluded"


def test_initialized_statistics_and_learnables_are_matlabs():
    bn, ln = initialize([sequenceInputLayer(3), batchNormalizationLayer(), layerNormalizationLayer()])[1:]
    assert bn.NumChannels == ln.NumChannels == 3
    for layer in (bn, ln):
        np.testing.assert_array_equal(layer.Offset, np.zeros(3))
        np.testing.assert_array_equal(layer.Scale, np.ones(3))
    np.testing.assert_array_equal(bn.TrainedMean, np.zeros(3))
    np.testing.assert_array_equal(bn.TrainedVariance, np.ones(3))
    narrow = initialize([sequenceInputLayer(200), batchNormalizationLayer(ScaleInitializer="narrow-normal")], seed=4)[1]
    assert 0.005 < narrow.Scale.std() < 0.02
    custom = initialize([sequenceInputLayer(2), layerNormalizationLayer(OffsetInitializer=lambda shape: np.full(shape, 0.5))])[1]
    np.testing.assert_array_equal(custom.Offset, [0.5, 0.5])


@pytest.mark.parametrize(
    "make,message",
    [
        (lambda: batchNormalizationLayer(Epsilon=1e-6), r"batchNormalizationLayer: Epsilon must be a finite scalar greater than or equal to 1e-05, got 1e-06"),
        (lambda: layerNormalizationLayer(Epsilon=0), r"layerNormalizationLayer: Epsilon must be a finite positive scalar, got 0"),
        (lambda: batchNormalizationLayer(MeanDecay=1.5), r"MeanDecay must be a number in the range \[0, 1\], got 1.5"),
        (lambda: batchNormalizationLayer(Name="bn", VarianceDecay=-0.1), r"batchNormalizationLayer 'bn': VarianceDecay must be a number in the range"),
        (lambda: batchNormalizationLayer(TrainedVariance=[1, -1]), r"TrainedVariance must be nonnegative"),
        (lambda: batchNormalizationLayer(NumChannels=3, Offset=[1, 2]), r"Offset must be a 3-by-1 vector \(one per channel, as NumChannels\), got 2 elements"),
        (lambda: batchNormalizationLayer(Scale=[1, 2], TrainedMean=[1, 2, 3]), r"TrainedMean must be a 2-by-1 vector \(one per channel, as Scale\)"),
        (lambda: batchNormalizationLayer(NumChannels=0), r"batchNormalizationLayer: NumChannels must be a positive integer, got 0"),
        (lambda: layerNormalizationLayer(OperationDimension="time"), r"OperationDimension must be one of 'auto', 'channel-only', 'spatial-channel', 'batch-excluded'"),
        (lambda: layerNormalizationLayer(ScaleInitializer="glorot"), r"ScaleInitializer must be one of 'zeros', 'ones', 'narrow-normal'"),
        (lambda: layerNormalizationLayer(OffsetL2Factor=-1), r"OffsetL2Factor must be a nonnegative scalar, got -1"),
        (lambda: batchNormalizationLayer(Offset=[[1, 2], [3, 4]]), r"Offset must be a n-by-1 or 1-by-n numeric vector"),
        (lambda: batchNormalizationLayer(Momentum=0.1), r"batchNormalizationLayer: unknown option 'Momentum'"),
    ],
)
def test_validation_messages(make, message):
    with pytest.raises(LayerError, match=message):
        make()


def test_channel_mismatch_is_a_network_error_naming_the_layer():
    with pytest.raises(NetworkError, match=r"layer 2 'bn' \(batchNormalizationLayer\): NumChannels says 4 channels, but the previous layer outputs 3"):
        initialize([sequenceInputLayer(3), batchNormalizationLayer(NumChannels=4, Name="bn")])
    with pytest.raises(NetworkError, match=r"layer 3 'layernorm' \(layerNormalizationLayer\): Scale says 2 channels, but the previous layer outputs 5"):
        initialize([sequenceInputLayer(3), lstmLayer(5), layerNormalizationLayer(Scale=[1, 1])])


def test_display():
    rows = [re.split(r"\s{3,}", row.strip()) for row in layer_table(initialize([sequenceInputLayer(3), batchNormalizationLayer(),
                                                                                 layerNormalizationLayer()])).splitlines()[3:]]
    assert rows == [["2", "'batchnorm'", "Batch Normalization", "Batch normalization with 3 channels"],
                    ["3", "'layernorm'", "Layer Normalization", "Layer normalization with 3 channels"]]
    assert batchNormalizationLayer().description() == "Batch normalization"
    text = batchNormalizationLayer(Name="bn").display()
    head, hyper = text.split("   Hyperparameters")
    assert "Name: 'bn'" in head and "NumChannels: 'auto'" in head
    hyper, learnable = hyper.split("   Learnable Parameters")
    assert [line.split(":")[0].strip() for line in hyper.strip().splitlines()] == ["MeanDecay", "VarianceDecay", "Epsilon"]
    learnable, state = learnable.split("   State Parameters")
    assert "Offset: []" in learnable and "Scale: []" in learnable and "TrainedMean: []" in state and "TrainedVariance: []" in state
    assert "OffsetInitializer" not in text and "ScaleL2Factor: 1" in batchNormalizationLayer().display(all=True)
    assert "OperationDimension: 'auto'" in layerNormalizationLayer().display()


# -- the reference -----------------------------------------------------------------------------------


def test_batchnorm_reference_formula_by_hand():
    x = np.array([[1.0, -2.0], [3.0, 0.5]])
    y = ref.batch_normalization(x, np.array([1.0, 0.0]), np.array([4.0, 0.25]), np.array([0.5, -1.0]), np.array([2.0, 3.0]), 0.0)
    np.testing.assert_allclose(y, [[0.5, -13.0], [2.5, 2.0]], atol=1e-12)


def test_layernorm_reference_per_step_and_over_valid_steps():
    x = np.array([[[1.0, 3.0], [2.0, 4.0], [100.0, -100.0]]])  # one sequence, T = 3 (the last step padding), C = 2
    per_step = ref.layer_normalization(x, np.array([2]), np.zeros(2), np.ones(2), 0.0, over_time=False)
    np.testing.assert_allclose(per_step[0, :2], [[-1.0, 1.0], [-1.0, 1.0]], atol=1e-12)
    np.testing.assert_allclose(ref.layer_normalization(x, np.array([2]), np.zeros(2), np.ones(2), 1.0, over_time=False)[0, 0],
                               [-1 / np.sqrt(2), 1 / np.sqrt(2)], atol=1e-12)
    over = ref.layer_normalization(x, np.array([2]), np.zeros(2), np.ones(2), 0.0, over_time=True)  # valid values 1, 3, 2, 4: μ 2.5, σ² 1.25
    np.testing.assert_allclose(over[0, :2], np.array([[-1.5, 0.5], [-0.5, 1.5]]) / np.sqrt(1.25), atol=1e-12)
    shifted = ref.layer_normalization(x, np.array([2]), np.array([1.0, -1.0]), np.array([2.0, 3.0]), 0.0, over_time=True)
    np.testing.assert_allclose(shifted[0, :2], over[0, :2] * [2.0, 3.0] + [1.0, -1.0], atol=1e-12)


def test_layernorm_over_time_equals_each_sequence_alone(rng):
    net = initialize([sequenceInputLayer(3), layernorm(rng, 3, OperationDimension="batch-excluded")])
    sequences = [rng.normal(2, 3, (L, 3)) for L in (1, 6, 3)]
    together = reference.predict(net, sequences)
    for s, t in zip(sequences, together):
        np.testing.assert_allclose(reference.predict(net, [s])[0], t, atol=1e-12)
    per_step = initialize([sequenceInputLayer(3), layerNormalizationLayer(Offset=net[1].Offset, Scale=net[1].Scale)])
    assert not np.allclose(reference.predict(per_step, [sequences[1]])[0], together[1], atol=1e-3)  # the modes differ


# -- ONNX ------------------------------------------------------------------------------------------

CASES = [("batchnorm", {})] + [("batchnorm", {"Epsilon": 0.5})] + [("layernorm", {"OperationDimension": m}) for m in MODES] + [("layernorm", {"Epsilon": 0.3})]


@pytest.mark.parametrize("kind,options", CASES, ids=lambda v: v if isinstance(v, str) else "-".join(f"{k}={w}" for k, w in v.items()))
@pytest.mark.parametrize("mode", ["sequence", "last"])
@pytest.mark.parametrize("ragged", [True, False], ids=["ragged", "full"])
def test_onnxruntime_matches_reference_at_every_opset(kind, options, mode, ragged, rng):
    norm = (batchnorm if kind == "batchnorm" else layernorm)(rng, 5, **options)
    net = network(norm, mode, rng)
    batch = random_batch(rng, 6, 9, 3, ragged=ragged)
    expected = reference.predict(net, batch.sequences)
    feeds = {"sequences": batch.padded, **({"sequence_lengths": batch.lengths} if ragged else {})}
    for opset in OPSETS:
        model = checked(build(net, ragged=ragged, opset=opset))
        if opset <= ORT_MAX:
            assert_matches_reference(run(model, feeds)["outputs"], expected, batch.lengths, atol=ATOL_FLOAT32)


def op_types(model) -> set[str]:
    return {node.op_type for node in model.graph.node} - {"Transpose"}


def test_operators_by_opset(rng):
    bn = initialize([sequenceInputLayer(4), batchnorm(rng, 4)])
    assert all(op_types(build(bn, opset=o)) == {"Mul", "Add"} for o in (MIN_OPSET, 17, max_opset()))
    ln = initialize([sequenceInputLayer(4), layernorm(rng, 4)])
    assert op_types(build(ln, opset=17)) == op_types(build(ln, opset=max_opset())) == {"LayerNormalization"}
    assert op_types(build(ln, opset=16)) == {"ReduceSum", "Div", "Sub", "Mul", "Add", "Sqrt"}
    over = initialize([sequenceInputLayer(4), layernorm(rng, 4, OperationDimension="batch-excluded")])
    assert "LayerNormalization" not in op_types(build(over, ragged=True, opset=max_opset()))
    assert {"Where", "Range", "Less"} <= op_types(build(over, ragged=True))
    node = next(n for n in build(initialize([sequenceInputLayer(4), layernorm(rng, 4, Epsilon=0.01)])).graph.node if n.op_type == "LayerNormalization")
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
    assert attrs["axis"] == -1 and abs(attrs["epsilon"] - 0.01) < 1e-9


def test_batchnorm_folding_is_within_float32_of_the_stored_parameters(rng):
    layer = initialize([sequenceInputLayer(4), batchnorm(rng, 4, Epsilon=0.01)])[1]
    inits = {t.name: onnx.numpy_helper.to_array(t) for t in build([sequenceInputLayer(4), layer]).graph.initializer}
    a = np.float64(layer.Scale) / np.sqrt(np.float64(layer.TrainedVariance) + 0.01)
    np.testing.assert_allclose(inits["batchnorm.FoldedScale"], a, rtol=1e-7)
    np.testing.assert_allclose(inits["batchnorm.FoldedOffset"], np.float64(layer.Offset) - np.float64(layer.TrainedMean) * a, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("kind,options", CASES, ids=lambda v: v if isinstance(v, str) else "-".join(f"{k}={w}" for k, w in v.items()))
@pytest.mark.parametrize("pad_value", [1e4, np.nan])
def test_padding_never_changes_a_result(kind, options, pad_value, rng):
    """The normalization right after the input sees the padded steps themselves, garbage included."""
    norm = (batchnorm if kind == "batchnorm" else layernorm)(rng, 3, **options)
    net = initialize([sequenceInputLayer(3), norm, fullyConnectedLayer(2)], seed=1)
    batch = random_batch(rng, 5, 8, 3, ragged=True)
    garbage = batch.padded.copy()
    for n, L in enumerate(batch.lengths):
        garbage[n, L:] = pad_value
    for opset in (MIN_OPSET, 17, min(ORT_MAX, max_opset())):
        model = build(net, ragged=True, opset=opset)
        clean = run(model, {"sequences": batch.padded, "sequence_lengths": batch.lengths})["outputs"]
        dirty = run(model, {"sequences": garbage, "sequence_lengths": batch.lengths})["outputs"]
        for n, L in enumerate(batch.lengths):
            np.testing.assert_array_equal(dirty[n, :L], clean[n, :L])
        assert_matches_reference(clean, reference.predict(net, batch.sequences), batch.lengths, atol=ATOL_FLOAT32)


# -- torch -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind,options", CASES, ids=lambda v: v if isinstance(v, str) else "-".join(f"{k}={w}" for k, w in v.items()))
@pytest.mark.parametrize("mode", ["sequence", "last"])
def test_torch_forward_matches_reference(kind, options, mode, rng):
    norm = (batchnorm if kind == "batchnorm" else layernorm)(rng, 5, **options)
    net = network(norm, mode, rng)
    batch = random_batch(rng, 5, 7, 3, ragged=True)
    assert_matches_reference(torch_outputs(net, batch), reference.predict(net, batch.sequences), batch.lengths, atol=1e-10)


@pytest.mark.parametrize("sequence", [True, False], ids=["sequence", "one-step"])
def test_torch_batchnorm_training_statistics(sequence, rng):
    """Training mode: batch mean and biased variance over valid steps; running statistics as MATLAB's update, unbiased variance."""
    layer = batchnorm(rng, 3, MeanDecay=0.3, VarianceDecay=0.2)
    front = [] if sequence else [lstmLayer(3, OutputMode="last")]
    net = initialize([sequenceInputLayer(3), *front, layer], seed=2)
    batch = random_batch(rng, 6, 7, 3, ragged=True)
    module = TorchNetwork(net).double().train()
    x = torch.from_numpy(batch.padded).double()
    x_dirty = x.clone()
    for n, L in enumerate(batch.lengths):
        x_dirty[n, L:] = 1e6
    lengths = torch.from_numpy(batch.lengths).long()
    with torch.no_grad():
        y = module(x_dirty, lengths).numpy()
    stage = module.stages["layer_batchnorm"]
    if sequence:
        values = np.concatenate([np.float64(s) for s in batch.sequences])
    else:
        values = np.stack(reference.predict(LayerArray(net[:2]), batch.sequences))
    mu, var, m = values.mean(0), values.var(0), len(values)
    np.testing.assert_allclose(stage.trained_mean.numpy(), 0.7 * np.float64(layer.TrainedMean) + 0.3 * mu, atol=1e-10)
    np.testing.assert_allclose(stage.trained_variance.numpy(), 0.8 * np.float64(layer.TrainedVariance) + 0.2 * var * m / (m - 1), atol=1e-10)
    expected = np.float64(layer.Scale) * (np.float64(batch.padded if sequence else values) - mu) / np.sqrt(var + 1e-5) + np.float64(layer.Offset)
    if sequence:
        for n, L in enumerate(batch.lengths):
            np.testing.assert_allclose(y[n, :L], expected[n, :L], atol=1e-10)
    else:
        np.testing.assert_allclose(y, expected, atol=1e-10)
    trained = module.to_layers()[-1]
    np.testing.assert_allclose(trained.TrainedMean, stage.trained_mean.numpy(), rtol=1e-6)


def test_torch_learnables_and_factors():
    layers = [sequenceInputLayer(2), batchNormalizationLayer(ScaleLearnRateFactor=0.5, OffsetL2Factor=0),
              layerNormalizationLayer(OffsetLearnRateFactor=2, ScaleL2Factor=3)]
    entries = {(e.layer, e.name): (e.lr[0], e.l2[0]) for e in TorchNetwork(initialize(layers)).learnables()}
    assert entries == {("batchnorm", "Offset"): (1.0, 0.0), ("batchnorm", "Scale"): (0.5, 1.0),
                       ("layernorm", "Offset"): (2.0, 1.0), ("layernorm", "Scale"): (1.0, 3.0)}


# -- training ----------------------------------------------------------------------------------------


def test_train_network_with_relu_batchnorm_layernorm(rng):
    X = [rng.normal(0, 1, (int(rng.integers(3, 12)), 3)).astype(np.float32) for _ in range(48)]
    Y = ["up" if x[:, 0].mean() + x[:, 1].mean() > 0 else "down" for x in X]
    layers = [sequenceInputLayer(3), lstmLayer(8), batchNormalizationLayer(), reluLayer(),
              layerNormalizationLayer(ScaleLearnRateFactor=0), lstmLayer(6, OutputMode="last"),
              batchNormalizationLayer(Name="bn_last"), fullyConnectedLayer(2), softmaxLayer(), classificationLayer()]
    options = trainingOptions("adam", InitialLearnRate=0.02, MaxEpochs=12, MiniBatchSize=8, Verbose=False, Shuffle="every-epoch")
    net, info = trainNetwork(X, Y, layers, options, seed=5)
    first, last = info.TrainingLoss[:6].mean(), info.TrainingLoss[-6:].mean()
    assert last < 0.6 * first, (first, last)
    bn, ln = net.Layers[2], net.Layers[4]
    assert np.abs(bn.TrainedMean).max() > 1e-3 and not np.allclose(bn.TrainedVariance, 1.0)  # the running statistics moved
    assert not np.allclose(bn.Scale, 1.0) and not np.allclose(ln.Offset, 0.0)
    np.testing.assert_array_equal(ln.Scale, np.ones(8, np.float32))  # learn-rate factor 0: untouched
    batch = random_batch(rng, 7, 10, 3, ragged=True)
    model = checked(build(net, ragged=True))
    out = run(model, {"sequences": batch.padded, "sequence_lengths": batch.lengths})["probabilities"]
    assert_matches_reference(out, reference.predict(net.Layers, batch.sequences), atol=ATOL_FLOAT32)


# -- .mat weights, MATLAB text, specs ----------------------------------------------------------------

NET_M = """
layers = [sequenceInputLayer(3)
          lstmLayer(4)
          batchNormalizationLayer('Epsilon', 1e-4)
          layerNormalizationLayer('OperationDimension', 'batch-excluded')
          fullyConnectedLayer(2)];
"""


def saved_weights(rng) -> dict:
    """What the README's MATLAB snippet saves for NET_M: MATLAB's C-by-1 columns, in double."""
    return {"batchnorm": {"TrainedMean": rng.normal(size=(4, 1)), "TrainedVariance": rng.uniform(0.5, 2, (4, 1)),
                          "Offset": rng.normal(size=(4, 1)), "Scale": rng.normal(size=(4, 1))},
            "layernorm": {"Offset": rng.normal(size=(4, 1)), "Scale": rng.normal(size=(4, 1))}}


@pytest.mark.parametrize("fmt", ["v5", "v7.3"])
def test_mat_weights(fmt, tmp_path, rng):
    weights = saved_weights(rng)
    path = tmp_path / "learnables.mat"
    if fmt == "v5":
        scipy.io.savemat(path, weights)
    else:
        with h5py.File(path, "w", userblock_size=512) as f:
            for name, fields in weights.items():
                group = f.create_group(name)
                group.attrs["MATLAB_class"] = np.bytes_("struct")
                for field, value in fields.items():
                    group.create_dataset(field, data=np.asarray(value).T).attrs["MATLAB_class"] = np.bytes_("double")
        with open(path, "r+b") as f:
            f.write(b"MATLAB 7.3 MAT-file, Platform: GLNXA64, HDF5 schema 1.00 .".ljust(116))
    layers = apply_weights(from_matlab(NET_M), load_weights(path))
    for name, fields in weights.items():
        layer = next(layer for layer in layers if layer.Name == name)
        for field, value in fields.items():
            np.testing.assert_array_equal(getattr(layer, field), np.float32(value).ravel())
    net = initialize(layers, seed=0)
    batch = random_batch(rng, 4, 6, 3, ragged=True)
    out = run(build(net, ragged=True), {"sequences": batch.padded, "sequence_lengths": batch.lengths})["outputs"]
    assert_matches_reference(out, reference.predict(net, batch.sequences), batch.lengths, atol=ATOL_FLOAT32)


def test_mat_weights_of_the_wrong_size_name_the_layer(rng):
    with pytest.raises(SpecError, match=r"weights for layer 'batchnorm': .*TrainedMean must be a 4-by-1 vector"):
        apply_weights(from_matlab(NET_M), {"batchnorm": {"TrainedMean": np.zeros((3, 1))}, "layernorm": {}})


def every_layer(rng) -> list:
    return [sequenceInputLayer(3), batchnorm(rng, 3, Epsilon=1e-3, MeanDecay=0.2, Name="bn"),
            batchNormalizationLayer(ScaleLearnRateFactor=0, OffsetInitializer="narrow-normal"),
            layernorm(rng, 3, OperationDimension="batch-excluded"), layerNormalizationLayer(NumChannels=3, Epsilon=0.01)]


def test_to_matlab_and_back(rng):
    layers = every_layer(rng)
    text = to_matlab(layers, learnables=True)
    line = next(line for line in text.splitlines() if '"bn"' in line)
    assert line.strip().startswith('batchNormalizationLayer("Name", "bn", ') and '"MeanDecay", 0.2' in line and '"Epsilon", 0.001' in line
    back = from_matlab(text)
    assert len(back) == len(layers) and all(a == b for a, b in zip(back, layers))
    no_learnables = from_matlab(to_matlab(layers))
    assert no_learnables[1].Offset is None and no_learnables[1].TrainedMean is not None  # statistics are state, kept


def test_spec_round_trip(rng):
    layers = every_layer(rng)
    back, _ = parse_spec(dump_spec(layers, learnables=True))
    assert len(back) == len(layers) and all(a == b for a, b in zip(back, layers))
    parsed, _ = parse_spec("""
    - sequenceInputLayer: 3
    - batchNormalizationLayer: {Epsilon: 0.001, TrainedMean: [1, 2, 3]}
    - layerNormalizationLayer: [OperationDimension, batch-excluded]
    """)
    assert parsed[1] == batchNormalizationLayer(Epsilon=0.001, TrainedMean=[1, 2, 3])
    assert parsed[2].OperationDimension == "batch-excluded"


@pytest.mark.parametrize("statistics", ["population", "moving"])
def test_train_network_batchnorm_statistics(statistics, rng):
    """'population' (MATLAB's default): after training, TrainedMean/TrainedVariance are the mean and biased variance of
    the layer's input over every valid step of the training data; 'moving' keeps the running estimates."""
    X = [rng.normal(1, 2, (int(rng.integers(2, 9)), 2)).astype(np.float32) for _ in range(20)]
    Y = [np.float32([x.sum()]) for x in X]
    layers = [sequenceInputLayer(2), fullyConnectedLayer(4), batchNormalizationLayer(), reluLayer(), lstmLayer(3, OutputMode="last"),
              batchNormalizationLayer(Name="bn_last"), fullyConnectedLayer(1), regressionLayer()]
    options = trainingOptions("sgdm", MaxEpochs=2, MiniBatchSize=6, Verbose=False, BatchNormalizationStatistics=statistics)
    assert options.BatchNormalizationStatistics == statistics and trainingOptions("adam").BatchNormalizationStatistics == "population"
    net, _ = trainNetwork(X, Y, layers, options, seed=1)
    for k in (2, 5):
        inputs = reference.predict(LayerArray(net.Layers[:k]), X)
        values = np.concatenate(inputs) if isinstance(inputs, list) else inputs
        population = np.allclose(net.Layers[k].TrainedMean, values.mean(0), rtol=1e-5, atol=1e-5) and \
            np.allclose(net.Layers[k].TrainedVariance, values.var(0), rtol=1e-5, atol=1e-5)
        assert population == (statistics == "population"), k


def test_batchnorm_statistics_option_is_validated():
    with pytest.raises(LayerError, match=r"trainingOptions: BatchNormalizationStatistics must be one of 'population', 'moving', got 'auto'"):
        trainingOptions("adam", BatchNormalizationStatistics="auto")


def test_load_onnx_gives_back_offset_and_scale(rng, tmp_path):
    """verify / to-matlab --learnables read the layers back from the file: the batch norm's folded constants unfolded."""
    from lstm2onnx.importer import load_onnx
    from lstm2onnx.verify import verify_model

    net = initialize([sequenceInputLayer(3), batchnorm(rng, 3, Epsilon=0.01), lstmLayer(4), layernorm(rng, 4, OperationDimension="batch-excluded"),
                      fullyConnectedLayer(2)], seed=3)
    model = build(net, ragged=True)
    back = load_onnx(model)
    for name in ("batchnorm", "layernorm"):
        original, loaded = (next(layer for layer in layers if layer.Name == name) for layers in (net, back))
        for prop in ("Offset", "Scale"):
            np.testing.assert_allclose(getattr(loaded, prop), getattr(original, prop), rtol=1e-6, atol=1e-6)
    batch = random_batch(rng, 4, 6, 3, ragged=True)
    for a, b in zip(reference.predict(back, batch.sequences), reference.predict(net, batch.sequences)):
        np.testing.assert_allclose(a, b, atol=1e-6)
    path = tmp_path / "net.onnx"
    onnx.save(model, path)
    errors = verify_model(path)
    assert errors and max(errors.values()) <= ATOL_FLOAT32, errors


def test_stateful_graph_normalizes_each_chunk_as_matlabs_predict_and_update_state(rng):
    """Only recurrent state carries between chunks (MATLAB's predictAndUpdateState): a 'batch-excluded' layer norm
    takes its statistics over each chunk's own valid steps."""
    net = initialize([sequenceInputLayer(3), layernorm(rng, 3, OperationDimension="batch-excluded"), lstmLayer(4, Name="lstm"),
                      batchnorm(rng, 4), layernorm(rng, 4), fullyConnectedLayer(2)], seed=2)
    model = build(net, ragged=True, stateful=True)
    first, second = random_batch(rng, 3, 5, 3, ragged=True), random_batch(rng, 3, 4, 3, ragged=True)
    zeros = np.zeros((3, 4), np.float32)
    out1 = run(model, {"sequences": first.padded, "sequence_lengths": first.lengths, "lstm.HiddenState.in": zeros, "lstm.CellState.in": zeros})
    out2 = run(model, {"sequences": second.padded, "sequence_lengths": second.lengths,
                       "lstm.HiddenState.in": out1["lstm.HiddenState.out"], "lstm.CellState.in": out1["lstm.CellState.out"]})
    expected1, states = reference.predict(net, first.sequences, return_states=True)
    expected2 = reference.predict(net, second.sequences, initial_states={"lstm": states["lstm"]})
    assert_matches_reference(out1["outputs"], expected1, first.lengths, atol=ATOL_FLOAT32)
    assert_matches_reference(out2["outputs"], expected2, second.lengths, atol=ATOL_FLOAT32)


CUDA_COMPUTE_OPS = {"Relu", "LeakyRelu", "Clip", "Elu", "Tanh", "Sigmoid", "Erf", "Gelu", "LayerNormalization", "ReduceSum", "Sqrt", "Where"}


@pytest.mark.skipif(not cuda_works(), reason="onnxruntime cannot run on CUDA here (no CUDAExecutionProvider, or no usable GPU)")
@pytest.mark.parametrize("opset", [MIN_OPSET, 17, 20])
def test_every_activation_and_normalization_layer_on_cuda(opset, rng, tmp_path):
    """The reference's numbers under onnxruntime's CUDA provider (TF32 off), and none of these layers' compute nodes on the CPU."""
    import lstm2onnx_runtime as rt
    from lstm2onnx import clippedReluLayer, eluLayer, geluLayer, leakyReluLayer, sigmoidLayer, swishLayer, tanhLayer

    layers = [sequenceInputLayer(3), fullyConnectedLayer(6, Weights=rng.normal(0, 2, (6, 3))), batchnorm(rng, 6), reluLayer(),
              leakyReluLayer(0.2), clippedReluLayer(2), eluLayer(), tanhLayer(), sigmoidLayer(), swishLayer(), geluLayer(),
              geluLayer(Approximation="tanh"), layernorm(rng, 6), lstmLayer(5), layernorm(rng, 5, OperationDimension="batch-excluded"),
              fullyConnectedLayer(2)]
    net = initialize(layers, seed=1)
    path = tmp_path / "net.onnx"
    onnx.save(build(net, ragged=True, opset=opset), path)
    model = rt.load(path, "cuda")
    assert model.on_cuda
    X = [rng.normal(size=(int(L), 3)).astype(np.float32) for L in rng.integers(1, 12, 9)]
    assert reference.max_abs_error(_padded(rt.predict(model, X)), reference.predict(net, X)) <= ATOL_FLOAT32
    on_cpu = [name for name, ep in model.node_placement().items() if ep == "CPUExecutionProvider"]
    op_types = {name: re.search(r"/([A-Za-z]+)_node(_\d+)?$", name) for name in on_cpu}  # names are '<layer>/<Op>_node[_k]'
    assert not [name for name, op in op_types.items() if op and op.group(1) in CUDA_COMPUTE_OPS], on_cpu


def _padded(outputs: list[np.ndarray]) -> np.ndarray:
    T = max(len(y) for y in outputs)
    out = np.zeros((len(outputs), T, outputs[0].shape[1]))
    for n, y in enumerate(outputs):
        out[n, : len(y)] = y
    return out
