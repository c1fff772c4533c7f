"""The machine's measured limits: float32 FMA peak and memory bandwidth.

``f.explain`` and ``python -m bench`` put every kernel against these two figures (the
roofline: a kernel moving B bytes and doing F flops needs at least
max(B / bandwidth, F / peak) seconds). Both are measured once per process and cached.

FMA peak: a register-only LLVM kernel on every core, shaped by the CPU model graphc
generates code for (host or GRAPHC_CPU): vectors of its width (16 floats on AVX-512,
8 on AVX2, 4 on SSE), and enough independent accumulator chains to cover the FMA
latency x FMA ports of the core (4 x 2 = 8 on Skylake/Zen 3, 5 x 2 = 10 on Haswell)
with margin, within the register file. A 512-bit kernel on an AVX2 core would be
split into ymm halves and spill, and too few chains leave ports idle: either way the
"peak" reads low. Where the CPU has no FMA, ``llvm.fmuladd`` becomes a multiply and an
add (never a libm call); its peak counts those two flops per lane as well.

Bandwidth: the best of a numpy copy and a graphc elementwise kernel (all pool
threads) over arrays far larger than the last-level cache, counting bytes read plus
bytes written.
"""
from __future__ import annotations

import ctypes
import time

from llvmlite import ir

ITERATIONS = 2_000_000  # per run (~10 ms); the best of RUNS counts, so other load
RUNS = 30               # on the machine shows up as noise rather than as a low peak


def accumulators(model) -> int:
    """Independent chains: latency x ports plus a margin of 4, at least 10, leaving
    registers for the two constant operands (and a product temporary without FMA)."""
    free = model.vector_registers - 2 - (0 if model.has_fma else 1)
    return max(1, min(free, max(10, model.fma_accumulators + 4)))


def _module(model, suffix=""):
    from .codegen.threadpool import declare_threadpool

    lanes = model.lanes("float32")
    chains = accumulators(model)
    mod = ir.Module("fma_peak")
    vt = ir.VectorType(ir.FloatType(), lanes)
    op = "fma" if model.has_fma else "fmuladd"
    fma = ir.Function(mod, ir.FunctionType(vt, [vt] * 3), name=f"llvm.{op}.v{lanes}f32")
    i8p = ir.IntType(8).as_pointer()
    i64 = ir.IntType(64)
    body = ir.Function(mod, ir.FunctionType(ir.VoidType(), [i8p, i64, i64]), "fma_peak_body" + suffix)
    b = ir.IRBuilder(body.append_basic_block("entry"))
    loop = body.append_basic_block("loop")
    done = body.append_basic_block("done")
    start = b.block
    b.branch(loop)
    b.position_at_end(loop)
    i = b.phi(i64)
    accs = [b.phi(vt) for _ in range(chains)]
    splat = lambda v: ir.Constant(vt, [ir.Constant(ir.FloatType(), v)] * lanes)  # noqa: E731
    x, y = splat(0.999999), splat(1e-7)
    new = [b.call(fma, [a, x, y]) for a in accs]
    n = b.add(i, ir.Constant(i64, 1))
    i.add_incoming(ir.Constant(i64, 0), start)
    i.add_incoming(n, loop)
    for a, v in zip(accs, new):
        a.add_incoming(splat(1.0), start)
        a.add_incoming(v, loop)
    b.cbranch(b.icmp_signed("<", n, ir.Constant(i64, ITERATIONS)), loop, done)
    b.position_at_end(done)
    total = new[0]
    for v in new[1:]:
        total = b.fadd(total, v)
    # one slot of `lanes` floats per chunk (the chunk index is the begin argument)
    out = b.gep(b.bitcast(body.args[0], vt.as_pointer()), [body.args[1]])
    b.store(total, out, align=4)  # the caller's buffer is not vector aligned
    b.ret_void()
    pfor = declare_threadpool(mod)["graphc_parallel_for"]
    main = ir.Function(mod, ir.FunctionType(ir.VoidType(), [i8p, i64]), "fma_peak_main" + suffix)
    b = ir.IRBuilder(main.append_basic_block("entry"))
    b.call(pfor, [b.bitcast(body, pfor.function_type.args[0]), main.args[0], main.args[1], ir.Constant(i64, 1)])
    b.ret_void()
    return mod, lanes, chains


