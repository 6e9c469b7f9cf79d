"""MATLAB's ``trainingOptions``: names, defaults and allowed values, validated up front (no torch here)."""

from __future__ import annotations

import dataclasses
import math
import numbers
import os
from dataclasses import dataclass, field
from typing import Any

from ..errors import LayerError
from ..values import name_value

SOLVERS = ("sgdm", "adam", "rmsprop")
MAX_STEPS = 2**31 - 1  # the largest SequenceLength that means something (sequence lengths are int32)


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not float(value).is_integer() or value < 1:
        raise LayerError(f"trainingOptions: {name} must be a positive integer, got {value!r}")
    return int(value)


def _number(name: str, value: Any, low: float, high: float, *, low_open: bool = False, high_open: bool = False, inf_ok: bool = False) -> float:
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and not math.isnan(value)
    if ok and math.isinf(value):
        ok = inf_ok and value > 0
    elif ok:
        ok = (value > low if low_open else value >= low) and (value < high if high_open else value <= high)
    if not ok:
        lo, hi = ("(" if low_open else "[") + f"{low:g}", f"{high:g}" + (")" if high_open else "]")
        raise LayerError(f"trainingOptions: {name} must be a number in {lo}, {hi}{' or Inf' if inf_ok else ''}, got {value!r}")
    return float(value)


def _choice(name: str, value: Any, allowed: tuple[str, ...]) -> str:
    if isinstance(value, str):
        for option in allowed:
            if option.lower() == value.lower():
                return option
    raise LayerError(f"trainingOptions: {name} must be one of {', '.join(map(repr, allowed))}, got {value!r}")


def _checkpoint_path(value: Any) -> str:
    """'' (no checkpoints) or an existing folder this process can write to, checked now rather than after an epoch.

    As MATLAB's trainingOptions (R2023b): the folder must exist; it is not created.
    """
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str):
        raise LayerError(f"trainingOptions: CheckpointPath must be a folder name, got {value!r}")
    if not value:
        return value
    if not os.path.exists(value):
        raise LayerError(f"trainingOptions: CheckpointPath {value!r} does not exist; create the folder first")
    if not os.path.isdir(value):
        raise LayerError(f"trainingOptions: CheckpointPath {value!r} is not a folder")
    if not os.access(value, os.W_OK | os.X_OK):
        raise LayerError(f"trainingOptions: CheckpointPath {value!r} is not writable")
    return value


def _flag(name: str, value: Any) -> bool:
    if isinstance(value, bool) or value in (0, 1):
        return bool(value)
    raise LayerError(f"trainingOptions: {name} must be true or false, got {value!r}")


