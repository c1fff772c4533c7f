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
    name = np.dtype(dtype).name
    if name not in SUPPORTED:
        raise DTypeError(f"dtype {name} is not supported (supported: {', '.join(SUPPORTED)})")
    return name


def is_float(dtype: str) -> bool:
    return dtype in FLOATS


def is_int(dtype: str) -> bool:
    return dtype in INTS


def itemsize(dtype: str) -> int:
    return np.dtype(dtype).itemsize


def result_type(*operands) -> str:
    """numpy's result dtype for operands that are dtype names or Python scalars (weak)."""
    args = []
    for o in operands:
        if isinstance(o, (bool, int, float)) and not isinstance(o, np.generic):
            args.append(o)
        else:
            args.append(np.dtype(o))
    name = np.result_type(*args).name
    return canonical(name)
