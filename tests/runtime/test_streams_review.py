"""StreamPool under concurrency: threads stepping changing sets of streams (row order, shuffled blocks, rows
scattered over several pages, with and without per-stream lengths), closing streams and opening new ones on the
freed rows, while another thread keeps claiming random streams (some closed) with calls that must fail without
moving anything. Every output is compared with stepping the same stream alone in a second pool.

Tolerance: 1e-6 between the two pools (the same float32 graph; a crossed or lost state is off by far more).
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

import lstm2onnx_runtime as rt
from lstm2onnx import exportONNXNetwork, fullyConnectedLayer, initialize, lstmLayer, sequenceInputLayer
from lstm2onnx_runtime import StreamError, StreamPool

STREAMS, WORKERS, ROUNDS = 24, 4, 50
TOLERANCE = 1e-6


@pytest.fixture(params=[("sequence", True), ("last", False)], ids=["sequence-ragged", "last-plain"])
def model(request, tmp_path):
    """A ragged graph (sequence_lengths input) with sequence output, and a plain one (none: different chunk lengths
    step per length, _step_by_length) with the last step's output."""
    mode, ragged = request.param
    layers = initialize([sequenceInputLayer(3), lstmLayer(6, HiddenState=np.full(6, 0.2), CellState=np.full(6, -0.1)),
                         lstmLayer(5, OutputMode=mode), fullyConnectedLayer(2)], seed=7)
    exportONNXNetwork(layers, tmp_path / "m.onnx", stateful=True, ragged=ragged)
    return mode == "sequence", rt.load(tmp_path / "m.onnx", "cpu")


class Entry:
    """A stream of the pool under test and its twin stepped alone in the reference pool; the lock says which test
    thread steps it now (the pool's own busy flags are what the interfering thread contends for)."""

    def __init__(self, pool: StreamPool, alone: StreamPool) -> None:
        self.lock, self.stream, self.twin = threading.Lock(), pool.open(), alone.open()