_loaded: dict = {}


def _load(model):
    """Compile the probe for ``model`` like a graphc program (same target machines) and
    load it next to the thread pool; returns the entry's address."""
    import llvmlite.binding as llvm
    from .codegen import llvm_cpu, threadpool
    from .codegen.gemm_runtime import _model_tag

    key = (model.name, model.features)
    suffix = "_" + _model_tag(model)  # one probe per model can live in the engine
    if key not in _loaded:
        threadpool.get_runtime_engine()
        if hasattr(threadpool, "publish_symbols"):  # the pool's symbols, for the object's calls
            threadpool.publish_symbols()
        mod_ir, lanes, chains = _module(model, suffix)
        mod = llvm.parse_assembly(str(mod_ir))
        llvm_cpu.init_llvm()
        tm = llvm.Target.from_default_triple().create_target_machine(  # as the JIT's, for `model`
            cpu=model.name, features=model.features, opt=3, jit=True)
        mod.triple, mod.data_layout = tm.triple, str(tm.target_data)
        llvm_cpu.optimize(mod, tm)
        threadpool.add_object(tm.emit_object(mod))
        _loaded[key] = (threadpool.get_function_address("fma_peak_main" + suffix), lanes, chains)
    return _loaded[key]


def measure_peak(model=None, runs: int | None = None) -> dict:
    """{'gflops': all cores, 'gflops_per_core', 'lanes', 'chains', 'threads'}."""
    from .codegen import threadpool
    from .codegen.cpu import current_model

    model = model or current_model()
    addr, lanes, chains = _load(model)
    fn = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int64)(addr)
    threads = threadpool.get_num_threads()
    buf = (ctypes.c_float * (lanes * threads))()
    fn(ctypes.addressof(buf), threads)  # warm up, start workers
    dt = float("inf")
    for _ in range(RUNS if runs is None else runs):
        t0 = time.perf_counter()
        fn(ctypes.addressof(buf), threads)
        dt = min(dt, time.perf_counter() - t0)
    flops = 2 * lanes * chains * ITERATIONS * threads
    return {"gflops": flops / dt / 1e9, "gflops_per_core": flops / dt / 1e9 / threads,
            "lanes": lanes, "chains": chains, "threads": threads}


def measure_peak_gflops() -> float:
    """Peak float32 multiply-add GFLOP/s of all cores for the current CPU model."""
    return measure_peak()["gflops"]


_figures: dict = {}


def measure_bandwidth(runs: int = 10) -> float:
    """Streaming bandwidth in bytes/s (read + write), best of ``runs``."""
    import numpy as np

    from .codegen.cpu import current_model
    from .compiler import compile as gc_compile

    nbytes = max(64 << 20, 4 * current_model().l3_per_core * max(1, current_model().cores))
    n = nbytes // 4
    x = np.ones(n, np.float32)
    add = gc_compile(lambda a: a + 1.0)
    best = float("inf")
    for fn in (lambda: x.copy(), lambda: add(x)):
        fn()
        for _ in range(runs):
            t0 = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - t0)
    return 2 * n * 4 / best


def machine_figures() -> dict:
    """{'bandwidth_gbs', 'fma_peak_gflops', 'threads'} of this machine, measured on
    first use and cached for the process."""
    if not _figures:
        peak = measure_peak(runs=10)
        _figures.update(bandwidth_gbs=measure_bandwidth() / 1e9, fma_peak_gflops=peak["gflops"],
                        threads=peak["threads"])
    return dict(_figures)
