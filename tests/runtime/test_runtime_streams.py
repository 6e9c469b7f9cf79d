"""Streams: chunked stateful inference equals one-shot prediction and the reference; state I/O; isolation.

Numerical tolerance: max abs error <= 1e-5 against the float64 reference.
"""

from __future__ import annotations

import itertools
import re
import subprocess
import sys
import threading

import numpy as np
import pytest
from conftest import ATOL_FLOAT32

import lstm2onnx_runtime as rt
from lstm2onnx import exportONNXNetwork, fullyConnectedLayer, initialize, lstmLayer, reference, sequenceInputLayer, softmaxLayer
from lstm2onnx_runtime import StreamError, StreamPool

ACTIVATIONS = list(itertools.product(["sigmoid", "hard-sigmoid"], ["tanh", "softsign"]))


def stacked(gate="sigmoid", state="tanh", mode="sequence"):
    return [
        sequenceInputLayer(3),
        lstmLayer(8, GateActivationFunction=gate, StateActivationFunction=state, HiddenState=np.full(8, 0.1), CellState=np.full(8, -0.2)),
        lstmLayer(6, GateActivationFunction=gate, StateActivationFunction=state, OutputMode=mode),
        fullyConnectedLayer(2),
        softmaxLayer(),
    ]


def export(tmp_path, layers, ragged=True, name="net"):
    net = initialize(layers, seed=1)
    exportONNXNetwork(net, tmp_path / f"{name}.onnx", stateful=True, ragged=ragged)
    return net, rt.load(tmp_path / f"{name}.onnx", "cpu")


def chunks_of(x, kind, rng):
    if kind == "whole":
        return [x]
    if kind == "random":
        cuts = sorted(set(rng.integers(1, len(x), size=4).tolist()))
        return np.split(x, cuts)
    return [x[k : k + kind] for k in range(0, len(x), kind)]


@pytest.mark.parametrize("gate,state", ACTIVATIONS)
@pytest.mark.parametrize("chunking", [1, 3, "random", "whole"])
@pytest.mark.parametrize("device", ["host", "cpu"], ids=["numpy-pages", "ortvalue-pages"])
def test_chunked_streaming_equals_one_shot_and_reference(tmp_path, rng, gate, state, chunking, device):
    net, model = export(tmp_path, stacked(gate, state))
    x = rng.normal(size=(17, 3)).astype(np.float32)
    pool = StreamPool(model, device=device)
    stream = pool.open()
    streamed = np.concatenate([stream.step(c) for c in chunks_of(x, chunking, rng)])
    one_shot = rt.predict(model, x)
    expected = reference.predict(net, [x])[0]
    assert np.abs(streamed - expected).max() <= ATOL_FLOAT32
    np.testing.assert_allclose(streamed, one_shot, rtol=0, atol=1e-6)


@pytest.mark.parametrize("ragged", [True, False], ids=["ragged", "plain"])
@pytest.mark.parametrize("mode", ["sequence", "last"])
def test_batched_steps_with_their_own_chunk_lengths(tmp_path, rng, ragged, mode):
    net, model = export(tmp_path, stacked(mode=mode), ragged=ragged)
    pool = StreamPool(model, page_size=3)  # several pages
    xs = [rng.normal(size=(int(rng.integers(5, 25)), 3)).astype(np.float32) for _ in range(8)]
    streams = [pool.open() for _ in xs]
    positions = [0] * len(xs)
    outputs: list[list[np.ndarray]] = [[] for _ in xs]
    while any(p < len(x) for p, x in zip(positions, xs)):
        subset = [k for k in range(len(xs)) if positions[k] < len(xs[k]) and rng.random() < 0.7]
        chunks = {}
        for k in subset:
            n = int(rng.integers(1, 5))
            chunks[streams[k]] = xs[k][positions[k] : positions[k] + n]
            positions[k] += len(chunks[streams[k]])
        if not chunks:
            continue
        if len(chunks) == 1 and rng.random() < 0.5:
            (s, c), = chunks.items()
            result = {s: s.step(c)}
        else:
            result = pool.step(chunks)
        for k in subset:
            outputs[k].append(result[streams[k]])
    expected = reference.predict(net, xs)
    for k, x in enumerate(xs):
        got = np.concatenate(outputs[k]) if mode == "sequence" else outputs[k][-1]
        assert np.abs(got - expected[k]).max() <= ATOL_FLOAT32


