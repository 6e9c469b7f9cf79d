"""MATLAB's update rules: the solver against a hand-written float64 reference; per-gate factors freeze rows.

Tolerance: 1e-6 on the parameters after each step (float32 torch vs float64 reference on the same gradients).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lstm2onnx import classificationLayer, fullyConnectedLayer, initialize, lstmLayer, sequenceInputLayer, softmaxLayer, trainingOptions
from lstm2onnx.training.solver import MatlabSolver
from lstm2onnx.training.torch_net import Learnable, TorchNetwork
from lstm2onnx.training.trainer import _loss_and_accuracy

H = 3
FACTORS = dict(InputWeightsLearnRateFactor=[1, 0.5, 2, 1], InputWeightsL2Factor=[1, 0, 3, 1], RecurrentWeightsLearnRateFactor=0.5,
               BiasLearnRateFactor=[2, 1, 1, 0.25], BiasL2Factor=[0, 1, 0, 2])


def tiny():
    layers = [sequenceInputLayer(2), lstmLayer(H, OutputMode="last", **FACTORS), fullyConnectedLayer(2, WeightL2Factor=2, BiasLearnRateFactor=3),
              softmaxLayer(), classificationLayer(Classes=["a", "b"])]
    return TorchNetwork(initialize(layers, seed=0))


def rows(factor):
    """MATLAB's 1-by-4 factor over the gate blocks i, f, g, o -> one value per row of a 4H-row matrix."""
    f = np.asarray(factor, dtype=np.float64)
    return np.repeat(f, H) if f.size == 4 else np.full(4 * H, float(f))


def reference_factors():
    """(lr rows, l2 rows) per learnable, written from the layer options in MATLAB's terms."""
    return {
        "lstm.InputWeights": (rows(FACTORS["InputWeightsLearnRateFactor"])[:, None], rows(FACTORS["InputWeightsL2Factor"])[:, None]),
        "lstm.RecurrentWeights": (rows(FACTORS["RecurrentWeightsLearnRateFactor"])[:, None], rows(1.0)[:, None]),
        "lstm.Bias": (rows(FACTORS["BiasLearnRateFactor"]), rows(FACTORS["BiasL2Factor"])),
        "fc.Weights": (1.0, 2.0),
        "fc.Bias": (3.0, 0.0),
    }


def matlab_update(solver, theta, g, state, t, lr, lr_rows, o):
    if solver == "sgdm":
        state["v"] = o.Momentum * state.get("v", 0.0) - lr * lr_rows * g
        return theta + state["v"]
    if solver == "adam":
        state["m"] = o.GradientDecayFactor * state.get("m", 0.0) + (1 - o.GradientDecayFactor) * g
        state["v"] = o.SquaredGradientDecayFactor * state.get("v", 0.0) + (1 - o.SquaredGradientDecayFactor) * g**2
        shrink = np.sqrt(1 - o.SquaredGradientDecayFactor**t) / (1 - o.GradientDecayFactor**t)  # MATLAB's form
        return theta - lr * lr_rows * shrink * state["m"] / (np.sqrt(state["v"]) + o.Epsilon)
    state["v"] = o.SquaredGradientDecayFactor * state.get("v", 0.0) + (1 - o.SquaredGradientDecayFactor) * g**2
    return theta - lr * lr_rows * g / (np.sqrt(state["v"]) + o.Epsilon)


