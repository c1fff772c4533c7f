"""More reductions, scans, shape functions and creation functions (issue 15), as composites.

Everything here is built from existing ops (no new primitive), so it fuses into its
neighbours, differentiates on its own, batches under vmap where its parts do, and works
eagerly on numpy arrays (through the ops' numpy references) as well as inside a trace:

- ``var std`` (``ddof``), ``logsumexp`` (the max is subtracted and held constant for the
  gradient), ``any all``;
- ``cumsum cumprod``: a ``gc.scan`` over the axis, so the additions happen in numpy's
  order (bit-identical sums for floats) and the loop is native;
- ``tile repeat pad flip roll``: slicing, broadcasting and concatenation;
- ``eye tri tril triu linspace meshgrid diag``: static constants and masks;
- ``einsum``: each operand's own indices summed out or transposed, then pairs
  contracted as one batched ``matmul`` (the GEMM for 2-D contractions), left to right.

Creation functions default to float32 like ``gc.zeros``/``gc.ones`` (TensorFlow's default;
numpy's is float64): pass ``dtype`` for another.
"""
from __future__ import annotations

import builtins  # (this module defines numpy's any/all)
import string

import numpy as np

from .. import dtypes
from ..errors import ShapeError, user_source_line
from ..symbolic import dim_mul
from ..tracing import Tensor, constant_node, current_trace
from . import math_extra
from .common import cast_to, dtype_of, normalize_axes, normalize_axis, promote, shape_of
from .elementwise import (add, cast, divide, exp, log, logical_not, multiply, not_equal, sqrt, stop_gradient,
                          subtract, where)
from .reductions import max as reduce_max
from .reductions import sum as reduce_sum
from .shape_ops import broadcast_to, concatenate, expand_dims, getitem, reshape, squeeze, transpose

# -- helpers ---------------------------------------------------------------------------------


def _const(value):
    """An array constant: a constant node inside a trace, the ndarray outside."""
    arr = np.asarray(value)
    trace = current_trace()
    if trace is None:
        return arr
    return Tensor(constant_node(arr, trace), trace)


def _moveaxis(x, src: int, dst: int):
    nd = len(shape_of(x))
    src, dst = normalize_axis(src, nd), normalize_axis(dst, nd)
    if src == dst:
        return x
    perm = [k for k in range(nd) if k != src]
    perm.insert(dst, src)
    return transpose(x, tuple(perm))


def _slice_axis(x, axis, start, stop, step=1):
    key = [slice(None)] * len(shape_of(x))
    key[axis] = slice(start, stop, step)
    return getitem(x, tuple(key))


def _count(shape, axes) -> int:
    return int(np.prod([shape[a] for a in axes], dtype=np.int64))


# -- reductions ----------------------------------------------------------------------------------

def var(x, axis=None, ddof=0, keepdims=False):
    """numpy.var: mean of squared deviations over ``axis``, divided by N - ddof."""
    _, (x,) = promote(x, float_only=True)
    shape = shape_of(x)
    axes = normalize_axes(axis, len(shape))
    mean = divide(reduce_sum(x, axes, True), cast_to(max(_count(shape, axes), 1), dtype_of(x)))
    d = subtract(x, mean)
    n = _count(shape, axes) - ddof
    return divide(reduce_sum(multiply(d, d), axes, keepdims), cast_to(max(n, 0), dtype_of(x)))


def std(x, axis=None, ddof=0, keepdims=False):
    """numpy.std: sqrt(var(x, axis, ddof))."""
    return sqrt(var(x, axis, ddof, keepdims))


def logsumexp(x, axis=None, keepdims=False):
    """log(sum(exp(x))) over ``axis`` without overflow (scipy.special.logsumexp): the
    max is subtracted first; an all -inf slice gives -inf."""
    _, (x,) = promote(x, float_only=True)
    axes = normalize_axes(axis, len(shape_of(x)))
    m = stop_gradient(reduce_max(x, axes, True))
    m = where(math_extra.isfinite(m), m, cast_to(0, dtype_of(m)))  # all -inf (or inf, NaN): no shift
    out = add(log(reduce_sum(exp(subtract(x, m)), axes, True)), m)
    return out if keepdims else squeeze(out, axes) if axes else out


