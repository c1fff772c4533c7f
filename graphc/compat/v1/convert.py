"""Converting operands the way TF 1.x does: Python values take the other operand's dtype.

A Python scalar or list next to a float32 tensor becomes a float32 constant (not
float64 as numpy would make it); two tensors of different dtypes are a TypeError, as
in TF, instead of being silently promoted.
"""
from __future__ import annotations

import numpy as np

from ...tracing import Tensor as GcTensor
from .dtypes import as_dtype, dtype_of_value
from .graph import Tensor, _is_variable
from .shapes import Dimension, TensorShape


def is_graph_value(x) -> bool:
    """A v1 Tensor or Variable (or a graphc Tensor, when a v1 function runs inside a replay)."""
    return isinstance(x, (Tensor, GcTensor)) or _is_variable(x)


def as_operand(x, dtype=None):
    """A Tensor/Variable stays as is; a Python/numpy value becomes an array of ``dtype``."""
    if is_graph_value(x):
        return x
    if isinstance(x, (Dimension, TensorShape)):
        x = int(x) if isinstance(x, Dimension) else x.as_list()
    dt = as_dtype(dtype) if dtype is not None else dtype_of_value(x)
    arr = np.asarray(x)
    if (dt.is_integer or dt.is_bool) and arr.dtype.kind == "f" and not np.all(arr == np.round(arr)):
        raise TypeError(f"Expected {dt.name}, got {x!r} of type '{type(x).__name__}' instead.")
    return np.asarray(arr, dtype=dt.as_numpy_dtype)


def match_operands(op_type, x, y):
    """Both operands with one dtype (TF's rule for binary ops)."""
    xg, yg = is_graph_value(x), is_graph_value(y)
    if xg and yg:
        if as_dtype(x.dtype) != as_dtype(y.dtype):
            raise TypeError(f"Input 'y' of '{op_type}' Op has type {y.dtype.name} that does not match type "
                            f"{x.dtype.name} of argument 'x'.")
        return x, y
    if xg:
        return x, as_operand(y, x.dtype)
    if yg:
        return as_operand(x, y.dtype), y
    x = as_operand(x)
    return x, as_operand(y, x.dtype)


def shape_arg(shape):
    """A shape argument: a list of ints (Dimensions converted), or a Tensor resolved at run time."""
    if is_graph_value(shape):
        return shape
    if isinstance(shape, TensorShape):
        return tuple(shape.as_list())
    if isinstance(shape, (int, np.integer, Dimension)):
        return (int(shape),)
    return tuple(s if is_graph_value(s) else int(s) for s in shape)


def static_shape(value):
    """At replay: a shape argument's concrete tuple. Its parts may be numbers or values
    derived from tf.shape (numpy at replay), not computed tensors."""
    parts = list(value) if isinstance(value, (tuple, list)) else [value]
    if any(hasattr(p, "node") for p in parts):
        raise TypeError("a shape argument must be known when the graph is compiled "
                        "(numbers, or derived from tf.shape), not a computed tensor")
    return tuple(int(d) for p in parts for d in np.asarray(p).reshape(-1))
