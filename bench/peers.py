"""Running the bench's cases in the peers (JAX, PyTorch) and graphc's cold compile.

The peers run in a subprocess (bench/peer_cases.py), with this interpreter or another
one (``--peers-python`` or ``GRAPHC_PEERS_PYTHON``, e.g. a virtual environment holding
jax and torch): graphc never imports them. The subprocess gets the very arrays graphc
ran on (saved to an .npz), and the environment of this run (so ``--isa`` limits XLA,
PyTorch and OpenBLAS as it limits graphc).

Cold compile: a fresh process with an empty cache directory builds one case and times
its first call (trace, passes, LLVM, load, run), for graphc; the peers' first call
(jit tracing and XLA / inductor compilation) is timed by the worker in the same run.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FRAMEWORKS = ("jax", "torch", "torch.compile")


def peers_python(cli_value: str | None) -> str:
    return cli_value or os.environ.get("GRAPHC_PEERS_PYTHON") or sys.executable


def run_peers(cases, python: str, frameworks, reps: int, timeout: float = 3600) -> dict:
    """Time ``cases`` (those with a ``peer``) in each framework; returns the worker's
    result ({"versions", "cases": {framework: {case: {"ms", "min_ms", "first_call_s"} or
    {"error"}}}}) or {"error": why} when the worker could not run at all."""
    cases = [c for c in cases if c.peer]
    if not cases or not frameworks:
        return {"cases": {}}
    with tempfile.TemporaryDirectory(prefix="graphc-bench-peers-") as tmp:
        arrays = {}
        spec_cases = []
        for c in cases:
            inputs = c.peer_inputs if c.peer_inputs is not None else {}
            for k, v in inputs.items():
                arrays[f"{c.name}/{k}"] = np.asarray(v)
            spec_cases.append({"name": c.name, "peer": c.peer, "inputs": list(inputs)})
        spec = {"cases": spec_cases, "frameworks": list(frameworks), "reps": reps}
        paths = [os.path.join(tmp, n) for n in ("spec.json", "inputs.npz", "out.json")]
        with open(paths[0], "w") as f:
            json.dump(spec, f)
        np.savez(paths[1], **arrays)
        try:
            r = subprocess.run([python, "-m", "bench.peer_cases", *paths], cwd=ROOT, timeout=timeout,
                               stdout=subprocess.PIPE, stderr=sys.stderr, text=True)
        except (OSError, subprocess.TimeoutExpired) as e:
            return {"error": f"peer worker ({python}) did not run: {e}", "cases": {}}
        if r.returncode != 0 or not os.path.exists(paths[2]):
            return {"error": f"peer worker ({python}) exited with {r.returncode}", "cases": {}}
        with open(paths[2]) as f:
            out = json.load(f)
    out["python"] = python
    return out


def merge_peer_results(rows, peers: dict) -> None:
    """Add each framework's time and graphc's ratio to it (graphc ms / peer ms: below 1
    means graphc is faster) to the rows, as ``row["peers"][framework]``."""
    for row in rows:
        for fw, per_case in peers.get("cases", {}).items():
            res = per_case.get(row["case"]) if "error" not in per_case else {"error": per_case["error"]}
            if res is None:
                continue
            entry = dict(res)
            if "ms" in res and res["ms"] > 0:
                entry["graphc_ratio"] = row["fused_ms"] / res["ms"]
            row.setdefault("peers", {})[fw] = entry


def format_peer_table(rows, peers: dict) -> str:
    fws = [fw for fw in FRAMEWORKS if fw in peers.get("cases", {})]
    if not fws:
        return ""
    lines = []
    for fw in fws:
        err = peers["cases"][fw].get("error")
        if err:
            lines.append(f"{fw}: {err}")
    heads = ["case", "graphc ms"] + [f"{fw} ms" for fw in fws] + [f"/{fw}" for fw in fws]
    widths = [24, 10] + [max(10, len(h)) for h in heads[2:2 + len(fws)]] + [max(8, len(h)) for h in heads[2 + len(fws):]]
    lines.append("  ".join(h.rjust(w) if k else h.ljust(w) for k, (h, w) in enumerate(zip(heads, widths))))
    for row in rows:
        p = row.get("peers")
        if not p:
            continue
        cells = [row["case"].ljust(widths[0]), f"{row['fused_ms']:.3f}".rjust(widths[1])]
        for fw, w in zip(fws, widths[2:]):
            e = p.get(fw, {})
            cells.append((f"{e['ms']:.3f}" if "ms" in e else "err" if "error" in e else "-").rjust(w))
        for fw, w in zip(fws, widths[2 + len(fws):]):
            e = p.get(fw, {})
            cells.append((f"{e['graphc_ratio']:.2f}x" if "graphc_ratio" in e else "-").rjust(w))
        lines.append("  ".join(cells))
    lines.append("ratio = graphc time / peer time (below 1: graphc faster); same inputs, same run")
    vers = peers.get("versions", {})
    lines.append("peers: " + ", ".join(f"{k} {v}" for k, v in vers.items() if v and not k.endswith("_error"))
                 + f" ({peers.get('python', '?')})")
    return "\n".join(lines)


def cold_compile_graphc(case_name: str, quick: bool, timeout: float = 600, prime_runtime: bool = False) -> dict:
    """First call of one bench case in a fresh process with an empty graphc cache
    directory: {"first_call_s": ..., "warm_call_s": ...} or {"error": ...}.
    ``prime_runtime``: the cache directory first gets the model-independent runtime
    (thread pool, GEMM, step interpreter: what any earlier graphc program on the machine
    leaves there, as jaxlib ships XLA's compiled), from another process compiling an
    unrelated product; none of the case's kernels."""
    from .compile_scaling import _ensure_bytecode

    _ensure_bytecode()
    with tempfile.TemporaryDirectory(prefix="graphc-bench-cold-") as cache:
        env = dict(os.environ, GRAPHC_CACHE_DIR=cache, GRAPHC_CACHE="1")
        if prime_runtime:
            subprocess.run([sys.executable, "-m", "bench.compile_scaling", "--child", "runtime", "--layers", "0"],
                           cwd=ROOT, env=env, timeout=timeout, capture_output=True, text=True)
        cmd = [sys.executable, "-m", "bench.cold", case_name] + (["--quick"] if quick else [])
        try:
            r = subprocess.run(cmd, cwd=ROOT, env=env, timeout=timeout, capture_output=True, text=True)
        except subprocess.TimeoutExpired:
            return {"error": f"cold compile of {case_name} timed out"}
        if r.returncode != 0:
            return {"error": (r.stderr.strip().splitlines() or ["?"])[-1][:300]}
        return json.loads(r.stdout.strip().splitlines()[-1])
