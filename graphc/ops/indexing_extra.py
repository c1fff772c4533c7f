"""Gathers, scatters and advanced indexing (issue 15), as composites of ``gather`` (a
clamped index remapping, graphc/ops/nn_extra.py), ``where`` and one_hot matmuls.

- Advanced indexing with *static* keys (numpy integer arrays, lists, boolean masks,
  mixed with slices): numpy itself computes which flat element each output element
  reads (``np.arange(size).reshape(shape)[key]``), so every numpy rule (broadcasting of
  index arrays, where the advanced axes go, negative indices, out-of-range errors) holds
  exactly; the result is one ``gather`` from the flattened array with a constant index.
- A *traced* integer index array ``x[i]`` (or ``x[:, i]`` ...: one array, the other
  entries full slices) is a ``gather`` along that axis; negative indices wrap as in
  numpy, out-of-range ones are clamped (numpy would raise; the values are not known
  at trace time). A traced boolean mask would give a data-dependent shape: refused.
- ``x.at[key].set/add/multiply/min/max/get(v)``: JAX's functional updates, returning a
  new array. Static keys: masks and source maps computed with numpy (duplicates: ``set``
  keeps the last, as numpy assignment; ``add`` accumulates through a one-hot matmul;
  ``multiply/min/max`` refuse duplicates). A traced index array on the first axis:
  ``add`` is a one-hot matmul (duplicates accumulate), ``set`` averages duplicates
  (JAX leaves their order unspecified).
- ``take take_along_axis gather_nd scatter_add dynamic_slice dynamic_update_slice``: flat
  index arithmetic (traced where the indices are) into one ``gather``; dynamic slices
  clamp their start so the slice fits, as ``jax.lax.dynamic_slice``.
"""
from __future__ import annotations

import numpy as np

from .. import dtypes
from ..errors import IndexingError, ShapeError, TraceError, user_source_line
from ..tracing import Tensor, constant_node, current_trace
from .common import cast_to, dtype_of, normalize_axis, shape_of
from .elementwise import add, cast, divide, greater, less, maximum, minimum, multiply, where
from .nn_extra import gather
from .shape_ops import broadcast_to, getitem, reshape, transpose

_MAX_SCATTER_MATRIX = 1 << 24   # elements of a static one-hot scatter matrix for duplicate adds


def _const(value):
    arr = np.asarray(value)
    trace = current_trace()
    return arr if trace is None else Tensor(constant_node(arr, trace), trace)


def _is_traced(x) -> bool:
    return isinstance(x, Tensor) or getattr(x, "_graphc_variable", False)


def _flat(x):
    return reshape(x, (-1,))


def _wrap(idx, n):
    """numpy's negative indices: i + n where i < 0 (then gather clamps the rest)."""
    dt = dtype_of(idx)
    return where(less(idx, cast_to(0, dt)), add(idx, cast_to(n, dt)), idx)


def _is_advanced(k) -> bool:
    return _is_traced(k) or isinstance(k, (list, np.ndarray)) and not isinstance(k, np.generic)


# -- indexing -----------------------------------------------------------------------------------

def _static_positions(shape, key):
    """numpy's own answer: the flat element each output element reads."""
    try:
        with np.errstate(all="ignore"):
            return np.arange(int(np.prod(shape, dtype=np.int64)), dtype=np.int64).reshape(shape)[key]
    except IndexError as e:
        raise IndexingError(f"{e}\n  at {user_source_line()}") from None


def advanced_getitem(x, key):
    """x[key] for basic and advanced keys (see the module docstring)."""
    keys = key if isinstance(key, tuple) else (key,)
    if not any(_is_advanced(k) for k in keys):
        return getitem(x, key)
    shape = tuple(shape_of(x))
    traced = [k for k in keys if _is_traced(k)]
    if not traced:
        pos = _static_positions(shape, key)
        if pos.size == 0:
            return broadcast_to(cast_to(0, dtype_of(x)), pos.shape) if not _is_traced(x) else \
                reshape(getitem(_flat(x), slice(0, 0)), pos.shape)
        return reshape(gather(_flat(x), _const(pos.reshape(-1))), pos.shape)
    # one traced integer array, every other entry a full slice
    if len(traced) > 1 or any(not (k is traced[0] or k == slice(None)) for k in keys):
        raise IndexingError("a traced index array must be the only non-':' entry of the key (x[i], x[:, i]); "
                            f"combine static keys with numpy arrays\n  at {user_source_line()}")
    idx = traced[0]
    if dtype_of(idx) == "bool":
        raise IndexingError(f"boolean masks known only at run time give data-dependent shapes; use "
                            f"gc.where(mask, x, 0) instead\n  at {user_source_line()}")
    if not dtypes.is_int(dtype_of(idx)):
        raise IndexingError(f"arrays used as indices must be of integer type, got {dtype_of(idx)}\n"
                            f"  at {user_source_line()}")
    axis = keys.index(idx) if not isinstance(idx, Tensor) else next(k for k, v in enumerate(keys) if v is idx)
    if axis >= len(shape):
        raise IndexingError(f"too many indices for array of dimension {len(shape)}\n  at {user_source_line()}")
    return gather(x, _wrap(idx, shape[axis]), axis=axis)


