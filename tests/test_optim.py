"""Optimizers against numpy re-implementations of TF 1.x's update kernels, step by step.

The variables are float64, so compiled and reference arithmetic differ only by
rounding and FMA contraction (~1e-16 per operation); rtol 1e-9 over a few steps leaves
a wide margin yet catches any formula difference (those are O(lr * g)).
"""
from __future__ import annotations

import numpy as np
import pytest

import graphc as gc
from graphc.errors import TraceError

RTOL = 1e-9
STEPS = 4


def _grad_sequence(shape, steps=STEPS, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(shape) for _ in range(steps)]


# -- numpy references (TF 1.x training_ops.cc) ---------------------------------------------------

def ref_sgd(lr):
    def step(var, g, state):
        return var - lr * g
    return step


def ref_momentum(lr, m, nesterov=False):
    def step(var, g, state):
        state["accum"] = state.get("accum", np.zeros_like(var)) * m + g
        if nesterov:
            return var - (g * lr + state["accum"] * m * lr)
        return var - lr * state["accum"]
    return step


def ref_adagrad(lr, init=0.1):
    def step(var, g, state):
        state["acc"] = state.get("acc", np.full_like(var, init)) + g * g
        return var - lr * g / np.sqrt(state["acc"])
    return step


def ref_rmsprop(lr, rho=0.9, momentum=0.0, eps=1e-10, centered=False):
    def step(var, g, state):
        ms = state.get("ms", np.ones_like(var))
        ms = ms + (g * g - ms) * (1 - rho)
        denom = ms
        if centered:
            mg = state.get("mg", np.zeros_like(var))
            mg = mg + (g - mg) * (1 - rho)
            state["mg"] = mg
            denom = ms - mg * mg
        mom = state.get("mom", np.zeros_like(var)) * momentum + lr * g / np.sqrt(denom + eps)
        state["ms"], state["mom"] = ms, mom
        return var - mom
    return step


def ref_adam(lr=0.001, b1=0.9, b2=0.999, eps=1e-8):
    def step(var, g, state):
        t = state["t"] = state.get("t", 0) + 1
        m = state.get("m", np.zeros_like(var))
        v = state.get("v", np.zeros_like(var))
        m = m + (g - m) * (1 - b1)
        v = v + (g * g - v) * (1 - b2)
        state["m"], state["v"] = m, v
        lr_t = lr * np.sqrt(1 - b2 ** t) / (1 - b1 ** t)
        return var - lr_t * m / (np.sqrt(v) + eps)
    return step


def ref_ftrl(lr, lr_power=-0.5, init=0.1, l1=0.0, l2=0.0, shrink=0.0):
    def step(var, g, state):
        accum = state.get("accum", np.full_like(var, init))
        linear = state.get("linear", np.zeros_like(var))
        g_s = g + 2 * shrink * var
        new_accum = accum + g * g
        linear = linear + g_s - (new_accum ** -lr_power - accum ** -lr_power) / lr * var
        quadratic = new_accum ** -lr_power / lr + 2 * l2
        new_var = np.where(np.abs(linear) > l1, (np.sign(linear) * l1 - linear) / quadratic, 0.0)
        state["accum"], state["linear"] = new_accum, linear
        return new_var
    return step


