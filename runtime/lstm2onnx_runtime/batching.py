"""Input checking, MATLAB's prediction options, and mini-batch planning.

Sequences arrive as MATLAB users hold them: a list of ``[time, features]``
arrays (MATLAB's cell array, transposed to time-major), one such array, or
one ``[batch, time, features]`` array.
"""

from __future__ import annotations

import functools
import math
import numbers
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from .errors import RuntimeInputError


@dataclass(frozen=True)
class PredictOptions:
    """MATLAB's prediction options.

    MiniBatchSize, SequenceLength, SequencePaddingValue, SequencePaddingDirection act as
    the module :mod:`lstm2onnx_runtime.inference` says. ExecutionEnvironment and
    Acceleration are checked against MATLAB's values and have no effect here: the
    execution provider is chosen when the network is loaded (``load(path, provider=)``),
    and onnxruntime has no MEX path. The caller warns when they disagree.
    """

    MiniBatchSize: int = 128
    SequenceLength: str | int = "longest"
    SequencePaddingValue: float = 0.0
    SequencePaddingDirection: str = "right"
    ExecutionEnvironment: str = "auto"
    Acceleration: str = "auto"


DEFAULTS = PredictOptions()
ENVIRONMENTS = ("auto", "cpu", "gpu", "multi-gpu", "parallel")  # MATLAB's predict/classify values
ACCELERATIONS = ("auto", "mex", "none")
MAX_STEPS = 2**31 - 1  # the largest SequenceLength/MiniBatchSize that means something (int32 lengths and batch sizes)
_FLOAT32 = np.dtype(np.float32)
_OPTION_NAMES = {name.lower(): name for name in PredictOptions.__dataclass_fields__}


def parse_options(function: str, args: tuple, kwargs: dict[str, Any]) -> PredictOptions:
    """Name-value pairs (``'MiniBatchSize', 27``) and/or keywords, names case-insensitive."""
    if not args and not kwargs:
        return DEFAULTS
    try:  # the cache key carries each value's type: 1, 1.0, True and np.int64(1) are equal and hash alike, but differ here
        return _parse_cached(function, tuple((type(a), a) for a in args), tuple((k, type(v), v) for k, v in kwargs.items()))
    except TypeError:  # an unhashable value: parse it uncached, which reports it
        return _parse(function, args, kwargs)


@functools.lru_cache(maxsize=256)
def _parse_cached(function: str, typed_args: tuple, typed_kwargs: tuple) -> PredictOptions:
    return _parse(function, tuple(a for _, a in typed_args), {k: v for k, _, v in typed_kwargs})


def _parse(function: str, args: tuple, kwargs: dict[str, Any]) -> PredictOptions:
    if len(args) % 2:
        raise RuntimeInputError(f"{function}: name-value arguments must come in pairs")
    names = _OPTION_NAMES
    given: dict[str, Any] = {}
    for key, value in [*zip(args[::2], args[1::2]), *kwargs.items()]:
        name = names.get(str(key).lower())
        if name is None:
            raise RuntimeInputError(f"{function}: unknown option {key!r}; supported options: {', '.join(names.values())}")
        if name in given:
            raise RuntimeInputError(f"{function}: option {name!r} is given more than once")
        given[name] = value
    size = given.get("MiniBatchSize", 128)
    if not _positive_integer(size):
        raise RuntimeInputError(f"{function}: MiniBatchSize must be a positive integer, got {size!r}")
    length = given.get("SequenceLength", "longest")
    if isinstance(length, str) and length.lower() in ("longest", "shortest"):
        length = length.lower()
    elif isinstance(length, str) or not _positive_integer(length):
        raise RuntimeInputError(f"{function}: SequenceLength must be 'longest', 'shortest' or a positive integer, got {length!r}")
    pad = given.get("SequencePaddingValue", 0.0)
    if isinstance(pad, bool) or not isinstance(pad, numbers.Real) or not math.isfinite(pad):
        raise RuntimeInputError(f"{function}: SequencePaddingValue must be a finite number, got {pad!r}")
    direction = given.get("SequencePaddingDirection", "right")
    if not isinstance(direction, str) or direction.lower() not in ("right", "left"):
        raise RuntimeInputError(f"{function}: SequencePaddingDirection must be 'right' or 'left', got {direction!r}")
    environment = _choice(function, "ExecutionEnvironment", given.get("ExecutionEnvironment", "auto"), ENVIRONMENTS)
    acceleration = _choice(function, "Acceleration", given.get("Acceleration", "auto"), ACCELERATIONS)
    # Above 2**31 - 1 steps (onnxruntime's int32 lengths) every chunk length means the same; numpy needs it bounded
    length = length if isinstance(length, str) else min(int(length), MAX_STEPS)
    return PredictOptions(min(int(size), MAX_STEPS), length, float(pad), direction.lower(), environment, acceleration)


