"""Many concurrent streams on one network: stateful carry-over for serving.

A :class:`StreamPool` holds the hidden/cell state of many independent
sequences (streams). Advance one stream with :meth:`Stream.step`, or any
subset together, each with its own chunk length, in one batched onnxruntime
call with :meth:`StreamPool.step`. Reset, close, read or write a stream's
state (bit-exact, to persist a conversation and resume it later).

Where the state lives:

- CPU: in pages of ``[2, page_size, H]`` float32 arrays, one per state
  tensor; each stream owns a row and a parity bit. A single-stream step runs
  through two IOBindings pre-bound to that row (input state from one half,
  output state into the other, then the parity flips), so no state is copied
  at all; a batched step gathers and scatters the rows with one numpy
  operation per tensor and page.
- CUDA: per stream, two device OrtValues per state tensor, ping-ponged by
  pre-bound IOBindings, so the state never visits the host between steps.
  A batched step on CUDA copies the states of the streams it advances
  through the host.

Thread safety: one loaded network can serve many threads. A pool's
bookkeeping is guarded by a lock; a stream may be advanced by one call at a
time (a second concurrent call on the same stream gets a StreamError), and
streams never share state.
"""

from __future__ import annotations

import itertools
import threading
from typing import Any, Mapping

import numpy as np

from ._ort import fast_run, ort
from .batching import check_sequence, pad
from .errors import StreamError
from .inference import _require_streaming
from .network import Network

_ids = itertools.count(1)


class Stream:
    """One sequence being served: a handle into its pool's state storage."""

    __slots__ = ("pool", "id", "slot", "closed", "busy", "_bound")

    def __init__(self, pool: "StreamPool", slot: int) -> None:
        self.pool, self.id, self.slot = pool, next(_ids), slot
        self.closed, self.busy = False, False
        self._bound: _Bound | None = None

    def step(self, x: Any) -> np.ndarray:
        """Advance by a ``[T, F]`` chunk; return ``[T, K]`` (sequence output) or ``[K]`` (the chunk's last step)."""
        return self.pool._step_one(self, x)

    def reset(self) -> None:
        """Back to every layer's HiddenState/CellState (MATLAB's resetState for this stream)."""
        self.pool.set_state(self, None)

    def close(self) -> None:
        self.pool.close(self)

    def get_state(self) -> dict[str, dict[str, np.ndarray]]:
        return self.pool.get_state(self)

    def set_state(self, state: Mapping[str, Mapping[str, Any]]) -> None:
        self.pool.set_state(self, state)

    def __repr__(self) -> str:
        return f"Stream({self.id}{', closed' if self.closed else ''})"


class _Bound:
    """A stream's two pre-bound IOBindings for chunks of ``steps`` time steps, and their host buffers."""

    __slots__ = ("steps", "bindings", "x", "y", "lengths")

    def __init__(self, steps: int, bindings: list, x: np.ndarray, y: np.ndarray, lengths: np.ndarray) -> None:
        # the bindings hold raw pointers into x, y and lengths: this object keeps them alive together
        self.steps, self.bindings, self.x, self.y, self.lengths = steps, bindings, x, y, lengths


