"""TF 1.x dtypes (tf.float32 ...) as thin objects over graphc's dtype names.

Why objects and not strings: book code reads ``x.dtype.name``, ``dtype.is_floating``
and compares dtypes with numpy types; a DType answers all of these and maps to the
dtype name graphc compiles (``tf.string`` exists only for summary tensors).
"""
from __future__ import annotations

import builtins

import ml_dtypes
import numpy as np


class DType:
    __slots__ = ("name", "_np")

    def __init__(self, name: str, np_type):
        self.name = name
        self._np = np_type

    @property
    def as_numpy_dtype(self):
        return self._np

    @property
    def base_dtype(self):
        return self

    @property
    def is_floating(self):
        return self.name in ("float16", "bfloat16", "float32", "float64")

    @property
    def is_integer(self):
        return self.name in ("int8", "int16", "int32", "int64", "uint8")

    @property
    def is_bool(self):
        return self.name == "bool"

    @property
    def size(self):
        return np.dtype(self._np).itemsize

    def __eq__(self, other):
        try:
            return self.name == as_dtype(other).name
        except (TypeError, ValueError):
            return False

    def __ne__(self, other):
        return not self == other

    def __hash__(self):
        return hash(self.name)

    def __repr__(self):
        return f"tf.{self.name}"


float16 = DType("float16", np.float16)
bfloat16 = DType("bfloat16", ml_dtypes.bfloat16)
float32 = DType("float32", np.float32)
float64 = DType("float64", np.float64)
int8 = DType("int8", np.int8)
int16 = DType("int16", np.int16)
int32 = DType("int32", np.int32)
int64 = DType("int64", np.int64)
uint8 = DType("uint8", np.uint8)
bool = DType("bool", np.bool_)  # noqa: A001  (tf.bool)
string = DType("string", np.object_)
half, double = float16, float64

_BY_NAME = {d.name: d for d in (float16, bfloat16, float32, float64, int8, int16, int32, int64, uint8, bool, string)}
_BY_NAME["bool_"] = bool

# TF's own dtype names (tensorflow/python/framework/dtypes.py, _STRING_TO_TF): "float" is
# float32, "double" float64, "half" float16. Strings are looked up here, never through
# numpy, whose "float" is float64 and "int" int64 (TF has no "int": a TypeError there too).
_TF_STRINGS = dict(_BY_NAME, half=float16, float=float32, double=float64)
del _TF_STRINGS["bool_"]
_TF_UNSUPPORTED = {"uint16", "uint32", "uint64", "complex64", "complex128", "complex", "qint8",
                   "quint8", "qint16", "quint16", "qint32", "resource", "variant"}


def as_dtype(x) -> DType:
    """DType of a DType, a name, a numpy dtype/type or a Python type (float -> float32, as TF)."""
    if isinstance(x, DType):
        return x
    if x is float:
        return float32
    if x is int:
        return int32
    if x is builtins.bool:
        return bool
    if x is str or x is bytes:
        return string
    if isinstance(x, str):
        if x in _TF_STRINGS:
            return _TF_STRINGS[x]
        if x in _TF_UNSUPPORTED:
            raise TypeError(f"dtype {x!r} is a TensorFlow dtype that graphc does not support")
        raise TypeError(f"Cannot convert value {x!r} to a TensorFlow DType (TF's names: "
                        f"{', '.join(sorted(_TF_STRINGS))})")
    try:
        name = np.dtype(x).name
    except TypeError:
        raise TypeError(f"cannot convert {x!r} to a dtype") from None
    if name not in _BY_NAME:
        raise TypeError(f"dtype {name} is not supported")
    return _BY_NAME[name]


def dtype_of_value(value) -> DType:
    """The dtype TF gives a Python/numpy value: Python floats float32, ints int32."""
    if isinstance(value, np.ndarray) or isinstance(value, np.generic):
        return as_dtype(value.dtype)
    arr = np.asarray(value)
    if arr.dtype == np.float64:
        return float32
    if arr.dtype == np.int64:
        return int32
    if arr.dtype.kind in "USO":
        return string
    return as_dtype(arr.dtype)
