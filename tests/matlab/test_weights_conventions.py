"""--weights files as MATLAB code in the wild saves them, written here as MATLAB writes them.

Layouts: one struct per layer (``save(f, '-struct', 's')``), the same one level down
(``save(f, 's')``), a dlnetwork's Learnables and State tables looped into two such
structs, layer Names that are not field names (``matlab.lang.makeValidName``), single
precision (``extractdata`` of a dlnetwork's values), gruLayer's 6H Bias; and what only
MATLAB can read (a network, a table, a dlarray, a gpuArray, a function handle) must end in an
error that names the variable and what to save instead.

v5/v7 files come from scipy.io.savemat; objects, which savemat cannot write, are written byte
for byte in MATLAB's layout (mxOPAQUE_CLASS: flags, name, 'MCOS', class name, object ids, plus
the unnamed subsystem matrix at the end). v7.3 files are HDF5 as MATLAB writes them: column-major
(transposed) datasets with MATLAB_class, struct groups with MATLAB_fields, objects as uint32
datasets with MATLAB_object_decode and a '#subsystem#' group.

Numerical tolerance: the built ONNX graph against the float64 reference, max abs error <= 1e-5.
"""

from __future__ import annotations

import dataclasses
import re
import struct
from pathlib import Path

import h5py
import numpy as np
import onnx
import pytest
import scipy.io
from conftest import assert_matches_reference, random_batch, run

from lstm2onnx import SpecError, initialize, reference
from lstm2onnx.cli import main
from lstm2onnx.matlab import from_matlab
from lstm2onnx.matlab.matfile import Opaque, read_mat
from lstm2onnx.matlab.weights import apply_weights, load_weights, make_valid_name

NET_M = """
layers = [
    sequenceInputLayer(3, 'Normalization', 'zscore', 'Name', 'in')
    lstmProjectedLayer(6, 2, 2, 'Name', 'lstm-proj')
    batchNormalizationLayer('Name', 'bn 1')
    bilstmLayer(3, 'Name', 'bilstm')
    gruLayer(4, 'ResetGateMode', 'recurrent-bias-after-multiplication', 'Name', 'gru', 'OutputMode', 'last')
    fullyConnectedLayer(2, 'Name', 'fc')
    softmaxLayer('Name', 'sm')
    classificationLayer('Name', 'out')];
"""
STATE = ("TrainedMean", "TrainedVariance", "HiddenState", "CellState")


def trained(rng):
    """The network with every learnable, state and input statistic set, as after MATLAB's training."""
    layers = list(initialize(from_matlab(NET_M), seed=1))
    layers[0] = dataclasses.replace(layers[0], Mean=rng.normal(size=3), StandardDeviation=rng.uniform(0.5, 2, 3))
    layers[2] = dataclasses.replace(layers[2], TrainedMean=rng.normal(size=6), TrainedVariance=rng.uniform(0.5, 2, 6))
    return layers


def tables(layers):
    """A dlnetwork's Learnables and State as (Layer, Parameter, Value) rows, single precision as extractdata gives
    them; gruLayer's biases as MATLAB holds them, one 6H-by-1 Bias; the input statistics read from net.Layers(1)."""
    learnables, state = [], []
    for layer in layers:
        values = {f.name: getattr(layer, f.name) for f in dataclasses.fields(layer) if isinstance(getattr(layer, f.name), np.ndarray)}
        if layer.FUNCTION == "gruLayer":
            values["Bias"] = np.concatenate([values["Bias"], values.pop("RecurrentBias")])
        for parameter, value in values.items():
            value = np.asarray(value, np.float32)
            (state if parameter in STATE or layer.FUNCTION == "sequenceInputLayer" else learnables).append(
                (layer.Name, parameter, value.reshape(-1, 1) if value.ndim == 1 else value))
    return learnables, state


def as_struct(rows):
    """s.(matlab.lang.makeValidName(T.Layer(k))).(T.Parameter(k)) = double(gather(extractdata(T.Value{k})))."""
    s: dict = {}
    for layer, parameter, value in rows:
        s.setdefault(make_valid_name(layer), {})[parameter] = value
    return s


