"""A GIL-free thread pool for graphc kernels, emitted as LLVM IR.

The pool is plain LLVM IR that only calls libc (pthread_create, pthread_detach,
syscall(SYS_futex), sysconf, sched_getaffinity, getenv, strtol, getpid), so the very same IR can be
JIT-compiled in-process or linked into a standalone shared library.

C interface (defined by :func:`emit_threadpool`, declared by :func:`declare_threadpool`)::

    // Split [0, n) into min(T, n / grain) contiguous, balanced chunks (T = thread
    // count); the caller runs chunk 0, workers the rest; returns when all are done.
    // Inline fn(ctx, 0, n) when n <= grain, T == 1, the pool is busy (another host
    // thread) or the call is nested inside fn.  n < 0 acts as 0, grain < 1 as 1.
    void    graphc_parallel_for(void (*fn)(void *ctx, int64_t begin, int64_t end),
                                void *ctx, int64_t n, int64_t grain);
    // Default: GRAPHC_NUM_THREADS (read at first use) else the CPUs this process may run
    // on (sched_getaffinity: a container or taskset limits it), else sysconf(_SC_NPROCESSORS_ONLN).
    void    graphc_set_num_threads(int32_t n);   // clamped to MAX_THREADS; n <= 0: default
    int32_t graphc_get_num_threads(void);

Design (why it looks the way it does):

* One dispatch at a time.  A caller takes the pool with a compare-and-swap on
  ``busy``; if that fails (another host thread is dispatching, or this is a
  nested call from inside ``fn``) the loop simply runs inline.  That gives
  nesting and multi-host-thread safety without deadlocks or thread-local state.
* Each worker owns a 64-byte mailbox slot ``{seq, sleeping, fn, ctx, begin,
  end}``.  The caller fills the slot and bumps ``seq`` (release); the worker
  spins briefly on ``seq`` and then sleeps in ``futex(FUTEX_WAIT)``.  Per-worker
  slots mean a worker can never pick up half-written parameters of a later job.
  The ``sleeping`` flags (Dekker-style, seq_cst) let the hot path skip the
  futex-wake syscall while the other side is still spinning.
* Completion is a countdown ``pending`` that the caller spins on, then sleeps on.
* A chunk is run by whoever *claims* it first (an exchange on the slot's ``claim``):
  its worker, or the caller, which after its own chunk claims every chunk no worker has
  started yet. A worker that is slow to wake (a loaded machine, where it may wait a
  whole time slice for a CPU) then costs nothing but its chunk running on the caller,
  instead of a stall of the whole dispatch; loops of small steps (an RNN's) depend on it.
* Spinning is skipped (almost) when the chunk count exceeds the online CPUs:
  there it only burns the time slices the working threads need. Threads of the
  process that work outside the pool count too (``begin_external_work``: a
  graphc.data stage building the next batch while the training step runs): while
  one does, idle workers and a waiting caller sleep at once instead of spinning on
  the core it needs, and each spin re-reads the budget so they stop within a few
  pauses of its start.
* Workers are created lazily (detached, persistent) up to the requested count;
  the pool never shrinks, surplus workers just sleep.  If the process forked,
  the child notices via getpid() and starts fresh workers.

The JIT keeps one process-wide "runtime" MCJIT engine (:func:`get_runtime_engine`)
that holds the only definition; other modules only ``declare_threadpool`` and are
added to the same engine with :func:`add_module`, where MCJIT resolves the
cross-module references (verified with llvmlite 0.50 / LLVM 22).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import threading

import llvmlite.binding as llvm
from llvmlite import ir

__all__ = [
    "MAX_THREADS",
    "BODY_FNTY",
    "emit_threadpool",
    "declare_threadpool",
    "host_target_machine",
    "get_runtime_engine",
    "add_module",
    "get_function_address",
    "set_num_threads",
    "get_num_threads",
    "begin_external_work",
    "end_external_work",
]

#: Hard cap on the thread count (the caller plus MAX_THREADS - 1 workers).
MAX_THREADS = 256

# Spin iterations (each one `pause`) before sleeping in the kernel.  Long enough
# that back-to-back kernels never hit a futex syscall (~0.1-0.5 ms), short enough
# that an idle pool hands its CPUs back quickly.  When there are more threads than
# online CPUs, spinning only steals time slices from threads with work to do (one
# dispatch then costs a whole slice), so spin barely and block in the kernel instead.
SPIN = 20000
OVERSUBSCRIBED_SPIN = 50

_SC_NPROCESSORS_ONLN = 84          # glibc value, identical on all Linux arches
_FUTEX_WAIT_PRIVATE = 0 | 128
_FUTEX_WAKE_PRIVATE = 1 | 128
_SYS_FUTEX = {"x86_64": 202, "amd64": 202, "aarch64": 98, "arm64": 98, "riscv64": 98}
_ENV_NAME = "GRAPHC_NUM_THREADS"

_LIBC_SYMBOLS = ("pthread_create", "pthread_detach", "syscall", "sysconf", "sched_getaffinity",
                 "getenv", "strtol", "getpid", "malloc", "free")   # malloc/free: while_grad's checkpoints
_AFFINITY_WORDS = 16  # a 1024-CPU mask; larger machines fall back to sysconf

_i8 = ir.IntType(8)
_i32 = ir.IntType(32)
_i64 = ir.IntType(64)
_void = ir.VoidType()
_ptr = ir.PointerType()

#: void (*)(void *ctx, int64_t begin, int64_t end)
BODY_FNTY = ir.FunctionType(_void, [_ptr, _i64, _i64])

# Public C ABI; declare_threadpool and emit_threadpool share these exact types.  The
# body parameter is a typed function pointer only so llvmlite can call through it:
# LLVM >= 17 parses `void (ptr, i64, i64)*` as plain `ptr`, and llvmlite compares it
# equal to ir.PointerType(), so callers may pass/declare it as an opaque pointer.
_PUBLIC = {
    "graphc_parallel_for": ir.FunctionType(_void, [BODY_FNTY.as_pointer(), _ptr, _i64, _i64]),
    "graphc_set_num_threads": ir.FunctionType(_void, [_i32]),
    "graphc_get_num_threads": ir.FunctionType(_i32, []),
}

# Mailbox slot: {seq, sleeping, fn, ctx, begin, end, claim, pad} = 64 bytes (one cache line).
_SLOT = ir.LiteralStructType([_i32, _i32, _ptr, _ptr, _i64, _i64, _i32, ir.ArrayType(_i8, 20)])
_SEQ, _SLEEPING, _FN, _CTX, _BEGIN, _END, _CLAIM = range(7)


# --------------------------------------------------------------------------- IR helpers

def _get_or_declare(module: ir.Module, name: str, fnty: ir.FunctionType) -> ir.Function:
    """Reuse an existing declaration (e.g. the user already declared getenv)."""
    existing = module.globals.get(name)
    if existing is not None:
        if not isinstance(existing, ir.Function) or existing.function_type != fnty:
            raise TypeError(f"{name} already exists in module with a different type")
        return existing
    return ir.Function(module, fnty, name)


def declare_threadpool(module: ir.Module) -> dict:
    """Add only the public declarations (for modules linked against the runtime module).

    Returns ``{name: ir.Function}``.  Idempotent.
    """
    return {name: _get_or_declare(module, name, fnty) for name, fnty in _PUBLIC.items()}


def _module_arch(module: ir.Module) -> str:
    triple = module.triple
    if not triple or triple.startswith("unknown"):
        triple = llvm.get_process_triple()
    return triple.split("-")[0]


def _global(module, name, ty, align=64):
    g = ir.GlobalVariable(module, ty, name)
    g.linkage = "internal"
    g.initializer = ir.Constant(ty, None)
    g.align = align
    return g


class _Emitter:
    """Builds the runtime functions into one module (state lives in internal globals)."""

    def __init__(self, module: ir.Module):
        self.m = module
        arch = _module_arch(module)
        if arch not in _SYS_FUTEX:
            raise NotImplementedError(f"graphc thread pool: no futex syscall number for {arch!r}")
        self.sys_futex = _SYS_FUTEX[arch]
        # Spin-wait hint as an intrinsic (inline asm would need an asm parser in the JIT).
        if arch in ("x86_64", "amd64"):
            self.pause_fn, self.pause_args = _get_or_declare(
                module, "llvm.x86.sse2.pause", ir.FunctionType(_void, [])), []
        elif arch in ("aarch64", "arm64"):
            self.pause_fn, self.pause_args = _get_or_declare(
                module, "llvm.aarch64.hint", ir.FunctionType(_void, [_i32])), [_i32(1)]  # yield
        else:
            self.pause_fn = None

        d = lambda name, ret, args, var_arg=False: _get_or_declare(  # noqa: E731
            module, name, ir.FunctionType(ret, args, var_arg=var_arg))
        self.pthread_create = d("pthread_create", _i32, [_ptr, _ptr, _ptr, _ptr])
        self.pthread_detach = d("pthread_detach", _i32, [_i64])
        self.syscall = d("syscall", _i64, [_i64], var_arg=True)
        self.sysconf = d("sysconf", _i64, [_i32])
        self.sched_getaffinity = d("sched_getaffinity", _i32, [_i32, _i64, _ptr])
        self.getenv = d("getenv", _ptr, [_ptr])
        self.strtol = d("strtol", _i64, [_ptr, _ptr, _i32])
        self.getpid = d("getpid", _i32, [])

        self.nthreads = _global(module, "graphc_tp_nthreads", _i32)    # 0 = default not chosen
        self.busy = _global(module, "graphc_tp_busy", _i32)            # dispatch lock
        self.pending = _global(module, "graphc_tp_pending", _i32)      # worker chunks left
        self.caller_sleeping = _global(module, "graphc_tp_caller_sleeping", _i32)
        self.nworkers = _global(module, "graphc_tp_nworkers", _i32)    # guarded by busy
        self.pool_pid = _global(module, "graphc_tp_pid", _i32)         # guarded by busy
        self.ncpu = _global(module, "graphc_tp_ncpu", _i32)            # guarded by busy
        self.spin = _global(module, "graphc_tp_spin", _i32)            # spin budget
        self.spin.initializer = _i32(SPIN)
        self.external = _global(module, "graphc_tp_external", _i32)    # threads working outside the pool
        self.slots = _global(module, "graphc_tp_slots", ir.ArrayType(_SLOT, MAX_THREADS))
        env = bytearray(_ENV_NAME.encode() + b"\0")
        self.env_name = ir.GlobalVariable(module, ir.ArrayType(_i8, len(env)), "graphc_tp_env")
        self.env_name.linkage = "internal"
        self.env_name.global_constant = True
        self.env_name.initializer = ir.Constant(ir.ArrayType(_i8, len(env)), env)

        self.fns = {name: self._define(name, fnty) for name, fnty in _PUBLIC.items()}
        self.default_threads = self._func("graphc_tp_default_threads", _i32, [])
        self.usable_cpus = self._func("graphc_tp_usable_cpus", _i64, [])
        self.ensure_workers = self._func("graphc_tp_ensure_workers", _i32, [_i32])
        self.wait_done = self._func("graphc_tp_wait_done", _void, [])
        self.worker_main = self._func("graphc_tp_worker_main", _ptr, [_ptr])

    # -- small utilities ------------------------------------------------------------------
    def _define(self, name, fnty):
        existing = self.m.globals.get(name)
        if existing is not None:
            if not existing.is_declaration or existing.function_type != fnty:
                raise ValueError(f"{name} is already defined in this module")
            f = existing
        else:
            f = ir.Function(self.m, fnty, name)
        f.attributes.add("nounwind")
        return f

    def _func(self, name, ret, args):
        f = ir.Function(self.m, ir.FunctionType(ret, args), name)
        f.linkage = "internal"
        f.attributes.add("nounwind")
        return f

    def _futex(self, b, addr, op, val):
        b.call(self.syscall, [_i64(self.sys_futex), addr, _i64(op), b.zext(val, _i64)
                              if val.type == _i32 else val, ir.Constant(_ptr, None)])

    def _slot_field(self, b, idx, field):
        return b.gep(self.slots, [_i32(0), idx, _i32(field)], inbounds=True)

    @staticmethod
    def _entry_alloca(b, ty):
        """Allocas belong in the entry block (not in loops, where they grow the stack)."""
        here = b.block
        b.position_at_start(b.function.entry_basic_block)
        slot = b.alloca(ty)
        b.position_at_end(here)
        return slot

    @staticmethod
    def _min(b, x, y):
        return b.select(b.icmp_signed("<", x, y), x, y)

    def _clamp_threads(self, b, v64):
        v = b.select(b.icmp_signed("<", v64, _i64(1)), _i64(1), v64)
        v = self._min(b, v, _i64(MAX_THREADS))
        return b.trunc(v, _i32)

    def _spin_until(self, b, fn, cond):
        """Emit `for k < spin: if cond(): goto hit; pause` -> returns (hit_block, miss_block)."""
        k = self._entry_alloca(b, _i32)
        b.store(_i32(0), k)
        head, hit, body, miss = (fn.append_basic_block(n) for n in
                                 ("spin", "spin.hit", "spin.pause", "spin.miss"))
        b.branch(head)
        b.position_at_end(head)
        b.cbranch(cond(b), hit, body)
        b.position_at_end(body)
        if self.pause_fn is not None:
            b.call(self.pause_fn, self.pause_args)
        nk = b.add(b.load(k, typ=_i32), _i32(1))
        b.store(nk, k)
        spins = b.load_atomic(self.spin, "monotonic", 4, typ=_i32)   # re-read: external work lowers it
        b.cbranch(b.icmp_signed("<", nk, spins), head, miss)
        return hit, miss

    # -- thread count ---------------------------------------------------------------------
    def emit_default_threads(self):
        """GRAPHC_NUM_THREADS if it parses to >= 1, else the number of online CPUs."""
        f = self.default_threads
        b = ir.IRBuilder(f.append_basic_block("entry"))
        parse, use_env, ncpu = (f.append_basic_block(n) for n in ("parse", "use_env", "ncpu"))
        s = b.call(self.getenv, [b.gep(self.env_name, [_i32(0), _i32(0)], inbounds=True)])
        b.cbranch(b.icmp_unsigned("==", s, ir.Constant(_ptr, None)), ncpu, parse)
        b.position_at_end(parse)
        v = b.call(self.strtol, [s, ir.Constant(_ptr, None), _i32(10)])
        b.cbranch(b.icmp_signed(">=", v, _i64(1)), use_env, ncpu)
        b.position_at_end(use_env)
        b.ret(self._clamp_threads(b, v))
        b.position_at_end(ncpu)
        b.ret(self._clamp_threads(b, b.call(self.usable_cpus, [])))

    def emit_usable_cpus(self):
        """CPUs in this process's affinity mask (what os.sched_getaffinity counts), else
        the online CPUs: a container or taskset limited to 2 of 64 CPUs gets 2 threads."""
        f = self.usable_cpus
        b = ir.IRBuilder(f.append_basic_block("entry"))
        count_bb, fallback = f.append_basic_block("count"), f.append_basic_block("fallback")
        words = ir.ArrayType(_i64, _AFFINITY_WORDS)
        mask = b.alloca(words)
        r = b.call(self.sched_getaffinity, [_i32(0), _i64(_AFFINITY_WORDS * 8), mask])
        b.cbranch(b.icmp_signed("==", r, _i32(0)), count_bb, fallback)
        b.position_at_end(count_bb)
        ctpop = _get_or_declare(self.m, "llvm.ctpop.i64", ir.FunctionType(_i64, [_i64]))
        total = _i64(0)
        for w in range(_AFFINITY_WORDS):
            word = b.load(b.gep(mask, [_i32(0), _i32(w)], inbounds=True), typ=_i64)
            total = b.add(total, b.call(ctpop, [word]))
        have = f.append_basic_block("have")
        b.cbranch(b.icmp_signed(">=", total, _i64(1)), have, fallback)
        b.position_at_end(have)
        b.ret(total)
        b.position_at_end(fallback)
        b.ret(b.call(self.sysconf, [_i32(_SC_NPROCESSORS_ONLN)]))

    def emit_get_set(self):
        f = self.fns["graphc_get_num_threads"]
        b = ir.IRBuilder(f.append_basic_block("entry"))
        have, init = f.append_basic_block("have"), f.append_basic_block("init")
        v = b.load_atomic(self.nthreads, "monotonic", 4, typ=_i32)
        b.cbranch(b.icmp_signed("!=", v, _i32(0)), have, init)
        b.position_at_end(have)
        b.ret(v)
        b.position_at_end(init)  # first use: pick the default once; a racing set wins
        dflt = b.call(self.default_threads, [])
        res = b.cmpxchg(self.nthreads, _i32(0), dflt, "monotonic", "monotonic")
        b.ret(b.select(b.extract_value(res, 1), dflt, b.extract_value(res, 0)))

        f = self.fns["graphc_set_num_threads"]
        b = ir.IRBuilder(f.append_basic_block("entry"))
        n = f.args[0]
        v = b.select(b.icmp_signed("<=", n, _i32(0)), _i32(0), self._min(b, n, _i32(MAX_THREADS)))
        b.store_atomic(v, self.nthreads, "monotonic", 4)
        b.ret_void()

    # -- workers --------------------------------------------------------------------------
    def emit_worker_main(self):
        """Worker i: wait for its slot's seq to move, run the chunk, count down `pending`."""
        f = self.worker_main
        b = ir.IRBuilder(f.append_basic_block("entry"))
        arg = b.ptrtoint(f.args[0], _i64)          # (initial seq << 32) | index
        idx = b.and_(arg, _i64(0xFFFF))
        seen = b.alloca(_i32)
        cur = b.alloca(_i32)
        b.store(b.trunc(b.lshr(arg, _i64(32)), _i32), seen)
        seq_p = self._slot_field(b, idx, _SEQ)
        sleeping_p = self._slot_field(b, idx, _SLEEPING)
        wait = f.append_basic_block("wait")
        b.branch(wait)

        b.position_at_end(wait)

        def changed(bb):
            s = bb.load_atomic(seq_p, "acquire", 4, typ=_i32)
            bb.store(s, cur)
            return bb.icmp_unsigned("!=", s, bb.load(seen, typ=_i32))
        run, sleep = self._spin_until(b, f, changed)

        b.position_at_end(sleep)  # announce sleeping, re-check, then block in the kernel
        b.store_atomic(_i32(1), sleeping_p, "seq_cst", 4)
        s = b.load_atomic(seq_p, "seq_cst", 4, typ=_i32)
        old = b.load(seen, typ=_i32)
        with b.if_then(b.icmp_unsigned("==", s, old)):
            self._futex(b, seq_p, _FUTEX_WAIT_PRIVATE, old)
        b.store_atomic(_i32(0), sleeping_p, "monotonic", 4)
        b.branch(wait)

        b.position_at_end(run)
        b.store(b.load(cur, typ=_i32), seen)
        claimed = b.atomic_rmw("xchg", self._slot_field(b, idx, _CLAIM), _i32(1), "acq_rel")
        with b.if_then(b.icmp_unsigned("==", claimed, _i32(0))):   # not taken by the caller
            fn = b.load(self._slot_field(b, idx, _FN), typ=BODY_FNTY.as_pointer())
            ctx = b.load(self._slot_field(b, idx, _CTX), typ=_ptr)
            lo = b.load(self._slot_field(b, idx, _BEGIN), typ=_i64)
            hi = b.load(self._slot_field(b, idx, _END), typ=_i64)
            b.call(fn, [ctx, lo, hi])
            self._chunk_done(b)
        b.branch(wait)

    def _chunk_done(self, b):
        """Count a finished chunk down; the last one wakes a sleeping caller."""
        left = b.atomic_rmw("sub", self.pending, _i32(1), "seq_cst")
        with b.if_then(b.icmp_unsigned("==", left, _i32(1))):       # last one out
            caller_sleeps = b.load_atomic(self.caller_sleeping, "seq_cst", 4, typ=_i32)
            with b.if_then(b.icmp_unsigned("!=", caller_sleeps, _i32(0))):
                self._futex(b, self.pending, _FUTEX_WAKE_PRIVATE, _i32(0x7FFFFFFF))

    def emit_ensure_workers(self):
        """Under the busy lock: (re)start workers 1..nch-1; return the usable chunk count."""
        f = self.ensure_workers
        nch = f.args[0]
        b = ir.IRBuilder(f.append_basic_block("entry"))
        tid = b.alloca(_i64)
        pid = b.call(self.getpid, [])
        with b.if_then(b.icmp_signed("!=", pid, b.load(self.pool_pid, typ=_i32))):
            # first use, or we are a fork() child whose workers do not exist
            b.store(pid, self.pool_pid)
            b.store(_i32(0), self.nworkers)
            b.store(self._clamp_threads(b, b.call(self.usable_cpus, [])), self.ncpu)
            b.store_atomic(_i32(0), self.caller_sleeping, "seq_cst", 4)
        head, create, done = (f.append_basic_block(n) for n in ("head", "create", "done"))
        b.branch(head)

        b.position_at_end(head)
        have = b.load(self.nworkers, typ=_i32)
        b.cbranch(b.icmp_signed("<", have, b.sub(nch, _i32(1))), create, done)

        b.position_at_end(create)
        i = b.add(have, _i32(1))
        i64_ = b.zext(i, _i64)
        b.store_atomic(_i32(0), self._slot_field(b, i64_, _SLEEPING), "seq_cst", 4)
        seq = b.load_atomic(self._slot_field(b, i64_, _SEQ), "monotonic", 4, typ=_i32)
        arg = b.or_(b.shl(b.zext(seq, _i64), _i64(32)), i64_)
        rc = b.call(self.pthread_create, [tid, ir.Constant(_ptr, None), self.worker_main,
                                          b.inttoptr(arg, _ptr)])
        ok = f.append_basic_block("created")
        b.cbranch(b.icmp_signed("==", rc, _i32(0)), ok, done)  # on failure: use what we have
        b.position_at_end(ok)
        b.call(self.pthread_detach, [b.load(tid, typ=_i64)])
        b.store(i, self.nworkers)
        b.branch(head)

        b.position_at_end(done)
        b.ret(self._min(b, nch, b.add(b.load(self.nworkers, typ=_i32), _i32(1))))

    def emit_wait_done(self):
        """Caller: spin on `pending`, then futex-wait on it until it reaches 0."""
        f = self.wait_done
        b = ir.IRBuilder(f.append_basic_block("entry"))
        done, sleep = self._spin_until(
            b, f, lambda bb: bb.icmp_unsigned(
                "==", bb.load_atomic(self.pending, "acquire", 4, typ=_i32), _i32(0)))
        b.position_at_end(done)
        b.ret_void()

        b.position_at_end(sleep)
        b.store_atomic(_i32(1), self.caller_sleeping, "seq_cst", 4)
        loop, block, out = (f.append_basic_block(n) for n in ("sleep.loop", "sleep.wait", "out"))
        b.branch(loop)
        b.position_at_end(loop)
        p = b.load_atomic(self.pending, "seq_cst", 4, typ=_i32)
        b.cbranch(b.icmp_unsigned("==", p, _i32(0)), out, block)
        b.position_at_end(block)
        self._futex(b, self.pending, _FUTEX_WAIT_PRIVATE, p)
        b.branch(loop)
        b.position_at_end(out)
        b.store_atomic(_i32(0), self.caller_sleeping, "seq_cst", 4)
        b.ret_void()

    # -- dispatch -------------------------------------------------------------------------
    def emit_parallel_for(self):
        f = self.fns["graphc_parallel_for"]
        fn, ctx, n_arg, grain_arg = f.args
        b = ir.IRBuilder(f.append_basic_block("entry"))
        i_slot = b.alloca(_i64)
        inline, check, acquire, pooled, unlock_inline, dispatch = (
            f.append_basic_block(n) for n in
            ("inline", "check", "acquire", "pooled", "unlock_inline", "dispatch"))
        n = b.select(b.icmp_signed("<", n_arg, _i64(0)), _i64(0), n_arg)
        grain = b.select(b.icmp_signed("<", grain_arg, _i64(1)), _i64(1), grain_arg)
        b.cbranch(b.icmp_signed("<=", n, grain), inline, check)

        def call_body(bb, lo, hi):
            bb.call(fn, [ctx, lo, hi])

        b.position_at_end(inline)
        call_body(b, _i64(0), n)
        b.ret_void()

        b.position_at_end(check)  # chunks: at most T, each >= grain
        nthreads = b.call(self.fns["graphc_get_num_threads"], [])
        nch = self._min(b, b.sext(nthreads, _i64), b.sdiv(n, grain))
        b.cbranch(b.icmp_signed("<=", nch, _i64(1)), inline, acquire)

        b.position_at_end(acquire)  # busy => another host thread or a nested call: inline
        res = b.cmpxchg(self.busy, _i32(0), _i32(1), "acquire", "monotonic")
        b.cbranch(b.extract_value(res, 1), pooled, inline)

        b.position_at_end(pooled)
        usable = b.sext(b.call(self.ensure_workers, [b.trunc(nch, _i32)]), _i64)
        b.cbranch(b.icmp_signed("<=", usable, _i64(1)), unlock_inline, dispatch)

        b.position_at_end(unlock_inline)
        b.store_atomic(_i32(0), self.busy, "release", 4)
        call_body(b, _i64(0), n)
        b.ret_void()

        b.position_at_end(dispatch)
        # only Python stores `external`: its address escapes into an (empty) asm statement,
        # or LLVM would take the never-stored internal global for the constant 0
        b.asm(ir.FunctionType(_void, [_ptr]), "", "r", [self.external], side_effect=True)
        busy_cpus = b.add(usable, b.sext(b.load_atomic(self.external, "monotonic", 4, typ=_i32), _i64))
        oversubscribed = b.icmp_signed(">", busy_cpus, b.sext(b.load(self.ncpu, typ=_i32), _i64))
        b.store_atomic(b.select(oversubscribed, _i32(OVERSUBSCRIBED_SPIN), _i32(SPIN)),
                       self.spin, "monotonic", 4)
        q = b.sdiv(n, usable)
        r = b.srem(n, usable)
        b.store_atomic(b.trunc(b.sub(usable, _i64(1)), _i32), self.pending, "seq_cst", 4)
        b.store(_i64(1), i_slot)
        head, post, own = (f.append_basic_block(x) for x in ("post.head", "post", "own"))
        b.branch(head)

        b.position_at_end(head)
        i = b.load(i_slot, typ=_i64)
        b.cbranch(b.icmp_signed("<", i, usable), post, own)

        b.position_at_end(post)  # chunk i = [i*q + min(i,r), +q + (i<r))
        lo = b.add(b.mul(i, q), self._min(b, i, r))
        hi = b.add(b.add(lo, q), b.zext(b.icmp_signed("<", i, r), _i64))
        b.store(fn, self._slot_field(b, i, _FN))
        b.store(ctx, self._slot_field(b, i, _CTX))
        b.store(lo, self._slot_field(b, i, _BEGIN))
        b.store(hi, self._slot_field(b, i, _END))
        b.store_atomic(_i32(0), self._slot_field(b, i, _CLAIM), "release", 4)
        seq_p = self._slot_field(b, i, _SEQ)
        seq = b.load_atomic(seq_p, "monotonic", 4, typ=_i32)
        b.store_atomic(b.add(seq, _i32(1)), seq_p, "seq_cst", 4)   # publish (release)
        sleeps = b.load_atomic(self._slot_field(b, i, _SLEEPING), "seq_cst", 4, typ=_i32)
        with b.if_then(b.icmp_unsigned("!=", sleeps, _i32(0))):
            self._futex(b, seq_p, _FUTEX_WAKE_PRIVATE, _i32(1))
        b.store(b.add(i, _i64(1)), i_slot)
        b.branch(head)

        b.position_at_end(own)  # the caller runs chunk 0 itself, then any chunk no worker took
        call_body(b, _i64(0), b.add(q, b.zext(b.icmp_signed(">", r, _i64(0)), _i64)))
        b.store(_i64(1), i_slot)
        s_head, s_try, s_next, s_done = (f.append_basic_block(x) for x in ("steal.head", "steal", "steal.next", "steal.done"))
        b.branch(s_head)
        b.position_at_end(s_head)
        i = b.load(i_slot, typ=_i64)
        b.cbranch(b.icmp_signed("<", i, usable), s_try, s_done)
        b.position_at_end(s_try)
        claimed = b.atomic_rmw("xchg", self._slot_field(b, i, _CLAIM), _i32(1), "acq_rel")
        with b.if_then(b.icmp_unsigned("==", claimed, _i32(0))):
            lo = b.add(b.mul(i, q), self._min(b, i, r))
            call_body(b, lo, b.add(b.add(lo, q), b.zext(b.icmp_signed("<", i, r), _i64)))
            self._chunk_done(b)
        b.branch(s_next)
        b.position_at_end(s_next)
        b.store(b.add(i, _i64(1)), i_slot)
        b.branch(s_head)
        b.position_at_end(s_done)
        b.call(self.wait_done, [])
        b.store_atomic(_i32(0), self.busy, "release", 4)
        b.ret_void()

    def emit(self):
        self.emit_default_threads()
        self.emit_usable_cpus()
        self.emit_get_set()
        self.emit_worker_main()
        self.emit_ensure_workers()
        self.emit_wait_done()
        self.emit_parallel_for()