OPTIMIZERS = {
    "sgd": (lambda: gc.optim.GradientDescent(0.1), ref_sgd(0.1)),
    "momentum": (lambda: gc.optim.Momentum(0.05, 0.9), ref_momentum(0.05, 0.9)),
    "nesterov": (lambda: gc.optim.Momentum(0.05, 0.9, use_nesterov=True), ref_momentum(0.05, 0.9, True)),
    "adagrad": (lambda: gc.optim.AdaGrad(0.3), ref_adagrad(0.3)),
    "rmsprop": (lambda: gc.optim.RMSProp(0.01), ref_rmsprop(0.01)),
    "rmsprop_momentum_centered": (lambda: gc.optim.RMSProp(0.01, decay=0.8, momentum=0.5, epsilon=1e-6, centered=True),
                                  ref_rmsprop(0.01, 0.8, 0.5, 1e-6, True)),
    "adam": (lambda: gc.optim.Adam(), ref_adam()),
    "adam_custom": (lambda: gc.optim.Adam(0.05, beta1=0.8, beta2=0.99, epsilon=1e-4), ref_adam(0.05, 0.8, 0.99, 1e-4)),
    "ftrl": (lambda: gc.optim.Ftrl(0.2), ref_ftrl(0.2)),
    "ftrl_l1_l2_shrink": (lambda: gc.optim.Ftrl(0.2, learning_rate_power=-0.7, l1_regularization_strength=0.05,
                                                l2_regularization_strength=0.1, l2_shrinkage_regularization_strength=0.02),
                          ref_ftrl(0.2, -0.7, 0.1, 0.05, 0.1, 0.02)),
}


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_apply_gradients_matches_tf_kernel(name):
    """Given gradients fed as inputs, every step's variables equal the TF 1.x kernel's."""
    make, ref = OPTIMIZERS[name]
    opt = make()
    init_w = np.random.default_rng(1).standard_normal((3, 4))
    init_b = np.array([0.5, -0.25])
    w = gc.Variable(init_w.copy(), name="w")
    b = gc.Variable(init_b.copy(), name="b")

    @gc.compile
    def apply(gw, gb):
        opt.apply_gradients([(gw, w), (gb, b)])
        return gw.sum()

    ref_w, ref_b, sw, sb = init_w.copy(), init_b.copy(), {}, {}
    for gw, gb in zip(_grad_sequence((3, 4)), _grad_sequence((2,), seed=5)):
        apply(gw, gb)
        ref_w, ref_b = ref(ref_w, gw, sw), ref(ref_b, gb, sb)
        np.testing.assert_allclose(w.numpy(), ref_w, rtol=RTOL, atol=1e-12)
        np.testing.assert_allclose(b.numpy(), ref_b, rtol=RTOL, atol=1e-12)
    assert apply.trace_count == 1  # state lives in variables, not in retraced constants
    for slot in opt.variables():
        assert not slot.trainable


def test_minimize_least_squares_matches_numpy_gradients():
    """minimize() differentiates the loss w.r.t. the trainable variables it reads."""
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((16, 3)), rng.standard_normal((16, 1))
    w0 = rng.standard_normal((3, 1))
    w = gc.Variable(w0.copy(), name="w")
    frozen = gc.Variable(np.array([0.7]), name="frozen", trainable=False)
    opt = gc.optim.Momentum(0.1, 0.5)

    @gc.compile
    def step(x, y):
        loss = gc.mean(gc.square(x @ w + frozen - y))
        opt.minimize(loss)
        return loss

    ref, state = w0.copy(), {}
    momentum = ref_momentum(0.1, 0.5)
    for _ in range(5):
        grad = 2 * x.T @ (x @ ref + 0.7 - y) / len(x)
        step(x, y)
        ref = momentum(ref, grad, state)
        np.testing.assert_allclose(w.numpy(), ref, rtol=RTOL)
    np.testing.assert_array_equal(frozen.numpy(), [0.7])  # not trainable: never updated
    assert opt.get_slot(frozen, "momentum") is None


def test_var_list_freezes_the_other_variables():
    a = gc.Variable(np.array([1.0, 2.0]), name="a")
    b = gc.Variable(np.array([3.0]), name="b")
    opt = gc.optim.GradientDescent(0.5)

    @gc.compile
    def step():
        loss = gc.sum(a * a) + gc.sum(b * b)
        opt.minimize(loss, var_list=[b])
        return loss

    step()
    np.testing.assert_array_equal(a.numpy(), [1.0, 2.0])
    np.testing.assert_allclose(b.numpy(), [3.0 - 0.5 * 6.0])


def test_no_gradient_is_an_error():
    a = gc.Variable(np.array([1.0]), name="a")
    unused = gc.Variable(np.array([1.0]), name="unused")

    @gc.compile
    def step(x):
        loss = gc.sum(x * 2.0) + gc.sum(a * 0.0)
        gc.optim.GradientDescent(0.1).minimize(loss, var_list=[unused])
        return loss

    with pytest.raises(ValueError, match="no gradients provided"):
        step(np.ones(2))


