"""Tests for the LLVM-IR thread pool (graphc.codegen.threadpool).

Kernels are built as IR in a separate module that only *declares* the pool, then added
to the process-wide runtime engine -- the same wiring graphc's JIT uses.
"""

import ctypes
import os
import subprocess
import sys
import threading
import time

import llvmlite.binding as llvm
import numpy as np
import pytest
from llvmlite import ir

from graphc.codegen import threadpool as tp

i32, i64, ptr, void = ir.IntType(32), ir.IntType(64), ir.PointerType(), ir.VoidType()

# ctx = {i64* out, i32* counts, Stats* stats, i64 width}
# Stats = {i64 calls, i64 min_len, i64 max_len}
CTX = ir.LiteralStructType([ptr, ptr, ptr, i64])


class Ctx(ctypes.Structure):
    _fields_ = [("out", ctypes.c_void_p), ("counts", ctypes.c_void_p),
                ("stats", ctypes.c_void_p), ("width", ctypes.c_int64)]


class Stats(ctypes.Structure):
    _fields_ = [("calls", ctypes.c_int64), ("min_len", ctypes.c_int64),
                ("max_len", ctypes.c_int64)]


def f(i):
    return 3 * i + 1


def _field(b, base, idx, ty):
    return b.load(b.gep(base, [i32(0), i32(idx)], source_etype=CTX), typ=ty)


def _build_kernels():
    m = ir.Module("tp_test_kernels")
    pool = tp.declare_threadpool(m)
    pfor = pool["graphc_parallel_for"]

    # body(ctx, b, e): out[i] = 3i+1; atomically counts[i] += 1; record chunk stats.
    body = ir.Function(m, tp.BODY_FNTY, "tp_test_body")
    ctx, lo, hi = body.args
    b = ir.IRBuilder(body.append_basic_block("entry"))
    out, counts, stats = (_field(b, ctx, k, ptr) for k in range(3))
    length = b.sub(hi, lo)
    b.atomic_rmw("add", b.gep(stats, [i64(0)], source_etype=i64), i64(1), "seq_cst")
    b.atomic_rmw("min", b.gep(stats, [i64(1)], source_etype=i64), length, "seq_cst")
    b.atomic_rmw("max", b.gep(stats, [i64(2)], source_etype=i64), length, "seq_cst")
    iv = b.alloca(i64)
    b.store(lo, iv)
    head, loop, done = (body.append_basic_block(n) for n in ("head", "loop", "done"))
    b.branch(head)
    b.position_at_end(head)
    i = b.load(iv, typ=i64)
    b.cbranch(b.icmp_signed("<", i, hi), loop, done)
    b.position_at_end(loop)
    b.store(b.add(b.mul(i, i64(3)), i64(1)), b.gep(out, [i], source_etype=i64))
    b.atomic_rmw("add", b.gep(counts, [i], source_etype=i32), i32(1), "monotonic")
    b.store(b.add(i, i64(1)), iv)
    b.branch(head)
    b.position_at_end(done)
    b.ret_void()

    # run(ctx, n, grain): the entry point graphc would generate.
    run = ir.Function(m, ir.FunctionType(void, [ptr, i64, i64]), "tp_test_run")
    b = ir.IRBuilder(run.append_basic_block("entry"))
    b.call(pfor, [body, run.args[0], run.args[1], run.args[2]])
    b.ret_void()

    # outer(ctx, b, e): rows [b, e) of a matrix; each row is an inner parallel_for.
    outer = ir.Function(m, tp.BODY_FNTY, "tp_test_outer_body")
    ctx, lo, hi = outer.args
    b = ir.IRBuilder(outer.append_basic_block("entry"))
    inner = b.alloca(CTX)
    rv = b.alloca(i64)
    out, counts, stats = (_field(b, ctx, k, ptr) for k in range(3))
    width = _field(b, ctx, 3, i64)
    b.store(lo, rv)
    head, loop, done = (outer.append_basic_block(n) for n in ("head", "loop", "done"))
    b.branch(head)
    b.position_at_end(head)
    r = b.load(rv, typ=i64)
    b.cbranch(b.icmp_signed("<", r, hi), loop, done)
    b.position_at_end(loop)
    off = b.mul(r, width)
    for k, v in enumerate([b.gep(out, [off], source_etype=i64),
                           b.gep(counts, [off], source_etype=i32), stats, width]):
        b.store(v, b.gep(inner, [i32(0), i32(k)]))   # typed alloca: gep infers field
    b.call(pfor, [body, inner, width, i64(1)])
    b.store(b.add(r, i64(1)), rv)
    b.branch(head)
    b.position_at_end(done)
    b.ret_void()

    run2d = ir.Function(m, ir.FunctionType(void, [ptr, i64]), "tp_test_run_nested")
    b = ir.IRBuilder(run2d.append_basic_block("entry"))
    b.call(pfor, [outer, run2d.args[0], run2d.args[1], i64(1)])
    b.ret_void()

    # bench(reps, n): reps back-to-back dispatches of an empty body (pure overhead).
    empty = ir.Function(m, tp.BODY_FNTY, "tp_test_empty")
    ir.IRBuilder(empty.append_basic_block("entry")).ret_void()
    bench = ir.Function(m, ir.FunctionType(void, [i64, i64]), "tp_test_bench")
    b = ir.IRBuilder(bench.append_basic_block("entry"))
    kv = b.alloca(i64)
    b.store(i64(0), kv)
    head, loop, done = (bench.append_basic_block(n) for n in ("head", "loop", "done"))
    b.branch(head)
    b.position_at_end(head)
    k = b.load(kv, typ=i64)
    b.cbranch(b.icmp_signed("<", k, bench.args[0]), loop, done)
    b.position_at_end(loop)
    b.call(pfor, [empty, ir.Constant(ptr, None), bench.args[1], i64(1)])
    b.store(b.add(k, i64(1)), kv)
    b.branch(head)
    b.position_at_end(done)
    b.ret_void()
    return m


