"""Fuzzing the runtime's data-file readers: any bytes in a .csv/.npy/.npz end in arrays or one RuntimeInputError."""

from __future__ import annotations

import io

import numpy as np
from hypothesis import HealthCheck, given, settings, strategies as st

from lstm2onnx_runtime.datafiles import read_data
from lstm2onnx_runtime.errors import RuntimeInputError

CSV_PIECES = ["\ufeff", "1", "2.5", "-3e-2", "nan", "inf", "x", "time", ",", ";", "\t", " ", "\n", "\r\n", '"', "1,5", "", "e", "--"]


def _valid(kind: str) -> bytes:
    buffer = io.BytesIO()
    if kind == "npy":
        np.save(buffer, np.arange(12, dtype=np.float32).reshape(4, 3))
    else:
        np.savez(buffer, a=np.ones((3, 2), np.float32), b=np.zeros((5, 2), np.float32))
    return buffer.getvalue()


SEEDS = {"npy": _valid("npy"), "npz": _valid("npz")}
SETTINGS = settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _read(path) -> None:
    try:
        data, _ = read_data(str(path))
    except RuntimeInputError:
        return
    arrays = data if isinstance(data, list) else [data]
    assert all(isinstance(a, np.ndarray) and a.dtype.kind == "f" for a in arrays)


@SETTINGS
@given(st.lists(st.sampled_from(CSV_PIECES), max_size=60))
def test_fuzzed_csv_files(tmp_path, pieces):
    path = tmp_path / "data.csv"
    path.write_text("".join(pieces), encoding="utf-8")
    _read(path)


@SETTINGS
@given(kind=st.sampled_from(["npy", "npz"]), edits=st.lists(st.tuples(st.integers(0, 5000), st.integers(0, 255)), min_size=1, max_size=6), cut=st.integers(0, 5000))
def test_fuzzed_numpy_files(tmp_path, kind, edits, cut):
    data = bytearray(SEEDS[kind])
    for position, byte in edits:
        data[position % len(data)] = byte
    if cut < len(data):
        data = data[:cut]
    path = tmp_path / f"data.{kind}"
    path.write_bytes(bytes(data))
    _read(path)
