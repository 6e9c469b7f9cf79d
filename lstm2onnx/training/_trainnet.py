"""MATLAB's ``[net, info] = trainnet(X, T, layers, lossFcn, options)`` (R2023b+) on the trainNetwork loop.

The layer array has no output layer (or is a dlnetwork); ``lossFcn`` names the loss (see
:mod:`lstm2onnx.training.losses`) or is a callable ``f(Y, T)``. Everything else is trainNetwork's
own code path: solvers, clipping, schedules, shuffling, chunks (integer SequenceLength),
validation, patience, checkpoints, plots, torchrun sharding (:func:`trainer._train` with a
:class:`LossTask`). Options that only trainnet reads: ``Metrics`` ("accuracy", "rmse", or both; the
first, or ObjectiveMetricName's, is shown in the table's accuracy columns), ``ObjectiveMetricName`` (what
ValidationPatience watches: "loss", or the metric), ``InputDataFormats``/``TargetDataFormats``
(letters B, T, C: e.g. "CTB" for MATLAB-layout arrays ``[C, T, N]``; for a list of sequences, the
per-sequence layout without B, e.g. "CTB" means each item is ``[C, T]``).

Targets: for "crossentropy", labels (one per sequence, or one per time step for sequence output;
the classes are the sorted distinct labels, MATLAB's categories, and travel with the network as
``net.Classes``) or one-hot/probability arrays; otherwise numeric arrays shaped like the outputs
(``[N, K]``, or per sequence ``[T_n, K]``). Under torchrun a sequence-output loss normalized by
its real steps is weighted per process by its share of the sequences (the 'last' case is exact).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import torch

from ..errors import Lstm2OnnxError
from ..layers import ClassificationOutputLayer, Layer, RegressionOutputLayer
from ._dlnetwork import DLNetwork, to_native
from .inference import as_sequences
from .losses import Loss, loss_named, metric_terms, metric_value
from .options import TrainingOptions
from .trainer import _Data, _train, float32_math
from .torch_net import TorchNetwork


@dataclass
class TrainnetInfo:
    """MATLAB's trainnet ``info``: the histories as columns (dicts of arrays), where the output network is from, and why it stopped."""

    TrainingHistory: dict[str, np.ndarray]
    ValidationHistory: dict[str, np.ndarray]
    OutputNetworkIteration: int
    StopReason: str
    TrainingTime: float
    PlotFile: str | None = field(default=None, repr=False)


class _Targets(_Data):
    """Predictors and trainnet's targets: class indices (labels) or float arrays like the outputs, batched as trainNetwork's."""

    def __init__(self, X: Any, T: Any, network, classes: tuple[str, ...] | None, what: str) -> None:
        self.X, _ = as_sequences(what, X, network.input_layer.InputSize)
        for k, x in enumerate(self.X, 1):
            if not np.all(np.isfinite(x)):
                raise Lstm2OnnxError(f"{what}: sequence {k} holds NaN or Inf")
        self.lengths = np.array([len(x) for x in self.X])
        network.input_layer.check_lengths(self.lengths, what)
        self.sequence = network.sequence_output
        K = network.output_size
        items = list(T) if isinstance(T, (list, tuple)) or (isinstance(T, np.ndarray) and self.sequence) else T
        if len(items) != len(self.X):
            raise Lstm2OnnxError(f"{what}: {len(self.X)} sequences but {len(items)} targets")
        if classes is not None:
            self.task, index = "classification", {c: k for k, c in enumerate(classes)}

            def to_index(labels: Any, k: int) -> np.ndarray:
                labels = np.asarray(labels).astype(str).reshape(-1)
                unknown = sorted(set(labels) - set(index))
                if unknown:
                    raise Lstm2OnnxError(f"{what}: label(s) {unknown[:5]} of observation {k} are not among the classes {list(classes)}")
                return np.array([index[v] for v in labels])

            self.Y = [to_index(y, k) for k, y in enumerate(items, 1)] if self.sequence else to_index(items, 0)
        else:
            self.task = "regression"
            self.Y = [_numeric(y, (L, K), what, k) for k, (y, L) in enumerate(zip(items, self.lengths), 1)] if self.sequence \
                else _numeric(items, (len(self.X), K), what, 0)
        if self.sequence:
            for k, (y, L) in enumerate(zip(self.Y, self.lengths), 1):
                if len(y) != L:
                    raise Lstm2OnnxError(f"{what}: observation {k} has {L} time steps but {len(y)} targets")


