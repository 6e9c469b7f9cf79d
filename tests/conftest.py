"""Shared test helpers: random ragged batches, running a model in onnxruntime, one comparison helper.

Every numerical test compares against :mod:`lstm2onnx.reference` (float64)
with the tolerance it states.
"""

from __future__ import annotations

import functools
import os
import resource
import subprocess
import sys
import textwrap
import zlib
from dataclasses import dataclass

import numpy as np
import onnx
import onnxruntime as ort
import pytest

ATOL_FLOAT32 = 1e-5  # max abs error of a float32 model against the float64 reference


@functools.cache
def cuda_works() -> bool:
    """Whether onnxruntime runs sessions on CUDA here (onnxruntime-gpu lists the provider even on a machine without a GPU)."""
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        return False
    from lstm2onnx_runtime import session_providers

    providers = session_providers("cuda")  # loads CUDA from NVIDIA's wheels if installed, TF32 off, as the runtime does
    x = onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1])
    y = onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1])
    graph = onnx.helper.make_graph([onnx.helper.make_node("Identity", ["x"], ["y"])], "probe", [x], [y])
    model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 17)], ir_version=8)
    try:
        session = ort.InferenceSession(model.SerializeToString(), providers=providers)
    except Exception:  # onnxruntime raises its own types when CUDA libraries are missing
        return False
    return "CUDAExecutionProvider" in session.get_providers()


@dataclass
class Batch:
    """Ragged sequences, padded ``[N, T, F]`` float32, and their int32 lengths."""

    sequences: list[np.ndarray]
    padded: np.ndarray
    lengths: np.ndarray


def random_batch(rng: np.random.Generator, n: int, t_max: int, features: int, *, ragged: bool, pad_value: float = 0.0) -> Batch:
    lengths = rng.integers(1, t_max + 1, size=n) if ragged else np.full(n, t_max)
    if ragged:
        lengths[rng.integers(n)] = t_max  # the padded size is always reached by one sequence
    sequences = [rng.standard_normal((L, features)).astype(np.float32) for L in lengths]
    padded = np.full((n, t_max, features), pad_value, np.float32)
    for k, s in enumerate(sequences):
        padded[k, : len(s)] = s
    return Batch(sequences, padded, lengths.astype(np.int32))


def session(model: onnx.ModelProto) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


def run(model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    sess = session(model)
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(None, feeds)))


def assert_matches_reference(actual, expected, lengths=None, atol: float = ATOL_FLOAT32) -> float:
    """Compare an ORT output (``[N, K]`` or padded ``[N, T, K]``) with the reference; return the max error.

    For sequence outputs only each sequence's valid steps are compared.
    """
    if isinstance(expected, list):
        errors = [np.abs(actual[n, : len(e)] - e).max() for n, e in enumerate(expected)]
        if lengths is not None:
            assert [len(e) for e in expected] == list(lengths)
        err = max(errors)
    else:
        assert actual.shape == expected.shape, (actual.shape, expected.shape)
        err = float(np.abs(actual - expected).max())
    assert err <= atol, f"max abs error {err:.3g} > {atol:g}"
    return err


def onnxruntime_max_opset() -> int:
    """The newest opset (up to what onnx knows) that the installed onnxruntime loads a model of."""
    from onnx import TensorProto, helper

    for opset in range(onnx.defs.onnx_opset_version(), 13, -1):
        graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "probe",
                                  [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
        opsets = [helper.make_opsetid("", opset)]
        model = helper.make_model(graph, opset_imports=opsets, ir_version=helper.find_min_ir_version_for(opsets))
        try:
            session(model)
            return opset
        except Exception:  # onnxruntime refuses opsets newer than it knows, with its own exception types
            continue
    return 14


@pytest.fixture
def rng(request) -> np.random.Generator:
    """A generator seeded from the test's name, so every test is repeatable and independent."""
    return np.random.default_rng(zlib.crc32(request.node.nodeid.encode()))


MEMORY_LIMIT = 1536 * 2**20  # address space for a child running a bomb: far below what any bomb declares


def run_bounded(code: str, *args: str, memory: int = MEMORY_LIMIT, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run Python ``code`` in a child process limited to ``memory`` bytes of address space (one BLAS thread).

    A reader that materialised what a hostile input declares dies there with a
    MemoryError instead of taking the test machine down.
    """

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))

    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args], capture_output=True, text=True, env=env, preexec_fn=limit, timeout=timeout
    )