def _positive_integer(value: Any) -> bool:
    """A whole number >= 1, also as a float (27.0: MATLAB's numbers are doubles, and MATLAB takes them); not a bool."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return False
    return value >= 1 and (isinstance(value, numbers.Integral) or float(value).is_integer())


def _choice(function: str, name: str, value: Any, allowed: tuple[str, ...]) -> str:
    if isinstance(value, str) and value.lower() in allowed:
        return value.lower()
    raise RuntimeInputError(f"{function}: {name} must be one of {', '.join(map(repr, allowed))}, got {value!r}")


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
    sequences = [check_sequence(function, x, k, features, "allow") for k, x in enumerate(items, 1)]
    if nan_policy == "error":
        flat = sequences[0] if len(sequences) == 1 else np.concatenate(sequences)
        if not math.isfinite(np.vdot(flat, flat)):  # one BLAS call for all (see check_finite); else name the first
            for k, x in enumerate(sequences, 1):
                check_finite(f"{function}: sequence {k}", x)
    return sequences, form


def check_sequence(function: str, x: Any, index: int | str, features: int, nan_policy: str) -> np.ndarray:
    """One sequence as a C-contiguous float32 ``[T, F]`` array, or a RuntimeInputError saying what is wrong."""
    if type(x) is not np.ndarray or x.dtype is not _FLOAT32:
        try:
            x = np.asarray(x)
        except (TypeError, ValueError):
            raise RuntimeInputError(f"{function}: sequence {index} is not an array of numbers") from None
        if x.dtype.kind not in "fiub" or x.dtype == np.bool_:
            raise RuntimeInputError(f"{function}: sequence {index} has dtype {x.dtype}; expected numbers (float32, or float64/int that can be cast)")
        x = x.astype(np.float32)
    shape = x.shape
    if len(shape) != 2 or shape[1] != features or not shape[0]:
        raise RuntimeInputError(f"{function}: sequence {index} {_shape_problem(shape, features)}")
    if not x.flags.c_contiguous:
        x = np.ascontiguousarray(x)
    if nan_policy == "error":
        check_finite(f"{function}: sequence {index}", x)
    return x


def _shape_problem(shape: tuple[int, ...], features: int) -> str:
    if len(shape) != 2:
        return f"must be a [time, {features}] array, got shape {shape}"
    if shape[1] != features:
        hint = "; it looks like MATLAB's features-by-time layout: pass its transpose (x.T)" if shape[0] == features else ""
        return f"has {shape[1]} features per time step, expected {features}{hint}"
    return "is empty (0 time steps)"


def check_finite(what: str, x: np.ndarray) -> None:
    """Reject NaN/Inf, naming the first one's position. ``x`` is C-contiguous float32.

    One BLAS dot product decides for the common, clean case (about 1 µs); it
    is finite unless some value is NaN/Inf or huge, and only then is every
    value inspected.
    """
    if math.isfinite(np.vdot(x, x)):  # vdot flattens without making a view object
        return
    bad = np.argwhere(~np.isfinite(x))
    if len(bad):
        *batch, step, feature = bad[0]
        where = f"sequence {batch[0] + 1}, " if batch else ""
        raise RuntimeInputError(
            f"{what} contains NaN or Inf ({where}time step {step + 1}, feature {feature + 1}); "
            "clean the data or load the network with nan_policy='allow'"
        )


def check_batch(what: str, X: np.ndarray, features: int, nan_policy: str) -> np.ndarray:
    """A ``[N, T, F]`` batch as a C-contiguous float32 array, checked like :func:`check_sequence`."""
    if X.dtype is not _FLOAT32:
        if X.dtype.kind not in "fiu":
            raise RuntimeInputError(f"{what} has dtype {X.dtype}; expected numbers (float32, or float64/int that can be cast)")
        X = X.astype(np.float32)
    shape = X.shape
    if shape[2] != features:
        hint = "; it looks like MATLAB's features-by-time layout: pass X.transpose(0, 2, 1)" if shape[1] == features else ""
        raise RuntimeInputError(f"{what}: the batch has {shape[2]} features per time step, expected {features}{hint}")
    if shape[0] == 0 or shape[1] == 0:
        raise RuntimeInputError(f"{what}: the batch is empty (shape {shape})")
    if not X.flags.c_contiguous:
        X = np.ascontiguousarray(X)
    if nan_policy == "error":
        check_finite(what, X)
    return X


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
    """``[N, steps, F]`` float32: each sequence's first steps, then ``value``.

    (A Python loop of slice copies: measured faster than one concatenation plus a masked write.)
    """
    out = np.full((len(sequences), steps, features), value, np.float32)
    for k, x in enumerate(sequences):
        n = min(steps, len(x))
        out[k, :n] = x[:n]
    return out
