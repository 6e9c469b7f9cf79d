"""Many concurrent streams on one network: stateful carry-over for serving.

A :class:`StreamPool` holds the hidden/cell state of many independent
sequences (streams):

- ``stream.step(x)`` advances one stream by a ``[T, F]`` chunk;
- ``pool.step({stream: chunk, ...})`` advances any subset together in one
  batched onnxruntime call, each stream with its own chunk length;
- ``pool.step_many(streams, X)`` does the same for a ``[N, T, F]`` array, and
  ``pool.open_group(n)`` opens n streams that step together with no per-stream
  Python work at all (the serving loop's fast path);
- ``stream.reset()``, ``stream.close()``, ``stream.get_state()`` /
  ``stream.set_state(...)`` (bit-exact, to persist a conversation and resume it).

Where the state lives. Each state tensor (h and c of every LSTM layer, h of every GRU layer) is
stored in pages ``[2, rows, H]``; a stream owns one row of a page and a
parity bit saying which half holds its current state. A step reads half p
and writes half 1 - p through IOBindings pre-bound to those rows, then flips
the parity: no state is copied, ever, on the fast paths (one stream, or a
group whose rows are contiguous). ``pool.step`` and ``step_many`` make a
transient group of their streams: on contiguous rows of one page, in any
order (sorted by row, the outputs put back in the caller's order), it takes
the same path (bindings kept per block of rows), and ``pool.step`` keeps its
last set of streams, so a serving loop sending the same streams again does no
per-stream bookkeeping. Other batched steps gather the rows with one numpy
operation per tensor and page (on one host page: into buffers bound once, see
``_Gather``). Pages live in host memory for the
CPU provider and in device memory (OrtValues) for CUDA, so on CUDA the state
of stepped streams and groups stays on the GPU; the generic batched path on
CUDA copies just the rows it touches through the host (and back), never a
whole page, so that it cannot undo another thread's step on the same page.

Thread safety: one loaded network serves many threads. Bookkeeping (which
slot belongs to which open stream, which are busy) is guarded by the pool's
lock; a stream is advanced by one call at a time (a concurrent call on the
same stream gets a StreamError) and streams never share state.
"""

from __future__ import annotations

import base64
import functools
import itertools
import math
import threading
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ._ort import ort, providers_for
from .batching import check_batch, check_finite, check_sequence, pad
from .errors import NotAStreamError, StreamError
from .inference import _require_streaming
from .network import Network

_ids = itertools.count(1)
_FLOAT32 = np.dtype(np.float32)
FLOAT = _FLOAT32.itemsize
MAX_PAGE_BYTES = 2**30  # one page of recurrent state: a million 128-unit LSTM streams fit
KEPT_BLOCKS = 16  # bindings kept for blocks of rows that transient groups (pool.step / step_many) stepped
KEPT_BYTES = 2**24  # buffers of a transient step larger than this are not kept for the next call (a big step_many)
KEPT_GATHER_BYTES = 2**26  # spare buffers of gathered steps kept in all (one per call that ran at once, per shape)


class Stream:
    """One sequence being served: a handle to a row of its pool's state pages."""

    __slots__ = ("pool", "id", "slot", "_bound")

    def __init__(self, pool: "StreamPool", slot: int, stream_id: int) -> None:
        self.pool, self.slot, self.id = pool, slot, stream_id
        self._bound: _Bound | None = None

    @property
    def closed(self) -> bool:
        return self.slot < 0 or self.pool._owner_of(self.slot) != self.id

    def step(self, x: Any) -> np.ndarray:
        """Advance by a ``[T, F]`` chunk; return ``[T, K]`` (sequence output) or ``[K]`` (the chunk's last step)."""
        return self.pool._step_one(self, x)

    def reset(self) -> None:
        """Back to every layer's HiddenState/CellState (MATLAB's resetState, for this stream)."""
        self.pool.set_state(self, None)

    def close(self) -> None:
        self.pool.close(self)

    def get_state(self) -> dict[str, dict[str, np.ndarray]]:
        return self.pool.get_state(self)

    def set_state(self, state: Mapping[str, Mapping[str, Any]]) -> None:
        self.pool.set_state(self, state)

    def __repr__(self) -> str:
        return f"Stream({self.id}{', closed' if self.closed else ''})"


class StreamGroup:
    """Streams stepped together by ``group.step(X)`` with ``X`` ``[n, T, F]``.

    :meth:`StreamPool.open_group` puts them on contiguous rows of one page:
    its members are ordinary streams (step, reset, close them alone too);
    while all members are open and share a parity, a group step runs through
    pre-bound IOBindings with no per-stream work. The pool also makes
    transient groups of any streams for :meth:`StreamPool.step` and
    :meth:`StreamPool.step_many`: those on contiguous rows of one page, in any
    order, take the same pre-bound path, the others gather their rows.
    """

    def __init__(self, pool: "StreamPool", streams: list[Stream], persistent: bool = False, slots: list[int] | None = None,
                 distinct: bool = False) -> None:
        """``slots``: the streams' slots when the caller has already read them (a transient group); ``distinct``:
        the streams are known to be distinct (a dict's keys), so open ones have distinct slots."""
        self.pool, self.streams, self.persistent = pool, streams, persistent
        n = len(streams)
        if slots is None:
            slots = [s.slot for s in streams]
        self.slots = np.array(slots, np.intp)
        self._ids: np.ndarray | None = None  # the members' ids in row order, read when first needed (see ids)
        # a contiguous range of slots: claimed and released with bytearray slices (its first slot, else None)
        start = slots[0]
        first = start if slots[-1] - start == n - 1 and slots == list(range(start, start + n)) else None
        self.lowest = start if first is not None else None  # the smallest slot, where known (a closed stream's is -1)
        # a transient group on a shuffled block of rows keeps its slots (and ids) in row order: order[j] is the
        # caller's position of row j, inverse the reverse; it takes the block path
        self.order = self.inverse = None
        self.distinct = True
        if first is None and not persistent:
            first = self._sort_by_row(slots, distinct)
        self.first = first
        # contiguous rows of one page: stepped through pre-bound IOBindings (page index, first row; else None).
        # A page's slots are one ascending range, row k at its k-th slot (_add_page, _group_slots): contiguous
        # slots on one page are contiguous rows.
        page_of, row_of = pool._page_of, pool._row_of
        same_page = first is not None and page_of[first] == page_of[first + n - 1]
        self.block = (int(page_of[first]), int(row_of[first])) if same_page else None
        self.ones, self.zeros = b"\x01" * len(streams), bytes(len(streams))  # busy bytes while stepping, after
        self.verified = -1  # the pool's close count when the members were last seen open
        self._bound: _Bound | None = None

    def _sort_by_row(self, slots: list[int], distinct: bool) -> int | None:
        """A transient group's streams on a shuffled block of slots: put its slots (and ids) in row order, with
        ``order``/``inverse`` to go between the caller's order and the rows', and return the block's first slot.
        Other slots stay as they are (None); ``distinct`` says whether a slot repeats."""
        n, array = len(slots), self.slots
        low = self.lowest = int(array.min())
        if int(array.max()) - low != n - 1:  # scattered rows: gathered in the caller's order (sorting them measured no faster)
            self.distinct = distinct or len(set(slots)) == n
            return None
        inverse = array - low  # each stream's row in the block
        order = np.full(n, -1, np.intp)
        order[inverse] = np.arange(n)
        self.distinct = bool((order >= 0).all())  # n slots on n rows: every row is hit when none repeats
        if not self.distinct:
            return None
        self.slots, self.order, self.inverse = array[order], order, inverse
        return low

    @property
    def ids(self) -> np.ndarray:
        """The members' ids, in the order of ``slots``: what the pool's owner table must hold on those slots."""
        if self._ids is None:
            ids = np.array([s.id for s in self.streams], np.int64)
            self._ids = ids if self.order is None else ids[self.order]
        return self._ids

    def __len__(self) -> int:
        return len(self.streams)

    def step(self, X: Any, lengths: Any = None) -> np.ndarray:
        """``[n, T, K]`` or ``[n, K]`` for a ``[n, T, F]`` chunk (``lengths``: each stream's valid steps)."""
        return self.pool._step_group(self, X, lengths)


