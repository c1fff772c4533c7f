"""gc.random and dropout: exact bits vs the numpy reference, fresh numbers per call,
no sharing between ops, reproducibility after set_seed, and the distributions' shape."""
from __future__ import annotations

import math

import numpy as np
import pytest

import graphc as gc
from graphc.ops.random import _random_impl
from gradcheck import exempt

exempt("random", "a source: its only input is the integer call counter")


def _random_nodes(fn, *args):
    return [n for n in fn.graph(*args).nodes if n.op == "random"]


def test_compiled_bits_equal_the_numpy_reference():
    @gc.compile
    def draw():
        return (gc.random.uniform((1000,)), gc.random.uniform((3, 7), dtype="float64"),
                gc.random.normal((20000,)), gc.random.truncated_normal((20000,)),
                gc.random.normal((5, 5), dtype="float64"))

    for _ in range(2):  # two calls: two counter values
        counter = int(gc.random.counter_variable().numpy())
        outs = draw()
        nodes = _random_nodes(draw)
        assert len(nodes) == 5
        for node, out in zip(nodes, outs):
            ref = _random_impl(node.attrs, np.int64(counter))
            if node.attrs["dist"] == "normal" and out.dtype == np.float64:
                np.testing.assert_allclose(out, ref, rtol=1e-14, atol=1e-15)  # an FMA may move the last bit
            else:
                np.testing.assert_array_equal(out, ref)
            assert out.dtype == node.type.dtype


def test_each_call_draws_new_numbers_and_advances_the_counter_once():
    f = gc.compile(lambda: (gc.random.uniform((64,)), gc.random.normal((64,))))
    c0 = int(gc.random.counter_variable().numpy())
    a, b = f()
    assert int(gc.random.counter_variable().numpy()) == c0 + 1
    a2, b2 = f()
    assert int(gc.random.counter_variable().numpy()) == c0 + 2
    assert not np.any(a == a2) and not np.any(b == b2)


def test_two_ops_never_share_numbers_and_are_never_merged_or_folded():
    @gc.compile
    def f():
        return gc.random.uniform((256,), seed=3), gc.random.uniform((256,), seed=3)

    a, b = f()
    assert len(_random_nodes(f)) == 2  # not CSE'd although op, attributes and seed agree
    assert not np.array_equal(a, b)
    assert all(n.op != "constant" or n.type.size < 256 for n in f.graph().nodes)


def test_set_seed_reproduces_the_sequence():
    def run():
        gc.random.set_seed(1234)
        f = gc.compile(lambda: gc.random.normal((32,)) + gc.random.uniform((32,)))
        return f(), f()

    first, second = run()
    again_first, again_second = run()
    np.testing.assert_array_equal(first, again_first)
    np.testing.assert_array_equal(second, again_second)
    assert not np.array_equal(first, second)
    gc.random.set_seed(99)
    assert not np.array_equal(gc.compile(lambda: gc.random.normal((32,)) + gc.random.uniform((32,)))(), first)


def test_eager_calls_use_the_same_generator():
    c0 = int(gc.random.counter_variable().numpy())
    u = gc.random.uniform((10,), minval=-1.0, maxval=3.0)
    assert isinstance(u, np.ndarray) and u.dtype == np.float32 and u.min() >= -1 and u.max() < 3
    assert int(gc.random.counter_variable().numpy()) == c0 + 1
    assert not np.array_equal(u, gc.random.uniform((10,), minval=-1.0, maxval=3.0))


def _normal_cdf(z):
    return 0.5 * (1 + np.vectorize(math.erf)(z / math.sqrt(2)))


def test_distributions():
    n = 200_000
    u, z, t = gc.compile(lambda: (gc.random.uniform((n,), dtype="float64"), gc.random.normal((n,), dtype="float64"),
                                  gc.random.truncated_normal((n,), mean=1.0, stddev=2.0)))()
    assert 0 <= u.min() and u.max() < 1
    assert abs(u.mean() - 0.5) < 0.005 and abs(u.var() - 1 / 12) < 0.002
    # Kolmogorov-Smirnov distance of the normal draws from the normal CDF (critical ~0.004 at n=2e5)
    zs = np.sort(z)
    ks = np.max(np.abs(_normal_cdf(zs) - np.arange(1, n + 1) / n))
    assert ks < 0.005, ks
    assert abs(z.mean()) < 0.01 and abs(z.std() - 1) < 0.01
    # truncated: within 2 stddev of the mean, std of a 2-sigma-truncated normal is 0.8796
    assert t.min() >= 1.0 - 4.0 and t.max() <= 1.0 + 4.0
    assert abs(t.mean() - 1.0) < 0.02 and abs(t.std() / 2.0 - 0.8796) < 0.01


def test_dropout_scaling_rate_and_masks():
    x = np.ones((200, 100), np.float32)

    @gc.compile
    def f(x):
        return gc.nn.dropout(x, rate=0.3), gc.nn.dropout(x, rate=0.3)

    a, b = f(x)
    kept = a != 0
    np.testing.assert_allclose(a[kept], 1 / 0.7, rtol=1e-6)
    assert abs(kept.mean() - 0.7) < 0.01
    assert not np.array_equal(a != 0, b != 0)  # two dropout ops, two masks
    a2, _ = f(x)
    assert not np.array_equal(a != 0, a2 != 0)  # a new mask each call
    # keep_prob form, inference, traced flag
    np.testing.assert_array_equal(gc.compile(lambda x: gc.nn.dropout(x, keep_prob=0.5, training=False))(x), x)
    flag = gc.compile(lambda x, t: gc.nn.dropout(x, 0.5, training=t))
    np.testing.assert_array_equal(flag(x, np.array(False)), x)
    assert 0.45 < (flag(x, np.array(True)) != 0).mean() < 0.55
    with pytest.raises(ValueError):
        gc.nn.dropout(x, rate=1.0)


def test_dropout_gradient_is_the_scaled_mask_of_the_same_draw():
    x = np.linspace(1, 2, 1000)

    @gc.compile
    def f(x):
        y = gc.nn.dropout(x, rate=0.5)
        return y, gc.gradients(gc.sum(y), x)

    y, g = f(x)
    np.testing.assert_array_equal(g, np.where(y != 0, 2.0, 0.0))


def test_dropout_noise_shape_and_layer():
    x = np.ones((4, 50, 3), np.float32)
    y = gc.compile(lambda x: gc.nn.dropout(x, 0.5, noise_shape=(4, 1, 3)))(x)
    assert np.all((y == y[:, :1, :]))  # one mask broadcast along axis 1
    layer = gc.layers.Dropout(0.5)
    np.testing.assert_array_equal(gc.compile(lambda x: layer(x))(x), x)  # training defaults to False
    assert (gc.compile(lambda x: layer(x, training=True))(x) == 0).any()


def test_random_inside_a_scan_body_is_a_clear_error():
    def body(c, x):
        return c + gc.random.uniform(()), x

    with pytest.raises(gc.TraceError, match="scan body"):
        gc.compile(lambda xs: gc.scan(body, np.float32(0), xs))(np.ones(3, np.float32))