def any(x, axis=None, keepdims=False):  # noqa: A001 - numpy's name
    """numpy.any: whether some element along ``axis`` is nonzero (False for empty)."""
    counts = reduce_sum(cast(cast(x, "bool"), "int64"), axis, keepdims)
    return not_equal(counts, cast_to(0, "int64"))


def all(x, axis=None, keepdims=False):  # noqa: A001 - numpy's name
    """numpy.all: whether every element along ``axis`` is nonzero (True for empty)."""
    return logical_not(any(logical_not(cast(x, "bool")), axis, keepdims))


# -- scans ----------------------------------------------------------------------------------------

def _accumulate(x, axis, combine, opname):
    from .control import scan

    dt = dtype_of(x)
    if dt in ("bool", "int8", "int32"):
        x = cast(x, "int64")  # numpy accumulates these in the platform integer
    if axis is None:
        x = reshape(x, (-1,))
        axis = 0
    shape = shape_of(x)
    if not shape:
        raise ShapeError(f"{opname}: axis {axis} is out of bounds for a 0-d array\n  at {user_source_line()}")
    axis = normalize_axis(axis, len(shape))
    if shape[axis] <= 1:
        return x
    x = _moveaxis(x, axis, 0)
    first = getitem(x, 0)
    rest = _slice_axis(x, 0, 1, None)

    def step(c, v):
        c = combine(c, v)
        return c, c

    _, ys = scan(step, first, rest)
    return _moveaxis(concatenate([expand_dims(first, 0), ys], 0), 0, axis)


def cumsum(x, axis=None):
    """numpy.cumsum (the flattened array for axis=None); sums in numpy's order."""
    return _accumulate(x, axis, add, "cumsum")


def cumprod(x, axis=None):
    """numpy.cumprod (the flattened array for axis=None)."""
    return _accumulate(x, axis, multiply, "cumprod")


# -- shape -----------------------------------------------------------------------------------------

def flip(x, axis=None):
    """numpy.flip: reverse the order of elements along ``axis`` (all axes for None)."""
    nd = len(shape_of(x))
    axes = normalize_axes(axis, nd)
    key = tuple(slice(None, None, -1) if k in axes else slice(None) for k in range(nd))
    return getitem(x, key)


def roll(x, shift, axis=None):
    """numpy.roll: elements shifted by ``shift`` along ``axis`` (flattened for None),
    wrapping around."""
    if axis is None:
        return reshape(roll(reshape(x, (-1,)), shift, 0), shape_of(x))
    shifts = shift if isinstance(shift, (tuple, list)) else (shift,)
    axes = axis if isinstance(axis, (tuple, list)) else (axis,)
    if len(shifts) != len(axes):
        if len(shifts) == 1:
            shifts = shifts * len(axes)
        else:
            raise ShapeError(f"roll: {len(shifts)} shifts for {len(axes)} axes")
    for s, a in zip(shifts, axes):
        a = normalize_axis(a, len(shape_of(x)))
        n = shape_of(x)[a]
        if n == 0:
            continue
        s = int(s) % n
        if s:
            x = concatenate([_slice_axis(x, a, n - s, None), _slice_axis(x, a, 0, n - s)], a)
    return x


def tile(x, reps):
    """numpy.tile: ``x`` repeated ``reps`` times along each axis."""
    reps = tuple(int(r) for r in (reps if isinstance(reps, (tuple, list)) else (reps,)))
    shape = tuple(shape_of(x))
    nd = max(len(shape), len(reps))
    shape = (1,) * (nd - len(shape)) + shape
    reps = (1,) * (nd - len(reps)) + reps
    inter = tuple(v for r, d in zip(reps, shape) for v in (1, d))
    full = tuple(v for r, d in zip(reps, shape) for v in (r, d))
    return reshape(broadcast_to(reshape(x, inter), full), tuple(dim_mul(r, d) for r, d in zip(reps, shape)))


def repeat(x, repeats, axis=None):
    """numpy.repeat with one repeat count for every element (an int)."""
    if not isinstance(repeats, (int, np.integer)):
        raise ShapeError(f"repeat: graphc takes one int repeat count, got {repeats!r}\n  at {user_source_line()}")
    if axis is None:
        x, axis = reshape(x, (-1,)), 0
    shape = tuple(shape_of(x))
    axis = normalize_axis(axis, len(shape))
    wide = shape[:axis + 1] + (1,) + shape[axis + 1:]
    full = shape[:axis + 1] + (int(repeats),) + shape[axis + 1:]
    out = shape[:axis] + (dim_mul(shape[axis], int(repeats)),) + shape[axis + 1:]  # a symbol too (2*n)
    return reshape(broadcast_to(reshape(x, wide), full), out)