@pytest.mark.parametrize("solver,method,threshold", [
    ("sgdm", "l2norm", 0.05), ("sgdm", "global-l2norm", 0.1), ("sgdm", "absolute-value", 0.01),
    ("adam", "l2norm", 0.05), ("adam", "global-l2norm", 0.1), ("adam", "absolute-value", 0.01), ("rmsprop", "l2norm", 1.0),
])
def test_steps_match_the_matlab_update_rule(solver, method, threshold):
    options = trainingOptions(solver, L2Regularization=0.01, GradientThreshold=threshold, GradientThresholdMethod=method, InitialLearnRate=0.05)
    module = tiny()
    learnables = module.learnables()
    names = [f"{lrn.layer}.{lrn.name}" for lrn in learnables]
    assert names == list(reference_factors())
    solver_ = MatlabSolver(learnables, options, torch.device("cpu"))
    rng = np.random.default_rng(0)
    x = torch.tensor(rng.standard_normal((4, 5, 2)), dtype=torch.float32)
    lengths = torch.tensor([5, 3, 1, 4])
    y = torch.tensor([0, 1, 1, 0])
    theta = {n: np.concatenate([p.detach().numpy().astype(np.float64) for p in lrn.params]) for n, lrn in zip(names, learnables)}
    states = {n: {} for n in names}
    for t in range(1, 4):
        module.zero_grad()
        loss, _ = _loss_and_accuracy(module, module(x, lengths), y, lengths, None)
        loss.backward()
        raw = {n: np.concatenate([p.grad.numpy().astype(np.float64) for p in lrn.params]) for n, lrn in zip(names, learnables)}
        # the reference: coupled L2 with the factors, then clipping, then the update
        g = {n: raw[n] + 0.01 * reference_factors()[n][1] * theta[n] for n in names}
        if method == "l2norm":
            g = {n: v * min(1.0, threshold / np.linalg.norm(v)) for n, v in g.items()}
        elif method == "global-l2norm":
            total = np.sqrt(sum((v**2).sum() for v in g.values()))
            g = {n: v * min(1.0, threshold / total) for n, v in g.items()}
        else:
            g = {n: np.clip(v, -threshold, threshold) for n, v in g.items()}
        theta = {n: matlab_update(solver, theta[n], g[n], states[n], t, 0.05, reference_factors()[n][0], options) for n in names}
        solver_.step(0.05)
        for n, lrn in zip(names, learnables):
            ours = np.concatenate([p.detach().numpy() for p in lrn.params])
            np.testing.assert_allclose(ours, theta[n], rtol=0, atol=1e-6, err_msg=f"{n} after step {t}")


def test_a_zero_factor_freezes_exactly_that_gate():
    from lstm2onnx import trainNetwork

    rng = np.random.default_rng(0)
    X = [rng.standard_normal((int(rng.integers(2, 8)), 2)) for _ in range(24)]
    Y = np.array(["a", "b"] * 12)
    layers = [sequenceInputLayer(2), lstmLayer(H, OutputMode="last", InputWeightsLearnRateFactor=[0, 1, 1, 1], BiasLearnRateFactor=[1, 0, 1, 1],
                                                  RecurrentWeightsLearnRateFactor=[1, 1, 1, 0]),
              fullyConnectedLayer(2), softmaxLayer(), classificationLayer()]
    before = initialize(layers, seed=0)
    net, _ = trainNetwork(X, Y, layers, trainingOptions("adam", MaxEpochs=3, MiniBatchSize=8, Verbose=False, L2Regularization=0.1), seed=0)
    after = net.Layers
    i, f, g, o = (slice(k * H, (k + 1) * H) for k in range(4))
    np.testing.assert_array_equal(after[1].InputWeights[i], before[1].InputWeights[i])
    np.testing.assert_array_equal(after[1].Bias[f], before[1].Bias[f])
    np.testing.assert_array_equal(after[1].RecurrentWeights[o], before[1].RecurrentWeights[o])
    for frozen_changed in (after[1].InputWeights[f] - before[1].InputWeights[f], after[1].Bias[i] - before[1].Bias[i],
                           after[1].RecurrentWeights[g] - before[1].RecurrentWeights[g]):
        assert np.abs(frozen_changed).max() > 1e-4  # the other gates did train


def kingma_adam(theta, grads, alpha, beta1, beta2, epsilon):
    """Kingma & Ba's Adam, θ -= α·m̂/(√v̂ + ε): what MATLAB does *not* compute (the test below must tell them apart)."""
    m = v = 0.0
    for t, g in enumerate(grads, 1):
        m, v = beta1 * m + (1 - beta1) * g, beta2 * v + (1 - beta2) * g**2
        theta = theta - alpha * (m / (1 - beta1**t)) / (np.sqrt(v / (1 - beta2**t)) + epsilon)
    return theta


def matlab_steps(solver, theta, grads, o, alpha):
    """MATLAB's update written out by hand in float64 (trainingOptions' names):

    sgdm     v = μ v − α g;  θ = θ + v
    adam     m = β1 m + (1−β1) g;  v = β2 v + (1−β2) g²;  θ = θ − α·√(1−β2ᵗ)/(1−β1ᵗ) · m/(√v + ε)
    rmsprop  v = β2 v + (1−β2) g²;  θ = θ − α·g/(√v + ε)
    """
    m = v = np.zeros_like(theta)
    for t, g in enumerate(grads, 1):
        if solver == "sgdm":
            v = o.Momentum * v - alpha * g
            theta = theta + v
            continue
        v = o.SquaredGradientDecayFactor * v + (1 - o.SquaredGradientDecayFactor) * g * g
        if solver == "adam":
            m = o.GradientDecayFactor * m + (1 - o.GradientDecayFactor) * g
            theta = theta - alpha * np.sqrt(1 - o.SquaredGradientDecayFactor**t) / (1 - o.GradientDecayFactor**t) * m / (np.sqrt(v) + o.Epsilon)
        else:
            theta = theta - alpha * g / (np.sqrt(v) + o.Epsilon)
    return theta


