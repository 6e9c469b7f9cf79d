"""MATLAB indexing and concatenation on workspace values, vectorised and budgeted.

``x(i)``, ``x(i, j)``, ``x(:, k)``, logical masks, ``c{k}``, growth by
assignment (``x(end+1) = v``), deletion (``x(k) = []``) and ``[a, b; c, d]``
on numeric, char, string, cell and layer arrays. Every result's size is known
and charged to the :class:`~lstm2onnx.matlab.workspace.Budget` before numpy
computes it; index checks (integer, positive, in range) are one numpy pass.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ..layers import Layer
from ..network import LayerArray
from .workspace import STRING_COST, Budget, Cell, Strings, describe, elements, object_array, shape_of


class IndexError_(Exception):
    """A MATLAB-level indexing problem (message for the user)."""


ALL = None  # a ':' index


def as_array(value: Any) -> tuple[np.ndarray, Callable[[np.ndarray], Any]]:
    """An indexable numpy array for ``value`` and how to wrap a selection back into its kind."""
    if isinstance(value, np.ndarray):
        array = value if value.ndim >= 2 else np.atleast_2d(value)
        return array, lambda a: a
    if isinstance(value, str):
        array = np.array(list(value), dtype=object).reshape(1, -1) if value else np.empty((0, 0), dtype=object)
        return array, lambda a: "".join(a.reshape(-1, order="F"))
    if isinstance(value, Strings):
        return value.data, Strings
    if isinstance(value, Cell):
        return value.data, Cell
    if isinstance(value, (LayerArray, Layer)):
        layers = value if isinstance(value, LayerArray) else [value]
        return object_array(list(layers), (len(layers), 1)), lambda a: LayerArray(a.reshape(-1, order="F"))
    if isinstance(value, dict):
        return object_array([value], (1, 1)), lambda a: a.reshape(-1)[0] if a.size == 1 else Cell(a)
    raise IndexError_(f"{describe(value)} cannot be indexed with ()")


def positions(index: Any, extent: int, allow_grow: bool = False) -> np.ndarray | None:
    """0-based positions of one index value along an extent (None for ':'); checks in one numpy pass."""
    if index is ALL:
        return None
    if isinstance(index, np.ndarray) and index.dtype == bool:
        if index.size > extent and np.any(index.reshape(-1, order="F")[extent:]):
            raise IndexError_(f"a logical index has a true value past {extent} elements")
        return np.flatnonzero(index.reshape(-1, order="F")).astype(np.intp)
    if isinstance(index, str) and index == ":":
        return None
    if not isinstance(index, np.ndarray) or index.dtype.kind not in "iuf":
        raise IndexError_(f"an index must be numbers or ':', got {describe(index)}")
    flat = index.reshape(-1, order="F")
    if flat.size == 0:
        return np.zeros(0, dtype=np.intp)
    low, high = float(flat.min()), float(flat.max())
    if not (np.isfinite(low) and np.isfinite(high)):
        raise IndexError_("an index must be a positive integer")
    if low < 1:
        raise IndexError_(f"index {low:g} is out of range (indices start at 1)")
    if high > extent and not allow_grow:
        raise IndexError_(f"index {high:g} is out of range (1 to {extent})")
    ints = flat.astype(np.intp)  # one copy; integrality checked against it without another float temporary
    if flat.dtype.kind == "f" and not np.array_equal(ints, flat):
        raise IndexError_("an index must be a positive integer")
    ints -= 1
    return ints


def extents(shape: tuple[int, ...], count: int) -> list[int]:
    """The extent each of ``count`` indices ranges over (the last one spans all remaining dimensions)."""
    dims = list(shape) + [1] * max(0, count - len(shape))
    if count == 1:
        return [elements(shape)]
    return dims[: count - 1] + [elements(tuple(dims[count - 1:]))]


def select(value: Any, indices: list[Any], budget: Budget, pos: int | None) -> Any:
    """``value(indices...)``."""
    if not indices:
        return value
    array, wrap = as_array(value)
    sizes = extents(array.shape, len(indices))
    picks = [positions(index, size) for index, size in zip(indices, sizes)]
    counts = [size if pick is None else pick.size for pick, size in zip(picks, sizes)]
    budget.charge(float(np.prod(counts, dtype=float)) * (STRING_COST if isinstance(value, (Strings, Cell)) else 1), pos, tuple(counts))
    if len(indices) == 1:
        flat = array.reshape(-1, order="F")
        pick = picks[0]
        if pick is None:
            return wrap(flat.reshape(-1, 1))
        out = flat[pick]
        index = indices[0]
        index_shape = shape_of(index) if not (isinstance(index, np.ndarray) and index.dtype == bool) else (1, out.size)
        # a vector indexed by a vector keeps its orientation; a scalar (a(ones(3, 1))) takes the index's shape
        if array.ndim == 2 and 1 in array.shape and array.size != 1 and len(index_shape) == 2 and 1 in index_shape:
            shape = (1, out.size) if array.shape[0] == 1 else (out.size, 1)
        elif isinstance(index, np.ndarray) and index.dtype == bool:
            shape = (out.size, 1)
        else:
            shape = index_shape
        return wrap(out.reshape(shape, order="F"))
    view = array.reshape(tuple(sizes), order="F")
    grids = [np.arange(size) if pick is None else pick for pick, size in zip(picks, sizes)]
    out = view[np.ix_(*grids)]
    return wrap(drop_trailing_ones(out))


def drop_trailing_ones(array: np.ndarray) -> np.ndarray:
    """MATLAB has no trailing singleton dimensions past the second: X(:, :, 1) of a 3-D array is a matrix."""
    shape = array.shape
    while len(shape) > 2 and shape[-1] == 1:
        shape = shape[:-1]
    return array.reshape(shape) if shape != array.shape else array


def contents(value: Any, indices: list[Any], budget: Budget, pos: int | None) -> list[Any]:
    """``c{indices...}``: the selected cells' contents, in column-major order."""
    if not isinstance(value, Cell):
        raise IndexError_(f"brace indexing {{}} needs a cell array, got {describe(value)}")
    picked = select(value, indices, budget, pos) if indices else value
    return list(picked.data.reshape(-1, order="F"))