class _Bound:
    """Two IOBindings (parity 0 and 1) for a block of rows and chunks of ``steps`` steps, and their buffers.

    Everything a step needs is precomputed here (views, bound run calls), since
    on the single-stream path each attribute lookup is a visible share of the cost.
    """

    __slots__ = ("steps", "bindings", "runs", "x", "x0", "x_flat", "small", "y", "y0", "lengths", "full", "page", "row", "n", "flipped")

    def __init__(self, steps, bindings, runs, x, y, lengths, page, row, n) -> None:
        # the bindings hold raw pointers into x, y and lengths: this object keeps them alive together
        self.steps, self.bindings, self.runs = steps, bindings, runs
        self.x, self.x0, self.x_flat, self.small = x, x[0], x.reshape(-1), x.size <= 64
        self.y, self.y0, self.lengths, self.full = y, y[0], lengths, True  # full: every length is `steps`
        self.page, self.row, self.n = page, row, n
        self.flipped = (b"\x01" * n, bytes(n))  # the parity bytes after a run from parity 0, from parity 1

    def in_step(self) -> bool:
        """Whether every row of the block holds its state in the same half (bytearray search, no numpy)."""
        parity, row = self.page.parity, self.row
        return parity.find(1 - parity[row], row, row + self.n) == -1

    def run(self) -> None:
        """Run the binding for the block's current parity, then flip it: the outputs became the state."""
        parity, row = self.page.parity, self.row
        p = parity[row]
        self.runs[p]()
        if self.n == 1:
            parity[row] = 1 - p
        else:
            parity[row : row + self.n] = self.flipped[p]

    def finite(self) -> bool:
        """Whether the chunk copied into ``x`` is free of NaN/Inf; when not sure (an overflowing sum of huge
        values), the caller's check_finite inspects every value. A few values are summed in Python (measured
        0.5 µs cheaper next to a run than a BLAS call), more with one BLAS vdot (see batching.check_finite)."""
        flat = self.x_flat
        if self.small:
            return math.isfinite(sum(flat.tolist()))
        return math.isfinite(np.vdot(flat, flat))


class _Gather:
    """Reusable buffers for a gathered step on a host page (:meth:`StreamPool._step_gathered`): the chunk ``x``,
    ``lengths``, the gathered state rows ``state_in``, the stepped ones ``state_out`` and the output ``y``, all
    bound to one IOBinding (``binding``, kept alive here with its buffers) whose bound call is ``run``."""

    __slots__ = ("x", "y", "lengths", "state_in", "state_out", "records_in", "records_out", "binding", "run", "nbytes")

    def __init__(self, x, y, lengths, state_in, state_out, binding, run) -> None:
        self.x, self.y, self.lengths, self.state_in, self.state_out = x, y, lengths, state_in, state_out
        self.records_in, self.records_out = [_records(s) for s in state_in], [_records(s) for s in state_out]
        self.binding, self.run = binding, run
        self.nbytes = x.nbytes + y.nbytes + lengths.nbytes + 2 * sum(s.nbytes for s in state_in)


