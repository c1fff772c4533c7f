"""Measure the machine's fp32 FMA peak with a register-only LLVM kernel on every core."""
from __future__ import annotations

import ctypes
import time

from llvmlite import ir

ACCUMULATORS = 12   # independent FMA chains: enough to cover FMA latency x 2 pipes
ITERATIONS = 20_000_000


def _module():
    from graphc.codegen.threadpool import declare_threadpool

    mod = ir.Module("fma_peak")
    f32x16 = ir.VectorType(ir.FloatType(), 16)
    fma = ir.Function(mod, ir.FunctionType(f32x16, [f32x16] * 3), name="llvm.fma.v16f32")
    i8p = ir.IntType(8).as_pointer()
    i64 = ir.IntType(64)
    body = ir.Function(mod, ir.FunctionType(ir.VoidType(), [i8p, i64, i64]), "fma_body")
    b = ir.IRBuilder(body.append_basic_block("entry"))
    loop = body.append_basic_block("loop")
    done = body.append_basic_block("done")
    start = b.block
    b.branch(loop)
    b.position_at_end(loop)
    i = b.phi(i64)
    accs = [b.phi(f32x16) for _ in range(ACCUMULATORS)]
    x = ir.Constant(f32x16, [ir.Constant(ir.FloatType(), 0.999999)] * 16)
    y = ir.Constant(f32x16, [ir.Constant(ir.FloatType(), 1e-7)] * 16)
    new = [b.call(fma, [a, x, y]) for a in accs]
    n = b.add(i, ir.Constant(i64, 1))
    i.add_incoming(ir.Constant(i64, 0), start)
    i.add_incoming(n, loop)
    for a, v in zip(accs, new):
        a.add_incoming(ir.Constant(f32x16, [ir.Constant(ir.FloatType(), 1.0)] * 16), start)
        a.add_incoming(v, loop)
    b.cbranch(b.icmp_signed("<", n, ir.Constant(i64, ITERATIONS)), loop, done)
    b.position_at_end(done)
    total = new[0]
    for v in new[1:]:
        total = b.fadd(total, v)
    out = b.bitcast(body.args[0], f32x16.as_pointer())
    b.store(total, out, align=4)  # the caller's buffer is not 64-byte aligned
    b.ret_void()
    pfor = declare_threadpool(mod)["graphc_parallel_for"]
    main = ir.Function(mod, ir.FunctionType(ir.VoidType(), [i8p, i64]), "fma_main")
    b = ir.IRBuilder(main.append_basic_block("entry"))
    b.call(pfor, [b.bitcast(body, pfor.function_type.args[0]), main.args[0], main.args[1], ir.Constant(i64, 1)])
    b.ret_void()
    return mod


def measure_peak_gflops() -> float:
    from graphc.codegen import threadpool

    threadpool.add_module(_module(), optimize=True)
    fn = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int64)(threadpool.get_function_address("fma_main"))
    threads = threadpool.get_num_threads()
    buf = (ctypes.c_float * 16)()
    fn(ctypes.addressof(buf), threads)  # warm up, start workers
    t0 = time.perf_counter()
    fn(ctypes.addressof(buf), threads)
    dt = time.perf_counter() - t0
    flops = 2 * 16 * ACCUMULATORS * ITERATIONS * threads
    return flops / dt / 1e9
