"""MATLAB's ``trainNetwork`` on torch (``classify`` / ``predict`` for the trained network are in ``inference``).

Losses (as MATLAB's output layers define them, with padding excluded):
classification, cross-entropy ``-1/N Σ_n Σ_t Σ_i w_i T_nti log Y_nti`` (t over
each sequence's valid steps for sequence output; ``w`` the ClassWeights);
regression, half mean squared error ``1/N Σ_n 1/(2 S_n) Σ_t Σ_r (Y - T)²``
(``S_n`` the valid steps, 1 after OutputMode 'last'; summed over the R responses,
not divided by R, as regressionLayer's documentation states). As in MATLAB, each epoch
uses ``floor(N / MiniBatchSize)`` mini-batches and leaves the rest out.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import logging
import math
import os
import sys
import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from ._torch import torch  # before anything else imports torch: a missing torch gets the install hint

from ..errors import Lstm2OnnxError, NetworkError
from ..layers import STATISTICS, ClassificationOutputLayer, Layer, SequenceInputLayer
from ..layers.convolution import TimeWindow
from ..network import LayerArray, analyze, initialize
from .options import TrainingOptions
from .solver import MatlabSolver
from .torch_net import TorchNetwork
from .torch_normalization import population_statistics

_log = logging.getLogger(__name__)


@dataclass
class TrainedNetwork:
    """What trainNetwork returns: the layer array with learnables (``Layers``), the class names, the torch module,
    and the recurrent state that predictAndUpdateState carries (None: HiddenState/CellState; see ``inference``)."""

    Layers: LayerArray
    Classes: tuple[str, ...] | None
    module: TorchNetwork = field(repr=False)
    state: dict | None = field(default=None, repr=False)

    def __str__(self) -> str:
        return f"TrainedNetwork with {len(self.Layers)} layers:\n{self.Layers}"


@dataclass
class TrainingInfo:
    """MATLAB's ``info``: one entry per iteration (NaN where not measured) and the final validation figures."""

    TrainingLoss: np.ndarray
    TrainingAccuracy: np.ndarray
    ValidationLoss: np.ndarray
    ValidationAccuracy: np.ndarray
    BaseLearnRate: np.ndarray
    FinalValidationLoss: float
    FinalValidationAccuracy: float
    OutputNetworkIteration: int
    StoppedEarly: bool
    TrainingTime: float
    PlotFile: str | None = None
    Epoch: np.ndarray | None = field(default=None, repr=False)  # each iteration's epoch (trainnet's TrainingHistory.Epoch)
    Metrics: np.ndarray | None = field(default=None, repr=False)  # trainnet: [iterations, metrics], every Metrics entry
    ValidationMetrics: np.ndarray | None = field(default=None, repr=False)  # the same on validation data (NaN rows: not measured)