def take(x, indices, axis=None):
    """numpy.take (axis None: the flattened array); out-of-range traced indices clamp."""
    if axis is None:
        x, axis = _flat(x), 0
    axis = normalize_axis(axis, len(shape_of(x)))
    if not _is_traced(indices):
        indices = np.asarray(indices)
        n = shape_of(x)[axis]
        if indices.size and (indices.max() >= n or indices.min() < -n):
            raise IndexingError(f"take: index out of bounds for axis {axis} with size {n}\n  at {user_source_line()}")
        return gather(x, _const(np.where(indices < 0, indices + n, indices).astype(np.int64)), axis=axis)
    return gather(x, _wrap(indices, shape_of(x)[axis]), axis=axis)


def _grid(shape, axis_skip=None):
    """Per-axis index arrays broadcastable to ``shape`` (static constants)."""
    out = []
    for d, n in enumerate(shape):
        s = [1] * len(shape)
        s[d] = n
        out.append(np.arange(n, dtype=np.int64).reshape(s))
    return out


def _strides(shape):
    st, acc = [], 1
    for n in reversed(shape):
        st.append(acc)
        acc *= n
    return list(reversed(st))


def take_along_axis(arr, indices, axis):
    """numpy.take_along_axis: arr's elements picked along ``axis`` by ``indices`` (same
    number of dimensions, broadcasting on the others)."""
    shape = tuple(shape_of(arr))
    ishape = tuple(shape_of(indices))
    if len(ishape) != len(shape):
        raise ShapeError(f"take_along_axis: indices have {len(ishape)} dimensions, arr {len(shape)}")
    axis = normalize_axis(axis, len(shape))
    out_shape = []
    for d, (a, i) in enumerate(zip(shape, ishape)):
        if d == axis:
            out_shape.append(i)
        elif a == i or i == 1 or a == 1:
            out_shape.append(max(a, i) if 1 in (a, i) else a)
        else:
            raise ShapeError(f"take_along_axis: shapes {shape} and {ishape} do not broadcast on axis {d}")
    out_shape = tuple(out_shape)
    st = _strides(shape)
    idx = cast(_wrap(indices, shape[axis]), "int64") if _is_traced(indices) else _const(
        np.where(np.asarray(indices) < 0, np.asarray(indices) + shape[axis], np.asarray(indices)).astype(np.int64))
    idx = minimum(maximum(idx, cast_to(0, "int64")), cast_to(shape[axis] - 1, "int64"))
    flat = multiply(broadcast_to(idx, out_shape), cast_to(st[axis], "int64"))
    base = np.zeros(out_shape, np.int64)
    for d, g in enumerate(_grid(out_shape)):
        if d != axis and shape[d] != 1:
            base = base + g * st[d]
    return gather(_flat(arr), add(flat, _const(base)))


def gather_nd(params, indices):
    """tf.gather_nd: ``indices[..., k]`` index params' first k axes; the result has shape
    ``indices.shape[:-1] + params.shape[k:]`` (negative indices wrap, out-of-range clamp)."""
    shape = tuple(shape_of(params))
    ishape = tuple(shape_of(indices))
    if not ishape or ishape[-1] > len(shape):
        raise ShapeError(f"gather_nd: indices of shape {ishape} for params of shape {shape}")
    k = ishape[-1]
    lead = int(np.prod(shape[:k], dtype=np.int64))
    st = _strides(shape[:k])
    idx = indices if _is_traced(indices) else _const(np.asarray(indices, np.int64))
    flat = None
    for d in range(k):
        comp = cast(_wrap(getitem(idx, (Ellipsis, d)), shape[d]), "int64")
        comp = minimum(maximum(comp, cast_to(0, "int64")), cast_to(shape[d] - 1, "int64"))
        term = multiply(comp, cast_to(st[d], "int64"))
        flat = term if flat is None else add(flat, term)
    return gather(reshape(params, (lead,) + shape[k:]), flat, axis=0)