class _Page:
    """``[2, rows, H]`` float32 per state tensor, on the host (numpy) or a device (OrtValue), and a parity per row."""

    def __init__(self, rows: int, sizes: list[int], device: str, copier: "_RowCopier | None") -> None:
        self.rows, self.sizes, self.device, self.copier = rows, sizes, device, copier
        self.parity = bytearray(rows)  # which half holds each row's current state
        self.parity_array = np.frombuffer(self.parity, np.uint8)  # the same bytes, for vectorized use
        host = [np.zeros((2, rows, size), np.float32) for size in sizes]
        if device == "host":
            self.host, self.values = host, None
            self.flat = [h.reshape(2 * rows, size) for h, size in zip(host, sizes)]  # half p's row r is row p * rows + r
            self.records = [_records(f) for f in self.flat]  # the same, one element per row (see _records)
        else:
            self.host = self.flat = self.records = None
            self.values = [ort.OrtValue.ortvalue_from_numpy(h, device, 0) for h in host]

    def pointer(self, k: int, half: int, row: int) -> int:
        base = self.host[k].ctypes.data if self.host is not None else self.values[k].data_ptr()
        return base + (half * self.rows + row) * self.sizes[k] * FLOAT

    @property
    def bind_device(self) -> str:
        return "cpu" if self.host is not None else self.device

    def read(self, rows: np.ndarray) -> list[np.ndarray]:
        """Each tensor's current state for ``rows``: ``[len(rows), H]`` copies.

        A device page is copied whole (one transfer per tensor): rows that other
        threads advance meanwhile may come back half-written, but only ``rows``,
        which the caller has claimed, are used.
        """
        tensors = self.host if self.host is not None else [v.numpy() for v in self.values]
        index = self.index(rows)
        return [np.take(t.reshape(-1, t.shape[2]), index, axis=0) for t in tensors]

    def index(self, rows: np.ndarray) -> np.ndarray:
        """The current half's ``rows`` as rows of a tensor viewed ``[2 * rows, H]``: np.take / one index array
        instead of indexing with a (half, row) pair (measured 2-3x faster at 256 rows)."""
        return rows + self.rows * self.parity_array[rows].astype(np.intp)

    def write(self, rows: np.ndarray, values: list[np.ndarray]) -> None:
        """Set the current state of ``rows`` (parities unchanged), touching no other row.

        Device pages are written row block by row block, never read-modify-written
        whole: other rows may be advancing in another thread at the same time.
        """
        if self.host is not None:
            index = self.index(rows)
            for t, v in zip(self.flat, values):
                t[index] = v
            return
        halves = self.parity_array[rows]
        for start, stop in _runs(rows, halves):
            for k, v in enumerate(values):
                self.copier.to_device(v[start:stop], self.pointer(k, int(halves[start]), int(rows[start])))


def _records(rows: np.ndarray) -> np.ndarray:
    """A C-contiguous ``[m, H]`` float32 array viewed as ``m`` opaque ``H * 4``-byte elements: a row take or put is
    then one copy per row (measured 30-40% faster than indexing the 2-d array at H=100)."""
    return rows.view(np.dtype((np.void, rows.shape[1] * FLOAT))).reshape(-1)


def _kept(bound: _Bound) -> bool:
    """Whether bindings of a transient group or a single stream are small enough (KEPT_BYTES) to keep for a later call."""
    return bound.x.nbytes + bound.y.nbytes <= KEPT_BYTES


def _runs(rows: np.ndarray, halves: np.ndarray) -> list[tuple[int, int]]:
    """``(start, stop)`` index ranges of ``rows`` that are consecutive rows in the same half (contiguous memory)."""
    breaks = np.flatnonzero((np.diff(rows) != 1) | (np.diff(halves) != 0)) + 1
    bounds = [0, *breaks.tolist(), len(rows)]
    return list(zip(bounds[:-1], bounds[1:]))


@functools.cache
def _row_copier(device: str) -> "_RowCopier":
    """One copier per device for the process (a CUDA session holds its own handles and memory arena)."""
    return _RowCopier(device)


class _RowCopier:
    """Copies blocks of rows from host arrays into device memory in place, through onnxruntime.

    onnxruntime's Python API copies only whole OrtValues, and a whole-page
    read-modify-write would undo the steps other threads make meanwhile on
    the page's other rows. So an Identity graph is run with its input and
    output bound to the exact rows. The graph is stored serialized (the
    runtime never imports onnx); a test rebuilds it with onnx and compares.
    """

    MODEL = base64.b64decode(
        "CAcSEWxzdG0yb25ueF9ydW50aW1lOlcKEAoBeBIBeSIISWRlbnRpdHkSCWNvcHlfcm93c1obCgF4EhYKFAgBEhAKBhIEcm93cwoGEgRzaXplYhsK"
        "AXkSFgoUCAESEAoGEgRyb3dzCgYSBHNpemVCBAoAEA0="
    )

    def __init__(self, device: str) -> None:
        self.session = ort.InferenceSession(self.MODEL, providers=providers_for("cuda" if device == "cuda" else "cpu"))
        self.device = device

    def to_device(self, values: np.ndarray, pointer: int) -> None:
        """Copy the host rows ``values`` ``[n, H]`` to the device memory at ``pointer`` (about 16 µs a call)."""
        values = np.ascontiguousarray(values, np.float32)
        binding = self.session.io_binding()  # one per call: bindings are not shared between threads
        binding.bind_input("x", "cpu", 0, np.float32, list(values.shape), values.ctypes.data)
        binding.bind_output("y", self.device, 0, np.float32, list(values.shape), pointer)
        self.session.run_with_iobinding(binding)