@dataclass(frozen=True)
class TrainingOptions:
    """The options of one training run; build it with :func:`trainingOptions`."""

    Solver: str
    InitialLearnRate: float
    MaxEpochs: int = 30
    MiniBatchSize: int = 128
    LearnRateSchedule: str = "none"
    LearnRateDropFactor: float = 0.1
    LearnRateDropPeriod: int = 10
    L2Regularization: float = 1e-4
    Momentum: float = 0.9
    GradientDecayFactor: float = 0.9
    SquaredGradientDecayFactor: float = 0.999
    Epsilon: float = 1e-8
    GradientThreshold: float = math.inf
    GradientThresholdMethod: str = "l2norm"
    Shuffle: str = "once"
    ValidationData: Any = field(default=None, repr=False)
    ValidationFrequency: int = 50
    ValidationPatience: float = math.inf
    SequenceLength: str | int = "longest"
    SequencePaddingValue: float = 0.0
    SequencePaddingDirection: str = "right"
    Verbose: bool = True
    VerboseFrequency: int = 50
    Plots: str = "none"
    ExecutionEnvironment: str = "auto"
    CheckpointPath: str = ""
    BatchNormalizationStatistics: str = "population"
    ResetInputNormalization: bool = True  # recompute the input layer's normalization statistics (else only missing ones)
    OutputNetwork: str = "last-iteration"  # or "best-validation-loss", "best-validation" (ObjectiveMetricName), "auto"
    Metrics: tuple[str, ...] = ()  # trainnet: "accuracy" and/or "rmse"
    ObjectiveMetricName: str = "loss"  # trainnet: what ValidationPatience watches
    InputDataFormats: str = "auto"  # trainnet: e.g. "CTB" for MATLAB-layout arrays (letters B, T, C)
    TargetDataFormats: str = "auto"

    def learn_rate(self, epoch: int) -> float:
        """The global learning rate during ``epoch`` (1-based): piecewise drops every LearnRateDropPeriod epochs."""
        if self.LearnRateSchedule == "piecewise":
            return self.InitialLearnRate * self.LearnRateDropFactor ** ((epoch - 1) // self.LearnRateDropPeriod)
        return self.InitialLearnRate


def trainingOptions(solverName: str, *args: Any, **kwargs: Any) -> TrainingOptions:
    """``trainingOptions('adam', 'MaxEpochs', 100, ...)`` or with keywords; names case-insensitive.

    Defaults are MATLAB's: InitialLearnRate 0.01 for 'sgdm' and 0.001 for 'adam'/'rmsprop';
    SquaredGradientDecayFactor 0.999 for 'adam' and 0.9 for 'rmsprop'; L2Regularization 1e-4;
    MiniBatchSize 128; MaxEpochs 30; Shuffle 'once'; BatchNormalizationStatistics 'population';
    ResetInputNormalization true.
    """
    solver = _choice("solverName", solverName, SOLVERS)
    names = [f.name for f in dataclasses.fields(TrainingOptions) if f.name != "Solver"]
    given = name_value("trainingOptions", args, kwargs, names)
    defaults = {"InitialLearnRate": 0.01 if solver == "sgdm" else 0.001,
                "SquaredGradientDecayFactor": 0.9 if solver == "rmsprop" else 0.999}
    o = {**defaults, **given}
    checked: dict[str, Any] = {"Solver": solver}
    for name, value in o.items():
        checked[name] = _check(name, value)
    return TrainingOptions(**checked)


def _check(name: str, value: Any) -> Any:
    if name in ("Metrics", "ObjectiveMetricName", "InputDataFormats", "TargetDataFormats"):
        return _check_trainnet(name, value)
    if name in ("MaxEpochs", "MiniBatchSize", "LearnRateDropPeriod", "ValidationFrequency", "VerboseFrequency"):
        return _positive_int(name, value)
    if name == "InitialLearnRate":
        return _number(name, value, 0, math.inf, low_open=True, high_open=True)
    if name in ("LearnRateDropFactor", "Momentum"):
        return _number(name, value, 0, 1)
    if name in ("GradientDecayFactor", "SquaredGradientDecayFactor"):
        return _number(name, value, 0, 1, high_open=True)
    if name == "L2Regularization":
        return _number(name, value, 0, math.inf, high_open=True)
    if name == "Epsilon":
        return _number(name, value, 0, math.inf, low_open=True, high_open=True)
    if name == "GradientThreshold":
        return _number(name, value, 0, math.inf, low_open=True, high_open=True, inf_ok=True)
    if name == "ValidationPatience":
        if value == math.inf:
            return math.inf
        return float(_positive_int(name, value))
    if name == "LearnRateSchedule":
        return _choice(name, value, ("none", "piecewise"))
    if name == "GradientThresholdMethod":
        return _choice(name, value, ("l2norm", "global-l2norm", "absolute-value"))
    if name == "Shuffle":
        return _choice(name, value, ("once", "every-epoch", "never"))
    if name == "SequenceLength":
        if isinstance(value, str):
            return _choice(name, value, ("longest", "shortest"))
        # chunks longer than 2**31 - 1 steps (int32 lengths) all mean "no chunking"; numpy needs the number bounded
        return min(_positive_int(name, value), MAX_STEPS)
    if name == "SequencePaddingValue":
        return _number(name, value, -math.inf, math.inf, low_open=True, high_open=True)
    if name == "SequencePaddingDirection":
        return _choice(name, value, ("right", "left"))
    if name in ("Verbose", "ResetInputNormalization"):
        return _flag(name, value)
    if name == "Plots":
        return _choice(name, value, ("none", "training-progress"))
    if name == "ExecutionEnvironment":
        return _choice(name, value, ("auto", "cpu", "gpu"))
    if name == "CheckpointPath":
        return _checkpoint_path(value)
    if name == "BatchNormalizationStatistics":
        return _choice(name, value, ("population", "moving"))
    if name == "OutputNetwork":
        return _choice(name, value, OUTPUT_NETWORKS)
    if name == "ValidationData":
        if value is not None and not (isinstance(value, (tuple, list)) and len(value) == 2):
            raise LayerError("trainingOptions: ValidationData must be a pair (XValidation, YValidation)")
        return value
    raise AssertionError(name)  # every field is handled above


METRICS = ("accuracy", "rmse")
# 'auto' (R2024a): 'best-validation' with ValidationData, else 'last-iteration'
OUTPUT_NETWORKS = ("last-iteration", "best-validation-loss", "best-validation", "auto")


def _check_trainnet(name: str, value: Any) -> Any:
    """trainnet's options (R2023b+): Metrics, ObjectiveMetricName, InputDataFormats, TargetDataFormats."""
    if name == "Metrics":
        names = (value,) if isinstance(value, str) else value
        if not isinstance(names, (list, tuple)) or not all(isinstance(v, str) for v in names):
            raise LayerError(f"trainingOptions: Metrics must be a metric name or a list of them ({', '.join(map(repr, METRICS))}), got {value!r}")
        return tuple(_choice(name, v, METRICS) for v in names)
    if name == "ObjectiveMetricName":
        return _choice(name, value, ("loss", *METRICS))
    if not isinstance(value, str) or (value.lower() != "auto" and not _is_format(value.upper())):
        raise LayerError(f"trainingOptions: {name} must be 'auto' or a data format made of the letters B (batch), T (time), C (channel), "
                         f"each at most once, e.g. 'CTB' (MATLAB's layout) or 'BTC', got {value!r}")
    return "auto" if value.lower() == "auto" else value.upper()


def _is_format(text: str) -> bool:
    return 0 < len(text) <= 3 and set(text) <= set("BTC") and len(set(text)) == len(text) and "C" in text
