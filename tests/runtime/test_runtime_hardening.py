"""Runtime hardening (issue 11): leaks, lost outputs, hostile metadata and data files, CLI behaviour.

Numerical tolerance where results are compared: 1e-6 between runtime paths (same float32 graph).
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import lstm2onnx_runtime as rt
from lstm2onnx import exportONNXNetwork, fullyConnectedLayer, initialize, lstmLayer, sequenceInputLayer, softmaxLayer
from lstm2onnx_runtime import StreamError, StreamPool


def _stateful(tmp_path, hidden=16, name="net"):
    layers = [sequenceInputLayer(3), lstmLayer(hidden, OutputMode="last"), fullyConnectedLayer(2), softmaxLayer()]
    exportONNXNetwork(initialize(layers, seed=1), tmp_path / f"{name}.onnx", stateful=True, ragged=True)
    return rt.load(tmp_path / f"{name}.onnx", "cpu")


# -- item 3: open_group pages are freed ------------------------------------------------------------


@pytest.mark.parametrize("device", ["host", "cpu"], ids=["numpy-pages", "ortvalue-pages"])
def test_open_group_close_cycles_do_not_grow_the_pool(tmp_path, rng, device):
    net = _stateful(tmp_path)
    pool = StreamPool(net, device=device)
    X = rng.normal(size=(8, 2, 3)).astype(np.float32)
    for _ in range(50):
        group = pool.open_group(8)
        group.step(X)
        for s in group.streams:
            s.close()
        assert pool.allocated_pages == 0 and pool.state_bytes == 0
    assert len(pool._owner) == 8  # the slot tables did not grow either


def test_released_group_slots_are_reused_best_fit_and_state_is_fresh(tmp_path, rng):
    net = _stateful(tmp_path)
    pool = StreamPool(net)
    X = rng.normal(size=(6, 4, 3)).astype(np.float32)
    expected = rt.predict(net, X)
    first = pool.open_group(6)
    first.step(X)
    for s in first.streams:
        s.close()
    smaller = pool.open_group(4)  # takes 4 of the 6 released slots; 2 stay released
    bigger = pool.open_group(2)  # exactly the 2 left over
    assert len(pool._owner) == 6 and pool.allocated_pages == 2
    np.testing.assert_allclose(smaller.step(X[:4]), expected[:4], rtol=0, atol=1e-6)  # starts from the initial state
    np.testing.assert_allclose(bigger.step(X[4:]), expected[4:], rtol=0, atol=1e-6)
    with pytest.raises(StreamError, match="closed"):
        first.step(X)


def test_a_partly_closed_group_keeps_its_page_and_its_open_members_work(tmp_path, rng):
    net = _stateful(tmp_path)
    pool = StreamPool(net)
    group = pool.open_group(3)
    x = rng.normal(size=(5, 3)).astype(np.float32)
    group.streams[0].close()
    group.streams[1].close()
    assert pool.allocated_pages == 1
    np.testing.assert_allclose(group.streams[2].step(x), rt.predict(net, x), rtol=0, atol=1e-6)
    single = pool.open()  # a plain stream never lands on a group's rows
    assert pool._page_of[single.slot] != pool._page_of[group.streams[2].slot]
    group.streams[2].close()
    assert pool.allocated_pages == 1  # only the plain streams' page


# -- low items: foreign objects in pool steps, NaN set_state ---------------------------------------


def test_foreign_objects_in_pool_steps_are_type_errors_and_move_nothing(tmp_path, rng):
    net = _stateful(tmp_path)
    pool, big = StreamPool(net, page_size=2), StreamPool(net, page_size=64)
    a = pool.open()
    a.step(rng.normal(size=(2, 3)).astype(np.float32))
    before = a.get_state()
    far = [big.open() for _ in range(40)][-1]  # a slot number past the end of pool's tables
    X = np.zeros((1, 1, 3), np.float32)
    for call, error, message in [
        (lambda: pool.step({object(): np.zeros((1, 3))}), TypeError, "keys must be streams"),
        (lambda: pool.step_many([None], X), TypeError, "items must be streams from StreamPool.open(), got NoneType"),
        (lambda: pool.step_many(["abc"], X), TypeError, "got str"),
        (lambda: pool.step_many(a, X), TypeError, "expected a list of streams, got Stream"),
        (lambda: pool.step_many(42, X), TypeError, "expected a list of streams, got int"),
        (lambda: pool.step_many([far], X), StreamError, "does not belong to this StreamPool"),
        (lambda: pool.step({far: np.zeros((1, 3))}), StreamError, "does not belong to this StreamPool"),
        (lambda: pool.step_many([], X), StreamError, "no streams given"),
    ]:
        with pytest.raises(error, match=re.escape(message)):
            call()
    after = a.get_state()
    np.testing.assert_array_equal(before["lstm"]["HiddenState"], after["lstm"]["HiddenState"])


def test_set_state_with_nan_says_which_element(tmp_path):
    net = _stateful(tmp_path)
    s = StreamPool(net).open()
    hidden = np.zeros(16)
    hidden[4] = np.nan
    with pytest.raises(StreamError, match=re.escape("lstm.HiddenState must be finite, got nan at element 5")):
        s.set_state({"lstm": {"HiddenState": hidden, "CellState": np.zeros(16)}})