def _pad_widths(pad_width, nd):
    w = np.asarray(pad_width, dtype=np.int64)
    if w.ndim == 0:
        w = np.full((nd, 2), int(w))
    elif w.shape == (2,):
        w = np.tile(w, (nd, 1))
    elif w.shape == (1, 2):
        w = np.tile(w[0], (nd, 1))
    if w.shape != (nd, 2) or (w < 0).any():
        raise ShapeError(f"pad: pad_width {pad_width!r} does not fit an array of dimension {nd}")
    return w


def pad(x, pad_width, mode="constant", constant_values=0):
    """numpy.pad with mode "constant" (``constant_values``), "edge", "reflect" or
    "symmetric"; ``pad_width`` as numpy (an int, (before, after), or one pair per axis)."""
    if mode not in ("constant", "edge", "reflect", "symmetric"):
        raise ValueError(f"pad: mode {mode!r} is not supported (constant, edge, reflect, symmetric)")
    shape = tuple(shape_of(x))
    widths = _pad_widths(pad_width, len(shape))
    for a, (before, after) in enumerate(widths):
        if not before and not after:
            continue
        n = shape_of(x)[a]
        parts = []
        for count, at_start in ((int(before), True), (int(after), False)):
            if not count:
                parts.append(None)
                continue
            if mode == "constant":
                block_shape = list(shape_of(x))
                block_shape[a] = count
                part = broadcast_to(cast_to(np.asarray(constant_values, dtype_of(x)), dtype_of(x)),
                                    tuple(block_shape))
            elif mode == "edge":
                if n == 0:
                    raise ShapeError("pad: can't extend an empty axis with mode 'edge'")
                edge = _slice_axis(x, a, 0, 1) if at_start else _slice_axis(x, a, n - 1, n)
                block_shape = list(shape_of(x))
                block_shape[a] = count
                part = broadcast_to(edge, tuple(block_shape))
            else:
                skip = 1 if mode == "reflect" else 0
                if count > n - skip:
                    raise ShapeError(f"pad: mode {mode!r} pads at most {n - skip} along axis {a} here "
                                     f"(numpy repeats the reflection; graphc does not), got {count}")
                if at_start:
                    part = flip(_slice_axis(x, a, skip, skip + count), a)
                else:
                    part = flip(_slice_axis(x, a, n - skip - count, n - skip), a)
            parts.append(part)
        pieces = [p for p in (parts[0], x, parts[1]) if p is not None]
        x = concatenate(pieces, a)
    return x


# -- creation ----------------------------------------------------------------------------------------

def eye(N, M=None, k=0, dtype="float32"):
    """numpy.eye (float32 by default, as gc.zeros): ones on the k-th diagonal."""
    return _const(np.eye(int(N), None if M is None else int(M), int(k), dtype=dtypes.canonical(dtype)))


def tri(N, M=None, k=0, dtype="float32"):
    """numpy.tri: ones at and below the k-th diagonal."""
    return _const(np.tri(int(N), None if M is None else int(M), int(k), dtype=dtypes.canonical(dtype)))


def _tri_mask(x, k, lower):
    shape = tuple(shape_of(x))
    if len(shape) < 2:
        raise ShapeError(f"{'tril' if lower else 'triu'}: needs at least 2 dimensions, got shape {shape}")
    mask = np.tri(shape[-2], shape[-1], k, dtype=bool)
    if not lower:
        mask = ~np.tri(shape[-2], shape[-1], k - 1, dtype=bool)
    return where(_const(mask), x, cast_to(0, dtype_of(x)))


def tril(x, k=0):
    """numpy.tril: zeros above the k-th diagonal (of the last two axes)."""
    return _tri_mask(x, k, True)


def triu(x, k=0):
    """numpy.triu: zeros below the k-th diagonal (of the last two axes)."""
    return _tri_mask(x, k, False)