def test_minimize_outside_a_trace_is_a_clear_error():
    a = gc.Variable(np.array([1.0]), name="a")
    with pytest.raises(TraceError, match="inside a gc.compile"):
        gc.optim.Adam().minimize(a.value(), var_list=[a])


def test_global_step_increments_after_the_update():
    w = gc.Variable(np.array([1.0]), name="w")
    step_var = gc.Variable(np.int64(0), name="step", trainable=False)

    @gc.compile
    def train():
        opt = gc.optim.GradientDescent(gc.optim.exponential_decay(1.0, step_var, 1, 0.5, staircase=True))
        opt.minimize(gc.sum(w * w) * 0.5, global_step=step_var)  # gradient = w
        return step_var.value()

    # lr is computed from the step *before* the increment: 1, 0.5, 0.25
    expected = 1.0
    for k, lr in enumerate([1.0, 0.5, 0.25]):
        seen = train()
        expected -= lr * expected
        assert seen == k + 1 and step_var.numpy() == k + 1
        np.testing.assert_allclose(w.numpy(), [expected], rtol=RTOL)


def test_get_or_create_global_step_is_one_int64_variable():
    gs = gc.optim.get_or_create_global_step()
    assert gs is gc.optim.get_or_create_global_step() is gc.optim.get_global_step()
    assert gs.dtype == "int64" and gs.shape == () and not gs.trainable


@pytest.mark.parametrize("staircase", [False, True])
def test_exponential_decay_schedule(staircase):
    """lr * rate^(step/decay_steps), evaluated in each traced step and eagerly."""
    step_var = gc.Variable(np.int64(0), name="gs", trainable=False)
    schedule = gc.optim.exponential_decay(0.1, step_var, decay_steps=3, decay_rate=0.5, staircase=staircase)

    @gc.compile
    def current():
        return gc.cast(schedule(), "float64") + 0.0

    for k in range(7):
        step_var.assign(np.int64(k))
        p = k // 3 if staircase else k / 3
        np.testing.assert_allclose(current(), 0.1 * 0.5 ** p, rtol=1e-12)
        np.testing.assert_allclose(schedule(), 0.1 * 0.5 ** p, rtol=1e-12)


def test_learning_rate_as_an_input_tensor():
    w = gc.Variable(np.array([2.0]), name="w")
    opt = gc.optim.GradientDescent(0.0)

    @gc.compile
    def step(lr):
        opt.learning_rate = lr
        opt.minimize(gc.sum(w * w))  # gradient 2w
        return lr

    step(np.float64(0.25))
    np.testing.assert_allclose(w.numpy(), [1.0])
    step(np.float64(0.5))  # same signature: no retrace, the new rate is used
    np.testing.assert_allclose(w.numpy(), [0.0])
    assert step.trace_count == 1


