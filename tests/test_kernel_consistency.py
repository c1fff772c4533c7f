"""A value evaluated twice inside one fused kernel must come out bit-identical.

Regression test for issue 17 ("batch normalization turns every weight into NaN"): the
fused softmax-cross-entropy gradient kernel evaluates the logits ``x = a*s + b`` once in
the row-max pass and again where ``equal(x, max(x))`` builds reduce_max's gradient mask.
With LLVM allowed to contract a*b+c into an FMA, one copy was fused and the other not;
for some rows no element equalled the max, the mask's count was 0 and 0/0 made the
whole step NaN from the second training step on. Elementwise kernel math now carries no
`contract` flag (graphc/codegen/kernel.py), so both copies round identically.

The two end-to-end tests reproduced the NaN with the codegen of commit af61be4; whether
LLVM contracts one copy and not the other depends on vector width and fusion choices,
so the last test pins the invariant itself on the generated IR.
"""
import numpy as np

import graphc as gc


def _bn(h, gamma, beta):
    mean, var = gc.nn.moments(h, (0,))
    return gc.nn.batch_normalization(h, mean, var, beta, gamma, 1e-3)


def test_batch_norm_softmax_training_steps_match_interpreter():
    rng = np.random.RandomState(0)
    x = rng.rand(200, 784).astype(np.float32)
    y = rng.randint(0, 10, 200).astype(np.int32)
    lim1, lim2 = np.sqrt(6 / (784 + 30)), np.sqrt(6 / 40)
    params = [gc.Variable(rng.uniform(-lim1, lim1, (784, 30)).astype(np.float32)),
              gc.Variable(np.zeros(30, np.float32)), gc.Variable(np.ones(30, np.float32)),
              gc.Variable(np.zeros(30, np.float32)),
              gc.Variable(rng.uniform(-lim2, lim2, (30, 10)).astype(np.float32)),
              gc.Variable(np.zeros(10, np.float32)), gc.Variable(np.ones(10, np.float32)),
              gc.Variable(np.zeros(10, np.float32))]
    w1, b1, g1, be1, w2, b2, g2, be2 = params
    opt = gc.optim.GradientDescent(0.01)

    def step(x, y):
        h = gc.nn.elu(_bn(x @ w1 + b1, g1, be1))
        logits = _bn(h @ w2 + b2, g2, be2)       # BN on the logits, as in the book (ch. 11)
        opt.minimize(gc.nn.sparse_softmax_cross_entropy(logits, y).mean())
        return ()

    f = gc.compile(step)
    graph = f.graph(x, y)
    for i in range(4):
        before = [p.numpy() for p in params]
        f(x, y)
        compiled = [p.numpy() for p in params]
        for p, v in zip(params, before):
            p.assign(v)
        gc.interpret(graph, x, y, update_variables=True)
        for k, (p, got) in enumerate(zip(params, compiled)):
            assert np.isfinite(got).all(), f"step {i}: parameter {k} is not finite"
            # float32 sums of 200 terms in another order: 1e-4 relative is ample
            np.testing.assert_allclose(got, p.numpy(), rtol=1e-4, atol=1e-6, err_msg=f"step {i}, param {k}")
            p.assign(got)


def test_recomputed_affine_value_equals_its_row_max():
    """Every row of a*s+b has at least one element equal to its max, in the same kernel."""
    rng = np.random.RandomState(1)
    a = rng.randn(512, 10).astype(np.float32)
    s = rng.randn(10).astype(np.float32)
    b = rng.randn(10).astype(np.float32)

    @gc.compile
    def grad_of_max(a, s, b):
        return gc.grad(lambda a: (a * s + b).max(axis=1).sum())(a)

    g = grad_of_max(a, s, b)
    assert np.isfinite(g).all()
    want = np.zeros_like(a)
    want[np.arange(512), (a * s + b).argmax(1)] = 1.0
    np.testing.assert_array_equal(g != 0, want != 0)


def test_elementwise_float_math_is_never_contracted():
    """Only reduction accumulators (reassoc) may carry `contract`; an elementwise a*b+c
    may not, whatever the vectorizer later does with each copy of it."""
    import re

    @gc.compile
    def f(a, s, b):
        x = a * s + b
        m = x.max(axis=1, keepdims=True)
        e = gc.exp(x - m)
        return e / e.sum(axis=1, keepdims=True), (x == m).sum(axis=1)

    a = np.ones((64, 10), np.float32)
    text = f.ir(a, a[0], a[0], stage="llvm")
    float_ops = re.findall(r"= (f(?:add|sub|mul|div) [^%]*)", text)
    assert float_ops, "no float arithmetic found in the kernel IR"
    bad = [op for op in float_ops if "contract" in op and "reassoc" not in op]
    assert not bad, bad
