"""Compile time against depth: the L-layer Adam step of issue 13, cold and warm, next to JAX.

    python -m bench.compile_scaling [--layers 2,8,32,64] [--json FILE] [--no-jax]

Model: h = x; L times h = tanh(h @ w_l) (64x64 weights, batch 32); loss = mean(h*h);
one Adam step (forward, backward, update) per call.

Every measurement runs in a fresh process so nothing is shared through memory:
- graphc cold: an empty GRAPHC_CACHE_DIR (nothing on disk either);
- graphc new model: the disk cache holds only the model-independent runtime (thread
  pool, GEMM: what any earlier graphc program on this machine leaves there), none of
  this model's kernels;
- graphc warm: a second process on the cache directory the cold run filled;
- JAX: ``jax.jit`` compile + first call from the peers' interpreter
  (``/work/peers/bin/python`` or ``$GRAPHC_PEERS_PYTHON``), when it has JAX.
"compile" is the wall time of the first call (trace, compile, run); "step" the median
of later calls. Then the MNIST MLP Adam step (784-300-100-10) compiled once with a
symbolic batch (``dynamic="batch"``) against static compiles, per call at batches 256
and 2000 (medians, interleaved rounds). graphc's phase breakdown comes from ``f.compile_stats`` when it exists.
The machine may be shared: compare ratios from one run, not absolute seconds.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

WIDTH, BATCH = 64, 32
PEERS_PYTHON = os.environ.get("GRAPHC_PEERS_PYTHON", "/work/peers/bin/python")


def _inputs(layers):
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.standard_normal((BATCH, WIDTH)).astype(np.float32)
    ws = [(rng.standard_normal((WIDTH, WIDTH)) / np.sqrt(WIDTH)).astype(np.float32) for _ in range(layers)]
    return x, ws


def _median_step(call, reps=20):
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        call()
        times.append(time.perf_counter() - t0)
    times.sort()
    return times[len(times) // 2]


def child_graphc(layers: int) -> dict:
    """One measurement of graphc in this (fresh) process."""
    t_import = time.perf_counter()
    import graphc as gc

    import_s = time.perf_counter() - t_import
    x, ws = _inputs(layers)
    variables = [gc.Variable(w.copy(), name=f"w{k}") for k, w in enumerate(ws)]
    opt = gc.optim.Adam(learning_rate=1e-3)

    def step(x):
        h = x
        for w in variables:
            h = gc.tanh(h @ w)
        loss = (h * h).mean()
        opt.minimize(loss)
        return loss

    f = gc.compile(step)
    t0 = time.perf_counter()
    f(x)
    compile_s = time.perf_counter() - t0
    out = {"layers": layers, "compile_s": compile_s, "import_s": import_s,
           "step_s": _median_step(lambda: f(x))}
    if hasattr(f, "compile_stats"):
        out["stats"] = f.compile_stats(x)
    return out


def child_symbolic() -> dict:
    """Per-call time of the MLP Adam step: symbolic batch vs static, at 256 and 2000."""
    import numpy as np

    import graphc as gc

    def make(dynamic):
        vs = []
        for k, shp in enumerate(((784, 300), (300, 100), (100, 10))):
            r = np.random.default_rng(k)
            vs += [gc.Variable((r.standard_normal(shp) / np.sqrt(shp[0])).astype(np.float32)),
                   gc.Variable(np.zeros(shp[1], np.float32))]
        opt = gc.optim.Adam(1e-3)

        def step(x, y):
            w1, b1, w2, b2, w3, b3 = vs
            h = gc.relu(x @ w1 + b1)
            h = gc.relu(h @ w2 + b2)
            loss = gc.nn.sparse_softmax_cross_entropy(h @ w3 + b3, y).mean()
            opt.minimize(loss)
            return loss

        return gc.compile(step, dynamic=dynamic)

    rng = np.random.default_rng(0)
    sym = make("batch")
    out = {}
    for n in (256, 2000):
        x = rng.random((n, 784), dtype=np.float32)
        y = rng.integers(0, 10, n).astype(np.int64)
        static = make(None)
        sym(x, y), static(x, y)
        ts, tt = [], []
        for _ in range(7):  # interleaved, so both see the same machine load
            ts.append(_median_step(lambda: sym(x, y), reps=5))
            tt.append(_median_step(lambda: static(x, y), reps=5))
        out[str(n)] = {"symbolic_s": sorted(ts)[3], "static_s": sorted(tt)[3]}
    out["symbolic_compiles"] = sym.trace_count
    return out


def child_runtime() -> dict:
    """Fill the disk cache with the runtime only: a program sharing no kernel with the
    model (a 100x90 @ 90x70 float32 product, large enough for the packed GEMM)."""
    import numpy as np

    import graphc as gc

    f = gc.compile(lambda a, b: a @ b)
    f(np.ones((100, 90), np.float32), np.ones((90, 70), np.float32))
    return {"stats": f.compile_stats(np.ones((100, 90), np.float32), np.ones((90, 70), np.float32))}


def child_jax(layers: int) -> dict:
    import jax
    import jax.numpy as jnp

    x, ws = _inputs(layers)
    b1, b2, lr, eps = 0.9, 0.999, 1e-3, 1e-8

    def loss_fn(params, x):
        h = x
        for w in params:
            h = jnp.tanh(h @ w)
        return jnp.mean(h * h)

    @jax.jit
    def step(params, m, v, t, x):
        loss, g = jax.value_and_grad(loss_fn)(params, x)
        t = t + 1
        m = [mi + (gi - mi) * (1 - b1) for mi, gi in zip(m, g)]
        v = [vi + (gi * gi - vi) * (1 - b2) for vi, gi in zip(v, g)]
        lr_t = lr * jnp.sqrt(1 - b2 ** t) / (1 - b1 ** t)
        params = [p - lr_t * mi / (jnp.sqrt(vi) + eps) for p, mi, vi in zip(params, m, v)]
        return loss, params, m, v, t

    params = [jnp.asarray(w) for w in ws]
    m = [jnp.zeros_like(w) for w in params]
    v = [jnp.zeros_like(w) for w in params]
    t = jnp.asarray(0.0, jnp.float32)
    xj = jnp.asarray(x)
    t0 = time.perf_counter()
    state = step(params, m, v, t, xj)
    jax.block_until_ready(state)
    compile_s = time.perf_counter() - t0
    state = [state]

    def call():
        _, p, mm, vv, tt = state[0]
        state[0] = step(p, mm, vv, tt, xj)
        jax.block_until_ready(state[0])

    return {"layers": layers, "compile_s": compile_s, "step_s": _median_step(call)}


def _run_child(python, kind, layers, env=None, timeout=900):
    cmd = [python, "-m", "bench.compile_scaling", "--child", kind, "--layers", str(layers)]
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ if env is None else env)
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=root, timeout=timeout)
    if r.returncode != 0:
        return {"layers": layers, "error": (r.stderr or r.stdout).strip().splitlines()[-1:]}
    return json.loads(r.stdout.strip().splitlines()[-1])


def _has_jax() -> bool:
    if not os.path.exists(PEERS_PYTHON):
        return False
    r = subprocess.run([PEERS_PYTHON, "-c", "import jax"], capture_output=True)
    return r.returncode == 0


def _phases_text(stats):
    if not stats:
        return ""
    ph = stats.get("seconds", {})
    parts = [f"{k} {v:.2f}" for k, v in ph.items()]
    counts = f"kernels {stats.get('kernels_total')}/{stats.get('kernels_distinct')} distinct/" \
             f"{stats.get('kernels_from_cache')} cached"
    return counts + "; " + ", ".join(parts)


def _ensure_bytecode() -> None:
    """Write graphc's .pyc files once, as a pip install does (JAX's are in its
    site-packages): with PYTHONDONTWRITEBYTECODE set and an editable install, every
    child would otherwise compile graphc's sources on import, and the lazily imported
    ones during its first call, which is not compile time of the model."""
    import compileall

    import graphc

    root = os.path.dirname(os.path.abspath(graphc.__file__))
    compileall.compile_dir(root, quiet=1)
    runtime = os.path.realpath(os.path.join(root, "_runtime"))
    if os.path.isdir(runtime):
        compileall.compile_dir(runtime, quiet=1)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--layers", default="2,8,32,64")
    ap.add_argument("--json", default=None, help="write the results to this file")
    ap.add_argument("--no-jax", action="store_true")
    ap.add_argument("--no-symbolic", action="store_true", help="skip the symbolic-batch step timing")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        layers = int(args.layers)
        res = {"graphc": child_graphc, "jax": child_jax, "runtime": lambda _: child_runtime(),
               "symbolic": lambda _: child_symbolic()}[args.child](layers)
        print(json.dumps(res))
        return 0

    _ensure_bytecode()
    use_jax = not args.no_jax and _has_jax()
    rows = []
    for layers in (int(s) for s in args.layers.split(",")):
        with tempfile.TemporaryDirectory(prefix="graphc-cache-") as cache:
            env = dict(os.environ, GRAPHC_CACHE_DIR=cache, GRAPHC_CACHE="1")
            cold = _run_child(sys.executable, "graphc", layers, env)
            warm = _run_child(sys.executable, "graphc", layers, env)
        with tempfile.TemporaryDirectory(prefix="graphc-cache-") as cache:
            env = dict(os.environ, GRAPHC_CACHE_DIR=cache, GRAPHC_CACHE="1")
            _run_child(sys.executable, "runtime", layers, env)
            new = _run_child(sys.executable, "graphc", layers, env)
        jax_res = _run_child(PEERS_PYTHON, "jax", layers) if use_jax else None
        row = {"layers": layers, "graphc_cold": cold, "graphc_new_model": new, "graphc_warm": warm, "jax": jax_res}
        rows.append(row)
        jc = jax_res.get("compile_s") if jax_res else None
        line = (f"L={layers:3d}  graphc cold {cold.get('compile_s', float('nan')):6.2f} s  "
                f"new model {new.get('compile_s', float('nan')):6.2f} s  "
                f"warm {warm.get('compile_s', float('nan')):6.3f} s  "
                f"step {1e3 * cold.get('step_s', float('nan')):6.2f} ms")
        if jc is not None:
            line += (f" | JAX compile {jc:5.2f} s  step {1e3 * jax_res['step_s']:6.2f} ms"
                     f" | cold/JAX {cold.get('compile_s', float('nan')) / jc:5.2f}"
                     f"  new/JAX {new.get('compile_s', float('nan')) / jc:5.2f}")
        print(line, flush=True)
        for name, res in (("cold", cold), ("new model", new), ("warm", warm)):
            if "error" in res:
                print(f"    {name}: ERROR {res['error']}")
            elif res.get("stats"):
                print(f"    {name}: {_phases_text(res['stats'])}")
    result = {"depth": rows}
    if not args.no_symbolic:
        sym = _run_child(sys.executable, "symbolic", 0)
        result["symbolic_batch"] = sym
        for n in ("256", "2000"):
            if n in sym:
                a, b = sym[n]["symbolic_s"], sym[n]["static_s"]
                print(f"MLP Adam step batch {n}: symbolic {1e3 * a:.2f} ms, static {1e3 * b:.2f} ms "
                      f"(ratio {a / b:.3f}; compiled once for all batches: {sym.get('symbolic_compiles') == 1})")
        if "error" in sym:
            print(f"symbolic: ERROR {sym['error']}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