def dynamic_slice(x, start_indices, slice_sizes):
    """jax.lax.dynamic_slice: a ``slice_sizes`` block starting at (traced) ``start_indices``,
    each start clamped to [0, dim - size] so the block fits."""
    shape = tuple(shape_of(x))
    sizes = tuple(int(s) for s in slice_sizes)
    if len(start_indices) != len(shape) or len(sizes) != len(shape):
        raise ShapeError(f"dynamic_slice: {len(start_indices)} starts and {len(sizes)} sizes for shape {shape}")
    if any(not 0 <= s <= n for s, n in zip(sizes, shape)):
        raise ShapeError(f"dynamic_slice: slice sizes {sizes} do not fit shape {shape}")
    st = _strides(shape)
    flat = None
    for d, (s, n, size, g) in enumerate(zip(start_indices, shape, sizes, _grid(sizes))):
        s = cast(s, "int64") if _is_traced(s) else np.int64(s)
        s = minimum(maximum(s, cast_to(0, "int64")), cast_to(n - size, "int64"))
        term = multiply(add(_const(g), s), cast_to(st[d], "int64"))
        flat = term if flat is None else add(flat, term)
    return gather(_flat(x), broadcast_to(flat, sizes))


def dynamic_update_slice(x, update, start_indices):
    """jax.lax.dynamic_update_slice: ``x`` with the block at (traced, clamped)
    ``start_indices`` replaced by ``update``."""
    shape, ushape = tuple(shape_of(x)), tuple(shape_of(update))
    if len(ushape) != len(shape) or len(start_indices) != len(shape) or any(u > n for u, n in zip(ushape, shape)):
        raise ShapeError(f"dynamic_update_slice: update {ushape} and {len(start_indices)} starts for shape {shape}")
    ust = _strides(ushape)
    inside, src = None, None
    for d, (s, n, u, g) in enumerate(zip(start_indices, shape, ushape, _grid(shape))):
        s = cast(s, "int64") if _is_traced(s) else np.int64(s)
        s = minimum(maximum(s, cast_to(0, "int64")), cast_to(n - u, "int64"))
        off = add(_const(g), multiply(s, cast_to(-1, "int64")))          # position within the block
        ok = (greater(off, cast_to(-1, "int64"))) & less(off, cast_to(u, "int64"))
        inside = ok if inside is None else inside & ok
        off = minimum(maximum(off, cast_to(0, "int64")), cast_to(max(u - 1, 0), "int64"))
        term = multiply(off, cast_to(ust[d], "int64"))
        src = term if src is None else add(src, term)
    if int(np.prod(ushape, dtype=np.int64)) == 0:
        return x
    picked = gather(_flat(cast(update, dtype_of(x))), broadcast_to(src, shape))
    return where(broadcast_to(inside, shape), picked, x)


def scatter_add(x, indices, updates, axis=0):
    """x with ``updates`` added at ``indices`` along ``axis`` (duplicates accumulate; the
    transpose of gather): ``updates`` has shape x.shape with ``axis`` replaced by
    indices.shape."""
    axis = normalize_axis(axis, len(shape_of(x)))
    if axis:
        nd = len(shape_of(x))
        perm = (axis,) + tuple(d for d in range(nd) if d != axis)
        ni = len(shape_of(indices))
        uperm = tuple(range(axis, axis + ni)) + tuple(range(axis)) + tuple(
            range(axis + ni, len(shape_of(updates))))
        inv = tuple(np.argsort(perm))
        return transpose(_at_rows(transpose(x, perm), indices, transpose(updates, uperm), "add"), inv)
    return _at_rows(x, indices, updates, "add")


# -- .at[...] ---------------------------------------------------------------------------------------

def _at_rows(x, idx, v, mode):
    """x.at[idx] with a (traced) integer array on the first axis, via a one-hot matmul."""
    from .linalg import matmul
    from .nn import one_hot
    from .reductions import sum as reduce_sum

    shape = tuple(shape_of(x))
    n = shape[0]
    rest = shape[1:]
    ishape = tuple(shape_of(idx))
    m = int(np.prod(ishape, dtype=np.int64))
    r = int(np.prod(rest, dtype=np.int64))
    v = broadcast_to(cast(v, dtype_of(x)) if not isinstance(v, (int, float, bool)) else cast_to(v, dtype_of(x)),
                     ishape + rest)
    idx_flat = reshape(_wrap(idx if _is_traced(idx) else _const(np.asarray(idx, np.int64)), n), (m,))
    acc_dt = dtype_of(x) if dtypes.is_float(dtype_of(x)) else "float64"
    oh = one_hot(idx_flat, n, dtype=acc_dt)                    # (m, n); out-of-range rows are all zero
    sums = matmul(transpose(oh, (1, 0)), reshape(cast(v, acc_dt), (m, r)))   # (n, r)
    sums = reshape(cast(sums, dtype_of(x)) if acc_dt != dtype_of(x) else sums, shape)
    if mode == "add":
        return add(x, sums)
    if mode == "set":
        count = reshape(reduce_sum(oh, 0), (n,) + (1,) * len(rest))
        hit = greater(count, cast_to(0, acc_dt))
        mean = divide(cast(sums, acc_dt), maximum(count, cast_to(1, acc_dt)))
        return where(broadcast_to(hit, shape), cast(mean, dtype_of(x)), x)
    raise TraceError(f".at[...].{mode} with an index array known only at run time is not supported "
                     f"(add and set are)\n  at {user_source_line()}")