def emit_threadpool(module: ir.Module) -> None:
    """Define the thread pool (public functions with external linkage) in ``module``.

    Emit it into exactly ONE module per linked image / JIT engine; every other module
    should use :func:`declare_threadpool`.  Pool state is internal to this module.
    """
    for name in _PUBLIC:
        existing = module.globals.get(name)
        if existing is not None and not existing.is_declaration:
            raise ValueError(f"{name} is already defined in module {module.name!r}")
    _Emitter(module).emit()


# --------------------------------------------------------------------------- JIT wiring

_rt_lock = threading.RLock()
_rt_engine = None
_rt_tm = None


_llvm_ready = False
_llvm_init_lock = threading.Lock()


def _init_llvm():
    """Register LLVM's targets once per process (llvm.initialize() is deprecated, raises,
    in llvmlite >= 0.45); later calls, from any thread (the compile threads build the
    pool's object), return at once instead of re-registering concurrently."""
    global _llvm_ready
    if _llvm_ready:
        return
    with _llvm_init_lock:
        if not _llvm_ready:
            llvm.initialize_all_targets()
            llvm.initialize_all_asmprinters()
            llvm.initialize_native_target()
            llvm.initialize_native_asmprinter()
            _llvm_ready = True


def host_target_machine(opt: int = 3, jit: bool = True, **kwargs) -> llvm.TargetMachine:
    """Target machine for this host CPU (features included), as the JIT uses it.

    For a standalone shared library pass e.g. ``jit=False, reloc="pic", codemodel="default"``.
    """
    _init_llvm()
    target = llvm.Target.from_triple(llvm.get_process_triple())
    return target.create_target_machine(cpu=llvm.get_host_cpu_name(),
                                        features=llvm.get_host_cpu_features().flatten(),
                                        opt=opt, jit=jit, **kwargs)