def test_state_round_trip_is_bit_exact_and_reset_restores_the_initial_state(tmp_path, rng):
    _, model = export(tmp_path, stacked())
    pool = StreamPool(model)
    a, b = pool.open(), pool.open()
    x = rng.normal(size=(9, 3)).astype(np.float32)
    a.step(x[:4])
    saved = a.get_state()
    assert set(saved) == {"lstm_1", "lstm_2"} and saved["lstm_1"]["HiddenState"].dtype == np.float32
    b.set_state(saved)  # resume the conversation on another stream (or after a restart)
    np.testing.assert_array_equal(a.step(x[4:]), b.step(x[4:]))
    a.reset()
    fresh = pool.open()
    np.testing.assert_array_equal(a.step(x), fresh.step(x))
    np.testing.assert_array_equal(fresh.get_state()["lstm_1"]["HiddenState"], a.get_state()["lstm_1"]["HiddenState"])
    initial = pool.open().get_state()
    np.testing.assert_array_equal(initial["lstm_1"]["HiddenState"], np.full(8, 0.1, np.float32))


def test_bad_input_leaves_every_state_untouched(tmp_path, rng):
    _, model = export(tmp_path, stacked())
    pool = StreamPool(model)
    a, b = pool.open(), pool.open()
    a.step(rng.normal(size=(3, 3)))
    before = [s.get_state() for s in (a, b)]
    bad_calls = [
        (lambda: a.step(np.zeros((2, 4))), "sequence for stream"),
        (lambda: a.step(np.zeros((3, 2))), "it looks like MATLAB's features-by-time layout"),
        (lambda: a.step(np.zeros((0, 3))), "is empty"),
        (lambda: a.step([[np.nan, 0, 0]]), "contains NaN or Inf"),
        (lambda: a.step(np.array([["x", "y", "z"]])), "expected numbers"),
        (lambda: pool.step({a: np.zeros((2, 3)), b: np.zeros((2, 5))}), f"stream {b.id} has 5 features"),
        (lambda: pool.step({}), "non-empty {stream: chunk} mapping"),
        (lambda: pool.step({"a": np.zeros((2, 3))}), "keys must be streams"),
        (lambda: a.set_state({"lstm_1": {"HiddenState": np.zeros(8), "CellState": np.zeros(8)}}), "expected layers ['lstm_1', 'lstm_2']"),
        (lambda: a.set_state({"lstm_1": {"HiddenState": np.zeros(7), "CellState": np.zeros(8)},
                              "lstm_2": {"HiddenState": np.zeros(6), "CellState": np.zeros(6)}}), "lstm_1.HiddenState must be 8 finite numbers, got 7"),
    ]
    for call, message in bad_calls:
        with pytest.raises(rt.RuntimeInputError, match=re.escape(message)):
            call()
    after = [s.get_state() for s in (a, b)]
    for x, y in zip(before, after):
        for layer in x:
            for key in x[layer]:
                np.testing.assert_array_equal(x[layer][key], y[layer][key])


