"""Random sequences of stream operations against a model of what each stream has seen.

Each open stream's expected output is the float64 reference run over everything fed to it
since its last reset (or the history it inherited through set_state). Opening, closing,
single steps, batched dict steps with their own chunk lengths, group steps, members of a
group stepped alone, state copies and resets are interleaved at random, on host pages and
on OrtValue pages (the CUDA code path). Tolerance: max abs error <= 1e-5.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
from conftest import ATOL_FLOAT32
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, consumes, invariant, multiple, precondition, rule
from test_runtime_streams import export, stacked

from lstm2onnx import reference
from lstm2onnx_runtime import StreamError, StreamPool

FOLDER = Path(tempfile.mkdtemp(prefix="lstm2onnx-stream-model-"))
NET, MODEL = export(FOLDER, stacked())
FEATURES = 3
MAX_HISTORY = 24  # steps per stream before it is reset, to keep the reference cheap


def chunk(data: st.DataObject, steps: int) -> np.ndarray:
    values = data.draw(st.lists(st.floats(-3, 3, width=32), min_size=steps * FEATURES, max_size=steps * FEATURES))
    return np.array(values, np.float32).reshape(steps, FEATURES)


class StreamsAgainstTheReference(RuleBasedStateMachine):
    device = "host"
    streams = Bundle("streams")

    def __init__(self) -> None:
        super().__init__()
        self.pool = StreamPool(MODEL, page_size=3, device=self.device)
        self.history: dict[int, list[np.ndarray]] = {}  # stream id -> chunks fed since the last reset
        self.open: dict[int, object] = {}
        self.groups: list = []

    def expect(self, stream, x: np.ndarray) -> np.ndarray:
        self.history[stream.id].append(x)
        seen = np.concatenate(self.history[stream.id])
        return reference.predict(NET, [seen])[0][-len(x):]

    @rule(target=streams)
    def open_one(self):
        stream = self.pool.open()
        self.history[stream.id], self.open[stream.id] = [], stream
        return stream

    @rule(target=streams, n=st.integers(1, 3))
    def open_group(self, n):
        group = self.pool.open_group(n)
        for s in group.streams:
            self.history[s.id], self.open[s.id] = [], s
        self.groups.append(group)
        return multiple(*group.streams)  # members can also step alone, be copied or closed

    @rule(stream=streams, steps=st.integers(1, 3), data=st.data())
    def step_one(self, stream, steps, data):
        x = chunk(data, steps)
        if stream.id not in self.open:
            with pytest.raises(StreamError, match="is closed"):
                stream.step(x)
            return
        self.prepare(stream, steps)
        self.check_step(stream, x, stream.step(x))

    def prepare(self, stream, steps):
        if sum(len(c) for c in self.history[stream.id]) + steps > MAX_HISTORY:
            stream.reset()
            self.history[stream.id] = []

    def check_step(self, stream, x, got):
        assert np.abs(got - self.expect(stream, x)).max() <= ATOL_FLOAT32

    @precondition(lambda self: self.open)
    @rule(data=st.data())
    def step_several(self, data):
        ids = data.draw(st.lists(st.sampled_from(sorted(self.open)), min_size=1, max_size=4, unique=True))
        chunks = {}
        for i in ids:
            steps = data.draw(st.integers(1, 3))
            self.prepare(self.open[i], steps)
            chunks[self.open[i]] = chunk(data, steps)
        out = self.pool.step(chunks)
        for stream, x in chunks.items():
            self.check_step(stream, x, out[stream])

    @precondition(lambda self: self.groups)
    @rule(data=st.data())
    def step_group(self, data):
        group = data.draw(st.sampled_from(self.groups))
        steps = data.draw(st.integers(1, 3))
        if any(s.id not in self.open for s in group.streams):
            with pytest.raises(StreamError, match="is closed"):
                group.step(np.zeros((len(group), steps, FEATURES), np.float32))
            return
        for s in group.streams:
            self.prepare(s, steps)
        X = np.stack([chunk(data, steps) for _ in group.streams])
        out = group.step(X)
        for s, x, y in zip(group.streams, X, out):
            self.check_step(s, x, y)

    @rule(source=streams, target_stream=streams)
    def copy_state(self, source, target_stream):
        if source.id not in self.open or target_stream.id not in self.open:
            return
        target_stream.set_state(source.get_state())
        self.history[target_stream.id] = list(self.history[source.id])

    @rule(stream=streams)
    def reset(self, stream):
        if stream.id in self.open:
            stream.reset()
            self.history[stream.id] = []

    @rule(stream=consumes(streams))
    def close(self, stream):
        if stream.id in self.open:
            stream.close()
            del self.open[stream.id]

    @invariant()
    def the_pool_counts_its_open_streams(self):
        assert len(self.pool) == len(self.open)


class StreamsOnOrtValuePages(StreamsAgainstTheReference):
    device = "cpu"


SETTINGS = settings(max_examples=25, stateful_step_count=30, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
TestStreamsOnHostPages = StreamsAgainstTheReference.TestCase
TestStreamsOnHostPages.settings = SETTINGS
TestStreamsOnOrtValuePages = StreamsOnOrtValuePages.TestCase
TestStreamsOnOrtValuePages.settings = SETTINGS
