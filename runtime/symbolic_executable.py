"""SymbolicExecutable: calls a program compiled with symbolic dimensions.

Each call binds the symbols from its input arrays (equal names must agree; checked
before native code, the error names the symbol and the arguments), then passes the
entry two more arguments: the workspace offsets placed for these sizes (the memory
plan is a function of the symbols) and the table of symbol values the kernels read.
The per-size state (workspace, offsets, sizes) is kept for the last few sizes seen.
"""
from __future__ import annotations

import collections
import ctypes
import threading

import numpy as np

from ..errors import GraphcError
from .buffers import aligned_empty
from .executable import _DTYPES, Executable, RuntimeFailure, address
from .host_calls import raise_for

# sizes whose workspace is kept (an inference server alternating a few batch sizes
# reuses them; others are placed again, which costs microseconds)
KEEP_BINDINGS = 8


class SymbolicExecutable(Executable):
    def __init__(self, program, fn_addr: int, keepalive=None, table=None):
        super().__init__(program, fn_addr, keepalive, table)
        self.symbols = list(program.symbols)
        n = len(self.inputs) + len(self.outputs) + len(self.variables) + 3
        self._args_type = ctypes.c_void_p * n
        self._bindings: collections.OrderedDict = collections.OrderedDict()
        self._bindings_lock = threading.Lock()

    def bind(self, arrays) -> dict:
        """Symbol values from the inputs (GraphcError naming the symbol on a mismatch)."""
        if len(arrays) != len(self.inputs):
            raise TypeError(f"compiled function expects {len(self.inputs)} array inputs, got {len(arrays)}")
        binding, where = {}, {}
        for k, (a, (spec, dtype)) in enumerate(zip(arrays, self.inputs)):
            if not isinstance(a, np.ndarray):
                raise TypeError(f"input {k}: expected a numpy array, got {type(a).__name__}")
            if a.dtype != _DTYPES[dtype] or a.ndim != len(spec):
                raise TypeError(f"input {k}: expected {dtype}[{', '.join(map(str, spec))}], "
                                f"got {a.dtype.name}{list(a.shape)}")
            for axis, (d, n) in enumerate(zip(spec, a.shape)):
                if isinstance(d, str):
                    if d in binding and binding[d] != n:
                        k0, ax0 = where[d]
                        raise GraphcError(f"symbolic dimension {d!r} is {binding[d]} in input {k0} (axis {ax0}) "
                                          f"but {n} in input {k} (axis {axis}): arrays sharing a symbol must agree")
                    binding[d] = n
                    where[d] = (k, axis)
                elif d != n:
                    raise TypeError(f"input {k}: expected {dtype}[{', '.join(map(str, spec))}], "
                                    f"got {a.dtype.name}{list(a.shape)} (axis {axis} must be {d})")
        return binding

    def _state(self, binding):
        key = tuple(binding[s] for s in self.symbols)
        st = self._bindings.get(key)
        if st is None:
            offsets, size = self.program.workspace_for(binding)
            table = np.zeros(max(len(offsets), 1), np.int64)
            for vid, off in offsets.items():
                table[vid] = off
            sizes = np.array(key if key else (0,), np.int64)
            st = (aligned_empty(max(size, 64), "uint8", "the workspace"), table, sizes, size)
            self._bindings[key] = st
            while len(self._bindings) > KEEP_BINDINGS:
                self._bindings.popitem(last=False)
        else:
            self._bindings.move_to_end(key)
        return st

    def __call__(self, arrays):
        binding = self.bind(arrays)
        arrays = [a if a.flags.c_contiguous else np.array(a, order="C") for a in arrays]
        with self._bindings_lock:
            workspace, table, sizes, size = self._state(binding)
        owned = self._lock.acquire(blocking=False)
        try:
            if not owned:  # another thread is in: private workspace for this call
                workspace = aligned_empty(max(size, 64), "uint8", "the workspace")
            outs = [aligned_empty(tuple(binding[d] if isinstance(d, str) else d for d in shape), dtype, f"output {k}")
                    for k, (shape, dtype) in enumerate(self.outputs)]
            var_arrays = [var._storage_for_call() for var in self.variables]
            ptrs = [address(a) for a in arrays] + [address(o) for o in outs] + \
                   [address(v) for v in var_arrays] + [address(workspace), address(table), address(sizes)]
            rc = self._fn(self._args_type(*ptrs))
        finally:
            if owned:
                self._lock.release()
        if rc != 0:
            raise_for(rc, RuntimeFailure)  # a host call's own exception, if one failed
        return outs