def linspace(start, stop, num=50, endpoint=True, dtype="float32"):
    """numpy.linspace for scalar start/stop (a constant; float32 by default)."""
    return _const(np.linspace(start, stop, int(num), endpoint=endpoint).astype(dtypes.canonical(dtype)))


def meshgrid(*xs, indexing="xy"):
    """numpy.meshgrid of 1-D arrays ("xy": the first two outputs' axes swapped, as numpy)."""
    if indexing not in ("xy", "ij"):
        raise ValueError(f"meshgrid: indexing must be 'xy' or 'ij', got {indexing!r}")
    sizes = [shape_of(x)[0] if len(shape_of(x)) == 1 else None for x in xs]
    if None in sizes:
        raise ShapeError("meshgrid: every argument must be 1-D")
    nd = len(xs)
    out_shape = list(sizes)
    if indexing == "xy" and nd >= 2:
        out_shape[0], out_shape[1] = out_shape[1], out_shape[0]
    outs = []
    for k, x in enumerate(xs):
        axis = k
        if indexing == "xy" and nd >= 2 and k < 2:
            axis = 1 - k
        shape = [1] * nd
        shape[axis] = sizes[k]
        outs.append(broadcast_to(reshape(x, tuple(shape)), tuple(out_shape)))
    return outs


def diag(v, k=0):
    """numpy.diag: a 1-D ``v`` on the k-th diagonal of a square matrix, or the k-th
    diagonal of a 2-D ``v``."""
    shape = tuple(shape_of(v))
    if len(shape) == 1:
        n = shape[0] + abs(k)
        # padded[c] = v[c - |k|]: element j lands at (j, j + k) when broadcast along the
        # rows (k >= 0), at (j - k, j) when broadcast along the columns (k < 0)
        padded = pad(v, (abs(k), 0)) if k else v
        grid = broadcast_to(reshape(padded, (1, n) if k >= 0 else (n, 1)), (n, n))
        return where(_const(np.eye(n, n, k, dtype=bool)), grid, cast_to(0, dtype_of(v)))
    if len(shape) == 2:
        mask = np.eye(shape[0], shape[1], k, dtype=bool)
        picked = where(_const(mask), v, cast_to(0, dtype_of(v)))
        total = reduce_sum(picked, 0 if k >= 0 else 1)  # one nonzero per column (row)
        length = max(0, min(shape[0], shape[1] - k) if k >= 0 else min(shape[0] + k, shape[1]))
        start = max(k, 0) if k >= 0 else max(-k, 0)
        out = getitem(total, slice(start, start + length))
        return cast(out, dtype_of(v)) if dtype_of(out) != dtype_of(v) else out
    raise ShapeError(f"diag: input must be 1-D or 2-D, got shape {shape}")


# -- einsum -------------------------------------------------------------------------------------------

def _parse_einsum(subscripts, n_operands):
    spec = subscripts.replace(" ", "")
    if "." in spec:
        raise ShapeError("einsum: ellipsis ('...') is not supported")
    if "->" in spec:
        lhs, out = spec.split("->")
    else:
        lhs = spec
        letters = lhs.replace(",", "")
        out = "".join(sorted(c for c in set(letters) if letters.count(c) == 1))
    ins = lhs.split(",")
    if len(ins) != n_operands:
        raise ShapeError(f"einsum: {len(ins)} operand subscripts for {n_operands} operands")
    for s in ins + [out]:
        if builtins.any(c not in string.ascii_letters for c in s):
            raise ShapeError(f"einsum: invalid subscripts {subscripts!r}")
    if len(set(out)) != len(out) or builtins.any(c not in lhs for c in out):
        raise ShapeError(f"einsum: invalid output subscripts {out!r}")
    return ins, out


def _einsum_single(x, idx, keep):
    """Sum out x's indices not in ``keep`` (repeated indices: the diagonal)."""
    shape = tuple(shape_of(x))
    if len(idx) != len(shape):
        raise ShapeError(f"einsum: subscripts {idx!r} for an operand of shape {shape}")
    while len(set(idx)) != len(idx):  # a repeated index: take the diagonal
        c = next(ch for ch in idx if idx.count(ch) > 1)
        a, b = idx.index(c), idx.index(c, idx.index(c) + 1)
        n = shape_of(x)[a]
        if shape_of(x)[b] != n:
            raise ShapeError(f"einsum: index {c!r} has sizes {n} and {shape_of(x)[b]}")
        nd = len(shape_of(x))
        mask_shape = [1] * nd
        mask_shape[a], mask_shape[b] = n, n
        x = reduce_sum(where(_const(np.eye(n, dtype=bool).reshape(mask_shape)), x, cast_to(0, dtype_of(x))), b)
        idx = idx[:b] + idx[b + 1:]
    drop = tuple(k for k, c in enumerate(idx) if c not in keep)
    if drop:
        x = reduce_sum(x, drop)
        idx = "".join(c for c in idx if c in keep)
    return x, idx


