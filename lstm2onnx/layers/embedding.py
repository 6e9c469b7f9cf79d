"""Word embeddings: MATLAB's ``wordEmbeddingLayer(dimension, numWords)`` (Text Analytics Toolbox).

The layer follows ``sequenceInputLayer(1)``: each time step holds one
1-based word index w, and the output step is column w of ``Weights``::

    y_t = Weights[:, w_t]          x ``[N, T, 1]`` -> y ``[N, T, Dimension]``

Out-of-vocabulary words, as MATLAB's R2024b page documents them:

- ``OOVMode`` 'map-to-last' (the default; the only behaviour before R2023b)
  maps every index outside ``1..NumWords`` to the last embedding vector in
  Weights. Initialized Weights are ``Dimension x (NumWords+1)``: the extra
  last column is the learned out-of-vocabulary vector (MATLAB's 'glorot' and
  'he' take numIn = NumWords + 1). Given Weights may be ``Dimension x
  NumWords`` or ``Dimension x (NumWords+1)``; MATLAB appends the extra column
  to a ``Dimension x NumWords`` array when trainNetwork trains the network or
  a dlnetwork is initialized, and :meth:`WordEmbeddingLayer.initialized`
  (``lstm2onnx.initialize``, which build and trainNetwork call) appends a
  column drawn by ``WeightsInitializer`` (which values MATLAB puts there is
  not documented). Index 0 is MATLAB's padding token (doc2sequence pads with
  zeros), and MATLAB's ``embed`` maps it to the out-of-vocabulary vector too.
- 'error' ("for models that already have an out-of-vocabulary token in
  their vocabulary, such as BERT"): Weights are ``Dimension x NumWords`` and
  an index outside ``1..NumWords`` is a data error.

An index that is not an integer is a data error in both modes.
``WeightsInitializer`` defaults to 'narrow-normal' (normal, standard
deviation 0.01).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable, ClassVar

import numpy as np

from .. import initializers, values
from ..errors import LayerError, NetworkError
from . import HIDDEN, LEARNABLE, Layer, name_value_pairs, prop, required

EMBEDDING_INITIALIZERS = ("narrow-normal", "glorot", "he", "orthogonal", "zeros", "ones")


@dataclass(frozen=True, eq=False, kw_only=True, repr=False)
class WordEmbeddingLayer(Layer):
    """Word index -> embedding vector, per time step (see the module docstring)."""

    FUNCTION: ClassVar[str] = "wordEmbeddingLayer"
    TYPE: ClassVar[str] = "Word Embedding Layer"
    DEFAULT_NAME: ClassVar[str] = "word-embedding"

    Dimension: int = required(values.positive_int)
    NumWords: int = required(values.positive_int)
    OOVMode: str = prop("map-to-last", values.choice("map-to-last", "error"))
    Weights: np.ndarray | None = prop(None, values.matrix(), LEARNABLE, learnable=True)
    WeightsInitializer: str | Callable = prop("narrow-normal", values.initializer(*EMBEDDING_INITIALIZERS), HIDDEN)
    WeightLearnRateFactor: float = prop(1.0, values.scalar_factor, HIDDEN)
    WeightL2Factor: float = prop(1.0, values.scalar_factor, HIDDEN)

    def _check(self) -> None:
        D, K, W = self.Dimension, self.NumWords, self.Weights
        if self.OOVMode == "error":
            self._expect_shape("Weights", (D, K), f"{D}-by-{K} (Dimension-by-NumWords; OOVMode 'error' has no out-of-vocabulary column)")
        elif W is not None and (W.shape[0] != D or W.shape[1] not in (K, K + 1)):
            raise LayerError(
                f"{self.where('Weights')} must be a {D}-by-{K} (Dimension-by-NumWords) or {D}-by-{K + 1} "
                f"(Dimension-by-(NumWords+1), the last column for out-of-vocabulary words) matrix, got {W.shape[0]}-by-{W.shape[1]}"
            )

    @property
    def columns(self) -> int:
        """Columns of initialized Weights: NumWords+1 under 'map-to-last' (the out-of-vocabulary vector last), else NumWords."""
        return self.NumWords + 1 if self.OOVMode == "map-to-last" else self.NumWords

    def infer(self, input_size: int, sequence: bool, where: str) -> tuple[int, bool]:
        if not sequence or input_size != 1:
            got = f"{input_size} features" if sequence else "one time step"
            raise NetworkError(f"{where} needs sequences of word indices (one feature: sequenceInputLayer(1)), got {got}")
        return self.Dimension, True

    def initialized(self, rng: Callable[[int], np.random.Generator]) -> "WordEmbeddingLayer":
        """Unset Weights drawn by WeightsInitializer, ``Dimension x columns``, with MATLAB's numIn = NumWords + 1 and
        numOut = Dimension; given ``Dimension x NumWords`` Weights under 'map-to-last' get the out-of-vocabulary column
        appended, the last column of such a draw (see the module docstring)."""
        D, K, W = self.Dimension, self.NumWords, self.Weights
        if W is not None and W.shape[1] == self.columns:
            return self
        drawn = initializers.weights(self.WeightsInitializer, (D, self.columns), K + 1, D, rng(0), self.where("WeightsInitializer"))
        if W is not None:
            drawn = np.concatenate([np.asarray(W, np.float32), drawn[:, -1:]], axis=1)
        return dataclasses.replace(self, Weights=drawn)

    def to_dict(self, learnables: bool = True) -> dict[str, Any]:
        """As every layer's, but OOVMode always written: specs from before its default became 'map-to-last' omit 'error'."""
        out = super().to_dict(learnables)
        out.setdefault("OOVMode", self.OOVMode)
        return out

    def description(self) -> str:
        return f"Word embedding layer with {self.Dimension} dimensions and {self.NumWords} unique words"


def wordEmbeddingLayer(dimension: int, numWords: int, *args: Any, **kwargs: Any) -> WordEmbeddingLayer:
    """``wordEmbeddingLayer(dimension, numWords, 'OOVMode', 'map-to-last', ...)``."""
    return WordEmbeddingLayer(**name_value_pairs(WordEmbeddingLayer, args, kwargs, Dimension=dimension, NumWords=numWords))
