"""The dtypes graphc compiles, and numpy's promotion rules for them.

graphc follows numpy 2 (NEP 50): Python scalars are "weak" and take the array's dtype
where they fit, so ``x_float32 * 1.5`` stays float32 as users of numpy and JAX expect.
"""
from __future__ import annotations

import numpy as np

from .errors import DTypeError

SUPPORTED = ("bool", "int32", "int64", "float32", "float64")
FLOATS = ("float32", "float64")
INTS = ("int32", "int64")


def canonical(dtype) -> str:
    """Name of a supported dtype, or DTypeError."""
    if type(dtype) is str and dtype in SUPPORTED:  # the common case, without numpy's dtype lookup
        return dtype
    name = dtype_name(dtype) if isinstance(dtype, np.dtype) else np.dtype(dtype).name
    if name not in SUPPORTED:
        raise DTypeError(f"dtype {name} is not supported (supported: {', '.join(SUPPORTED)})")
    return name


def dtype_name(dt: np.dtype) -> str:
    """``dt.name``, memoized (numpy computes the name string on every access; tracing
    asks for it per op)."""
    name = _dtype_names.get(dt)
    if name is None:
        name = _dtype_names[dt] = dt.name
    return name


_dtype_names: dict = {}


def is_float(dtype: str) -> bool:
    return dtype in FLOATS


def is_int(dtype: str) -> bool:
    return dtype in INTS


def itemsize(dtype: str) -> int:
    return np.dtype(dtype).itemsize


def result_type(*operands) -> str:
    """numpy's result dtype for operands that are dtype names or Python scalars (weak)."""
    if all(type(o) is str for o in operands):  # dtype names only: memoized (tracing calls this per op)
        hit = _result_types.get(operands)
        if hit is None:
            hit = _result_types[operands] = canonical(np.result_type(*[np.dtype(o) for o in operands]).name)
        return hit
    args = []
    for o in operands:
        if isinstance(o, (bool, int, float)) and not isinstance(o, np.generic):
            args.append(o)
        else:
            args.append(np.dtype(o))
    name = np.result_type(*args).name
    return canonical(name)


_result_types: dict = {}  # tuple of dtype names -> result dtype name
