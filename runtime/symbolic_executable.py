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
from ..symbolic import complete_binding, is_derived
from .buffers import aligned_empty
from .executable import _DTYPES, Executable, RuntimeFailure, address
from .host_calls import raise_for

# sizes whose workspace is kept (an inference server alternating a few batch sizes
# reuses them; others are placed again, which costs microseconds)
KEEP_BINDINGS = 8


class _SizeState:
    """What a SymbolicExecutable keeps per binding of its symbols (see ``_state``)."""

    __slots__ = ("workspace", "table", "sizes", "size", "out_specs", "args", "recycled")

    def __init__(self, workspace, table, sizes, size, out_specs, args):
        self.workspace, self.table, self.sizes, self.size = workspace, table, sizes, size
        self.out_specs, self.args, self.recycled = out_specs, args, None  # out_specs: (shape, dtype) per output


class SymbolicExecutable(Executable):
    def __init__(self, program, fn_addr: int, keepalive=None, table=None):
        super().__init__(program, fn_addr, keepalive, table)
        self.symbols = list(program.symbols)
        self._derived = any(is_derived(s) for s in self.symbols)
        n = self._abi_args = len(self.inputs) + len(self.outputs) + len(self.variables) + 3
        self._args_type = ctypes.c_void_p * n
        self._bindings: collections.OrderedDict = collections.OrderedDict()
        self._bindings_lock = threading.Lock()
        # fast path (_fast_key): per input its exact dtype object, rank, and per axis the
        # static size (>= 0) or -1 - the symbol's index
        self._fast_specs = [
            (np.dtype(dtype), len(shape),
             tuple((axis, -1 - self.symbols.index(d) if isinstance(d, str) else int(d)) for axis, d in enumerate(shape)))
            for shape, dtype in self.inputs]

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
        return complete_binding(binding, self.symbols)  # and the derived symbols (64*batch)

    def _state(self, binding):
        """Per-size state: workspace, offsets table, sizes, workspace bytes; plus, for the
        fast path, the outputs' (shape, dtype), an argument array whose last three slots hold the
        workspace, offsets and sizes, and the outputs to recycle."""
        key = tuple(binding[s] for s in self.symbols)
        st = self._bindings.get(key)
        if st is None:
            offsets, size = self.program.workspace_for(binding)
            table = np.zeros(max(len(offsets), 1), np.int64)
            for vid, off in offsets.items():
                table[vid] = off
            sizes = np.array(key if key else (0,), np.int64)
            workspace = aligned_empty(max(size, 64), "uint8", "the workspace")
            out_specs = [(tuple(binding[d] if isinstance(d, str) else d for d in shape), dtype)
                         for shape, dtype in self.outputs]
            args = self._args_type()
            n = self._abi_args  # a subclass's array may carry more slots after these
            args[n - 3], args[n - 2], args[n - 1] = address(workspace), address(table), address(sizes)
            self._fill_extra_args(args)
            st = _SizeState(workspace, table, sizes, size, out_specs, args)
            self._bindings[key] = st
            while len(self._bindings) > KEEP_BINDINGS:
                self._bindings.popitem(last=False)
        else:
            self._bindings.move_to_end(key)
        return st

    def _fill_extra_args(self, args) -> None:
        """Slots after the ABI's arguments in a per-size argument array (none here; the
        profiled entry passes its record buffer there)."""

    def _fast_key(self, arrays):
        """The symbols' values when every input already is what native code needs (a
        plain C-contiguous ndarray of the exact dtype, rank and static sizes, equal
        symbols agreeing), else None: ``bind`` then checks and explains."""
        specs = self._fast_specs
        if len(arrays) != len(specs):
            return None
        values = [None] * len(self.symbols)
        for a, (dtype, ndim, dims) in zip(arrays, specs):
            if type(a) is not np.ndarray or a.dtype is not dtype or a.ndim != ndim or not a.flags.c_contiguous:
                return None
            shape = a.shape
            for axis, code in dims:
                n = shape[axis]
                if code >= 0:
                    if n != code:
                        return None
                else:
                    v = values[-1 - code]
                    if v is None:
                        values[-1 - code] = n
                    elif v != n:
                        return None
        return values

    def __call__(self, arrays):
        values = self._fast_key(arrays)
        if values is None:
            binding = self.bind(arrays)  # raises naming the input, axis or symbol
            arrays = [a if a.flags.c_contiguous else np.array(a, order="C") for a in arrays]
        else:
            binding = dict(zip(self.symbols, values))
            if self._derived:  # products such as 64*batch: computed from the bound symbols
                complete_binding(binding, self.symbols)
        with self._bindings_lock:
            st = self._state(binding)
        if not self._lock.acquire(blocking=False):
            return self._call_private(arrays, st)
        try:
            outs = self._fresh_or_recycled(st.out_specs, st.recycled)
            st.recycled = [(o, o.base) for o in outs]
            rc = self._fill_and_call(st.args, arrays, outs)  # workspace, offsets, sizes: set in _state
        finally:
            self._lock.release()
        if rc != 0:
            raise_for(rc, RuntimeFailure)  # a host call's own exception, if one failed
        return outs

    def _call_private(self, arrays, st):
        """A call while another thread is in: a private workspace, fresh outputs and its
        own argument array."""
        workspace = aligned_empty(max(st.size, 64), "uint8", "the workspace")
        outs = self._fresh_or_recycled(st.out_specs, None)
        var_arrays = [var._storage_for_call() for var in self.variables]
        ptrs = [address(a) for a in arrays] + [address(o) for o in outs] + \
               [address(v) for v in var_arrays] + [address(workspace), address(st.table), address(st.sizes)]
        rc = self._fn(self._args_type(*ptrs))
        if rc != 0:
            raise_for(rc, RuntimeFailure)  # a host call's own exception, if one failed
        return outs
