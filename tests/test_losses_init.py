"""gc.nn losses/metrics (TF 1.x semantics, stable forms) and gc.init initializers."""
from __future__ import annotations

import numpy as np
import pytest

import graphc as gc
from gradcheck import GradCase, check_case

rng = np.random.default_rng(7)


def _logsumexp(z):
    m = z.max(-1, keepdims=True)
    return (m + np.log(np.exp(z - m).sum(-1, keepdims=True)))[..., 0]


def both(fn, *args):
    """The compiled result and the eager (numpy reference) result."""
    return gc.compile(fn)(*args), fn(*args)


def test_sparse_softmax_cross_entropy_values_and_stability():
    logits = rng.standard_normal((5, 4))
    logits[0] = [1000.0, -1000.0, 0.0, 999.0]  # exp would overflow without the max shift
    labels = np.array([1, 0, 3, 2, 3])
    expected = _logsumexp(logits) - logits[np.arange(5), labels]
    for got in both(gc.nn.sparse_softmax_cross_entropy, logits, labels):
        np.testing.assert_allclose(got, expected, rtol=1e-12)
    got32 = gc.compile(gc.nn.sparse_softmax_cross_entropy)(logits.astype(np.float32), labels.astype(np.int32))
    assert got32.dtype == np.float32 and np.isfinite(got32).all()
    np.testing.assert_allclose(got32, expected, rtol=1e-5, atol=1e-4)


def test_softmax_cross_entropy_values():
    logits = rng.standard_normal((3, 5)) * 10
    labels = rng.dirichlet(np.ones(5), size=3)
    expected = -(labels * (logits - _logsumexp(logits)[:, None])).sum(-1)
    for got in both(gc.nn.softmax_cross_entropy, logits, labels):
        np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_sigmoid_cross_entropy_values_and_extremes():
    x = np.array([-800.0, -3.0, 0.0, 2.5, 800.0])
    z = np.array([0.0, 1.0, 0.3, 0.0, 1.0])
    naive_safe = np.maximum(x, 0) - x * z + np.log1p(np.exp(-np.abs(x)))
    for got in both(gc.nn.sigmoid_cross_entropy, x, z):
        np.testing.assert_allclose(got, naive_safe, rtol=1e-12, atol=1e-300)


def test_sigmoid_cross_entropy_gradient_at_zero_logits():
    """sigmoid(0) - z = 0.5 - z, where zero-initialized logistic regression starts."""
    z = np.array([0.0, 1.0, 0.25])
    g = gc.grad(lambda x: gc.sum(gc.nn.sigmoid_cross_entropy(x, z)))(np.zeros(3))
    np.testing.assert_allclose(g, 0.5 - z, rtol=1e-12)


# The losses are composites; each case names a primitive its graph must contain.
LOSS_CASES = [
    GradCase("reduce_sum", lambda x: gc.nn.sparse_softmax_cross_entropy(x, np.array([2, 0, 1])),
             (rng.standard_normal((3, 4)),), label="sparse_softmax_cross_entropy"),
    GradCase("reduce_sum", lambda x, p: gc.nn.softmax_cross_entropy(x, p),
             (rng.standard_normal((3, 4)), rng.dirichlet(np.ones(4), 3)), argnums=(0, 1),
             label="softmax_cross_entropy"),
    GradCase("exp", lambda x, z: gc.nn.sigmoid_cross_entropy(x, z),
             (rng.uniform(0.2, 3, 6) * np.array([1, -1] * 3), rng.uniform(0, 1, 6)), argnums=(0, 1),
             label="sigmoid_cross_entropy"),
    GradCase("reduce_sum", gc.nn.l2_loss, (rng.standard_normal((3, 2)),), label="l2_loss"),
]


@pytest.mark.parametrize("case", LOSS_CASES, ids=str)
def test_loss_gradients(case):
    check_case(case)


def test_sparse_softmax_gradient_is_softmax_minus_one_hot():
    logits = rng.standard_normal((4, 3))
    labels = np.array([0, 2, 1, 1])
    g = gc.grad(lambda z: gc.sum(gc.nn.sparse_softmax_cross_entropy(z, labels)))(logits)
    p = np.exp(logits - _logsumexp(logits)[:, None])
    np.testing.assert_allclose(g, p - np.eye(3)[labels], rtol=1e-12, atol=1e-15)


def test_l2_loss():
    x = np.array([[1.0, -2.0], [3.0, 0.5]])
    for got in both(gc.nn.l2_loss, x):
        np.testing.assert_allclose(got, (x * x).sum() / 2)


def test_in_top_k_semantics():
    preds = np.array([[0.1, 0.9, 0.5, 0.3],
                      [0.2, 0.2, 0.2, 0.1],       # ties count in the target's favour
                      [0.4, np.nan, 0.1, 0.3],    # non-finite target score -> False
                      [0.5, 0.1, 0.2, np.inf],
                      [0.3, 0.2, 0.1, 0.0]], np.float32)
    targets = np.array([2, 1, 1, 0, 7], np.int64)  # 7 is out of range -> False
    expected_k1 = [False, True, False, False, False]
    expected_k2 = [True, True, False, True, False]
    for k, expected in [(1, expected_k1), (2, expected_k2)]:
        for got in both(lambda p, t: gc.nn.in_top_k(p, t, k), preds, targets):
            np.testing.assert_array_equal(got, expected)


def test_loss_argument_errors_name_the_problem():
    with pytest.raises(gc.DTypeError, match="class indices"):
        gc.nn.sparse_softmax_cross_entropy(np.zeros((2, 3)), np.zeros(2))
    with pytest.raises(gc.ShapeError, match="without the last"):
        gc.nn.sparse_softmax_cross_entropy(np.zeros((2, 3)), np.zeros(3, np.int64))


# -- initializers --------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["glorot_uniform", "glorot_normal", "he_normal", "he_uniform"])
def test_initializer_variance(name):
    """Sample variance within 3% of the target on 200k draws (its standard error is ~0.3%)."""
    shape = (400, 500)
    w = getattr(gc.init, name)(shape, seed=11)
    assert w.dtype == np.float32 and w.shape == shape
    target = {"glorot_uniform": 2 / 900, "glorot_normal": 2 / 900, "he_normal": 2 / 400, "he_uniform": 2 / 400}[name]
    assert abs(w.var() / target - 1) < 0.03
    assert abs(w.mean()) < 0.02 * np.sqrt(target)  # the mean's standard error is 0.002 sigma
    np.testing.assert_array_equal(w, getattr(gc.init, name)(shape, seed=11))  # reproducible


def test_uniform_bounds_and_truncation():
    r = np.sqrt(6 / (30 + 20))
    w = gc.init.glorot_uniform((30, 20), seed=0)
    assert np.abs(w).max() <= r
    t = gc.init.truncated_normal((100000,), stddev=0.5, seed=1, mean=1.0)
    assert np.abs(t - 1.0).max() <= 1.0 + 1e-6  # redrawn beyond 2 stddev
    # a normal truncated to [-2, 2] has stddev 0.8796 (times 0.5 here); 1% tolerance
    assert abs(t.std() / (0.5 * 0.87962566) - 1) < 0.01


def test_conv_fans_and_zeros():
    w = gc.init.he_normal((3, 3, 16, 32), seed=0)  # fan_in = 3*3*16
    assert abs(w.var() / (2 / 144) - 1) < 0.05
    z = gc.init.zeros((2, 3))
    assert z.dtype == np.float32 and not z.any()
