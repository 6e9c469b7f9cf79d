"""lstm2onnx_runtime: run lstm2onnx models with onnxruntime (numpy + onnxruntime only; never torch or onnx).

>>> from lstm2onnx_runtime import load, predict, classify, predictAndUpdateState, resetState
>>> net = load("net.onnx", provider="auto")
>>> labels, scores = classify(net, X_test, MiniBatchSize=27)
"""

__version__ = "0.1.0"

from ._ort import session_providers
from .errors import ModelError, ProviderError, RuntimeInputError, StreamError
from .inference import classify, classifyAndUpdateState, predict, predictAndUpdateState, resetState
from .network import Network, load
from .streams import Stream, StreamPool

__all__ = [
    "__version__",
    "load",
    "Network",
    "predict",
    "classify",
    "predictAndUpdateState",
    "classifyAndUpdateState",
    "resetState",
    "StreamPool",
    "session_providers",
    "Stream",
    "RuntimeInputError",
    "StreamError",
    "ProviderError",
    "ModelError",
]
