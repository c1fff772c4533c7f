"""Reductions (sum, max, min, prod, argmax, argmin) over axis=None|int|tuple, keepdims.

Lowered as an accumulator loop nest that the KernelBuilder places at the loop level of
the output index, so a reduction feeding an elementwise consumer (softmax) is computed
once per row. Dtypes follow numpy: sum/prod of bool, int8 and int32 accumulate in int64 (the
platform integer), argmax returns int64.
"""
from __future__ import annotations

import numpy as np

from .. import dtypes
from ..errors import ShapeError
from ..ir import TensorType
from ..tracing import bind
from .common import cast_to, dtype_of, normalize_axes, shape_of
from .registry import defop


def _out_shape(shape, axes, keepdims):
    if keepdims:
        return tuple(1 if k in axes else d for k, d in enumerate(shape))
    return tuple(d for k, d in enumerate(shape) if k not in axes)


def _accum_dtype(kind, dtype):
    if kind in ("sum", "prod") and dtype in ("bool", "int8", "int32"):
        return "int64"
    if kind in ("argmax", "argmin"):
        return "int64"
    return dtype


def _make_infer(kind):
    def infer(types, attrs):
        (t,) = types
        axes = attrs["axes"]
        for a in axes:
            if not 0 <= a < t.ndim:
                raise ShapeError(f"axis {a} is out of bounds for an array of dimension {t.ndim}")
        if kind in ("max", "min", "argmax", "argmin") and any(t.shape[a] == 0 for a in axes):
            raise ShapeError(f"zero-size reduction with {kind}, which has no identity")
        if kind in ("argmax", "argmin") and len(axes) != 1:
            raise ShapeError(f"{kind} reduces exactly one axis")
        return TensorType(_out_shape(t.shape, axes, attrs["keepdims"]), _accum_dtype(kind, t.dtype))
    return infer


_NP = {"sum": np.sum, "prod": np.prod, "max": np.max, "min": np.min}


def _make_impl(kind):
    def impl(attrs, x):
        axes, keep = attrs["axes"], attrs["keepdims"]
        if kind in ("argmax", "argmin"):
            fn = np.argmax if kind == "argmax" else np.argmin
            return np.asarray(fn(x, axis=axes[0], keepdims=keep)).astype(np.int64)
        out_dt = _accum_dtype(kind, x.dtype.name)
        if kind in ("sum", "prod"):
            return np.asarray(_NP[kind](x, axis=axes, keepdims=keep, dtype=out_dt))
        return np.asarray(_NP[kind](x, axis=axes, keepdims=keep)).astype(out_dt)
    return impl


def _input_index(kb, node, idx, rvars):
    """Input multi-index from the output index and the reduction loop variables."""
    x = node.inputs[0]
    axes, keep = node.attrs["axes"], node.attrs["keepdims"]
    full, r, o = [], 0, 0
    for k in range(x.type.ndim):
        if k in axes:
            full.append(rvars[r])
            r += 1
            if keep:
                o += 1
        else:
            full.append(idx[o])
            o += 1
    return full


def _init_value(kind, dtype):
    if kind == "sum":
        return 0
    if kind == "prod":
        return 1
    if dtypes.is_float(dtype):
        return -np.inf if kind in ("max", "argmax") else np.inf
    if dtype == "bool":
        return 0 if kind in ("max", "argmax") else 1
    info = np.iinfo(dtype)
    return info.min if kind in ("max", "argmax") else info.max


def _make_emit(kind):
    def emit(kb, node, idx):
        x = node.inputs[0]
        axes = node.attrs["axes"]
        extents = [x.type.shape[a] for a in axes]
        # float16/bfloat16 accumulate in float32 (the result is rounded once, by read)
        acc_dt = dtypes.compute_dtype(node.type.dtype if kind not in ("argmax", "argmin") else x.type.dtype)
        level = kb.deepest(*idx)

        if kind in ("argmax", "argmin"):
            better = ">" if kind == "argmax" else "<"

            def step(rv, accs):
                best, pos = accs
                v = kb.read(x, _input_index(kb, node, idx, rv))
                take = kb.cmp(better, v, best)
                if v.dtype in ("float32", "float64"):  # numpy: the first NaN wins
                    take = kb.logical("or", take, kb.logical("and", kb.isnan(v), kb.logical("not", kb.isnan(best))))
                return [kb.select(take, v, best), kb.select(take, kb.cast(rv[0], "int64"), pos)]

            inits = [kb.const(_init_value(kind, acc_dt), acc_dt), kb.const(0, "int64")]
            # Not unrolled: LLVM 22's O3 pipeline (loop vectorizer, then the unroller) never
            # returns on this NaN-aware select reduction for some trip counts (argmax over 25..~40
            # elements of a (1, n) array hung the compiler); the arg-reduction gains little from
            # unrolling anyway (each step depends on the previous one).
            return kb.reduce(level, extents, inits, step, unroll=False)[1]

        def element(rv):
            v = kb.read(x, _input_index(kb, node, idx, rv))
            return kb.cast(v, acc_dt) if v.dtype != acc_dt else v

        if kind == "sum":  # blocked over long axes, for accuracy (KernelBuilder.sum_reduce)
            return kb.sum_reduce(level, extents, acc_dt, element)

        def step(rv, accs):
            v = element(rv)
            (acc,) = accs
            if kind == "sum":
                return [kb.add(acc, v, assoc=True)]
            if kind == "prod":
                return [kb.mul(acc, v, assoc=True)]
            if kind == "max":
                return [kb.maximum(acc, v) if acc_dt != "bool" else kb.logical("or", acc, v)]
            return [kb.minimum(acc, v) if acc_dt != "bool" else kb.logical("and", acc, v)]

        return kb.reduce(level, extents, [kb.const(_init_value(kind, acc_dt), acc_dt)], step)[0]
    return emit