def _numeric(y: Any, shape: tuple[int, int], what: str, k: int) -> np.ndarray:
    y = np.asarray(y)
    if y.dtype.kind not in "fiub":
        raise Lstm2OnnxError(f"{what}: targets must be numeric arrays for this loss, got {y.dtype} values"
                             + (f" (observation {k})" if k else "") + "; labels go with \"crossentropy\"")
    y = y.astype(np.float32)
    if y.shape != shape and y.size == shape[0] * shape[1] and y.ndim == 1:
        y = y.reshape(shape)  # one response per observation/step
    if y.shape[1:] != shape[1:] or (y.shape[0] != shape[0] and not k):
        raise Lstm2OnnxError(f"{what}: targets" + (f" of observation {k}" if k else "") + f" must be [{shape[0]}, {shape[1]}] "
                             f"(the network's outputs), got shape {y.shape}")
    if not np.all(np.isfinite(y)):
        raise Lstm2OnnxError(f"{what}: targets hold NaN or Inf")
    return y


class LossTask:
    """trainnet's objective for :func:`trainer._train`: the loss function, the tracked metrics and the patience objective.

    ``terms`` gives each metric's summable ``(sum, count)`` as arrays over ``metrics``; ``metric`` is the
    primary one (ObjectiveMetricName when it is a metric, else the first), which the verbose table shows
    and patience watches; ``all_metrics`` gives every metric, for info's tables."""

    def __init__(self, network, loss: Loss, metrics: tuple[str, ...], objective: str, classes: tuple[str, ...] | None) -> None:
        self.loss, self.metric_names, self.objective_name, self.classes = loss, tuple(metrics), objective, classes
        self.primary = self.metric_names.index(objective) if objective in self.metric_names else 0
        self.metric_name = self.metric_names[self.primary] if self.metric_names else None
        self.outputs = network.output_size

    def data(self, X: Any, Y: Any, network, classes, what: str) -> _Targets:
        return _Targets(X, Y, network, self.classes, what.replace("trainNetwork", "trainnet"))

    def terms(self, module: TorchNetwork, out: torch.Tensor, y: torch.Tensor, lengths: torch.Tensor, total: int | None = None):
        if module.sequence_output:
            mask = torch.arange(out.shape[1], device=out.device)[None, :] < lengths[:, None]
        else:
            mask = torch.ones(out.shape[0], dtype=torch.bool, device=out.device)
        T = torch.nn.functional.one_hot(y.clamp_min(0), self.outputs).to(out.dtype) if y.dtype == torch.int64 else y
        loss = self.loss(out, T, mask, module.ends_in_softmax)
        if total is not None:
            loss = loss * (out.shape[0] / total)  # this process's share of the mini-batch
        if not self.metric_names:
            return loss, 0.0, 0.0
        with torch.no_grad():
            Y = torch.softmax(out, dim=-1) if module.ends_in_softmax else out
            pairs = [metric_terms(name, Y, T, mask) for name in self.metric_names]
        return loss, np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])

    @property
    def zero_terms(self) -> tuple[Any, Any]:
        """``(correct, count)`` of a shard with no sequence: the same shapes as ``terms`` gives, for the reduction."""
        return (np.zeros(len(self.metric_names)), np.zeros(len(self.metric_names))) if self.metric_names else (0.0, 0.0)

    def metric(self, module: TorchNetwork, correct: Any, count: Any) -> float:
        if not self.metric_names:
            return math.nan
        return metric_value(self.metric_name, correct[self.primary], count[self.primary])

    def all_metrics(self, correct: Any, count: Any) -> np.ndarray | None:
        if not self.metric_names:
            return None
        return np.array([metric_value(name, c, k) for name, c, k in zip(self.metric_names, correct, count)])

    def objective(self, loss: float, metric: float) -> float:
        return {"loss": loss, "accuracy": -metric, "rmse": metric}[self.objective_name]


