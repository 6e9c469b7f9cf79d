"""The PyTorch training front end: MATLAB's trainingOptions / trainNetwork / classify / predict.

torch is imported only when this package's trainer is used (``lstm2onnx.trainNetwork``
etc. load it lazily), so the compiler works without it.
"""

from .options import TrainingOptions, trainingOptions

__all__ = ["TrainingOptions", "trainingOptions", "trainNetwork", "classify", "predict"]


def trainNetwork(*args, **kwargs):
    """See :func:`lstm2onnx.training.trainer.trainNetwork` (imports torch)."""
    from .trainer import trainNetwork as train

    return train(*args, **kwargs)


def classify(*args, **kwargs):
    """See :func:`lstm2onnx.training.trainer.classify` (imports torch)."""
    from .trainer import classify as run

    return run(*args, **kwargs)


def predict(*args, **kwargs):
    """See :func:`lstm2onnx.training.trainer.predict` (imports torch)."""
    from .trainer import predict as run

    return run(*args, **kwargs)
