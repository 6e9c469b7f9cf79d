"""Convert the Japanese Vowels .ts files (../shared/data/japanese_vowels) into the package's .npz.

    python tools/convert_japanese_vowels.py [SOURCE_DIR]

Writes lstm2onnx/data/japanese_vowels.npz: for each split, the concatenated
time-by-12 frames, each sequence's length, and its label ('1'..'9').
"""

from __future__ import annotations

import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_SOURCE = os.path.join(HERE, "..", "..", "shared", "data", "japanese_vowels")
TARGET = os.path.join(HERE, "..", "lstm2onnx", "data", "japanese_vowels.npz")


def read_ts(path: str) -> tuple[list[np.ndarray], list[str]]:
    """sktime/aeon .ts: after @data, one sequence per row: 12 dimensions split by ':', frames by ',', label last."""
    sequences, labels = [], []
    with open(path, encoding="utf-8") as handle:
        in_data = False
        for line in handle:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if line.lower() == "@data":
                in_data = True
                continue
            if not in_data:
                continue
            *dims, label = line.split(":")
            x = np.array([[float(v) for v in d.split(",")] for d in dims]).T  # [time, 12]
            sequences.append(x)
            labels.append(label.strip())
    return sequences, labels


def main() -> int:
    source = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_SOURCE
    arrays = {}
    for split, name in (("train", "JapaneseVowels_TRAIN.ts"), ("test", "JapaneseVowels_TEST.ts")):
        sequences, labels = read_ts(os.path.join(source, name))
        arrays[f"{split}_frames"] = np.concatenate(sequences)
        arrays[f"{split}_lengths"] = np.array([len(s) for s in sequences], np.int32)
        arrays[f"{split}_labels"] = np.array(labels)
        print(f"{split}: {len(sequences)} sequences, lengths {min(map(len, sequences))}-{max(map(len, sequences))}, "
              f"{len(set(labels))} classes")
    np.savez_compressed(TARGET, **arrays)
    print(f"wrote {os.path.relpath(TARGET)} ({os.path.getsize(TARGET)} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
