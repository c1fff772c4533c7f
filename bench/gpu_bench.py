"""GPU figures for issue 5, to run on a machine with an NVIDIA GPU:

    python bench/gpu_bench.py [--n 67108864] [--gemm 4096] [--emulate]

1. The fused elementwise chain ``tanh(x*1.5+0.5)*sigmoid(x)+x*x`` on n float32 (64M by
   default): kernel time (CUDA events, inputs already on the device), its effective
   bandwidth (read x + write the result = 8 bytes per element) and that as a fraction
   of the device-to-device copy bandwidth (cuMemcpyDtoD of the same 4n bytes, counted
   as read + write). Target: >= 80%.
2. sgemm: C = A @ B for 4096x4096 float32, GFLOP/s = 2*n^3 / kernel time.
Results are checked against numpy (the chain on every element to 1e-5 relative, the
GEMM on 64 sampled rows to 1e-3 relative) before any figure is printed.
``--emulate`` runs tiny sizes on the CPU emulator (checks the script, figures meaningless).
"""
from __future__ import annotations

import argparse
import contextlib
import json

import numpy as np

import graphc as gc


def chain(x):
    return gc.tanh(x * 1.5 + 0.5) * gc.sigmoid(x) + x * x


def executable(f, *args):
    return f._compile(args).executable


def bench_chain(n, repeat):
    rng = np.random.default_rng(0)
    x = rng.uniform(-4, 4, n).astype(np.float32)
    f = gc.compile(chain, target="cuda")
    got = f(x)
    want = (np.tanh(x * 1.5 + 0.5) * (1 / (1 + np.exp(-x))) + x * x).astype(np.float32)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    exe = executable(f, x)
    t_chain = exe.time_gpu([x], repeat)
    (dev,) = exe.gpus.values()
    src, dst = dev.alloc(4 * n), dev.alloc(4 * n)
    try:
        dev.dtod(dst, src, 4 * n)
        t_copy = dev.time(lambda: dev.dtod(dst, src, 4 * n), repeat)
    finally:
        dev.free(src)
        dev.free(dst)
    return {"n": n, "chain_ms": t_chain * 1e3, "chain_GBps": 8 * n / t_chain / 1e9,
            "dtod_copy_GBps": 8 * n / t_copy / 1e9, "fraction_of_copy_bandwidth": t_copy / t_chain,
            "device": getattr(dev, "name", str(dev))}


def bench_sgemm(n, repeat):
    rng = np.random.default_rng(1)
    a = rng.standard_normal((n, n)).astype(np.float32)
    b = rng.standard_normal((n, n)).astype(np.float32)
    f = gc.compile(lambda a, b: a @ b, target="cuda")
    c = f(a, b)
    rows = rng.choice(n, min(64, n), replace=False)
    want = a[rows].astype(np.float64) @ b.astype(np.float64)
    np.testing.assert_allclose(c[rows], want, rtol=1e-3, atol=1e-3 * np.sqrt(n))
    t = executable(f, a, b).time_gpu([a, b], repeat)
    return {"n": n, "ms": t * 1e3, "GFLOPs": 2 * n ** 3 / t / 1e9}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=64 << 20)
    p.add_argument("--gemm", type=int, default=4096)
    p.add_argument("--repeat", type=int, default=20)
    p.add_argument("--emulate", action="store_true", help="tiny sizes on the CPU emulator")
    args = p.parse_args(argv)
    ctx = contextlib.nullcontext()
    if args.emulate:
        from graphc.device import simulated_gpus

        ctx = simulated_gpus(1)
        args.n, args.gemm, args.repeat = min(args.n, 4096), min(args.gemm, 64), 1
    with ctx:
        result = {"elementwise_chain": bench_chain(args.n, args.repeat),
                  "sgemm": bench_sgemm(args.gemm, max(1, args.repeat // 4))}
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
