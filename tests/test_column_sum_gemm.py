"""Large sums over leading axes (conv bias gradients) run as ones(1, R) @ x (passes/simplify.py).

Values against numpy's float64 sums, the rewrite's scope (where it applies and where the
loop nest stays), inf/NaN propagation, and the conv bias gradient it exists for.
Tolerance: float32 sums of R terms of magnitude <= 1 agree with the float64 sum to
R * eps * 4 in absolute terms (sequential accumulation bound, with margin).
"""
import numpy as np
import pytest

import graphc as gc
from graphc.passes.simplify import COLUMN_SUM_GEMM_MIN


def _optimized(fn, *args):
    return gc.compile(fn).ir(*args, stage="optimized")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("keepdims", [False, True])
def test_leading_axis_sum_matches_numpy(dtype, keepdims):
    rng = np.random.default_rng(3)
    x = rng.uniform(-1, 1, (32, 16, 32, 20)).astype(dtype)  # 327,680 elements, 16,384 rows
    assert x.size >= COLUMN_SUM_GEMM_MIN
    fn = lambda v: gc.sum(v, axis=(0, 1, 2), keepdims=keepdims)  # noqa: E731
    assert "matmul" in _optimized(fn, x) and "reduce_sum" not in _optimized(fn, x)
    got = np.asarray(gc.compile(fn)(x))
    want = x.astype(np.float64).sum(axis=(0, 1, 2), keepdims=keepdims)
    assert got.shape == want.shape and got.dtype == dtype
    rows = 32 * 16 * 32
    np.testing.assert_allclose(got, want, rtol=0, atol=rows * np.finfo(dtype).eps * 4)


def test_axis0_of_a_fused_expression_and_two_leading_axes():
    rng = np.random.default_rng(4)
    a = rng.standard_normal((4096, 8, 12)).astype(np.float32)
    b = rng.standard_normal((12,)).astype(np.float32)
    fn = lambda a, b: gc.sum(gc.relu(a * b + 1.0), axis=(0, 1))  # noqa: E731
    assert "matmul" in _optimized(fn, a, b)
    want = np.maximum(a.astype(np.float64) * b + 1.0, 0).sum(axis=(0, 1))
    np.testing.assert_allclose(np.asarray(gc.compile(fn)(a, b)), want, rtol=1e-5, atol=1e-3)


def test_inf_and_nan_propagate_like_numpy():
    x = np.zeros((2048, 160), np.float32)
    x[5, 0], x[700, 0] = np.inf, -np.inf   # inf + -inf: NaN
    x[3, 1] = np.nan
    x[9, 2] = np.inf
    x[10, 3] = 3e38                         # products never overflow: ones * x is exact
    x[11, 3] = 3e38                         # but the sum does: inf
    got = np.asarray(gc.compile(lambda v: gc.sum(v, axis=0))(x))
    with np.errstate(over="ignore", invalid="ignore"):
        want = x.sum(axis=0)
    np.testing.assert_array_equal(got[:4], want[:4])
    np.testing.assert_array_equal(got[4:], 0)


def test_small_trailing_broadcast_and_integer_sums_keep_the_loop_nest():
    small = np.ones((64, 100), np.float32)
    assert "matmul" not in _optimized(lambda v: gc.sum(v, axis=0), small)
    big = np.ones((512, 1024), np.float32)
    assert "matmul" not in _optimized(lambda v: gc.sum(v, axis=1), big)       # trailing axis
    assert "matmul" not in _optimized(lambda v: gc.sum(v), big)               # every axis
    assert "matmul" not in _optimized(lambda v: gc.sum(v, axis=0), big.astype(np.int32))
    one = np.ones((1, 64), np.float32)
    fn = lambda v: gc.sum(gc.broadcast_to(v, (1 << 16, 64)), axis=0)  # noqa: E731
    assert "matmul" not in _optimized(fn, one)   # a broadcast is not materialized
    np.testing.assert_array_equal(np.asarray(gc.compile(fn)(one)), np.full(64, 1 << 16, np.float32))


def test_conv_bias_gradient_through_relu_and_pool():
    """d/db sum(max_pool(relu(conv2d(x, w) + b)) * g): the MNIST CNN's bias gradient."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((16, 28, 28, 1)).astype(np.float32)
    w = (rng.standard_normal((3, 3, 1, 40)) * 0.5).astype(np.float32)
    b = (rng.standard_normal(40) * 0.1).astype(np.float32)
    g = rng.standard_normal((16, 14, 14, 40)).astype(np.float32)

    def loss(b, x, w, g):
        h = gc.relu(gc.nn.bias_add(gc.nn.conv2d(x, w, 1, "SAME"), b))
        return gc.sum(gc.nn.max_pool(h, 2, 2, "VALID") * g)

    got = np.asarray(gc.compile(gc.grad(loss))(b, x, w, g))
    # numpy reference: the pool gradient goes to the first maximum of each 2x2 window
    xp = np.pad(x.astype(np.float64), ((0, 0), (1, 1), (1, 1), (0, 0)))
    z = sum(xp[:, a:a + 28, c:c + 28, :] * w[a, c, 0].astype(np.float64) for a in range(3) for c in range(3)) + b
    h = np.maximum(z, 0)
    win = h.reshape(16, 14, 2, 14, 2, 40).transpose(0, 1, 3, 2, 4, 5).reshape(16, 14, 14, 4, 40)
    first = np.argmax(win, axis=3)
    dh = np.zeros_like(win)
    np.put_along_axis(dh, first[:, :, :, None, :], g[:, :, :, None, :].astype(np.float64), axis=3)
    dh = dh.reshape(16, 14, 14, 2, 2, 40).transpose(0, 1, 3, 2, 4, 5).reshape(16, 28, 28, 40)
    want = (dh * (z > 0)).sum(axis=(0, 1, 2))
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-3)
