"""Aligned host buffers: 64-byte alignment so vector loads never straddle cache lines."""
from __future__ import annotations

import functools
import math
import os

import numpy as np

from ..errors import OutOfMemoryError

ALIGN = 64
_INTP_MAX = int(np.iinfo(np.intp).max)


@functools.lru_cache(maxsize=None)
def physical_memory_bytes() -> int | None:
    """This machine's RAM (None where the OS does not say); read once per process (every
    output allocation checks against it)."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_allocation(shape, dtype, what: str = "array") -> int:
    """Bytes of a ``dtype[shape]`` buffer, or OutOfMemoryError at once when it cannot be
    had: larger than 64-bit sizes or than the machine's RAM (with overcommit, such an
    allocation may "succeed" and then page forever instead of failing)."""
    dtype = np.dtype(dtype)
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    nbytes = math.prod(int(d) for d in shape) * dtype.itemsize
    ram = physical_memory_bytes()
    if nbytes > _INTP_MAX or (ram is not None and nbytes > ram):
        limit = f"this machine has {_gib(ram)}" if ram is not None else "more than 64-bit sizes allow"
        raise OutOfMemoryError(f"cannot allocate {what} {dtype.name}{list(shape)} ({_gib(nbytes)}): {limit}")
    return nbytes


def _gib(nbytes: int) -> str:
    return f"{nbytes / 2**30:.3g} GiB"


def aligned_empty(shape, dtype, what: str = "array") -> np.ndarray:
    dtype = np.dtype(dtype)
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    n = check_allocation(shape, dtype, what)
    try:
        raw = np.empty(n + ALIGN, dtype=np.uint8)
    except MemoryError:
        raise OutOfMemoryError(f"cannot allocate {what} {dtype.name}{list(shape)} ({_gib(n)}): "
                               "out of memory") from None
    off = (-raw.ctypes.data) % ALIGN
    return raw[off:off + n].view(dtype).reshape(shape)


def aligned_copy(a) -> np.ndarray:
    a = np.asarray(a)
    out = aligned_empty(a.shape, a.dtype)
    out[...] = a
    return out
