"""Input checking, MATLAB's prediction options, and mini-batch planning.

Sequences arrive as MATLAB users hold them: a list of ``[time, features]``
arrays (MATLAB's cell array, transposed to time-major), one such array, or
one ``[batch, time, features]`` array.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from .errors import RuntimeInputError


@dataclass(frozen=True)
class PredictOptions:
    """MATLAB's prediction options: MiniBatchSize, SequenceLength, SequencePaddingValue, SequencePaddingDirection."""

    MiniBatchSize: int = 128
    SequenceLength: str | int = "longest"
    SequencePaddingValue: float = 0.0
    SequencePaddingDirection: str = "right"


def parse_options(function: str, args: tuple, kwargs: dict[str, Any]) -> PredictOptions:
    """Name-value pairs (``'MiniBatchSize', 27``) and/or keywords, names case-insensitive."""
    if len(args) % 2:
        raise RuntimeInputError(f"{function}: name-value arguments must come in pairs")
    names = {name.lower(): name for name in PredictOptions.__dataclass_fields__}
    given: dict[str, Any] = {}
    for key, value in [*zip(args[::2], args[1::2]), *kwargs.items()]:
        name = names.get(str(key).lower())
        if name is None:
            raise RuntimeInputError(f"{function}: unknown option {key!r}; supported options: {', '.join(names.values())}")
        if name in given:
            raise RuntimeInputError(f"{function}: option {name!r} is given more than once")
        given[name] = value
    size = given.get("MiniBatchSize", 128)
    if isinstance(size, bool) or not isinstance(size, numbers.Integral) or size < 1:
        raise RuntimeInputError(f"{function}: MiniBatchSize must be a positive integer, got {size!r}")
    length = given.get("SequenceLength", "longest")
    if isinstance(length, str) and length.lower() in ("longest", "shortest"):
        length = length.lower()
    elif isinstance(length, bool) or not isinstance(length, numbers.Integral) or length < 1:
        raise RuntimeInputError(f"{function}: SequenceLength must be 'longest', 'shortest' or a positive integer, got {length!r}")
    pad = given.get("SequencePaddingValue", 0.0)
    if isinstance(pad, bool) or not isinstance(pad, numbers.Real) or not math.isfinite(pad):
        raise RuntimeInputError(f"{function}: SequencePaddingValue must be a finite number, got {pad!r}")
    direction = given.get("SequencePaddingDirection", "right")
    if not isinstance(direction, str) or direction.lower() not in ("right", "left"):
        raise RuntimeInputError(f"{function}: SequencePaddingDirection must be 'right' or 'left', got {direction!r}")
    return PredictOptions(int(size), length if isinstance(length, str) else int(length), float(pad), direction.lower())


def as_sequences(function: str, X: Any, features: int, nan_policy: str) -> tuple[list[np.ndarray], str]:
    """Checked float32 ``[T, F]`` arrays and the input's form: 'single', 'list' or 'array'."""
    if isinstance(X, np.ndarray) and X.ndim == 3:
        items, form = list(X), "array"
    elif isinstance(X, np.ndarray) and X.ndim == 2:
        items, form = [X], "single"
    elif isinstance(X, (list, tuple)):
        items, form = list(X), "list"
        if not items:
            raise RuntimeInputError(f"{function}: no sequences given (an empty list)")
    else:
        raise RuntimeInputError(
            f"{function}: expected a list of [time, {features}] arrays, one such array, or a [batch, time, {features}] array; "
            f"got {type(X).__name__}{getattr(X, 'shape', '')}"
        )
    return [check_sequence(function, x, k, features, nan_policy) for k, x in enumerate(items, 1)], form


def check_sequence(function: str, x: Any, index: int | str, features: int, nan_policy: str) -> np.ndarray:
    """One sequence as a C-contiguous float32 ``[T, F]`` array, or a RuntimeInputError saying what is wrong."""
    what = f"{function}: sequence {index}"
    if not isinstance(x, np.ndarray) or x.dtype != np.float32:
        try:
            x = np.asarray(x)
        except (TypeError, ValueError):
            raise RuntimeInputError(f"{what} is not an array of numbers") from None
        if x.dtype.kind not in "fiub" or x.dtype == np.bool_:
            raise RuntimeInputError(f"{what} has dtype {x.dtype}; expected numbers (float32, or float64/int that can be cast)")
        x = x.astype(np.float32)
    if x.ndim != 2:
        raise RuntimeInputError(f"{what} must be a [time, {features}] array, got shape {x.shape}")
    if x.shape[1] != features:
        hint = (f"; it looks like MATLAB's features-by-time layout: pass its transpose (x.T)"
                if x.shape[0] == features else "")
        raise RuntimeInputError(f"{what} has {x.shape[1]} features per time step, expected {features}{hint}")
    if x.shape[0] == 0:
        raise RuntimeInputError(f"{what} is empty (0 time steps)")
    if nan_policy == "error" and not math.isfinite(float(x.sum(dtype=np.float64))):
        bad = np.argwhere(~np.isfinite(x))
        if len(bad):
            step, feature = bad[0]
            raise RuntimeInputError(
                f"{what} contains NaN or Inf (time step {step + 1}, feature {feature + 1}); "
                "clean the data or load the network with nan_policy='allow'"
            )
    return np.ascontiguousarray(x)


def plan_batches(lengths: np.ndarray, options: PredictOptions, ragged: bool) -> list[np.ndarray]:
    """Index sets of the mini-batches, each at most MiniBatchSize long.

    With 'longest' the sequences are sorted by length first (padding never
    changes a result, so this only saves work); a graph without
    ``sequence_lengths`` gets equal-length groups only. With 'shortest' the
    mini-batches follow the input order, as MATLAB's do, since truncation
    depends on the batch composition.
    """
    size = options.MiniBatchSize
    if options.SequenceLength == "shortest":
        return [np.arange(k, min(k + size, len(lengths))) for k in range(0, len(lengths), size)]
    order = np.argsort(lengths, kind="stable")
    if ragged:
        return [order[k : k + size] for k in range(0, len(order), size)]
    batches = []
    for length in np.unique(lengths):
        group = order[lengths[order] == length]
        batches += [group[k : k + size] for k in range(0, len(group), size)]
    return batches


def pad(sequences: Sequence[np.ndarray], steps: int, features: int, value: float) -> np.ndarray:
    """``[N, steps, F]`` float32: each sequence's first steps, then ``value``."""
    out = np.full((len(sequences), steps, features), value, np.float32)
    for k, x in enumerate(sequences):
        n = min(steps, len(x))
        out[k, :n] = x[:n]
    return out
