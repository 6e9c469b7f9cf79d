"""What a model's layers ask of its input data beyond shape and finiteness (``lstm2onnx.io`` metadata).

- ``time_windows``: each 1-D convolution/pooling over time, in order, as
  ``{"padding": "same" | [l, r], "window": D, "stride": s}``. A sequence of L
  steps leaves such a layer with ``floor((L + l + r - D)/s) + 1`` steps
  (``ceil(L/s)`` for 'same'), so sequence outputs are that long, and a
  sequence too short to give one step is a data error (MATLAB's too).
- ``min_length``: the sequenceInputLayer's MinLength (absent: 1). As in
  MATLAB, input with fewer time steps is a data error on every path, stream
  steps included.
- ``word_indices``: ``{"num_words": K, "oov_mode": "error" | "map-to-last"}``
  when a wordEmbeddingLayer reads the input: every step must hold an integer
  word index, from 1 to K under OOVMode 'error'; under 'map-to-last' (MATLAB's
  default) any other integer is an out-of-vocabulary word, which the graph
  maps to the out-of-vocabulary vector (column K+1 of Weights). The graph
  clips indices into range, so without this check a bad index would be a
  silently wrong answer.

Streams (predictAndUpdateState) carry only recurrent state, as MATLAB's
predictAndUpdateState does; lstm2onnx refuses to build stateful graphs with
convolution or pooling over time, so ``time_windows`` only ever shape whole-
sequence calls. Word indices are checked on every path: predict/classify,
predictAndUpdateState and each StreamPool/StreamGroup step (before any state
moves).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from .errors import ModelError, RuntimeInputError

OOV_MODES = ("error", "map-to-last")


@dataclass(frozen=True)
class TimeWindow:
    padding: str | tuple[int, int]  # 'same' or (left, right)
    window: int
    stride: int

    def output_lengths(self, lengths: np.ndarray) -> np.ndarray:
        if self.padding == "same":
            return -(-lengths // self.stride)
        return (lengths + sum(self.padding) - self.window) // self.stride + 1


@dataclass(frozen=True)
class InputRules:
    """The model's rules for input steps; the defaults ask nothing."""

    windows: tuple[TimeWindow, ...] = ()
    num_words: int | None = None
    oov_mode: str = "error"
    min_steps: int = 1  # sequenceInputLayer's MinLength

    @property
    def active(self) -> bool:
        return bool(self.windows) or self.num_words is not None or self.min_steps > 1

    def output_lengths(self, lengths: np.ndarray) -> np.ndarray:
        """Each sequence's output steps for input lengths ``[N]``."""
        for window in self.windows:
            lengths = window.output_lengths(lengths)
        return lengths

    def min_length(self) -> int:
        """The fewest input steps the network takes: MinLength, and enough to leave every window with a step."""
        L = self.min_steps
        while not self._long_enough(L):
            L += 1
        return L

    def _long_enough(self, L: int) -> bool:
        lengths = np.array([L])
        for window in self.windows:
            lengths = window.output_lengths(lengths)
            if lengths[0] < 1:
                return False
        return True

    def check(self, function: str, sequences: Sequence[np.ndarray] | np.ndarray) -> None:
        """Raise RuntimeInputError for a sequence too short for the network or a step that is no word index."""
        if self.windows or self.min_steps > 1:
            shortest = self.min_length()
            for k, x in enumerate(sequences, 1):
                if len(x) < shortest:
                    needs = (f"the sequenceInputLayer's MinLength is {self.min_steps}" if len(x) < self.min_steps
                             else f"this network's convolution/pooling windows need at least {shortest}")
                    raise RuntimeInputError(f"{function}: sequence {k} has {len(x)} time steps; {needs}")
        if self.num_words is not None:
            for k, x in enumerate(sequences, 1):
                self._check_words(function, k, x)

    def _check_words(self, function: str, k: int, x: np.ndarray) -> None:
        w = x[..., 0]
        bad = w != np.round(w)  # NaN too: it is not equal to itself
        if self.oov_mode == "error":
            bad |= (w < 1) | (w > self.num_words)
        if bad.any():
            t = int(np.flatnonzero(bad.reshape(-1))[0])
            if self.oov_mode == "error":
                expected = f"an integer word index from 1 to {self.num_words}"
            else:
                expected = (f"an integer word index (OOVMode 'map-to-last' maps those outside 1..{self.num_words} "
                            "to the out-of-vocabulary vector)")
            raise RuntimeInputError(
                f"{function}: sequence {k}, time step {t + 1} holds {float(w.reshape(-1)[t]):g}; expected {expected} "
                "(the model's wordEmbeddingLayer reads word indices)"
            )


def read_rules(io: dict, path: str) -> InputRules:
    """The rules from ``lstm2onnx.io`` (absent keys: no rules), each value checked; a bad one is a ModelError."""

    def fail(what: str, value: Any) -> ModelError:
        return ModelError(f"{path!r}: metadata lstm2onnx.io: {what}, got {value!r:.80}")

    def positive(value: Any) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and value > 0

    windows = []
    raw = io.get("time_windows") or []
    if not isinstance(raw, list):
        raise fail("'time_windows' must be a list", raw)
    for entry in raw:
        if not isinstance(entry, dict) or not positive(entry.get("window")) or not positive(entry.get("stride")):
            raise fail("each time window must have a positive integer 'window' and 'stride'", entry)
        padding = entry.get("padding")
        if padding != "same":
            if (not isinstance(padding, list) or len(padding) != 2
                    or not all(isinstance(p, int) and not isinstance(p, bool) and p >= 0 for p in padding)):
                raise fail("a time window's 'padding' must be 'same' or [left, right] nonnegative integers", entry)
            padding = (padding[0], padding[1])
        windows.append(TimeWindow(padding, entry["window"], entry["stride"]))
    min_steps = io.get("min_length", 1)
    if not positive(min_steps):
        raise fail("'min_length' must be a positive integer", min_steps)
    words = io.get("word_indices")
    if words is None:
        return InputRules(tuple(windows), min_steps=min_steps)
    if not isinstance(words, dict) or not positive(words.get("num_words")) or words.get("oov_mode") not in OOV_MODES:
        raise fail("'word_indices' must be null or {num_words: positive integer, oov_mode: 'error' | 'map-to-last'}", words)
    return InputRules(tuple(windows), words["num_words"], words["oov_mode"], min_steps)
