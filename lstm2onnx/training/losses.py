"""trainnet's loss functions and metrics (MATLAB R2023b+ names), padded time steps excluded.

Shapes: network output Y and targets T are ``[N, K]`` (one step per observation) or padded
``[N, T, K]``; ``mask`` ``[N]`` or ``[N, T]`` marks the real (unpadded) observations/steps. With
M = the number of real observations/steps (MATLAB's "non-channel elements") and E = M·K (the
elements), as trainnet's documentation normalizes each loss:

    "crossentropy"                                −Σ T log Y / M
    "binary-crossentropy"                         −Σ [T log Y + (1−T) log(1−Y)] / E
    "mse" = "mean-squared-error" = "l2loss"       Σ (Y − T)² / E
    "mae" = "mean-absolute-error" = "l1loss"      Σ |Y − T| / E
    "huber"                                       Σ h(Y − T) / E,  h(d) = d²/2 for |d| ≤ 1, else |d| − 1/2

(sums over the real elements). "l2loss"/"l1loss" follow trainnet's table (R2024a), where they
name the same losses as "mse"/"mae": not the half squared error of the ``mse`` dlarray function
nor the batch-size normalization of the standalone ``l2loss``. Cross-entropy takes log-softmax of
the logits when the network ends in softmaxLayer (the same value, computed stably); otherwise
log Y with Y clamped to [1e-30, 1] (and 1 − Y likewise) so a saturated sigmoid gives a large
finite loss. Metrics: "accuracy" = 100·(argmax Y = argmax T, or the label) over the real
observations/steps; "rmse" = √(Σ (Y − T)² / E).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch

TINY = 1e-30


def _log(p: torch.Tensor) -> torch.Tensor:
    return torch.log(p.clamp(TINY, 1.0))


def crossentropy(Y: torch.Tensor, T: torch.Tensor, log_Y: torch.Tensor) -> tuple[torch.Tensor, str]:
    return -(T * log_Y).sum(-1), "observations"


def binary_crossentropy(Y: torch.Tensor, T: torch.Tensor, log_Y: torch.Tensor) -> tuple[torch.Tensor, str]:
    return -(T * _log(Y) + (1 - T) * _log(1 - Y)), "elements"


def squared_error(Y: torch.Tensor, T: torch.Tensor, log_Y: torch.Tensor) -> tuple[torch.Tensor, str]:
    return (Y - T) ** 2, "elements"


def absolute_error(Y: torch.Tensor, T: torch.Tensor, log_Y: torch.Tensor) -> tuple[torch.Tensor, str]:
    return (Y - T).abs(), "elements"


def huber(Y: torch.Tensor, T: torch.Tensor, log_Y: torch.Tensor) -> tuple[torch.Tensor, str]:
    d = (Y - T).abs()
    return torch.where(d <= 1.0, 0.5 * d * d, d - 0.5), "elements"


LOSSES: dict[str, Callable] = {
    "crossentropy": crossentropy,
    "binary-crossentropy": binary_crossentropy,
    "mse": squared_error,
    "mean-squared-error": squared_error,
    "l2loss": squared_error,
    "mae": absolute_error,
    "mean-absolute-error": absolute_error,
    "l1loss": absolute_error,
    "huber": huber,
}


@dataclass(frozen=True)
class Loss:
    """A named loss (see the module docstring) or the user's callable ``f(Y, T) -> scalar tensor``.

    A callable sees the network's outputs (probabilities after a final softmax) and the targets as
    float tensors of the same shape; padded time steps are zero in both, so sums ignore them.
    """

    name: str
    function: Callable | None = None  # the user's callable

    @property
    def uses_labels(self) -> bool:
        return self.name == "crossentropy"

    def __call__(self, out: torch.Tensor, T: torch.Tensor, mask: torch.Tensor, logits: bool) -> torch.Tensor:
        """The loss of one mini-batch: ``out`` the network's output (logits if ``logits``), T float targets."""
        Y = torch.softmax(out, dim=-1) if logits else out
        weight = mask.to(Y.dtype)[..., None]
        if self.function is not None:
            return self.function(Y * weight, T * weight)
        log_Y = torch.log_softmax(out, dim=-1) if logits else _log(Y)
        per, normalized_by = LOSSES[self.name](Y, T, log_Y)
        if per.dim() == weight.dim():
            total = (per * weight).sum()
        else:  # one value per observation/step
            total = (per * weight[..., 0]).sum()
        count = mask.sum() * (Y.shape[-1] if normalized_by == "elements" else 1)
        return total / count.clamp_min(1)


def metric_terms(name: str, Y: torch.Tensor, T: torch.Tensor, mask: torch.Tensor) -> tuple[float, float]:
    """``(sum, count)`` of one mini-batch for a metric, summable over mini-batches and processes (see :func:`metric_value`)."""
    if name == "accuracy":
        hits = (Y.argmax(-1) == T.argmax(-1)) & mask
        return float(hits.sum()), float(mask.sum())
    weight = mask.to(Y.dtype)[..., None]
    return float((((Y - T) ** 2) * weight).sum()), float(mask.sum()) * Y.shape[-1]


def metric_value(name: str, total: float, count: float) -> float:
    if not count:
        return math.nan
    return 100.0 * total / count if name == "accuracy" else math.sqrt(total / count)


def loss_named(lossFcn) -> Loss:
    """MATLAB's ``lossFcn`` argument: a loss name (case-insensitive) or a callable."""
    if callable(lossFcn):
        return Loss(getattr(lossFcn, "__name__", "custom"), lossFcn)
    if isinstance(lossFcn, str) and lossFcn.lower() in LOSSES:
        return Loss(lossFcn.lower())
    from ..errors import Lstm2OnnxError

    raise Lstm2OnnxError(f"trainnet: lossFcn must be one of {', '.join(map(repr, LOSSES))} or a function f(Y, T), got {lossFcn!r}")
