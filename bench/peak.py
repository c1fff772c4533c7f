"""Measure the machine's float32 multiply-add peak (the probe lives in graphc/machine.py,
where f.explain uses it too).

    python -m bench.peak          # prints the model and GFLOP/s per core and in total
"""
from __future__ import annotations

from graphc.machine import ITERATIONS, RUNS, accumulators, measure_peak, measure_peak_gflops  # noqa: F401

if __name__ == "__main__":
    from graphc.codegen.cpu import current_model

    m = current_model()
    r = measure_peak(m)
    print(m)
    print(f"peak: {r['gflops']:.0f} GFLOP/s on {r['threads']} threads ({r['gflops_per_core']:.0f} per core; "
          f"{r['lanes']} x f32 vectors, {r['chains']} chains)")