class StreamPool:
    """Independent streams on one stateful, unidirectional network."""

    def __init__(self, net: Network, page_size: int = 256, *, store: str | None = None) -> None:
        _require_streaming(net, "StreamPool")
        if isinstance(page_size, bool) or not isinstance(page_size, int) or page_size < 1:
            raise StreamError(f"StreamPool: page_size must be a positive integer, got {page_size!r}")
        self.net = net
        self._lock = threading.Lock()
        self._streams: dict[int, Stream] = {}
        self._run = fast_run(net.session)
        self._inner = getattr(net.session, "_sess", None)
        kind = store or ("device" if net.on_cuda else "host")
        self._store = _DeviceStore(net, "cuda" if net.on_cuda else "cpu") if kind == "device" else _HostStore(net, page_size)

    # -- lifecycle -------------------------------------------------------------------------------

    def open(self) -> Stream:
        """A new stream at the network's initial state."""
        with self._lock:
            stream = Stream(self, self._store.allocate())
            self._streams[stream.id] = stream
        self._store.write(stream.slot, self._initial())
        return stream

    def close(self, stream: Stream) -> None:
        with self._lock:
            self._check([stream], claim=False)
            stream.closed = True
            del self._streams[stream.id]
            stream._bound = None
            self._store.release(stream.slot)

    def __len__(self) -> int:
        return len(self._streams)

    # -- state -----------------------------------------------------------------------------------

    def get_state(self, stream: Stream) -> dict[str, dict[str, np.ndarray]]:
        """``{layer: {"HiddenState": [H], "CellState": [H]}}``, float32 copies."""
        with self._lock:
            self._check([stream], claim=False)
            values = self._store.read(stream.slot)
        return {spec.layer: {"HiddenState": values[2 * k], "CellState": values[2 * k + 1]} for k, spec in enumerate(self.net.info.states)}

    def set_state(self, stream: Stream, state: Mapping[str, Mapping[str, Any]] | None) -> None:
        """Write a state from :meth:`get_state` (``None``: the initial state). Checked before anything changes."""
        values = self._initial() if state is None else self._checked_state(stream, state)
        with self._lock:
            self._check([stream], claim=True)
        try:
            self._store.write(stream.slot, values)
        finally:
            stream.busy = False

    def _initial(self) -> list[np.ndarray]:
        return [v for s in self.net.info.states for v in (s.initial_hidden, s.initial_cell)]

    def _checked_state(self, stream: Stream, state: Mapping[str, Mapping[str, Any]]) -> list[np.ndarray]:
        specs = self.net.info.states
        if not isinstance(state, Mapping) or set(state) != {s.layer for s in specs}:
            got = sorted(state) if isinstance(state, Mapping) else type(state).__name__
            raise StreamError(f"set_state for stream {stream.id}: expected layers {[s.layer for s in specs]}, got {got}")
        values = []
        for spec in specs:
            for key in ("HiddenState", "CellState"):
                try:
                    value = np.asarray(state[spec.layer][key], dtype=np.float32).reshape(-1)
                except (KeyError, TypeError, ValueError):
                    raise StreamError(f"set_state for stream {stream.id}: layer {spec.layer!r} needs a numeric {key}") from None
                if value.size != spec.hidden_size or not np.all(np.isfinite(value)):
                    raise StreamError(
                        f"set_state for stream {stream.id}: {spec.layer}.{key} must be {spec.hidden_size} finite numbers, got {value.size}"
                    )
                values.append(value)
        return values

    # -- stepping --------------------------------------------------------------------------------

    def _step_one(self, stream: Stream, x: Any) -> np.ndarray:
        info = self.net.info
        x = check_sequence("Stream.step", x, f"for stream {stream.id}", info.features, self.net.nan_policy)
        with self._lock:
            self._check([stream], claim=True)
        try:
            bound = stream._bound
            if bound is None or bound.steps != len(x):
                bound = stream._bound = self._store.bind(self.net, stream.slot, len(x))
            np.copyto(bound.x[0], x)
            binding = bound.bindings[self._store.parity(stream.slot)]
            if self._inner is not None:
                self._inner.run_with_iobinding(binding._iobinding, None)
            else:
                self.net.session.run_with_iobinding(binding)
            self._store.flip(stream.slot)
            return bound.y[0].copy()
        finally:
            stream.busy = False

    def step(self, chunks: Mapping[Stream, Any]) -> dict[Stream, np.ndarray]:
        """Advance several streams in one batched call; ``{stream: [T_i, F] chunk}`` -> ``{stream: output}``.

        Every chunk is checked before any state changes; on an error no
        stream moves.
        """
        info = self.net.info
        if not isinstance(chunks, Mapping) or not chunks:
            raise StreamError("StreamPool.step: expected a non-empty {stream: chunk} mapping")
        streams = list(chunks)
        for s in streams:
            if not isinstance(s, Stream):
                raise StreamError(f"StreamPool.step: keys must be streams from StreamPool.open(), got {s!r}")
        xs = [check_sequence("StreamPool.step", chunks[s], f"for stream {s.id}", info.features, self.net.nan_policy) for s in streams]
        with self._lock:
            self._check(streams, claim=True)
        try:
            lengths = np.array([len(x) for x in xs], np.int32)
            groups = [np.arange(len(xs))] if info.sequence_lengths else [np.flatnonzero(lengths == t) for t in np.unique(lengths)]
            results: dict[Stream, np.ndarray] = {}
            for group in groups:
                slots = np.array([streams[k].slot for k in group])
                state = self._store.gather(slots)
                feeds = {info.sequences: pad([xs[k] for k in group], int(lengths[group].max()), info.features, 0.0)}
                if info.sequence_lengths:
                    feeds[info.sequence_lengths] = lengths[group]
                for k, spec in enumerate(info.states):
                    feeds[spec.hidden_in], feeds[spec.cell_in] = state[2 * k], state[2 * k + 1]
                out = self._run(info.output_names, feeds)
                self._store.scatter(slots, out[1:])
                for j, k in enumerate(group):
                    results[streams[k]] = out[0][j, : lengths[k]] if info.sequence_output else out[0][j]
            return results
        finally:
            for s in streams:
                s.busy = False

    def _check(self, streams: list[Stream], *, claim: bool) -> None:
        """Under the lock: every stream open, in this pool, and (claim) not busy; then mark them busy."""
        seen = set()
        for s in streams:
            if not isinstance(s, Stream) or s.pool is not self:
                raise StreamError(f"{s!r} does not belong to this StreamPool")
            if s.closed or s.id not in self._streams:
                raise StreamError(f"stream {s.id} is closed")
            if claim and (s.busy or s.id in seen):
                raise StreamError(f"stream {s.id} is already being advanced by another call")
            seen.add(s.id)
        if claim:
            for s in streams:
                s.busy = True


