"""MATLAB's update rules (sgdm, adam, rmsprop) with coupled L2, gradient clipping and per-gate factors.

For each learnable θ with gradient ∇E (a 4H-row LSTM matrix has one learn-rate
and one L2 factor per gate block, applied to its rows):

    g = ∇E + λ · l2factor ⊙ θ                       (L2Regularization λ, coupled into the gradient)
    g = clip(g)                                      (GradientThreshold, GradientThresholdMethod)
    sgdm:    v ← γ v − α·lrfactor ⊙ g;  θ ← θ + v    (Momentum γ)
    adam:    m ← β1 m + (1−β1) g;  v ← β2 v + (1−β2) g²;
             θ ← θ − α·lrfactor·√(1−β2^t)/(1−β1^t) ⊙ m / (√v + ε)
    rmsprop: v ← β2 v + (1−β2) g²;  θ ← θ − α·lrfactor ⊙ g / (√v + ε)

These are the forms MATLAB computes (trainNetwork's solvers and the documented
``adamupdate``/``rmspropupdate``/``sgdmupdate``, R2017b onwards): Adam folds the
bias corrections into the step size and adds ε to the *uncorrected* √v. Kingma
& Ba's ``α·m̂/(√v̂ + ε)`` is the same step with ε·√(1−β2^t) in place of ε, so the
two part where √v is small next to ε: with ε = 1e-8 by 5e-5..2e-3 on the
weights after a few steps, with ε = 1e-3 by most of a step.

Clipping: 'l2norm' scales each learnable (all its directions together) to norm
at most the threshold; 'global-l2norm' scales all gradients together;
'absolute-value' clips each element to [−threshold, threshold]. A learn-rate
factor of 0 leaves its rows exactly unchanged.
"""

from __future__ import annotations

import math

import torch

from .options import TrainingOptions
from .torch_net import Learnable


class MatlabSolver:
    def __init__(self, learnables: list[Learnable], options: TrainingOptions, device: torch.device) -> None:
        self.learnables, self.options = learnables, options
        self.t = 0
        self.state: dict[int, dict[str, torch.Tensor]] = {}
        for learnable in learnables:
            learnable.lr = [f.to(device) if isinstance(f, torch.Tensor) else f for f in learnable.lr]
            learnable.l2 = [f.to(device) if isinstance(f, torch.Tensor) else f for f in learnable.l2]

    @torch.no_grad()
    def gradients(self) -> list[list[torch.Tensor]]:
        """Per learnable, per parameter: the regularized, clipped gradient."""
        o = self.options
        grads = []
        for learnable in self.learnables:
            per = []
            for p, l2 in zip(learnable.params, learnable.l2):
                g = p.grad if p.grad is not None else torch.zeros_like(p)
                if o.L2Regularization:
                    g = g + o.L2Regularization * l2 * p
                per.append(g)
            grads.append(per)
        if math.isfinite(o.GradientThreshold):
            threshold = o.GradientThreshold
            if o.GradientThresholdMethod == "absolute-value":
                grads = [[g.clamp(-threshold, threshold) for g in per] for per in grads]
            elif o.GradientThresholdMethod == "l2norm":
                grads = [_scaled(per, threshold) for per in grads]
            else:
                flat = [g for per in grads for g in per]
                scaled = _scaled(flat, threshold)
                it = iter(scaled)
                grads = [[next(it) for _ in per] for per in grads]
        return grads

    @torch.no_grad()
    def step(self, learn_rate: float) -> None:
        o = self.options
        self.t += 1
        for learnable, per in zip(self.learnables, self.gradients()):
            for p, g, lr_factor in zip(learnable.params, per, learnable.lr):
                rate = learn_rate * lr_factor
                state = self.state.setdefault(id(p), {})
                if o.Solver == "sgdm":
                    v = state.setdefault("v", torch.zeros_like(p))
                    v.mul_(o.Momentum).sub_(rate * g)
                    p.add_(v)
                    continue
                v = state.setdefault("v", torch.zeros_like(p))
                v.mul_(o.SquaredGradientDecayFactor).addcmul_(g, g, value=1 - o.SquaredGradientDecayFactor)
                denominator = v.sqrt().add_(o.Epsilon)
                if o.Solver == "adam":
                    m = state.setdefault("m", torch.zeros_like(p))
                    m.mul_(o.GradientDecayFactor).add_(g, alpha=1 - o.GradientDecayFactor)
                    step = m
                    scale = math.sqrt(1 - o.SquaredGradientDecayFactor ** self.t) / (1 - o.GradientDecayFactor ** self.t)
                else:
                    step, scale = g, 1.0
                if isinstance(rate, torch.Tensor):  # per-gate learn-rate factors
                    p.sub_(rate * scale * step / denominator)
                else:
                    p.addcdiv_(step, denominator, value=-rate * scale)


def _scaled(grads: list[torch.Tensor], threshold: float) -> list[torch.Tensor]:
    norm = torch.sqrt(sum((g * g).sum() for g in grads))
    if norm > threshold:
        return [g * (threshold / norm) for g in grads]
    return grads