class _Data:
    """Sequences and targets checked and converted once: float32 ``[T, F]`` arrays, class indices or responses."""

    def __init__(self, X: Any, Y: Any, network, classes: tuple[str, ...] | None, what: str) -> None:
        features = network.input_layer.InputSize
        if isinstance(X, np.ndarray) and X.ndim == 3:
            X = list(X)
        if not isinstance(X, (list, tuple)) or not X:
            raise Lstm2OnnxError(f"{what}: predictors must be a non-empty list of [time, {features}] arrays")
        self.X = []
        for k, x in enumerate(X, 1):
            x = np.asarray(x, dtype=np.float32)
            if x.ndim != 2 or x.shape[1] != features or x.shape[0] == 0 or not np.all(np.isfinite(x)):
                hint = "; it looks like MATLAB's features-by-time layout: pass x.T" if x.ndim == 2 and x.shape[0] == features else ""
                raise Lstm2OnnxError(f"{what}: sequence {k} must be a non-empty, finite [time, {features}] array, got shape {x.shape}{hint}")
            self.X.append(x)
        self.lengths = np.array([len(x) for x in self.X])
        network.input_layer.check_lengths(self.lengths, what)
        self.sequence = network.sequence_output
        self.task = network.task
        if len(Y) != len(self.X):
            raise Lstm2OnnxError(f"{what}: {len(self.X)} sequences but {len(Y)} responses/labels")
        if self.task == "classification":
            index = {c: k for k, c in enumerate(classes)}
            def to_index(labels, k):
                labels = np.asarray(labels).astype(str).reshape(-1)
                unknown = sorted(set(labels) - set(index))
                if unknown:
                    raise Lstm2OnnxError(f"{what}: label(s) {unknown[:5]} of observation {k} are not among the classes {list(classes)}")
                return np.array([index[v] for v in labels])
            if self.sequence:
                self.Y = [to_index(y, k) for k, y in enumerate(Y, 1)]
                for k, (y, L) in enumerate(zip(self.Y, self.lengths), 1):
                    if len(y) != L:
                        raise Lstm2OnnxError(f"{what}: observation {k} has {L} time steps but {len(y)} labels")
            else:
                self.Y = to_index(Y, 0)
        elif self.task == "regression":
            size = network.output_size
            if self.sequence:
                self.Y = [np.asarray(y, np.float32).reshape(len(x), size) for x, y in zip(self.X, Y)]
            else:
                self.Y = np.asarray(Y, np.float32).reshape(len(self.X), size)
        else:
            raise NetworkError(f"{what}: the layer array needs a classificationLayer or regressionLayer at the end to be trained")

    def batch(self, idx: np.ndarray, options: TrainingOptions, device: torch.device, start: int = 0, steps: int | None = None):
        """Padded tensors for sequences ``idx``; with ``steps``, only their time steps ``start .. start+steps-1``."""
        lengths = self.lengths[idx] - start
        if steps is not None:
            lengths = np.minimum(lengths, steps)
        elif options.SequenceLength == "shortest":
            lengths = np.full(len(idx), lengths.min())
        T = int(lengths.max())
        x = np.full((len(idx), T, self.X[0].shape[1]), options.SequencePaddingValue, np.float32)
        for j, k in enumerate(idx):
            x[j, : lengths[j]] = self.X[k][start : start + lengths[j]]
        if self.sequence:
            if self.task == "classification":
                y = np.full((len(idx), T), -1, np.int64)
            else:
                y = np.zeros((len(idx), T, self.Y[0].shape[1]), np.float32)
            for j, k in enumerate(idx):
                y[j, : lengths[j]] = self.Y[k][start : start + lengths[j]]
        else:
            y = self.Y[idx]
        return (torch.from_numpy(x).to(device), torch.from_numpy(lengths).to(device), torch.as_tensor(y).to(device))


def _loss_terms(module: TorchNetwork, out: torch.Tensor, y: torch.Tensor, lengths: torch.Tensor, class_weights,
                total: int | None = None) -> tuple[torch.Tensor, float, float]:
    """``(loss, correct, count)`` for one (shard of a) mini-batch; the loss is divided by ``total`` observations
    (the whole mini-batch's size when this is one process's shard of it)."""
    n = out.shape[0] if total is None else total
    if module.task == "classification":
        log_p = torch.log_softmax(out, dim=-1) if module.ends_in_softmax else torch.log(out.clamp_min(1e-30))
        if module.sequence_output:
            valid = y >= 0
            picked = log_p.gather(-1, y.clamp_min(0)[..., None])[..., 0]
            if class_weights is not None:
                picked = picked * class_weights[y.clamp_min(0)]
            loss = -(picked * valid).sum() / n
            return loss, float(((log_p.argmax(-1) == y) & valid).sum()), float(valid.sum())
        picked = log_p.gather(1, y[:, None])[:, 0]
        if class_weights is not None:
            picked = picked * class_weights[y]
        return -picked.sum() / n, float((log_p.argmax(1) == y).sum()), float(len(y))
    if module.sequence_output:
        T = out.shape[1]
        valid = (torch.arange(T, device=out.device)[None, :] < lengths[:, None]).float()[..., None]
        per_sequence = (((out - y) ** 2) * valid).sum(dim=(1, 2)) / (2 * lengths.float())
        return per_sequence.sum() / n, math.nan, math.nan
    return ((out - y) ** 2).sum() / (2 * n), math.nan, math.nan


def _loss_and_accuracy(module: TorchNetwork, out: torch.Tensor, y: torch.Tensor, lengths: torch.Tensor, class_weights) -> tuple[torch.Tensor, float]:
    """``(loss, accuracy in %)`` of one mini-batch (accuracy NaN for regression)."""
    loss, correct, count = _loss_terms(module, out, y, lengths, class_weights)
    return loss, 100.0 * correct / count if module.task == "classification" else math.nan


