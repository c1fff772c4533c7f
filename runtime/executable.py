"""Executable: calls a compiled entry point with numpy buffers.

It checks every input's shape and dtype *before* entering native code (native code
trusts its ABI), allocates the outputs and a workspace, passes variable storage by
pointer so compiled code updates variables in place, and turns a non-zero return code
into an exception.
"""
from __future__ import annotations

import ctypes
import functools
import sys
import threading

import ml_dtypes  # noqa: F401  (registers numpy's "bfloat16" dtype)
import numpy as np

from .buffers import aligned_empty, check_allocation
from .host_calls import raise_for

ENTRY_TYPE = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.POINTER(ctypes.c_void_p))
# graphc_run_steps(table, args): the generic interpreter of step tables (codegen/step_table.py)
TABLE_ENTRY_TYPE = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_void_p, ctypes.POINTER(ctypes.c_void_p))


def interface_address(a: np.ndarray) -> int:
    """Data pointer of an array, the portable way. (``a.ctypes.data`` would leave a
    reference cycle that keeps ``a`` alive until the garbage collector runs, defeating
    output recycling.)"""
    return a.__array_interface__["data"][0]


def _data_field_offset():
    """Byte offset of the ``data`` pointer in numpy's array object, or None.

    numpy's C struct (PyArrayObject_fields) starts with the object header and then
    ``char *data``; reading that field costs ~0.3 us against ~2 us for building
    ``__array_interface__``, which matters for calls on tiny arrays. The offset is
    derived from this interpreter's header size and confirmed on probe arrays (a view
    included); anything else (another Python implementation, a changed layout) keeps
    the portable ``address``."""
    if sys.implementation.name != "cpython":
        return None
    offset = object.__basicsize__
    base = np.arange(8, dtype=np.int64)
    for probe in (base, base[3:], np.zeros((2, 3), np.float32)):
        if ctypes.c_void_p.from_address(id(probe) + offset).value != interface_address(probe):
            return None
    return offset


_DATA_OFFSET = _data_field_offset()
_read_pointer = ctypes.c_void_p.from_address


def address(a: np.ndarray) -> int:
    """Data pointer of ``a`` (as ``interface_address``), read from the array object where
    the layout was confirmed at import."""
    if _DATA_OFFSET is None:
        return interface_address(a)
    return _read_pointer(id(a) + _DATA_OFFSET).value



def check_inputs(arrays, specs) -> list:
    """Validate arrays against (shape, dtype) specs before native code sees them; returns
    C-contiguous arrays (native code assumes row-major buffers)."""
    if len(arrays) != len(specs):
        raise TypeError(f"compiled function expects {len(specs)} array inputs, got {len(arrays)}")
    out = []
    for k, (a, (shape, dtype)) in enumerate(zip(arrays, specs)):
        if not isinstance(a, np.ndarray):
            raise TypeError(f"input {k}: expected a numpy array, got {type(a).__name__}")
        if isinstance(a, np.ma.MaskedArray):  # compiled code would silently ignore the mask
            raise TypeError(f"input {k}: masked arrays are not supported (the mask would be ignored); "
                            "pass a.filled(value) or a.data")
        if a.shape != shape or a.dtype.newbyteorder("=") != _DTYPES[dtype]:
            raise TypeError(f"input {k}: expected {dtype}{list(shape)}, got {a.dtype.name}{list(a.shape)}")
        if not a.flags.c_contiguous or not a.dtype.isnative:
            # a strided view (a broadcast input can be far larger than its memory) or a
            # foreign byte order: one C-contiguous native copy, checked before allocating
            check_allocation(a.shape, a.dtype, f"a contiguous copy of input {k}")
            a = np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("="))
        out.append(a)
    return out


# ml_dtypes (imported above) registers "bfloat16" with numpy
_DTYPES = {name: np.dtype(name) for name in ("bool", "int8", "int32", "int64", "float16", "bfloat16", "float32",
                                             "float64")}


class RuntimeFailure(RuntimeError):
    """Compiled code reported an error."""


