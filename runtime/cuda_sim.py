"""A CPU emulator of a CUDA device, for testing the GPU code path without a GPU.

The GPU target can emit its kernels for the host (``PTXTarget(sim=True)``): identical
IR except that thread indices and barriers are calls to ``graphc_sim_*`` functions,
which this module implements as ctypes callbacks. A launch runs the grid one block at
a time; a block's threads run one after another, or, for kernels with barriers, as
real OS threads meeting at a pthread barrier that the host-compiled kernel calls
(ctypes drops the GIL while JIT code runs). "Device memory" is separate host allocations, and every pointer given to
a kernel or a copy is checked to lie inside one, so a host pointer passed where a
device pointer belongs fails loudly. Grids are capped at a few blocks so that the
grid-stride loops really iterate. It is slow and only meant for small tests.
"""
from __future__ import annotations

import ctypes
import threading

import numpy as np

from ..errors import DeviceError

_tls = threading.local()
_CB_I32 = ctypes.CFUNCTYPE(ctypes.c_int32)
_libc = ctypes.CDLL(None)


def _tid():
    return _tls.tid


def _ctaid():
    return _tls.ctaid


def _nctaid():
    return _tls.nctaid


def _ntid():
    return _tls.ntid


_CALLBACKS = {
    "graphc_sim_tid_x": _CB_I32(_tid),
    "graphc_sim_ntid_x": _CB_I32(_ntid),
    "graphc_sim_ctaid_x": _CB_I32(_ctaid),
    "graphc_sim_nctaid_x": _CB_I32(_nctaid),
}
_registered = [False]


def register_symbols():
    """Make the emulator's callbacks resolvable by the JIT (once per process)."""
    import llvmlite.binding as llvm

    if not _registered[0]:
        for name, cb in _CALLBACKS.items():
            llvm.add_symbol(name, ctypes.cast(cb, ctypes.c_void_p).value)
        _registered[0] = True


class SimModule:
    """Kernels JIT-compiled for the host: name -> (address, number of pointer params)."""

    def __init__(self, functions: dict, barrier: int = 0, keepalive=None):
        self.functions = functions
        self.barrier = barrier      # address of the module's pthread_barrier_t
        self._keepalive = keepalive


class SimDevice:
    """A pretend GPU: host memory, host-compiled kernels, emulated threads and barriers."""

    kind = "sim"
    code_format = "host"
    compute_capability = (9, 0)
    sm_count = 2
    max_grid = 3

    def __init__(self, ordinal: int = 0):
        self.ordinal = ordinal
        self.name = f"graphc CPU emulator /gpu:{ordinal}"
        self._allocs: dict = {}   # address -> array
        self.launch_log: list = []  # (kernel name, grid, block), for tests

    def __repr__(self):
        return f"<SimDevice /gpu:{self.ordinal}>"

    # -- memory ---------------------------------------------------------------------------------
    def alloc(self, nbytes: int) -> int:
        arr = np.zeros(max(int(nbytes), 1) + 64, np.uint8)
        addr = arr.ctypes.data
        self._allocs[addr] = arr
        return addr

    def free(self, ptr: int):
        self._allocs.pop(ptr, None)

    def _check(self, ptr: int, nbytes: int, what: str):
        for base, arr in self._allocs.items():
            if base <= ptr and ptr + nbytes <= base + arr.nbytes:
                return
        raise DeviceError(f"{what}: {ptr:#x} (+{nbytes} bytes) is not device memory of {self.name}")

    def htod(self, dptr, host_ptr, nbytes):
        if nbytes:
            self._check(dptr, nbytes, "htod")
            ctypes.memmove(dptr, host_ptr, nbytes)

    def dtoh(self, host_ptr, dptr, nbytes):
        if nbytes:
            self._check(dptr, nbytes, "dtoh")
            ctypes.memmove(host_ptr, dptr, nbytes)

    def dtod(self, dst, src, nbytes):
        if nbytes:
            self._check(dst, nbytes, "dtod")
            self._check(src, nbytes, "dtod")
            ctypes.memmove(dst, src, nbytes)

    def memset(self, dptr, byte, nbytes):
        if nbytes:
            self._check(dptr, nbytes, "memset")
            ctypes.memset(dptr, byte, nbytes)

    # -- code -----------------------------------------------------------------------------------
    def load_module(self, module: SimModule) -> SimModule:
        if not isinstance(module, SimModule):
            raise DeviceError("the emulator runs host-compiled kernels (PTXTarget(sim=True)), not PTX")
        return module

    def launch(self, module: SimModule, name: str, grid: int, block: int, params, barrier=False):
        addr, nparams = module.functions[name]
        if len(params) != nparams:
            raise DeviceError(f"{name}: {len(params)} arguments for {nparams} parameters")
        for p in params:
            self._check(p, 1, f"{name} argument")
        fn = ctypes.CFUNCTYPE(None, *[ctypes.c_void_p] * nparams)(addr)
        args = [ctypes.c_void_p(p) for p in params]
        self.launch_log.append((name, grid, block))
        for b in range(grid):
            if not barrier:
                for t in range(block):
                    self._enter(t, b, grid, block)
                    fn(*args)
                continue
            if not module.barrier:
                raise DeviceError(f"{name}: launched with barriers but the module has no barrier object")
            _libc.pthread_barrier_init(ctypes.c_void_p(module.barrier), None, ctypes.c_uint(block))
            errors = []

            def run(t, b=b):
                try:
                    self._enter(t, b, grid, block)
                    fn(*args)
                except Exception as e:  # pragma: no cover - reported below
                    errors.append(e)

            threads = [threading.Thread(target=run, args=(t,), daemon=True) for t in range(block)]
            for th in threads:
                th.start()
            for th in threads:
                th.join(timeout=120)
            if any(th.is_alive() for th in threads):
                raise DeviceError(f"{name}: emulated block {b} is stuck (threads disagree on barriers)")
            _libc.pthread_barrier_destroy(ctypes.c_void_p(module.barrier))
            if errors:
                raise DeviceError(f"{name}: emulated block {b} failed: {errors[0]}")

    @staticmethod
    def _enter(t, b, grid, block):
        _tls.tid, _tls.ctaid, _tls.nctaid, _tls.ntid = t, b, grid, block

    def synchronize(self):
        pass

    def time(self, fn, repeat: int = 1) -> float:
        import time

        t0 = time.perf_counter()
        for _ in range(repeat):
            fn()
        return (time.perf_counter() - t0) / repeat