@pytest.fixture(scope="module")
def jit():
    tp.add_module(_build_kernels(), optimize=True)
    fns = {
        "run": ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64),
        "run_nested": ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int64),
        "bench": ctypes.CFUNCTYPE(None, ctypes.c_int64, ctypes.c_int64),
    }
    out = {k: ty(tp.get_function_address("tp_test_" + k)) for k, ty in fns.items()}
    old = tp.get_num_threads()
    yield out
    tp.set_num_threads(old)


def _call_with_timeout(fn, *args, timeout=10.0):
    """A deadlock must fail the test, not hang the suite (ctypes drops the GIL)."""
    err = []

    def target():
        try:
            fn(*args)
        except BaseException as e:  # pragma: no cover
            err.append(e)
    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(timeout)
    assert not t.is_alive(), "parallel_for did not return (deadlock?)"
    if err:
        raise err[0]


def _run(jit, n, grain, width=0, timeout=10.0):
    out = np.full(max(n, 1), -1, dtype=np.int64)
    counts = np.zeros(max(n, 1), dtype=np.int32)
    stats = Stats(0, 2**62, -1)
    ctx = Ctx(out.ctypes.data, counts.ctypes.data, ctypes.addressof(stats), width)
    _call_with_timeout(jit["run"], ctypes.addressof(ctx), n, grain, timeout=timeout)
    return out[:n], counts[:n], stats


@pytest.mark.parametrize("nthreads", [1, 2, 3, 8])
@pytest.mark.parametrize("n", [0, 1, 2, 7, 1000, 10**6])
def test_every_element_exactly_once(jit, n, nthreads):
    tp.set_num_threads(nthreads)
    assert tp.get_num_threads() == nthreads
    out, counts, stats = _run(jit, n, grain=1)
    np.testing.assert_array_equal(out, f(np.arange(n)))
    np.testing.assert_array_equal(counts, 1)
    expected_chunks = max(1, min(nthreads, n))      # grain 1
    assert stats.calls == expected_chunks
    if n:
        assert stats.max_len - stats.min_len <= 1   # balanced contiguous chunks


@pytest.mark.parametrize("n,grain,nthreads,chunks", [
    (1000, 300, 8, 3), (1000, 1000, 8, 1), (1000, 5000, 8, 1), (1000, 0, 2, 2),
    (10**6, 1, 1, 1), (12, 4, 3, 3), (11, 4, 3, 2)])
def test_grain(jit, n, grain, nthreads, chunks):
    tp.set_num_threads(nthreads)
    out, counts, stats = _run(jit, n, grain)
    np.testing.assert_array_equal(counts, 1)
    np.testing.assert_array_equal(out, f(np.arange(n)))
    assert stats.calls == chunks
    if chunks > 1:
        assert stats.min_len >= grain


def test_thread_count_change_takes_effect(jit):
    for t in (2, 5, 1, 3):
        tp.set_num_threads(t)
        assert _run(jit, 10_000, 1)[2].calls == t
    tp.set_num_threads(10_000)
    assert tp.get_num_threads() == tp.MAX_THREADS


