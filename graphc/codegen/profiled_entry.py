"""A second entry point for a compiled CPU program that timestamps every step.

Profiling (``gc.profile``, ``GRAPHC_PROFILE``) and ``f.explain`` need per-step times,
but the normal entry is one native call that runs every step back to back. Rather
than slow that entry down with checks, a profiled program gets its own entry, built
only when asked for: the same steps calling the same kernel code units (shared, so
nothing is compiled again but this small entry), plus

- before each step and before returning, ``clock_gettime(CLOCK_MONOTONIC)`` stored in
  a record buffer (the clock ``time.perf_counter`` reads, so native and Python spans
  share one time line);
- every kernel split over the thread pool is called through a wrapper that
  timestamps each chunk it runs and appends ``(step, begin, end, t0, t1, thread id)``
  to the buffer with an atomic counter: one span per step per pool thread.

Record buffer (int64): ``[count, capacity, t_step0 .. t_stepN, chunk records...]``
with 6 words per chunk record. The buffer's address is one more argument after the
workspace (``args[n_in + n_out + n_var + 1]``). Nested programs (scan, cond and
while bodies) are not instrumented: their time counts for the step that runs them.
"""
from __future__ import annotations

import ctypes
import platform
import threading

import llvmlite.binding as llvm
import numpy as np
from llvmlite import ir

from .kernel import I8, I32, I64
from .llvm_cpu import KERNEL_TYPE, CPUTarget

I8P = I8.as_pointer()
I64P = I64.as_pointer()
HEADER = 2          # count, capacity
CHUNK_WORDS = 6     # step, begin, end, t0, t1, tid
CLOCK_MONOTONIC = 1
_SYS_GETTID = {"x86_64": 186, "amd64": 186, "aarch64": 178, "arm64": 178, "riscv64": 178}
_TIMESPEC = ir.LiteralStructType([I64, I64])

_symbols_lock = threading.Lock()
_symbols_done = False


def _ensure_symbols():
    """clock_gettime and syscall from libc, in LLVM's symbol table (as the thread pool
    maps its libc functions: MCJIT's lookup of process symbols is not relied on)."""
    global _symbols_done
    with _symbols_lock:
        if _symbols_done:
            return
        from .threadpool import _libc

        libc = _libc()  # no ldconfig subprocess
        for name in ("clock_gettime", "syscall"):
            if not llvm.address_of_symbol(name):
                llvm.add_symbol(name, ctypes.cast(getattr(libc, name), ctypes.c_void_p).value)
        _symbols_done = True


def _declare(module, name, fnty):
    fn = module.globals.get(name)
    return fn if fn is not None else ir.Function(module, fnty, name)


def _now_ns(b, module):
    clock = _declare(module, "clock_gettime", ir.FunctionType(I32, [I32, _TIMESPEC.as_pointer()]))
    ts = b.alloca(_TIMESPEC)
    b.call(clock, [ir.Constant(I32, CLOCK_MONOTONIC), ts])
    sec = b.load(b.gep(ts, [ir.Constant(I32, 0), ir.Constant(I32, 0)]))
    nsec = b.load(b.gep(ts, [ir.Constant(I32, 0), ir.Constant(I32, 1)]))
    return b.add(b.mul(sec, ir.Constant(I64, 1_000_000_000)), nsec)


