"""Batch normalization as composites: moments (biased variance, as TF) and the affine map.

The normalization (x - mean) * scale / sqrt(var + eps) + offset is elementwise with
per-channel operands, so it fuses into one kernel with its producer's epilogue; its
gradient (through the batch mean and variance too, when they come from moments) is
derived by autodiff from these ops.
"""
from __future__ import annotations

from ..errors import ShapeError
from .common import cast_to, dtype_of, normalize_axes, promote, shape_of
from .elementwise import add, multiply, sqrt, square, subtract, divide
from .reductions import mean as reduce_mean


def moments(x, axes, keepdims=False):
    """(mean, variance) over ``axes``; the variance is the biased one (divided by n), as tf.nn.moments."""
    _, (x,) = promote(x, float_only=True)
    ax = normalize_axes(axes, len(shape_of(x)))
    m = reduce_mean(x, axis=ax, keepdims=True)
    v = reduce_mean(square(subtract(x, m)), axis=ax, keepdims=keepdims)
    if not keepdims:
        from .shape_ops import reshape

        m = reshape(m, tuple(d for k, d in enumerate(shape_of(x)) if k not in ax))
    return m, v


def batch_normalization(x, mean, variance, offset, scale, variance_epsilon):
    """(x - mean) / sqrt(variance + eps) * scale + offset (tf.nn.batch_normalization's argument order).

    offset and scale may be None (0 and 1). All operands broadcast against x.
    """
    _, (x,) = promote(x, float_only=True)
    dt = dtype_of(x)
    inv = divide(cast_to(1, dt), sqrt(add(variance, cast_to(variance_epsilon, dt))))
    if scale is not None:
        inv = multiply(inv, scale)
    y = multiply(subtract(x, mean), inv)
    if offset is not None:
        y = add(y, offset)
    return y


def batch_norm(x, scale, offset, mean, variance, eps=1e-3):
    """Batch normalization with the issue's argument order (scale, offset, mean, variance, eps).

    mean/variance are per-channel (last axis) or broadcastable to x; pass
    ``moments(x, axes)`` for training-mode statistics.
    """
    xs = shape_of(x)
    for name, v in (("scale", scale), ("offset", offset), ("mean", mean), ("variance", variance)):
        if v is None:
            continue
        vs = tuple(shape_of(v))
        if len(vs) > len(xs) or any(d not in (1, e) for d, e in zip(vs[::-1], tuple(xs)[::-1])):
            raise ShapeError(f"batch_norm: {name} of shape {vs} does not broadcast against x of shape {tuple(xs)}")
    return batch_normalization(x, mean, variance, offset, scale, eps)