def test_closed_and_foreign_streams(tmp_path):
    _, model = export(tmp_path, stacked())
    pool, other = StreamPool(model), StreamPool(model)
    s = pool.open()
    row = s.slot
    s.close()
    assert len(pool) == 0 and s.closed
    for call in (lambda: s.step(np.zeros((1, 3))), lambda: s.get_state(), lambda: s.reset(), lambda: pool.step({s: np.zeros((1, 3))}), s.close):
        with pytest.raises(StreamError, match=f"stream {s.id} is closed"):
            call()
    foreign = other.open()
    with pytest.raises(StreamError, match="does not belong to this StreamPool"):
        pool.step({foreign: np.zeros((1, 3))})
    reused = pool.open()  # the slot is recycled, starting from the initial state
    assert reused.slot == row and reused.id != s.id and not reused.closed and s.closed
    for call in (lambda: s.step(np.zeros((1, 3))), lambda: pool.step({s: np.zeros((1, 3)), reused: np.zeros((1, 3))}),
                 lambda: pool.step_many([reused, s], np.zeros((2, 1, 3), np.float32))):
        with pytest.raises(StreamError, match=f"stream {s.id} is closed"):  # the old handle never reaches the new stream's row
            call()


def test_pool_refuses_networks_that_cannot_stream(tmp_path):
    net = initialize(stacked(), seed=0)
    exportONNXNetwork(net, tmp_path / "plain.onnx")
    with pytest.raises(StreamError, match="rebuild it stateful"):
        StreamPool(rt.load(tmp_path / "plain.onnx", "cpu"))


@pytest.mark.parametrize("device", ["host", "cpu"], ids=["numpy-pages", "ortvalue-pages"])
def test_threads_share_one_network_without_crossing_state(tmp_path, device):
    """8 threads, each with its own streams on one shared pool (pages shared across threads),
    interleaving opens, single and batched steps."""
    net, model = export(tmp_path, stacked())
    pool = StreamPool(model, page_size=4, device=device)
    rng = np.random.default_rng(0)
    data = [[rng.normal(size=(int(rng.integers(20, 40)), 3)).astype(np.float32) for _ in range(3)] for _ in range(8)]
    results: dict[tuple[int, int], np.ndarray] = {}
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def worker(t: int) -> None:
        try:
            local = np.random.default_rng(t)
            streams = [pool.open() for _ in data[t]]
            outs = [[] for _ in streams]
            pos = [0] * len(streams)
            barrier.wait()
            while any(p < len(x) for p, x in zip(pos, data[t])):
                chunks = {}
                for k, s in enumerate(streams):
                    if pos[k] < len(data[t][k]):
                        n = int(local.integers(1, 4))
                        chunks[s] = data[t][k][pos[k] : pos[k] + n]
                        pos[k] += len(chunks[s])
                if len(chunks) > 1 and local.random() < 0.5:
                    for s, y in pool.step(chunks).items():
                        outs[streams.index(s)].append(y)
                else:
                    for s, c in chunks.items():
                        outs[streams.index(s)].append(s.step(c))
            for k in range(len(streams)):
                results[t, k] = np.concatenate(outs[k])
        except BaseException as error:  # collected and re-raised in the main thread
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors, errors
    flat = [x for per_thread in data for x in per_thread]
    expected = reference.predict(net, flat)
    for (t, k), got in results.items():
        assert np.abs(got - expected[3 * t + k]).max() <= ATOL_FLOAT32


@pytest.mark.parametrize("device", ["host", "cpu"], ids=["numpy-pages", "ortvalue-pages"])
def test_writing_a_state_never_touches_its_page_neighbours(tmp_path, rng, device):
    """A thread rewriting stream a's state while stream b, on the same page, steps in this thread:
    b's numbers stay exact (a whole-page read-modify-write on device pages would undo b's steps)."""
    net, model = export(tmp_path, stacked())
    pool = StreamPool(model, page_size=4, device=device)
    a, b = pool.open(), pool.open()
    saved, stop = a.get_state(), threading.Event()

    def rewrite() -> None:
        while not stop.is_set():
            a.set_state(saved)

    x = rng.normal(size=(300, 3)).astype(np.float32)
    writer = threading.Thread(target=rewrite)
    writer.start()
    try:
        ys = [b.step(x[k : k + 1]) for k in range(len(x))]
    finally:
        stop.set()
        writer.join()
    assert np.abs(np.concatenate(ys) - reference.predict(net, [x])[0]).max() <= ATOL_FLOAT32


