"""More TF 1.x math and array ops the books call, as compositions of graphc ops:
tf.sign, tf.tile, tf.slice, tf.reduce_logsumexp, tf.count_nonzero, tf.nn.xw_plus_b, and
the division family tf.floormod (= tf.mod), tf.floordiv, tf.truncatemod, tf.truncatediv.

Each is a composite (so it fuses and differentiates through graphc's rules):
tile is a broadcast of the input with a new axis before each dimension, then a
reshape; slice is basic indexing; reduce_logsumexp subtracts the (finite) maximum
before exponentiating, as TF does, so large inputs do not overflow. TF's division
semantics: floormod is numpy's remainder (the divisor's sign), truncatemod is fmod
(the dividend's sign); floordiv of floats is floor(x / y) (TF's kernel, which can differ
from numpy's floor_divide by one where x / y rounds up to an integer), of integers
numpy's floor_divide; truncatediv rounds the quotient toward zero. Integer division by
zero gives 0 (numpy's convention; TF's CPU kernel raises instead).
"""
from __future__ import annotations

import builtins

import numpy as np

import graphc as gc
from ...ops.common import dtype_of, shape_of
from . import dtypes
from .convert import as_operand, match_operands
from .math_ops import _axis, _keep
from .record import record


def _sign(x):
    dt = dtype_of(x)
    one, zero = np.asarray(1, dt), np.asarray(0, dt)
    s = gc.where(gc.greater(x, zero), one, gc.where(gc.less(x, zero), -one, zero))
    if dt.startswith("float"):
        s = gc.where(gc.not_equal(x, x), x, s)          # sign(NaN) is NaN
    return s


def sign(x, name=None):
    """-1, 0 or 1 by the sign of x (NaN stays NaN); its gradient is zero, as TF's."""
    return record("Sign", _sign, (as_operand(x),), name=name)


def _tile(x, multiples):
    shape = tuple(shape_of(x))
    if len(multiples) != len(shape):
        raise ValueError(f"tile: multiples {tuple(multiples)} must have one entry per dimension of {shape}")
    spread = gc.reshape(x, tuple(d for n in shape for d in (1, n)))
    big = gc.broadcast_to(spread, tuple(d for m, n in zip(multiples, shape) for d in (m, n)))
    return gc.reshape(big, tuple(m * n for m, n in zip(multiples, shape)))


def tile(input, multiples, name=None):  # noqa: A002
    """The input repeated multiples[i] times along dimension i."""
    return record("Tile", _tile, (as_operand(input), tuple(int(m) for m in multiples)), name=name)


def _slice(x, begin, size):
    shape = tuple(shape_of(x))
    if not (len(begin) == len(size) == len(shape)):
        raise ValueError(f"slice: begin {begin} and size {size} must have one entry per dimension of {shape}")
    key = []
    for b, s, n in zip(begin, size, shape):
        end = n if s == -1 else b + s
        if b < 0 or end > n or end < b:
            raise ValueError(f"slice: begin {begin} and size {size} are out of bounds for shape {shape}")
        key.append(builtins.slice(b, end))
    return x[tuple(key)]


def slice(input_, begin, size, name=None):  # noqa: A001
    """input_[begin[i] : begin[i] + size[i]] along each dimension (size -1: to the end)."""
    return record("Slice", _slice, (as_operand(input_), tuple(int(b) for b in begin), tuple(int(s) for s in size)),
                  name=name)


def _logsumexp(x, axis, keepdims):
    raw_max = gc.max(x, axis=axis, keepdims=True)
    finite = gc.less(gc.abs(raw_max), np.inf)
    shift = gc.stop_gradient(gc.where(finite, raw_max, np.asarray(0, dtype_of(x))))
    out = gc.add(gc.log(gc.sum(gc.exp(gc.subtract(x, shift)), axis=axis, keepdims=True)), shift)
    if keepdims:
        return out
    return gc.reshape(out, tuple(shape_of(gc.sum(x, axis=axis))))


def reduce_logsumexp(input_tensor, axis=None, keepdims=None, name=None, reduction_indices=None, keep_dims=None):
    """log(sum(exp(x))) over axis, computed as max + log(sum(exp(x - max)))."""
    return record("ReduceLogSumExp", _logsumexp,
                  (as_operand(input_tensor), _axis(axis, reduction_indices), _keep(keepdims, keep_dims)),
                  name=name)


def _count_nonzero(x, axis, keepdims, dt):
    return gc.sum(gc.cast(gc.not_equal(x, np.asarray(0, dtype_of(x))), dt), axis=axis, keepdims=keepdims)


def count_nonzero(input_tensor, axis=None, keepdims=None, dtype=dtypes.int64, name=None, reduction_indices=None,
                  keep_dims=None):
    return record("CountNonzero", _count_nonzero,
                  (as_operand(input_tensor), _axis(axis, reduction_indices), _keep(keepdims, keep_dims),
                   dtypes.as_dtype(dtype).name), name=name)


def _xw_plus_b(x, w, b):
    return gc.nn.bias_add(gc.matmul(x, w), b)


def xw_plus_b(x, weights, biases, name=None):
    """matmul(x, weights) + biases (tf.nn.xw_plus_b)."""
    x, weights = match_operands("MatMul", x, weights)
    return record("xw_plus_b", _xw_plus_b, (x, weights, biases), name=name or "xw_plus_b")


# -- division: TF's FloorMod / FloorDiv / TruncateMod / TruncateDiv ---------------------------


def _is_float(x):
    return dtype_of(x).startswith(("float", "bfloat"))


def _floordiv(x, y):
    return gc.floor(gc.divide(x, y)) if _is_float(x) else gc.floor_divide(x, y)


def _truncatediv(x, y):
    if _is_float(x):
        return gc.trunc(gc.divide(x, y))
    # floor quotient, one more where the (nonzero) remainder and the operands' signs differ
    rem = gc.fmod(x, y)
    zero = np.asarray(0, dtype_of(x))
    up = gc.logical_and(gc.not_equal(rem, zero), gc.not_equal(gc.less(x, zero), gc.less(y, zero)))
    return gc.add(gc.floor_divide(x, y), gc.cast(up, dtype_of(x)))


def floormod(x, y, name=None):
    """x - floor(x / y) * y: the remainder with y's sign (numpy.remainder); d/dx = 1,
    d/dy = -floor(x / y)."""
    x, y = match_operands("FloorMod", x, y)
    return record("FloorMod", gc.remainder, (x, y), name=name)


mod = floormod


def floordiv(x, y, name=None):
    """floor(x / y): floor of the true quotient for floats, numpy's floor_divide for
    integers (zero gradient)."""
    x, y = match_operands("FloorDiv", x, y)
    return record("FloorDiv", _floordiv, (x, y), name=name)


def truncatemod(x, y, name=None):
    """C's fmod: the remainder of the quotient truncated toward zero, with x's sign."""
    x, y = match_operands("TruncateMod", x, y)
    return record("TruncateMod", gc.fmod, (x, y), name=name)


def truncatediv(x, y, name=None):
    """The quotient rounded toward zero (C division for integers, trunc(x / y) for floats)."""
    x, y = match_operands("TruncateDiv", x, y)
    return record("TruncateDiv", _truncatediv, (x, y), name=name)
