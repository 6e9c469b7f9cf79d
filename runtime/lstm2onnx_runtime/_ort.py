"""onnxruntime, imported once with an install hint, and execution-provider selection."""

from __future__ import annotations

import functools
import importlib.util
import os

try:
    import onnxruntime as ort
except ImportError as error:  # pragma: no cover - exercised in a subprocess test
    raise ImportError(
        "lstm2onnx_runtime needs onnxruntime: pip install onnxruntime (or onnxruntime-gpu for the CUDA execution "
        "provider, never both); installing the runtime with its extra does it too: pip install './runtime[cpu]' from a checkout"
    ) from error

from .errors import ProviderError

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"
PROVIDERS = ("auto", "cpu", "cuda")


def cuda_available() -> bool:
    return CUDA in ort.get_available_providers()


def providers_for(provider: str) -> list[str]:
    """The providers list for an InferenceSession: 'cpu', 'cuda' (then CPU for what CUDA hands back) or 'auto'."""
    if not isinstance(provider, str) or provider.lower() not in PROVIDERS:
        raise ProviderError(f"provider must be one of 'auto', 'cpu', 'cuda', got {provider!r}")
    provider = provider.lower()
    if provider == "cpu" or (provider == "auto" and not cuda_available()):
        return [CPU]
    if not cuda_available():
        raise ProviderError(
            "provider 'cuda' was asked for, but this onnxruntime has no CUDAExecutionProvider "
            f"(available: {', '.join(ort.get_available_providers())}); install 'lstm2onnx-runtime[gpu]' "
            "(onnxruntime-gpu) with a matching CUDA, or use provider='cpu'"
        )
    return [CUDA, CPU]


def session_providers(provider: str, *, tf32: bool = False) -> list:
    """The ``providers`` argument for an ``onnxruntime.InferenceSession``: 'cpu', 'cuda' or 'auto', TF32 off.

    On Ampere and later GPUs (A100, H100, ...) NVIDIA's libraries compute float32
    matrix products in TF32 by default: 10 mantissa bits, results about 1e-3
    away from float32, where MATLAB, PyTorch on the CPU and the reference agree
    to 1e-6. With ``tf32=False`` (the default) the CUDA provider gets
    ``use_tf32=0`` (its cuBLAS MatMul/Gemm) and, because onnxruntime's cuDNN LSTM
    kernel has no such switch, ``NVIDIA_TF32_OVERRIDE=0`` is set for this process
    unless the variable is already set (NVIDIA's libraries read it when they
    start, so it holds for CUDA sessions created from now on). ``tf32=True``
    trades that accuracy for speed. CUDA libraries from NVIDIA's pip wheels are
    loaded first (:func:`preload_cuda_libraries`).
    """
    names = providers_for(provider)
    if names[0] != CUDA:
        return names
    preload_cuda_libraries()
    if not tf32:
        os.environ.setdefault("NVIDIA_TF32_OVERRIDE", "0")
    return [(CUDA, {"use_tf32": "1" if tf32 else "0"}), *names[1:]]


@functools.cache
def preload_cuda_libraries() -> None:
    """Load CUDA and cuDNN from NVIDIA's pip wheels (``pip install 'onnxruntime-gpu[cuda,cudnn]'``) if installed.

    onnxruntime-gpu finds CUDA/cuDNN on the system library path only;
    ``onnxruntime.preload_dlls`` (1.21+) finds the wheels. Runs once, before the
    first CUDA session; without the wheels (system CUDA) it does nothing.
    """
    if hasattr(ort, "preload_dlls") and importlib.util.find_spec("nvidia") is not None:
        ort.preload_dlls()


def fast_run(session):
    """``run(output_names, feeds, run_options) -> list`` for a session, skipping the Python wrapper's per-call checks.

    onnxruntime's public ``InferenceSession.run`` re-validates its arguments on
    every call (about 6 µs here, as much as a one-step LSTM); the bound C++
    session behind it does the same work without that, and is returned itself
    (no wrapper frame: next to a run, each µs of Python costs about two).
    Falls back to the public method, which takes the same three arguments,
    when the private attribute is absent (another onnxruntime version); both
    give identical results (tested).
    """
    inner = getattr(session, "_sess", None)
    if inner is not None and callable(getattr(inner, "run", None)):
        return inner.run
    return session.run
