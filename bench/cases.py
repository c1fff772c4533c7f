"""Benchmark cases: each is a function to compile, its inputs, and the same computation
in numpy, plus the bytes it must move (for the memcpy floor) and its flops, and the name
of the same computation in bench/peer_cases.py (JAX, PyTorch) with the arrays it takes."""
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
    peer: str = ""              # name of the same computation in bench/peer_cases.py ("" = none)
    peer_inputs: dict = None    # the arrays the peers start from (default: args, by peer_arg_names)


def _rng():
    return np.random.default_rng(0)


def elementwise_chain(n):
    x = _rng().standard_normal(n).astype(np.float32)

    def fn(x):
        return gc.tanh(x * 1.5 + 0.5) * gc.sigmoid(x) + x * x

    def ref(x):
        return np.tanh(x * np.float32(1.5) + np.float32(0.5)) * (1 / (1 + np.exp(-x))) + x * x

    return Case(f"elementwise_chain_{n // (1 << 20)}M" if n >= 1 << 20 else f"elementwise_chain_{n}", fn, (x,), ref,
                bytes_moved=2 * x.nbytes, peer="elementwise_chain", peer_inputs={"x": x})


def elementwise_chain_f16(n):
    """The same chain on float16 storage (float32 compute, rounded after every op): half
    the bytes of elementwise_chain, in the same single kernel; the ratio of the two
    rows' times is what float16 storage buys on a memory-bound kernel."""
    case = elementwise_chain(n)
    x16 = case.args[0].astype(np.float16)
    ref32 = case.numpy_fn
    case.name = case.name.replace("elementwise_chain", "elementwise_chain_f16")
    case.args, case.bytes_moved, case.peer, case.peer_inputs = (x16,), 2 * x16.nbytes, "", None
    case.numpy_fn = lambda x: ref32(x.astype(np.float32)).astype(np.float16)
    case.rtol = 1e-2   # float16 rounds after each of the chain's 7 ops (2^-11 each), numpy once
    return case


def axpy(n, dtype="float32"):
    """x * 1.5 + y: one multiply-add per 2 loads and a store, memory-bound everywhere; the
    float16 row moves half the bytes (its loads and store convert, F16C or integer code)."""
    rng = _rng()
    x, y = (rng.standard_normal(n).astype(dtype) for _ in range(2))

    def ref(x, y):   # upcast, compute, round after each op (as graphc computes float16)
        scaled = (x.astype(np.float32) * np.float32(1.5)).astype(dtype).astype(np.float32)
        return (scaled + y.astype(np.float32)).astype(dtype)

    tag = "" if dtype == "float32" else f"_{np.dtype(dtype).name}"
    size = f"{n // (1 << 20)}M" if n >= 1 << 20 else str(n)
    return Case(f"axpy{tag}_{size}", lambda x, y: x * 1.5 + y, (x, y), ref, bytes_moved=3 * x.nbytes,
                rtol=1e-4 if dtype == "float32" else 1e-3)


def call_overhead():
    """The same chain on 4 elements: the time of one call from Python and back."""
    case = elementwise_chain(4)
    case.name, case.bytes_moved, case.peer = "call_overhead_4", 0, "call_overhead"
    return case