def _empty_like_target(value: Any) -> bool:
    return value is None or (isinstance(value, np.ndarray) and value.size == 0)


def assign(target: Any, indices: list[Any], value: Any, budget: Budget, pos: int | None, brace: bool = False) -> Any:
    """``target(indices) = value`` (``brace``: ``target{indices} = value``); returns the new target."""
    if brace:
        if _empty_like_target(target):
            target = Cell(np.empty((0, 0), dtype=object))
        if not isinstance(target, Cell):
            raise IndexError_(f"brace assignment {{}} needs a cell array, got {describe(target)}")
        return _store(target.data, indices, object_array([value], (1, 1)), budget, pos, Cell, None)
    deleting = isinstance(value, np.ndarray) and value.size == 0 and value.dtype != bool  # x(k) = [] (cells too: c(k) = [])
    if isinstance(value, (Layer, LayerArray)) and (_empty_like_target(target) or isinstance(target, (LayerArray, Layer))):
        layers = target if isinstance(target, LayerArray) else LayerArray([] if _empty_like_target(target) else [target])
        new = value if isinstance(value, LayerArray) else LayerArray([value])
        return _store(object_array(list(layers), (len(layers), 1)), indices, object_array(list(new), (len(new), 1)),
                      budget, pos, lambda a: _layer_array(a, len(layers)), None)
    if isinstance(target, LayerArray):
        if deleting:
            return _delete(target, indices, pos)
        raise IndexError_(f"an element of a layer array must be a layer, got {describe(value)}")
    if deleting and not _empty_like_target(target):
        return _delete(target, indices, pos)
    if _empty_like_target(target):
        if isinstance(value, Cell):
            target = Cell(np.empty((0, 0), dtype=object))
        elif isinstance(value, Strings):
            target = Strings(np.empty((0, 0), dtype=object))
        else:
            target = np.zeros((0, 0))
    if isinstance(target, Cell):
        if not isinstance(value, Cell):
            value = Cell(object_array([value], (1, 1)))
        return _store(target.data, indices, value.data, budget, pos, Cell, None)
    if isinstance(target, Strings):
        texts = value.data if isinstance(value, Strings) else object_array([value], (1, 1)) if isinstance(value, str) else None
        if texts is None:
            raise IndexError_(f"cannot put {describe(value)} into a string array")
        return _store(target.data, indices, texts, budget, pos, Strings, "")
    if isinstance(target, np.ndarray):
        if not isinstance(value, np.ndarray):
            raise IndexError_(f"cannot put {describe(value)} into a numeric array")
        base = target.astype(float) if target.dtype != float else target
        return _store(base, indices, value.astype(float), budget, pos, lambda a: a, 0.0)
    if isinstance(target, dict):
        raise IndexError_("indexed assignment into a struct is not supported; assign its fields")
    raise IndexError_(f"cannot assign into {describe(target)} with ()")


