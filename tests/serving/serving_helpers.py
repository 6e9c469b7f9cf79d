"""Serving test helpers: small networks, a Triton model repository, the model config as Triton hands it over.

Numerical tolerance everywhere here: max abs error <= 1e-5 (ATOL_FLOAT32) against the float64 reference.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from lstm2onnx import exportONNXNetwork, fullyConnectedLayer, initialize, lstmLayer, sequenceInputLayer, softmaxLayer
from lstm2onnx.serving import write_repository

FEATURES = 3


def network(mode: str = "sequence"):
    """Two LSTMs (the first with non-zero initial states) and a softmax head; initialized with seed 1."""
    return initialize([
        sequenceInputLayer(FEATURES),
        lstmLayer(8, HiddenState=np.full(8, 0.1), CellState=np.full(8, -0.2), Name="lstm_a"),
        lstmLayer(6, OutputMode=mode, Name="lstm_b"),
        fullyConnectedLayer(2),
        softmaxLayer(),
    ], seed=1)


@pytest.fixture
def plain_model(tmp_path):
    """A model built WITHOUT state inputs/outputs: ``lstm2onnx triton`` must make the stateful copy."""
    layers = network()
    path = tmp_path / "plain.onnx"
    exportONNXNetwork(layers, path)
    return layers, path


def config_json(config_text: str) -> str:
    """The model config as the JSON Triton hands to ``TritonPythonModel.initialize`` (parsed with Triton's own schema)."""
    model_config_pb2 = pytest.importorskip("tritonclient.grpc.model_config_pb2", reason="tritonclient is in the serve/dev extras")
    from google.protobuf import json_format, text_format

    config = text_format.Parse(config_text, model_config_pb2.ModelConfig())
    return json.dumps(json_format.MessageToDict(config, preserving_proto_field_name=True, always_print_fields_with_no_presence=True))


def repository(tmp_path, model_path, name: str = "net", **options):
    folder = tmp_path / "repo"
    folder.mkdir(exist_ok=True)
    return write_repository(model_path, folder, name=name, **options)