def _libc():
    """The C library: the process's own symbols first (no search: ctypes.util.find_library
    runs ``ldconfig -p`` in a subprocess, ~20 ms of every process's first compile), then
    the usual glibc name, then a search."""
    for handle in (None, "libc.so.6"):
        try:
            lib = ctypes.CDLL(handle)
            if hasattr(lib, "pthread_create") or handle is not None:
                return lib
        except OSError:
            continue
    return ctypes.CDLL(ctypes.util.find_library("c"))


def _ensure_libc_symbols():
    """Map the libc functions the pool calls into LLVM's symbol table.

    MCJIT's memory manager does find them in the process on glibc, but
    llvm.address_of_symbol() reports them missing, so map them explicitly from
    ctypes rather than rely on that fallback.
    """
    libc = None
    for name in _LIBC_SYMBOLS:
        if llvm.address_of_symbol(name):
            continue
        if libc is None:
            libc = _libc()
        try:
            addr = ctypes.cast(getattr(libc, name), ctypes.c_void_p).value
        except AttributeError:  # old glibc: pthread_* live in libpthread
            lib = ctypes.CDLL(ctypes.util.find_library("pthread") or "libpthread.so.0")
            addr = ctypes.cast(getattr(lib, name), ctypes.c_void_p).value
        llvm.add_symbol(name, addr)