def _expand_back(g, node_in_shape, axes, keepdims):
    """Broadcast a reduced gradient back over the reduced axes."""
    from .shape_ops import broadcast_to, reshape

    if not keepdims:
        g = reshape(g, tuple(1 if k in axes else d for k, d in enumerate(node_in_shape)))
    return broadcast_to(g, node_in_shape)


def _sum_vjp(g, ins, out, attrs):
    x = ins[0]
    if not dtypes.is_float(dtype_of(x)):
        return [None]
    return [_expand_back(g, shape_of(x), attrs["axes"], attrs["keepdims"])]


def _prod_vjp(g, ins, out, attrs):
    from .elementwise import divide, multiply

    x = ins[0]
    gx = _expand_back(multiply(g, out), shape_of(x), attrs["axes"], attrs["keepdims"])
    return [divide(gx, x)]  # TF's rule for nonzero inputs


def _extremum_vjp(g, ins, out, attrs):
    """Gradient flows to the positions equal to the extremum, split evenly among ties."""
    from .elementwise import cast, divide, equal, multiply

    x = ins[0]
    shape, axes, keep = shape_of(x), attrs["axes"], attrs["keepdims"]
    mask = cast(equal(x, _expand_back(out, shape, axes, keep)), dtype_of(x))
    count = _expand_back(sum(mask, axis=axes, keepdims=keep), shape, axes, keep)
    return [divide(multiply(mask, _expand_back(g, shape, axes, keep)), count)]


for _kind, _vjp in [("sum", _sum_vjp), ("prod", _prod_vjp), ("max", _extremum_vjp), ("min", _extremum_vjp),
                    ("argmax", lambda g, ins, out, a: [None]), ("argmin", lambda g, ins, out, a: [None])]:
    defop(f"reduce_{_kind}" if not _kind.startswith("arg") else _kind, "reduce",
          _make_infer(_kind), _make_impl(_kind), emit=_make_emit(_kind), vjp=_vjp)


# -- user-facing functions ------------------------------------------------------------------

def _reduce(opname, x, axis, keepdims):
    x = x if not isinstance(x, (bool, int, float)) else np.asarray(x)
    axes = normalize_axes(axis, len(shape_of(x)))
    return bind(opname, [x], axes=axes, keepdims=bool(keepdims))


def sum(x, axis=None, keepdims=False):
    """numpy.sum."""
    return _reduce("reduce_sum", x, axis, keepdims)


def prod(x, axis=None, keepdims=False):
    """numpy.prod."""
    return _reduce("reduce_prod", x, axis, keepdims)


def max(x, axis=None, keepdims=False):
    """numpy.max (NaN-propagating)."""
    return _reduce("reduce_max", x, axis, keepdims)


def min(x, axis=None, keepdims=False):
    """numpy.min (NaN-propagating)."""
    return _reduce("reduce_min", x, axis, keepdims)


def mean(x, axis=None, keepdims=False):
    """numpy.mean: the sum divided by the count, in float (float64 for integer inputs)."""
    from .elementwise import divide

    shape = shape_of(x)
    axes = normalize_axes(axis, len(shape))
    dt = dtype_of(x)
    fdt = dt if dtypes.is_float(dt) else "float64"
    # float16/bfloat16: sum and divide in float32, round once (a float16 sum may overflow)
    wide = dtypes.compute_dtype(fdt)
    total = sum(cast_to(x, wide), axis=axes, keepdims=keepdims)
    from .symbolic_size import dim_size

    count = dim_size([shape[a] for a in axes], wide)  # a run-time value over symbolic axes
    return cast_to(divide(total, count), fdt)  # 0/0 gives NaN, as numpy


def _arg(opname, x, axis, keepdims):
    from .shape_ops import reshape

    if axis is None:
        ndim = len(shape_of(x))
        idx = _reduce(opname, reshape(x, (-1,)), 0, False)
        # numpy keeps every axis as size 1 (shape (1, 1) for a matrix), not one axis
        return reshape(idx, (1,) * ndim) if keepdims else idx
    return _reduce(opname, x, axis, keepdims)


def argmax(x, axis=None, keepdims=False):
    """numpy.argmax (int64 indices, first occurrence)."""
    return _arg("argmax", x, axis, keepdims)


def argmin(x, axis=None, keepdims=False):
    """numpy.argmin (int64 indices, first occurrence)."""
    return _arg("argmin", x, axis, keepdims)
