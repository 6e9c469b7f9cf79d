"""``instanceNormalizationLayer`` and ``groupNormalizationLayer``: each observation normalized over time.

The channels are split into G groups of K = C/G consecutive channels. For
sequence data (MATLAB 'CBT', ours ``[N, T, C]``) the mean μ and the biased
(population) variance σ² of group g of observation n are taken over the K
channels of the group and the *valid* time steps of that sequence, then::

    y_{n,t,c} = Scale_c · (x_{n,t,c} - μ_{n,g(c)}) / √(σ²_{n,g(c)} + Epsilon) + Offset_c

Instance normalization is G = C (each channel alone, over time); a group
norm's ``NumGroups`` may be a positive integer dividing C, 'all-channels'
(G = 1: all channels and time, a 'batch-excluded' layer norm) or
'channel-wise' (G = C: an instance norm): MATLAB's numGroups values (the
page excerpts we could read show the formula, not this list; groups are
consecutive channels, as in Wu & He's paper that the page cites). Padded
steps never enter a statistic, so padding never changes a result (MATLAB
includes them in a padded mini-batch; we give what it gives for the sequence
alone). Neither layer keeps running statistics: training and inference both
use the observation's own. ε is added to the variance inside the square root,
as the pages' formula writes it; the variance is the biased one (the pages do
not say: this is what cuDNN, PyTorch and the original papers compute).

A group norm after OutputMode 'last' (one step ``[N, C]``) takes its
statistics over each group's channels only. An instance norm needs a time
dimension (over one value per channel every output would be Offset), so it is
refused there. A stateful graph (MATLAB's ``predictAndUpdateState``) is
refused too: these statistics need the whole sequence, and a chunk carries
only recurrent state.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from .. import values
from ..errors import LayerError, NetworkError
from . import HYPER, name_value_pairs, prop, required
from .normalization import _PerChannel, positive_epsilon

GROUP_MODES = ("all-channels", "channel-wise")


def num_groups(value: Any, where: str) -> int | str:
    """NumGroups: a positive integer, 'all-channels' or 'channel-wise' (any case)."""
    try:
        if isinstance(value, (str, np.str_)):
            return values.choice(*GROUP_MODES)(value, where)
        return values.positive_int(value, where)
    except LayerError:
        raise LayerError(f"{where} must be a positive integer, 'all-channels' or 'channel-wise', got {values.describe(value)}") from None


@dataclass(frozen=True, eq=False, kw_only=True, repr=False)
class _OverTime(_PerChannel):
    """What both layers share: statistics per group of channels over each sequence's valid steps."""

    def groups(self, channels: int) -> int:
        """G, the number of channel groups for ``channels`` channels."""
        raise NotImplementedError


@dataclass(frozen=True, eq=False, kw_only=True, repr=False)
class InstanceNormalizationLayer(_OverTime):
    """MATLAB's ``instanceNormalizationLayer`` (R2021a): each channel of each sequence over its valid time steps.

    Properties as MATLAB's: ``Epsilon`` (1e-5, any positive scalar as from
    R2023a), ``NumChannels`` ('auto'), ``Offset``/``Scale`` (NumChannels-by-1)
    with their initializers ('zeros'/'ones'), learn-rate and L2 factors.
    See the module docstring for the formula.
    """

    FUNCTION: ClassVar[str] = "instanceNormalizationLayer"
    TYPE: ClassVar[str] = "Instance Normalization"
    DEFAULT_NAME: ClassVar[str] = "instancenorm"

    Epsilon: float = prop(1e-5, positive_epsilon)

    def groups(self, channels: int) -> int:
        return channels

    def infer(self, input_size: int, sequence: bool, where: str) -> tuple[int, bool]:
        if not sequence:
            raise NetworkError(f"{where}: instance normalization needs sequence input (it normalizes each channel over "
                               "time), but the previous layer outputs one time step (OutputMode 'last'): each channel "
                               "would be one value and every output its Offset; place the layer before the 'last' layer")
        return super().infer(input_size, sequence, where)


@dataclass(frozen=True, eq=False, kw_only=True, repr=False)
class GroupNormalizationLayer(_OverTime):
    """MATLAB's ``groupNormalizationLayer(numGroups)`` (R2020b): groups of channels of each sequence over its valid steps.

    ``NumGroups``: a positive integer that divides the number of channels,
    'all-channels' (one group) or 'channel-wise' (one group per channel).
    Other properties as :class:`InstanceNormalizationLayer`. See the module
    docstring for the formula.
    """

    FUNCTION: ClassVar[str] = "groupNormalizationLayer"
    TYPE: ClassVar[str] = "Group Normalization"
    DEFAULT_NAME: ClassVar[str] = "groupnorm"

    NumGroups: int | str = required(num_groups, HYPER)
    Epsilon: float = prop(1e-5, positive_epsilon)

    def groups(self, channels: int) -> int:
        if self.NumGroups == "all-channels":
            return 1
        if self.NumGroups == "channel-wise":
            return channels
        return self.NumGroups

    def _divides(self, channels: int) -> str | None:
        """The complaint when NumGroups does not divide ``channels`` channels, else None."""
        if isinstance(self.NumGroups, int) and channels % self.NumGroups:
            return f"NumGroups ({self.NumGroups}) must divide the number of channels ({channels})"
        return None

    def _check(self) -> None:
        super()._check()
        channels, source = self._channels()
        problem = None if channels is None else self._divides(channels)
        if problem:
            raise LayerError(f"{self.where('NumGroups')}: {problem}, as {source} gives them")

    def infer(self, input_size: int, sequence: bool, where: str) -> tuple[int, bool]:
        problem = self._divides(input_size)
        if problem:
            raise NetworkError(f"{where}: {problem}, which the previous layer outputs")
        return super().infer(input_size, sequence, where)


def instanceNormalizationLayer(*args: Any, **kwargs: Any) -> InstanceNormalizationLayer:
    """``instanceNormalizationLayer('Epsilon', 1e-4, 'Name', 'in1')`` or with keywords."""
    return InstanceNormalizationLayer(**name_value_pairs(InstanceNormalizationLayer, args, kwargs))


def groupNormalizationLayer(numGroups: Any, *args: Any, **kwargs: Any) -> GroupNormalizationLayer:
    """``groupNormalizationLayer(numGroups, 'Epsilon', 1e-4, ...)``; numGroups an integer, 'all-channels' or 'channel-wise'."""
    return GroupNormalizationLayer(**name_value_pairs(GroupNormalizationLayer, args, kwargs, NumGroups=numGroups))
