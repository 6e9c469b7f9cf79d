"""A stateful graph with a bilstmLayer is refused, naming the layer and the reason.

A stateful graph is run in chunks with each layer's final state fed to the next
chunk (MATLAB's predictAndUpdateState). A bilstm's backward direction starts at
the *end* of the whole sequence, so no state carried forward in time can give its
numbers: earlier lstm2onnx built such a graph with the bilstm restarting at every
chunk, and plain onnxruntime users chunking it got wrong results without a word.

Tolerance: 1e-5 (onnxruntime float32 against the float64 reference) where numbers are compared.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from conftest import assert_matches_reference, random_batch, run

from lstm2onnx import (
    Lstm2OnnxError,
    bilstmLayer,
    build,
    exportONNXNetwork,
    fullyConnectedLayer,
    initialize,
    lstmLayer,
    reference,
    sequenceInputLayer,
    softmaxLayer,
)
from lstm2onnx.cli import main

STACKS = {
    "bilstm-first": [sequenceInputLayer(3), bilstmLayer(4, Name="both"), lstmLayer(5, OutputMode="last"), fullyConnectedLayer(2)],
    "bilstm-last": [sequenceInputLayer(3), lstmLayer(5), bilstmLayer(4, Name="both", OutputMode="last"), fullyConnectedLayer(2)],
    "bilstm-only": [sequenceInputLayer(3), bilstmLayer(4, Name="both"), softmaxLayer()],
}
MESSAGE = re.escape("bilstmLayer 'both': a stateful graph carries each layer's state from one chunk to the next (MATLAB's predictAndUpdateState), "
                    "but a bilstmLayer's backward direction runs from the end of the whole sequence, so it cannot be carried forward in time")


@pytest.mark.parametrize("ragged", [False, True], ids=["plain", "ragged"])
@pytest.mark.parametrize("stack", list(STACKS))
def test_stateful_build_with_a_bilstm_is_refused(stack, ragged):
    with pytest.raises(Lstm2OnnxError, match=MESSAGE):
        build(STACKS[stack], stateful=True, ragged=ragged)


@pytest.mark.parametrize("stack", list(STACKS))
def test_the_same_stack_builds_without_state_and_matches_the_reference(stack):
    net = initialize(STACKS[stack], seed=1)
    batch = random_batch(np.random.default_rng(2), 5, 9, 3, ragged=True)
    (out,) = run(build(net, ragged=True), {"sequences": batch.padded, "sequence_lengths": batch.lengths}).values()
    assert_matches_reference(out, reference.predict(net, batch.sequences))


def test_export_and_cli_refuse_it_and_leave_no_file(tmp_path, capsys):
    path = tmp_path / "net.onnx"
    with pytest.raises(Lstm2OnnxError, match=MESSAGE):
        exportONNXNetwork(STACKS["bilstm-first"], path, "stateful", True)
    spec = tmp_path / "net.yaml"
    spec.write_text("- sequenceInputLayer: 3\n- bilstmLayer: [4, Name, both]\n- fullyConnectedLayer: 2\n")
    assert main(["build", str(spec), "-o", str(path), "--stateful"]) == 1
    assert "cannot be carried forward in time" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == [spec]


def test_why_a_carried_state_cannot_reproduce_a_bilstm():
    """The backward half of a bilstm's output at step 1 depends on the steps after it, so running the first chunk
    alone (whatever state it starts from) gives other numbers than the whole sequence."""
    net = initialize([sequenceInputLayer(3), bilstmLayer(4)], seed=0)
    x = np.random.default_rng(3).standard_normal((10, 3))
    whole = reference.predict(net, [x])[0]
    first_chunk = reference.predict(net, [x[:5]])[0]
    np.testing.assert_allclose(first_chunk[:, :4], whole[:5, :4], rtol=0, atol=1e-12)  # the forward half agrees
    assert np.abs(first_chunk[:, 4:] - whole[:5, 4:]).max() > 1e-2  # the backward half does not