def _layer_array(array: np.ndarray, before: int) -> LayerArray:
    items = list(array.reshape(-1, order="F"))
    gap = next((k for k, item in enumerate(items) if not isinstance(item, Layer)), None)
    if gap is not None:
        raise IndexError_(f"index {len(items)} is out of range (1 to {before + 1}): a layer array has no gaps")
    return LayerArray(items)


def _store(array: np.ndarray, indices: list[Any], values: np.ndarray, budget: Budget, pos: int | None,
           wrap: Callable[[np.ndarray], Any], fill: Any) -> Any:
    count = len(indices)
    if count == 0:
        raise IndexError_("an indexed assignment needs an index")
    sizes = extents(array.shape, count)
    picks = [positions(index, size, allow_grow=True) for index, size in zip(indices, sizes)]
    if count == 1:
        pick = picks[0]
        flat = array.reshape(-1, order="F")
        needed = flat.size if pick is None or pick.size == 0 else max(flat.size, int(pick.max()) + 1)
        if needed > flat.size:
            if not (array.ndim == 2 and (1 in array.shape or array.size == 0)):
                raise IndexError_(f"index {needed} is out of range (1 to {flat.size}) of a {'x'.join(map(str, array.shape))} array")
            budget.charge(needed, pos, (needed,))
            grown = _empty_cells(needed) if fill is None else np.full(needed, fill, dtype=array.dtype)
            grown[: flat.size] = flat
            flat = grown
            shape = (needed, 1) if array.ndim == 2 and array.shape[1] == 1 and array.shape[0] > 1 else (1, needed)
        else:
            flat = flat.copy()
            shape = array.shape
        target_count = flat.size if pick is None else pick.size
        _put(flat, pick, values, target_count)
        return wrap(flat.reshape(shape, order="F"))
    dims = list(array.shape) + [1] * max(0, count - array.ndim)
    if count < len(dims):
        dims = dims[: count - 1] + [elements(tuple(dims[count - 1:]))]
    new_dims = [d if pick is None or pick.size == 0 else max(d, int(pick.max()) + 1) for d, pick in zip(dims, picks)]
    budget.charge(elements(tuple(new_dims)), pos, tuple(new_dims))
    grown = _empty_cells(elements(tuple(new_dims))).reshape(new_dims) if fill is None else np.full(new_dims, fill, dtype=array.dtype)
    grown[tuple(slice(0, d) for d in dims)] = array.reshape(dims, order="F")
    grids = [np.arange(d) if pick is None else pick for pick, d in zip(picks, new_dims)]
    region_shape = tuple(g.size for g in grids)
    region_size = elements(region_shape)
    source = values.reshape(-1, order="F")
    if source.size == 1:
        source = np.repeat(source, region_size) if fill is not None else _objects([source[0]] * region_size)
    elif source.size != region_size:
        raise IndexError_(f"cannot put {source.size} elements into {region_size} places")
    grown[np.ix_(*grids)] = source.reshape(region_shape, order="F")
    return wrap(grown)


def _objects(items: list[Any]) -> np.ndarray:
    out = np.empty(len(items), dtype=object)
    for k, item in enumerate(items):
        out[k] = item
    return out


_EMPTY = np.zeros((0, 0))
_EMPTY.flags.writeable = False  # shared by every empty cell: values are never changed in place


def _empty_cells(count: int) -> np.ndarray:
    out = np.empty(count, dtype=object)
    out[:] = [_EMPTY] * count if count else []
    return out


def _put(flat: np.ndarray, pick: np.ndarray | None, values: np.ndarray, count: int) -> None:
    source = values.reshape(-1, order="F")
    if source.size == 1:
        item = source[0]
        spread = _objects([item] * count) if flat.dtype == object else np.full(count, item, dtype=flat.dtype)
        if pick is None:
            flat[:] = spread
        else:
            flat[pick] = spread
    elif source.size == count:
        if pick is None:
            flat[:] = source
        else:
            flat[pick] = source
    else:
        raise IndexError_(f"cannot put {source.size} elements into {count} places")


def _delete(target: Any, indices: list[Any], pos: int | None) -> Any:
    array, wrap = as_array(target)
    if len(indices) != 1:
        live = [k for k, index in enumerate(indices) if index is not ALL]
        if len(live) != 1:
            raise IndexError_("deleting needs one index that is not ':'")
        axis = live[0]
        pick = positions(indices[axis], array.shape[axis] if axis < array.ndim else 1)
        return wrap(np.delete(array, pick, axis=axis))
    pick = positions(indices[0], array.size)
    flat = array.reshape(-1, order="F")
    kept = np.delete(flat, pick)
    if isinstance(target, LayerArray):
        return LayerArray(kept)
    shape = (kept.size, 1) if array.ndim == 2 and array.shape[1] == 1 and array.shape[0] > 1 else (1, kept.size)
    return wrap(kept.reshape(shape))


