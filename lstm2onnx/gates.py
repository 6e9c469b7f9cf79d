"""Gate orders: the one place that knows how LSTM gates are stacked.

MATLAB and PyTorch stack the four gate blocks as input, forget, cell
candidate, output (``"ifgo"``); ONNX stacks them as input, output, forget,
cell (``"iofc"``). ONNX's cell gate ``c`` is MATLAB's cell candidate ``g``.
Every permutation in the project is computed here from those names.
"""

from __future__ import annotations

import numpy as np

MATLAB = "ifgo"
PYTORCH = "ifgo"
ONNX = "iofc"

# ONNX calls the cell candidate "c"; MATLAB and PyTorch call it "g".
_CANONICAL = {"i": "i", "f": "f", "o": "o", "g": "g", "c": "g"}


def _canonical(order: str) -> str:
    letters = "".join(_CANONICAL.get(ch, "?") for ch in order)
    if len(order) != 4 or sorted(letters) != sorted("ifgo"):
        raise ValueError(f"gate order must name each of i, f, g|c, o once, got {order!r}")
    return letters


def gate_permutation(src: str, dst: str) -> list[int]:
    """Block indices p such that ``dst_blocks = [src_blocks[k] for k in p]``."""
    s, d = _canonical(src), _canonical(dst)
    return [s.index(gate) for gate in d]


def reorder_gates(array: np.ndarray, src: str, dst: str, axis: int = 0) -> np.ndarray:
    """Restack the four gate blocks of ``array`` along ``axis`` from ``src`` to ``dst`` order.

    ``array.shape[axis]`` must be ``4*H``; each block of ``H`` rows moves whole.
    """
    blocks = np.split(np.asarray(array), 4, axis=axis)
    return np.concatenate([blocks[k] for k in gate_permutation(src, dst)], axis=axis)


def gate_rows(order: str, gate: str, hidden_size: int) -> slice:
    """The rows of ``gate`` (one of i, f, g/c, o) in a ``4*H`` stack of the given order."""
    k = _canonical(order).index(_CANONICAL[gate])
    return slice(k * hidden_size, (k + 1) * hidden_size)


def to_onnx_lstm(
    input_weights: list[np.ndarray],
    recurrent_weights: list[np.ndarray],
    biases: list[np.ndarray],
    src: str = MATLAB,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ONNX ``W``, ``R``, ``B`` for an LSTM node, one list entry per direction.

    Inputs per direction: ``input_weights`` ``[4H, I]``, ``recurrent_weights``
    ``[4H, H]``, ``biases`` ``[4H]``, gates stacked in ``src`` order. Returns
    ``W [dirs, 4H, I]``, ``R [dirs, 4H, H]``, ``B [dirs, 8H]`` in float32 with
    gates in ONNX order. The single (MATLAB) bias goes to ``Wb`` and ``Rb`` is
    zero: the LSTM adds ``Wb + Rb``, so the sum is the MATLAB bias exactly.
    """
    W = np.stack([reorder_gates(w, src, ONNX) for w in input_weights])
    R = np.stack([reorder_gates(r, src, ONNX) for r in recurrent_weights])
    Wb = np.stack([reorder_gates(b, src, ONNX) for b in biases])
    B = np.concatenate([Wb, np.zeros_like(Wb)], axis=1)
    return W.astype(np.float32), R.astype(np.float32), B.astype(np.float32)
