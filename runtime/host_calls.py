"""Host calls: compiled code calling a Python function of this process in the middle of a program.

A ``host_call`` node (graphc/ops/host_call.py) lowers to one call of a C-ABI
trampoline, ``int32 graphc_host_call(int64 id, void *in, void *out)``. The JIT resolves
that symbol by name to a ctypes callback made here once per process, so compiled code
never holds a Python object's address: ``id`` is derived from the function's *key*
(a string), which keeps programs and kernels in the disk caches valid in a later
process that registers the same key.

Why a callback and not two programs with Python in between: the data stays in the
buffers the compiled code produced (the function gets numpy views of them, no copies),
and one native call still runs the whole step, so everything before and after the host
call is fused and planned as usual. graphc.distributed uses it for the gradient
Allreduce.

Errors: an exception in the function is kept for the calling thread and the trampoline
returns ``HOST_ERROR``; the entry function returns that code at once (nothing after the
call runs) and the executable re-raises the kept exception (``raise_for``).
"""
from __future__ import annotations

import ctypes
import hashlib
import threading

import numpy as np

SYMBOL = "graphc_host_call"
HOST_ERROR = 0x4853  # returned by the trampoline when the Python function raised

_TRAMPOLINE_TYPE = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_int64, ctypes.c_void_p, ctypes.c_void_p)


class HostFunction:
    """One registered function: ``fn(x, out)`` with numpy views of the call's buffers."""

    def __init__(self, key, fn, in_shape, in_dtype, out_shape, out_dtype):
        self.key, self.fn = key, fn
        self.in_shape, self.in_dtype = tuple(in_shape), np.dtype(in_dtype)
        self.out_shape, self.out_dtype = tuple(out_shape), np.dtype(out_dtype)
        self._views: dict = {}  # address -> view (workspaces are reused call after call)

    def view(self, address, shape, dtype) -> np.ndarray:
        v = self._views.get((address, shape, dtype))
        if v is None:
            nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
            raw = (ctypes.c_char * max(nbytes, 1)).from_address(address)
            v = np.frombuffer(raw, dtype=dtype, count=int(np.prod(shape, dtype=np.int64))).reshape(shape)
            if len(self._views) > 16:
                self._views.clear()
            self._views[(address, shape, dtype)] = v
        return v


_FUNCTIONS: dict = {}           # id -> HostFunction
_pending = threading.local()    # the exception of the last failed host call, per thread
_lock = threading.Lock()


def function_id(key: str) -> int:
    """A stable, positive int64 for ``key`` (the same in every process)."""
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "little") & ((1 << 63) - 1)


def register(key: str, fn, in_shape, in_dtype, out_shape=None, out_dtype=None) -> int:
    """Register ``fn(x, out)`` under ``key`` (re-registering replaces it); returns its id."""
    _install()
    fid = function_id(key)
    with _lock:
        _FUNCTIONS[fid] = HostFunction(key, fn, in_shape, in_dtype,
                                       in_shape if out_shape is None else out_shape,
                                       in_dtype if out_dtype is None else out_dtype)
    return fid


def lookup(fid: int) -> HostFunction:
    f = _FUNCTIONS.get(fid)
    if f is None:
        raise KeyError(f"no host function with id {fid} is registered in this process")
    return f


def call_eager(fid: int, x: np.ndarray) -> np.ndarray:
    """The reference path (interpreter, eager ops): the same function on numpy arrays."""
    f = lookup(fid)
    x = np.ascontiguousarray(x, dtype=f.in_dtype).reshape(f.in_shape)
    out = np.empty(f.out_shape, f.out_dtype)
    f.fn(x, out)
    return out


def _trampoline(fid, in_addr, out_addr):
    try:
        f = lookup(fid)
        f.fn(f.view(in_addr or 0, f.in_shape, f.in_dtype), f.view(out_addr or 0, f.out_shape, f.out_dtype))
        return 0
    except BaseException as e:  # noqa: BLE001 - re-raised by the executable (KeyboardInterrupt too)
        _pending.error = e
        return HOST_ERROR


_callback = None


def _install() -> None:
    """Make ``graphc_host_call`` resolvable by the JIT (once per process)."""
    global _callback
    if _callback is not None:
        return
    import llvmlite.binding as llvm

    with _lock:
        if _callback is None:
            cb = _TRAMPOLINE_TYPE(_trampoline)
            llvm.add_symbol(SYMBOL, ctypes.cast(cb, ctypes.c_void_p).value)
            _callback = cb  # kept alive for the life of the process


def raise_for(rc: int, failure_type):
    """Raise the exception of a failed host call (rc == HOST_ERROR), else ``failure_type``."""
    error = getattr(_pending, "error", None) if rc == HOST_ERROR else None
    if error is not None:
        _pending.error = None
        raise error
    raise failure_type(f"compiled code returned error code {rc}")
