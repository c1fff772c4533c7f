"""Issue 7's ops against independent numpy references, and their gradients (gradcheck).

conv2d/pooling references are direct loops over output pixels and filter taps (not
the im2col the implementation uses); hypothesis varies shapes, strides, dilations and
both paddings. Compiled results and the eager (numpy reference) path are both checked.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings, strategies as st

import graphc as gc
from graphc.ops.conv import same_valid_padding
from graphc.tracing import bind
from gradcheck import add_case, check_case

RNG = np.random.default_rng(7)


def normal(*shape):
    return RNG.standard_normal(shape)


# -- references ----------------------------------------------------------------------------------

def ref_conv2d(x, f, strides, padding, dilations=(1, 1)):
    n, h, w, c = x.shape
    kh, kw, _, o = f.shape
    oh, pt, pb = same_valid_padding(h, kh, strides[0], dilations[0], padding)
    ow, pl, pr = same_valid_padding(w, kw, strides[1], dilations[1], padding)
    out = np.zeros((n, oh, ow, o))
    for i in range(oh):
        for j in range(ow):
            for a in range(kh):
                for b in range(kw):
                    r, q = i * strides[0] + a * dilations[0] - pt, j * strides[1] + b * dilations[1] - pl
                    if 0 <= r < h and 0 <= q < w:
                        out[:, i, j, :] += x[:, r, q, :] @ f[a, b]
    return out


def ref_conv2d_transpose(x, f, output_shape, strides, padding):
    """Scatter form: every input pixel adds its filter-weighted values to the output."""
    n, h, w, _ = x.shape
    kh, kw, cout, _ = f.shape
    _, pt, _ = same_valid_padding(output_shape[1], kh, strides[0], 1, padding)
    _, pl, _ = same_valid_padding(output_shape[2], kw, strides[1], 1, padding)
    y = np.zeros(output_shape)
    for i in range(h):
        for j in range(w):
            for a in range(kh):
                for b in range(kw):
                    r, q = i * strides[0] + a - pt, j * strides[1] + b - pl
                    if 0 <= r < output_shape[1] and 0 <= q < output_shape[2]:
                        y[:, r, q, :] += x[:, i, j, :] @ f[a, b].T
    return y


def ref_pool(x, k, s, padding, kind):
    n, h, w, c = x.shape
    oh, pt, _ = same_valid_padding(h, k[0], s[0], 1, padding)
    ow, pl, _ = same_valid_padding(w, k[1], s[1], 1, padding)
    out = np.zeros((n, oh, ow, c))
    for i in range(oh):
        for j in range(ow):
            r0, q0 = i * s[0] - pt, j * s[1] - pl
            win = x[:, max(r0, 0):min(r0 + k[0], h), max(q0, 0):min(q0 + k[1], w), :]
            out[:, i, j, :] = win.max(axis=(1, 2)) if kind == "max" else win.mean(axis=(1, 2))
    return out


def ref_lrn(x, r, bias, alpha, beta):
    c = x.shape[-1]
    out = np.empty_like(x)
    for d in range(c):
        s = (x[..., max(0, d - r):min(c, d + r + 1)] ** 2).sum(-1)
        out[..., d] = x[..., d] / (bias + alpha * s) ** beta
    return out


# -- TF's output sizes and padding split ------------------------------------------------------------

@pytest.mark.parametrize("size,k,s,d,padding,expected", [
    (28, 3, 1, 1, "SAME", (28, 1, 1)), (28, 3, 2, 1, "SAME", (14, 0, 1)), (28, 2, 2, 1, "SAME", (14, 0, 0)),
    (7, 3, 2, 1, "SAME", (4, 1, 1)), (6, 4, 3, 1, "SAME", (2, 0, 1)), (28, 3, 1, 1, "VALID", (26, 0, 0)),
    (28, 3, 2, 1, "VALID", (13, 0, 0)), (5, 3, 1, 2, "VALID", (1, 0, 0)), (5, 3, 1, 2, "SAME", (5, 2, 2)),
    (2, 5, 1, 1, "VALID", (0, 0, 0)), (10, 3, 3, 1, (1, 2), (4, 1, 2))])
def test_tf_output_sizes(size, k, s, d, padding, expected):
    assert same_valid_padding(size, k, s, d, padding) == expected


# -- conv2d ---------------------------------------------------------------------------------------

conv_cfg = st.fixed_dictionaries({
    "n": st.integers(1, 2), "h": st.integers(1, 7), "w": st.integers(1, 7), "c": st.integers(1, 3),
    "kh": st.integers(1, 3), "kw": st.integers(1, 3), "o": st.integers(1, 3),
    "sh": st.integers(1, 3), "sw": st.integers(1, 3), "dh": st.integers(1, 2), "dw": st.integers(1, 2),
    "padding": st.sampled_from(["SAME", "VALID"])})


@settings(max_examples=20)
@given(conv_cfg)
def test_conv2d_matches_direct_loops(cfg):
    strides, dil = (cfg["sh"], cfg["sw"]), (cfg["dh"], cfg["dw"])
    for size, k, d in ((cfg["h"], cfg["kh"], cfg["dh"]), (cfg["w"], cfg["kw"], cfg["dw"])):
        assume(same_valid_padding(size, k, 1, d, cfg["padding"])[0] > 0)
    x = normal(cfg["n"], cfg["h"], cfg["w"], cfg["c"])
    f = normal(cfg["kh"], cfg["kw"], cfg["c"], cfg["o"])
    expected = ref_conv2d(x, f, strides, cfg["padding"], dil)
    fn = gc.compile(lambda x, f: gc.nn.conv2d(x, f, strides, cfg["padding"], dil))
    np.testing.assert_allclose(fn(x, f), expected, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(gc.nn.conv2d(x, f, strides, cfg["padding"], dil), expected, rtol=1e-10, atol=1e-10)


def test_conv2d_float32_tf_forms_and_errors():
    x, f = normal(2, 9, 8, 3).astype(np.float32), normal(3, 3, 3, 4).astype(np.float32)
    fn = gc.compile(lambda x, f: gc.nn.conv2d(x, f, [1, 2, 2, 1], "SAME", dilations=[1, 1, 1, 1]))
    out = fn(x, f)
    assert out.dtype == np.float32 and out.shape == (2, 5, 4, 4)
    np.testing.assert_allclose(out, ref_conv2d(x.astype(np.float64), f.astype(np.float64), (2, 2), "SAME"),
                               rtol=1e-4, atol=1e-4)
    explicit = gc.compile(lambda x, f: gc.nn.conv2d(x, f, 1, [[0, 0], [1, 1], [1, 1], [0, 0]]))(x, f)
    np.testing.assert_allclose(explicit, gc.compile(lambda x, f: gc.nn.conv2d(x, f, 1, "SAME"))(x, f), rtol=1e-6)
    with pytest.raises(gc.ShapeError, match="channels"):
        gc.nn.conv2d(x, normal(3, 3, 2, 4), 1, "SAME")
    with pytest.raises(gc.ShapeError, match="batch and channel"):
        gc.nn.conv2d(x, f, [2, 2, 2, 1], "SAME")
    with pytest.raises(gc.ShapeError, match="padding"):
        gc.nn.conv2d(x, f, 1, "FULL")


@settings(max_examples=12)
@given(st.integers(1, 3), st.integers(1, 3), st.integers(2, 6), st.integers(1, 3),
       st.sampled_from(["SAME", "VALID"]))
def test_conv2d_transpose_matches_scatter_reference(sh, sw, h, k, padding):
    out_shape = (2, h, h + 1, 2)
    oh = same_valid_padding(h, k, sh, 1, padding)[0]
    ow = same_valid_padding(h + 1, k, sw, 1, padding)[0]
    assume(oh > 0 and ow > 0)
    x, f = normal(2, oh, ow, 3), normal(k, k, 2, 3)
    fn = gc.compile(lambda x, f: gc.nn.conv2d_transpose(x, f, out_shape, (sh, sw), padding))
    y = fn(x, f)
    np.testing.assert_allclose(y, ref_conv2d_transpose(x, f, out_shape, (sh, sw), padding), rtol=1e-10, atol=1e-10)
    # it is the adjoint of conv2d: <conv2d(z), x> == <z, conv2d_transpose(x)>
    z = normal(*out_shape)
    lhs = np.sum(ref_conv2d(z, f, (sh, sw), padding) * x)
    np.testing.assert_allclose(lhs, np.sum(z * y), rtol=1e-9)


def test_conv2d_transpose_shape_errors():
    with pytest.raises(gc.ShapeError, match="spatial size"):
        gc.nn.conv2d_transpose(normal(1, 3, 3, 2), normal(3, 3, 4, 2), (1, 9, 9, 4), 2, "SAME")


# -- pooling and LRN --------------------------------------------------------------------------------

pool_cfg = st.fixed_dictionaries({
    "h": st.integers(1, 7), "w": st.integers(1, 7), "kh": st.integers(1, 3), "kw": st.integers(1, 3),
    "sh": st.integers(1, 3), "sw": st.integers(1, 3), "padding": st.sampled_from(["SAME", "VALID"]),
    "kind": st.sampled_from(["max", "avg"])})


@settings(max_examples=20)
@given(pool_cfg)
def test_pooling_matches_window_reference(cfg):
    k, s = (cfg["kh"], cfg["kw"]), (cfg["sh"], cfg["sw"])
    assume(cfg["padding"] == "SAME" or (cfg["h"] >= k[0] and cfg["w"] >= k[1]))
    x = normal(2, cfg["h"], cfg["w"], 3)
    pool = gc.nn.max_pool if cfg["kind"] == "max" else gc.nn.avg_pool
    expected = ref_pool(x, k, s, cfg["padding"], cfg["kind"])
    # TF's 4-element form for ksize/strides
    fn = gc.compile(lambda x: pool(x, [1, k[0], k[1], 1], [1, s[0], s[1], 1], cfg["padding"]))
    np.testing.assert_allclose(fn(x), expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(pool(x, k, s, cfg["padding"]), expected, rtol=1e-12, atol=1e-12)


def test_avg_pool_counts_only_valid_cells():
    x = np.ones((1, 3, 3, 1), np.float32)
    out = gc.compile(lambda x: gc.nn.avg_pool(x, 2, 2, "SAME"))(x)
    np.testing.assert_array_equal(out, np.ones((1, 2, 2, 1), np.float32))  # not 1/4, 2/4 at the border


def test_max_pool_gradient_goes_to_first_max_like_tf():
    x = np.array([[1.0, 3.0], [3.0, 2.0]]).reshape(1, 2, 2, 1)
    g = gc.grad(lambda x: gc.sum(gc.nn.max_pool(x, 2, 2)))(x)
    np.testing.assert_array_equal(g.reshape(2, 2), [[0.0, 1.0], [0.0, 0.0]])


def test_lrn_matches_reference():
    x = normal(2, 3, 3, 7)
    for r, bias, alpha, beta in [(5, 1.0, 1.0, 0.5), (2, 2.0, 1e-4, 0.75), (0, 1.0, 0.5, 1.0)]:
        fn = gc.compile(lambda x: gc.nn.local_response_normalization(x, r, bias, alpha, beta))
        np.testing.assert_allclose(fn(x), ref_lrn(x, r, bias, alpha, beta), rtol=1e-12)


# -- batch norm ---------------------------------------------------------------------------------------

def test_moments_and_batch_norm():
    x = normal(4, 3, 3, 5) * 2 + 1
    scale, offset = normal(5), normal(5)

    @gc.compile
    def f(x, scale, offset):
        mean, var = gc.nn.moments(x, axes=(0, 1, 2))
        return mean, var, gc.nn.batch_norm(x, scale, offset, mean, var, 1e-3)

    mean, var, y = f(x, scale, offset)
    np.testing.assert_allclose(mean, x.mean((0, 1, 2)), rtol=1e-12)
    np.testing.assert_allclose(var, x.var((0, 1, 2)), rtol=1e-12)  # biased, as tf.nn.moments
    np.testing.assert_allclose(y, (x - x.mean((0, 1, 2))) / np.sqrt(x.var((0, 1, 2)) + 1e-3) * scale + offset,
                               rtol=1e-10, atol=1e-12)


def test_batchnorm_layer_training_updates_moving_averages_inside_the_step():
    bn = gc.layers.BatchNorm(momentum=0.9, epsilon=1e-3)
    train = gc.compile(lambda x: bn(x, training=True))
    infer = gc.compile(lambda x: bn(x, training=False))
    x = normal(8, 4) * 3 + 2
    y = train(x)
    np.testing.assert_allclose(y.mean(0), 0, atol=1e-10)
    np.testing.assert_allclose(bn.moving_mean.numpy(), 0.1 * x.mean(0), rtol=1e-12)
    np.testing.assert_allclose(bn.moving_variance.numpy(), 0.9 + 0.1 * x.var(0), rtol=1e-12)
    train(x)
    np.testing.assert_allclose(bn.moving_mean.numpy(), 0.19 * x.mean(0), rtol=1e-12)
    mm, mv = bn.moving_mean.numpy(), bn.moving_variance.numpy()
    np.testing.assert_allclose(infer(x), (x - mm) / np.sqrt(mv + 1e-3), rtol=1e-10)
    np.testing.assert_array_equal(bn.moving_mean.numpy(), mm)  # inference leaves them alone
    assert [v.trainable for v in bn.variables] == [True, True, False, False]
    # a traced flag selects at run time
    flag = gc.compile(lambda x, t: bn(x, training=t))
    np.testing.assert_allclose(flag(x, np.array(False)), infer(x), rtol=1e-12)
    np.testing.assert_array_equal(bn.moving_mean.numpy(), mm)
    flag(x, np.array(True))
    np.testing.assert_allclose(bn.moving_mean.numpy(), 0.9 * mm + 0.1 * x.mean(0), rtol=1e-12)


# -- activations ------------------------------------------------------------------------------------

def test_activations_match_numpy():
    x = np.concatenate([normal(50) * 3, [-100.0, -30.0, 0.0, 1e-8, -1e-8, 30.0, 80.0]])
    from graphc.ops.nn_extra import SELU_ALPHA, SELU_SCALE

    refs = {
        "elu": (gc.nn.elu, np.where(x > 0, x, np.expm1(np.minimum(x, 0)))),
        "selu": (gc.nn.selu, SELU_SCALE * np.where(x > 0, x, SELU_ALPHA * np.expm1(np.minimum(x, 0)))),
        "leaky_relu": (gc.nn.leaky_relu, np.where(x > 0, x, 0.2 * x)),
        "softplus": (gc.nn.softplus, np.logaddexp(0, x)),
        "expm1": (gc.expm1, np.expm1(x)),
        "log1p": (gc.log1p, np.log1p(np.abs(x))),
    }
    for name, (fn, ref) in refs.items():
        arg = np.abs(x) if name == "log1p" else x
        for dt, tol in (("float64", 1e-14), ("float32", 2e-6)):
            a = arg.astype(dt)
            got = gc.compile(fn)(a)
            assert got.dtype == dt
            np.testing.assert_allclose(got, ref.astype(dt), rtol=tol, atol=1e-30, err_msg=f"{name} {dt}")
    assert np.all(np.isfinite(gc.grad(lambda x: gc.sum(gc.nn.elu(x) + gc.nn.softplus(x)))(x)))


def test_bias_add():
    x, b = normal(2, 3, 4), normal(4)
    np.testing.assert_allclose(gc.compile(gc.nn.bias_add)(x, b), x + b)
    with pytest.raises(gc.ShapeError, match="last axis"):
        gc.nn.bias_add(x, normal(3))


# -- gather / embedding ---------------------------------------------------------------------------------

def test_gather_and_embedding_lookup():
    params = normal(10, 4)
    ids = np.array([[3, 3, 0], [9, 1, 3]], np.int32)
    np.testing.assert_array_equal(gc.compile(gc.nn.embedding_lookup)(params, ids), params[ids])
    p3 = normal(2, 5, 3)
    idx = np.array([4, 0, 4, 2], np.int64)
    np.testing.assert_array_equal(gc.compile(lambda p, i: gc.gather(p, i, axis=1))(p3, idx), np.take(p3, idx, 1))
    # the gradient scatter-adds repeated ids
    g = gc.grad(lambda p: gc.sum(gc.nn.embedding_lookup(p, ids)))(params)
    np.testing.assert_array_equal(g[:, 0], np.bincount(ids.ravel(), minlength=10))


# -- gradients vs finite differences (also registers the new primitives for the coverage test) ---------

X = normal(2, 5, 4, 2)
F = normal(3, 2, 2, 3)
POOL_X = (RNG.permutation(2 * 5 * 4 * 2).reshape(2, 5, 4, 2) / 9.0)  # distinct values: no max ties

NN_CASES = [
    add_case("extract_patches", lambda x, f: gc.nn.conv2d(x, f, (2, 1), "SAME"), X, F, argnums=(0, 1),
             label="conv2d SAME stride 2,1"),
    add_case("extract_patches", lambda x, f: gc.nn.conv2d(x, f, 1, "VALID", (2, 1)), X, F, argnums=(0, 1),
             label="conv2d VALID dilated"),
    add_case("extract_patches_grad",
             lambda g: bind("extract_patches_grad", [g], in_shape=(2, 5, 4, 2), ksize=(3, 2), strides=(2, 1),
                            dilations=(1, 1), pads=((1, 1), (0, 1))), normal(2, 3, 4, 3, 2, 2),
             label="col2im"),
    add_case("extract_patches", lambda x, f: gc.nn.conv2d_transpose(x, f, (2, 9, 8, 2), 2, "SAME"),
             normal(2, 5, 4, 3), F, argnums=(0, 1), label="conv2d_transpose"),
    add_case("maximum", lambda x: gc.nn.max_pool(x, 3, 2, "SAME"), POOL_X, label="max_pool SAME"),
    add_case("slice", lambda x: gc.nn.avg_pool(x, (2, 3), (1, 2), "SAME"), X, label="avg_pool SAME"),
    add_case("power", lambda x: gc.nn.local_response_normalization(x, 1, 1.0, 0.5, 0.75), X, label="lrn"),
    add_case("sqrt", lambda x, s, o: gc.nn.batch_norm(x, s, o, *gc.nn.moments(x, (0, 1, 2)), 1e-3),
             X, normal(2), normal(2), argnums=(0, 1, 2), label="batch_norm with batch moments"),
    add_case("expm1", gc.expm1, normal(3, 4)),
    add_case("log1p", gc.log1p, np.abs(normal(3, 4))),
    add_case("expm1", gc.nn.elu, normal(3, 4), label="elu"),
    add_case("expm1", gc.nn.selu, normal(3, 4), label="selu"),
    add_case("log1p", gc.nn.softplus, normal(3, 4), label="softplus"),
    add_case("where", gc.nn.leaky_relu, normal(3, 4), label="leaky_relu"),
    add_case("gather", lambda p: gc.nn.embedding_lookup(p, np.array([[1, 3], [3, 0]])), normal(4, 3),
             label="embedding_lookup"),
    add_case("gather", lambda p: gc.gather(p, np.array([2, 0, 2]), axis=1), normal(2, 3, 2), label="axis 1"),
]


@pytest.mark.parametrize("case", NN_CASES, ids=str)
def test_nn_gradients(case):
    check_case(case)


def test_conv2d_second_order():
    """d/dx of sum(grad_f(conv) * R): conv's gradient graph is differentiable again."""
    x, f = normal(1, 4, 4, 2), normal(2, 2, 2, 2)
    w = RNG.uniform(0.5, 1.5, f.shape)

    def hvp(x, f):
        gf = gc.grad(lambda f: gc.sum(gc.square(gc.nn.conv2d(x, f, 2, "SAME"))))(f)
        return gc.sum(gf * w)

    def ref_hvp(x):  # grad_f sum(conv^2) = patches^T (2 conv), in numpy
        y = ref_conv2d(x, f, (2, 2), "SAME").reshape(-1, 2)
        p = gc.nn.extract_patches(x, 2, 2, "SAME").reshape(-1, 8)
        return np.sum((p.T @ (2 * y)).reshape(f.shape) * w)

    np.testing.assert_allclose(float(gc.compile(hvp)(x, f)), ref_hvp(x), rtol=1e-12)
    got = gc.grad(hvp)(x, f)
    eps = 1e-5
    num = np.zeros_like(x)
    for i in range(x.size):
        d = np.zeros_like(x)
        d.reshape(-1)[i] = eps
        num.reshape(-1)[i] = (ref_hvp(x + d) - ref_hvp(x - d)) / (2 * eps)
    np.testing.assert_allclose(got, num, rtol=1e-6, atol=1e-8)


def test_issue7_api_is_exported():
    for name in ["conv2d", "conv2d_transpose", "bias_add", "max_pool", "avg_pool", "local_response_normalization",
                 "batch_norm", "batch_normalization", "moments", "dropout", "embedding_lookup", "gather", "one_hot",
                 "in_top_k", "clip_by_value", "clip_by_norm", "elu", "selu", "leaky_relu", "softplus"]:
        assert callable(getattr(gc.nn, name)), name
    for name in ["uniform", "normal", "truncated_normal", "set_seed"]:
        assert callable(getattr(gc.random, name)), name
    for name in ["BasicRNNCell", "BasicLSTMCell", "LSTMCell", "GRUCell", "MultiRNNCell", "DropoutWrapper",
                 "dynamic_rnn", "static_rnn"]:
        assert hasattr(gc.rnn, name), name
    for name in ["Dense", "Conv2D", "BatchNorm", "Dropout", "LSTM", "GRU", "MaxPool2D", "Flatten"]:
        assert hasattr(gc.layers, name), name
    assert callable(gc.scan) and callable(gc.expm1) and callable(gc.log1p)