class OutputLayerTask:
    """What a training run minimizes and reports; trainNetwork's: the output layer's loss and accuracy.

    ``data`` checks and converts predictors and targets; ``terms(module, out, y, lengths, total)``
    gives ``(loss, correct, count)`` for a (shard of a) mini-batch, the loss divided by ``total``
    observations when given; ``metric(module, correct, count)`` is the reported figure (accuracy
    in %, NaN for regression) and ``objective(loss, metric)`` what validation patience minimizes.
    trainnet supplies its own task (:mod:`lstm2onnx.training._trainnet`).
    """

    def __init__(self, network) -> None:
        last = network.infos[-1].layer
        weights = getattr(last, "ClassWeights", None) if isinstance(last, ClassificationOutputLayer) else None
        self.class_weights = torch.tensor(weights, dtype=torch.float32) if isinstance(weights, np.ndarray) else None

    def data(self, X: Any, Y: Any, network, classes: tuple[str, ...] | None, what: str) -> "_Data":
        return _Data(X, Y, network, classes, what)

    def terms(self, module: TorchNetwork, out: torch.Tensor, y: torch.Tensor, lengths: torch.Tensor, total: int | None = None):
        weights = self.class_weights.to(out.device) if self.class_weights is not None else None
        return _loss_terms(module, out, y, lengths, weights, total=total)

    def metric(self, module: TorchNetwork, correct: float, count: float) -> float:
        return 100.0 * correct / count if module.task == "classification" and count else math.nan

    def objective(self, loss: float, metric: float) -> float:
        return loss


class _Group:
    """Data-parallel training under torchrun: each process takes a shard of every mini-batch, gradients are summed.

    Every process draws the same shuffles (same seed), so the global mini-batches, and hence the
    updates, are those of single-process training up to floating-point summation order.
    """

    def __init__(self, device: torch.device) -> None:
        import torch.distributed as dist

        self.dist = dist
        wanted = int(os.environ.get("WORLD_SIZE", "1")) > 1
        if wanted and dist.is_available() and not dist.is_initialized():
            dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
        self.device = device  # nccl reduces CUDA tensors only
        self.on = dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1
        self.rank = dist.get_rank() if self.on else 0
        self.size = dist.get_world_size() if self.on else 1

    @property
    def main(self) -> bool:
        return self.rank == 0

    def shard(self, idx: np.ndarray) -> np.ndarray:
        return idx[self.rank :: self.size]

    def reduce_gradients(self, module: torch.nn.Module) -> None:
        if self.on:
            for p in module.parameters():
                if p.requires_grad:  # a process whose shard ran no sequence this step contributes zeros
                    if p.grad is None:
                        p.grad = torch.zeros_like(p)
                    self.dist.all_reduce(p.grad)

    def sum(self, *values: Any) -> list[Any]:
        """Each value (a float, or an array of them: trainnet's metric terms) summed over the processes; NaN stays NaN."""
        if not self.on:
            return list(values)
        flat = np.concatenate([np.atleast_1d(np.asarray(v, np.float64)) for v in values])
        t = torch.tensor(np.nan_to_num(flat, nan=0.0), dtype=torch.float64, device=self.device)
        self.dist.all_reduce(t)
        summed = np.where(np.isnan(flat), np.nan, t.cpu().numpy())
        out, at = [], 0
        for v in values:
            size = np.size(v)
            out.append(summed[at : at + size] if np.ndim(v) else float(summed[at]))
            at += size
        return out


def _device(options: TrainingOptions) -> torch.device:
    if options.ExecutionEnvironment == "cpu":
        return torch.device("cpu")
    if torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    if options.ExecutionEnvironment == "gpu":
        raise Lstm2OnnxError("trainingOptions: ExecutionEnvironment 'gpu' was asked for, but torch sees no CUDA device; use 'auto' or 'cpu'")
    return torch.device("cpu")


def _with_statistics(layers: list[Layer], X: list[np.ndarray], reset: bool) -> list[Layer]:
    """sequenceInputLayer statistics computed from the training data where Normalization needs them: every one with
    trainingOptions' ResetInputNormalization (MATLAB's default: given ones are replaced), else those not given."""
    first = layers[0]
    if not isinstance(first, SequenceInputLayer):
        return layers
    wanted = list(STATISTICS[first.Normalization]) if reset else first.missing_statistics()
    if not wanted:
        return layers
    frames = np.concatenate([np.asarray(x, np.float64) for x in X])
    over_all = first.NormalizationDimension == "all"
    axis = None if over_all else 0
    stats = {"Mean": frames.mean(axis=axis), "StandardDeviation": frames.std(axis=axis), "Min": frames.min(axis=axis), "Max": frames.max(axis=axis)}
    given = {k: stats[k] for k in wanted}
    if "StandardDeviation" in given:
        given["StandardDeviation"] = np.where(given["StandardDeviation"] > 0, given["StandardDeviation"], 1.0)  # constant features stay as they are
    if "Max" in given and "Min" in given:
        given["Max"] = np.where(given["Max"] > given["Min"], given["Max"], given["Min"] + 1.0)
    return [dataclasses.replace(first, **given), *layers[1:]]