@pytest.mark.parametrize("solver", ["sgdm", "adam", "rmsprop"])
@pytest.mark.parametrize("epsilon", [1e-8, 1e-3])
def test_float64_steps_equal_matlab_formulas(solver, epsilon):
    """Five steps on float64 parameters with given gradients (small ones, where ε matters): equal to 1e-12 (≪ the 1e-7 asked)."""
    rng = np.random.default_rng(7)
    theta0 = rng.standard_normal((6, 3))
    grads = [rng.standard_normal((6, 3)) * 10.0 ** rng.uniform(-5, 0, (6, 3)) for _ in range(5)]
    options = trainingOptions(solver, L2Regularization=0, Epsilon=epsilon, InitialLearnRate=0.01, Momentum=0.8)
    p = torch.nn.Parameter(torch.tensor(theta0, dtype=torch.float64))
    solver_ = MatlabSolver([Learnable("fc", "Weights", [p], [1.0], [1.0])], options, torch.device("cpu"))
    for g in grads:
        p.grad = torch.tensor(g)
        solver_.step(0.01)
    expected = matlab_steps(solver, theta0, grads, options, 0.01)
    np.testing.assert_allclose(p.detach().numpy(), expected, rtol=0, atol=1e-12)
    if solver == "adam" and epsilon == 1e-3:
        # the difference the MATLAB form makes is large here: the test would catch Kingma's form
        kingma = kingma_adam(theta0, grads, 0.01, options.GradientDecayFactor, options.SquaredGradientDecayFactor, epsilon)
        assert np.abs(kingma - expected).max() > 1e-3


def test_adam_one_step_with_large_epsilon():
    """One Adam step from zero moments, by hand: the step is α·√(1−β2)/(1−β1)·(1−β1)g/(√(1−β2)|g| + ε)."""
    g, epsilon, alpha = np.array([1e-3, -2e-3, 0.5]), 1e-3, 0.01
    p = torch.nn.Parameter(torch.zeros(3, dtype=torch.float64))
    options = trainingOptions("adam", L2Regularization=0, Epsilon=epsilon, InitialLearnRate=alpha)
    solver_ = MatlabSolver([Learnable("fc", "Bias", [p], [1.0], [1.0])], options, torch.device("cpu"))
    p.grad = torch.tensor(g)
    solver_.step(alpha)
    b1, b2 = options.GradientDecayFactor, options.SquaredGradientDecayFactor
    expected = -alpha * np.sqrt(1 - b2) / (1 - b1) * (1 - b1) * g / (np.sqrt(1 - b2) * np.abs(g) + epsilon)
    np.testing.assert_allclose(p.detach().numpy(), expected, rtol=0, atol=1e-15)


