"""Composite neural-network functions built from primitives (fusion makes them one kernel)."""
from __future__ import annotations

from .common import dtype_of, promote, shape_of
from .creation import arange
from .elementwise import cast, equal, exp, log, subtract, divide, where
from .reductions import max as reduce_max, sum as reduce_sum
from .shape_ops import expand_dims


def softmax(x, axis=-1):
    """exp(x - max) / sum(exp(x - max)) along ``axis`` (the stable form)."""
    _, (x,) = promote(x, float_only=True)
    m = reduce_max(x, axis=axis, keepdims=True)
    e = exp(subtract(x, m))
    return divide(e, reduce_sum(e, axis=axis, keepdims=True))


def log_softmax(x, axis=-1):
    """x - max - log(sum(exp(x - max))) along ``axis``."""
    _, (x,) = promote(x, float_only=True)
    m = reduce_max(x, axis=axis, keepdims=True)
    shifted = subtract(x, m)
    return subtract(shifted, log(reduce_sum(exp(shifted), axis=axis, keepdims=True)))


def one_hot(indices, depth, dtype="float32", on_value=1, off_value=0, axis=-1):
    """tf.one_hot: a new axis of size ``depth``; out-of-range indices give all off_value."""
    idx_dt = dtype_of(indices)
    nd = len(shape_of(indices)) + 1
    axis = axis % nd
    positions = arange(0, depth, dtype=idx_dt if idx_dt in ("int32", "int64") else "int64")
    pos_shape = [1] * nd
    pos_shape[axis] = depth
    from .shape_ops import reshape

    hit = equal(expand_dims(indices, axis), reshape(positions, tuple(pos_shape)))
    return where(hit, cast(on_value, dtype), cast(off_value, dtype))
