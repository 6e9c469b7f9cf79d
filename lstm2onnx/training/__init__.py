"""The PyTorch training front end: MATLAB's trainingOptions / trainNetwork / classify / predict.

torch is imported only when this package's trainer is used (``lstm2onnx.trainNetwork``
etc. load it lazily), so the compiler works without it. The modules behind trainnet and
dlnetwork are ``_trainnet`` and ``_dlnetwork``: a submodule named like a function of this
package would replace that function here once imported.
"""

from .options import TrainingOptions, trainingOptions

__all__ = ["TrainingOptions", "trainingOptions", "trainNetwork", "classify", "predict", "predictAndUpdateState",
           "classifyAndUpdateState", "resetState", "trainnet", "dlnetwork", "minibatchpredict", "scores2label"]


def trainNetwork(*args, **kwargs):
    """See :func:`lstm2onnx.training.trainer.trainNetwork` (imports torch)."""
    from .trainer import trainNetwork as train

    return train(*args, **kwargs)


def classify(*args, **kwargs):
    """See :func:`lstm2onnx.training.inference.classify` (imports torch)."""
    from .inference import classify as run

    return run(*args, **kwargs)


def predict(*args, **kwargs):
    """See :func:`lstm2onnx.training.inference.predict` (imports torch)."""
    from .inference import predict as run

    return run(*args, **kwargs)


def predictAndUpdateState(*args, **kwargs):
    """See :func:`lstm2onnx.training.inference.predictAndUpdateState` (imports torch)."""
    from .inference import predictAndUpdateState as run

    return run(*args, **kwargs)


def classifyAndUpdateState(*args, **kwargs):
    """See :func:`lstm2onnx.training.inference.classifyAndUpdateState` (imports torch)."""
    from .inference import classifyAndUpdateState as run

    return run(*args, **kwargs)


def resetState(*args, **kwargs):
    """See :func:`lstm2onnx.training.inference.resetState` (imports torch)."""
    from .inference import resetState as run

    return run(*args, **kwargs)


def trainnet(*args, **kwargs):
    """See :func:`lstm2onnx.training._trainnet.trainnet` (imports torch)."""
    from ._trainnet import trainnet as train

    return train(*args, **kwargs)


def dlnetwork(*args, **kwargs):
    """See :func:`lstm2onnx.training._dlnetwork.dlnetwork` (imports torch)."""
    from ._dlnetwork import dlnetwork as make

    return make(*args, **kwargs)


def minibatchpredict(*args, **kwargs):
    """See :func:`lstm2onnx.training._dlnetwork.minibatchpredict` (imports torch)."""
    from ._dlnetwork import minibatchpredict as run

    return run(*args, **kwargs)


def scores2label(*args, **kwargs):
    """See :func:`lstm2onnx.training._dlnetwork.scores2label`."""
    from ._dlnetwork import scores2label as run

    return run(*args, **kwargs)