# -- concatenation ----------------------------------------------------------------------------------


def concatenate(rows: list[list[Any]], budget: Budget, pos: int | None) -> Any:
    """``[a, b; c, d]`` for numbers, chars, strings, cells and layers."""
    items = [v for row in rows for v in row]
    if any(isinstance(v, (Layer, LayerArray)) for v in items):
        out = LayerArray()
        for v in items:
            if isinstance(v, Layer):
                out.append(v)
            elif isinstance(v, LayerArray):
                out.extend(v)
            elif isinstance(v, np.ndarray) and v.size == 0:
                continue
            else:
                raise IndexError_(f"a layer array cannot hold {describe(v)}")
        budget.charge(len(out), pos, (len(out), 1))
        return out
    if any(isinstance(v, Cell) for v in items):
        return _join(rows, budget, pos, _as_cell, Cell, "cell")
    if any(isinstance(v, Strings) for v in items):
        return _join(rows, budget, pos, _as_strings, Strings, "string")
    if any(isinstance(v, str) for v in items):
        texts = []
        for row in rows:
            parts = [v for v in row if not (isinstance(v, np.ndarray) and v.size == 0)]
            pieces = []
            for v in parts:
                if isinstance(v, str):
                    pieces.append(v)
                elif isinstance(v, np.ndarray) and v.dtype.kind in "iuf" and v.size <= 1_000_000:
                    pieces.append("".join(chr(int(c)) if 0 <= c < 0x110000 else "?" for c in v.reshape(-1)))
                else:
                    raise IndexError_(f"cannot join {describe(v)} to a text")
            budget.charge(1 + sum(len(p) for p in pieces) / STRING_COST, pos)
            texts.append("".join(pieces))
        texts = [t for t in texts if t]
        if len(texts) <= 1:
            return texts[0] if texts else ""
        if len({len(t) for t in texts}) != 1:
            raise IndexError_("the rows of a char matrix have different lengths (use strings or a cell array)")
        return Strings(object_array(texts, (len(texts), 1)))
    for v in items:
        if not isinstance(v, np.ndarray):
            raise IndexError_(f"cannot put {describe(v)} in [ ]: only numbers, texts, cells and layers")
    return _join(rows, budget, pos, lambda v: v, lambda a: a, "numeric")


def _as_cell(value: Any) -> np.ndarray:
    if isinstance(value, Cell):
        return value.data
    return object_array([value], (1, 1))


def _as_strings(value: Any) -> np.ndarray:
    if isinstance(value, Strings):
        return value.data
    if isinstance(value, str):
        return object_array([value], (1, 1))
    if isinstance(value, np.ndarray) and value.dtype.kind in "iufb":
        from .functions import number_text

        return object_array([number_text(float(v)) for v in value.reshape(-1, order="F")], value.shape)
    raise IndexError_(f"cannot put {describe(value)} in a string array")


def _join(rows: list[list[Any]], budget: Budget, pos: int | None, convert: Callable[[Any], np.ndarray],
          wrap: Callable[[np.ndarray], Any], kind: str) -> Any:
    blocks = []
    unit = STRING_COST if kind in ("string", "cell") else 1
    for row in rows:
        parts = [convert(v) for v in row]
        parts = [np.atleast_2d(p) for p in parts if p.size or (kind == "cell" and p.shape != (0, 0))]
        parts = [p for p in parts if p.size]
        if not parts:
            continue
        if len({p.shape[0] for p in parts}) != 1:
            raise IndexError_("the elements of a row have different numbers of rows")
        budget.charge(sum(p.size for p in parts) * unit, pos, (parts[0].shape[0], sum(p.shape[1] for p in parts)))
        blocks.append(np.hstack(parts) if len(parts) > 1 else parts[0])
    if not blocks:
        return wrap(np.empty((0, 0), dtype=object if kind != "numeric" else float))
    if len(blocks) == 1:
        return wrap(blocks[0])
    if len({b.shape[1] for b in blocks}) != 1:
        raise IndexError_("the rows have different numbers of columns")
    budget.charge(sum(b.size for b in blocks) * unit, pos, (sum(b.shape[0] for b in blocks), blocks[0].shape[1]))
    return wrap(np.vstack(blocks))