def test_adam_float32_mlp_step_matches_numpy():
    """A float32 Adam step through minimize on a tiny ReLU net (rtol 1e-5: float32 rounding)."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((8, 5)).astype(np.float32)
    y = rng.integers(0, 3, 8).astype(np.int64)
    w1_0 = rng.standard_normal((5, 4)).astype(np.float32)
    w2_0 = rng.standard_normal((4, 3)).astype(np.float32)
    w1, w2 = gc.Variable(w1_0.copy(), name="w1"), gc.Variable(w2_0.copy(), name="w2")
    opt = gc.optim.Adam(0.01)

    @gc.compile
    def step(x, y):
        loss = gc.nn.sparse_softmax_cross_entropy(gc.relu(x @ w1) @ w2, y).mean()
        opt.minimize(loss)
        return loss

    def numpy_grads(a, b):
        x64, a, b = x.astype(np.float64), a.astype(np.float64), b.astype(np.float64)
        h_pre = x64 @ a
        h = np.maximum(h_pre, 0)
        z = h @ b
        p = np.exp(z - z.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        dz = (p - np.eye(3)[y]) / len(x)
        return x64.T @ ((dz @ b.T) * (h_pre > 0)), h.T @ dz

    ref1, ref2, s1, s2 = w1_0.astype(np.float64), w2_0.astype(np.float64), {}, {}
    adam = ref_adam(0.01)
    for _ in range(3):
        g1, g2 = numpy_grads(ref1, ref2)
        step(x, y)
        ref1, ref2 = adam(ref1, g1, s1), adam(ref2, g2, s2)
        np.testing.assert_allclose(w1.numpy(), ref1, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(w2.numpy(), ref2, rtol=1e-5, atol=1e-6)


# -- clipping and regularization -------------------------------------------------------------------

def test_clip_by_value_and_its_gradient():
    x = np.array([-2.0, -0.5, 0.3, 1.7])
    np.testing.assert_array_equal(gc.optim.clip_by_value(x, -1.0, 1.0), np.clip(x, -1, 1))
    g = gc.grad(lambda x: gc.sum(gc.optim.clip_by_value(x, -1.0, 1.0)))(x)
    np.testing.assert_array_equal(g, [0.0, 1.0, 1.0, 0.0])


@pytest.mark.parametrize("axes", [None, 1])
def test_clip_by_norm(axes):
    x = np.array([[3.0, 4.0], [0.3, 0.4], [0.0, 0.0]])
    norm = np.sqrt((x * x).sum(axis=axes, keepdims=True))
    expected = x * 2.0 / np.maximum(norm, 2.0)
    f = gc.compile(lambda x: gc.optim.clip_by_norm(x, 2.0, axes=axes))
    np.testing.assert_allclose(f(x), expected, rtol=1e-12)
    np.testing.assert_allclose(gc.optim.clip_by_norm(x, 2.0, axes=axes), expected, rtol=1e-12)
    g = gc.grad(lambda x: gc.sum(gc.optim.clip_by_norm(x, 2.0, axes=axes)))(x)
    assert np.isfinite(g).all()  # the all-zero row has a finite gradient (no sqrt at 0)


def test_clip_by_global_norm():
    a, b = np.array([3.0, 0.0]), np.array([[4.0]])
    (ca, none, cb), norm = gc.optim.clip_by_global_norm([a, None, b], 1.0)
    assert none is None
    np.testing.assert_allclose(norm, 5.0)
    np.testing.assert_allclose(ca, a / 5.0)
    np.testing.assert_allclose(cb, b / 5.0)
    (ca, cb), norm = gc.compile(lambda a, b: gc.optim.clip_by_global_norm([a, b], 1.0))(a, b)
    np.testing.assert_allclose(norm, 5.0, rtol=1e-12)
    np.testing.assert_allclose(ca, a / 5.0, rtol=1e-12)
    np.testing.assert_allclose(cb, b / 5.0, rtol=1e-12)
    small, norm = gc.optim.clip_by_global_norm([a / 10, b / 10], 1.0)  # norm 0.5 <= 1: unchanged
    np.testing.assert_allclose(small[0], a / 10)
    inf_clip, _ = gc.optim.clip_by_global_norm([np.array([np.inf, 1.0])], 1.0)
    assert np.isnan(inf_clip[0]).all()  # as TF: an infinite norm poisons the update


def test_clip_between_compute_and_apply_gradients():
    w = gc.Variable(np.array([3.0, 4.0]), name="w")
    opt = gc.optim.GradientDescent(1.0)

    @gc.compile
    def step():
        loss = gc.sum(w * w) * 0.5  # gradient = w, norm 5
        (g, v), = opt.compute_gradients(loss)
        opt.apply_gradients([(gc.optim.clip_by_norm(g, 1.0), v)])
        return loss

    step()
    np.testing.assert_allclose(w.numpy(), [3.0 - 0.6, 4.0 - 0.8], rtol=1e-12)


def test_regularizers():
    w = np.array([[1.0, -2.0], [0.5, 0.0]])
    np.testing.assert_allclose(gc.optim.l1_regularizer(0.1)(w), 0.1 * 3.5)
    np.testing.assert_allclose(gc.optim.l2_regularizer(0.1)(w), 0.1 * (1 + 4 + 0.25) / 2)
    total = gc.optim.apply_regularization(gc.optim.l2_regularizer(1.0), [w, w[0]])
    np.testing.assert_allclose(total, (5.25 + 5.0) / 2)
    g = gc.grad(lambda w: gc.optim.l2_regularizer(0.1)(w) + gc.optim.l1_regularizer(0.2)(w))(w)
    np.testing.assert_allclose(g, 0.1 * w + 0.2 * np.sign(w))
