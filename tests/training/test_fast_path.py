"""What keeps trainNetwork's iterations cheap changes no number.

The solver updates parameters with scalar factors through ``torch._foreach_*`` on the
CPU: bit for bit what one call per tensor gives (the form the MATLAB-formula tests in
test_solver.py check). numpy's OpenBLAS runs the initializers on one thread (so its
workers do not spin on a core torch trains on): the same bits as on several.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lstm2onnx import classificationLayer, fullyConnectedLayer, initialize, lstmLayer, sequenceInputLayer, softmaxLayer, trainingOptions
from lstm2onnx.initializers import _orthogonal
from lstm2onnx.training import solver as solver_module
from lstm2onnx.training.solver import MatlabSolver
from lstm2onnx.training.torch_net import Learnable, TorchNetwork
from lstm2onnx.training.trainer import _loss_and_accuracy, _numpy_blas_threads, _openblas_thread_calls

GATE_FACTORS = dict(InputWeightsLearnRateFactor=[1, 0.5, 2, 1], InputWeightsL2Factor=[1, 0, 3, 1], BiasL2Factor=[0, 1, 0, 2])


def _trained_parameters(options, gate_factors: bool, steps: int = 4) -> list[torch.Tensor]:
    """``steps`` solver steps on a small network (per-gate factors on the LSTM if asked, a learn-rate factor of 2 on the FC bias)."""
    layers = [sequenceInputLayer(3), lstmLayer(5, OutputMode="last", **(GATE_FACTORS if gate_factors else {})),
              fullyConnectedLayer(3, BiasLearnRateFactor=2, WeightL2Factor=0.5), softmaxLayer(), classificationLayer(Classes=["a", "b", "c"])]
    module = TorchNetwork(initialize(layers, seed=1))
    solver = MatlabSolver(module.learnables(), options, torch.device("cpu"))
    rng = np.random.default_rng(2)
    for _ in range(steps):
        x = torch.tensor(rng.standard_normal((6, 7, 3)), dtype=torch.float32)
        lengths = torch.tensor(rng.integers(1, 8, 6))
        y = torch.tensor(rng.integers(0, 3, 6))
        module.zero_grad(set_to_none=True)
        loss, _ = _loss_and_accuracy(module, module(x, lengths), y, lengths, None)
        loss.backward()
        solver.step(options.InitialLearnRate)
    return [p.detach().clone() for p in module.parameters()]


@pytest.mark.parametrize("solver", ["sgdm", "adam", "rmsprop"])
@pytest.mark.parametrize("method", ["l2norm", "global-l2norm", "absolute-value", None])
@pytest.mark.parametrize("gate_factors", [False, True])
def test_foreach_updates_equal_one_call_per_tensor_bit_for_bit(monkeypatch, solver, method, gate_factors):
    clipping = dict(GradientThreshold=0.05, GradientThresholdMethod=method) if method else {}
    options = trainingOptions(solver, L2Regularization=0.01, InitialLearnRate=0.05, **clipping)
    fused = _trained_parameters(options, gate_factors)
    monkeypatch.setattr(solver_module, "FOREACH_DEVICES", set())
    one_by_one = _trained_parameters(options, gate_factors)
    assert len(fused) == len(one_by_one)
    for a, b in zip(fused, one_by_one):
        assert torch.equal(a, b)
    start = _trained_parameters(options, gate_factors, steps=0)
    assert any(not torch.equal(a, b) for a, b in zip(fused, start))  # the steps did move the parameters


def test_only_per_gate_factors_leave_no_parameter_to_fuse():
    """A learnable whose factors are all rows: the fused groups are empty (torch._foreach_* refuses empty lists)."""
    p = torch.nn.Parameter(torch.ones(4, 2))
    rows = torch.tensor([[1.0], [0.0], [2.0], [1.0]])
    options = trainingOptions("adam", L2Regularization=0.1, InitialLearnRate=0.1)
    solver = MatlabSolver([Learnable("lstm", "InputWeights", [p], [rows], [rows])], options, torch.device("cpu"))
    p.grad = torch.full((4, 2), 0.5)
    solver.step(0.1)
    assert torch.equal(p.detach()[1], torch.ones(2))  # learn-rate factor 0: unchanged
    np.testing.assert_allclose(p.detach()[0].numpy(), 1 - 0.1, atol=1e-6)  # Adam's first step is α·sign(g) for |g| ≫ ε


def test_initializer_qr_is_the_same_on_one_blas_thread():
    shapes = [(400, 100), (100, 400), (2048, 512)]
    many = [_orthogonal(shape, np.random.default_rng(3)) for shape in shapes]
    calls = _openblas_thread_calls()
    before = calls[1]() if calls else None
    with _numpy_blas_threads(1):
        if calls:
            assert calls[1]() == 1
        one = [_orthogonal(shape, np.random.default_rng(3)) for shape in shapes]
    if calls:
        assert calls[1]() == before  # restored
    for a, b in zip(many, one):
        np.testing.assert_array_equal(a, b)
