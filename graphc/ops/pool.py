"""max_pool, avg_pool and local_response_normalization as composites of strided slices.

A pooling window of KH x KW taps is the max (or sum) of KH*KW strided slices of the
padded input; fusion inlines the slices into one kernel that reads each tap once per
output. Gradients come from the ops' own rules: maximum sends a tie to its first
operand, so the max-pool gradient goes to the first maximal cell of a window in
row-major order (TF's MaxPoolGrad does the same).

Padding as TF: SAME pads with -inf for max pooling (padding never wins), and avg_pool
divides by the number of *valid* cells in each window, not KH*KW.
"""
from __future__ import annotations

import numpy as np

from .. import dtypes
from ..errors import ShapeError
from ..tracing import bind
from .common import cast_to, dtype_of, promote, shape_of
from .conv import explicit_pads, same_valid_padding, spatial_pair
from .elementwise import add, divide, maximum, multiply, power, where
from .shape_ops import getitem


def _geometry(x, ksize, strides, padding, opname):
    xs = shape_of(x)
    if len(xs) != 4:
        raise ShapeError(f"{opname} needs an NHWC input of rank 4, got shape {tuple(xs)}")
    ksize = spatial_pair(ksize, "ksize")
    strides = spatial_pair(strides, "strides")
    if min(ksize) < 1 or min(strides) < 1:
        raise ShapeError(f"{opname}: ksize and strides must be positive, got {ksize} and {strides}")
    pads = explicit_pads(padding)
    geo = [same_valid_padding(xs[1 + k], ksize[k], strides[k], 1, pads[k]) for k in range(2)]
    return xs, ksize, strides, geo


def _pad(x, xs, geo):
    """Zero-pad H and W (a slice_grad: the scatter of x into a larger zero grid)."""
    (_, pt, pb), (_, pl, pr) = geo
    if (pt, pb, pl, pr) == (0, 0, 0, 0):
        return x
    n, h, w, c = xs
    return bind("slice_grad", [x], in_shape=(n, h + pt + pb, w + pl + pr, c), starts=(0, pt, pl, 0),
                steps=(1, 1, 1, 1), shape=tuple(xs))


def _valid_mask(xs, geo):
    """Bool (1, Hp, Wp, 1): True on real cells, False on padding."""
    (_, pt, pb), (_, pl, pr) = geo
    m = np.zeros((1, xs[1] + pt + pb, xs[2] + pl + pr, 1), bool)
    m[:, pt:pt + xs[1], pl:pl + xs[2], :] = True
    return m


def _taps(xp, ksize, strides, geo):
    (oh, _, _), (ow, _, _) = geo
    sh, sw = strides
    for a in range(ksize[0]):
        for b in range(ksize[1]):
            yield getitem(xp, (slice(None), slice(a, a + (oh - 1) * sh + 1, sh),
                               slice(b, b + (ow - 1) * sw + 1, sw), slice(None)))


def max_pool(value, ksize, strides, padding="VALID"):
    """Max over KH x KW windows (tf.nn.max_pool, NHWC); ksize/strides int, (h, w) or [1,h,w,1]."""
    xs, ksize, strides, geo = _geometry(value, ksize, strides, padding, "max_pool")
    x = value
    xp = _pad(x, xs, geo)
    if xp is not x:
        dt = dtype_of(x)
        low = -np.inf if dtypes.is_float(dt) else (np.iinfo(dt).min if dt != "bool" else False)
        xp = where(_valid_mask(xs, geo), xp, cast_to(low, dt))
    out = None
    for t in _taps(xp, ksize, strides, geo):
        out = t if out is None else maximum(out, t)
    return out


def avg_pool(value, ksize, strides, padding="VALID"):
    """Mean over the valid cells of KH x KW windows (tf.nn.avg_pool: padding is not counted)."""
    xs, ksize, strides, geo = _geometry(value, ksize, strides, padding, "avg_pool")
    _, (x,) = promote(value, float_only=True)
    xp = _pad(x, xs, geo)
    total = None
    for t in _taps(xp, ksize, strides, geo):
        total = t if total is None else add(total, t)
    # number of valid cells under each window (a small constant)
    (oh, pt, _), (ow, pl, _) = geo
    sh, sw = strides
    mask = _valid_mask(xs, geo)[0, :, :, 0].astype(np.int64)
    count = np.zeros((oh, ow), np.int64)
    for a in range(ksize[0]):
        for b in range(ksize[1]):
            count += mask[a:a + (oh - 1) * sh + 1:sh, b:b + (ow - 1) * sw + 1:sw]
    if count.min() == 0:
        raise ShapeError("avg_pool: a window covers only padding")
    dt = dtype_of(x)
    if count.max() == count.min():
        return divide(total, cast_to(int(count.flat[0]), dt))
    return multiply(total, (1.0 / count).astype(dt).reshape(1, oh, ow, 1))


def local_response_normalization(input, depth_radius=5, bias=1.0, alpha=1.0, beta=0.5):
    """x / (bias + alpha * sum of x^2 over channels d-r..d+r) ** beta (tf.nn.lrn, NHWC)."""
    _, (x,) = promote(input, float_only=True)
    xs = shape_of(x)
    if len(xs) != 4:
        raise ShapeError(f"local_response_normalization needs an NHWC input of rank 4, got shape {tuple(xs)}")
    r = int(depth_radius)
    if r < 0:
        raise ShapeError(f"depth_radius must be >= 0, got {depth_radius}")
    dt = dtype_of(x)
    n, h, w, c = xs
    sq = multiply(x, x)
    padded = bind("slice_grad", [sq], in_shape=(n, h, w, c + 2 * r), starts=(0, 0, 0, r), steps=(1, 1, 1, 1),
                  shape=tuple(xs)) if r else sq
    total = None
    for k in range(2 * r + 1):
        t = getitem(padded, (Ellipsis, slice(k, k + c)))
        total = t if total is None else add(total, t)
    denom = add(cast_to(bias, dt), multiply(cast_to(alpha, dt), total))
    if beta == 0.5:
        from .elementwise import sqrt

        return divide(x, sqrt(denom))
    return divide(x, power(denom, cast_to(beta, dt)))


lrn = local_response_normalization