def _optimize(mod: llvm.ModuleRef, tm: llvm.TargetMachine, level: int = 2) -> None:
    pto = llvm.create_pipeline_tuning_options(speed_level=level)
    pb = llvm.create_pass_builder(tm, pto)
    pb.getModulePassManager().run(mod, pb)


def _prepare(module, tm, optimize):
    mod = llvm.parse_assembly(str(module)) if isinstance(module, ir.Module) else module
    mod.triple = tm.triple
    mod.data_layout = str(tm.target_data)
    mod.verify()
    if optimize:
        _optimize(mod, tm)
    return mod


def get_runtime_engine() -> llvm.ExecutionEngine:
    """Process-wide MCJIT engine whose first module defines the thread pool.

    Created once.  The engine is deliberately leaked: worker threads keep executing
    its code, so it must outlive every Python object (including at interpreter exit).
    """
    global _rt_engine, _rt_tm
    with _rt_lock:
        if _rt_engine is None:
            tm = host_target_machine()
            _ensure_libc_symbols()
            engine = llvm.create_mcjit_compiler(llvm.parse_assembly(""), tm)
            future = _pool_future[1] if _pool_future is not None and _pool_future[0] == os.getpid() else None
            obj = future.result() if future is not None else _runtime_object(tm)  # (a fork loses the builder)
            engine.add_object_file(llvm.ObjectFileRef.from_data(obj))
            engine.finalize_object()
            ctypes.pythonapi.Py_IncRef(ctypes.py_object(engine))  # never dispose
            _rt_engine, _rt_tm = engine, tm
        return _rt_engine


