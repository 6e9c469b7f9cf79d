"""MATLAB's documented formulas, computed by hand in numpy, against the trainer's losses and every
implementation of sequenceInputLayer's normalization (numpy reference, ONNX graph, torch).

- regressionLayer: half mean squared error, *not normalized by R* (the number of responses):
  sequence-to-one ``1/2 Σ_r (t_r - y_r)²``, sequence-to-sequence ``1/(2S) Σ_s Σ_r (t_sr - y_sr)²``,
  averaged over the N observations of the mini-batch (MathWorks, RegressionOutputLayer page).
- classificationLayer: ``-1/N Σ_n Σ_t Σ_i w_i T_nti log Y_nti``: summed over time, divided by N only.
- Normalization: MATLAB's input-layer code divides by 1 where StandardDeviation or Max - Min is 0
  (``Std(Std==0)=1``, ``range(range==0)=1``).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import ATOL_FLOAT32, assert_matches_reference, run

import lstm2onnx as l2o
from lstm2onnx import build, initialize, reference
from lstm2onnx.training.torch_net import TorchNetwork
from lstm2onnx.training.trainer import _loss_terms


def _network(layers):
    return TorchNetwork(initialize(layers, seed=4))


@pytest.mark.parametrize("mode", ["last", "sequence"])
def test_regression_loss_is_half_squared_error_not_divided_by_responses(mode):
    rng = np.random.default_rng(11)
    R, lengths = 3, np.array([2, 5, 4])
    module = _network([l2o.sequenceInputLayer(2), l2o.lstmLayer(4, OutputMode=mode), l2o.fullyConnectedLayer(R), l2o.regressionLayer()])
    out = rng.standard_normal((3, 5, R) if mode == "sequence" else (3, R))
    y = rng.standard_normal(out.shape)
    loss, _, _ = _loss_terms(module, torch.tensor(out), torch.tensor(y), torch.tensor(lengths), None)
    if mode == "last":  # 1/N Σ_n 1/2 Σ_r (t - y)²
        expected = np.mean([0.5 * np.sum((y[n] - out[n]) ** 2) for n in range(3)])
    else:  # 1/N Σ_n 1/(2 S_n) Σ_s Σ_r (t - y)², valid steps only
        expected = np.mean([np.sum((y[n, :S] - out[n, :S]) ** 2) / (2 * S) for n, S in enumerate(lengths)])
    assert float(loss) == pytest.approx(expected, rel=1e-12)


def test_sequence_classification_loss_sums_over_time_and_divides_by_observations():
    rng = np.random.default_rng(12)
    K, lengths = 3, np.array([4, 1, 3])
    module = _network([l2o.sequenceInputLayer(2), l2o.lstmLayer(4), l2o.fullyConnectedLayer(K), l2o.softmaxLayer(), l2o.classificationLayer()])
    logits = rng.standard_normal((3, 4, K))
    labels = rng.integers(0, K, size=(3, 4))
    labels[np.arange(4)[None, :] >= lengths[:, None]] = -1  # padding, as the trainer marks it
    weights = np.array([0.5, 2.0, 1.0])
    loss, _, _ = _loss_terms(module, torch.tensor(logits), torch.tensor(labels), torch.tensor(lengths), torch.tensor(weights))
    log_Y = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    total = sum(weights[labels[n, t]] * log_Y[n, t, labels[n, t]] for n in range(3) for t in range(lengths[n]))
    assert float(loss) == pytest.approx(-total / 3, rel=1e-12)


def _matlab_normalization(mode, x, mean, std, lo, hi):
    """The documented formulas with MATLAB's zero-divisor rule written out."""
    std = np.where(std == 0, 1.0, std)
    span = np.where(hi - lo == 0, 1.0, hi - lo)
    return {"zscore": (x - mean) / std, "rescale-zero-one": (x - lo) / span, "rescale-symmetric": 2 * (x - lo) / span - 1}[mode]


@pytest.mark.parametrize("mode", ["zscore", "rescale-zero-one", "rescale-symmetric"])
def test_zero_standard_deviation_or_range_divides_by_one_everywhere(mode):
    rng = np.random.default_rng(13)
    mean, std = np.array([0.5, -1.0, 2.0]), np.array([2.0, 0.0, 0.5])
    lo, hi = np.array([-1.0, 3.0, 0.0]), np.array([1.0, 3.0, 4.0])  # feature 2 constant: Max == Min
    stats = {"Mean": mean, "StandardDeviation": std} if mode == "zscore" else {"Min": lo, "Max": hi}
    first = l2o.sequenceInputLayer(3, Normalization=mode, **stats)
    x = rng.standard_normal((2, 5, 3)) * 3
    np.testing.assert_allclose(reference.normalize(first, x), _matlab_normalization(mode, x, mean, std, lo, hi), rtol=0, atol=1e-12)

    net = initialize([first, l2o.lstmLayer(4), l2o.fullyConnectedLayer(2), l2o.regressionLayer()], seed=2)
    expected = reference.predict(net, x)
    (actual,) = run(build(net), {"sequences": x.astype(np.float32)}).values()
    assert_matches_reference(actual, expected)
    with torch.no_grad():
        torch_out = TorchNetwork(net)(torch.tensor(x, dtype=torch.float32), torch.tensor([5, 5])).numpy()
    np.testing.assert_allclose(torch_out, expected, rtol=0, atol=ATOL_FLOAT32)