def test_the_row_copy_graph_is_an_identity_onnx_model():
    """The serialized graph the runtime uses to copy state rows on a device (it may not import onnx to build one)."""
    import onnx
    from onnx import TensorProto, helper

    from lstm2onnx_runtime.streams import _RowCopier

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["rows", "size"])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["rows", "size"])
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "copy_rows", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=7, producer_name="lstm2onnx_runtime")
    onnx.checker.check_model(model, full_check=True)
    assert _RowCopier.MODEL == model.SerializeToString()
    copier = _RowCopier("cpu")
    page = rt._ort.ort.OrtValue.ortvalue_from_numpy(np.zeros((4, 3), np.float32), "cpu", 0)
    values = np.arange(6, dtype=np.float32).reshape(2, 3)
    copier.to_device(values, page.data_ptr() + 3 * 4)  # rows 1 and 2 only
    np.testing.assert_array_equal(page.numpy(), [[0, 0, 0], [0, 1, 2], [3, 4, 5], [0, 0, 0]])


def test_huge_finite_chunks_are_not_mistaken_for_nan(tmp_path, rng):
    """Small chunks are summed in Python, large ones by a BLAS dot that overflows near 1e19: both must let 1e30 through."""
    net, model = export(tmp_path, stacked())
    pool = StreamPool(model)
    x = rng.normal(size=(30, 3)).astype(np.float32)
    x[4, 1] = x[20, 2] = 1e30
    single, group = pool.open(), pool.open_group(3)
    got = np.concatenate([single.step(x[:2]), single.step(x[2:])])  # 6 values, then 84: both checks
    assert np.abs(got - reference.predict(net, [x])[0]).max() <= ATOL_FLOAT32
    out = group.step(np.stack([x, x, x]))
    assert np.abs(out[2] - reference.predict(net, [x])[0]).max() <= ATOL_FLOAT32


def test_pool_device_is_checked(tmp_path):
    _, model = export(tmp_path, stacked())
    with pytest.raises(StreamError, match="device must be 'host', 'cpu' or 'cuda', got 'gpu'"):
        StreamPool(model, device="gpu")


def test_a_stream_cannot_be_advanced_by_two_calls_at_once(tmp_path):
    _, model = export(tmp_path, stacked())
    pool = StreamPool(model)
    s = pool.open()
    pool._busy[s.slot] = 1  # as if another thread were inside s.step
    with pytest.raises(StreamError, match=f"stream {s.id} is already being advanced by another call"):
        s.step(np.zeros((1, 3)))
    with pytest.raises(StreamError, match=f"stream {s.id} is already being advanced by another call"):
        pool.step({s: np.zeros((1, 3))})
    with pytest.raises(StreamError, match=f"stream {s.id} is already being advanced by another call"):
        s.close()
    pool._busy[s.slot] = 0
    assert s.step(np.zeros((1, 3))).shape == (1, 2)