class StreamPool:
    """Independent streams on one stateful, unidirectional network."""

    def __init__(self, net: Network, page_size: int = 256, *, device: str | None = None) -> None:
        """``device``: where the state pages live: 'host' (numpy; the default on CPU), 'cuda' (the default
        on CUDA), or 'cpu' (OrtValues in host memory: the CUDA code path, runnable without a GPU)."""
        _require_streaming(net, "StreamPool")
        if isinstance(page_size, bool) or not isinstance(page_size, int) or page_size < 1:
            raise StreamError(f"StreamPool: page_size must be a positive integer, got {page_size!r}")
        self.net, self.info, self.page_size = net, net.info, page_size
        self._features = net.info.features
        self.device = device or ("cuda" if net.on_cuda else "host")
        if self.device not in ("host", "cpu", "cuda"):
            raise StreamError(f"StreamPool: device must be 'host', 'cpu' or 'cuda', got {device!r}")
        self._copier = _row_copier(self.device) if self.device != "host" else None
        self._sizes = [t.size for t in net.info.state_tensors]  # h, c of each lstmLayer; h of each gruLayer
        self._check_rows(page_size, "page_size")
        self._initial = [t.initial for t in net.info.state_tensors]
        self._lock = threading.Lock()
        self._closes = 0  # how many streams were ever closed: groups re-verify their members when it moves
        self._pages: list[_Page | None] = []  # None: a group's page, released when its last member closed
        self._free: list[int] = []
        self._groups: dict[int, list] = {}  # group page -> [its StreamGroup, members still open]
        self._retired: dict[int, list[int]] = {}  # released group page -> its slots, for a later open_group
        self._page_of = np.zeros(0, np.intp)  # slot -> page
        self._row_of = np.zeros(0, np.intp)  # slot -> row in its page
        self._owner = np.zeros(0, np.int64)  # slot -> id of the open stream using it, 0 when free
        self._owners: list[int] = []  # the same, as a list: cheaper to read one element
        self._busy_bytes = bytearray()  # slot -> 1 while a call advances it (replaced, never resized, on growth)
        self._busy = np.frombuffer(self._busy_bytes, np.uint8)
        self._run = net.run
        self._inner = getattr(net.session, "_sess", None)
        self._check_nan = net.nan_policy == "error"
        self._rules = net.info.rules if net.info.rules.active else None  # e.g. word indices: see input_rules.py
        self._last_set: tuple[tuple, StreamGroup] | None = None  # step()'s last key set and its transient group
        self._blocks: dict[tuple[int, int, int, int], _Bound] = {}  # (page, row, n, steps) -> bindings, see _block_bound
        self._gathers: dict[tuple[int, int], list[_Gather]] = {}  # (n, steps) -> free buffers, see _take_gather
        self._gather_bytes = 0  # their bytes in all

    def _check_rows(self, rows: int, what: str) -> None:
        """Refuse a page larger than MAX_PAGE_BYTES before allocating it."""
        size = rows * sum(self._sizes) * FLOAT
        if size > MAX_PAGE_BYTES:
            raise StreamError(
                f"StreamPool: {what} = {rows:,} streams would need a {size / 2**30:.1f} GiB state page; "
                f"the limit is {MAX_PAGE_BYTES // 2**20:,} MiB (lstm2onnx_runtime.streams.MAX_PAGE_BYTES)"
            )

    # -- lifecycle -------------------------------------------------------------------------------

    def open(self) -> Stream:
        """A new stream at the network's initial state."""
        with self._lock:
            if not self._free:
                self._free = list(reversed(self._add_page(self.page_size)))
            slot = self._free.pop()
            stream = self._claim_slot(slot)
        self._write_initial(np.array([slot]))
        return stream

    def open_group(self, n: int) -> StreamGroup:
        """n new streams on contiguous rows of a page of their own, for :meth:`StreamGroup.step`."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise StreamError(f"open_group: n must be a positive integer, got {n!r}")
        self._check_rows(n, "open_group: n")
        with self._lock:
            streams = [self._claim_slot(slot) for slot in self._group_slots(n)]
            group = StreamGroup(self, streams, persistent=True)
            self._groups[int(self._page_of[streams[0].slot])] = [group, n]
        self._write_initial(group.slots)
        return group

    def close(self, stream: Stream) -> None:
        """Free the stream's row; a stream that a call is advancing right now is refused, not pulled from under it."""
        with self._lock:
            self._verify([stream], claim=True)
            slot = stream.slot
            self._owner[slot] = self._owners[slot] = 0
            stream._bound = None
            # a closed handle points at no row: a transient group's pass over the slots sees it. Set before the close
            # count moves: a group that read the new count (before its pass) then reads -1 here (_transient_group)
            stream.slot = -1
            self._closes += 1
            page = int(self._page_of[slot])
            entry = self._groups.get(page)
            if entry is None:
                self._free.append(slot)
                return
            entry[1] -= 1
            if not entry[1]:  # the group's last member: free its page (the memory goes with the page and the bindings)
                entry[0]._bound = None
                self._last_set = None  # its bindings may hold the page too
                self._blocks = {key: bound for key, bound in self._blocks.items() if key[0] != page}
                del self._groups[page]
                self._pages[page] = None
                self._retired[page] = np.flatnonzero(self._page_of == page).tolist()

    def __len__(self) -> int:
        return int(np.count_nonzero(self._owner))

    @property
    def allocated_pages(self) -> int:
        """State pages held now: a group's page is released when its last member is closed."""
        return sum(page is not None for page in self._pages)

    @property
    def state_bytes(self) -> int:
        """Bytes of state held in pages now (both halves of every tensor): ``sum 2 * rows * H * 4``."""
        return sum(2 * page.rows * sum(page.sizes) * FLOAT for page in self._pages if page is not None)

    def _group_slots(self, n: int) -> list[int]:
        """Under the lock: n slots on a fresh page of n rows, reusing the slots of a released group page if one fits.

        Best fit: the smallest released page with at least n slots; its first n
        slots get the new page, the rest stay released under a page index of
        their own. So open/close cycles of groups neither grow the pages nor the
        slot tables.
        """
        fits = [(len(slots), page) for page, slots in self._retired.items() if len(slots) >= n]
        if not fits:
            return self._add_page(n)
        _, page = min(fits)
        slots = self._retired.pop(page)
        used, rest = slots[:n], slots[n:]
        self._pages[page] = _Page(n, self._sizes, self.device, self._copier)
        if rest:
            self._pages.append(None)
            self._page_of[rest] = len(self._pages) - 1
            self._row_of[rest] = np.arange(len(rest))
            self._retired[len(self._pages) - 1] = rest
        return used

    def _add_page(self, rows: int) -> list[int]:
        """Under the lock: a new page; returns its slots."""
        first = len(self._owner)
        self._pages.append(_Page(rows, self._sizes, self.device, self._copier))
        self._page_of = np.concatenate([self._page_of, np.full(rows, len(self._pages) - 1, np.intp)])
        self._row_of = np.concatenate([self._row_of, np.arange(rows)])
        self._owner = np.concatenate([self._owner, np.zeros(rows, np.int64)])
        self._owners += [0] * rows
        self._busy_bytes = self._busy_bytes + bytearray(rows)
        self._busy = np.frombuffer(self._busy_bytes, np.uint8)
        return list(range(first, first + rows))

    def _claim_slot(self, slot: int) -> Stream:
        stream = Stream(self, slot, next(_ids))
        self._owner[slot] = self._owners[slot] = stream.id
        return stream

    def _owner_of(self, slot: int) -> int:
        return self._owners[slot]

    # -- state -----------------------------------------------------------------------------------

    def get_state(self, stream: Stream) -> dict[str, dict[str, np.ndarray]]:
        """``{layer: {"HiddenState": [H], "CellState": [H]}}`` (a gruLayer: HiddenState only), float32 copies."""
        with self._lock:
            self._verify([stream], claim=False)
            values = self._read(np.array([stream.slot]))
        state: dict[str, dict[str, np.ndarray]] = {s.layer: {} for s in self.info.states}
        for tensor, value in zip(self.info.state_tensors, values):
            state[tensor.layer][tensor.key] = value[0]
        return state

    def set_state(self, stream: Stream, state: Mapping[str, Mapping[str, Any]] | None) -> None:
        """Write a state from :meth:`get_state` (``None``: the initial state); checked before anything changes."""
        values = self._initial if state is None else self._checked_state(stream, state)
        slot = self._claim_one(stream)
        try:
            self._write(np.array([slot]), [v[None, :] for v in values])
        finally:
            self._release_one(slot)

    def _write_initial(self, slots: np.ndarray) -> None:
        self._write(slots, [np.broadcast_to(v, (len(slots), v.size)) for v in self._initial])

    def _read(self, slots: np.ndarray) -> list[np.ndarray]:
        pages = self._page_of[slots]
        if len(pages) and (pages == pages[0]).all():  # one page (the usual case): no grouping by page
            return self._pages[pages[0]].read(self._row_of[slots])
        out = [np.empty((len(slots), size), np.float32) for size in self._sizes]
        for page in np.unique(pages):
            mask = pages == page
            for o, values in zip(out, self._pages[page].read(self._row_of[slots[mask]])):
                o[mask] = values
        return out

    def _write(self, slots: np.ndarray, values: list[np.ndarray]) -> None:
        pages = self._page_of[slots]
        if len(pages) and (pages == pages[0]).all():
            self._pages[pages[0]].write(self._row_of[slots], values)
            return
        for page in np.unique(pages):
            mask = pages == page
            self._pages[page].write(self._row_of[slots[mask]], [v[mask] for v in values])

    def _checked_state(self, stream: Stream, state: Mapping[str, Mapping[str, Any]]) -> list[np.ndarray]:
        specs = self.info.states
        if not isinstance(state, Mapping) or set(state) != {s.layer for s in specs}:
            got = sorted(state) if isinstance(state, Mapping) else type(state).__name__
            raise StreamError(f"set_state for stream {stream.id}: expected layers {[s.layer for s in specs]}, got {got}")
        values = []
        for spec in specs:
            for key in (t.key for t in spec.tensors):  # a gruLayer has no CellState
                try:
                    value = np.asarray(state[spec.layer][key], dtype=np.float32).reshape(-1)
                except (KeyError, TypeError, ValueError):
                    raise StreamError(f"set_state for stream {stream.id}: layer {spec.layer!r} needs a numeric {key}") from None
                if value.size != spec.hidden_size:
                    raise StreamError(
                        f"set_state for stream {stream.id}: {spec.layer}.{key} must be {spec.hidden_size} finite numbers, got {value.size}"
                    )
                if not np.all(np.isfinite(value)):
                    bad = int(np.flatnonzero(~np.isfinite(value))[0])
                    raise StreamError(
                        f"set_state for stream {stream.id}: {spec.layer}.{key} must be finite, got {value[bad]} at element {bad + 1}"
                    )
                values.append(value)
        return values

    # -- stepping --------------------------------------------------------------------------------

    def _step_one(self, stream: Stream, x: Any) -> np.ndarray:
        """One stream: the block-of-one fast path (no copy of the state, a few µs over a bare IOBinding run)."""
        if not (type(x) is np.ndarray and x.dtype is _FLOAT32 and len(shape := x.shape) == 2 and shape[1] == self._features and shape[0]):
            x = check_sequence("Stream.step", x, f"for stream {stream.id}", self._features, "allow")
        slot = self._claim_one(stream)
        try:
            bound = stream._bound
            if bound is None or bound.steps != len(x):
                bound = self._bind(self._page_of[slot], self._row_of[slot], 1, len(x))
                stream._bound = bound if _kept(bound) else None  # a one-off long chunk does not keep its buffers
            np.copyto(bound.x0, x)
            if self._check_nan and not bound.finite():
                check_finite(f"Stream.step: sequence for stream {stream.id}", x)
            if self._rules is not None:
                self._rules.check(f"Stream.step (stream {stream.id})", [x])
            bound.run()
            return bound.y0.copy()
        finally:
            self._release_one(slot)

    def step(self, chunks: Mapping[Stream, Any]) -> dict[Stream, np.ndarray]:
        """Advance several streams in one batched call: ``{stream: [T_i, F] chunk}`` -> ``{stream: output}``.

        Every chunk is checked before any state changes; on an error no stream moves.
        """
        if not isinstance(chunks, Mapping) or not chunks:
            raise StreamError("StreamPool.step: expected a non-empty {stream: chunk} mapping")
        keys, last = tuple(chunks), self._last_set
        if last is not None and last[0] == keys:  # the same streams as the last call (a tuple compares by identity first)
            group = last[1]
        else:
            # a dict's keys are distinct (another Mapping's iteration might repeat one)
            group = self._transient_group("StreamPool.step", list(keys), "keys", distinct=type(chunks) is dict)
            self._last_set = (keys, group)
        streams = group.streams
        X = self._stacked(chunks)
        if X is not None:  # the serving case: one chunk length, float32, finite: one copy, no per-stream checks
            return dict(zip(streams, self._step_group(group, X, None, "StreamPool.step")))
        xs = [check_sequence("StreamPool.step", chunks[s], f"for stream {s.id}", self.info.features, self.net.nan_policy) for s in streams]
        lengths = np.array([len(x) for x in xs], np.int32)
        X = pad(xs, int(lengths.max()), self.info.features, 0.0)
        out = self.step_many(streams, X, lengths)
        if self.info.sequence_output:
            return {s: out[j, : lengths[j]] for j, s in enumerate(streams)}
        return dict(zip(streams, out))

    def _stacked(self, chunks: Mapping[Stream, Any]) -> np.ndarray | None:
        """``[N, T, F]``: the chunks stacked, when all are float32 ``[T, F]`` arrays of one length T and finite; else None.

        None sends :meth:`step` down the path that checks each chunk and names
        the stream of a bad one (and pads chunks of different lengths).
        """
        values = list(chunks.values())
        try:
            lengths = set(map(len, values))
            if len(lengths) != 1 or not (steps := lengths.pop()):
                return None
            X = np.concatenate(values)  # one C loop (np.stack costs a Python-level array per chunk)
        except (ValueError, TypeError):
            return None
        if X.dtype is not _FLOAT32 or X.ndim != 2 or X.shape != (len(values) * steps, self._features):
            return None
        if self._check_nan and not math.isfinite(np.vdot(X, X)):
            return None
        return X.reshape(len(values), steps, self._features)

    def step_many(self, streams: Sequence[Stream], X: Any, lengths: Any = None) -> np.ndarray:
        """Advance ``streams`` by the chunks ``X`` ``[N, T, F]`` (``lengths``: valid steps of each, default T).

        Returns ``[N, T, K]`` (sequence output, zero beyond each length) or ``[N, K]``.
        """
        if isinstance(streams, (str, bytes, Stream)) or not isinstance(streams, Sequence):
            raise NotAStreamError(f"StreamPool.step_many: expected a list of streams, got {type(streams).__name__}")
        group = self._transient_group("StreamPool.step_many", list(streams), "items")
        return self._step_group(group, X, lengths, "StreamPool.step_many")

    def _transient_group(self, function: str, streams: list, what: str, distinct: bool = False) -> StreamGroup:
        """A StreamGroup of any streams of this pool, each at most once (checked here, once per group, unless
        ``distinct`` says they are a dict's keys: distinct objects, so distinct rows while open).

        One pass reads the slots of the streams that belong to this pool; only
        when that comes up short (or hits something without a slot) does the
        slower check run that names the offending item. Whether each stream is
        still open is checked when the group is claimed, under the lock.
        """
        closes = self._closes  # read first: a stream closed after this moves it, and the claim re-verifies
        try:
            slots = [s.slot for s in streams if s.pool is self]
        except AttributeError:
            slots = None
        if slots is None or len(slots) != len(streams) or not streams:
            self._own_streams(function, streams, what)  # raises the error that names the item
        group = StreamGroup(self, streams, slots=slots, distinct=distinct)
        if not group.distinct or group.lowest < 0:  # one stream twice, or a closed one (slot -1)
            with self._lock:
                self._verify(streams, claim=True)
            raise StreamError(f"{function}: a stream is given twice")  # not reached: _verify names the stream
        group.verified = closes  # all open when their slots were read: no owner check at the claim unless one closes
        return group

    def _own_streams(self, function: str, streams: list, what: str) -> list[Stream]:
        """``streams`` if every one is a Stream of this pool: a TypeError for anything else, before any index is used."""
        if not streams:
            raise StreamError(f"{function}: no streams given")
        for s in streams:
            if not isinstance(s, Stream):
                raise NotAStreamError(f"{function}: {what} must be streams from StreamPool.open(), got {type(s).__name__} {s!r:.80}")
            if s.pool is not self:
                raise StreamError(f"{s!r} does not belong to this StreamPool")
        return streams

    def _step_group(self, group: StreamGroup, X: Any, lengths: Any, function: str = "StreamGroup.step") -> np.ndarray:
        """Any group: a persistent one from open_group, or the transient group of a step / step_many call.

        A transient group given out of row order holds its streams sorted by
        row (``group.order``): the chunks are checked in the caller's order, so
        that an error names the caller's position, then stepped in row order,
        and the outputs come back in the caller's order.
        """
        order = group.order
        if order is None:
            return self._step_rows(group, X, lengths, function)
        if lengths is None and self._plain_chunks(X, len(group)):
            X, lengths = np.take(self._checked_fast(function, X), order, axis=0), None  # take: faster than X[order] on 3-d arrays
        else:
            X, lengths = self._checked_chunks(group, X, lengths, function)
            X, lengths = np.take(X, order, axis=0), lengths[order]
        return np.take(self._step_rows(group, X, lengths, function, checked=True), group.inverse, axis=0)

    def _plain_chunks(self, X: Any, n: int) -> bool:
        """Whether ``X`` is a float32 ``[n, T, F]`` array (T > 0): the fast path's chunk, checked only for NaN/Inf and input rules."""
        return (type(X) is np.ndarray and X.dtype is _FLOAT32 and X.ndim == 3
                and X.shape[0] == n and X.shape[2] == self._features and X.shape[1] > 0)

    def _step_rows(self, group: StreamGroup, X: Any, lengths: Any, function: str, checked: bool = False) -> np.ndarray:
        """Step a group whose chunks ``X`` are in row order (``checked``: X and ``lengths`` already checked;
        ``lengths`` None: every chunk is full length).

        The fast path (a float32 ``[n, T, F]`` chunk, contiguous rows of one
        page in one parity) does no numpy work besides copying the chunk in and
        the output out: ownership is re-verified only after some stream was
        closed, busy flags and parities are bytearray operations. Other groups
        gather and scatter their rows (:meth:`_step_gathered`).
        """
        info, n = self.info, len(group)
        if checked:
            full = lengths is None or bool((lengths == X.shape[1]).all())
        elif lengths is None and self._plain_chunks(X, n):
            full = False  # checked for NaN/Inf and input rules below, once claimed
        else:
            X, lengths = self._checked_chunks(group, X, lengths, function)
            full, checked = bool((lengths == X.shape[1]).all()), True
        self._claim_group(group)
        try:
            if group.block is None:  # rows scattered over the pages
                if not checked:  # plain chunks: every one full length
                    X, full = self._checked_fast(function, np.ascontiguousarray(X)), True
                if not full and info.sequence_lengths is None:
                    return self._step_by_length(group, X, lengths)
                return self._step_gathered(group.slots, X, None if full else lengths)
            bound = group._bound
            if bound is None or bound.steps != X.shape[1]:
                bound = self._block_bound(group, X.shape[1])
                if group.persistent or _kept(bound):  # a transient group may live on as pool.step's last set
                    group._bound = bound
            np.copyto(bound.x, X)
            if not checked:
                full = True
                if self._check_nan and not bound.finite():
                    check_finite(function, bound.x)
                if self._rules is not None:  # the other chunks were checked with their lengths
                    self._rules.check(function, X)
            if not full and info.sequence_lengths is None:
                return self._step_by_length(group, X, lengths)
            if not bound.in_step():  # a member stepped alone: the rows are not all in the same half
                return self._step_gathered(group.slots, bound.x, None if full else lengths)
            if not full or not bound.full:
                bound.lengths[:] = X.shape[1] if full else lengths
                bound.full = full
            bound.run()
            return bound.y.copy()
        finally:
            self._release_group(group)

    def _block_bound(self, group: StreamGroup, steps: int) -> _Bound:
        """Bindings for the group's block of rows: its own for a persistent group; shared by the transient groups
        of the same block (a serving loop sends a new dict every call), the last KEPT_BLOCKS blocks kept (unless their
        buffers are larger than KEPT_BYTES). Two
        groups on one block never run at once: their streams are the same, claimed busy while stepping."""
        (page, row), n = group.block, len(group)
        if group.persistent:
            return self._bind(page, row, n, steps)
        key = (page, row, n, steps)
        bound = self._blocks.get(key)
        if bound is None:
            bound = self._bind(page, row, n, steps)
            if not _kept(bound):
                return bound
            with self._lock:
                if len(self._blocks) >= KEPT_BLOCKS:
                    del self._blocks[next(iter(self._blocks))]
                self._blocks[key] = bound
        return bound

    def _checked_fast(self, function: str, X: np.ndarray) -> np.ndarray:
        """A float32 ``[n, T, F]`` chunk of the fast path, checked for NaN/Inf and input rules."""
        if self._check_nan and not math.isfinite(np.vdot(X, X)):
            check_finite(function, X)
        if self._rules is not None:
            self._rules.check(function, X)
        return X

    def _checked_chunks(self, group: StreamGroup, X: Any, lengths: Any, function: str) -> tuple[np.ndarray, np.ndarray]:
        info, n = self.info, len(group)
        if not isinstance(X, np.ndarray) or X.ndim != 3 or len(X) != n:
            raise StreamError(f"{function}: expected a [{n}, time, {info.features}] array (one chunk per stream), got {getattr(X, 'shape', type(X).__name__)}")
        if lengths is None:
            X = check_batch(function, X, info.features, self.net.nan_policy)
            lengths = np.full(n, X.shape[1], np.int32)
        else:
            X = check_batch(function, X, info.features, "allow")
            steps = X.shape[1]
            lengths = np.asarray(lengths)
            if lengths.shape != (n,) or lengths.dtype.kind not in "iu" or lengths.min() < 1 or lengths.max() > steps:
                raise StreamError(f"{function}: lengths must be {n} integers from 1 to {steps} (the chunk's time steps), got {lengths!r}")
            lengths = lengths.astype(np.int32)
            padding = np.arange(steps) >= lengths[:, None]
            if padding.any():  # what lies past a stream's length is never read: zeros, whatever the caller put there
                X = np.where(padding[:, :, None], np.float32(0), X)
            if self._check_nan:
                check_finite(function, X)
        if self._rules is not None:
            self._rules.check(function, [x[:L] for x, L in zip(X, lengths)])
        return X, lengths

    def _step_gathered(self, slots: np.ndarray, X: np.ndarray, lengths: np.ndarray | None) -> np.ndarray:
        """Step the streams on ``slots`` (claimed, any rows) by ``X``: their state rows are gathered, stepped and put back.
        ``lengths``: each chunk's valid steps (None: all of them).

        Rows on host pages go through reusable buffers bound to an IOBinding
        (:class:`_Gather`): per page and state tensor one ``take`` in and one
        indexed assignment out, with the page's row index computed once, and
        nothing allocated but the output's copy. Rows over several pages are
        first sorted by slot, which groups them by page (a page's slots are one
        ascending range), so each page fills one slice of the buffers; the
        chunks and outputs are permuted to match. Device pages are read and
        written per page through the host.
        """
        if len(self._pages) == 1:
            pages, one_page = None, True
            page = self._pages[0]
        else:
            pages = self._page_of[slots]
            one_page = bool((pages == pages[0]).all())
            page = self._pages[pages[0]]
        n, order = len(slots), None
        if page.host is None:
            return self._step_gathered_by_page(slots, X, np.full(n, X.shape[1], np.int32) if lengths is None else lengths)
        if one_page:
            runs = [(page, slots, 0, n)]
        else:
            order = np.argsort(slots, kind="stable")
            slots, pages = slots[order], pages[order]
            bounds = [0, *(np.flatnonzero(np.diff(pages)) + 1).tolist(), n]
            runs = [(self._pages[pages[a]], slots[a:b], a, b) for a, b in zip(bounds[:-1], bounds[1:])]
        gather = self._take_gather(n, X.shape[1])
        try:
            if order is None:
                np.copyto(gather.x, X)
            else:
                X.take(order, axis=0, out=gather.x)
            if lengths is None:
                gather.lengths.fill(X.shape[1])
            elif order is None:
                np.copyto(gather.lengths, lengths)
            else:
                lengths.take(order, out=gather.lengths)
            indices = []
            for page, rows, a, b in runs:
                index = page.index(self._row_of[rows])
                for tensor, values in zip(page.records, gather.records_in):
                    tensor.take(index, out=values[a:b], mode="clip")  # the index is in range: no buffered 'raise' mode
                indices.append(index)
            gather.run()
            for (page, _, a, b), index in zip(runs, indices):
                for tensor, values in zip(page.records, gather.records_out):
                    tensor[index] = values[a:b]
            if order is None:
                return gather.y.copy()
            inverse = np.empty(n, np.intp)
            inverse[order] = np.arange(n)
            return np.take(gather.y, inverse, axis=0)
        finally:
            self._give_back_gather(gather)

    def _take_gather(self, n: int, steps: int) -> "_Gather":
        """Buffers for a gathered step of ``n`` rows and ``steps`` steps: a free one, else new. Each is used by
        one call at a time; the last KEPT_BLOCKS shapes are kept, with as many buffers as calls ran at once, unless
        one is larger than KEPT_BYTES or all spare ones would pass KEPT_GATHER_BYTES."""
        with self._lock:
            free = self._gathers.get((n, steps))
            if free:
                gather = free.pop()
                self._gather_bytes -= gather.nbytes
                return gather
        x, y, lengths = self._step_buffers(n, steps)
        state_in = [np.zeros((n, size), np.float32) for size in self._sizes]
        state_out = [np.zeros((n, size), np.float32) for size in self._sizes]
        states = [(a.ctypes.data, b.ctypes.data) for a, b in zip(state_in, state_out)]
        binding, run = self._binding(x, lengths, y, "cpu", states)
        return _Gather(x, y, lengths, state_in, state_out, binding, run)

    def _give_back_gather(self, gather: "_Gather") -> None:
        if gather.nbytes > KEPT_BYTES:
            return
        key = (len(gather.x), gather.x.shape[1])
        with self._lock:
            free = self._gathers.get(key)
            if free is None:
                if len(self._gathers) >= KEPT_BLOCKS:
                    self._gather_bytes -= sum(g.nbytes for g in self._gathers.pop(next(iter(self._gathers))))
                free = self._gathers[key] = []
            while self._gather_bytes + gather.nbytes > KEPT_GATHER_BYTES:  # make room: other shapes' spares, oldest first
                other = next((spares for shape, spares in self._gathers.items() if spares and shape != key), None)
                if other is None:
                    return  # this shape's own spares fill the budget: as many calls at once are not kept
                self._gather_bytes -= other.pop(0).nbytes
            free.append(gather)
            self._gather_bytes += gather.nbytes

    def _step_gathered_by_page(self, slots: np.ndarray, X: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """Device pages: each page's rows read to the host, stepped with session.run, written back (see _Page.write)."""
        info = self.info
        feeds = {info.sequences: X}
        if info.sequence_lengths:
            feeds[info.sequence_lengths] = lengths
        state = self._read(slots)
        for tensor, value in zip(info.state_tensors, state):
            feeds[tensor.name_in] = value
        out = self._run(info.output_names, feeds, None)
        self._write(slots, out[1:])
        return out[0]

    def _step_by_length(self, group: StreamGroup, X: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """A graph without sequence_lengths: one call per distinct chunk length."""
        shape = (len(group), X.shape[1], self.info.output_size) if self.info.sequence_output else (len(group), self.info.output_size)
        out = np.zeros(shape, np.float32)
        for length in np.unique(lengths):
            rows = np.flatnonzero(lengths == length)
            y = self._step_gathered(group.slots[rows], np.ascontiguousarray(X[rows, :length]), lengths[rows])
            if self.info.sequence_output:
                out[rows, :length] = y
            else:
                out[rows] = y
        return out

    # -- bookkeeping -----------------------------------------------------------------------------

    def _claim_group(self, group: StreamGroup) -> None:
        """Under the lock: the group's streams all open and idle (re-verified after a close only); mark them busy."""
        slots, first, n = group.slots, group.first, len(group)
        with self._lock:
            if group.verified != self._closes:
                if (self._owner[slots] != group.ids).any():
                    self._verify(group.streams, claim=False)
                group.verified = self._closes
            if first is not None:
                busy = self._busy_bytes
                if busy.find(1, first, first + n) != -1:
                    self._verify(group.streams, claim=True)
                busy[first : first + n] = group.ones
            else:
                if self._busy[slots].any():
                    self._verify(group.streams, claim=True)
                self._busy[slots] = 1

    def _release_group(self, group: StreamGroup) -> None:
        with self._lock:  # under the lock: a concurrent open() may be replacing the busy bytes
            if group.first is not None:
                self._busy_bytes[group.first : group.first + len(group)] = group.zeros
            else:
                self._busy[group.slots] = 0

    def _claim_one(self, stream: Stream) -> int:
        """Under the lock: the stream open (a closed handle's slot -1 finds another owner) and idle; mark it busy."""
        slot = stream.slot
        with self._lock:
            if self._owners[slot] != stream.id or self._busy_bytes[slot]:
                self._verify([stream], claim=True)  # raises the precise error
            self._busy_bytes[slot] = 1
        return slot

    def _release_one(self, slot: int) -> None:
        with self._lock:  # under the lock: a concurrent open() may be replacing the busy bytes
            self._busy_bytes[slot] = 0

    def _verify(self, streams: list[Stream], *, claim: bool) -> None:
        """Under the lock: raise the precise error for the first stream that cannot be used."""
        seen = set()
        for s in streams:
            if not isinstance(s, Stream) or s.pool is not self:
                raise StreamError(f"{s!r} does not belong to this StreamPool")
            if s.slot < 0 or self._owners[s.slot] != s.id:
                raise StreamError(f"stream {s.id} is closed")
            if claim and (self._busy[s.slot] or s.id in seen):
                raise StreamError(f"stream {s.id} is already being advanced by another call")
            seen.add(s.id)

    def _bind(self, page_index: int, row: int, n: int, steps: int) -> _Bound:
        """Two IOBindings for rows ``row .. row+n-1`` of a page: parity p reads half p, writes half 1 - p."""
        page = self._pages[page_index]
        x, y, lengths = self._step_buffers(n, steps)
        bindings, runs = [], []
        for p in (0, 1):
            states = [(page.pointer(t, p, row), page.pointer(t, 1 - p, row)) for t in range(len(self._sizes))]
            binding, run = self._binding(x, lengths, y, page.bind_device, states)
            bindings.append(binding)
            runs.append(run)
        return _Bound(steps, bindings, runs, x, y, lengths, page, int(row), n)

    def _step_buffers(self, n: int, steps: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Zeroed ``x [n, steps, F]``, ``y`` (the first output for them) and ``lengths`` (all ``steps``)."""
        info = self.info
        x = np.zeros((n, steps, info.features), np.float32)
        y = np.zeros((n, steps, info.output_size) if info.sequence_output else (n, info.output_size), np.float32)
        return x, y, np.full(n, steps, np.int32)

    def _binding(self, x: np.ndarray, lengths: np.ndarray, y: np.ndarray, device: str, states: list[tuple[int, int]]):
        """An IOBinding of ``x``/``lengths``/``y`` and of each state tensor's ``(input, output)`` pointers on
        ``device``, and its bound run call (the C++ call, without the Python wrapper's per-call checks)."""
        info, n = self.info, len(x)
        b = self.net.session.io_binding()
        b.bind_input(info.sequences, "cpu", 0, np.float32, list(x.shape), x.ctypes.data)
        if info.sequence_lengths:
            b.bind_input(info.sequence_lengths, "cpu", 0, np.int32, [n], lengths.ctypes.data)
        b.bind_output(info.output, "cpu", 0, np.float32, list(y.shape), y.ctypes.data)
        for tensor, (state_in, state_out) in zip(info.state_tensors, states):
            b.bind_input(tensor.name_in, device, 0, np.float32, [n, tensor.size], state_in)
            b.bind_output(tensor.name_out, device, 0, np.float32, [n, tensor.size], state_out)
        if self._inner is not None:
            return b, functools.partial(self._inner.run_with_iobinding, b._iobinding, None)
        return b, functools.partial(self.net.session.run_with_iobinding, b)