def trainnet(X: Any, T: Any, layers: Sequence[Layer] | DLNetwork, lossFcn: Any, options: TrainingOptions, *,
             seed: int = 0, plot_file: str | None = None) -> tuple[DLNetwork, TrainnetInfo]:
    """Train as MATLAB's trainnet; return ``(net, info)`` with ``net`` a :class:`DLNetwork`.

    ``X``: a list of ``[T_n, C]`` sequences or an ``[N, T, C]`` array (or MATLAB's layout with
    InputDataFormats); ``T``: see the module docstring. A dlnetwork continues from its learnables.
    ``seed`` seeds the initializers, shuffling and dropout (MATLAB's ``rng``).
    """
    if not isinstance(options, TrainingOptions):
        raise Lstm2OnnxError("trainnet: options must come from trainingOptions(...)")
    loss = loss_named(lossFcn)
    layers = list(getattr(layers, "Layers", layers))
    for layer in layers:
        if isinstance(layer, (ClassificationOutputLayer, RegressionOutputLayer)):
            raise Lstm2OnnxError(f"trainnet: {layer.where()}: output layers are not used by trainnet (the loss is its lossFcn argument); "
                                 "remove it, or train with trainNetwork")
    metrics = tuple(dict.fromkeys(options.Metrics))
    if options.ObjectiveMetricName not in ("loss", *metrics):
        raise Lstm2OnnxError(f"trainingOptions: ObjectiveMetricName {options.ObjectiveMetricName!r} must be 'loss' or one of the Metrics "
                             f"({list(options.Metrics)})")
    X = to_native(X, options.InputDataFormats, "trainingOptions: InputDataFormats")
    T = _targets_native(T, options.TargetDataFormats)
    if options.ValidationData is not None:
        XV, TV = options.ValidationData
        options = dataclasses.replace(options, ValidationData=(to_native(XV, options.InputDataFormats, "trainingOptions: InputDataFormats"),
                                                                _targets_native(TV, options.TargetDataFormats)))
    classes = _classes(T) if loss.uses_labels and _are_labels(T) else None

    def task_for(network) -> LossTask:
        if classes is not None and len(classes) != network.output_size:
            raise Lstm2OnnxError(f"trainnet: the labels hold {len(classes)} classes {list(classes)[:10]} but the network has "
                                 f"{network.output_size} outputs")
        return LossTask(network, loss, metrics, options.ObjectiveMetricName, classes)

    with float32_math():
        trained, info = _train(X, T, layers, options, seed, plot_file, task_for=task_for)
    net = DLNetwork(trained.Layers, trained.module, None, classes)
    return net, _info(info, metrics)


def _targets_native(T: Any, fmt: str) -> Any:
    if fmt == "auto" or not isinstance(T, (np.ndarray, list, tuple)):
        return T
    if isinstance(T, np.ndarray) and T.dtype.kind not in "fiub":
        return T
    return to_native(T if isinstance(T, np.ndarray) else list(T), fmt, "trainingOptions: TargetDataFormats")


def _are_labels(T: Any) -> bool:
    """Labels: text, or integers one per observation (or per time step: a list of 1-D arrays)."""
    first = np.asarray(T[0] if isinstance(T, (list, tuple)) and len(T) and np.ndim(T[0]) >= 1 else T)
    return first.dtype.kind in "USO" or first.ndim == 1 and first.dtype.kind in "iu"


def _classes(T: Any) -> tuple[str, ...]:
    labels = np.concatenate([np.asarray(t).astype(str).reshape(-1) for t in T]) if isinstance(T, (list, tuple)) and np.ndim(T[0]) >= 1 \
        else np.asarray(T).astype(str).reshape(-1)
    classes = tuple(np.unique(labels).tolist())
    if len(classes) < 2:
        raise Lstm2OnnxError(f"trainnet: the labels hold {len(classes)} class; classification needs at least two")
    return classes


def _info(info, metrics: tuple[str, ...]) -> TrainnetInfo:
    """trainNetwork's per-iteration record as trainnet's tables, with MATLAB's columns: TrainingHistory Iteration, Epoch,
    Loss, each metric (Accuracy in %, RMSE), LearnRate; ValidationHistory Iteration, Loss, each metric."""
    names = [METRIC_COLUMNS[m] for m in metrics]
    iterations = np.arange(1, len(info.TrainingLoss) + 1)
    training = {"Iteration": iterations, "Epoch": info.Epoch, "Loss": info.TrainingLoss}
    for j, name in enumerate(names):
        training[name] = info.Metrics[:, j]
    training["LearnRate"] = info.BaseLearnRate
    measured = ~np.isnan(info.ValidationLoss)
    validation = {"Iteration": iterations[measured], "Loss": info.ValidationLoss[measured]}
    for j, name in enumerate(names):
        validation[name] = info.ValidationMetrics[measured, j]
    reason = "Met validation criterion" if info.StoppedEarly else "Max epochs completed"
    return TrainnetInfo(training, validation, info.OutputNetworkIteration, reason, info.TrainingTime, info.PlotFile)


METRIC_COLUMNS = {"accuracy": "Accuracy", "rmse": "RMSE"}  # MATLAB's names of the metrics' columns