_pool_future = None  # (pid, Future): the pool's object being built on a compile thread (prefetch)


def prefetch() -> None:
    """Start building the pool's object on the compile threads (code_cache.executor), so
    that a cold process compiles it while it traces and compiles the model's kernels."""
    global _pool_future
    from . import code_cache

    _init_llvm()
    with _rt_lock:
        if _rt_engine is None and (_pool_future is None or _pool_future[0] != os.getpid()):
            _pool_future = (os.getpid(), code_cache.executor().submit(_runtime_object, None))


def _runtime_object(tm=None) -> bytes:
    """The pool's object code, from the on-disk cache when an earlier process compiled
    it for this CPU and this graphc source (it is model-independent, so it is cached
    apart from any program), else compiled at O2 (in a private LLVM context: this may
    run on a compile thread) and cached."""
    from .kernel_key import source_hash
    from .llvm_cpu import _cache_key, _cache_read, _cache_write

    tm = tm or host_target_machine()
    key = _cache_key(f"threadpool:{source_hash()}:{tm.triple}:{llvm.get_host_cpu_name()}:"
                     f"{llvm.get_host_cpu_features().flatten()}")
    obj = _cache_read(key)
    if obj is None:
        rt = ir.Module("graphc_runtime")
        rt.triple = tm.triple
        rt.data_layout = str(tm.target_data)
        emit_threadpool(rt)
        context = llvm.create_context()
        mod = None
        try:
            mod = _prepare(llvm.parse_assembly(str(rt), context=context), tm, optimize=True)
            obj = tm.emit_object(mod)
        finally:
            if mod is not None:
                mod.close()
            context.close()
        _cache_write(key, obj)
    return obj


