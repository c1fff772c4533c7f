"""Helpers shared by op definitions: broadcasting, axis normalization, operand conversion."""
from __future__ import annotations

import operator

import numpy as np

from .. import dtypes
from ..errors import ArgumentError, DTypeError, ScalarOverflowError, ShapeError, user_source_line
from ..ir import TensorType
from ..tracing import Tensor, bind, static_type


def broadcast_shapes(*shapes) -> tuple:
    """numpy broadcasting of shapes, or ShapeError."""
    first = shapes[0] if shapes else ()
    if type(first) is tuple and all(s == first for s in shapes):  # the common case: equal shapes
        return first
    ndim = max((len(s) for s in shapes), default=0)
    out = []
    for k in range(ndim):
        dims = {s[len(s) - ndim + k] for s in shapes if len(s) - ndim + k >= 0}
        dims.discard(1)
        if len(dims) > 1:
            raise ShapeError(f"shapes {' and '.join(str(tuple(s)) for s in shapes)} cannot be broadcast together")
        out.append(dims.pop() if dims else 1)
    return tuple(out)


def axis_index(axis) -> int:
    """An axis as an int; floats, bools and strings are refused (numpy raises TypeError)."""
    try:
        if isinstance(axis, (bool, np.bool_)):
            raise TypeError
        return operator.index(axis)
    except TypeError:
        raise ArgumentError(f"axis must be an integer, got {type(axis).__name__} {axis!r}\n"
                            f"  at {user_source_line()}") from None


def normalize_axis(axis: int, ndim: int) -> int:
    axis = axis_index(axis)
    if not -ndim <= axis < max(ndim, 1) or (ndim == 0 and axis not in (0, -1)):
        raise ShapeError(f"axis {axis} is out of bounds for an array of dimension {ndim}")
    return axis % ndim if ndim else 0


def normalize_axes(axis, ndim: int) -> tuple:
    """None -> all axes; int or tuple -> sorted tuple of non-negative axes."""
    if axis is None:
        return tuple(range(ndim))
    if not isinstance(axis, (tuple, list)):
        axis = (axis,)
    axes = tuple(sorted(normalize_axis(a, ndim) for a in axis))
    if len(set(axes)) != len(axes):
        raise ShapeError(f"repeated axis in {axis}")
    return axes


def broadcast_index(kb, node, out_shape, idx) -> list:
    """The multi-index of ``node`` (broadcastable to out_shape) read at output ``idx``."""
    shape = node.type.shape
    offset = len(out_shape) - len(shape)
    return [kb.index(0) if d == 1 else idx[offset + k] for k, d in enumerate(shape)]


def read_broadcast(kb, node, out_shape, idx):
    """Value of ``node`` (broadcastable to out_shape) at output multi-index ``idx``."""
    return kb.read(node, broadcast_index(kb, node, out_shape, idx))


def dtype_of(x) -> str:
    return static_type(x).dtype


def shape_of(x) -> tuple:
    return static_type(x).shape


def cast_to(x, dtype: str):
    """Convert an operand to ``dtype`` (python scalars become constants of that dtype)."""
    if isinstance(x, (bool, int, float)) and not isinstance(x, np.generic):
        try:
            return np.asarray(x, dtype=dtype)
        except OverflowError:
            raise ScalarOverflowError(f"Python integer {x} out of bounds for {dtype}\n  at {user_source_line()}") from None
    if dtype_of(x) == dtype:
        return x
    return bind("cast", [x], dtype=dtype)


def promote(*xs, float_only=False):
    """Cast operands to numpy's common dtype (python scalars weak, NEP 50)."""
    dts = [x if isinstance(x, (bool, int, float)) and not isinstance(x, np.generic) else dtype_of(x) for x in xs]
    dt = dtypes.result_type(*dts)
    if float_only and not dtypes.is_float(dt):
        dt = "float64" if dt != "bool" else "float32"
    return dt, [cast_to(x, dt) for x in xs]


def same_dtype(types, opname=""):
    dts = {t.dtype for t in types}
    if len(dts) > 1:
        raise DTypeError(f"operands must have one dtype, got {', '.join(sorted(dts))}")
    return dts.pop()


def require_float(t: TensorType):
    if not dtypes.is_float(t.dtype):
        raise DTypeError(f"needs a floating-point operand, got {t.dtype}")


def sum_to_shape(g, shape):
    """Reduce a broadcast gradient back to an operand's shape (gradient of broadcasting)."""
    from .reductions import sum as reduce_sum
    from .shape_ops import reshape

    gshape = shape_of(g)
    if tuple(gshape) == tuple(shape):
        return g
    lead = len(gshape) - len(shape)
    axes = tuple(range(lead)) + tuple(lead + k for k, d in enumerate(shape) if d == 1 and gshape[lead + k] != 1)
    if axes:
        g = reduce_sum(g, axis=axes)
    return reshape(g, shape)