def _with_classes(layers: list[Layer], Y: Any, sequence: bool) -> tuple[list[Layer], tuple[str, ...] | None]:
    last = layers[-1]
    if not isinstance(last, ClassificationOutputLayer):
        return layers, None
    if isinstance(last.Classes, tuple):
        return layers, last.Classes
    labels = np.concatenate([np.asarray(y).astype(str).reshape(-1) for y in Y]) if sequence else np.asarray(Y).astype(str).reshape(-1)
    classes = tuple(np.unique(labels).tolist())
    if len(classes) < 2:
        raise Lstm2OnnxError(f"trainNetwork: the labels hold {len(classes)} class; classification needs at least two")
    return [*layers[:-1], dataclasses.replace(last, Classes=classes)], classes


HEADER = ("|  Epoch  |  Iteration  |  Time Elapsed  |  Mini-batch  |  Validation  |  Mini-batch  |  Validation  |  Base Learning  |\n"
          "|         |             |   (hh:mm:ss)   |   Accuracy   |   Accuracy   |     Loss     |     Loss     |      Rate       |")


def _row(epoch, iteration, elapsed, accuracy, val_accuracy, loss, val_loss, rate, percent: bool = True) -> str:
    """One line of the table; ``percent`` False for a metric that is no percentage (trainnet's RMSE)."""
    def pct(v):
        if not percent:
            return num(v)
        return f"{v:11.2f}%" if not math.isnan(v) else " " * 12

    def num(v):
        return f"{v:12.4f}" if not math.isnan(v) else " " * 12

    clock = str(datetime.timedelta(seconds=int(elapsed))).rjust(8, "0")
    return (f"| {epoch:7d} | {iteration:11d} | {clock:>14} | {pct(accuracy)} | {pct(val_accuracy)} | {num(loss)} | {num(val_loss)} | {rate:15.4f} |")


class _Report:
    """The run's record (MATLAB's ``info``), its verbose table or progress bar, and validation patience."""

    KEYS = ("loss", "accuracy", "val_loss", "val_accuracy", "rate")

    def __init__(self, options: TrainingOptions, main: bool, total: int | None, metric: str = "accuracy") -> None:
        self.options, self.main, self.percent = options, main, metric == "accuracy"
        self.history: dict[str, list[float]] = {k: [] for k in self.KEYS}
        self.epochs: list[int] = []
        self.metrics: list[Any] = []  # trainnet's every-metric vectors (None where a task has none, or not validated)
        self.val_metrics: list[Any] = []
        self.best, self.bad_checks = math.inf, 0
        self.start = time.perf_counter()
        self.bar = None
        if options.Verbose and main:
            header = HEADER if self.percent else HEADER.replace("   Accuracy   ", f"{metric.upper():^14}")
            print("|" + "=" * 118 + "|\n" + header + "\n|" + "=" * 118 + "|", file=sys.stdout)
        elif main:
            try:
                from tqdm import tqdm

                self.bar = tqdm(total=total, desc="trainNetwork", unit="it", disable=None, leave=False)
            except ImportError:
                pass

    @property
    def exhausted(self) -> bool:
        """ValidationPatience validations in a row without a new best validation loss."""
        return self.bad_checks >= self.options.ValidationPatience

    def metric_tables(self) -> dict[str, np.ndarray]:
        """``Metrics`` and ``ValidationMetrics`` ``[iterations, metrics]`` for trainnet's tasks (none for trainNetwork's)."""
        width = next((len(m) for m in self.metrics if m is not None), 0)
        if not width:
            return {}
        nan = np.full(width, np.nan)
        return {"Metrics": np.array([nan if m is None else m for m in self.metrics]).reshape(-1, width),
                "ValidationMetrics": np.array([nan if m is None else m for m in self.val_metrics]).reshape(-1, width)}

    def validated(self, loss: float) -> None:
        if loss < self.best:
            self.best, self.bad_checks = loss, 0
        else:
            self.bad_checks += 1

    def record(self, epoch: int, iteration: int, values: dict[str, float], last: bool) -> None:
        for key in self.KEYS:
            self.history[key].append(values[key])
        self.epochs.append(epoch)
        self.metrics.append(values.get("metrics"))
        self.val_metrics.append(values.get("val_metrics"))
        o = self.options
        shown = iteration == 1 or iteration % o.VerboseFrequency == 0 or last or not math.isnan(values["val_loss"]) or self.exhausted
        if o.Verbose and self.main and shown:
            print(_row(epoch, iteration, time.perf_counter() - self.start, values["accuracy"], values["val_accuracy"],
                       values["loss"], values["val_loss"], values["rate"], self.percent))
        if self.bar is not None:
            if shown:  # the figures at VerboseFrequency, as the table would show them; drawn when tqdm next redraws
                self.bar.set_postfix(epoch=epoch, loss=f"{values['loss']:.4f}", refresh=False)
            self.bar.update(1)

    def close(self) -> float:
        if self.bar is not None:
            self.bar.close()
        if self.options.Verbose and self.main:
            print("|" + "=" * 118 + "|")
        return time.perf_counter() - self.start


