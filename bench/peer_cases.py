"""The bench cases written for the peers: JAX (jax.jit), PyTorch eager and torch.compile.

Run in a subprocess by bench/peers.py, possibly with another interpreter (the peers may
live in their own virtual environment); it never imports graphc:

    python -m bench.peer_cases SPEC.json INPUTS.npz OUT.json

SPEC lists the cases ({"name", "peer", "inputs": [names]}), the frameworks and the
repetitions; INPUTS holds each case's arrays (the very arrays graphc ran on, saved by
the parent). Every framework is timed with bench/timing.py's rule after warm-up; a
framework that is not importable, or a case that fails in it, is reported as such
(with the reason) instead of stopping the run. Train steps keep their state (weights,
optimizer moments) across calls, as graphc's Variables do.
"""
from __future__ import annotations

import json
import sys
import time
import traceback

import numpy as np

try:
    from .timing import timeit
except ImportError:  # run as a plain script
    from timing import timeit

LR = 1e-3
B1, B2, EPS = 0.9, 0.999, 1e-8


# -- JAX ---------------------------------------------------------------------------------------

def _jax_cases():
    import jax
    import jax.numpy as jnp

    def xent(logits, y):
        return jnp.mean(jax.nn.logsumexp(logits, axis=1) - jnp.take_along_axis(logits, y[:, None], axis=1)[:, 0])

    def mlp(p, x):
        w1, b1, w2, b2, w3, b3 = p
        h = jax.nn.relu(x @ w1 + b1)
        h = jax.nn.relu(h @ w2 + b2)
        return h @ w3 + b3

    def rnn(p, x):
        w, b = p[0], p[1]
        h0 = jnp.zeros((x.shape[0], w.shape[1]), x.dtype)
        h, _ = jax.lax.scan(lambda h, xt: (jnp.tanh(jnp.concatenate([xt, h], 1) @ w + b), None), h0,
                            jnp.transpose(x, (1, 0, 2)))
        return h

    def pool2(h):
        return jax.lax.reduce_window(h, -jnp.inf, jax.lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")

    def conv(x, w):
        return jax.lax.conv_general_dilated(x, w, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))

    def sgd_update(p, g):
        return [a - LR * 10 * ga for a, ga in zip(p, g)]

    def adam_update(p, m, v, t, g):
        t = t + 1
        m = [B1 * a + (1 - B1) * ga for a, ga in zip(m, g)]
        v = [B2 * a + (1 - B2) * ga * ga for a, ga in zip(v, g)]
        lr = LR * jnp.sqrt(1 - B2 ** t) / (1 - B1 ** t)
        p = [a - lr * ma / (jnp.sqrt(va) + EPS) for a, ma, va in zip(p, m, v)]
        return p, m, v, t

    def stateless(fn, *args):
        f = jax.jit(fn)
        args = [jnp.asarray(a) for a in args]
        return lambda: jax.block_until_ready(f(*args))

    def train(loss, params, x, y, adam):
        params = [jnp.asarray(a) for a in params]
        x, y = jnp.asarray(x), jnp.asarray(y)
        if adam:
            state = [params, [jnp.zeros_like(a) for a in params], [jnp.zeros_like(a) for a in params], jnp.float32(0)]

            @jax.jit
            def step(p, m, v, t, x, y):
                val, g = jax.value_and_grad(loss)(p, x, y)
                return (*adam_update(p, m, v, t, g), val)
        else:
            state = [params]

            @jax.jit
            def step(p, x, y):
                val, g = jax.value_and_grad(loss)(p, x, y)
                return sgd_update(p, g), val

        def run():
            *new, val = step(*state, x, y)
            state[:] = new
            return float(val)

        return run

    def build(peer, a):
        if peer == "elementwise_chain" or peer == "call_overhead":
            return stateless(lambda x: jnp.tanh(x * 1.5 + 0.5) * jax.nn.sigmoid(x) + x * x, a["x"])
        if peer == "softmax":
            return stateless(lambda x: jax.nn.softmax(x, axis=1), a["x"])
        if peer == "sgemm":
            return stateless(lambda x, y: x @ y, a["a"], a["b"])
        mlp_p = [a[k] for k in ("w1", "b1", "w2", "b2", "w3", "b3")] if "w3" in a else None
        if peer == "mlp_forward":
            return stateless(lambda x, *p: mlp(p, x), a["x"], *mlp_p)
        if peer in ("mlp_sgd_step", "mlp_adam_step"):
            return train(lambda p, x, y: xent(mlp(p, x), y), mlp_p, a["x"], a["y"], peer == "mlp_adam_step")
        if peer == "cnn_forward":
            def cnn(x, w1, b1, w2, b2):
                h = pool2(jax.nn.relu(conv(x, w1) + b1))
                return jax.nn.relu(conv(h, w2) + b2)
            return stateless(cnn, a["x"], a["w1"], a["b1"], a["w2"], a["b2"])
        if peer == "lstm_step":
            def lstm(x, h, c, w, b):
                i, j, f, o = jnp.split(jnp.concatenate([x, h], 1) @ w + b, 4, axis=1)
                new_c = jax.nn.sigmoid(f + 1.0) * c + jax.nn.sigmoid(i) * jnp.tanh(j)
                return jax.nn.sigmoid(o) * jnp.tanh(new_c), new_c
            return stateless(lstm, a["x"], a["h"], a["c"], a["w"], a["b"])
        if peer == "rnn_forward":
            return stateless(lambda x, w, b: rnn((w, b), x), a["x"], a["w"], a["b"])
        if peer == "rnn_adam_step":
            return train(lambda p, x, y: xent(rnn(p, x) @ p[2] + p[3], y), [a["w"], a["b"], a["wo"], a["bo"]],
                         a["x"], a["y"], True)
        raise KeyError(peer)

    return build


