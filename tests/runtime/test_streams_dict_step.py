"""``StreamPool.step({stream: chunk})``: the stacked path (float32 chunks of one length, what a serving loop sends)
gives exactly what the per-chunk checked path gives, and anything else still goes through the per-chunk checks.

Tolerance: 1e-5 against the float64 reference; the two paths must agree bit for bit.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from conftest import ATOL_FLOAT32

import lstm2onnx_runtime as rt
from lstm2onnx import exportONNXNetwork, fullyConnectedLayer, initialize, lstmLayer, reference, sequenceInputLayer
from lstm2onnx_runtime import StreamPool


def checked_only(pool: StreamPool) -> StreamPool:
    """The same pool with the stacked path switched off: every step goes through the per-chunk checks."""
    pool._stacked = lambda chunks: None
    return pool


@pytest.fixture(params=["sequence", "last"])
def model(request, tmp_path):
    layers = initialize([sequenceInputLayer(3), lstmLayer(7, HiddenState=np.full(7, 0.3), OutputMode=request.param),
                         fullyConnectedLayer(2)], seed=4)
    exportONNXNetwork(layers, tmp_path / "m.onnx", stateful=True)
    return layers, rt.load(tmp_path / "m.onnx", "cpu")


@pytest.mark.parametrize("device", ["host", "cpu"], ids=["numpy-pages", "ortvalue-pages"])
def test_stacked_steps_equal_checked_steps_and_the_reference(model, rng, device):
    layers, net = model
    fast, slow = StreamPool(net, page_size=5, device=device), checked_only(StreamPool(net, page_size=5, device=device))
    n = 12  # three pages: subsets span one page or several
    a, b = [fast.open() for _ in range(n)], [slow.open() for _ in range(n)]
    xs = rng.standard_normal((n, 10, 3)).astype(np.float32)
    position = np.zeros(n, int)
    outputs = [[] for _ in range(n)]
    while (position < 10).any():
        live = np.flatnonzero(position < 10)
        chosen = rng.choice(live, size=int(rng.integers(1, len(live) + 1)), replace=False)
        steps = int(min(rng.integers(1, 4), *(10 - position[chosen])))
        got = fast.step({a[k]: xs[k, position[k] : position[k] + steps] for k in chosen})
        want = slow.step({b[k]: xs[k, position[k] : position[k] + steps] for k in chosen})
        for k in chosen:
            np.testing.assert_array_equal(got[a[k]], want[b[k]])
            outputs[k].append(got[a[k]])
        position[chosen] += steps
    expected = reference.predict(layers, list(xs))
    for k in range(n):
        out = np.concatenate(outputs[k]) if outputs[k][0].ndim == 2 else outputs[k][-1]
        assert np.abs(out - expected[k]).max() <= ATOL_FLOAT32


def test_a_nan_chunk_is_named_and_nothing_moves(model, rng):
    _, net = model
    pool = StreamPool(net)
    streams = [pool.open() for _ in range(4)]
    before = [s.get_state() for s in streams]
    chunks = {s: rng.standard_normal((2, 3)).astype(np.float32) for s in streams}
    chunks[streams[2]][1, 0] = np.nan
    with pytest.raises(rt.RuntimeInputError, match=re.escape(f"sequence for stream {streams[2].id} contains NaN or Inf")):
        pool.step(chunks)
    for s, state in zip(streams, before):
        for layer, values in s.get_state().items():
            np.testing.assert_array_equal(values["HiddenState"], state[layer]["HiddenState"])


def test_other_chunks_take_the_checked_path(model, rng):
    """float64 arrays, lists and a wrong feature count: converted or refused per chunk, as before."""
    _, net = model
    fast, slow = StreamPool(net), checked_only(StreamPool(net))
    a, b = [fast.open() for _ in range(2)], [slow.open() for _ in range(2)]
    x = rng.standard_normal((2, 3))
    got = fast.step({a[0]: x, a[1]: x.tolist()})
    want = slow.step({b[0]: x.astype(np.float32), b[1]: x.astype(np.float32)})
    for s, t in zip(a, b):
        np.testing.assert_array_equal(got[s], want[t])
    with pytest.raises(rt.RuntimeInputError, match=f"sequence for stream {a[1].id} has 4 features per time step, expected 3"):
        fast.step({a[0]: np.zeros((2, 3), np.float32), a[1]: np.zeros((2, 4), np.float32)})
