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

Frozen learnables (learn-rate factor 0) as trainNetwork treats them: no L2 term
is added to their gradient, and a layer whose learnables are all frozen has no
gradient at all, so it takes no part in the 'global-l2norm' norm (a frozen
learnable of a layer that still learns does, with its bare gradient). Only
'global-l2norm' can tell: a frozen learnable never moves.
"""

from __future__ import annotations

import math

import torch

from .options import TrainingOptions
from .torch_net import Learnable


class MatlabSolver:
    """The update rules above for a list of learnables: ``step(learn_rate)`` after each backward pass.

    Parameters whose factors are scalars update together (:func:`_each`: on the CPU one
    ``torch._foreach_*`` call runs the per-tensor operations, so every element gets the
    arithmetic it would get alone); those with per-gate factors (row tensors) one by one.
    """

    def __init__(self, learnables: list[Learnable], options: TrainingOptions, device: torch.device) -> None:
        self.learnables, self.options = learnables, options
        self.t = 0
        for learnable in learnables:
            learnable.lr = [f.to(device) if isinstance(f, torch.Tensor) else f for f in learnable.lr]
            learnable.l2 = [f.to(device) if isinstance(f, torch.Tensor) else f for f in learnable.l2]
        self.params = [p for learnable in learnables for p in learnable.params]
        self.sizes = [len(learnable.params) for learnable in learnables]
        self.lr = [f for learnable in learnables for f in learnable.lr]
        frozen = [all(_is_zero(f) for f in learnable.lr) for learnable in learnables]
        self.l2 = [0.0 if still else f for learnable, still in zip(learnables, frozen) for f in learnable.l2]
        learning_layers = {learnable.layer for learnable, still in zip(learnables, frozen) if not still}
        self.measured = [k for k, layer in enumerate(learnable.layer for learnable in learnables for _ in learnable.params)
                         if layer in learning_layers]  # the parameters with a gradient (see the module's docstring)
        self.v = [torch.zeros_like(p) for p in self.params]  # sgdm's velocity; adam's and rmsprop's squared-gradient average
        self.m = [torch.zeros_like(p) for p in self.params] if options.Solver == "adam" else []
        self.rows = [k for k, f in enumerate(self.lr) if isinstance(f, torch.Tensor)]  # per-gate learn-rate factors
        fused = [k for k, f in enumerate(self.lr) if not isinstance(f, torch.Tensor)]
        self.by_factor = {f: [k for k in fused if self.lr[k] == f] for f in dict.fromkeys(self.lr[k] for k in fused)}

    @torch.no_grad()
    def gradients(self) -> list[torch.Tensor]:
        """Per parameter (the learnables' in order): the regularized, clipped gradient."""
        o = self.options
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in self.params]
        if o.L2Regularization:
            decay = [o.L2Regularization * f * p if isinstance(f, torch.Tensor) else None for p, f in zip(self.params, self.l2)]
            scalar = [k for k, d in enumerate(decay) if d is None]
            for k, d in zip(scalar, _each("mul", [self.params[k] for k in scalar], [o.L2Regularization * self.l2[k] for k in scalar])):
                decay[k] = d
            grads = _each("add", grads, decay)
        if math.isfinite(o.GradientThreshold):
            threshold = o.GradientThreshold
            if o.GradientThresholdMethod == "absolute-value":
                grads = [g.clamp(-threshold, threshold) for g in grads]
            elif o.GradientThresholdMethod == "l2norm":
                grads = _clipped(grads, self.sizes, threshold)
            else:
                grads = list(grads)
                for k, g in zip(self.measured, _clipped([grads[k] for k in self.measured], [len(self.measured)], threshold)):
                    grads[k] = g
        return grads

    @torch.no_grad()
    def step(self, learn_rate: float) -> None:
        o = self.options
        self.t += 1
        grads = self.gradients()
        rows = self.rows
        if o.Solver == "sgdm":
            _each("mul_", self.v, o.Momentum)
            for factor, ks in self.by_factor.items():
                _each("sub_", [self.v[k] for k in ks], _each("mul", [grads[k] for k in ks], learn_rate * factor))
            for k in rows:
                self.v[k].sub_(learn_rate * self.lr[k] * grads[k])
            _each("add_", self.params, self.v)
            return
        _each("mul_", self.v, o.SquaredGradientDecayFactor)
        _each("addcmul_", self.v, grads, grads, value=1 - o.SquaredGradientDecayFactor)
        denominators = _each("sqrt", self.v)
        _each("add_", denominators, o.Epsilon)
        if o.Solver == "adam":
            _each("mul_", self.m, o.GradientDecayFactor)
            _each("add_", self.m, grads, alpha=1 - o.GradientDecayFactor)
            steps = self.m
            scale = math.sqrt(1 - o.SquaredGradientDecayFactor ** self.t) / (1 - o.GradientDecayFactor ** self.t)
        else:
            steps, scale = grads, 1.0
        for factor, ks in self.by_factor.items():
            _each("addcdiv_", [self.params[k] for k in ks], [steps[k] for k in ks], [denominators[k] for k in ks],
                  value=-(learn_rate * factor) * scale)
        for k in rows:
            self.params[k].sub_(learn_rate * self.lr[k] * scale * steps[k] / denominators[k])


def _is_zero(factor: torch.Tensor | float) -> bool:
    """A learn-rate factor of 0 (every row of a per-gate one)."""
    return not bool(torch.any(factor != 0)) if isinstance(factor, torch.Tensor) else factor == 0


FOREACH_DEVICES = {"cpu"}  # where torch._foreach_* runs the per-tensor operations themselves


def _each(op: str, tensors: list[torch.Tensor], *others, **keywords) -> list[torch.Tensor]:
    """``t.<op>(...)`` for each tensor ``t``; each of ``others`` is a list (one entry per tensor) or one scalar for all.

    On the CPU one ``torch._foreach_<op>`` call: it runs exactly these per-tensor
    operations, with one Python call instead of one per tensor. Elsewhere the calls
    one by one (CUDA's fused foreach kernels may group a product differently), and for
    no tensors, which ``torch._foreach_*`` refuses.
    """
    if tensors and tensors[0].device.type in FOREACH_DEVICES:
        return getattr(torch, f"_foreach_{op}")(tensors, *others, **keywords)
    spread = [other if isinstance(other, list) else [other] * len(tensors) for other in others]
    return [getattr(t, op)(*args, **keywords) for t, *args in zip(tensors, *spread)]


def _clipped(grads: list[torch.Tensor], groups: list[int], threshold: float) -> list[torch.Tensor]:
    """Each group of consecutive gradients (``groups`` their sizes) scaled together to l2 norm at most ``threshold``;
    the comparisons of all groups in one step (one read of the norms instead of one per group)."""
    if not grads:
        return grads
    sums = [square.sum() for square in _each("mul", grads, grads)]
    totals, start = [], 0
    for size in groups:
        part = sums[start : start + size]
        totals.append(part[0] if size == 1 else sum(part))  # 0 + s == s exactly: one operation fewer
        start += size
    norms = _each("sqrt", totals)
    out, start = [], 0
    for size, norm, over in zip(groups, norms, (torch.stack(norms) > threshold).tolist()):
        part = grads[start : start + size]
        out.extend([g * (threshold / norm) for g in part] if over else part)
        start += size
    return out