def runtime_target_machine() -> llvm.TargetMachine:
    """The target machine of the runtime engine (objects added to it must match it)."""
    get_runtime_engine()
    return _rt_tm


def publish_symbols() -> None:
    """Put the pool's functions in LLVM's global symbol table, where objects loaded
    later (into this engine or their own) resolve their calls to them."""
    engine = get_runtime_engine()
    with _rt_lock:
        for name in _PUBLIC:
            if not llvm.address_of_symbol(name):
                llvm.add_symbol(name, engine.get_function_address(name))


def add_object(data: bytes) -> None:
    """Load a relocatable object into the engine; its calls to the pool resolve through
    LLVM's global symbol table (MCJIT does not link objects against earlier modules)."""
    engine = get_runtime_engine()
    publish_symbols()
    with _rt_lock:
        engine.add_object_file(llvm.ObjectFileRef.from_data(data))
        engine.finalize_object()


def add_module(module, optimize: bool = False) -> llvm.ModuleRef:
    """Compile ``module`` (ir.Module or ModuleRef) into the runtime engine.

    Its ``declare_threadpool`` declarations resolve to the runtime module's
    definitions (MCJIT links symbols across modules of one engine).
    """
    engine = get_runtime_engine()
    with _rt_lock:
        mod = _prepare(module, _rt_tm, optimize)
        engine.add_module(mod)
        engine.finalize_object()
        return mod


