"""sort, argsort and top_k (issue 15) as a bitonic sorting network of existing ops.

The axis is padded to a power of two N and sorted by log2(N)(log2(N)+1)/2 compare-
exchange stages. In a stage every element meets its partner (index ^ j: a reshape to
(N/2j, 2, j), a flip of the middle axis and a reshape back, which fuse and differentiate
as index remappings) and keeps the smaller or the larger of the two (a static mask),
with ``where``. Values travel with their original positions, and ties are broken by
position, so the sort is stable (numpy's ``kind="stable"``) and ``argsort`` is exact.
NaN sorts after every number, as in numpy; padding after NaN. ``top_k`` sorts
descending (ties: the lower index first, as ``tf.nn.top_k``; NaN counts as the largest).
The gradient of sorted values flows back through the same selections. Each stage ends
in a ``materialize`` node (a kernel boundary): a stage reads the previous one at two
positions, so fusing stages would recompute the network exponentially. Cost:
O(N log^2 N) elementwise work per row, two kernels per stage (55 stages for N = 1024).
"""
from __future__ import annotations

import numpy as np

from .. import dtypes
from ..errors import ShapeError, user_source_line
from .common import cast_to, dtype_of, normalize_axis, shape_of
from .elementwise import (equal, greater, greater_equal, less, logical_and, logical_not, logical_or, not_equal,
                          where)
from ..tracing import bind
from .registry import defop
from .shape_ops import broadcast_to, concatenate, getitem, reshape, transpose


def _materialize_vjp(g, ins, out, attrs):
    return [materialize(g)]  # the backward chain reads each stage twice as well


# An identity that is a kernel boundary ("opaque": never inlined into its consumers, and
# its input is stored): each network stage reads the previous one at two positions
# (itself and its partner), so fused stages would recompute the chain 2^stages times.
defop("materialize", "opaque", lambda types, attrs: types[0], lambda attrs, x: np.array(x, copy=True),
      emit=lambda kb, node, idx: kb.read(node.inputs[0], idx), vjp=_materialize_vjp)


def materialize(x):
    """x, stored to memory by its own kernel (a fusion boundary)."""
    return bind("materialize", [x])


def _const(value):
    from ..tracing import Tensor, constant_node, current_trace

    arr = np.asarray(value)
    trace = current_trace()
    return arr if trace is None else Tensor(constant_node(arr, trace), trace)


def _to_last(x, axis):
    nd = len(shape_of(x))
    axis = normalize_axis(axis, nd)
    if axis == nd - 1:
        return x, None
    perm = tuple(d for d in range(nd) if d != axis) + (axis,)
    return transpose(x, perm), tuple(np.argsort(perm))


def _partner(x, j):
    """x[..., p ^ j] along the last axis (length N, a power of two)."""
    shape = tuple(shape_of(x))
    n = shape[-1]
    y = reshape(x, shape[:-1] + (n // (2 * j), 2, j))
    y = getitem(y, (Ellipsis, slice(None, None, -1), slice(None)))
    return reshape(y, shape)


def _rank_class(v, i, n, descending):
    """0/1/2 ordering classes: numbers, NaN, padding (NaN first when descending)."""
    pad = greater_equal(i, cast_to(n, "int64"))
    cls = where(pad, cast_to(2, "int32"), cast_to(0, "int32"))
    if dtypes.is_float(dtype_of(v)):
        nan = not_equal(v, v)
        cls = where(logical_and(nan, logical_not(pad)), cast_to(-1 if descending else 1, "int32"), cls)
    return cls


def _before(v, i, cv, vp, ip, cp, descending):
    """Whether (v, i) comes before its partner (vp, ip) in the requested order."""
    first, second = (greater, less) if descending else (less, greater)
    value_first = first(v, vp)
    value_tie = logical_not(logical_or(value_first, second(v, vp)))
    same = equal(cv, cp)
    return logical_or(less(cv, cp), logical_and(same, logical_or(value_first, logical_and(value_tie, less(i, ip)))))


def _bitonic(x, descending):
    """(values, int64 positions) of ``x`` sorted along its last axis."""
    shape = tuple(shape_of(x))
    n = shape[-1]
    N = 1 << max(0, (n - 1).bit_length())
    if N != n:
        pad_shape = shape[:-1] + (N - n,)
        x = concatenate([x, broadcast_to(cast_to(0, dtype_of(x)), pad_shape)], -1)
    full = shape[:-1] + (N,)
    v = x
    i = broadcast_to(_const(np.arange(N, dtype=np.int64)), full)
    p = np.arange(N)
    k = 2
    while k <= N:
        j = k // 2
        while j >= 1:
            ascending_block = (p & k) == 0
            keep_first = (p < (p ^ j)) == ascending_block       # this position takes the earlier one
            vp, ip = _partner(v, j), _partner(i, j)
            cv, cp = _rank_class(v, i, n, descending), _rank_class(vp, ip, n, descending)
            before = _before(v, i, cv, vp, ip, cp, descending)
            take_self = equal(before, _const(keep_first))
            v, i = materialize(where(take_self, v, vp)), materialize(where(take_self, i, ip))
            j //= 2
        k *= 2
    if N != n:
        v, i = getitem(v, (Ellipsis, slice(0, n))), getitem(i, (Ellipsis, slice(0, n)))
    return v, i


def _sorted(x, axis, descending):
    if not shape_of(x):
        raise ShapeError(f"sort: a 0-d array has no axis to sort\n  at {user_source_line()}")
    if axis is None:
        x, axis = reshape(x, (-1,)), 0
    x, back = _to_last(x, axis)
    if shape_of(x)[-1] <= 1:
        v, i = x, broadcast_to(_const(np.zeros((), np.int64)), tuple(shape_of(x)))
    else:
        v, i = _bitonic(x, descending)
    if back is not None:
        v, i = transpose(v, back), transpose(i, back)
    return v, i


def sort(x, axis=-1):
    """numpy.sort (stable; NaN last; axis None sorts the flattened array)."""
    return _sorted(x, axis, False)[0]


def argsort(x, axis=-1):
    """numpy.argsort with kind="stable": int64 positions that sort ``x`` along ``axis``."""
    return _sorted(x, axis, False)[1]


def top_k(x, k=1, sorted=True):  # noqa: A002 - tf.nn.top_k's argument name
    """tf.nn.top_k / jax.lax.top_k: the ``k`` largest entries of the last axis and their
    int64 positions (``(values, indices)``), largest first, ties by lower index."""
    n = shape_of(x)[-1] if shape_of(x) else 0
    if not 0 <= int(k) <= n:
        raise ShapeError(f"top_k: k={k} must be in [0, {n}] (the last axis)\n  at {user_source_line()}")
    v, i = _sorted(x, -1, True)
    return getitem(v, (Ellipsis, slice(0, int(k)))), getitem(i, (Ellipsis, slice(0, int(k))))
