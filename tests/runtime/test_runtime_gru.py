"""GRU networks in the runtime: predict, predictAndUpdateState/resetState, StreamPool streams and groups, state I/O.

GRU layers carry a hidden state only; stacks mix them with LSTM layers (h and c).
Numerical tolerance: max abs error <= 1e-5 (ATOL_FLOAT32) against the float64 reference.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import ATOL_FLOAT32, cuda_works

import lstm2onnx_runtime as rt
from lstm2onnx import exportONNXNetwork, fullyConnectedLayer, initialize, lstmLayer, reference, sequenceInputLayer, softmaxLayer
from lstm2onnx.layers import gruLayer
from lstm2onnx_runtime import StreamError, StreamPool

THIRD = "recurrent-bias-after-multiplication"


def mixed(mode: str = "sequence"):
    """gru (state set, recurrent bias) -> lstm -> gru (before-multiplication, hard-sigmoid): hidden-only states around an (h, c) one."""
    return [
        sequenceInputLayer(3),
        gruLayer(6, Name="g1", ResetGateMode=THIRD, HiddenState=np.linspace(-0.3, 0.3, 6), BiasInitializer="narrow-normal"),
        lstmLayer(5, Name="l", CellState=np.full(5, 0.2)),
        gruLayer(4, Name="g2", ResetGateMode="before-multiplication", GateActivationFunction="hard-sigmoid", OutputMode=mode),
        fullyConnectedLayer(2),
        softmaxLayer(),
    ]


def export(tmp_path, layers, ragged=True):
    net = initialize(layers, seed=3)
    exportONNXNetwork(net, tmp_path / "net.onnx", stateful=True, ragged=ragged)
    return net, rt.load(tmp_path / "net.onnx", "cpu")


def test_load_reads_hidden_only_states(tmp_path):
    net, model = export(tmp_path, mixed())
    assert [s.layer for s in model.info.states] == ["g1", "l", "g2"]
    assert [(t.layer, t.key) for t in model.info.state_tensors] == [("g1", "HiddenState"), ("l", "HiddenState"), ("l", "CellState"),
                                                                    ("g2", "HiddenState")]
    assert model.info.states[0].cell_in is None and model.info.states[0].initial_cell is None
    assert model.info.output_names == ["probabilities", "g1.HiddenState.out", "l.HiddenState.out", "l.CellState.out", "g2.HiddenState.out"]
    np.testing.assert_allclose(model.state[0][0], net[1].HiddenState)  # the initial state: HiddenState of g1


@pytest.mark.parametrize("ragged", [True, False], ids=["ragged", "plain"])
def test_predict_and_chunked_predict_and_update_state(tmp_path, rng, ragged):
    net, model = export(tmp_path, mixed(), ragged=ragged)
    xs = [rng.normal(size=(int(rng.integers(4, 15)), 3)).astype(np.float32) for _ in range(5)]
    expected = reference.predict(net, xs)
    whole = rt.predict(model, xs)
    for got, want in zip(whole, expected):
        assert np.abs(got - want).max() <= ATOL_FLOAT32
    equal = [rng.normal(size=(12, 3)).astype(np.float32) for _ in range(3)]
    whole = rt.predict(model, equal)
    streamed, state = [[] for _ in equal], model
    for start, stop in ((0, 3), (3, 4), (4, 12)):
        state, Y = rt.predictAndUpdateState(state, [x[start:stop] for x in equal])
        for k, y in enumerate(Y):
            streamed[k].append(y)
    for k in range(3):
        np.testing.assert_allclose(np.concatenate(streamed[k]), whole[k], rtol=0, atol=1e-6)
    np.testing.assert_allclose(rt.predict(rt.resetState(state), equal)[0], whole[0], rtol=0, atol=1e-6)
    assert np.abs(rt.predict(state, equal)[0] - whole[0]).max() > 1e-3  # the carried state does change the next result


def test_sequence_length_chunks_carry_gru_state(tmp_path, rng):
    net, model = export(tmp_path, mixed("last"))
    xs = [rng.normal(size=(int(rng.integers(2, 20)), 3)).astype(np.float32) for _ in range(6)]
    chunked = rt.predict(model, xs, SequenceLength=4)
    assert np.abs(chunked - reference.predict(net, xs)).max() <= ATOL_FLOAT32


@pytest.mark.parametrize("device", ["host", "cpu"], ids=["numpy-pages", "ortvalue-pages"])
def test_streams_groups_and_dict_steps_match_the_reference(tmp_path, rng, device):
    net, model = export(tmp_path, mixed())
    pool = StreamPool(model, page_size=2, device=device)
    xs = [rng.normal(size=(9, 3)).astype(np.float32) for _ in range(4)]
    expected = reference.predict(net, xs)
    one = pool.open()
    single = np.concatenate([one.step(xs[0][k : k + 2]) for k in range(0, 9, 2)])
    assert np.abs(single - expected[0]).max() <= ATOL_FLOAT32
    a, b = pool.open(), pool.open()
    out = {a: [], b: []}
    for cut in ((0, 4), (4, 5), (5, 9)):
        for s, y in pool.step({a: xs[1][slice(*cut)], b: xs[2][slice(*cut)]}).items():
            out[s].append(y)
    assert np.abs(np.concatenate(out[a]) - expected[1]).max() <= ATOL_FLOAT32
    assert np.abs(np.concatenate(out[b]) - expected[2]).max() <= ATOL_FLOAT32
    group = pool.open_group(4)
    X = np.stack(xs)
    grouped = np.concatenate([group.step(X[:, k : k + 3]) for k in range(0, 9, 3)], axis=1)
    for k in range(4):
        assert np.abs(grouped[k] - expected[k]).max() <= ATOL_FLOAT32


def test_state_round_trip_reset_and_errors(tmp_path, rng):
    net, model = export(tmp_path, mixed())
    pool = StreamPool(model)
    s, t = pool.open(), pool.open()
    x = rng.normal(size=(7, 3)).astype(np.float32)
    s.step(x[:4])
    saved = s.get_state()
    assert set(saved) == {"g1", "l", "g2"} and set(saved["g1"]) == {"HiddenState"} and set(saved["l"]) == {"HiddenState", "CellState"}
    t.set_state(saved)
    np.testing.assert_array_equal(t.step(x[4:]), s.step(x[4:]))  # bit-exact continuation
    t.reset()
    np.testing.assert_array_equal(t.get_state()["g1"]["HiddenState"], net[1].HiddenState)
    np.testing.assert_array_equal(t.get_state()["g2"]["HiddenState"], np.zeros(4, np.float32))
    with pytest.raises(StreamError, match="layer 'g2' needs a numeric HiddenState"):
        t.set_state({**saved, "g2": {"CellState": np.zeros(4)}})
    with pytest.raises(StreamError, match="g1.HiddenState must be 6 finite numbers, got 5"):
        t.set_state({**saved, "g1": {"HiddenState": np.zeros(5)}})


@pytest.mark.skipif(not cuda_works(), reason="onnxruntime cannot run on CUDA here (no CUDAExecutionProvider, or no usable GPU)")
@pytest.mark.parametrize("mode,gate", [("after-multiplication", "sigmoid"), (THIRD, "sigmoid"), ("before-multiplication", "sigmoid"),
                                       ("after-multiplication", "hard-sigmoid")])
def test_cuda_placement_and_numbers(tmp_path, rng, mode, gate):
    """linear_before_reset=1 with sigmoid/tanh runs on CUDA (cuDNN's GRU); 'before-multiplication' (0) and other activations on the
    CPU provider; the numbers are the reference's either way, streams included."""
    layers = [sequenceInputLayer(3), gruLayer(6, Name="g", ResetGateMode=mode, GateActivationFunction=gate, BiasInitializer="narrow-normal"),
              fullyConnectedLayer(2)]
    net = initialize(layers, seed=2)
    exportONNXNetwork(net, tmp_path / "net.onnx", stateful=True, ragged=True)
    model = rt.load(tmp_path / "net.onnx", "cuda")
    placement = {name: ep for name, ep in model.node_placement().items() if name.endswith("/GRU_node")}
    on_cuda = mode != "before-multiplication" and gate == "sigmoid"
    assert placement == {"g/GRU_node": "CUDAExecutionProvider" if on_cuda else "CPUExecutionProvider"}
    xs = [rng.normal(size=(int(rng.integers(2, 12)), 3)).astype(np.float32) for _ in range(5)]
    expected = reference.predict(net, xs)
    for got, want in zip(rt.predict(model, xs), expected):
        assert np.abs(got - want).max() <= ATOL_FLOAT32
    stream = StreamPool(model).open()
    streamed = np.concatenate([stream.step(xs[0][k : k + 2]) for k in range(0, len(xs[0]), 2)])
    assert np.abs(streamed - expected[0]).max() <= ATOL_FLOAT32
