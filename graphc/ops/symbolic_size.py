"""``dim_size``: the run-time product of some dimensions, symbolic ones included.

``mean`` over a symbolic axis divides by a count known only when the function is
called; this op is that count (float, the mean's dtype): the product of its ``dims``
(ints, and symbols read from the sizes the compiled code receives). It is not pure, so
constant folding never evaluates it at trace time.
"""
from __future__ import annotations

import numpy as np

from .. import dtypes
from ..errors import GraphcError
from ..ir import TensorType
from ..tracing import bind
from .registry import defop


def _infer(types, attrs):
    return TensorType((), dtypes.canonical(attrs["dtype"]))


def _impl(attrs):
    raise GraphcError(f"dim_size{tuple(attrs['dims'])}: symbolic sizes have values only in compiled code")


def _emit(kb, node, idx):
    total = kb.index(1)
    for d in node.attrs["dims"]:
        total = kb.imul(total, kb.index(d))
    return kb.cast(total, node.type.dtype)


defop("dim_size", "elementwise", _infer, _impl, emit=_emit, vjp=lambda g, ins, out, a: [], pure=False)


def _no_gpu_kernel():
    from ..passes.placement import NO_GPU_KERNEL

    NO_GPU_KERNEL.add("dim_size")  # symbolic programs are compiled for the CPU only


_no_gpu_kernel()


def dim_size(dims, dtype):
    """The product of ``dims`` (ints and symbols) as a scalar of ``dtype``; an ndarray
    when every dim is an int."""
    if not any(isinstance(d, str) for d in dims):
        return np.asarray(int(np.prod(dims, dtype=np.int64)), dtype=dtype)
    return bind("dim_size", [], dims=tuple(dims), dtype=dtypes.canonical(dtype))
