"""onnxruntime, imported once with an install hint, and execution-provider selection."""

from __future__ import annotations

try:
    import onnxruntime as ort
except ImportError as error:  # pragma: no cover - exercised in a subprocess test
    raise ImportError(
        "lstm2onnx_runtime needs onnxruntime: pip install 'lstm2onnx-runtime[cpu]' "
        "(or 'lstm2onnx-runtime[gpu]' for onnxruntime-gpu and the CUDA execution provider)"
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
