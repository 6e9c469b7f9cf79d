"""The shipped Japanese Vowels model and the accuracy the READMEs state agree (issue 11).

Both come from one script, ``models/japanese_vowels/train.py`` (the code path of ``make run``); this test
classifies the 370 test sequences with the shipped file in onnxruntime and compares with the figures
written in models/japanese_vowels/README.md and in README.md's "Measured" section.
"""

from __future__ import annotations

import pathlib
import re

import numpy as np

import lstm2onnx_runtime as rt
from lstm2onnx import japaneseVowelsTestData

ROOT = pathlib.Path(__file__).resolve().parent.parent
MODEL = ROOT / "models" / "japanese_vowels"


def test_shipped_model_scores_what_the_readmes_say():
    XTest, YTest = japaneseVowelsTestData()
    labels, _ = rt.classify(rt.load(MODEL / "japanese_vowels.onnx", "cpu"), XTest, MiniBatchSize=27)
    correct = int(np.sum(labels == YTest))
    stated = re.search(r"shipped model, seed 0: test accuracy \*\*(0\.\d{4})\*\* \((\d+) of 370\)", (MODEL / "README.md").read_text())
    assert stated, "models/japanese_vowels/README.md states no accuracy for the shipped model"
    assert (stated.group(1), int(stated.group(2))) == (f"{correct / 370:.4f}", correct)
    measured = re.search(r"`make run`: Japanese Vowels trained .*?test accuracy\s+(0\.\d{4}) in onnxruntime", (ROOT / "README.md").read_text(), re.S)
    assert measured and measured.group(1) == f"{correct / 370:.4f}"
