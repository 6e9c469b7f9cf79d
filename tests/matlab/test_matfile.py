"""The .mat reader: MATLAB's value kinds in both formats, and files written to attack the reader.

Hostile files must end in a SpecError naming the problem, quickly and without
allocating what they declare: the bombs run in a child process under an
address-space limit, so a reader that materialised them would die there.
"""

from __future__ import annotations

import struct
import textwrap
import time
import zlib

import h5py
import numpy as np
import pytest
import scipy.io
import scipy.sparse
from hypothesis import HealthCheck, given, settings, strategies as st

from conftest import run_bounded
from lstm2onnx.errors import SpecError
from lstm2onnx.matlab.matfile import Opaque, read_mat
from lstm2onnx.matlab.weights import load_weights

def cell(*items) -> np.ndarray:
    out = np.empty((1, len(items)), dtype=object)
    for k, item in enumerate(items):
        out[0, k] = item
    return out


def write_v73(path, variables: dict) -> None:
    """A MATLAB-like v7.3 file: the 512-byte MATLAB header, MATLAB_class attributes, transposed storage."""
    with h5py.File(path, "w", userblock_size=512) as f:
        for name, value in variables.items():
            _write_h5(f, f, name, value)
    with open(path, "r+b") as handle:
        handle.write(b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: test HDF5 schema 1.00 .".ljust(116, b" "))


def _write_h5(f, group, name, value):
    if isinstance(value, dict):
        sub = group.create_group(name)
        sub.attrs["MATLAB_class"] = np.bytes_("struct")
        for field, item in value.items():
            _write_h5(f, sub, field, item)
    elif isinstance(value, str):
        ds = group.create_dataset(name, data=np.array([[ord(c)] for c in value], dtype=np.uint16))
        ds.attrs["MATLAB_class"] = np.bytes_("char")
    elif isinstance(value, np.ndarray) and value.dtype == object:
        refs = f.require_group("#refs#")
        out = np.empty(value.shape, dtype=h5py.ref_dtype)
        for index, item in np.ndenumerate(value):
            key = f"r{len(refs)}"
            _write_h5(f, refs, key, item)
            out[index] = refs[key].ref
        ds = group.create_dataset(name, data=out.T)
        ds.attrs["MATLAB_class"] = np.bytes_("cell")
    else:
        ds = group.create_dataset(name, data=np.atleast_2d(np.asarray(value, dtype=np.float64)).T)
        ds.attrs["MATLAB_class"] = np.bytes_("double")


# -- MATLAB's values ---------------------------------------------------------------------------------


@pytest.mark.parametrize("compress", [False, True], ids=["v6", "v7-compressed"])
def test_v5_values(tmp_path, compress, rng):
    sequences = cell(rng.standard_normal((12, 20)), rng.standard_normal((12, 7)))
    path = tmp_path / "data.mat"
    scipy.io.savemat(
        path,
        {
            "XTrain": sequences,
            "labels": cell("a", "bb", "a"),
            "numHidden": 96.0,
            "params": {"hidden": 64.0, "name": "lstm1"},
            "z": np.array([[1 + 2j]]),
            "S": scipy.sparse.eye(3).tocsc(),
            "title": "Japanese Vowels",
            "flags": np.array([[True, False]]),
        },
        do_compression=compress,
    )
    values = read_mat(path)
    assert values["XTrain"].shape == (1, 2) and values["XTrain"].dtype == object
    np.testing.assert_array_equal(values["XTrain"][0, 1], sequences[0, 1])
    assert [values["labels"][0, k] for k in range(3)] == ["a", "bb", "a"]
    assert values["numHidden"].shape == (1, 1) and values["numHidden"][0, 0] == 96
    assert values["params"]["name"] == "lstm1" and values["params"]["hidden"][0, 0] == 64
    assert values["z"][0, 0] == 1 + 2j
    assert values["S"] == Opaque("sparse")
    assert values["title"] == "Japanese Vowels"
    np.testing.assert_array_equal(values["flags"].astype(bool), [[True, False]])


def test_v73_values(tmp_path, rng):
    X = rng.standard_normal((12, 5))
    path = tmp_path / "data.mat"
    write_v73(path, {"XTrain": cell(X, X[:, :2]), "name": "net", "s": {"W": np.arange(6.0).reshape(2, 3)}})
    values = read_mat(path)
    assert values["XTrain"].shape == (1, 2)
    np.testing.assert_array_equal(values["XTrain"][0, 0], X)
    np.testing.assert_array_equal(values["XTrain"][0, 1], X[:, :2])
    assert values["name"] == "net"
    np.testing.assert_array_equal(values["s"]["W"], np.arange(6.0).reshape(2, 3))


# -- hostile v7.3 files ------------------------------------------------------------------------------


def test_v73_external_storage_is_refused(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"root:x:0:0:root:/root:/bin/bash\n" * 4)
    path = tmp_path / "w.mat"
    write_v73(path, {"lstm": {"Bias": np.zeros(4)}})
    with h5py.File(path, "a") as f:
        ds = f["lstm"].create_dataset("InputWeights", shape=(16,), dtype="f8", external=[(str(secret), 0, 128)])
        ds.attrs["MATLAB_class"] = np.bytes_("double")
    with pytest.raises(SpecError, match=r"lstm\.InputWeights keeps its data in an external file; refusing"):
        read_mat(path)
    with pytest.raises(SpecError, match="external file"):
        load_weights(path)


def test_v73_virtual_dataset_is_refused(tmp_path):
    source = tmp_path / "other.h5"
    with h5py.File(source, "w") as f:
        f["x"] = np.arange(4.0)
    path = tmp_path / "w.mat"
    write_v73(path, {"lstm": {"Bias": np.zeros(4)}})
    with h5py.File(path, "a") as f:
        layout = h5py.VirtualLayout(shape=(4,), dtype="f8")
        layout[:] = h5py.VirtualSource(str(source), "x", shape=(4,))
        f["lstm"].create_virtual_dataset("InputWeights", layout)
    with pytest.raises(SpecError, match=r"lstm\.InputWeights is a virtual dataset"):
        read_mat(path)


@pytest.mark.parametrize("kind", ["external", "soft"])
def test_v73_links_are_refused(tmp_path, kind):
    path = tmp_path / "w.mat"
    write_v73(path, {"lstm": {"Bias": np.zeros(4)}})
    with h5py.File(path, "a") as f:
        f["lstm"]["InputWeights"] = h5py.ExternalLink("/etc/hostname", "/x") if kind == "external" else h5py.SoftLink("/lstm/Bias")
    with pytest.raises(SpecError, match=f"lstm/InputWeights is an? {kind} link"):
        read_mat(path)


def test_v73_cell_reference_to_an_external_dataset_is_refused(tmp_path):
    secret = tmp_path / "secret.bin"
    secret.write_bytes(bytes(64))
    path = tmp_path / "w.mat"
    write_v73(path, {"C": cell(np.zeros(2))})
    with h5py.File(path, "a") as f:
        target = f["#refs#"].create_dataset("evil", shape=(8,), dtype="f8", external=[(str(secret), 0, 64)])
        f["C"][0, 0] = target.ref
    with pytest.raises(SpecError, match="external file"):
        read_mat(path)


READ_AND_REPORT = """
    import sys, time
    from lstm2onnx.errors import SpecError
    from lstm2onnx.matlab.matfile import read_mat
    start = time.process_time()
    try:
        read_mat(sys.argv[-1] if len(sys.argv) > 1 else {path!r})
    except SpecError as error:
        print("SpecError:", error)
    print("read seconds:", time.process_time() - start)
"""


def test_v73_gzip_bomb_is_refused_before_reading(tmp_path):
    path = tmp_path / "bomb.mat"
    write_v73(path, {})
    with h5py.File(path, "a") as f:
        g = f.create_group("lstm")
        g.attrs["MATLAB_class"] = np.bytes_("struct")
        ds = g.create_dataset("InputWeights", shape=(60000, 60000), dtype="f8", compression="gzip", chunks=(1000, 1000), fillvalue=1.0)
        ds.attrs["MATLAB_class"] = np.bytes_("double")
    assert path.stat().st_size < 100_000  # a few KB that would expand to 26.8 GiB
    child = run_bounded(READ_AND_REPORT.format(path=str(path)))
    assert child.returncode == 0, child.stderr
    assert "lstm.InputWeights declares 3,600,000,000 elements" in child.stdout
    assert float(child.stdout.split("read seconds:")[1]) < 1.0


def _v5_header() -> bytes:
    return b"MATLAB 5.0 MAT-file, written by a test".ljust(116, b" ") + bytes(8) + struct.pack("<H", 0x0100) + b"IM"


def _v5_double_matrix(name: bytes, dims: tuple[int, int], data_bytes: int) -> bytes:
    """The start of an miMATRIX of doubles whose data element claims ``data_bytes``; the data itself is left out."""
    parts = struct.pack("<II", 6, 8) + struct.pack("<II", 6, 0)  # array flags: mxDOUBLE_CLASS
    parts += struct.pack("<II", 5, 8) + struct.pack("<ii", *dims)
    parts += struct.pack("<HH", 1, len(name)) + name.ljust(4, b"\0")  # small element: the name
    parts += struct.pack("<II", 9, data_bytes)
    return struct.pack("<II", 14, len(parts) + data_bytes) + parts


def test_v5_compressed_bomb_is_refused_before_decompressing(tmp_path):
    inner = _v5_double_matrix(b"w", (60000, 60000), 0xFFFFFF00) + bytes(1 << 20)
    payload = zlib.compress(inner, 9)
    path = tmp_path / "bomb.mat"
    path.write_bytes(_v5_header() + struct.pack("<II", 15, len(payload)) + payload)
    child = run_bounded(READ_AND_REPORT.format(path=str(path)))
    assert child.returncode == 0, child.stderr
    assert "an array of size 60000x60000 declares 3,600,000,000 elements" in child.stdout
    assert float(child.stdout.split("read seconds:")[1]) < 1.0


def test_v5_data_larger_than_its_dimensions_is_refused(tmp_path):
    path = tmp_path / "liar.mat"
    path.write_bytes(_v5_header() + _v5_double_matrix(b"w", (2, 2), 1 << 30))
    with pytest.raises(SpecError, match="more than its array can hold|shorter than its parts"):
        read_mat(path)


def test_budget_counts_every_array_of_the_file(tmp_path):
    path = tmp_path / "many.mat"
    scipy.io.savemat(path, {f"a{k}": np.zeros((10, 10)) for k in range(5)})
    assert len(read_mat(path, max_elements=500)) == 5
    with pytest.raises(SpecError, match="with the arrays before it is more than the 499"):
        read_mat(path, max_elements=499)


def test_deep_nesting_is_refused(tmp_path):
    value: object = np.zeros((1, 1))
    for _ in range(40):
        value = cell(value)
    path = tmp_path / "deep.mat"
    scipy.io.savemat(path, {"c": value})
    with pytest.raises(SpecError, match="nested more than 32 levels"):
        read_mat(path)


@pytest.mark.parametrize("content", [b"", b"MATLAB 5.0", b"x" * 200, _v5_header()[:-2] + b"XX" + bytes(8)])
def test_files_that_are_not_mat_files(tmp_path, content):
    path = tmp_path / "junk.mat"
    path.write_bytes(content)
    try:
        assert read_mat(path) == {}  # a bare valid header holds no variables
    except SpecError as error:
        assert "not a readable .mat file" in str(error)


# -- the weights loader on what the reader returns -----------------------------------------------------


@pytest.mark.parametrize(
    "field, message",
    [
        ("text", r"lstm\.InputWeights is text \(a char array\), not a numeric array"),
        ("cell", r"lstm\.InputWeights is a cell array, not a numeric array"),
        ("struct", r"lstm\.InputWeights is a struct, not a numeric array"),
        ("complex", r"lstm\.InputWeights is complex; learnables must be real"),
        ("sparse", r"lstm\.InputWeights is a MATLAB sparse, not a numeric array"),
    ],
)
def test_weight_fields_that_are_not_real_arrays(tmp_path, field, message):
    value = {
        "text": "abc",
        "cell": cell(np.zeros(2)),
        "struct": {"a": 1.0},
        "complex": np.array([[1j, 2.0]]),
        "sparse": scipy.sparse.eye(2).tocsc(),
    }[field]
    path = tmp_path / "w.mat"
    scipy.io.savemat(path, {"lstm": {"InputWeights": value}})
    with pytest.raises(SpecError, match=message):
        load_weights(path)


def test_weights_file_without_variables(tmp_path):
    path = tmp_path / "empty.mat"
    scipy.io.savemat(path, {})
    with pytest.raises(SpecError, match="holds no variables"):
        load_weights(path)


# -- fuzzing ---------------------------------------------------------------------------------------


def _valid_v5(compress: bool) -> bytes:
    import io

    buffer = io.BytesIO()
    scipy.io.savemat(buffer, {"lstm": {"InputWeights": np.arange(12.0).reshape(4, 3), "Bias": np.ones(4)}, "c": cell("a", np.ones(2))}, do_compression=compress)
    return buffer.getvalue()


SEEDS = {False: _valid_v5(False), True: _valid_v5(True)}


@settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(compress=st.booleans(), edits=st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), min_size=1, max_size=8), cut=st.integers(0, 10_000))
def test_fuzzed_v5_files_end_in_values_or_a_spec_error(tmp_path, compress, edits, cut):
    data = bytearray(SEEDS[compress])
    for position, byte in edits:
        data[position % len(data)] = byte
    data = data[: max(cut, 129)] if cut < len(data) else data
    path = tmp_path / "fuzz.mat"
    path.write_bytes(bytes(data))
    start = time.process_time()
    try:
        values = read_mat(path, max_elements=10_000)
        assert isinstance(values, dict)
    except SpecError:
        pass
    assert time.process_time() - start < 2.0