# -- PyTorch -----------------------------------------------------------------------------------

def _torch_cases(compiled: bool):
    import torch
    import torch.nn.functional as F

    wrap = torch.compile if compiled else (lambda f: f)

    def t(x):
        return torch.from_numpy(np.ascontiguousarray(x))

    def stateless(fn, *args):
        f = wrap(fn)
        args = [t(x) for x in args]

        def run():
            with torch.no_grad():
                return f(*args)

        return run

    def mlp(p, x):
        w1, b1, w2, b2, w3, b3 = p
        h = torch.relu(x @ w1 + b1)
        h = torch.relu(h @ w2 + b2)
        return h @ w3 + b3

    def rnn(p, x):
        w, b = p[0], p[1]
        h = torch.zeros((x.shape[0], w.shape[1]), dtype=x.dtype)
        for s in range(x.shape[1]):
            h = torch.tanh(torch.cat([x[:, s], h], 1) @ w + b)
        return h

    def train(model, params, x, y, adam):
        params = [t(a).clone().requires_grad_(True) for a in params]
        x, y = t(x), t(y)
        opt = (torch.optim.Adam(params, lr=LR, betas=(B1, B2), eps=EPS) if adam
               else torch.optim.SGD(params, lr=LR * 10))
        loss_fn = wrap(lambda x, y: F.cross_entropy(model(params, x), y))

        def run():
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(x, y)
            loss.backward()
            opt.step()
            return float(loss)

        return run

    def build(peer, a):
        if peer == "elementwise_chain" or peer == "call_overhead":
            return stateless(lambda x: torch.tanh(x * 1.5 + 0.5) * torch.sigmoid(x) + x * x, a["x"])
        if peer == "softmax":
            return stateless(lambda x: torch.softmax(x, 1), a["x"])
        if peer == "sgemm":
            return stateless(lambda x, y: x @ y, a["a"], a["b"])
        mlp_p = [a[k] for k in ("w1", "b1", "w2", "b2", "w3", "b3")] if "w3" in a else None
        if peer == "mlp_forward":
            return stateless(lambda x, *p: mlp(p, x), a["x"], *mlp_p)
        if peer in ("mlp_sgd_step", "mlp_adam_step"):
            return train(mlp, mlp_p, a["x"], a["y"], peer == "mlp_adam_step")
        if peer == "cnn_forward":
            def cnn(x, w1, b1, w2, b2):  # NCHW inside, as torch's kernels prefer
                h = F.max_pool2d(torch.relu(F.conv2d(x, w1, b1, padding=1)), 2)
                return torch.relu(F.conv2d(h, w2, b2, padding=1))
            return stateless(cnn, a["x"].transpose(0, 3, 1, 2), a["w1"].transpose(3, 2, 0, 1), a["b1"],
                             a["w2"].transpose(3, 2, 0, 1), a["b2"])
        if peer == "lstm_step":
            def lstm(x, h, c, w, b):
                i, j, f, o = torch.split(torch.cat([x, h], 1) @ w + b, w.shape[1] // 4, dim=1)
                new_c = torch.sigmoid(f + 1.0) * c + torch.sigmoid(i) * torch.tanh(j)
                return torch.sigmoid(o) * torch.tanh(new_c), new_c
            return stateless(lstm, a["x"], a["h"], a["c"], a["w"], a["b"])
        if peer == "rnn_forward":
            return stateless(lambda x, w, b: rnn((w, b), x), a["x"], a["w"], a["b"])
        if peer == "rnn_adam_step":
            return train(lambda p, x: rnn(p, x) @ p[2] + p[3], [a["w"], a["b"], a["wo"], a["bo"]], a["x"], a["y"], True)
        raise KeyError(peer)

    return build


FRAMEWORKS = {"jax": _jax_cases, "torch": lambda: _torch_cases(False), "torch.compile": lambda: _torch_cases(True)}


def versions() -> dict:
    out = {}
    for mod in ("jax", "torch"):
        try:
            out[mod] = __import__(mod).__version__
        except Exception as e:  # noqa: BLE001 (any import failure means: not available)
            out[mod] = None
            out[mod + "_error"] = f"{type(e).__name__}: {e}"
    return out


def run(spec: dict, arrays) -> dict:
    results = {"versions": versions(), "cases": {}}
    for fw in spec["frameworks"]:
        try:
            build = FRAMEWORKS[fw]()
        except Exception as e:  # noqa: BLE001
            results["cases"][fw] = {"error": f"not available: {type(e).__name__}: {e}"}
            continue
        per_case = results["cases"][fw] = {}
        for case in spec["cases"]:
            inputs = {k: arrays[f"{case['name']}/{k}"] for k in case["inputs"]}
            try:
                t0 = time.perf_counter()
                fn = build(case["peer"], inputs)
                fn()  # the first call compiles (jit / torch.compile)
                first = time.perf_counter() - t0
                med, lo = timeit(fn, spec["reps"])
                per_case[case["name"]] = {"ms": med, "min_ms": lo, "first_call_s": round(first, 3)}
            except Exception as e:  # noqa: BLE001 (a peer failing one case is reported, not fatal)
                per_case[case["name"]] = {"error": f"{type(e).__name__}: {e}".splitlines()[0][:300]}
                traceback.print_exc(file=sys.stderr)
            print(f"  peer {fw} done {case['name']}", file=sys.stderr, flush=True)
    return results


def main(argv=None):
    spec_path, inputs_path, out_path = (argv or sys.argv[1:])[:3]
    with open(spec_path) as f:
        spec = json.load(f)
    with np.load(inputs_path) as arrays:
        arrays = {k: arrays[k] for k in arrays.files}
    results = run(spec, arrays)
    with open(out_path, "w") as f:
        json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