def _einsum_pair(a, ia, b, ib, keep):
    """Contract two operands over their shared indices not in ``keep``, as one matmul."""
    sa, sb = dict(zip(ia, shape_of(a))), dict(zip(ib, shape_of(b)))
    for c in set(ia) & set(ib):
        if sa[c] != sb[c] and 1 not in (sa[c], sb[c]):
            raise ShapeError(f"einsum: index {c!r} has sizes {sa[c]} and {sb[c]}")
    batch = [c for c in ia if c in ib and c in keep]
    contract = [c for c in ia if c in ib and c not in keep]
    free_a = [c for c in ia if c not in ib]
    free_b = [c for c in ib if c not in ia]
    from .linalg import matmul

    def arrange(x, idx, order, sizes):
        x = transpose(x, tuple(idx.index(c) for c in order)) if list(idx) != order else x
        return x, [sizes[c] for c in order]

    a, _ = arrange(a, ia, batch + free_a + contract, sa)
    b, _ = arrange(b, ib, batch + contract + free_b, sb)
    nb = [max(sa[c], sb[c]) for c in batch]
    m = int(np.prod([sa[c] for c in free_a], dtype=np.int64))
    n = int(np.prod([sb[c] for c in free_b], dtype=np.int64))
    kk = int(np.prod([sa[c] for c in contract], dtype=np.int64))
    a = reshape(a, tuple(sa[c] for c in batch) + (m, kk))
    b = reshape(b, tuple(sb[c] for c in batch) + (kk, n))
    out = matmul(a, b)
    out = reshape(out, tuple(nb) + tuple(sa[c] for c in free_a) + tuple(sb[c] for c in free_b))
    return out, "".join(batch + free_a + free_b)


def einsum(subscripts, *operands):
    """numpy.einsum for explicit or implicit subscripts without ellipsis: an operand's
    own indices (sums, diagonals) first, then the operands contracted left to right, each
    pair as one batched matmul (the GEMM for a 2-D contraction)."""
    ins, out = _parse_einsum(subscripts, len(operands))
    _, operands = promote(*operands)
    xs = []
    for k, (x, idx) in enumerate(zip(operands, ins)):
        others = "".join(s for j, s in enumerate(ins) if j != k) + out
        xs.append(_einsum_single(x, idx, others))
    x, idx = xs[0]
    for k in range(1, len(xs)):
        y, iy = xs[k]
        later = "".join(s for _, s in xs[k + 1:]) + out
        x, idx = _einsum_pair(x, idx, y, iy, later)
        x, idx = _einsum_single(x, idx, later)
    x, idx = _einsum_single(x, idx, out)
    if idx != out:
        x = transpose(x, tuple(idx.index(c) for c in out))
    return x


# -- Tensor methods -------------------------------------------------------------------------------

Tensor.var = lambda self, axis=None, ddof=0, keepdims=False: var(self, axis, ddof, keepdims)
Tensor.std = lambda self, axis=None, ddof=0, keepdims=False: std(self, axis, ddof, keepdims)
Tensor.any = lambda self, axis=None, keepdims=False: any(self, axis, keepdims)
Tensor.all = lambda self, axis=None, keepdims=False: all(self, axis, keepdims)
Tensor.cumsum = lambda self, axis=None: cumsum(self, axis)
Tensor.cumprod = lambda self, axis=None: cumprod(self, axis)
Tensor.clip = lambda self, a_min=None, a_max=None: math_extra.clip(self, a_min, a_max)
Tensor.round = lambda self, decimals=0: math_extra.round(self, decimals)
Tensor.flatten = lambda self: reshape(self, (-1,))
Tensor.ravel = lambda self: reshape(self, (-1,))
