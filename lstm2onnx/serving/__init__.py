"""Serving lstm2onnx models on NVIDIA Triton Inference Server.

- :func:`write_repository` (``lstm2onnx triton``): a Triton model repository
  for the onnxruntime backend (implicit state kept by Triton's sequence
  batcher) or the python backend (the runtime's ``StreamPool``);
- :class:`TritonServer` (``lstm2onnx serve``): the ``tritonserver`` binary
  shipped in the ``nvidia-pytriton`` wheel, started for local use and CI.
"""

from .server import ServeError, TritonServer, find_triton
from .triton import BACKENDS, write_repository

__all__ = ["write_repository", "BACKENDS", "TritonServer", "ServeError", "find_triton"]
