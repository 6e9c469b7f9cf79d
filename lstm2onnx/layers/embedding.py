"""Word embeddings: MATLAB's ``wordEmbeddingLayer(dimension, numWords)`` (Text Analytics Toolbox).

The layer follows ``sequenceInputLayer(1)``: each time step holds one
1-based word index w, and the output step is column w of ``Weights``
(``Dimension x NumWords``)::

    y_t = Weights[:, w_t]          x ``[N, T, 1]`` -> y ``[N, T, Dimension]``

An index that is not an integer is a data error. ``OOVMode`` 'error' (the
default) makes an index outside ``1..NumWords`` a data error too;
'map-to-last' maps it to the last word, ``NumWords``. Following MATLAB's
R2024b documentation: ``WeightsInitializer`` defaults to 'narrow-normal'
(normal, standard deviation 0.01).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable, ClassVar

import numpy as np

from .. import initializers, values
from ..errors import NetworkError
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
    OOVMode: str = prop("error", values.choice("error", "map-to-last"))
    Weights: np.ndarray | None = prop(None, values.matrix(), LEARNABLE, learnable=True)
    WeightsInitializer: str | Callable = prop("narrow-normal", values.initializer(*EMBEDDING_INITIALIZERS), HIDDEN)
    WeightLearnRateFactor: float = prop(1.0, values.scalar_factor, HIDDEN)
    WeightL2Factor: float = prop(1.0, values.scalar_factor, HIDDEN)

    def _check(self) -> None:
        D, K = self.Dimension, self.NumWords
        self._expect_shape("Weights", (D, K), f"{D}-by-{K} (Dimension-by-NumWords)")

    def infer(self, input_size: int, sequence: bool, where: str) -> tuple[int, bool]:
        if not sequence or input_size != 1:
            got = f"{input_size} features" if sequence else "one time step"
            raise NetworkError(f"{where} needs sequences of word indices (one feature: sequenceInputLayer(1)), got {got}")
        return self.Dimension, True

    def initialized(self, rng: Callable[[int], np.random.Generator]) -> "WordEmbeddingLayer":
        """Unset Weights drawn by WeightsInitializer; 'glorot' and 'he' take fan-in Dimension and fan-out NumWords."""
        if self.Weights is not None:
            return self
        D, K = self.Dimension, self.NumWords
        weights = initializers.weights(self.WeightsInitializer, (D, K), D, K, rng(0), self.where("WeightsInitializer"))
        return dataclasses.replace(self, Weights=weights)

    def description(self) -> str:
        return f"Word embedding layer with {self.Dimension} dimensions and {self.NumWords} unique words"


def wordEmbeddingLayer(dimension: int, numWords: int, *args: Any, **kwargs: Any) -> WordEmbeddingLayer:
    """``wordEmbeddingLayer(dimension, numWords, 'OOVMode', 'map-to-last', ...)``."""
    return WordEmbeddingLayer(**name_value_pairs(WordEmbeddingLayer, args, kwargs, Dimension=dimension, NumWords=numWords))
