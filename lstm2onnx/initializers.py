"""MATLAB's weight initializers.

Each learnable is drawn from its own generator, ``default_rng((seed,
layer_index, parameter_index))``, so setting one learnable by hand never
changes the values drawn for the others.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from .errors import LayerError

MAX_LEARNABLE_ELEMENTS = 2**26  # per learnable (256 MiB as float32): a 4096-unit LSTM's RecurrentWeights fit


def check_size(shape: tuple[int, ...], where: str) -> None:
    """Refuse a learnable too large to draw before allocating it (e.g. ``lstmLayer(1e9)`` from a spec)."""
    count = int(np.prod(shape, dtype=np.float64))
    if count > MAX_LEARNABLE_ELEMENTS:
        size = "-by-".join(map(str, shape))
        raise LayerError(
            f"{where}: a {size} learnable has {count:,} elements, more than the {MAX_LEARNABLE_ELEMENTS:,} "
            "lstm2onnx draws (lstm2onnx.initializers.MAX_LEARNABLE_ELEMENTS); check the layer sizes"
        )


def _orthogonal(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """Q of the QR factorization of a standard-normal matrix, columns signed by diag(R)."""
    rows, cols = shape
    Z = rng.standard_normal((max(rows, cols), min(rows, cols)))
    Q, R = np.linalg.qr(Z)
    Q = Q * np.sign(np.diag(R))
    return Q if rows >= cols else Q.T


def weights(
    method: str | Callable,
    shape: tuple[int, int],
    fan_in: int,
    fan_out: int,
    rng: np.random.Generator,
    where: str,
    blocks: int = 1,
) -> np.ndarray:
    """A weight matrix of ``shape`` by MATLAB's ``method``.

    'glorot': uniform on ±sqrt(6/(fan_in + fan_out)); 'he': normal with
    std sqrt(2/fan_in); 'orthogonal': QR of a standard-normal matrix, done
    per block of rows (``blocks`` = directions for a bilstm);
    'narrow-normal': normal with std 0.01; 'zeros', 'ones'.
    """
    check_size(shape, where)
    if method == "glorot":
        bound = np.sqrt(6.0 / (fan_in + fan_out))
        values = rng.uniform(-bound, bound, size=shape)
    elif method == "he":
        values = rng.normal(0.0, np.sqrt(2.0 / fan_in), size=shape)
    elif method == "orthogonal":
        rows = shape[0] // blocks
        values = np.concatenate([_orthogonal((rows, shape[1]), rng) for _ in range(blocks)])
    elif method == "narrow-normal":
        values = rng.normal(0.0, 0.01, size=shape)
    elif method == "zeros":
        values = np.zeros(shape)
    elif method == "ones":
        values = np.ones(shape)
    else:
        values = _custom(method, shape, where)
    return _frozen(values)


def bias(
    method: str | Callable, hidden_size: int, directions: int, rng: np.random.Generator, where: str
) -> np.ndarray:
    """An LSTM bias ``[4H*dirs]``: 'unit-forget-gate' puts ones on each direction's forget block."""
    size = 4 * hidden_size * directions
    check_size((size,), where)
    if method == "unit-forget-gate":
        values = np.zeros((directions, 4, hidden_size))
        values[:, 1, :] = 1.0  # MATLAB stacks i, f, g, o: the forget gate is block 1
        return _frozen(values.reshape(size))
    return vector_bias(method, size, rng, where)


def vector_bias(method: str | Callable, size: int, rng: np.random.Generator, where: str) -> np.ndarray:
    """A bias vector by 'zeros', 'ones', 'narrow-normal' or a callable."""
    check_size((size,), where)
    if method == "zeros":
        values = np.zeros(size)
    elif method == "ones":
        values = np.ones(size)
    elif method == "narrow-normal":
        values = rng.normal(0.0, 0.01, size=size)
    else:
        values = _custom(method, (size, 1), where).reshape(size)
    return _frozen(values)


def _custom(method: Callable, shape: tuple[int, int], where: str) -> np.ndarray:
    try:
        values = np.asarray(method(shape), dtype=np.float64)
    except Exception as exc:  # a user's callable can fail in any way; report it against the property
        raise LayerError(f"{where}: the initializer callable failed: {exc!r}") from exc
    if values.size != shape[0] * shape[1]:
        raise LayerError(f"{where}: the initializer callable must return an array of shape {shape}, got {values.shape}")
    if not np.all(np.isfinite(values)):
        raise LayerError(f"{where}: the initializer callable returned NaN or Inf")
    return values.reshape(shape)


def _frozen(values: np.ndarray) -> np.ndarray:
    out = np.asarray(values, dtype=np.float32)
    out.flags.writeable = False
    return out
