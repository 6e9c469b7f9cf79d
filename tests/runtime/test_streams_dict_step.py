"""``StreamPool.step({stream: chunk})``: the stacked path (float32 chunks of one length, what a serving loop sends)
gives exactly what the per-chunk checked path gives, and anything else still goes through the per-chunk checks.

Tolerance: 1e-5 against the float64 reference; the two paths must agree bit for bit.
"""

from __future__ import annotations

import re
import weakref

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



@pytest.mark.parametrize("device", ["host", "cpu"], ids=["numpy-pages", "ortvalue-pages"])
def test_the_same_streams_again_and_rows_in_order_equal_gathered_rows(model, rng, device):
    """pool.step keeps its last set of streams (a repeated set costs no per-stream work) and steps streams on
    contiguous rows of one page through pre-bound rows; streams on every other row, given out of order, gather
    their rows. Both agree bit for bit, also after a member stepped alone or was closed, and match the reference."""
    layers, net = model
    fast, slow = StreamPool(net, page_size=8, device=device), StreamPool(net, page_size=16, device=device)
    a, b = [fast.open() for _ in range(6)], [slow.open() for _ in range(12)][::2]  # b: rows 0, 2, ..., 10
    shuffled = [5, 0, 3, 1, 4, 2]  # the order the slow pool is given its streams in
    xs = rng.standard_normal((6, 11, 3)).astype(np.float32)
    position = [0] * 6
    outputs: list[list[np.ndarray]] = [[] for _ in range(6)]

    def keep(k, got, want, steps):
        np.testing.assert_array_equal(got, want)
        outputs[k].append(got)
        position[k] += steps

    def both(members, steps):
        chunks = {k: xs[k, position[k] : position[k] + steps] for k in members}
        got = fast.step({a[k]: chunks[k] for k in sorted(members)})
        want = slow.step({b[k]: chunks[k] for k in sorted(members, key=shuffled.index)})
        for k in members:
            keep(k, got[a[k]], want[b[k]], steps)

    for _ in range(3):  # the same set three times: the first call keeps it, the others reuse it
        both(range(6), 1)
    kept = fast._last_set[1]
    assert kept.block == (0, 0) and kept._bound is not None and slow._last_set[1].block is None
    x = xs[2, position[2] : position[2] + 2]
    keep(2, a[2].step(x), b[2].step(x), 2)  # its rows leave the set's parity: the next step gathers them
    both(range(6), 1)
    assert fast._last_set[1] is kept
    both([1, 2, 3], 2)  # contiguous rows again, from row 1
    assert fast._last_set[1].block == (0, 1)
    both(range(6), 1)
    a[4].close()
    b[4].close()
    with pytest.raises(rt.StreamError, match=f"stream {a[4].id} is closed"):
        fast.step({s: xs[0, :1] for s in a})
    both([0, 1, 2, 3, 5], 2)
    for k in range(6):
        expected = reference.predict(layers, [xs[k, : position[k]]])[0]
        out = np.concatenate(outputs[k]) if outputs[k][0].ndim == 2 else outputs[k][-1]
        assert np.abs(out - expected).max() <= ATOL_FLOAT32


def test_a_released_group_page_is_not_kept_by_the_last_set(model, rng):
    """The last set's bindings point into its page: releasing the page (a group's last member closed) drops them."""
    layers, net = model
    pool = StreamPool(net)
    x = rng.standard_normal((4, 2, 3)).astype(np.float32)
    group = pool.open_group(4)
    page = weakref.ref(pool._pages[int(group.block[0])])
    pool.step({s: x[k] for k, s in enumerate(group.streams)})
    assert pool._last_set[1].block == group.block
    for s in group.streams:
        s.close()
    assert page() is None and pool.allocated_pages == 0
    again = pool.open_group(4)  # the released slots and page index, a fresh page
    got = pool.step({s: x[k] for k, s in enumerate(again.streams)})
    expected = reference.predict(layers, list(x))
    for k, s in enumerate(again.streams):
        assert np.abs(got[s] - expected[k]).max() <= ATOL_FLOAT32
    for s in again.streams:
        s.close()
    first, second = pool.open_group(2), pool.open_group(2)  # the second on the other half of the released slots
    assert second.block == (len(pool._pages) - 1, 0)
    members = first.streams + second.streams
    got = pool.step({s: x[k] for k, s in enumerate(members)})  # two pages: gathered
    got.update(pool.step({s: x[k, :1] for k, s in enumerate(second.streams, 2)}))  # one block again
    for k, s in enumerate(members):
        want = reference.predict(layers, [np.concatenate([x[k], x[k, :1]]) if k >= 2 else x[k]])[0]
        assert np.abs(got[s] - (want[2:] if k >= 2 and want.ndim == 2 else want)).max() <= ATOL_FLOAT32


