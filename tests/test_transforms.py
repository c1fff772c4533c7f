"""Issue 15's transformations: jvp, jacfwd, jacrev, hessian, custom_vjp, checkpoint, vmap.

References: analytic derivatives or central finite differences of numpy (float64,
tolerance 1e-6 relative), Python loops over examples for vmap (float32, 1e-5)."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import graphc as gc
from gradcheck import add_case, check_case

RNG = np.random.default_rng(7)
X = RNG.standard_normal(4)


def numeric_jacobian(f, x, eps=1e-6):
    y = np.asarray(f(x))
    jac = np.zeros(y.shape + x.shape)
    for idx in np.ndindex(*x.shape):
        d = np.zeros_like(x)
        d[idx] = eps
        jac[(...,) + idx] = (np.asarray(f(x + d)) - np.asarray(f(x - d))) / (2 * eps)
    return jac


def f_np(x):
    return np.tanh(x) * np.sum(x ** 2) + np.exp(x[::-1] * 0.5)


def f_gc(x):
    return gc.tanh(x) * (x * x).sum() + gc.exp(x[::-1] * 0.5)


# -- jvp / jacobians ------------------------------------------------------------------------

@settings(max_examples=15, deadline=None)
@given(st.lists(st.floats(-2, 2), min_size=1, max_size=5), st.integers(0, 2 ** 31 - 1))
def test_jvp_matches_finite_differences(values, seed):
    x = np.array(values)
    t = np.random.default_rng(seed).standard_normal(x.shape)
    y, dy = gc.jvp(f_gc, (x,), (t,))
    np.testing.assert_allclose(y, f_np(x), rtol=1e-12)
    np.testing.assert_allclose(dy, numeric_jacobian(f_np, x) @ t, rtol=1e-6, atol=1e-8)


def test_jvp_with_pytrees_and_integer_outputs():
    def f(p):
        return {"s": gc.exp(p["a"]) * p["b"], "n": gc.argmax(p["a"])}

    p = {"a": X, "b": X * 2}
    t = {"a": np.ones(4), "b": np.zeros(4)}
    y, dy = gc.jvp(f, (p,), (t,))
    np.testing.assert_allclose(dy["s"], np.exp(X) * X * 2, rtol=1e-12)
    assert dy["n"].dtype == np.int64 and not dy["n"].any()
    with pytest.raises(gc.TraceError, match="structure"):
        gc.jvp(f, (p,), ({"a": X},))


def test_jvp_inside_compile_and_of_grad():
    f = gc.compile(lambda x, t: gc.jvp(lambda v: (v ** 3).sum(), (x,), (t,))[1])
    np.testing.assert_allclose(f(X, np.ones(4)), (3 * X ** 2).sum(), rtol=1e-12)
    # forward-over-reverse: Hessian-vector product of sum(x^3) is 6 x * v
    hvp = gc.jvp(gc.grad(lambda v: (v ** 3).sum()), (X,), (np.ones(4),))[1]
    np.testing.assert_allclose(hvp, 6 * X, rtol=1e-12)


def test_jacfwd_and_jacrev_match_finite_differences():
    expect = numeric_jacobian(f_np, X)
    np.testing.assert_allclose(gc.jacrev(f_gc)(X), expect, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(gc.jacfwd(f_gc)(X), expect, rtol=1e-6, atol=1e-8)


def test_jacobian_shapes_and_argnums():
    a = RNG.standard_normal((2, 3))
    b = RNG.standard_normal((3, 4))
    for jac in (gc.jacrev, gc.jacfwd):
        ja, jb = jac(lambda a, b: gc.tanh(a @ b), argnums=(0, 1))(a, b)
        assert ja.shape == (2, 4, 2, 3) and jb.shape == (2, 4, 3, 4)
        np.testing.assert_allclose(ja, numeric_jacobian(lambda v: np.tanh(v @ b), a), rtol=1e-6, atol=1e-8)
        np.testing.assert_allclose(jb, numeric_jacobian(lambda v: np.tanh(a @ v), b), rtol=1e-6, atol=1e-8)


def test_hessian():
    A = RNG.standard_normal((4, 4))
    np.testing.assert_allclose(gc.hessian(lambda x: x @ (A @ x))(X), A + A.T, rtol=1e-12)
    h = gc.hessian(lambda x: gc.exp(x).sum() * x[0])(X)
    expect = numeric_jacobian(lambda v: np.exp(v) * v[0] + np.eye(4)[0] * np.exp(v).sum(), X)
    np.testing.assert_allclose(h, expect, rtol=1e-6, atol=1e-8)


def test_jacobian_errors():
    with pytest.raises(gc.TraceError, match="float inputs"):
        gc.jacrev(lambda x: x * 2)(np.arange(3))


# -- custom_vjp ----------------------------------------------------------------------------------

@gc.custom_vjp
def clip_gradient(x, lo):
    return x


def _clip_fwd(x, lo):
    return x, lo


def _clip_bwd(lo, g):
    return gc.maximum(g, lo), None


clip_gradient.defvjp(_clip_fwd, _clip_bwd)


def test_custom_vjp_rule_is_used():
    g = gc.grad(lambda x: (clip_gradient(x, -0.5) * np.array([1.0, -1.0, 2.0, -3.0])).sum())(X)
    np.testing.assert_array_equal(g, [1.0, -0.5, 2.0, -0.5])
    np.testing.assert_array_equal(clip_gradient(X, -0.5), X)  # eager: just the function
    # inside compile, composed with a second gradient-taking op
    f = gc.compile(gc.value_and_grad(lambda x: (clip_gradient(x * 2, -1.0) ** 2).sum()))
    v, g = f(X)
    np.testing.assert_allclose(v, (4 * X ** 2).sum())
    np.testing.assert_allclose(g, 2 * np.maximum(4 * X, -1.0), rtol=1e-12)
    # the nodes carrying the rule are gone once the trace ends (the compiled graph is cacheable)
    assert not any("_rule" in n.attrs for n in gc.trace(lambda x: clip_gradient(x, 0.0) + 1, X).nodes)


def test_custom_vjp_with_residuals_and_pytree_output():
    @gc.custom_vjp
    def f(x, y):
        return {"p": x * y, "s": gc.tanh(x)}

    def fwd(x, y):
        return f.fun(x, y), (x, y, 1 - gc.tanh(x) ** 2)

    def bwd(res, g):
        x, y, cx = res
        return g["p"] * y + g["s"] * cx, g["p"] * x

    f.defvjp(fwd, bwd)
    Y = X[::-1].copy()
    gx, gy = gc.grad(lambda x, y: (f(x, y)["p"] + 2 * f(x, y)["s"]).sum(), argnums=(0, 1))(X, Y)
    np.testing.assert_allclose(gx, Y + 2 * (1 - np.tanh(X) ** 2), rtol=1e-12)
    np.testing.assert_allclose(gy, X, rtol=1e-12)


def test_custom_vjp_errors():
    @gc.custom_vjp
    def f(x):
        return x

    with pytest.raises(gc.TraceError, match="defvjp"):
        gc.grad(lambda x: f(x).sum())(X)
    f.defvjp(lambda x: (x, None), lambda r, g: (g, g))
    with pytest.raises(gc.TraceError, match="one gradient per positional argument"):
        gc.grad(lambda x: f(x).sum())(X)


# -- checkpoint ----------------------------------------------------------------------------------

W1 = RNG.standard_normal((4, 4)) * 0.5
W2 = RNG.standard_normal((4, 4)) * 0.5


def _block(h, w1, w2):
    return gc.tanh(gc.tanh(h @ w1) @ w2)


def _count(cf, args, op):
    return sum(1 for n in cf.graph(*args).nodes if n.op == op)


def test_checkpoint_same_gradients_and_recomputes_the_forward():
    def loss(x, w1, w2, remat):
        block = gc.checkpoint(_block) if remat else _block
        return (block(block(x, w1, w2), w1, w2) ** 2).sum()

    plain = gc.compile(gc.value_and_grad(lambda x, a, b: loss(x, a, b, False), argnums=(0, 1, 2)))
    remat = gc.compile(gc.value_and_grad(lambda x, a, b: loss(x, a, b, True), argnums=(0, 1, 2)))
    args = (X.reshape(1, 4), W1, W2)
    (v0, g0), (v1, g1) = plain(*args), remat(*args)
    np.testing.assert_allclose(v1, v0, rtol=1e-12)
    for a, b in zip(g1, g0):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    # the backward pass recomputes the blocks' tanh activations (4 forward + 4 again)
    assert _count(plain, args, "tanh") == 4 and _count(remat, args, "tanh") == 8
    assert _count(remat, args, "remat_barrier") > 0


def test_checkpoint_gradients_reach_closed_over_values_and_variables():
    w = gc.Variable(W1, name="w_ckpt")

    def loss(x, w2):
        return gc.checkpoint(lambda h: gc.tanh(h @ w) @ w2)(x).sum()

    gx, gw2 = gc.grad(loss, argnums=(0, 1))(X.reshape(1, 4), W2)
    h = np.tanh(X.reshape(1, 4) @ W1)
    np.testing.assert_allclose(gw2, h.T @ np.ones((1, 4)), rtol=1e-12)
    np.testing.assert_allclose(gx, ((np.ones((1, 4)) @ W2.T) * (1 - h ** 2)) @ W1.T, rtol=1e-12)

    @gc.compile
    def var_grad(x):
        out = gc.checkpoint(lambda h: gc.tanh(h @ w).sum())(x)
        return gc.gradients(out, [w])[0]

    np.testing.assert_allclose(var_grad(X.reshape(1, 4)), X.reshape(4, 1) @ (1 - h ** 2), rtol=1e-12)


def test_custom_vjp_inside_checkpoint_is_refused_clearly():
    with pytest.raises(gc.TraceError, match="custom_vjp.*inside gc.checkpoint"):
        gc.grad(lambda x: gc.checkpoint(lambda v: clip_gradient(v, 0.0).sum())(x))(X)


# -- vmap ----------------------------------------------------------------------------------------

XS = RNG.standard_normal((6, 5)).astype(np.float32)
WV = RNG.standard_normal((5, 3)).astype(np.float32)


def _per_example(x, w):
    h = gc.tanh(x @ w)
    return gc.softmax(h).max() + h.sum() * x.mean() + gc.concatenate([h, x[:2]]).sum()


def _per_example_np(x, w):
    h = np.tanh(x @ w)
    e = np.exp(h - h.max())
    return (e / e.sum()).max() + h.sum() * x.mean() + np.concatenate([h, x[:2]]).sum()


def test_vmap_matches_a_loop():
    out = gc.vmap(_per_example, in_axes=(0, None))(XS, WV)
    np.testing.assert_allclose(out, [_per_example_np(x, WV) for x in XS], rtol=1e-5, atol=1e-6)


def test_vmap_axes_and_pytrees():
    a = RNG.standard_normal((3, 4, 6)).astype(np.float32)
    out = gc.vmap(lambda m: m.T @ m, in_axes=2, out_axes=1)(a)
    np.testing.assert_allclose(out, np.stack([a[:, :, k].T @ a[:, :, k] for k in range(6)], axis=1), rtol=1e-5)
    res = gc.vmap(lambda p: {"s": p["x"] * p["y"], "c": p["y"].sum()})({"x": XS, "y": XS + 1})
    np.testing.assert_allclose(res["s"], XS * (XS + 1), rtol=1e-6)
    np.testing.assert_allclose(res["c"], (XS + 1).sum(axis=1), rtol=1e-5)
    # unbatched output is broadcast along the batch; reshape/transpose/broadcast_to/slicing rules
    r = gc.vmap(lambda x: (gc.broadcast_to(x[1:3], (2, 2)).T.reshape(4), WV.sum()))(XS)
    np.testing.assert_allclose(r[0], np.stack([np.broadcast_to(x[1:3], (2, 2)).T.reshape(4) for x in XS]))
    np.testing.assert_allclose(r[1], np.full(6, WV.sum()), rtol=1e-5)


def test_vmap_composes_with_grad_and_compile():
    per_example_grads = gc.compile(gc.vmap(gc.grad(lambda w, x: (gc.tanh(x @ w) ** 2).sum()), in_axes=(None, 0)))
    g = per_example_grads(WV, XS)
    assert g.shape == (6, 5, 3)
    for k in range(6):
        h = np.tanh(XS[k] @ WV)
        np.testing.assert_allclose(g[k], np.outer(XS[k], 2 * h * (1 - h ** 2)), rtol=1e-4, atol=1e-6)
    g_of_vmap = gc.grad(lambda w: gc.vmap(lambda x: gc.tanh(x @ w).sum())(XS).sum())(WV)
    np.testing.assert_allclose(g_of_vmap, XS.T @ (1 - np.tanh(XS @ WV) ** 2), rtol=1e-4, atol=1e-5)


def test_vmap_errors_name_the_problem():
    with pytest.raises(gc.ShapeError, match="different sizes"):
        gc.vmap(lambda a, b: a + b)(XS, XS[:3])
    with pytest.raises(ValueError, match="no argument is mapped"):
        gc.vmap(lambda a: a, in_axes=None)(XS)
    with pytest.raises(gc.TraceError, match="op 'scan' has no batching rule"):
        gc.vmap(lambda x: gc.scan(lambda c, v: (c + v, c), np.float32(0), x)[0])(XS)


# -- gradient case for the op the transforms add ---------------------------------------------------

# (second order: the barrier is in the backward pass of a checkpointed function)
GRAD_CASES = [add_case("remat_barrier",
                       lambda x: gc.grad(lambda v: gc.checkpoint(lambda u: gc.tanh(u) * u)(v).sum())(x), X)]


@pytest.mark.parametrize("case", GRAD_CASES, ids=str)
def test_transform_op_gradients(case):
    check_case(case)


@pytest.mark.parametrize("axes", [(0, 0), (0, None), (None, 0)])
def test_vmap_of_gathers(axes):
    """Indexing by an array is a gather: params batched, indices batched, or both."""
    P = RNG.standard_normal((5, 7, 3))
    I = RNG.integers(-2, 9, (5, 4))   # negatives wrap, out-of-range clamp (per example)
    J = RNG.integers(0, 3, (5, 2))
    p_in, i_in, j_in = (P if axes[0] == 0 else P[0]), (I if axes[1] == 0 else I[0]), (J if axes[1] == 0 else J[0])
    rows, cols = gc.vmap(lambda p, i, j: (p[i], p[:, j]), in_axes=axes + (axes[1],))(p_in, i_in, j_in)
    for b in range(5):
        p = P[b] if axes[0] == 0 else P[0]
        i = I[b] if axes[1] == 0 else I[0]
        j = J[b] if axes[1] == 0 else J[0]
        np.testing.assert_array_equal(rows[b], p[np.clip(np.where(i < 0, i + 7, i), 0, 6)])
        np.testing.assert_array_equal(cols[b], p[:, j])


def test_vmap_of_sort_and_new_elementwise_ops():
    x = RNG.standard_normal((4, 6))
    out = gc.vmap(lambda v: (gc.sort(v), gc.sin(v) + gc.arctan2(v, 1.0), gc.pad(v, 1)))(x)
    np.testing.assert_array_equal(out[0], np.sort(x, -1))
    np.testing.assert_allclose(out[1], np.sin(x) + np.arctan2(x, 1.0), rtol=1e-14)
    np.testing.assert_array_equal(out[2], np.pad(x, ((0, 0), (1, 1))))