def test_runtime_imports_neither_torch_nor_onnx():
    code = (
        "import sys, lstm2onnx_runtime, lstm2onnx_runtime.cli\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'onnx', 'lstm2onnx'))\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_missing_onnxruntime_says_which_extra_to_install():
    code = "import sys\nsys.modules['onnxruntime'] = None\nimport lstm2onnx_runtime\n"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode != 0
    # the runtime is not on a package index: the hint names onnxruntime itself and the install from a checkout
    assert "pip install onnxruntime (or onnxruntime-gpu" in proc.stderr and "pip install './runtime[cpu]'" in proc.stderr


@pytest.mark.parametrize("device", ["host", "cpu"], ids=["numpy-pages", "ortvalue-pages"])
@pytest.mark.parametrize("mode", ["sequence", "last"])
def test_groups_and_step_many(tmp_path, rng, device, mode):
    """A group steps through pre-bound bindings; stepping a member alone, or a mixed list, stays exact."""
    net, model = export(tmp_path, stacked(mode=mode))
    pool = StreamPool(model, page_size=5, device=device)
    group = pool.open_group(6)
    loose = [pool.open() for _ in range(3)]
    n = 6 + 3
    xs = rng.normal(size=(n, 12, 3)).astype(np.float32)
    outs: list[list[np.ndarray]] = [[] for _ in range(n)]

    def keep(k, y):
        outs[k].append(y if mode == "sequence" else y[None])

    for t0, t1 in ((0, 2), (2, 3), (3, 7), (7, 9), (9, 12)):
        if t0 == 3:  # member 2 steps alone: its parity leaves the group's; the group must still be exact
            keep(2, group.streams[2].step(xs[2, t0:t1]))
            others = [k for k in range(6) if k != 2]
            for k, y in zip(others, pool.step_many([group.streams[k] for k in others], xs[others, t0:t1])):
                keep(k, y)
        else:
            for k, y in enumerate(group.step(xs[:6, t0:t1])):
                keep(k, y)
        for j, y in enumerate(pool.step_many(loose, xs[6:, t0:t1])):
            keep(6 + j, y)
    expected = reference.predict(net, list(xs))
    for k in range(n):
        got = np.concatenate(outs[k]) if mode == "sequence" else outs[k][-1][0]
        assert np.abs(got - expected[k]).max() <= ATOL_FLOAT32


def test_group_with_ragged_chunk_lengths(tmp_path, rng):
    net, model = export(tmp_path, stacked())
    group = StreamPool(model).open_group(4)
    xs = [rng.normal(size=(L, 3)).astype(np.float32) for L in (5, 2, 7, 3)]
    X = np.zeros((4, 7, 3), np.float32)
    for k, x in enumerate(xs):
        X[k, : len(x)] = x
    y = group.step(X, lengths=[5, 2, 7, 3])
    for k, x in enumerate(xs):
        assert np.abs(y[k, : len(x)] - reference.predict(net, [x])[0]).max() <= ATOL_FLOAT32
    with pytest.raises(StreamError, match="lengths must be 4 integers from 1 to 7"):
        group.step(X, lengths=[5, 2, 8, 3])
    with pytest.raises(StreamError, match=r"expected a \[4, time, 3\] array"):
        group.step(X[:3])
    group.streams[1].close()
    with pytest.raises(StreamError, match=f"stream {group.streams[1].id} is closed"):
        group.step(X)


def test_group_rejects_nan_without_moving(tmp_path, rng):
    _, model = export(tmp_path, stacked())
    group = StreamPool(model).open_group(3)
    X = rng.normal(size=(3, 2, 3)).astype(np.float32)
    group.step(X)
    before = [s.get_state()["lstm_2"]["CellState"] for s in group.streams]
    bad = X.copy()
    bad[1, 1, 2] = np.nan
    with pytest.raises(rt.RuntimeInputError, match=re.escape("StreamGroup.step contains NaN or Inf (sequence 2, time step 2, feature 3)")):
        group.step(bad)
    group.streams[0].step(X[0])  # desynchronize one member, then the slow path must check too
    with pytest.raises(rt.RuntimeInputError, match="contains NaN or Inf"):
        group.step(bad)
    for s, b in zip(group.streams[1:], before[1:]):
        np.testing.assert_array_equal(s.get_state()["lstm_2"]["CellState"], b)
    with pytest.raises(rt.RuntimeInputError, match=re.escape("StreamGroup.step: the batch is empty (shape (3, 0, 3))")):
        group.step(np.zeros((3, 0, 3), np.float32))


def test_public_iobinding_path_gives_the_same_numbers(tmp_path, rng):
    """Without onnxruntime's bound C++ session (another onnxruntime version), the public API path is used."""
    _, model = export(tmp_path, stacked())
    fast, public = StreamPool(model), StreamPool(model)
    public._inner = None
    a, b = fast.open(), public.open()
    ga, gb = fast.open_group(2), public.open_group(2)
    x = rng.normal(size=(6, 3)).astype(np.float32)
    np.testing.assert_array_equal(a.step(x), b.step(x))
    np.testing.assert_array_equal(ga.step(np.stack([x, x])), gb.step(np.stack([x, x])))