def softmax(rows, cols):
    x = _rng().standard_normal((rows, cols)).astype(np.float32)

    def ref(x):
        e = np.exp(x - x.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    return Case(f"softmax_{rows}x{cols}", lambda x: gc.softmax(x, axis=1), (x,), ref, bytes_moved=2 * x.nbytes,
                peer="softmax", peer_inputs={"x": x})


def sgemm(n):
    rng = _rng()
    a = rng.standard_normal((n, n)).astype(np.float32)
    b = rng.standard_normal((n, n)).astype(np.float32)
    return Case(f"sgemm_{n}", lambda a, b: a @ b, (a, b), lambda a, b: a @ b, flops=2 * n ** 3, rtol=1e-3,
                peer="sgemm", peer_inputs={"a": a, "b": b})


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
    return Case(f"mlp_forward_b{batch}", fn, (x, w1, b1, w2, b2, w3, b3), ref, flops=flops, rtol=1e-3,
                peer="mlp_forward", peer_inputs=dict(x=x, w1=w1, b1=b1, w2=w2, b2=b2, w3=w3, b3=b3))


def _np_mlp_loss_and_grads(p, x, y):
    """Loss and gradients of the MLP (relu, relu, sparse softmax cross entropy) in numpy."""
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
    return loss, grads


def _np_adam(state, grads, lr=1e-3):
    """TF 1.x Adam on state {"p", "m", "v", "t"} in place (numpy)."""
    p = state["p"]
    if state["m"] is None:
        state["m"] = [np.zeros_like(a) for a in p]
        state["v"] = [np.zeros_like(a) for a in p]
    state["t"] += 1
    t = state["t"]
    lr_t = lr * np.sqrt(1 - 0.999 ** t) / (1 - 0.9 ** t)
    for k in range(len(p)):
        mk, vk = state["m"][k], state["v"][k]
        mk *= 0.9
        mk += 0.1 * grads[k]
        vk *= 0.999
        vk += 0.001 * grads[k] * grads[k]
        p[k] -= (lr_t * mk / (np.sqrt(vk) + 1e-8)).astype(np.float32)


def mlp_train_step(batch, optimizer="adam"):
    """The MNIST MLP train step (forward, backward, update: Adam 1e-3 or plain SGD 1e-2)
    vs the same step in numpy."""
    if not hasattr(gc, "optim"):
        return None
    rng = _rng()
    params = mlp_params(rng)
    x = rng.random((batch, 784), dtype=np.float32)
    y = rng.integers(0, 10, batch).astype(np.int64)
    variables = [gc.Variable(a.copy(), name=f"p{k}") for k, a in enumerate(a for wb in params for a in wb)]
    opt = gc.optim.Adam(learning_rate=1e-3) if optimizer == "adam" else gc.optim.GradientDescent(1e-2)

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
        loss, grads = _np_mlp_loss_and_grads(np_state["p"], x, y)
        if optimizer == "adam":
            _np_adam(np_state, grads)
        else:
            for a, ga in zip(np_state["p"], grads):
                a -= np.float32(1e-2) * ga
        return np.float32(loss)

    flops = 3 * 2 * batch * (784 * 300 + 300 * 100 + 100 * 10)
    names = ("w1", "b1", "w2", "b2", "w3", "b3")
    return Case(f"mlp_{optimizer}_step_b{batch}", fn, (x, y), ref, flops=flops, stateful=True, rtol=1e-2,
                notes="stateful: the loss is compared on the first step only", peer=f"mlp_{optimizer}_step",
                peer_inputs=dict(zip(names, (a for wb in params for a in wb)), x=x, y=y))


def _rnn_data(batch, steps=28, inputs=28, units=150):
    rng = np.random.default_rng(2)
    x = rng.random((batch, steps, inputs), dtype=np.float32)
    y = rng.integers(0, 10, batch).astype(np.int64)
    r = np.sqrt(6.0 / (inputs + 2 * units))
    w = rng.uniform(-r, r, (inputs + units, units)).astype(np.float32)
    b = np.zeros(units, np.float32)
    wo = (rng.standard_normal((units, 10)) * 0.1).astype(np.float32)
    bo = np.zeros(10, np.float32)
    return x, y, w, b, wo, bo


def _rnn_scan(x, w, b):
    """h_t = tanh(concat(x_t, h_{t-1}) @ w + b) over the time axis of x (batch, time, inputs)."""
    h0 = gc.zeros((x.shape[0], w.shape[1]), "float32")
    h, _ = gc.scan(lambda h, xt: (gc.tanh(gc.concatenate([xt, h], axis=1) @ w + b), None), h0,
                   gc.transpose(x, (1, 0, 2)))
    return h


def _np_rnn(x, w, b):
    hs = [np.zeros((x.shape[0], w.shape[1]), np.float32)]
    for t in range(x.shape[1]):
        hs.append(np.tanh(np.concatenate([x[:, t], hs[-1]], axis=1) @ w + b))
    return hs


def rnn_forward(batch, steps=28):
    """BasicRNN over 28 steps (gc.scan), batch 150, 150 units: the final state."""
    x, _, w, b, _, _ = _rnn_data(batch, steps)
    flops = 2 * batch * steps * w.shape[0] * w.shape[1]
    return Case(f"rnn_forward_b{batch}", _rnn_scan, (x, w, b), lambda x, w, b: _np_rnn(x, w, b)[-1], flops=flops,
                rtol=1e-3, peer="rnn_forward", peer_inputs=dict(x=x, w=w, b=b))


def rnn_train_step(batch, steps=28):
    """The same RNN plus a dense softmax head, one Adam step (backprop through time)."""
    x, y, w, b, wo, bo = _rnn_data(batch, steps)
    variables = [gc.Variable(a.copy(), name=f"rnn{k}") for k, a in enumerate((w, b, wo, bo))]
    opt = gc.optim.Adam(learning_rate=1e-3)

    def fn(x, y):
        vw, vb, vwo, vbo = variables
        loss = gc.nn.sparse_softmax_cross_entropy(_rnn_scan(x, vw, vb) @ vwo + vbo, y).mean()
        opt.minimize(loss)
        return loss

    np_state = {"p": [a.copy() for a in (w, b, wo, bo)], "m": None, "v": None, "t": 0}

    def ref(x, y):
        pw, pb, pwo, pbo = np_state["p"]
        hs = _np_rnn(x, pw, pb)
        logits = hs[-1] @ pwo + pbo
        m = logits.max(axis=1, keepdims=True)
        e = np.exp(logits - m)
        s = e.sum(axis=1, keepdims=True)
        loss = float(np.mean(np.log(s[:, 0]) + m[:, 0] - logits[np.arange(len(y)), y]))
        g = e / s
        g[np.arange(len(y)), y] -= 1
        g /= len(y)
        grads = [np.zeros_like(pw), np.zeros_like(pb), hs[-1].T @ g, g.sum(0)]
        dh = g @ pwo.T
        for t in range(x.shape[1], 0, -1):
            dz = dh * (1 - hs[t] * hs[t])
            a = np.concatenate([x[:, t - 1], hs[t - 1]], axis=1)
            grads[0] += a.T @ dz
            grads[1] += dz.sum(0)
            dh = (dz @ pw.T)[:, x.shape[2]:]
        _np_adam(np_state, grads)
        return np.float32(loss)

    flops = 3 * 2 * batch * steps * w.shape[0] * w.shape[1]
    return Case(f"rnn_adam_step_b{batch}", fn, (x, y), ref, flops=flops, stateful=True, rtol=1e-3,
                notes="stateful: the loss is compared on the first step only", peer="rnn_adam_step",
                peer_inputs=dict(x=x, y=y, w=w, b=b, wo=wo, bo=bo))


def default_cases(quick: bool):
    if quick:
        cases = [elementwise_chain(1 << 16), elementwise_chain_f16(1 << 16), axpy(1 << 16), axpy(1 << 16, "float16"),
                 softmax(64, 128), sgemm(128), mlp_forward(32), mlp_train_step(32),
                 mlp_train_step(32, "sgd"), call_overhead(), rnn_forward(8, 4), rnn_train_step(8, 4)]
    else:
        cases = [elementwise_chain(4 << 20), elementwise_chain_f16(4 << 20), axpy(16 << 20), axpy(16 << 20, "float16"),
                 softmax(4096, 1024), sgemm(1024), mlp_forward(256), mlp_train_step(256),
                 mlp_train_step(256, "sgd"), call_overhead(), rnn_forward(150), rnn_train_step(150)]
    from . import cases_nn

    cnn_batch, lstm_batch = (4, 8) if quick else (64, 150)
    name, fn, args, ref = cases_nn.cnn_forward(cnn_batch)
    cases.append(Case(name, fn, args, ref, flops=2 * cnn_batch * (784 * 9 * 32 + 196 * 288 * 64), rtol=1e-3,
                      peer="cnn_forward", peer_inputs=dict(zip(("x", "w1", "b1", "w2", "b2"), args))))
    name, fn, args, ref = cases_nn.lstm_step(lstm_batch)
    cases.append(Case(name, fn, args, ref, flops=2 * lstm_batch * (28 + 150) * 4 * 150, rtol=1e-3,
                      peer="lstm_step", peer_inputs=dict(zip(("x", "h", "c", "w", "b"), args))))
    return [c for c in cases if c is not None]