@pytest.mark.parametrize("nthreads", [2, 3])
def test_nested_parallel_for_runs_inline(jit, nthreads):
    tp.set_num_threads(nthreads)
    rows, width = 37, 501
    out = np.full(rows * width, -1, dtype=np.int64)
    counts = np.zeros(rows * width, dtype=np.int32)
    stats = Stats(0, 2**62, -1)
    ctx = Ctx(out.ctypes.data, counts.ctypes.data, ctypes.addressof(stats), width)
    _call_with_timeout(jit["run_nested"], ctypes.addressof(ctx), rows)
    np.testing.assert_array_equal(counts, 1)
    np.testing.assert_array_equal(out.reshape(rows, width),
                                  np.broadcast_to(f(np.arange(width)), (rows, width)))
    assert stats.calls == rows          # every inner loop ran inline, as one chunk


def test_concurrent_host_threads(jit):
    tp.set_num_threads(2)
    n, reps, errors = 300_000, 8, []

    def worker(seed):
        try:
            for rep in range(reps):
                out, counts, _ = _run(jit, n - seed * 1000 - rep, grain=1)
                assert (counts == 1).all()
                assert (out == f(np.arange(out.size))).all()
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not any(t.is_alive() for t in threads)
    assert not errors, errors


def test_sleeping_workers_are_woken(jit):
    """Idle longer than the spin phase, so every dispatch goes through futex wake/wait."""
    tp.set_num_threads(2)
    for _ in range(10):
        time.sleep(0.003)
        out, counts, stats = _run(jit, 5000, grain=1)
        assert stats.calls == 2 and (counts == 1).all()
        assert (out == f(np.arange(5000))).all()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_fork_child_gets_fresh_workers(jit):
    tp.set_num_threads(2)
    _run(jit, 1000, grain=1)                         # parent's workers exist now
    pid = os.fork()
    if pid == 0:                                     # child: the workers did not survive fork
        try:
            out, counts, stats = _run(jit, 100_000, grain=1, timeout=5)
            ok = stats.calls == 2 and (counts == 1).all() and (out == f(np.arange(100_000))).all()
        except BaseException:
            ok = False
        os._exit(0 if ok else 1)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        time.sleep(0.01)
    else:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        pytest.fail("forked child hung in parallel_for")
    assert os.waitstatus_to_exitcode(status) == 0


def test_external_work_makes_dispatches_spin_barely(jit):
    """While a thread of the process works outside the pool (graphc.data building a
    batch), the pool treats its CPU as taken: the spin budget drops at once (spins
    already under way re-read it) and every dispatch meanwhile keeps it low; after the
    matching ``end_external_work`` the count is back where it was and a dispatch on a
    pool that fits the CPUs restores the budget. The work itself is unaffected."""
    external, spin = tp._external_cells()
    ncpu = len(os.sched_getaffinity(0))

    def expected_spin():   # 2 pool threads + the external ones: more than the CPUs, or not
        return tp.OVERSUBSCRIBED_SPIN if 2 + external.value > ncpu else tp.SPIN

    tp.set_num_threads(2)
    before = external.value          # (0 unless another test's pipeline is still winding down)
    _run(jit, 10**5, grain=1)
    assert spin.value == expected_spin()
    tp.begin_external_work()
    tp.begin_external_work()
    try:
        assert external.value == before + 2 and spin.value == tp.OVERSUBSCRIBED_SPIN
        out, counts, _ = _run(jit, 10**5, grain=1)
        np.testing.assert_array_equal(counts, 1)
        np.testing.assert_array_equal(out, f(np.arange(10**5)))
        assert spin.value == expected_spin()
    finally:
        tp.end_external_work()
        tp.end_external_work()
    assert external.value == before
    _run(jit, 10**5, grain=1)
    assert spin.value == expected_spin()


def test_dispatch_overhead(jit):
    """Timing sanity print only: cost of one parallel_for with an empty body."""
    reps = 20_000
    res = {}
    for t in (1, 2):
        tp.set_num_threads(t)
        jit["bench"](1000, 2)                        # warm up (spawn workers)
        t0 = time.perf_counter()
        _call_with_timeout(jit["bench"], reps, 2)
        res[t] = (time.perf_counter() - t0) / reps * 1e6
    print(f"\ngraphc_parallel_for dispatch: {res[2]:.2f} us with 2 threads "
          f"(inline 1 thread: {res[1]:.3f} us)")


