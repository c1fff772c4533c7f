"""Fused-vs-naive-vs-numpy-vs-peers benchmark runner.

    python -m bench [--quick] [--json FILE] [--only SUBSTR] [--reps N]
                    [--isa native|avx2|avx512] [--peers jax,torch,torch.compile|none]
                    [--peers-python PATH] [--no-cold] [--no-pipeline]

Every case runs in graphc's naive mode (one kernel per op, every intermediate in
memory), fused mode, and numpy, several repetitions after warm-up, all in one process
and one run, so the ratios are comparable. Memory-bound cases are also compared with
the machine's memcpy floor for the same bytes (numpy ``x.copy()``), matmul-heavy cases
with a measured FMA peak of this machine (all cores).

Peers: the same cases, on the same arrays, in JAX (jax.jit), PyTorch eager and
torch.compile, in a subprocess of the same run (bench/peers.py; the interpreter that
has them: ``--peers-python`` or GRAPHC_PEERS_PYTHON, default this one), each with its
time and graphc's ratio to it. Cold compile: the MLP Adam step's first call in a fresh
process with an empty cache, for graphc and (from the peer run) JAX. Input pipeline:
an MNIST MLP Adam epoch fed pre-sliced numpy batches vs a graphc.data pipeline
(bench/input_pipeline.py), steps/s of both and their ratio.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

import graphc as gc

from .cases import default_cases
from .timing import timeit


def memcpy_floor_ms(nbytes: int, reps: int) -> float:
    """numpy's copy of nbytes/2 bytes moves nbytes (read + write): the memory floor."""
    src = np.ones(max(nbytes // 2 // 4, 1), np.float32)
    return timeit(lambda: src.copy(), reps)[0]


def fma_peak_gflops() -> float:
    """Peak fp32 FMA throughput of all cores, from a register-only LLVM kernel."""
    from .peak import measure_peak_gflops

    return measure_peak_gflops()


def run_case(case, reps: int):
    row = {"case": case.name}
    fused = gc.compile(case.fn, fuse=True)
    naive = gc.compile(case.fn, fuse=False)
    t0 = time.perf_counter()
    out_fused = fused(*case.args)
    row["compile_s_fused"] = round(time.perf_counter() - t0, 3)
    ref = case.numpy_fn(*case.args)
    if not case.stateful:
        out_naive = naive(*case.args)
        refs, _ = gc.pytree.flatten(ref)
        for name, out in (("fused", out_fused), ("naive", out_naive)):
            for got, want in zip(gc.pytree.flatten(out)[0], refs):
                np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=case.rtol, atol=case.rtol,
                                           err_msg=f"{case.name}: {name} result differs from numpy")
    else:
        np.testing.assert_allclose(float(out_fused), float(ref), rtol=case.rtol, err_msg=f"{case.name}: first step loss")
        naive(*case.args)
    row["numpy_ms"], row["numpy_min_ms"] = timeit(lambda: case.numpy_fn(*case.args), reps)
    row["naive_ms"], row["naive_min_ms"] = timeit(lambda: naive(*case.args), reps)
    row["fused_ms"], row["fused_min_ms"] = timeit(lambda: fused(*case.args), reps)
    row["speedup_fused_vs_naive"] = row["naive_ms"] / row["fused_ms"]
    row["speedup_fused_vs_numpy"] = row["numpy_ms"] / row["fused_ms"]
    plan = fused.memory_plan(*case.args)
    row["planned_peak_bytes"] = plan["planned_peak_bytes"]
    row["naive_intermediate_bytes"] = plan["naive_bytes"]
    row["kernels_fused"] = plan["kernels"]
    row["kernels_naive"] = naive.memory_plan(*case.args)["kernels"]
    if case.bytes_moved:
        floor = memcpy_floor_ms(case.bytes_moved, reps)
        row["memcpy_floor_ms"] = floor
        row["fused_vs_memcpy"] = row["fused_ms"] / floor
        row["fused_GBps"] = case.bytes_moved / row["fused_ms"] / 1e6
        row["memcpy_GBps"] = case.bytes_moved / floor / 1e6
    if case.flops:
        row["fused_GFLOPs"] = case.flops / row["fused_ms"] / 1e6
        row["numpy_GFLOPs"] = case.flops / row["numpy_ms"] / 1e6
    return row


def format_table(rows, peak):
    cols = [("case", "{:<24}"), ("numpy_ms", "{:>9.3f}"), ("naive_ms", "{:>9.3f}"), ("fused_ms", "{:>9.3f}"),
            ("speedup_fused_vs_naive", "{:>8.2f}x"), ("speedup_fused_vs_numpy", "{:>8.2f}x"),
            ("fused_vs_memcpy", "{:>8.2f}x"), ("fused_GBps", "{:>7.1f}"), ("fused_GFLOPs", "{:>7.1f}"),
            ("planned_peak_bytes", "{:>11}"), ("compile_s_fused", "{:>6.3f}")]
    heads = ["case", "numpy ms", "naive ms", "fused ms", "vs naive", "vs numpy", "vs memcpy", "GB/s", "GFLOP/s",
             "peak bytes", "compile"]
    widths = [24, 9, 9, 9, 9, 9, 9, 7, 7, 11, 6]
    lines = ["  ".join(h.rjust(w) if k else h.ljust(w) for k, (h, w) in enumerate(zip(heads, widths)))]
    for r in rows:
        cells = []
        for (key, fmt), w in zip(cols, widths):
            v = r.get(key)
            cells.append(fmt.format(v) if v is not None else "-".rjust(w))
        lines.append("  ".join(cells))
    if peak:
        lines.append(f"FMA peak (all cores, measured): {peak:.0f} GFLOP/s; "
                     + "; ".join(f"{r['case']}: {r['fused_GFLOPs'] / peak:.0%} of peak" for r in rows if "fused_GFLOPs" in r))
    return "\n".join(lines)


COLD_CASE = "mlp_adam_step_b{batch}"


def cold_compile(quick: bool, peers: dict) -> dict:
    """graphc's cold first call of the MLP Adam step next to JAX's first call (same run)."""
    from .peers import cold_compile_graphc

    name = COLD_CASE.format(batch=32 if quick else 256)
    out = {"case": name, "graphc": cold_compile_graphc(name, quick),
           "graphc_new_model": cold_compile_graphc(name, quick, prime_runtime=True)}
    jax_case = peers.get("cases", {}).get("jax", {}).get(name, {})
    if "first_call_s" in jax_case:
        out["jax_first_call_s"] = jax_case["first_call_s"]
        if "first_call_s" in out["graphc"]:
            out["graphc_ratio"] = out["graphc"]["first_call_s"] / jax_case["first_call_s"]
        if "first_call_s" in out["graphc_new_model"]:
            out["graphc_new_model_ratio"] = out["graphc_new_model"]["first_call_s"] / jax_case["first_call_s"]
    return out


def main(argv=None):
    from .peers import FRAMEWORKS, format_peer_table, merge_peer_results, peers_python, run_peers

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="CI-sized smoke run")
    p.add_argument("--json", help="write the rows as JSON to this file")
    p.add_argument("--only", help="run only cases whose name contains this")
    p.add_argument("--reps", type=int, default=None)
    p.add_argument("--isa", default="native", choices=["native", "avx2", "avx512"],
                   help="instruction set every framework is limited to (set up by __main__)")
    p.add_argument("--peers", default=None,
                   help="comma-separated peers to run: jax, torch, torch.compile (default: all; "
                        "--quick: jax,torch), or none")
    p.add_argument("--peers-python", default=None,
                   help="interpreter that has the peers (default: $GRAPHC_PEERS_PYTHON or this one)")
    p.add_argument("--no-cold", action="store_true", help="skip the cold-compile measurement")
    p.add_argument("--no-pipeline", action="store_true",
                   help="skip the input-pipeline epoch (pre-sliced numpy vs graphc.data)")
    p.add_argument("--plot", help="write a roofline chart and a graphc-vs-numpy-vs-peers bar chart (PNG; "
                                  "needs matplotlib: pip install 'graphc[plot]')")
    a = p.parse_args(argv)
    if a.plot:
        from .plot import MISSING, have_matplotlib

        if not have_matplotlib():
            p.error(MISSING)
    reps = a.reps or (3 if a.quick else 10)
    if a.peers is None:
        frameworks = ["jax", "torch"] if a.quick else list(FRAMEWORKS)
    else:
        frameworks = [f for f in a.peers.split(",") if f and f != "none"]
    unknown = set(frameworks) - set(FRAMEWORKS)
    if unknown:
        p.error(f"unknown peers {sorted(unknown)}; choose from {', '.join(FRAMEWORKS)}")
    # compile times are reported cold: no on-disk cache of compiled code in this process
    os.environ["GRAPHC_CACHE"] = "0"
    cases = [c for c in default_cases(a.quick) if not a.only or a.only in c.name]
    from graphc.codegen.threadpool import get_num_threads

    isa = os.environ.get("GRAPHC_BENCH_ISA", a.isa)
    print(f"graphc bench: {len(cases)} cases, {get_num_threads()} threads, reps >= {reps}, isa {isa}"
          f" (GRAPHC_CPU={os.environ.get('GRAPHC_CPU') or 'host'})" + (" (quick)" if a.quick else ""), flush=True)
    rows = []
    for case in cases:
        rows.append(run_case(case, reps))
        print(f"  done {case.name}", file=sys.stderr, flush=True)
    peak = None if a.quick else fma_peak_gflops()
    print(format_table(rows, peak))
    peers = {"cases": {}}
    if frameworks:
        python = peers_python(a.peers_python)
        peers = run_peers(cases, python, frameworks, reps)
        merge_peer_results(rows, peers)
        if peers.get("error"):
            print(f"peers: {peers['error']}")
        table = format_peer_table(rows, peers)
        if table:
            print(table)
    cold = None
    if not a.no_cold and (not a.only or a.only in COLD_CASE):
        cold = cold_compile(a.quick, peers)
        g = cold["graphc"]
        line = f"cold compile ({cold['case']}, empty cache, new process): graphc " + (
            f"{g['first_call_s']:.2f} s" if "first_call_s" in g else g.get("error", "?"))
        if "jax_first_call_s" in cold:
            line += f", JAX first call {cold['jax_first_call_s']:.2f} s"
        if "graphc_ratio" in cold:
            line += f" (graphc/JAX {cold['graphc_ratio']:.2f}x)"
        g2 = cold["graphc_new_model"]
        line += "; new model (runtime already cached): graphc " + (
            f"{g2['first_call_s']:.2f} s" if "first_call_s" in g2 else g2.get("error", "?"))
        if "graphc_new_model_ratio" in cold:
            line += f" (graphc/JAX {cold['graphc_new_model_ratio']:.2f}x)"
        print(line)
    if a.plot:
        from graphc.machine import machine_figures

        from .plot import plot

        machine = machine_figures()
        if peak:  # the runner's longer measurement (best of more runs) where it made one
            machine["fma_peak_gflops"] = max(machine["fma_peak_gflops"], peak)
        print(f"wrote {plot(rows, cases, a.plot, machine)}")
    pipeline = None
    if not a.no_pipeline and (not a.only or a.only in "input_pipeline"):
        from .input_pipeline import format_line, measure  # issue 14: is the input work hidden?

        pipeline = measure(a.quick)
        print(format_line(pipeline))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"rows": rows, "input_pipeline": pipeline, "fma_peak_gflops": peak, "threads": get_num_threads(),
                       "cpu": os.environ.get("GRAPHC_CPU") or "host", "isa": isa,
                       "peers": {k: v for k, v in peers.items() if k != "cases"}, "cold_compile": cold},
                      f, indent=2)
    return 0
