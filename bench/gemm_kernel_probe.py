"""Probe: graphc's generated GEMM (1 thread) vs numpy/OpenBLAS, in GFLOP/s.

    python bench/gemm_kernel_probe.py                 # 1024^3 float32
    python bench/gemm_kernel_probe.py --size 512 --dtype float64
    python bench/gemm_kernel_probe.py --sweep         # try block sizes
    python bench/gemm_kernel_probe.py --blocks MC=504,KC=256,NC=4096,MR=14,NV=2
    python bench/gemm_kernel_probe.py --cpu haswell   # the AVX2 micro-kernel (6 x 16)
    python bench/gemm_kernel_probe.py --cpu x86-64    # baseline SSE2, no FMA

The micro-kernel shape and blocking come from the CPU model (``--cpu`` names an LLVM
CPU, default the host or GRAPHC_CPU); ``--blocks`` overrides single fields.

numpy is timed in subprocesses (OPENBLAS_NUM_THREADS=1 and =2) with
OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE removed from their environment only, since
those overrides make OpenBLAS pick a slower kernel on this machine.
"""
import argparse
import itertools
import os
import pathlib
import subprocess
import sys
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _load_gemm():
    sys.path.insert(0, str(ROOT))
    from graphc.codegen import gemm

    return gemm


def _model(name):
    from graphc.codegen.cpu import current_model, model_for

    return model_for(name) if name else current_model()


def best_time(fn, reps, min_time=0.3):
    fn()  # warm-up
    best, total, n = float("inf"), 0.0, 0
    while n < reps or total < min_time:
        t = time.perf_counter()
        fn()
        dt = time.perf_counter() - t
        best, total, n = min(best, dt), total + dt, n + 1
    return best


def time_ours(gemm, n, dtype, reps, cpu=None, **blocks):
    f = gemm.compile_gemm_for_test(dtype, _model(cpu), **blocks)
    rng = np.random.default_rng(0)
    A = rng.standard_normal((n, n)).astype(dtype)
    B = rng.standard_normal((n, n)).astype(dtype)
    C = np.empty((n, n), dtype)
    buf = np.empty(f.pack_elems, dtype)
    args = (n, n, n, A.ctypes.data, n, 1, B.ctypes.data, n, 1, C.ctypes.data, n, 0, 0, n,
            buf.ctypes.data)
    t = best_time(lambda: f(*args), reps)
    ref = A.astype(np.float64) @ B.astype(np.float64)
    err = np.abs(C - ref).max() / (np.abs(A).max() * np.abs(B).max() * n)
    assert err < (1e-5 if dtype == "float32" else 1e-12), err
    return 2 * n**3 / t / 1e9


NUMPY_SNIPPET = """
import time, numpy as np
n, dtype, reps = {n}, "{dtype}", {reps}
rng = np.random.default_rng(0)
A = rng.standard_normal((n, n)).astype(dtype); B = rng.standard_normal((n, n)).astype(dtype)
A @ B
best = min((lambda t: (A @ B, time.perf_counter() - t)[1])(time.perf_counter()) for _ in range(reps))
print(2 * n**3 / best / 1e9)
"""


def time_numpy(n, dtype, reps, threads):
    env = {k: v for k, v in os.environ.items()
           if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    env.update(OPENBLAS_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads))
    out = subprocess.run([sys.executable, "-c", NUMPY_SNIPPET.format(n=n, dtype=dtype, reps=reps)],
                         env=env, capture_output=True, text=True, check=True)
    return float(out.stdout.strip())


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--blocks", default="", help="e.g. MC=504,KC=256")
    ap.add_argument("--sweep", action="store_true", help="try a grid of block sizes")
    ap.add_argument("--no-numpy", action="store_true")
    ap.add_argument("--cpu", default="", help="LLVM CPU name for the model (default: host / GRAPHC_CPU)")
    a = ap.parse_args()
    gemm = _load_gemm()
    n, dt = a.size, a.dtype
    if a.sweep:
        grid = dict(MR=[14, 12, 8], KC=[192, 256, 384, 512], MC=[168, 336, 504, 1008])
        for mr, kc, mc in itertools.product(*grid.values()):
            mc = mc - mc % mr
            g = time_ours(gemm, n, dt, 5, a.cpu, MR=mr, KC=kc, MC=mc)
            print(f"MR={mr:2d} KC={kc:4d} MC={mc:5d}: {g:7.1f} GFLOP/s", flush=True)
        return
    blocks = {k: int(v) for k, v in (kv.split("=") for kv in a.blocks.split(",") if kv)}
    cfg = gemm.replace(gemm.gemm_config(dt, _model(a.cpu)), **blocks)
    print(f"{n}x{n}x{n} {dt}, best of >= {a.reps} runs; CPU {_model(a.cpu).name}: {cfg}")
    print(f"  graphc gemm, 1 thread : {time_ours(gemm, n, dt, a.reps, a.cpu, **blocks):7.1f} GFLOP/s",
          flush=True)
    if not a.no_numpy:
        for th in (1, 2):
            g = time_numpy(n, dt, a.reps, th)
            print(f"  numpy/OpenBLAS, {th} thr: {g:7.1f} GFLOP/s")


if __name__ == "__main__":
    main()
