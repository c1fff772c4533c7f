"""Kernels whose innermost loop is cut where a fused concatenate or slice_grad changes
source (graphc/codegen/loop_split.py, KernelBuilder.bounds_of): cut points, and results
against numpy (forward) and finite differences (the slice gradients an LSTM sums)."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import graphc as gc
from graphc.codegen.loop_split import split_points


def _kernels(f, *args):
    f(*args)
    return next(iter(f._cache.values())).program.kernels


def _kernel_with(kernels, op):
    return next(k for k in kernels if any(m.op == op for m in getattr(k, "members", [])))


def test_cut_points_of_a_fused_concatenate():
    x = np.ones((4, 3), np.float32)
    y = np.ones((4, 5), np.float32)
    f = gc.compile(lambda a, b: gc.exp(gc.concatenate([a, b * 2.0], axis=1)) + 1.0)
    assert split_points(_kernel_with(_kernels(f, x, y), "concatenate")) == [3]


def test_cut_points_of_summed_slice_gradients():
    """The LSTM pattern: gradients of four column slices of one (batch, 4u) array."""
    u = 5
    z = np.ones((3, 4 * u), np.float32)

    def loss(z):
        i, j, f_, o = (z[:, k * u:(k + 1) * u] for k in range(4))
        return (gc.sigmoid(i) * gc.tanh(j) + gc.sigmoid(f_) * gc.sigmoid(o)).sum()

    g = gc.compile(gc.grad(loss))
    assert split_points(_kernel_with(_kernels(g, z), "slice_grad")) == [u, 2 * u, 3 * u]


def test_no_cut_without_a_source_choice_on_the_inner_axis():
    x = np.ones((4, 3), np.float32)
    f = gc.compile(lambda a, b: gc.concatenate([a, b], axis=0) * 2.0)  # rows: the outer axis
    assert split_points(_kernel_with(_kernels(f, x, x), "concatenate")) == []


@settings(max_examples=25, deadline=None)
@given(rows=st.integers(1, 7), widths=st.lists(st.integers(0, 40), min_size=2, max_size=5), seed=st.integers(0, 99))
def test_fused_concatenate_matches_numpy(rows, widths, seed):
    rng = np.random.default_rng(seed)
    parts = [rng.standard_normal((rows, w)).astype(np.float32) for w in widths]
    if sum(widths) == 0:
        return
    f = gc.compile(lambda *ps: gc.tanh(gc.concatenate([p * (k + 1.0) for k, p in enumerate(ps)], axis=1)) - 0.5)
    want = np.tanh(np.concatenate([p * (k + 1.0) for k, p in enumerate(parts)], axis=1)) - 0.5
    np.testing.assert_allclose(f(*parts), want, rtol=2e-6, atol=2e-7)


@settings(max_examples=25, deadline=None)
@given(rows=st.integers(1, 6), n=st.integers(2, 50), data=st.data())
def test_slice_gradients_match_numpy(rows, n, data):
    """Gradients of overlapping, strided, reversed and partial column slices, summed in
    one kernel: each cut piece must give exactly numpy's scatter-add."""
    a = data.draw(st.integers(0, n - 1))
    b = data.draw(st.integers(a + 1, n))
    c = data.draw(st.integers(0, n - 1))
    step = data.draw(st.sampled_from([1, -1, 2]))
    rng = np.random.default_rng(n)
    x = rng.standard_normal((rows, n)).astype(np.float32)
    w1 = rng.standard_normal((rows, b - a)).astype(np.float32)
    sl2 = slice(c, None, step) if step != -1 else slice(c, None, -1)
    w2 = rng.standard_normal(x[:, sl2].shape).astype(np.float32)

    g = gc.compile(gc.grad(lambda x: (x[:, a:b] * w1).sum() + (x[:, sl2] * w2).sum() + (x * x).sum()))
    want = 2 * x
    want[:, a:b] += w1
    want[:, sl2] += w2
    np.testing.assert_allclose(g(x), want, rtol=1e-6, atol=1e-6)


def test_lstm_gate_gradient_matches_finite_differences():
    rng = np.random.default_rng(1)
    u = 7
    z = rng.standard_normal((4, 4 * u)).astype(np.float64)
    c = rng.standard_normal((4, u))

    def loss(z):
        i, j, f_, o = (z[:, k * u:(k + 1) * u] for k in range(4))
        c_new = c * gc.sigmoid(f_ + 1.0) + gc.sigmoid(i) * gc.tanh(j)
        return (gc.tanh(c_new) * gc.sigmoid(o)).sum()

    g = gc.compile(gc.grad(loss))(z)
    f = gc.compile(loss)
    eps = 1e-6
    num = np.zeros_like(z)
    for idx in np.ndindex(*z.shape):
        d = np.zeros_like(z)
        d[idx] = eps
        num[idx] = (f(z + d) - f(z - d)) / (2 * eps)
    np.testing.assert_allclose(g, num, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("perm", [(1, 0), (0, 1)])
def test_concatenate_read_through_a_transpose(perm):
    """An index that reaches the concatenate through a transpose has no known bounds:
    the select path stays, and results stay right."""
    rng = np.random.default_rng(2)
    a = rng.standard_normal((3, 4)).astype(np.float32)
    b = rng.standard_normal((3, 6)).astype(np.float32)
    f = gc.compile(lambda a, b: gc.transpose(gc.concatenate([a, b], axis=1), perm) * 3.0 + gc.ones(1))
    np.testing.assert_allclose(f(a, b), np.concatenate([a, b], axis=1).transpose(perm) * 3.0 + 1.0, rtol=1e-6)
