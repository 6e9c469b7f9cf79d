"""Example data shipped inside the package (see lstm2onnx/data/README.md for the source and licence)."""

from __future__ import annotations

import os

import numpy as np

_JAPANESE_VOWELS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "japanese_vowels.npz")


def _japanese_vowels(split: str) -> tuple[list[np.ndarray], np.ndarray]:
    with np.load(_JAPANESE_VOWELS) as data:
        frames, lengths, labels = data[f"{split}_frames"], data[f"{split}_lengths"], data[f"{split}_labels"]
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    return [frames[s : s + n] for s, n in zip(starts, lengths)], labels.astype(str)


def japaneseVowelsTrainData() -> tuple[list[np.ndarray], np.ndarray]:
    """``XTrain, YTrain``: 270 sequences of time-by-12 float64 arrays and their speaker labels '1'..'9'.

    MATLAB's ``XTrain{i}`` is features-by-time (12-by-T); here ``XTrain[i]`` is its transpose.
    """
    return _japanese_vowels("train")


def japaneseVowelsTestData() -> tuple[list[np.ndarray], np.ndarray]:
    """``XTest, YTest``: 370 sequences (7 to 29 time steps, 12 features) and labels '1'..'9'."""
    return _japanese_vowels("test")