@pytest.mark.parametrize("solver", ["sgdm", "adam"])
def test_frozen_learnables_in_global_l2norm_as_trainnetwork(solver):
    """A learnable with learn-rate factor 0 gets no L2 term; a layer with every learnable frozen has no gradient, so
    'global-l2norm' measures only the layers that learn (the frozen RecurrentWeights of a learning LSTM with its bare
    gradient), as MATLAB's trainNetwork regularizes, computes and clips gradients."""
    lam, threshold, lr = 0.05, 0.02, 0.05
    layers = [sequenceInputLayer(2), lstmLayer(H, OutputMode="last", RecurrentWeightsLearnRateFactor=0),
              fullyConnectedLayer(4, WeightLearnRateFactor=0, BiasLearnRateFactor=0, BiasL2Factor=1), fullyConnectedLayer(2),
              softmaxLayer(), classificationLayer(Classes=["a", "b"])]
    module = TorchNetwork(initialize(layers, seed=1))
    learnables = module.learnables()
    names = [f"{lrn.layer}.{lrn.name}" for lrn in learnables]
    lr_factor = {n: 0.0 if n in ("lstm.RecurrentWeights", "fc_1.Weights", "fc_1.Bias") else 1.0 for n in names}
    l2_factor = {n: 0.0 if n.endswith("Bias") and n != "fc_1.Bias" else 1.0 for n in names}  # MATLAB's defaults; fc_1's BiasL2Factor 1
    measured = [n for n in names if not n.startswith("fc_1.")]  # fc_1 learns nothing: no gradient
    options = trainingOptions(solver, L2Regularization=lam, GradientThreshold=threshold, GradientThresholdMethod="global-l2norm")
    solver_ = MatlabSolver(learnables, options, torch.device("cpu"))
    rng = np.random.default_rng(2)
    x = torch.tensor(rng.standard_normal((4, 5, 2)), dtype=torch.float32)
    lengths, y = torch.tensor([5, 3, 2, 4]), torch.tensor([0, 1, 1, 0])
    theta = {n: np.concatenate([p.detach().numpy().astype(np.float64) for p in lrn.params]) for n, lrn in zip(names, learnables)}
    frozen = {n: theta[n].copy() for n in names if lr_factor[n] == 0}
    states = {n: {} for n in names}
    for t in range(1, 4):
        module.zero_grad()
        loss, _ = _loss_and_accuracy(module, module(x, lengths), y, lengths, None)
        loss.backward()
        raw = {n: np.concatenate([p.grad.numpy().astype(np.float64) for p in lrn.params]) for n, lrn in zip(names, learnables)}
        g = {n: raw[n] + (lam * l2_factor[n] * theta[n] if lr_factor[n] else 0.0) for n in names}
        total = np.sqrt(sum((g[n] ** 2).sum() for n in measured))
        assert total > threshold  # clipping acts
        g = {n: v * min(1.0, threshold / total) for n, v in g.items()}
        theta = {n: matlab_update(solver, theta[n], g[n], states[n], t, lr, lr_factor[n], options) for n in names}
        solver_.step(lr)
        for n, lrn in zip(names, learnables):
            ours = np.concatenate([p.detach().numpy() for p in lrn.params])
            np.testing.assert_allclose(ours, theta[n], rtol=0, atol=1e-6, err_msg=f"{n} after step {t}")
    for n, before in frozen.items():
        np.testing.assert_array_equal(np.concatenate([p.detach().numpy() for p in learnables[names.index(n)].params]), before.astype(np.float32))


def test_bilstm_takes_matlabs_one_by_eight_factors_per_direction():
    """bilstmLayer's per-gate factors may be 1-by-8, the forward direction's i, f, g, o then the backward's (MATLAB's
    bilstmLayer); a zero freezes exactly that gate of that direction, and a 1-by-4 factor still applies to both."""
    from lstm2onnx import bilstmLayer, trainNetwork

    rng = np.random.default_rng(0)
    X = [rng.standard_normal((int(rng.integers(2, 8)), 2)) for _ in range(24)]
    Y = np.array(["a", "b"] * 12)
    factor = [1, 0, 1, 1, 1, 1, 1, 0]  # forward f and backward o frozen
    layers = [sequenceInputLayer(2), bilstmLayer(H, OutputMode="last", InputWeightsLearnRateFactor=factor, BiasLearnRateFactor=[0, 1, 1, 1]),
              fullyConnectedLayer(2), softmaxLayer(), classificationLayer()]
    assert layers[1].InputWeightsLearnRateFactor == tuple(float(v) for v in factor)
    before = initialize(layers, seed=0)
    net, _ = trainNetwork(X, Y, layers, trainingOptions("adam", MaxEpochs=3, MiniBatchSize=8, Verbose=False), seed=0)
    after = net.Layers[1]
    rows = lambda direction, gate: slice((4 * direction + gate) * H, (4 * direction + gate + 1) * H)  # noqa: E731
    for direction, gate in ((0, 1), (1, 3)):
        np.testing.assert_array_equal(after.InputWeights[rows(direction, gate)], before[1].InputWeights[rows(direction, gate)])
    for direction in (0, 1):  # the 1-by-4 Bias factor freezes i in both directions
        np.testing.assert_array_equal(after.Bias[rows(direction, 0)], before[1].Bias[rows(direction, 0)])
    for direction, gate in ((0, 3), (1, 1)):  # the same gates in the other direction did train
        assert np.abs(after.InputWeights[rows(direction, gate)] - before[1].InputWeights[rows(direction, gate)]).max() > 1e-4
    with pytest.raises(Exception, match=r"1-by-8 vector \(forward then backward\)"):
        bilstmLayer(H, InputWeightsLearnRateFactor=[1, 1, 1])
