"""Benchmark cases: each is a function to compile, its inputs, and the same computation
in numpy, plus the bytes it must move (for the memcpy floor) and its flops."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

import graphc as gc


@dataclass
class Case:
    name: str
    fn: object            # graphc function (compiled fused and naive by the runner)
    args: tuple
    numpy_fn: object      # the same computation in numpy
    bytes_moved: int = 0  # minimal bytes read + written (memory-bound cases)
    flops: int = 0        # for matmul-heavy cases
    setup: object = None  # called before each timed graphc repetition (stateful cases)
    notes: str = ""
    rtol: float = 1e-4
    stateful: bool = False
    extra: dict = field(default_factory=dict)


def _rng():
    return np.random.default_rng(0)


def elementwise_chain(n):
    x = _rng().standard_normal(n).astype(np.float32)

    def fn(x):
        return gc.tanh(x * 1.5 + 0.5) * gc.sigmoid(x) + x * x

    def ref(x):
        return np.tanh(x * np.float32(1.5) + np.float32(0.5)) * (1 / (1 + np.exp(-x))) + x * x

    return Case(f"elementwise_chain_{n // (1 << 20)}M" if n >= 1 << 20 else f"elementwise_chain_{n}", fn, (x,), ref,
                bytes_moved=2 * x.nbytes)


def softmax(rows, cols):
    x = _rng().standard_normal((rows, cols)).astype(np.float32)

    def ref(x):
        e = np.exp(x - x.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    return Case(f"softmax_{rows}x{cols}", lambda x: gc.softmax(x, axis=1), (x,), ref, bytes_moved=2 * x.nbytes)


def sgemm(n):
    rng = _rng()
    a = rng.standard_normal((n, n)).astype(np.float32)
    b = rng.standard_normal((n, n)).astype(np.float32)
    return Case(f"sgemm_{n}", lambda a, b: a @ b, (a, b), lambda a, b: a @ b, flops=2 * n ** 3, rtol=1e-3)


def mlp_params(rng, sizes=(784, 300, 100, 10)):
    params = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        w = (rng.standard_normal((fan_in, fan_out)) * np.sqrt(2 / fan_in)).astype(np.float32)
        params.append((w, np.zeros(fan_out, np.float32)))
    return params


def mlp_forward(batch):
    rng = _rng()
    (w1, b1), (w2, b2), (w3, b3) = mlp_params(rng)
    x = rng.random((batch, 784), dtype=np.float32)

    def fn(x, w1, b1, w2, b2, w3, b3):
        h = gc.relu(x @ w1 + b1)
        h = gc.relu(h @ w2 + b2)
        return h @ w3 + b3

    def ref(x, w1, b1, w2, b2, w3, b3):
        h = np.maximum(x @ w1 + b1, 0)
        h = np.maximum(h @ w2 + b2, 0)
        return h @ w3 + b3

    flops = 2 * batch * (784 * 300 + 300 * 100 + 100 * 10)
    return Case(f"mlp_forward_b{batch}", fn, (x, w1, b1, w2, b2, w3, b3), ref, flops=flops, rtol=1e-3)


def mlp_train_step(batch):
    """The MNIST MLP Adam step (forward, backward, update) vs the same step in numpy."""
    if not hasattr(gc, "optim"):
        return None
    rng = _rng()
    params = mlp_params(rng)
    x = rng.random((batch, 784), dtype=np.float32)
    y = rng.integers(0, 10, batch).astype(np.int64)
    variables = [gc.Variable(a.copy(), name=f"p{k}") for k, a in enumerate(a for wb in params for a in wb)]
    opt = gc.optim.Adam(learning_rate=1e-3)

    def fn(x, y):
        w1, b1, w2, b2, w3, b3 = variables
        h = gc.relu(x @ w1 + b1)
        h = gc.relu(h @ w2 + b2)
        logits = h @ w3 + b3
        loss = gc.nn.sparse_softmax_cross_entropy(logits, y).mean()
        opt.minimize(loss)
        return loss

    np_state = {"p": [a.copy() for wb in params for a in wb], "m": None, "v": None, "t": 0}

    def ref(x, y):
        p = np_state["p"]
        w1, b1, w2, b2, w3, b3 = p
        z1 = x @ w1 + b1
        h1 = np.maximum(z1, 0)
        z2 = h1 @ w2 + b2
        h2 = np.maximum(z2, 0)
        logits = h2 @ w3 + b3
        m = logits.max(axis=1, keepdims=True)
        e = np.exp(logits - m)
        s = e.sum(axis=1, keepdims=True)
        loss = float(np.mean(np.log(s[:, 0]) + m[:, 0] - logits[np.arange(len(y)), y]))
        g = e / s
        g[np.arange(len(y)), y] -= 1
        g /= len(y)
        grads = [None] * 6
        grads[4] = h2.T @ g
        grads[5] = g.sum(0)
        d2 = (g @ w3.T) * (z2 > 0)
        grads[2] = h1.T @ d2
        grads[3] = d2.sum(0)
        d1 = (d2 @ w2.T) * (z1 > 0)
        grads[0] = x.T @ d1
        grads[1] = d1.sum(0)
        if np_state["m"] is None:
            np_state["m"] = [np.zeros_like(a) for a in p]
            np_state["v"] = [np.zeros_like(a) for a in p]
        np_state["t"] += 1
        t = np_state["t"]
        lr_t = 1e-3 * np.sqrt(1 - 0.999 ** t) / (1 - 0.9 ** t)
        for k in range(6):
            mk, vk = np_state["m"][k], np_state["v"][k]
            mk *= 0.9
            mk += 0.1 * grads[k]
            vk *= 0.999
            vk += 0.001 * grads[k] * grads[k]
            p[k] -= (lr_t * mk / (np.sqrt(vk) + 1e-8)).astype(np.float32)
        return np.float32(loss)

    flops = 3 * 2 * batch * (784 * 300 + 300 * 100 + 100 * 10)
    return Case(f"mlp_adam_step_b{batch}", fn, (x, y), ref, flops=flops, stateful=True, rtol=1e-2,
                notes="stateful: the loss is compared on the first step only")


def default_cases(quick: bool):
    if quick:
        cases = [elementwise_chain(1 << 16), softmax(64, 128), sgemm(128), mlp_forward(32), mlp_train_step(32)]
    else:
        cases = [elementwise_chain(4 << 20), softmax(4096, 1024), sgemm(1024), mlp_forward(256), mlp_train_step(256)]
    from . import cases_nn

    cnn_batch, lstm_batch = (4, 8) if quick else (64, 150)
    name, fn, args, ref = cases_nn.cnn_forward(cnn_batch)
    cases.append(Case(name, fn, args, ref, flops=2 * cnn_batch * (784 * 9 * 32 + 196 * 288 * 64), rtol=1e-3))
    name, fn, args, ref = cases_nn.lstm_step(lstm_batch)
    cases.append(Case(name, fn, args, ref, flops=2 * lstm_batch * (28 + 150) * 4 * 150, rtol=1e-3))
    return [c for c in cases if c is not None]
