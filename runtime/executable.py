"""Executable: calls a compiled entry point with numpy buffers.

It checks every input's shape and dtype *before* entering native code (native code
trusts its ABI), allocates the outputs and a workspace, passes variable storage by
pointer so compiled code updates variables in place, and turns a non-zero return code
into an exception.
"""
from __future__ import annotations

import ctypes

import numpy as np

from .buffers import aligned_empty

ENTRY_TYPE = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.POINTER(ctypes.c_void_p))


class RuntimeFailure(RuntimeError):
    """Compiled code reported an error."""


class Executable:
    def __init__(self, program, fn_addr: int, keepalive=None):
        self.program = program
        self._fn = ENTRY_TYPE(fn_addr)
        self._keepalive = keepalive
        self.inputs = [(tuple(b.shape), b.dtype) for b in program.inputs]
        self.outputs = [(tuple(b.shape), b.dtype) for b in program.outputs]
        self.variables = list(program.variables)
        self._workspace = aligned_empty(max(program.workspace_bytes, 64), "uint8")
        n = len(self.inputs) + len(self.outputs) + len(self.variables) + 1
        self._args_type = ctypes.c_void_p * n

    def check_inputs(self, arrays):
        if len(arrays) != len(self.inputs):
            raise TypeError(f"compiled function expects {len(self.inputs)} array inputs, got {len(arrays)}")
        out = []
        for k, (a, (shape, dtype)) in enumerate(zip(arrays, self.inputs)):
            if not isinstance(a, np.ndarray):
                raise TypeError(f"input {k}: expected a numpy array, got {type(a).__name__}")
            if a.shape != shape or a.dtype.name != dtype:
                raise TypeError(f"input {k}: expected {dtype}{list(shape)}, got {a.dtype.name}{list(a.shape)}")
            out.append(a if a.flags.c_contiguous else np.array(a, order="C"))
        return out

    def __call__(self, arrays):
        arrays = self.check_inputs(arrays)
        outs = [aligned_empty(shape, dtype) for shape, dtype in self.outputs]
        var_arrays = []
        for var in self.variables:
            storage = var._storage_for_call()
            var_arrays.append(storage)
        ptrs = [a.ctypes.data for a in arrays] + [o.ctypes.data for o in outs] + \
               [v.ctypes.data for v in var_arrays] + [self._workspace.ctypes.data]
        args = self._args_type(*ptrs)
        rc = self._fn(args)
        if rc != 0:
            raise RuntimeFailure(f"compiled code returned error code {rc}")
        return outs