class _MiniBatch:
    """One mini-batch as one iteration, or (integer SequenceLength) one iteration per chunk of steps.

    Across chunks the recurrent state of each sequence is carried, detached (truncated
    backpropagation through time); sequences that have ended leave the later chunks.
    """

    def __init__(self, data: _Data, batch: np.ndarray, local: np.ndarray, chunk: int | None) -> None:
        self.data, self.batch, self.local, self.chunk = data, batch, local, chunk
        self.starts = [0] if chunk is None else list(range(0, int(data.lengths[batch].max()), chunk))
        self.carried: dict | None = None  # each layer's (h, c) or (h,) for the local sequences that ran the last chunk
        self.running = np.ones(len(local), bool)

    def step(self, start: int, module: TorchNetwork, options: TrainingOptions, device, task: OutputLayerTask) -> tuple[torch.Tensor, float, float]:
        """Forward and backward for the chunk starting at ``start``: ``(loss, correct, count)`` of this process's shard."""
        data, local = self.data, self.local
        active = data.lengths[local] > start
        total = len(self.batch) if self.chunk is None else int((data.lengths[self.batch] > start).sum())
        if not active.any():  # this process's shard has no sequence left in this chunk
            return torch.zeros(()), *getattr(task, "zero_terms", (0.0, 0.0))
        x, lengths, y = data.batch(local[active], options, device, start, self.chunk)
        state = None
        if self.carried is not None:
            keep = torch.from_numpy(active[self.running]).to(device)
            state = {name: tuple(part[:, keep] for part in parts) for name, parts in self.carried.items()}
        final: dict | None = {} if self.chunk is not None else None  # asked only to carry: padded recurrent layers otherwise
        loss, correct, count = task.terms(module, module(x, lengths, state, final), y, lengths, total=total)
        loss.backward()
        self.carried = {name: tuple(part.detach() for part in parts) for name, parts in final.items()} if final is not None else None
        self.running = active
        return loss, correct, count


def trainNetwork(X: Any, Y: Any, layers: Sequence[Layer], options: TrainingOptions, *, seed: int = 0, plot_file: str | None = None):
    """Train a layer array the way MATLAB's trainNetwork does; return ``(net, info)``.

    ``X``: a list of ``[time, features]`` arrays; ``Y``: labels (classification; per
    time step for sequence output) or responses (regression). ``seed`` seeds the
    initializers, the shuffling and dropout (MATLAB's ``rng``). With Plots
    'training-progress' the PNG goes to ``plot_file`` (default: training-progress.png
    in CheckpointPath, else in the current folder); ``info.PlotFile`` says where.
    On a GPU, TF32 is off while it trains (see :func:`float32_math`).
    """
    with float32_math():
        return _train(X, Y, layers, options, seed, plot_file)


@contextlib.contextmanager
def float32_math():
    """Full float32 matrix products on CUDA for the duration, as MATLAB computes (the flags are restored after).

    On Ampere and later GPUs cuDNN runs float32 LSTMs in TF32 by default (torch's
    ``cudnn.allow_tf32``): 10 mantissa bits, about 1e-3 off, so a network trained
    on a GPU would drift from the same training on the CPU. No effect on the CPU.
    """
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