FUZZ_V73 = """
    import random, sys, tempfile, os
    from lstm2onnx.errors import SpecError
    from lstm2onnx.matlab.matfile import read_mat
    seed = open(sys.argv[1], "rb").read()
    rng = random.Random(0)
    folder = tempfile.mkdtemp()
    outcomes = {"values": 0, "SpecError": 0}
    for case in range(120):
        data = bytearray(seed)
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(512, len(data))] = rng.randrange(256)
        if case % 4 == 3:
            data = data[: rng.randrange(512, len(data))]
        path = os.path.join(folder, f"fuzz{case}.mat")
        open(path, "wb").write(bytes(data))
        try:
            read_mat(path, max_elements=10_000)
            outcomes["values"] += 1
        except SpecError:
            outcomes["SpecError"] += 1
    print(outcomes)
"""


def test_fuzzed_v73_files_end_in_values_or_a_spec_error(tmp_path, rng):
    """Byte edits and truncations of a v7.3 file (after MATLAB's 512-byte header), in a child under a memory limit."""
    path = tmp_path / "seed.mat"
    write_v73(path, {"lstm": {"InputWeights": rng.standard_normal((8, 3)), "Bias": np.ones(8)}, "C": cell(np.ones(2), "ab")})
    child = run_bounded(FUZZ_V73, str(path), timeout=120)
    assert child.returncode == 0, child.stderr[-2000:]
    assert "'SpecError'" in child.stdout
