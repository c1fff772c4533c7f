"""Checks shared by the emulator tests (test_cuda_sim.py) and the real-GPU tests
(test_cuda_gpu.py): an op example on the GPU against the CPU, and an MLP training step."""
from __future__ import annotations

import numpy as np

import graphc as gc


def check_example(ex):
    """Run an op example compiled for the GPU and for the CPU; results must agree.

    Floats within the example's rtol/atol (reduction order differs on the GPU), ints
    and bools exactly. Examples of CPU-only ops run as mixed CPU/GPU programs.
    """
    gpu = gc.compile(ex.fn, target="cuda", **ex.options)
    cpu = gc.compile(ex.fn, **{k: v for k, v in ex.options.items() if k != "placement"})
    runs = []
    for f in (gpu, cpu):
        if ex.setup is not None:
            ex.setup()
        runs.append(f(*ex.args))
    got, want = runs
    got_l, want_l = (list(got), list(want)) if isinstance(got, (tuple, list)) else ([got], [want])
    for g, w in zip(got_l, want_l):
        g, w = np.asarray(g), np.asarray(w)
        assert g.shape == w.shape and g.dtype == w.dtype, (g.shape, g.dtype, w.shape, w.dtype)
        if g.dtype.kind in "fc":
            np.testing.assert_allclose(g, w, rtol=ex.rtol, atol=ex.atol, equal_nan=True)
        else:
            np.testing.assert_array_equal(g, w)
    return gpu


def mlp_train(target, sizes=(784, 300, 100, 10), batch=64, steps=3, seed=0, **options):
    """TF-book MLP (relu layers, sparse softmax cross-entropy, momentum SGD): the losses
    of ``steps`` training steps and the final weights."""
    rng = np.random.default_rng(seed)
    params = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        w = rng.standard_normal((fan_in, fan_out)).astype(np.float32) * np.float32(np.sqrt(2.0 / fan_in))
        params += [gc.Variable(w), gc.Variable(np.zeros(fan_out, np.float32))]
    opt = gc.optim.Momentum(0.05, 0.9)

    def step(x, y):
        h = x
        for k in range(0, len(params), 2):
            h = h @ params[k] + params[k + 1]
            if k + 2 < len(params):
                h = gc.relu(h)
        loss = gc.mean(gc.nn.sparse_softmax_cross_entropy(h, y))
        opt.minimize(loss, var_list=params)
        return loss

    f = gc.compile(step, target=target, **options)
    x = rng.standard_normal((batch, sizes[0])).astype(np.float32)
    y = rng.integers(0, sizes[-1], batch).astype(np.int64)
    losses = [float(f(x, y)) for _ in range(steps)]
    return losses, [p.numpy() for p in params], f