def _train(X: Any, Y: Any, layers: Sequence[Layer], options: TrainingOptions, seed: int, plot_file: str | None, task_for=OutputLayerTask):
    """The training loop trainNetwork and trainnet share; ``task_for(network)`` gives the run's task (see OutputLayerTask)."""
    if not isinstance(options, TrainingOptions):
        raise Lstm2OnnxError("trainNetwork: options must come from trainingOptions(...)")
    chunk = options.SequenceLength if isinstance(options.SequenceLength, int) else None
    structure = analyze(layers, need_statistics=False)
    layers = _with_statistics(list(structure.layers), X, options.ResetInputNormalization)
    layers, classes = _with_classes(layers, Y, structure.sequence_output)
    with _numpy_blas_threads(1):
        net = initialize(layers, seed)
    network = analyze(net)
    if chunk is not None and any(getattr(info.layer, "DIRECTIONS", 1) == 2 for info in network.infos):
        raise Lstm2OnnxError(f"trainNetwork: SequenceLength {chunk} splits sequences into chunks with the state carried over, "
                             "which a bilstmLayer cannot do (its backward direction needs the whole sequence); use 'longest'")
    shortening = next((layer for layer in network.layers if isinstance(layer, TimeWindow) and not layer.keeps_length), None)
    if network.sequence_output and shortening is not None:
        raise Lstm2OnnxError(f"trainNetwork: {shortening.where()} changes the sequence length, so the network's sequence output no "
                             "longer lines up step by step with the responses; use Padding 'same' or 'causal' with Stride 1 there, "
                             "or end the network in one time step (OutputMode 'last', global pooling)")
    task = task_for(network)
    data = task.data(X, Y, network, classes, "trainNetwork")
    validation = task.data(*options.ValidationData, network, classes, "trainingOptions ValidationData") if options.ValidationData is not None else None
    n, size = len(data.X), options.MiniBatchSize
    if size > n:
        raise Lstm2OnnxError(f"trainingOptions: MiniBatchSize {size} is larger than the {n} training sequences")
    device = _device(options)
    group = _Group(device)
    torch.manual_seed(seed)
    module = TorchNetwork(net).to(device)
    solver = MatlabSolver(module.learnables(), options, device)

    rng = np.random.default_rng(seed)
    per_epoch = n // size  # as MATLAB: the sequences that do not fill a last mini-batch sit the epoch out
    order = rng.permutation(n) if options.Shuffle == "once" else np.arange(n)
    report = _Report(options, group.main, options.MaxEpochs * per_epoch if chunk is None else None, getattr(task, "metric_name", None) or "accuracy")
    iteration = 0
    best = _BestNetwork(options, validation is not None)
    all_metrics = getattr(task, "all_metrics", None)  # trainnet's tasks track several metrics
    module.train()  # _evaluate switches to eval and back
    parameters = list(module.parameters())
    for epoch in range(1, options.MaxEpochs + 1):
        if options.Shuffle == "every-epoch":
            order = rng.permutation(n)
        rate = options.learn_rate(epoch)
        for b in range(per_epoch):
            batch = order[b * size : (b + 1) * size]
            minibatch = _MiniBatch(data, batch, group.shard(batch), chunk)
            for start in minibatch.starts:
                iteration += 1
                for p in parameters:  # module.zero_grad(set_to_none=True) without walking the module tree each time
                    p.grad = None
                loss, correct, count = minibatch.step(start, module, options, device, task)
                group.reduce_gradients(module)
                solver.step(rate)
                loss_value, correct, count = group.sum(float(loss.detach()), correct, count)
                values = {"loss": loss_value, "rate": rate, "val_loss": math.nan, "val_accuracy": math.nan,
                          "accuracy": task.metric(module, correct, count)}
                if all_metrics is not None:
                    values["metrics"] = all_metrics(correct, count)  # None without Metrics
                last_one = epoch == options.MaxEpochs and b == per_epoch - 1 and start == minibatch.starts[-1]
                if validation is not None and (iteration % options.ValidationFrequency == 0 or iteration == 1 or last_one):
                    values["val_loss"], values["val_accuracy"], values["val_metrics"] = _evaluate(module, validation, options, device, task)
                    report.validated(task.objective(values["val_loss"], values["val_accuracy"]))
                    best.consider(module, iteration, values["val_loss"], task.objective(values["val_loss"], values["val_accuracy"]))
                report.record(epoch, iteration, values, last_one)
                if report.exhausted:
                    break
            if report.exhausted:
                break
        if options.CheckpointPath and group.main:
            _checkpoint(module, options.CheckpointPath, iteration)
        if report.exhausted:
            break
    elapsed = report.close()
    output_iteration = best.restore(module) or iteration
    if options.BatchNormalizationStatistics == "population":  # MATLAB's default: one more pass over the training data
        batches = [np.arange(k, min(k + size, n)) for k in range(0, n, size)]
        population_statistics(module, lambda: (data.batch(idx, options, device)[:2] for idx in batches))
    final_loss = final_accuracy = math.nan
    if validation is not None:
        final_loss, final_accuracy, _ = _evaluate(module, validation, options, device, task)
    module.eval()
    trained = TrainedNetwork(module.to_layers(), classes, module.cpu())
    info = TrainingInfo(*(np.array(report.history[k]) for k in _Report.KEYS), final_loss, final_accuracy, output_iteration,
                        report.exhausted, elapsed, Epoch=np.array(report.epochs), **report.metric_tables())
    if options.Plots == "training-progress" and group.main:
        info.PlotFile = _plot(info, options, plot_file)
        if info.PlotFile is not None:
            _log.info("trainNetwork: training progress plot written to %s", info.PlotFile)
            if options.Verbose:
                print(f"trainNetwork: training progress plot written to {info.PlotFile}")
    return trained, info


