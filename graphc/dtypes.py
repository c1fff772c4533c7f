"""The dtypes graphc compiles, and numpy's promotion rules for them.

graphc follows numpy 2 (NEP 50): Python scalars are "weak" and take the array's dtype
where they fit, so ``x_float32 * 1.5`` stays float32 as users of numpy and JAX expect.

float16 and bfloat16 are *storage* types: values of these dtypes are computed in
float32 and rounded to the storage type after every op (``compute_dtype``), as numpy
computes float16. bfloat16 is ml_dtypes' numpy dtype (the one JAX and TensorFlow use);
importing ml_dtypes registers it with numpy, so ``np.dtype("bfloat16")`` works and
numpy's promotion covers it (bfloat16 + float16 -> float32, int8 + bfloat16 -> bfloat16).
"""
from __future__ import annotations

import ml_dtypes  # noqa: F401  (registers numpy's "bfloat16" dtype)
import numpy as np

from .errors import DTypeError

SUPPORTED = ("bool", "int8", "int32", "int64", "float16", "bfloat16", "float32", "float64")
FLOATS = ("float16", "bfloat16", "float32", "float64")
INTS = ("int8", "int32", "int64")
# Storage-only floats: loaded into float32, computed there, rounded back when produced.
NARROW_FLOATS = ("float16", "bfloat16")


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


def is_narrow_float(dtype: str) -> bool:
    """float16 or bfloat16: stored narrow, computed in float32."""
    return dtype in NARROW_FLOATS


def compute_dtype(dtype: str) -> str:
    """The dtype a value of ``dtype`` is computed in: float32 for the narrow floats."""
    return "float32" if dtype in NARROW_FLOATS else dtype


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