def test_declarations_match_definitions():
    a, b = ir.Module("a"), ir.Module("b")
    decls = tp.declare_threadpool(a)
    assert tp.declare_threadpool(a) == decls           # idempotent
    tp.emit_threadpool(b)
    for name, fn in decls.items():
        assert fn.is_declaration
        assert str(b.globals[name].function_type) == str(fn.function_type)
    with pytest.raises(ValueError):
        tp.emit_threadpool(b)                          # only one definition per module


def test_standalone_object_exports_only_public_symbols():
    """The pool must compile to a plain object (what a standalone .so would link)."""
    tm = tp.host_target_machine(jit=False, reloc="pic", codemodel="default")
    m = ir.Module("standalone")
    m.triple = tm.triple
    tp.emit_threadpool(m)
    mod = llvm.parse_assembly(str(m))
    mod.verify()
    assert any(sec.is_text() for sec in llvm.ObjectFileRef.from_data(tm.emit_object(mod)).sections())
    asm = tm.emit_assembly(mod)
    exported = {line.split()[1] for line in asm.splitlines() if line.strip().startswith(".globl")}
    assert exported == {"graphc_parallel_for", "graphc_set_num_threads", "graphc_get_num_threads"}
    for libc in ("pthread_create", "syscall", "sysconf", "sched_getaffinity", "getenv"):
        assert libc in asm
    globs = {g.name: g.linkage for g in mod.global_variables}
    assert all(l == llvm.Linkage.internal for l in globs.values()), globs


def test_env_var_and_default_in_fresh_process():
    code = ("from graphc.codegen import threadpool as tp; import os;"
            "print(tp.get_num_threads(), len(os.sched_getaffinity(0)))")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {k: v for k, v in os.environ.items() if k != "GRAPHC_NUM_THREADS"}
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    got, ncpu = subprocess.run([sys.executable, "-c", code], env=env, check=True,
                               capture_output=True, text=True).stdout.split()
    assert got == ncpu
    env["GRAPHC_NUM_THREADS"] = "5"
    got, _ = subprocess.run([sys.executable, "-c", code], env=env, check=True,
                            capture_output=True, text=True).stdout.split()
    assert got == "5"


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="needs sched_setaffinity (Linux)")
def test_default_follows_the_affinity_mask():
    """A process limited to one CPU (taskset, a container's cpuset) defaults to one thread."""
    code = ("import os; os.sched_setaffinity(0, {min(os.sched_getaffinity(0))});"
            "from graphc.codegen import threadpool as tp; print(tp.get_num_threads())")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {k: v for k, v in os.environ.items() if k != "GRAPHC_NUM_THREADS"}
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    out = subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True)
    assert out.stdout.split() == ["1"]


@pytest.mark.parametrize("nthreads", [2, 8])
def test_chunks_run_once_when_the_caller_takes_them(jit, nthreads):
    """Back-to-back dispatches: a chunk a worker has not started yet is run by the caller
    (so a worker slow to wake never stalls a dispatch); every chunk still runs exactly
    once, whoever runs it (8 threads on fewer CPUs make the caller take many)."""
    tp.set_num_threads(nthreads)
    n, reps = 16, 500
    out = np.full(n, -1, dtype=np.int64)
    counts = np.zeros(n, dtype=np.int32)
    stats = Stats(0, 2**62, -1)
    ctx = Ctx(out.ctypes.data, counts.ctypes.data, ctypes.addressof(stats), 0)
    for _ in range(reps):
        _call_with_timeout(jit["run"], ctypes.addressof(ctx), n, 1)
    np.testing.assert_array_equal(counts, reps)
    np.testing.assert_array_equal(out, f(np.arange(n)))
    assert stats.calls == reps * min(nthreads, n)


@pytest.mark.parametrize("env", ["", "3", " 4x", "-2", "abc", "0", "999", "1"])
def test_planned_thread_count_matches_the_pool(env):
    """The program cache keys programs by the pool's thread count before the pool is
    built (threadpool.planned_num_threads mirrors graphc_tp_default_threads): in a fresh
    process the prediction equals what the pool then picks."""
    code = ("from graphc.codegen import threadpool as t\n"
            "a = t.planned_num_threads(); b = t.get_num_threads(); print(a, b)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                       env=dict(os.environ, GRAPHC_NUM_THREADS=env))
    assert r.returncode == 0, r.stderr
    a, b = r.stdout.split()
    assert a == b