def get_function_address(name: str) -> int:
    """Address of a function in any module of the runtime engine (0 if absent)."""
    engine = get_runtime_engine()
    with _rt_lock:
        return engine.get_function_address(name)


def set_num_threads(n: int) -> None:
    """Python convenience wrapper around graphc_set_num_threads of the runtime engine."""
    ctypes.CFUNCTYPE(None, ctypes.c_int32)(get_function_address("graphc_set_num_threads"))(n)


def get_num_threads() -> int:
    """Python convenience wrapper around graphc_get_num_threads of the runtime engine."""
    return ctypes.CFUNCTYPE(ctypes.c_int32)(get_function_address("graphc_get_num_threads"))()


_external = {"count": 0, "cells": None}
_external_lock = threading.Lock()


def _external_cells():
    """(graphc_tp_external, graphc_tp_spin) as ctypes ints, once the pool exists."""
    if _external["cells"] is None and _rt_engine is not None:
        with _rt_lock:
            addresses = [_rt_engine.get_global_value_address(name)
                         for name in ("graphc_tp_external", "graphc_tp_spin")]
        if not all(addresses):
            raise RuntimeError("graphc thread pool: graphc_tp_external/graphc_tp_spin not found in the runtime "
                               "engine (graphc bug)")
        _external["cells"] = tuple(ctypes.c_int32.from_address(a) for a in addresses)
    return _external["cells"]