def _openblas_thread_calls():
    """``(set_num_threads, get_num_threads)`` of the OpenBLAS loaded in this process (numpy's), or None where none is
    found (not Linux, another BLAS). Found as threadpoolctl finds it: a mapped library named *openblas* that exports them."""
    import ctypes

    try:
        with open("/proc/self/maps") as maps:
            paths = sorted({line.split()[-1] for line in maps if "openblas" in line.rsplit("/", 1)[-1].lower()})
    except OSError:
        return None
    for path in paths:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for prefix, suffix in (("scipy_", "64_"), ("", "64_"), ("", ""), ("scipy_", "")):
            setter, getter = (getattr(lib, f"{prefix}openblas_{kind}_num_threads{suffix}", None) for kind in ("set", "get"))
            if setter is not None and getter is not None:
                return setter, getter
    return None


@contextlib.contextmanager
def _numpy_blas_threads(count: int):
    """numpy's OpenBLAS limited to ``count`` threads for the duration, restored after (no change where it is not found).

    After a call that ran on several threads, OpenBLAS's workers spin for about 0.1 s
    (its THREAD_TIMEOUT) before they sleep: the orthogonal initializer's small QRs would
    leave a core busy just as torch starts training on it. QR's result does not depend
    on the thread count (tests/training/test_fast_path.py checks it).
    """
    calls = _openblas_thread_calls()
    if calls is None:
        yield
        return
    setter, getter = calls
    before = getter()
    setter(count)
    try:
        yield
    finally:
        setter(before)


class _BestNetwork:
    """trainingOptions' OutputNetwork: the learnables at the best validation so far, for 'best-validation-loss' (the
    validation loss) and 'best-validation' (ObjectiveMetricName's objective; 'auto' is it when there is validation data)."""

    def __init__(self, options: TrainingOptions, validating: bool) -> None:
        choice = options.OutputNetwork
        if choice == "auto":
            choice = "best-validation" if validating else "last-iteration"
        if choice != "last-iteration" and not validating:
            raise Lstm2OnnxError(f"trainingOptions: OutputNetwork {choice!r} needs ValidationData")
        self.by = {"last-iteration": None, "best-validation-loss": "loss", "best-validation": "objective"}[choice]
        self.value, self.iteration, self.state = math.inf, 0, None

    def consider(self, module: TorchNetwork, iteration: int, loss: float, objective: float) -> None:
        value = loss if self.by == "loss" else objective
        if self.by is not None and value < self.value:  # ties keep the earlier network, as a validation that does not improve
            self.value, self.iteration = value, iteration
            self.state = {k: v.detach().clone() for k, v in module.state_dict().items()}

    def restore(self, module: TorchNetwork) -> int | None:
        """Load the kept learnables into ``module``; their iteration, or None when the last iteration's network stands."""
        if self.state is None:
            return None
        module.load_state_dict(self.state)
        return self.iteration