@pytest.mark.parametrize("device", ["host", "cpu"], ids=["numpy-pages", "ortvalue-pages"])
def test_a_shuffled_block_of_rows_is_stepped_in_row_order_and_answered_in_the_callers_order(model, rng, device):
    """Streams on contiguous rows given in another order (a serving loop's streams, in arrival order) take the
    pre-bound block path: sorted by row, stepped, and the outputs put back in the caller's order. Scattered rows
    are gathered. Both equal stepping each stream alone, bit for bit."""
    layers, net = model
    pool, alone = StreamPool(net, page_size=16, device=device), StreamPool(net, page_size=16, device=device)
    streams, singles = [pool.open() for _ in range(10)], [alone.open() for _ in range(10)]
    xs = rng.standard_normal((10, 6, 3)).astype(np.float32)
    for t, members in enumerate([[3, 0, 2, 1], [9, 5, 7, 6, 8, 4], [8, 1, 4], [0, 9, 2, 7, 3]]):
        chunks = {streams[k]: xs[k, t : t + 1] for k in members}
        got = pool.step(chunks)
        assert list(got) == [streams[k] for k in members]  # the caller's order
        block = pool._last_set[1].block
        assert (block is not None) == (t < 2), (t, block)  # the first two are shuffled blocks of rows, the others scattered
        for k in members:
            np.testing.assert_array_equal(got[streams[k]], singles[k].step(xs[k, t : t + 1]))
    # step_many: outputs in the caller's order, and a bad chunk is named by the caller's position
    order = [4, 2, 3]
    X = xs[order, 4:6].copy()
    out = pool.step_many([streams[k] for k in order], X)
    for j, k in enumerate(order):
        np.testing.assert_array_equal(out[j], singles[k].step(xs[k, 4:6]))
    X[1, 0, 2] = np.nan
    before = streams[2].get_state()
    with pytest.raises(rt.RuntimeInputError, match=re.escape("sequence 2, time step 1, feature 3")):
        pool.step_many([streams[k] for k in order], X)
    np.testing.assert_equal(streams[2].get_state(), before)
    with pytest.raises(rt.StreamError, match=f"stream {streams[3].id} is already being advanced"):  # given twice
        pool.step_many([streams[3], streams[2], streams[3]], X)


def test_buffers_of_a_large_transient_step_are_not_kept(model, rng, monkeypatch):
    """Buffers bound for a gathered step or a block of a transient group are kept for the next call of that shape,
    unless they are larger than KEPT_BYTES (a one-off large step_many must not hold its memory). Either way the
    outputs equal stepping each stream alone."""
    _, net = model
    pool, alone = StreamPool(net, page_size=16), StreamPool(net, page_size=16)
    streams, singles = [pool.open() for _ in range(8)], [alone.open() for _ in range(8)]

    def both(members, X):
        got = pool.step_many([streams[k] for k in members], X)
        for j, k in enumerate(members):
            np.testing.assert_array_equal(got[j], singles[k].step(X[j]))

    scattered, block = [0, 2, 4, 6], [0, 1, 2, 3]
    small = rng.standard_normal((4, 2, 3)).astype(np.float32)
    both(scattered, small)
    both(block, small)
    assert list(pool._gathers) == [(4, 2)] and len(pool._blocks) == 1
    monkeypatch.setattr(rt.streams, "KEPT_BYTES", 4 * 50 * 3 * 4 - 1)  # below the 50-step chunk's own bytes
    large = rng.standard_normal((4, 50, 3)).astype(np.float32)
    both(scattered, large)
    both(block, large)
    assert list(pool._gathers) == [(4, 2)] and len(pool._blocks) == 1  # nothing new kept


def test_spare_gather_buffers_are_capped_in_all(model, monkeypatch):
    """Calls that gather at the same time each take their own buffers; given back, they are kept as spares for
    later calls only while all spares stay within KEPT_GATHER_BYTES, and the pool's count of those bytes follows
    every take, give-back and eviction of a shape."""
    _, net = model
    pool = StreamPool(net, page_size=16)
    one = pool._take_gather(4, 2)
    pool._give_back_gather(one)
    monkeypatch.setattr(rt.streams, "KEPT_GATHER_BYTES", 2 * one.nbytes)  # room for two spares
    taken = [pool._take_gather(4, 2) for _ in range(3)]  # three calls at once: the spare, then two new ones
    assert taken[0] is one and pool._gather_bytes == 0
    for gather in taken:
        pool._give_back_gather(gather)
    assert pool._gathers[(4, 2)] == taken[:2] and pool._gather_bytes == 2 * one.nbytes  # the third is not kept
    assert pool._take_gather(4, 2) is taken[1] and pool._gather_bytes == one.nbytes
    other = pool._take_gather(2, 1)  # another shape over the budget makes room by dropping the old shape's spare
    monkeypatch.setattr(rt.streams, "KEPT_GATHER_BYTES", one.nbytes + other.nbytes - 1)
    pool._give_back_gather(other)
    assert pool._gathers[(4, 2)] == [] and pool._gathers[(2, 1)] == [other] and pool._gather_bytes == other.nbytes
    monkeypatch.setattr(rt.streams, "KEPT_BLOCKS", 2)  # a new shape past KEPT_BLOCKS evicts the oldest, and its bytes
    pool._give_back_gather(pool._take_gather(3, 1))
    assert list(pool._gathers) == [(2, 1), (3, 1)]
    assert pool._gather_bytes == other.nbytes + pool._gathers[(3, 1)][0].nbytes