class ProfilingCPUTarget(CPUTarget):
    """CPUTarget whose top-level entry records step timestamps and per-chunk spans."""

    def __init__(self):
        super().__init__(split=True)
        self._step = None

    def _records(self, b, program):
        (args,) = b.function.args
        slot = len(program.inputs) + len(program.outputs) + len(program.variables) + (3 if program.symbols else 1)
        return b.bitcast(b.load(b.gep(args, [ir.Constant(I64, slot)])), I64P)

    def step_marker(self, b, module, program, index):
        if self._prefix:  # a nested body's entry: not instrumented
            return
        self._step = index if index < len(program.kernels) else None
        rec = self._records(b, program)
        b.store(_now_ns(b, module), b.gep(rec, [ir.Constant(I64, HEADER + index)]))

    def emit_parallel(self, b, module, fn, ctx, n, grain):
        if self._prefix or self._step is None:
            return super().emit_parallel(b, module, fn, ctx, n, grain)
        wrapper = self._chunk_wrapper(module, fn)
        box = b.alloca(ir.ArrayType(I64, 3))
        words = [b.ptrtoint(ctx, I64), b.ptrtoint(self._records(b, self._program), I64), ir.Constant(I64, self._step)]
        for j, w in enumerate(words):
            b.store(w, b.gep(box, [ir.Constant(I32, 0), ir.Constant(I32, j)]))
        return super().emit_parallel(b, module, wrapper, b.bitcast(box, I8P), n, grain)

    def emit_entry(self, module, program, kernel_fns, entry_name=None):
        if not self._prefix:
            self._program = program
        kw = {} if entry_name is None else {"entry_name": entry_name}
        return super().emit_entry(module, program, kernel_fns, **kw)

    def _chunk_wrapper(self, module, fn):
        """``w(box, begin, end)``: time ``fn(box[0], begin, end)`` and append a chunk record."""
        name = f"graphc_prof_chunk_{fn.name}"
        w = module.globals.get(name)
        if w is not None:
            return w
        w = ir.Function(module, KERNEL_TYPE, name=name)
        w.linkage = "internal"
        box, begin, end = w.args
        b = ir.IRBuilder(w.append_basic_block("entry"))
        words = b.bitcast(box, I64P)
        ctx = b.inttoptr(b.load(b.gep(words, [ir.Constant(I64, 0)])), I8P)
        rec = b.inttoptr(b.load(b.gep(words, [ir.Constant(I64, 1)])), I64P)
        step = b.load(b.gep(words, [ir.Constant(I64, 2)]))
        t0 = _now_ns(b, module)
        b.call(fn, [ctx, begin, end])
        t1 = _now_ns(b, module)
        syscall = _declare(module, "syscall", ir.FunctionType(I64, [I64], var_arg=True))
        tid = b.call(syscall, [ir.Constant(I64, _SYS_GETTID.get(platform.machine().lower(), 186))])
        slot = b.atomic_rmw("add", rec, ir.Constant(I64, 1), "monotonic")
        cap = b.load(b.gep(rec, [ir.Constant(I64, 1)]))
        with b.if_then(b.icmp_signed("<", slot, cap)):
            base = b.add(ir.Constant(I64, self._chunk_base(self._program)), b.mul(slot, ir.Constant(I64, CHUNK_WORDS)))
            for j, v in enumerate((step, begin, end, t0, t1, tid)):
                b.store(v, b.gep(rec, [b.add(base, ir.Constant(I64, j))]))
        b.ret_void()
        return w

    def compile_entry(self, program):
        """(entry address, objects to keep alive): the kernels as the shared code units
        every program uses (found in memory or on disk), and this instrumented entry as
        one more unit. (The same steps as ``CPUTarget.compile``'s entry path, which may
        run programs from a step table instead; the profiled entry is always code.)"""
        from . import code_cache, threadpool
        from .llvm_cpu import ENTRY_NAME, ENTRY_SPEED_LEVEL, UNIT_PLACEHOLDER, _cache_key, compile_unit_object

        self.split, self.units = True, {}
        module = self.build_module(program)
        text = str(module)
        units = [code_cache.get_unit(key, [symbol], lambda build=build, symbol=symbol, level=level: compile_unit_object(
                     build().replace(f'@"{UNIT_PLACEHOLDER}"', f'@"{symbol}"'), level))
                 for key, (symbol, build, level) in self.units.items()]
        threadpool.publish_symbols()
        key = _cache_key("profiled:" + text)
        name = f"{ENTRY_NAME}_profiled_{key}"
        entry = code_cache.get_unit(key, [name], lambda: compile_unit_object(
            text.replace(f'@"{ENTRY_NAME}"', f'@"{name}"'), speed_level=ENTRY_SPEED_LEVEL), counted=False)
        return entry.addresses[name], (entry, units)

    @staticmethod
    def _chunk_base(program) -> int:
        return HEADER + len(program.kernels) + 1


class ProfiledRun:
    """What one profiled call measured: step boundaries and chunk records (ns)."""

    def __init__(self, step_ns: np.ndarray, chunks: np.ndarray, dropped: int):
        self.step_ns = step_ns          # len(steps) + 1 timestamps
        self.chunks = chunks            # (k, 6): step, begin, end, t0, t1, tid
        self.dropped = dropped          # chunk records beyond the buffer's capacity

    def step_seconds(self) -> np.ndarray:
        return np.diff(self.step_ns) / 1e9


def build(program, capacity: int | None = None):
    """A ProfiledExecutable for a CPU ``program`` (static or symbolic): ``run(arrays)``
    returns (outputs, ProfiledRun). ``capacity``: chunk records kept per call (default:
    room for 4 chunks per step per pool thread; more are counted as dropped)."""
    from .._runtime.executable import Executable
    from .._runtime.symbolic_executable import SymbolicExecutable
    from .threadpool import get_num_threads

    if capacity is None:
        capacity = max(4096, 4 * len(program.kernels) * get_num_threads())

    _ensure_symbols()
    base_class = SymbolicExecutable if program.symbols else Executable

    class ProfiledExecutable(base_class):
        """Calls the profiled entry; calls are serialized (one record buffer)."""

        def __init__(self, addr, keepalive):
            super().__init__(program, addr, keepalive)
            self.nsteps = len(program.kernels)
            self.records = np.zeros(ProfilingCPUTarget._chunk_base(program) + CHUNK_WORDS * capacity, np.int64)
            self.records[1] = capacity
            records = self.records.ctypes.data
            n = len(self.inputs) + len(self.outputs) + len(self.variables) + (3 if program.symbols else 1)
            array_type = ctypes.c_void_p * (n + 1)
            # the record buffer rides in one more slot after the ABI's arguments
            self._args_type = lambda *ptrs: array_type(*ptrs, records) if ptrs else array_type()
            if not program.symbols:
                self._args = array_type()
                self._args[n - 1] = self._workspace_address
                self._args[n] = records
            self._serial = threading.Lock()

        def _fill_extra_args(self, args):
            args[len(args) - 1] = self.records.ctypes.data  # the per-size arrays of a symbolic program

        def run(self, arrays):
            """(outputs, ProfiledRun) of one call."""
            with self._serial:
                self.records[0] = 0
                outs = base_class.__call__(self, arrays)
                r = self.records
                count = int(r[0])
                base = ProfilingCPUTarget._chunk_base(program)
                kept = min(count, capacity)
                chunks = r[base:base + CHUNK_WORDS * kept].reshape(kept, CHUNK_WORDS).copy()
                steps = r[HEADER:HEADER + self.nsteps + 1].copy()
            return outs, ProfiledRun(steps, chunks, count - kept)

    return ProfiledExecutable(*ProfilingCPUTarget().compile_entry(program))