class _HostStore:
    """State rows in host pages ``[2, page_size, H]`` per tensor, with a parity bit per row."""

    def __init__(self, net: Network, page_size: int) -> None:
        self.net, self.page_size = net, page_size
        self.sizes = [s.hidden_size for s in net.info.states for _ in (0, 1)]
        self.pages: list[list[np.ndarray]] = []
        self.parities: list[np.ndarray] = []
        self.free: list[int] = []

    def allocate(self) -> int:
        if not self.free:
            base = len(self.pages) * self.page_size
            self.pages.append([np.zeros((2, self.page_size, size), np.float32) for size in self.sizes])
            self.parities.append(np.zeros(self.page_size, np.intp))
            self.free = list(range(base + self.page_size - 1, base - 1, -1))
        return self.free.pop()

    def release(self, slot: int) -> None:
        self.free.append(slot)

    def parity(self, slot: int) -> int:
        return int(self.parities[slot // self.page_size][slot % self.page_size])

    def flip(self, slot: int) -> None:
        self.parities[slot // self.page_size][slot % self.page_size] ^= 1

    def read(self, slot: int) -> list[np.ndarray]:
        page, row = divmod(slot, self.page_size)
        p = self.parities[page][row]
        return [t[p, row].copy() for t in self.pages[page]]

    def write(self, slot: int, values: list[np.ndarray]) -> None:
        page, row = divmod(slot, self.page_size)
        p = self.parities[page][row]
        for tensor, value in zip(self.pages[page], values):
            tensor[p, row] = value

    def gather(self, slots: np.ndarray) -> list[np.ndarray]:
        pages, rows = np.divmod(slots, self.page_size)
        if (pages == pages[0]).all():
            page, par = pages[0], self.parities[pages[0]][rows]
            return [t[par, rows] for t in self.pages[page]]
        out = [np.empty((len(slots), size), np.float32) for size in self.sizes]
        for page in np.unique(pages):
            mask = pages == page
            par = self.parities[page][rows[mask]]
            for o, t in zip(out, self.pages[page]):
                o[mask] = t[par, rows[mask]]
        return out

    def scatter(self, slots: np.ndarray, values: list[np.ndarray]) -> None:
        pages, rows = np.divmod(slots, self.page_size)
        for page in np.unique(pages):
            mask = pages == page
            par = self.parities[page][rows[mask]]
            for t, v in zip(self.pages[page], values):
                t[par, rows[mask]] = v[mask]

    def bind(self, net: Network, slot: int, steps: int) -> _Bound:
        page, row = divmod(slot, self.page_size)
        tensors = self.pages[page]

        def row_pointer(tensor: np.ndarray, half: int) -> int:
            return tensor[half, row].ctypes.data

        return _bind(net, steps, lambda b, name, k, half, is_input: (
            b.bind_input if is_input else b.bind_output)(name, "cpu", 0, np.float32, [1, self.sizes[k]], row_pointer(tensors[k], half)))


class _DeviceStore:
    """Per-stream OrtValues on the session's device, two per state tensor (ping-pong)."""

    def __init__(self, net: Network, device: str) -> None:
        self.net, self.device = net, device
        self.sizes = [s.hidden_size for s in net.info.states for _ in (0, 1)]
        self.values: dict[int, list[list[Any]]] = {}
        self.parities: dict[int, int] = {}
        self.slots = itertools.count()

    def allocate(self) -> int:
        slot = next(self.slots)
        self.values[slot] = [[ort.OrtValue.ortvalue_from_shape_and_type([1, size], np.float32, self.device, 0) for size in self.sizes] for _ in (0, 1)]
        self.parities[slot] = 0
        return slot

    def release(self, slot: int) -> None:
        del self.values[slot], self.parities[slot]

    def parity(self, slot: int) -> int:
        return self.parities[slot]

    def flip(self, slot: int) -> None:
        self.parities[slot] ^= 1

    def read(self, slot: int) -> list[np.ndarray]:
        return [v.numpy()[0].copy() for v in self.values[slot][self.parities[slot]]]

    def write(self, slot: int, values: list[np.ndarray]) -> None:
        for ortvalue, value in zip(self.values[slot][self.parities[slot]], values):
            ortvalue.update_inplace(np.ascontiguousarray(np.asarray(value, np.float32).reshape(1, -1)))

    def gather(self, slots: np.ndarray) -> list[np.ndarray]:
        rows = [self.read(int(slot)) for slot in slots]
        return [np.stack([r[k] for r in rows]) for k in range(len(self.sizes))]

    def scatter(self, slots: np.ndarray, values: list[np.ndarray]) -> None:
        for j, slot in enumerate(slots):
            self.write(int(slot), [v[j] for v in values])

    def bind(self, net: Network, slot: int, steps: int) -> _Bound:
        halves = self.values[slot]
        return _bind(net, steps, lambda b, name, k, half, is_input: (
            b.bind_ortvalue_input if is_input else b.bind_ortvalue_output)(name, halves[half][k]))


def _bind(net: Network, steps: int, bind_state) -> _Bound:
    """Two IOBindings for one stream: parity p reads state half p and writes half 1 - p."""
    info = net.info
    x = np.zeros((1, steps, info.features), np.float32)
    y = np.zeros((1, steps, info.output_size) if info.sequence_output else (1, info.output_size), np.float32)
    length = np.full(1, steps, np.int32)
    bindings = []
    for p in (0, 1):
        b = net.session.io_binding()
        b.bind_input(info.sequences, "cpu", 0, np.float32, list(x.shape), x.ctypes.data)
        if info.sequence_lengths:
            b.bind_input(info.sequence_lengths, "cpu", 0, np.int32, [1], length.ctypes.data)
        b.bind_output(info.output, "cpu", 0, np.float32, list(y.shape), y.ctypes.data)
        for k, spec in enumerate(info.states):
            for j, (name_in, name_out) in enumerate(((spec.hidden_in, spec.hidden_out), (spec.cell_in, spec.cell_out))):
                bind_state(b, name_in, 2 * k + j, p, True)
                bind_state(b, name_out, 2 * k + j, 1 - p, False)
        bindings.append(b)
    return _Bound(steps, bindings, x, y, length)