@pytest.mark.parametrize("members", [[0, 1, 2, 3], [3, 1, 0, 2], [0, 2]], ids=["block", "shuffled-block", "scattered"])
def test_a_stream_closed_between_reading_its_row_and_stepping_is_refused(model, members):
    """A transient group reads its streams' rows without the lock; if one of them is closed before the group is
    claimed (another thread), and a new stream takes over its row, the step is refused and the new stream's state
    is untouched."""
    _, net = model
    pool = StreamPool(net, page_size=8)
    streams = [pool.open() for _ in range(4)]
    chosen = [streams[k] for k in members]
    group = pool._transient_group("StreamPool.step_many", chosen, "items")
    victim = chosen[1]
    victim.close()
    newcomer = pool.open()  # on the victim's row
    before = newcomer.get_state()
    with pytest.raises(rt.StreamError, match=f"stream {victim.id} is closed"):
        pool._step_group(group, np.ones((len(chosen), 2, 3), np.float32), None, "StreamPool.step_many")
    np.testing.assert_equal(newcomer.get_state(), before)
    with pytest.raises(rt.StreamError, match=f"stream {victim.id} is closed"):  # and a new call with the old handle
        pool.step_many(chosen, np.ones((len(chosen), 2, 3), np.float32))


@pytest.mark.parametrize("members", [[0, 3, 0], [1, 5, 6, 1]], ids=["scattered", "scattered-wider"])
def test_a_mapping_that_repeats_a_key_is_refused(model, members):
    """A dict's keys are distinct, so pool.step skips the duplicate check for them; any other Mapping is checked
    (its iteration could give a stream twice), and the repeated stream is named with no state changed."""
    from collections.abc import Mapping

    class Repeating(Mapping):
        def __init__(self, keys, chunk):
            self.keys_, self.chunk = keys, chunk

        def __getitem__(self, key):
            return self.chunk

        def __iter__(self):
            return iter(self.keys_)

        def __len__(self):
            return len(self.keys_)

    _, net = model
    pool = StreamPool(net, page_size=8)
    streams = [pool.open() for _ in range(8)]
    before = [s.get_state() for s in streams]
    chunks = Repeating([streams[k] for k in members], np.ones((2, 3), np.float32))
    with pytest.raises(rt.StreamError, match=f"stream {streams[members[0]].id} is already being advanced"):
        pool.step(chunks)
    for s, state in zip(streams, before):
        np.testing.assert_equal(s.get_state(), state)
    got = pool.step(dict(zip([streams[k] for k in members], [np.ones((2, 3), np.float32)] * len(members))))
    assert len(got) == len(set(members))


@pytest.mark.parametrize("members", [[0, 1, 2], [2, 0, 1], [0, 3, 5]], ids=["block", "shuffled-block", "scattered"])
def test_step_many_ignores_what_lies_past_each_length(model, rng, members):
    """``step_many(streams, X, lengths)``: the steps past a stream's length are padding, never read, so NaN, Inf or
    junk there changes nothing (bit for bit the same as stepping each stream alone by its own steps), while a NaN
    inside a stream's steps is still refused, by position, with no state moved."""
    _, net = model
    pool, alone = StreamPool(net, page_size=8), StreamPool(net, page_size=8)
    streams, singles = [pool.open() for _ in range(6)], [alone.open() for _ in range(6)]
    X = rng.standard_normal((3, 4, 3)).astype(np.float32)
    lengths = np.array([4, 2, 1])
    X[1, 2:] = np.nan
    X[2, 1] = np.inf
    X[2, 2:] = 3e38
    out = pool.step_many([streams[k] for k in members], X, lengths)
    for j, k in enumerate(members):
        want = singles[k].step(X[j, : lengths[j]])
        got = out[j, : lengths[j]] if out.ndim == 3 else out[j]
        np.testing.assert_array_equal(got, want)
        if out.ndim == 3:
            assert not out[j, lengths[j]:].any()  # zero beyond each length
    X[1, 1, 2] = np.nan
    before = [streams[k].get_state() for k in members]
    with pytest.raises(rt.RuntimeInputError, match=re.escape("sequence 2, time step 2, feature 3")):
        pool.step_many([streams[k] for k in members], X, lengths)
    for k, state in zip(members, before):
        np.testing.assert_equal(streams[k].get_state(), state)
