"""Array creation: zeros, ones, full (the "fill" op) and arange (the "iota" op).

These are ops rather than constants so a large zeros((4096, 4096)) costs no bytes in
the compiled object: the lowering emits the value from its index.
"""
from __future__ import annotations

import numpy as np

from .. import dtypes
from ..ir import TensorType
from ..tracing import bind, current_trace
from .registry import defop


def _fill_infer(types, attrs):
    return TensorType(tuple(attrs["shape"]), dtypes.canonical(attrs["dtype"]))


defop("fill", "elementwise", _fill_infer, lambda a: np.full(a["shape"], a["value"], dtype=a["dtype"]),
      emit=lambda kb, node, idx: kb.const(node.attrs["value"], node.type.dtype), vjp=lambda g, ins, out, a: [])


def _iota_infer(types, attrs):
    return TensorType((int(attrs["n"]),), dtypes.canonical(attrs["dtype"]))


def _iota_impl(a):
    return (a["start"] + a["step"] * np.arange(a["n"])).astype(a["dtype"])


def _iota_emit(kb, node, idx):
    dt = node.type.dtype
    v = kb.cast(idx[0], dt)
    if node.attrs["step"] != 1:
        v = kb.mul(v, kb.const(node.attrs["step"], dt))
    if node.attrs["start"] != 0:
        v = kb.add(v, kb.const(node.attrs["start"], dt))
    return v


defop("iota", "elementwise", _iota_infer, _iota_impl, emit=_iota_emit, vjp=lambda g, ins, out, a: [])


def _shape_tuple(shape):
    if isinstance(shape, (int, np.integer)):
        return (int(shape),)
    return tuple(d if isinstance(d, str) else int(d) for d in shape)  # str: a symbolic size (traced only)


def full(shape, fill_value, dtype=None):
    """numpy.full (traced as a fill op inside compile, an ndarray outside)."""
    if dtype is None:
        dtype = np.asarray(fill_value).dtype
        if dtype == np.float64 and isinstance(fill_value, float):
            dtype = np.float64
    dt = dtypes.canonical(dtype)
    shape = _shape_tuple(shape)
    value = np.asarray(fill_value).astype(dt).item()
    if current_trace() is None:
        return np.full(shape, value, dtype=dt)
    return bind("fill", [], shape=shape, value=value, dtype=dt)


def zeros(shape, dtype="float32"):
    """Zeros (float32 by default, as in TensorFlow; pass dtype for numpy's float64)."""
    return full(shape, 0, dtype)


def ones(shape, dtype="float32"):
    """Ones (float32 by default, as in TensorFlow)."""
    return full(shape, 1, dtype)


def arange(start, stop=None, step=1, dtype=None):
    """numpy.arange."""
    if stop is None:
        start, stop = 0, start
    if dtype is None:
        dtype = np.arange(start, stop, step).dtype if (stop - start) * step > 0 else np.result_type(start, stop, step)
    dt = dtypes.canonical(dtype)
    n = max(0, int(np.ceil((stop - start) / step)))
    if current_trace() is None:
        return np.arange(start, stop, step, dtype=dt)
    return bind("iota", [], n=n, start=start, step=step, dtype=dt)