class Executable:
    """Calls one compiled program.

    Buffers: one workspace per Executable (a second thread calling at the same time
    gets a private one), and output arrays are recycled: an output the caller has
    dropped (no reference left but ours) is reused by the next call, which spares the
    page faults of fresh large allocations."""

    def __init__(self, program, fn_addr: int, keepalive=None, table=None):
        """``fn_addr``: the program's entry ``i32 (i8** args)``; or, with ``table`` (an
        int64 step table, see codegen/step_table.py), the step interpreter
        ``i32 (i64* table, i8** args)``, bound here to the table."""
        self.program = program
        if table is None:
            self._fn = ENTRY_TYPE(fn_addr)
        else:
            self._table = table
            self._fn = functools.partial(TABLE_ENTRY_TYPE(fn_addr), table.ctypes.data)
        self._keepalive = keepalive
        self.inputs = [(tuple(b.shape), b.dtype) for b in program.inputs]
        self.outputs = [(tuple(b.shape), b.dtype) for b in program.outputs]
        self.variables = list(program.variables)
        self._workspace = aligned_empty(max(program.workspace_bytes, 64), "uint8", "the workspace")
        n = len(self.inputs) + len(self.outputs) + len(self.variables) + 1
        self._args_type = ctypes.c_void_p * n
        self._lock = threading.Lock()
        self._recycled = [None] * len(self.outputs)
        self._workspace_address = address(self._workspace)
        # per-call fast path: the exact dtype objects expected (numpy's native-order
        # singletons), and one argument array reused by the thread holding the lock
        self._input_specs = [(shape, np.dtype(dtype)) for shape, dtype in self.inputs]
        self._args = self._args_type()
        self._args[n - 1] = self._workspace_address

    def check_inputs(self, arrays):
        return check_inputs(arrays, self.inputs)

    def _outputs(self, owned: bool) -> list:
        """Output arrays (recycled when ``owned``: the caller holds the lock)."""
        outs = self._fresh_or_recycled(self.outputs, self._recycled if owned else None)
        if owned:
            self._recycled = [(o, o.base) for o in outs]
        return outs

    @classmethod
    def _fresh_or_recycled(cls, specs, recycled) -> list:
        """Arrays for (shape, dtype) ``specs``: a previous output (``recycled``: (array,
        base) per output, or None) is reused only when nothing but this Executable
        refers to it or to its memory (views of an array point at the buffer that owns
        the memory, so both the array and that owner are checked)."""
        outs = []
        for k, (shape, dtype) in enumerate(specs):
            entry = recycled[k] if recycled else None
            if entry is not None and cls._unreferenced(entry):
                outs.append(entry[0])
            else:
                outs.append(aligned_empty(shape, dtype, f"output {k}"))
        return outs

    def _fill_and_call(self, args, arrays, outs) -> int:
        """Put the inputs', outputs' and variables' addresses in the first slots of
        ``args`` (the slots after them are set up once) and run the native code."""
        k = 0
        for a in arrays:
            args[k] = address(a)
            k += 1
        for o in outs:
            args[k] = address(o)
            k += 1
        for var in self.variables:
            args[k] = address(var._storage_for_call())
            k += 1
        return self._fn(args)

    @staticmethod
    def _unreferenced(entry) -> bool:
        arr, owner = entry
        # arr: the tuple, the local name, getrefcount's argument.
        # owner: arr.base, the tuple, the local name, getrefcount's argument.
        return sys.getrefcount(arr) == 3 and sys.getrefcount(owner) == 4

    def _inputs_ready(self, arrays) -> bool:
        """True when every input already is what native code needs: a plain ndarray with
        exactly the expected shape and (native-order) dtype, C-contiguous. Then the
        full check_inputs, which would pass them through unchanged, is skipped."""
        specs = self._input_specs
        if len(arrays) != len(specs):
            return False
        for a, (shape, dtype) in zip(arrays, specs):
            if type(a) is not np.ndarray or a.dtype is not dtype or a.shape != shape or not a.flags.c_contiguous:
                return False
        return True

    def __call__(self, arrays):
        if not self._inputs_ready(arrays):
            arrays = self.check_inputs(arrays)  # raises on a mismatch; copies strided inputs
        if not self._lock.acquire(blocking=False):
            return self._call_concurrent(arrays)
        try:
            outs = self._outputs(True)
            rc = self._fill_and_call(self._args, arrays, outs)  # the workspace pointer sits in the last slot
        finally:
            self._lock.release()
        if rc != 0:
            raise_for(rc, RuntimeFailure)  # a host call's own exception, if one failed
        return outs

    def _call_concurrent(self, arrays):
        """A call while another thread is in: a private workspace, fresh outputs and its
        own argument array."""
        private = aligned_empty(self._workspace.shape, "uint8")  # kept alive for the call
        outs = self._outputs(False)
        var_arrays = [var._storage_for_call() for var in self.variables]
        ptrs = [address(a) for a in arrays] + [address(o) for o in outs] + \
               [address(v) for v in var_arrays] + [address(private)]
        rc = self._fn(self._args_type(*ptrs))
        if rc != 0:
            raise_for(rc, RuntimeFailure)  # a host call's own exception, if one failed
        return outs