def begin_external_work() -> None:
    """A thread of this process starts CPU work outside the pool (a graphc.data stage
    building batches while the training step runs). Until the matching
    ``end_external_work``, dispatches count it as a busy CPU: on a machine the pool
    fills, idle workers and a waiting caller then sleep rather than spin on the core it
    needs (the spin budget drops at once, for spins already under way too)."""
    with _external_lock:
        _external["count"] += 1
        cells = _external_cells()
        if cells is not None:
            cells[0].value = _external["count"]
            cells[1].value = OVERSUBSCRIBED_SPIN   # the next dispatch recomputes it


def end_external_work() -> None:
    with _external_lock:
        _external["count"] = max(0, _external["count"] - 1)
        cells = _external_cells()
        if cells is not None:
            cells[0].value = _external["count"]


def planned_num_threads() -> int:
    """The pool's thread count without starting the pool: ``get_num_threads()`` once the
    runtime engine exists (``set_num_threads`` may have changed it), else the default the
    pool will pick on first use (graphc_tp_default_threads, mirrored here: a valid
    GRAPHC_NUM_THREADS >= 1, else the CPUs in the affinity mask, clamped to
    [1, MAX_THREADS]). The program cache keys programs by it before anything is built,
    so a cold process does not have to compile the pool first."""
    if _rt_engine is not None:
        return get_num_threads()
    env = os.environ.get(_ENV_NAME)
    n = None
    if env is not None:
        n = _strtol_prefix(env)
        if n is not None and n < 1:
            n = None
    if n is None:
        try:
            n = len(os.sched_getaffinity(0))
        except (AttributeError, OSError):
            n = 0
        if n < 1:
            n = os.cpu_count() or 1
    return int(min(max(n, 1), MAX_THREADS))


def _strtol_prefix(text: str):
    """C's strtol(text, NULL, 10) as the pool reads GRAPHC_NUM_THREADS: leading spaces,
    an optional sign, then the longest run of digits (None when there are none: 0)."""
    t = text.lstrip(" \t\n\r\f\v")
    sign = 1
    if t[:1] in "+-" and t[:1]:
        sign, t = (-1 if t[0] == "-" else 1), t[1:]
    digits = ""
    for ch in t:
        if not ch.isdigit() or not ch.isascii():
            break
        digits += ch
    return sign * int(digits) if digits else 0