def _at_static(x, key, v, mode):
    shape = tuple(shape_of(x))
    size = int(np.prod(shape, dtype=np.int64))
    pos = _static_positions(shape, key)
    dt = dtype_of(x)
    v = v if _is_traced(v) else np.asarray(v)
    v = broadcast_to(cast(v, dt) if _is_traced(v) else cast_to(np.asarray(v).astype(dt), dt), pos.shape)
    flat_pos = pos.reshape(-1)
    if flat_pos.size == 0:
        return x
    uniq, first, counts = np.unique(flat_pos, return_index=True, return_counts=True)
    mask = np.zeros(size, bool)
    mask[uniq] = True
    src = np.zeros(size, np.int64)
    src[flat_pos] = np.arange(flat_pos.size)          # numpy assignment: the last occurrence wins
    vf = _flat(v)
    mask_c = reshape(_const(mask), shape)
    if mode == "set":
        return where(mask_c, reshape(gather(vf, _const(src)), shape), x)
    if (counts > 1).any():
        if mode != "add":
            raise IndexingError(f".at[...].{mode} with repeated indices is not supported\n  at {user_source_line()}")
        if uniq.size * flat_pos.size > _MAX_SCATTER_MATRIX:
            raise IndexingError(f".at[...].add with repeated indices needs a {uniq.size}x{flat_pos.size} scatter "
                                f"matrix, more than {_MAX_SCATTER_MATRIX} elements\n  at {user_source_line()}")
        from .linalg import matmul

        acc_dt = dt if dtypes.is_float(dt) else "float64"
        scatter = (uniq[:, None] == flat_pos[None, :]).astype(acc_dt)           # (unique, updates)
        sums = matmul(_const(scatter), reshape(cast(vf, acc_dt), (flat_pos.size, 1)))
        slot = np.zeros(size, np.int64)
        slot[uniq] = np.arange(uniq.size)
        delta = reshape(gather(reshape(cast(sums, dt), (uniq.size,)), _const(slot)), shape)
        return add(x, where(mask_c, delta, cast_to(0, dt)))
    picked = reshape(gather(vf, _const(src)), shape)
    if mode == "add":
        return add(x, where(mask_c, picked, cast_to(0, dt)))
    op = {"multiply": multiply, "min": minimum, "max": maximum}[mode]
    return where(mask_c, op(x, picked), x)


class _AtIndexer:
    """``x.at[key]`` (JAX): functional updates returning a new array."""

    __slots__ = ("x", "key")

    def __init__(self, x, key):
        self.x, self.key = x, key

    def get(self):
        return advanced_getitem(self.x, self.key)

    def _apply(self, v, mode):
        keys = self.key if isinstance(self.key, tuple) else (self.key,)
        traced = [k for k in keys if _is_traced(k)]
        if traced:
            if len(keys) != 1:
                raise IndexingError(f".at[...] with a traced index supports one index array on the first axis "
                                    f"(x.at[i]); got {len(keys)} entries\n  at {user_source_line()}")
            return _at_rows(self.x, traced[0], v, mode)
        return _at_static(self.x, self.key, v, mode)

    def set(self, v):
        return self._apply(v, "set")

    def add(self, v):
        return self._apply(v, "add")

    def multiply(self, v):
        return self._apply(v, "multiply")

    mul = multiply

    def min(self, v):
        return self._apply(v, "min")

    def max(self, v):
        return self._apply(v, "max")


class _At:
    __slots__ = ("x",)

    def __init__(self, x):
        self.x = x

    def __getitem__(self, key):
        return _AtIndexer(self.x, key)


def at(x):
    """``gc.at(x)[key].set(v)`` — the same as ``x.at[key].set(v)`` on traced values, for
    numpy arrays too."""
    return _At(x)


Tensor.at = property(lambda self: _At(self))
Tensor.__getitem__ = advanced_getitem