def run_threads(targets) -> None:
    errors: list[BaseException] = []

    def guarded(target, seed):
        try:
            target(seed)
        except BaseException as error:  # re-raised in the main thread
            errors.append(error)

    threads = [threading.Thread(target=guarded, args=(t, seed)) for seed, t in enumerate(targets)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    if errors:
        raise errors[0]


@pytest.mark.parametrize("device", ["host", "cpu"], ids=["numpy-pages", "ortvalue-pages"])
def test_threads_stepping_closing_and_interfering_match_streams_stepped_alone(model, device):
    sequence_output, net = model
    pool, alone = StreamPool(net, page_size=5, device=device), StreamPool(net, page_size=64)
    entries = [Entry(pool, alone) for _ in range(STREAMS)]
    done = threading.Event()
    counts = {"steps": 0, "refused": 0, "closed": 0, "interfered": 0}

    def call_until_claimed(call):
        """The interfering thread may hold one of the streams for a moment: refused, nothing moved; try again."""
        while True:
            try:
                return call()
            except StreamError as error:
                assert "already being advanced" in str(error), error
                counts["refused"] += 1

    def worker(seed: int) -> None:
        rng = np.random.default_rng(seed)
        last: list[int] = []
        for _ in range(ROUNDS):
            kind = rng.integers(4)
            if kind == 0 and last:  # the same set again (pool.step's kept set)
                chosen = last
            elif kind == 1:  # a block of neighbouring entries (first opened on contiguous rows), shuffled
                start = int(rng.integers(STREAMS - 6))
                chosen = rng.permutation(np.arange(start, start + int(rng.integers(2, 7)))).tolist()
            else:  # anything: scattered over the pages
                chosen = rng.choice(STREAMS, size=int(rng.integers(1, 9)), replace=False).tolist()
            held = [k for k in chosen if entries[k].lock.acquire(blocking=False)]
            try:
                if held:
                    step(rng, held, kind)
                last = held
            finally:
                for k in held:
                    entries[k].lock.release()

    def step(rng, held: list[int], kind: int) -> None:
        if rng.random() < 0.1:  # close one stream, open a new one on a freed row
            entry = entries[held[0]]
            entry.stream.close()
            entry.twin.close()
            entry.stream, entry.twin = pool.open(), alone.open()
            counts["closed"] += 1
            return
        n, steps = len(held), int(rng.integers(1, 4))
        X = rng.standard_normal((n, steps, 3)).astype(np.float32)
        lengths = rng.integers(1, steps + 1, size=n) if rng.random() < 0.4 else np.full(n, steps)
        streams = [entries[k].stream for k in held]
        how = rng.integers(3) if kind else 0
        if n == 1 and how == 2:
            got = [call_until_claimed(lambda: streams[0].step(X[0, : lengths[0]]))]
        elif how == 1 or (how == 2 and (lengths != steps).any()):
            out = call_until_claimed(lambda: pool.step_many(streams, X, lengths.astype(np.int32)))
            if sequence_output:  # zero beyond each stream's length
                assert all(not out[j, L:].any() for j, L in enumerate(lengths))
            got = [out[j, :L] if sequence_output else out[j] for j, L in enumerate(lengths)]
        else:
            chunks = {s: X[j, : lengths[j]] for j, s in enumerate(streams)}
            answer = call_until_claimed(lambda: pool.step(chunks))
            assert list(answer) == streams  # the caller's order
            got = list(answer.values())
        for j, k in enumerate(held):
            want = entries[k].twin.step(X[j, : lengths[j]])
            np.testing.assert_allclose(got[j], want, rtol=0, atol=TOLERANCE, err_msg=f"stream {k} of {held}")
        counts["steps"] += 1

    def interfere(seed: int) -> None:
        """Claims random streams (open, busy in a worker, or closed handles) with a NaN chunk: refused before or
        after the claim, never moving a stream."""
        rng = np.random.default_rng(seed)
        while not done.is_set():
            streams = [entries[k].stream for k in rng.choice(STREAMS, size=int(rng.integers(1, 6)), replace=False)]
            if rng.random() < 0.3:  # streams closed by now
                streams[0] = pool.open()
                streams[0].close()
            X = np.ones((len(streams), 2, 3), np.float32)
            X[-1, -1, -1] = np.nan
            try:
                pool.step_many(streams, X)
            except (StreamError, rt.RuntimeInputError):
                counts["interfered"] += 1
            else:
                raise AssertionError("a NaN chunk was stepped")

    def workers(seed: int) -> None:
        try:
            run_threads([worker] * WORKERS)
        finally:
            done.set()

    run_threads([workers, interfere])
    assert counts["steps"] > WORKERS * ROUNDS // 2 and counts["closed"] and counts["interfered"], counts
    for k, entry in enumerate(entries):  # the whole state, after everything
        mine, theirs = entry.stream.get_state(), entry.twin.get_state()
        for layer in mine:
            for key in mine[layer]:
                np.testing.assert_allclose(mine[layer][key], theirs[layer][key], rtol=0, atol=TOLERANCE, err_msg=f"stream {k}")
    assert len(pool) == STREAMS


def test_a_large_dict_step_is_not_kept_by_the_last_set(model, monkeypatch):
    """pool.step keeps its last set of streams as a transient group for the next call: bindings larger than
    KEPT_BYTES must not stay with it (nor in the pool's blocks); a small step's bindings do."""
    _, net = model
    pool = StreamPool(net, page_size=16)
    streams = [pool.open() for _ in range(4)]
    monkeypatch.setattr(rt.streams, "KEPT_BYTES", 4 * 50 * 3 * 4 - 1)  # below the 50-step chunk's own bytes
    X = np.ones((4, 50, 3), np.float32)
    for members in ([0, 1, 2, 3], [2, 0, 3, 1]):  # a block of rows in row order, shuffled
        pool.step({streams[k]: X[k] for k in members})
        assert pool._last_set[1].block is not None and pool._last_set[1]._bound is None and not pool._blocks
    pool.step({s: X[0, :2] for s in streams})
    assert pool._last_set[1]._bound is not None and len(pool._blocks) == 1


def test_a_long_single_step_is_not_kept_by_its_stream(model, rng, monkeypatch):
    """Stream.step keeps its stream's bindings for the next chunk of the same length, unless they are larger than
    KEPT_BYTES (a one-off long chunk); the output is the same either way."""
    _, net = model
    pool, twin = StreamPool(net), StreamPool(net)
    stream, other = pool.open(), twin.open()
    x = rng.standard_normal((50, 3)).astype(np.float32)
    monkeypatch.setattr(rt.streams, "KEPT_BYTES", 50 * 3 * 4 - 1)  # below the 50-step chunk's own bytes
    np.testing.assert_array_equal(stream.step(x), other.step(x))
    assert stream._bound is None
    np.testing.assert_array_equal(stream.step(x[:2]), other.step(x[:2]))
    assert stream._bound is not None and stream._bound.steps == 2


@pytest.mark.parametrize("members", [[0, 1, 2, 3], [3, 1, 0, 2], [0, 2, 5], [7, 1, 4]],
                         ids=["block", "shuffled-block", "scattered", "several-pages"])
@pytest.mark.parametrize("device", ["host", "cpu"], ids=["numpy-pages", "ortvalue-pages"])
def test_streams_of_a_transient_group_are_busy_while_it_steps(model, members, device):
    """While step_many advances its streams (block, gathered rows, rows on several pages), another call on any of
    them (a single step, a close, a set_state) is refused, and they are free again afterwards."""
    _, net = model
    pool = StreamPool(net, page_size=6, device=device)
    streams = [pool.open() for _ in range(8)]
    chosen = [streams[k] for k in members]
    release, refused = pool._release_group, []

    def check_then_release(group):
        for s in chosen:
            for call in (lambda: s.step(np.ones((1, 3), np.float32)), s.close, s.reset):
                with pytest.raises(StreamError, match=f"stream {s.id} is already being advanced"):
                    call()
                refused.append(s)
        release(group)

    pool._release_group = check_then_release
    pool.step_many(chosen, np.ones((len(chosen), 2, 3), np.float32))
    assert len(refused) == 3 * len(chosen)
    for s in chosen:
        assert s.step(np.ones((1, 3), np.float32)).shape[-1] == 2


@pytest.mark.parametrize("device", ["host", "cpu"], ids=["numpy-pages", "ortvalue-pages"])
def test_old_handles_never_step_the_stream_that_took_over_their_row(model, device):
    """One thread steps whatever handles it last saw (a dict step, step_many in and out of row order, a single
    step) while another closes one of them and opens a new stream on its row: until the new stream is handed
    over, every call holding the old handle is refused and the new stream stays at the initial state."""
    _, net = model
    pool = StreamPool(net, page_size=8, device=device)
    current = [pool.open() for _ in range(6)]
    initial = pool.open().get_state()
    done, stepped = threading.Event(), []

    def stepper(seed: int) -> None:
        rng = np.random.default_rng(seed)
        while not done.is_set():
            handles = list(current)
            chosen = [handles[k] for k in rng.permutation(6)[: int(rng.integers(1, 7))]]
            X = rng.standard_normal((len(chosen), 2, 3)).astype(np.float32)
            try:
                if len(chosen) == 1:
                    chosen[0].step(X[0])
                elif rng.random() < 0.5:
                    pool.step({s: x for s, x in zip(chosen, X)})
                else:
                    pool.step_many(chosen, X)
                stepped.append(len(chosen))
            except StreamError as error:
                assert "is closed" in str(error) or "already being advanced" in str(error), error

    def replacer(seed: int) -> None:
        rng = np.random.default_rng(seed)
        try:
            for _ in range(40):
                k = int(rng.integers(6))
                old = current[k]
                row = old.slot
                while True:
                    try:
                        old.close()
                        break
                    except StreamError as error:  # being stepped right now
                        assert "already being advanced" in str(error), error
                new = pool.open()
                assert new.slot == row
                done.wait(0.001)  # let calls holding the old handle run
                np.testing.assert_equal(new.get_state(), initial)
                current[k] = new
        finally:
            done.set()

    run_threads([stepper, replacer])
    assert len(stepped) > 20, len(stepped)
