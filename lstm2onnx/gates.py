"""Gate orders: the one place that knows how recurrent gates are stacked.

LSTM: MATLAB and PyTorch stack the four gate blocks as input, forget, cell
candidate, output (``"ifgo"``); ONNX stacks them as input, output, forget,
cell (``"iofc"``). ONNX's cell gate ``c`` is MATLAB's cell candidate ``g``.

GRU: MATLAB stacks reset, update, candidate (``"rzh"``), PyTorch's
``nn.GRU`` the same blocks as r, z, n (``"rzn"``, its new gate ``n`` is the
candidate ``h``); ONNX's ``GRU`` stacks update, reset, hidden (``"zrh"``).

Every permutation in the project is computed here from those names.
"""

from __future__ import annotations

import numpy as np

MATLAB = "ifgo"
PYTORCH = "ifgo"
ONNX = "iofc"

GRU_MATLAB = "rzh"
GRU_PYTORCH = "rzn"
GRU_ONNX = "zrh"

# Different names for the same gate: ONNX's LSTM cell "c" is the candidate "g";
# PyTorch's GRU new gate "n" is the candidate "h".
_CANONICAL = {"i": "i", "f": "f", "o": "o", "g": "g", "c": "g", "r": "r", "z": "z", "h": "h", "n": "h"}
_FAMILIES = ("ifgo", "rzh")


def _canonical(order: str) -> str:
    letters = "".join(_CANONICAL.get(ch, "?") for ch in order)
    if not any(sorted(letters) == sorted(family) for family in _FAMILIES):
        raise ValueError(f"gate order must name each LSTM gate i, f, g|c, o or each GRU gate r, z, h|n once, got {order!r}")
    return letters


def gate_permutation(src: str, dst: str) -> list[int]:
    """Block indices p such that ``dst_blocks = [src_blocks[k] for k in p]``."""
    s, d = _canonical(src), _canonical(dst)
    if sorted(s) != sorted(d):
        raise ValueError(f"gate orders {src!r} and {dst!r} name different gates")
    return [s.index(gate) for gate in d]


def reorder_gates(array: np.ndarray, src: str, dst: str, axis: int = 0) -> np.ndarray:
    """Restack the gate blocks of ``array`` along ``axis`` from ``src`` to ``dst`` order.

    ``array.shape[axis]`` must be ``G*H`` for the ``G = len(src)`` gates; each block of ``H`` rows moves whole.
    """
    permutation = gate_permutation(src, dst)
    blocks = np.split(np.asarray(array), len(permutation), axis=axis)
    return np.concatenate([blocks[k] for k in permutation], axis=axis)


def gate_rows(order: str, gate: str, hidden_size: int) -> slice:
    """The rows of ``gate`` (one of the order's letters or their aliases) in a ``G*H`` stack of the given order."""
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


def to_onnx_gru(
    input_weights: np.ndarray,
    recurrent_weights: np.ndarray,
    bias: np.ndarray,
    recurrent_bias: np.ndarray | None,
    src: str = GRU_MATLAB,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ONNX ``W [1, 3H, I]``, ``R [1, 3H, H]``, ``B [1, 6H]`` for a (forward) GRU node, float32, gates z, r, h.

    Inputs: ``input_weights`` ``[3H, I]``, ``recurrent_weights`` ``[3H, H]``,
    ``bias`` ``[3H]`` and ``recurrent_bias`` ``[3H]`` or None, stacked in
    ``src`` order. ``B = [Wb, Rb]``: the bias goes to ``Wb``; ``Rb`` is the
    recurrent bias, zero when there is none. With ``linear_before_reset=1``
    ONNX computes ``h~ = g(W_h x + Wb_h + r ⊙ (R_h h + Rb_h))`` and adds
    ``Wb + Rb`` for z and r, which is MATLAB's 'recurrent-bias-after-multiplication'
    (and 'after-multiplication' with ``Rb`` zero).
    """
    W = reorder_gates(input_weights, src, GRU_ONNX)[None]
    R = reorder_gates(recurrent_weights, src, GRU_ONNX)[None]
    Wb = reorder_gates(bias, src, GRU_ONNX)
    Rb = np.zeros_like(Wb) if recurrent_bias is None else reorder_gates(recurrent_bias, src, GRU_ONNX)
    B = np.concatenate([Wb, Rb])[None]
    return W.astype(np.float32), R.astype(np.float32), B.astype(np.float32)


def from_onnx_gru(W: np.ndarray, R: np.ndarray, B: np.ndarray, dst: str = GRU_MATLAB) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The inverse of :func:`to_onnx_gru`: ``(input_weights, recurrent_weights, bias, recurrent_bias)`` in ``dst`` order."""
    rows = W.shape[1]
    return (reorder_gates(W[0], GRU_ONNX, dst), reorder_gates(R[0], GRU_ONNX, dst),
            reorder_gates(B[0, :rows], GRU_ONNX, dst), reorder_gates(B[0, rows:], GRU_ONNX, dst))
