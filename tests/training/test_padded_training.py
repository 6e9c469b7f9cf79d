"""Unidirectional LSTMs train on the padded mini-batch; packing only where it is needed.

The padded path (right padding, outputs gathered at each sequence's last valid step
for 'last', zeroed past each end for 'sequence', the loss masked there) must give the
packed path's numbers: outputs to 1e-6 and every gradient to 1e-5 (float32, both
computed here in the same run).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lstm2onnx import (
    bilstmLayer,
    classificationLayer,
    fullyConnectedLayer,
    lstmLayer,
    regressionLayer,
    sequenceInputLayer,
    softmaxLayer,
)
from lstm2onnx.network import initialize
from lstm2onnx.training import torch_net
from lstm2onnx.training.torch_net import TorchNetwork
from lstm2onnx.training.trainer import _loss_terms

STATE = {"HiddenState": np.linspace(-0.5, 0.5, 16), "CellState": np.linspace(1, -1, 16)}

NETWORKS = {
    "last, classification": [sequenceInputLayer(5), lstmLayer(16, OutputMode="last", **STATE), fullyConnectedLayer(4), softmaxLayer(),
                             classificationLayer()],
    "sequence, classification": [sequenceInputLayer(5), lstmLayer(16, **STATE), fullyConnectedLayer(4), softmaxLayer(), classificationLayer()],
    "sequence, regression": [sequenceInputLayer(5), lstmLayer(16), lstmLayer(8), fullyConnectedLayer(3), regressionLayer()],
    "stacked, last": [sequenceInputLayer(5), lstmLayer(16), lstmLayer(8, OutputMode="last"), fullyConnectedLayer(4), softmaxLayer(),
                      classificationLayer()],
    "uni then bilstm": [sequenceInputLayer(5), lstmLayer(16), bilstmLayer(6, OutputMode="last"), fullyConnectedLayer(4), softmaxLayer(),
                        classificationLayer()],
}


def batch(seed: int, network: TorchNetwork, n: int = 9, T: int = 14):
    """A right-padded batch with lengths 1..T (one of each extreme) and targets for the network's task."""
    g = np.random.default_rng(seed)
    lengths = g.integers(1, T + 1, size=n)
    lengths[:2] = (1, T)
    x = g.standard_normal((n, T, 5)).astype(np.float32)
    x[np.arange(T)[None, :] >= lengths[:, None]] = 3.0  # a nonzero padding value: it must not matter
    if network.task == "regression":
        y = torch.from_numpy(g.standard_normal((n, T, 3)).astype(np.float32))
    elif network.sequence_output:
        labels = g.integers(0, 4, size=(n, T))
        labels[np.arange(T)[None, :] >= lengths[:, None]] = -1  # as the trainer pads labels
        y = torch.from_numpy(labels)
    else:
        y = torch.from_numpy(g.integers(0, 4, size=n))
    return torch.from_numpy(x), torch.from_numpy(lengths), y


def outputs_and_gradients(module: TorchNetwork, x, lengths, y, packed: bool):
    module.zero_grad(set_to_none=True)
    out = module(x, lengths, None, {} if packed else None)  # asking for the final states forces packing
    loss, _, _ = _loss_terms(module, out, y, lengths, None)
    loss.backward()
    return out.detach(), float(loss.detach()), {name: p.grad.clone() for name, p in module.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_padded_and_packed_paths_agree(name):
    torch.manual_seed(0)
    module = TorchNetwork(initialize(NETWORKS[name], 3))
    x, lengths, y = batch(3, module)
    out_padded, loss_padded, grads_padded = outputs_and_gradients(module, x, lengths, y, packed=False)
    out_packed, loss_packed, grads_packed = outputs_and_gradients(module, x, lengths, y, packed=True)
    if module.sequence_output:  # each sequence's valid steps (past them the outputs are the head applied to zeros)
        valid = torch.arange(x.shape[1])[None, :] < lengths[:, None]
        out_padded, out_packed = out_padded[valid], out_packed[valid]
    assert torch.max(torch.abs(out_padded - out_packed)) <= 1e-6
    assert abs(loss_padded - loss_packed) <= 1e-6
    assert grads_padded.keys() == grads_packed.keys() and len(grads_padded) >= 5
    for key, grad in grads_padded.items():
        err = float(torch.max(torch.abs(grad - grads_packed[key])))
        assert err <= 1e-5, f"{key}: gradient differs by {err:.3g}"
        if "hh_l0_reverse" not in key:  # MATLAB's bilstm 'last': the backward half has run one step from h0 = 0
            assert float(torch.max(torch.abs(grad))) > 0  # a gradient that is really there


def test_sequence_output_is_zero_past_each_end_on_both_paths():
    module = TorchNetwork(initialize([sequenceInputLayer(5), lstmLayer(16)], 1))
    x, lengths, _ = batch(1, module)
    for final in (None, {}):
        y = module(x, lengths, None, final).detach()
        past = torch.arange(x.shape[1])[None, :] >= lengths[:, None]
        assert torch.all(y[past] == 0) and torch.all(y[~past].abs().sum(-1) > 0)


def test_packing_only_where_needed(monkeypatch):
    """Unidirectional layers never pack on the training path; a bilstmLayer and a final-state request do."""
    calls = []
    original = torch_net.pack_padded_sequence

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(torch_net, "pack_padded_sequence", counting)
    for name, packs in (("stacked, last", 0), ("uni then bilstm", 1)):
        module = TorchNetwork(initialize(NETWORKS[name], 2))
        x, lengths, _ = batch(2, module)
        calls.clear()
        module(x, lengths)
        assert len(calls) == packs, name
    calls.clear()
    final: dict = {}
    module = TorchNetwork(initialize(NETWORKS["stacked, last"], 2))
    module(x, lengths, None, final)
    assert len(calls) == 2 and all(c is not None for _, c in final.values())