def write_v73(path, variables):
    """HDF5 as MATLAB's save -v7.3 writes it (512-byte header, transposed datasets, MATLAB_class/MATLAB_fields)."""
    with h5py.File(path, "w", userblock_size=512) as f:
        for name, value in variables.items():
            _write_h5(f, f, name, value)
    with open(path, "r+b") as handle:
        handle.write(b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Wed Dec  2 07:00:00 2026 HDF5 schema 1.00 .".ljust(116))


def _write_h5(f, group, name, value):
    if isinstance(value, dict):
        sub = group.create_group(name)
        sub.attrs["MATLAB_class"] = np.bytes_("struct")
        sub.attrs.create("MATLAB_fields", [np.frombuffer(k.encode(), "S1") for k in value], dtype=h5py.vlen_dtype(np.dtype("S1")))
        for field, item in value.items():
            _write_h5(f, sub, field, item)
    elif isinstance(value, Opaque):  # an object: ids into the subsystem, which holds its properties
        ds = group.create_dataset(name, data=np.array([[0xDD000000, 2, 1, 1, 1, 1]], np.uint32))
        ds.attrs["MATLAB_class"] = np.bytes_(value.matlab_class)
        ds.attrs["MATLAB_object_decode"] = np.int32(3)
        f.require_group("#subsystem#")
    else:
        value = np.asarray(value)
        ds = group.create_dataset(name, data=value.T)
        ds.attrs["MATLAB_class"] = np.bytes_({np.float32: "single", np.float64: "double"}[value.dtype.type])


# -- MATLAB's v5 bytes for what savemat cannot write ------------------------------------------------


def _element(kind: int, payload: bytes) -> bytes:
    if 0 < len(payload) <= 4:  # small data element
        return struct.pack("<HH", kind, len(payload)) + payload.ljust(4, b"\0")
    return struct.pack("<II", kind, len(payload)) + payload + b"\0" * (-len(payload) % 8)


def _matrix(body: bytes) -> bytes:
    return struct.pack("<II", 14, len(body)) + body


def _flags(mx_class: int) -> bytes:
    return _element(6, struct.pack("<II", mx_class, 0))


def mcos(name: str, matlab_class: str) -> bytes:
    """A classdef object as MATLAB's save writes it: mxOPAQUE_CLASS, no dimensions, a uint32 array of object ids."""
    ids = np.array([0xDD000000, 2, 1, 1, 1, 1], "<u4").tobytes()
    metadata = _matrix(_flags(13) + _element(5, struct.pack("<ii", 6, 1)) + _element(1, b"") + _element(6, ids))
    return _matrix(_flags(17) + _element(1, name.encode()) + _element(1, b"MCOS") + _element(1, matlab_class.encode()) + metadata)


def double(name: str, value) -> bytes:
    value = np.atleast_2d(np.asarray(value, "<f8"))
    return _matrix(_flags(6) + _element(5, struct.pack("<ii", *value.shape)) + _element(1, name.encode()) + _element(9, value.tobytes(order="F")))


def struct_of(name: str, fields: dict[str, bytes]) -> bytes:
    names = b"".join(field.encode().ljust(32, b"\0") for field in fields)
    return _matrix(_flags(2) + _element(5, struct.pack("<ii", 1, 1)) + _element(1, name.encode()) + _element(5, struct.pack("<i", 32))
                   + _element(1, names) + b"".join(fields.values()))


def subsystem() -> bytes:
    """The unnamed uint8 matrix MATLAB appends when the file holds objects (scipy: __function_workspace__)."""
    mini = b"\0\x01IM\0\0\0\0" + double("", 0.0)
    return _matrix(_flags(9) + _element(5, struct.pack("<ii", 1, len(mini))) + _element(1, b"") + _element(2, mini))


def write_v5(path, *arrays: bytes) -> None:
    header = b"MATLAB 5.0 MAT-file, Platform: GLNXA64, Created on: Wed Dec  2 07:00:00 2026".ljust(116) + bytes(8)
    Path(path).write_bytes(header + struct.pack("<H", 0x0100) + b"IM" + b"".join(arrays))


# -- layouts that load --------------------------------------------------------------------------------


def save(path, fmt, variables):
    if fmt == "v7.3":
        write_v73(path, variables)
    else:
        scipy.io.savemat(path, variables, format="5", do_compression=(fmt == "v7"))


@pytest.mark.parametrize("fmt", ["v6", "v7", "v7.3"])
@pytest.mark.parametrize("layout", ["-struct", "wrapped", "learnables+state"])
def test_matlab_layouts_build_the_trained_network(tmp_path, rng, fmt, layout):
    layers = trained(rng)
    learnables, state = tables(layers)
    variables = {
        "-struct": as_struct(learnables + state),                                 # save(f, '-struct', 's')
        "wrapped": {"s": as_struct(learnables + state)},                          # save(f, 's')
        "learnables+state": {"learnables": as_struct(learnables), "state": as_struct(state)},  # save(f, 'learnables', 'state')
    }[layout]
    path = tmp_path / "learnables.mat"
    save(path, fmt, variables)
    loaded = apply_weights(from_matlab(NET_M), load_weights(path))
    for got, want in zip(loaded, layers):
        assert got.Name == want.Name
        for field in dataclasses.fields(want):
            if isinstance(getattr(want, field.name), np.ndarray):  # single precision kept exactly; gru's 6H Bias split
                np.testing.assert_array_equal(getattr(got, field.name), np.asarray(getattr(want, field.name), np.float32), err_msg=f"{want.Name}.{field.name}")

    spec = tmp_path / "net.m"
    spec.write_text(NET_M)
    out = tmp_path / "net.onnx"
    assert main(["build", str(spec), "--weights", str(path), "-o", str(out), "--ragged"]) == 0
    batch = random_batch(rng, 5, 8, 3, ragged=True)
    (probabilities,) = run(onnx.load(out), {"sequences": batch.padded, "sequence_lengths": batch.lengths}).values()
    assert_matches_reference(probabilities, reference.predict(layers, batch.sequences))


@pytest.mark.parametrize("name, valid", [
    ("lstm-proj", "lstm_proj"), ("bn 1", "bn1"), ("fc 2nd", "fc2nd"), ("my layer", "myLayer"),
    ("1st order", "x1stOrder"), ("Item_#", "Item__"), ("end", "xEnd"), ("_fc", "x_fc"), ("a" * 70, "a" * 63),
])
def test_make_valid_name_is_matlabs(name, valid):
    assert make_valid_name(name) == valid  # MATLAB's documented examples and rules (matlab.lang.makeValidName page)


def test_layer_names_that_collide_or_repeat_are_refused(tmp_path, rng):
    source = NET_M.replace("'Name', 'fc'", "'Name', 'lstm_proj'")  # 'lstm-proj' and 'lstm_proj' both give lstm_proj
    path = tmp_path / "w.mat"
    scipy.io.savemat(path, {"lstm_proj": {"Bias": np.zeros((24, 1))}})
    with pytest.raises(SpecError, match="weights for layer 'lstm_proj'") as error:
        apply_weights(from_matlab(source), load_weights(path))
    assert "fullyConnectedLayer 'lstm_proj'" in str(error.value)  # the exact Name wins: it is the fc layer's shapes that fail

    scipy.io.savemat(path, {"lstm_proj": {"Bias": np.zeros((24, 1))}, "lstm-proj": {"Bias": np.zeros((24, 1))}})
    variables = load_weights(path)  # scipy writes the invalid name as given; MATLAB could not
    with pytest.raises(SpecError, match=re.escape("weights for layer 'lstm-proj' are given as 'lstm-proj' and as 'lstm_proj'; keep one")):
        apply_weights(from_matlab(NET_M), dict(reversed(list(variables.items()))))

    two = "layers = [sequenceInputLayer(2); fullyConnectedLayer(2, 'Name', 'fc-1'); fullyConnectedLayer(2, 'Name', 'fc+1')];"
    with pytest.raises(SpecError, match=re.escape("weights for layer 'fc_1': layers 'fc-1', 'fc+1' all become 'fc_1' under matlab.lang.makeValidName")):
        apply_weights(from_matlab(two), {"fc_1": {"Bias": np.zeros(2)}})

    with pytest.raises(SpecError, match=re.escape("the network has no layer of that Name (layers: in, lstm-proj, bn 1, bilstm, gru, fc, sm, out); "
                                                  "expected a struct named by each layer's Name, or matlab.lang.makeValidName of it")):
        apply_weights(from_matlab(NET_M), {"lstm_1": {"Bias": np.zeros(24)}})

    scipy.io.savemat(path, {"a": {"lstm_proj": {"Bias": np.zeros((24, 1))}}, "b": {"lstm_proj": {"Bias": np.ones((24, 1))}}})
    with pytest.raises(SpecError, match=re.escape("b.lstm_proj.Bias is given twice (also in another variable); keep one")):
        load_weights(path)



# -- what only MATLAB can read ------------------------------------------------------------------------

SAVE_STRUCT = "save the learnables as plain arrays instead, one struct per layer Name"
TABLE = "save one struct per layer instead: s = struct(); T = net.Learnables; for k = 1:height(T)"


@pytest.mark.parametrize("matlab_class, hint", [
    ("SeriesNetwork", SAVE_STRUCT), ("dlnetwork", SAVE_STRUCT), ("table", TABLE),
    ("dlarray", "save its numbers: double(gather(extractdata(v)))"), ("gpuArray", "save its numbers: double(gather(v))"),
])
@pytest.mark.parametrize("fmt", ["v7", "v7.3"])
def test_objects_name_the_variable_and_what_to_save(tmp_path, fmt, matlab_class, hint):
    """save('net.mat', 'net'), save('w.mat', 'T') of net.Learnables, or a dlarray/gpuArray left in a field."""
    path = tmp_path / "w.mat"
    if fmt == "v7.3":
        write_v73(path, {"trainedNet": Opaque(matlab_class), "lstm": {"Bias": np.zeros((4, 1)), "InputWeights": Opaque(matlab_class)}})
    else:
        write_v5(path, mcos("trainedNet", matlab_class), struct_of("lstm", {"Bias": double("", np.zeros((4, 1))), "InputWeights": mcos("", matlab_class)}),
                 subsystem())
    assert read_mat(path)["trainedNet"] == Opaque(matlab_class)  # named as saved (scipy < 1.18 files objects under 'None')
    with pytest.raises(SpecError, match=re.escape(f"variable 'trainedNet' is a MATLAB {matlab_class}, which cannot be read outside MATLAB; {hint}")):
        load_weights(path)
    if fmt == "v7.3":
        write_v73(path, {"lstm": {"Bias": np.zeros((4, 1)), "InputWeights": Opaque(matlab_class)}})
    else:
        write_v5(path, struct_of("lstm", {"Bias": double("", np.zeros((4, 1))), "InputWeights": mcos("", matlab_class)}), subsystem())
    with pytest.raises(SpecError, match=re.escape(f"lstm.InputWeights is a MATLAB {matlab_class}, not a numeric array; {hint}")):
        load_weights(path)


def test_function_handles_and_old_objects_in_real_matlab_files():
    """Files MATLAB wrote (scipy's test data): a function handle's workspace is an mxOPAQUE_CLASS inside an
    mxFUNCTION_CLASS; an inline object is an old-style object. Both were refused or misread before."""
    data = Path(scipy.io.__file__).parent / "matlab" / "tests" / "data"
    if not (data / "sqr.mat").exists():
        pytest.skip("this scipy installation has no test data")
    assert read_mat(data / "sqr.mat") == {"sqr": Opaque("function_handle")}
    assert read_mat(data / "testfunc_7.4_GLNX86.mat") == {"testfunc": Opaque("function_handle")}
    assert read_mat(data / "testobject_7.4_GLNX86.mat") == {"testobject": Opaque("inline")}
    with pytest.raises(SpecError, match="variable 'sqr' is a MATLAB function_handle, which cannot be read outside MATLAB"):
        load_weights(data / "sqr.mat")


@pytest.mark.parametrize("variables, message", [
    ({"InputWeights": np.zeros((24, 2))},
     "variable 'InputWeights' is a 24x2 float64 array; expected a struct of arrays per layer Name (a bare InputWeights does not say which layer "
     "it belongs to: save it as s.<layer Name>.InputWeights)"),
    ({"T": np.array([[{"Layer": "fc", "Parameter": "Bias", "Value": np.zeros((2, 1))}]], dtype=object)},
     "variable 'T' is a 1x1 struct array; expected a struct of arrays per layer Name"),
])
def test_other_layouts_say_what_is_expected(tmp_path, variables, message):
    path = tmp_path / "w.mat"
    scipy.io.savemat(path, variables)
    with pytest.raises(SpecError, match=re.escape(message)):
        load_weights(path)
