"""lstm2onnx: MATLAB-style LSTM layer arrays to standard ONNX graphs.

>>> from lstm2onnx import sequenceInputLayer, lstmLayer, fullyConnectedLayer, softmaxLayer, classificationLayer, build
>>> layers = [sequenceInputLayer(12), lstmLayer(100, 'OutputMode', 'last'),
...           fullyConnectedLayer(9), softmaxLayer(), classificationLayer()]
>>> model = build(layers, seed=0)
"""

from ._version import __version__
from .builder import build, exportONNXNetwork
from .errors import LayerError, Lstm2OnnxError, NetworkError, SpecError
from .layers import (
    BiLSTMLayer,
    ClassificationOutputLayer,
    DropoutLayer,
    FullyConnectedLayer,
    Layer,
    LSTMLayer,
    RegressionOutputLayer,
    SequenceInputLayer,
    SoftmaxLayer,
    bilstmLayer,
    classificationLayer,
    dropoutLayer,
    fullyConnectedLayer,
    lstmLayer,
    regressionLayer,
    sequenceInputLayer,
    softmaxLayer,
)
from .network import LayerArray, analyze, initialize
from .datasets import japaneseVowelsTestData, japaneseVowelsTrainData
from .training import TrainingOptions, classify, predict, trainNetwork, trainingOptions

__all__ = [
    "__version__",
    "build",
    "exportONNXNetwork",
    "initialize",
    "analyze",
    "LayerArray",
    "Layer",
    "sequenceInputLayer",
    "lstmLayer",
    "bilstmLayer",
    "fullyConnectedLayer",
    "dropoutLayer",
    "softmaxLayer",
    "classificationLayer",
    "regressionLayer",
    "SequenceInputLayer",
    "LSTMLayer",
    "BiLSTMLayer",
    "FullyConnectedLayer",
    "DropoutLayer",
    "SoftmaxLayer",
    "ClassificationOutputLayer",
    "RegressionOutputLayer",
    "Lstm2OnnxError",
    "LayerError",
    "NetworkError",
    "SpecError",
    "japaneseVowelsTrainData",
    "japaneseVowelsTestData",
    "trainingOptions",
    "TrainingOptions",
    "trainNetwork",
    "classify",
    "predict",
]