@torch.no_grad()
def _evaluate(module: TorchNetwork, data: _Data, options: TrainingOptions, device, task: OutputLayerTask) -> tuple[float, float, Any]:
    """``(loss, metric, every metric)`` on validation data: mini-batch losses weighted by their sizes; the metrics over
    each mini-batch's own figures weighted the same way (every metric: None unless the task tracks several)."""
    module.eval()
    all_metrics = getattr(task, "all_metrics", None)
    losses, metrics, every, sizes = [], [], [], []
    order = np.argsort(data.lengths, kind="stable")
    for k in range(0, len(order), options.MiniBatchSize):
        idx = order[k : k + options.MiniBatchSize]
        x, lengths, y = data.batch(idx, options, device)
        loss, correct, counted = task.terms(module, module(x, lengths), y, lengths)
        losses.append(float(loss))
        metrics.append(task.metric(module, correct, counted))
        if all_metrics is not None:
            every.append(all_metrics(correct, counted))
        sizes.append(len(idx))
    module.train()
    average = np.average(every, axis=0, weights=sizes) if every and every[0] is not None else None
    return float(np.average(losses, weights=sizes)), float(np.average(metrics, weights=sizes)), average


def _checkpoint(module: TorchNetwork, folder: str, iteration: int) -> str | None:
    """Write ``net_checkpoint__<iteration>__<date>.json`` (the spec with learnables) into ``folder``; its path, or None.

    Serialized before the file is opened, then written atomically, so Ctrl-C or a
    full disk never leaves a partial checkpoint. A failed write warns and training
    goes on, as MATLAB's does (the folder was checked by trainingOptions).
    """
    from .._files import atomic_write
    from ..spec import dump_spec

    text = dump_spec(module.to_layers(), learnables=True)
    stamp = datetime.datetime.now().strftime("%Y_%m_%d__%H_%M_%S")
    path = os.path.join(folder, f"net_checkpoint__{iteration}__{stamp}.json")
    try:
        with atomic_write(path, text=True) as handle:
            handle.write(text)
    except OSError as error:
        warnings.warn(f"trainNetwork: checkpoint at iteration {iteration} not saved ({error.strerror or error}); training continues",
                      RuntimeWarning, stacklevel=2)
        return None
    return path


def _plot(info: TrainingInfo, options: TrainingOptions, path: str | None) -> str | None:
    """The training-progress PNG, written atomically; its path, or None (with a warning) if it could not be written."""
    import matplotlib

    from .._files import atomic_write

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if path is None:
        folder = options.CheckpointPath or os.getcwd()
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, "training-progress.png")
    iterations = np.arange(1, len(info.TrainingLoss) + 1)
    classification = not np.all(np.isnan(info.TrainingAccuracy))
    figure, axes = plt.subplots(2 if classification else 1, 1, figsize=(9, 6 if classification else 3.5), sharex=True, squeeze=False)
    axes = axes[:, 0]
    panels = [("Loss", info.TrainingLoss, info.ValidationLoss)]
    if classification:
        panels.insert(0, ("Accuracy (%)", info.TrainingAccuracy, info.ValidationAccuracy))
    for ax, (title, train, val) in zip(axes, panels):
        ax.plot(iterations, train, color="#1f77b4", linewidth=0.8, alpha=0.5, label="mini-batch")
        window = max(1, len(train) // 50)
        smooth = np.convolve(train, np.ones(window) / window, mode="valid")
        ax.plot(iterations[window - 1 :], smooth, color="#1f77b4", linewidth=1.8, label="smoothed")
        measured = ~np.isnan(val)
        if measured.any():
            ax.plot(iterations[measured], val[measured], "k--o", markersize=3, linewidth=1, label="validation")
        ax.set_ylabel(title)
        ax.grid(alpha=0.3)
        ax.legend(loc="best", fontsize=8)
    axes[-1].set_xlabel("Iteration")
    figure.suptitle(f"Training progress ({options.Solver}, {len(info.TrainingLoss)} iterations, {info.TrainingTime:.1f} s)")
    figure.tight_layout()
    try:
        with atomic_write(path) as handle:
            figure.savefig(handle, dpi=110, format="png")
    except OSError as error:  # the trained network matters more than its plot
        warnings.warn(f"trainNetwork: training progress plot not saved ({error.strerror or error})", RuntimeWarning, stacklevel=2)
        return None
    finally:
        plt.close(figure)
    return path
