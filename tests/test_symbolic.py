"""Symbolic dimensions (issue 13): one compilation serves every size a symbol takes.

Every result is compared with a statically specialized compile of the same function
(same kernels apart from sizes: equal up to float rounding of a different GEMM row
split, rtol 1e-6) and, for the smaller cases, with numpy.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings, strategies as st

import graphc as gc
from graphc.errors import GraphcError

BATCHES = (1, 7, 50, 256, 2000)


def _mlp_step(dynamic, hidden=64, seed=0):
    r = np.random.default_rng(seed)
    shapes = ((784, hidden), (hidden, 10))
    vs = []
    for s in shapes:
        vs += [gc.Variable((r.standard_normal(s) / np.sqrt(s[0])).astype(np.float32)),
               gc.Variable(np.zeros(s[1], np.float32))]
    opt = gc.optim.Adam(1e-3)

    def step(x, y):
        w1, b1, w2, b2 = vs
        h = gc.relu(x @ w1 + b1)
        loss = gc.nn.sparse_softmax_cross_entropy(h @ w2 + b2, y).mean()
        opt.minimize(loss)
        return loss

    return gc.compile(step, dynamic=dynamic), vs


def test_mlp_adam_step_compiles_once_for_every_batch():
    fd, vd = _mlp_step("batch")
    fs, vs = _mlp_step(None)
    rng = np.random.default_rng(1)
    for n in BATCHES:
        x = rng.random((n, 784), dtype=np.float32)
        y = rng.integers(0, 10, n).astype(np.int64)
        np.testing.assert_allclose(fd(x, y), fs(x, y), rtol=1e-6)
        for a, b in zip(vd, vs):  # the same updates (Adam divides by sqrt(v): rtol 1e-5)
            np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-7)
    assert fd.trace_count == 1
    assert fs.trace_count == len(BATCHES)
    assert "float32[batch,784]" in fd.ir(x, y, stage="traced")


def test_forward_mlp_matches_numpy_for_every_batch():
    r = np.random.default_rng(2)
    w1 = (r.standard_normal((20, 30)) / 4).astype(np.float32)
    w2 = (r.standard_normal((30, 5)) / 4).astype(np.float32)

    def fwd(x):
        return gc.nn.softmax(gc.tanh(x @ w1 + 0.5) @ w2)

    f = gc.compile(fwd, dynamic="batch")
    for n in BATCHES:
        x = r.standard_normal((n, 20)).astype(np.float32)
        z = np.tanh(x.astype(np.float64) @ w1 + 0.5) @ w2
        e = np.exp(z - z.max(axis=1, keepdims=True))
        np.testing.assert_allclose(f(x), e / e.sum(axis=1, keepdims=True), rtol=1e-5, atol=1e-7)
    assert f.trace_count == 1


def test_reductions_over_the_symbolic_axis():
    f = gc.compile(lambda x: (x.mean(axis=0), x.max(axis=0), x.sum(), x.mean()), dynamic="batch")
    r = np.random.default_rng(3)
    for n in (1, 3, 1000):
        x = r.standard_normal((n, 6)).astype(np.float32)
        mean0, max0, total, mean = f(x)
        np.testing.assert_allclose(mean0, x.astype(np.float64).mean(axis=0), rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(max0, x.max(axis=0))
        np.testing.assert_allclose(total, x.astype(np.float64).sum(), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(mean, x.astype(np.float64).mean(), rtol=1e-5, atol=1e-6)
    assert f.trace_count == 1


def test_named_symbols_and_mismatch_errors():
    f = gc.compile(lambda x, y: (x * y[:, None]).sum(axis=1), shapes={"x": ("n", 4), "y": ("n",)})
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    y = np.array([1, 2, 3], np.float32)
    np.testing.assert_array_equal(f(x, y), (x * y[:, None]).sum(axis=1))
    assert "float32[n,4]" in f.ir(x, y, stage="traced")
    with pytest.raises(GraphcError, match="'n' is 3 in input 0.*but 2 in input 1"):
        f(x, y[:2])
    with pytest.raises(GraphcError, match="axis 1 must be 4"):
        f(np.ones((3, 5), np.float32), y)
    assert f.trace_count == 1


def test_shapes_must_name_arguments():
    with pytest.raises(ValueError, match="not an argument"):
        gc.compile(lambda x: x, shapes={"z": ("n",)})
    with pytest.raises(ValueError, match="dynamic"):
        gc.compile(lambda x: x, dynamic="rows")


def test_reshape_with_symbols():
    # -1 is 2 * batch: a derived symbol, named by its product (graphc/symbolic.py)
    f = gc.compile(lambda x: (x.reshape(-1, 4) * 2).reshape(x.shape[0], 8), dynamic="batch")
    for n in (1, 3):
        x = np.arange(n * 8, dtype=np.float32).reshape(n, 2, 4)
        np.testing.assert_array_equal(f(x), x.reshape(n, 8) * 2)
    assert "float32[2*batch,4]" in f.ir(x, stage="traced") and f.trace_count == 1
    g = gc.compile(lambda x: x.reshape(-1, 8) + 1, dynamic="batch")
    for n in (1, 5):
        x = np.arange(n * 8, dtype=np.float32).reshape(n, 2, 4)
        np.testing.assert_array_equal(g(x), x.reshape(-1, 8) + 1)
    assert g.trace_count == 1


def test_memory_plan_depends_on_the_symbols():
    f = gc.compile(lambda x: gc.exp(gc.tanh(x) * 2).sum(axis=1) + x.sum(axis=1), dynamic="batch")
    small = f.memory_plan(np.ones((2, 64), np.float32))
    large = f.memory_plan(np.ones((200, 64), np.float32))
    assert small["symbols"] == {"batch": 2} and large["symbols"] == {"batch": 200}
    assert large["naive_bytes"] >= 100 * max(small["naive_bytes"], 1) or small["naive_bytes"] == 0
    assert f.trace_count == 1


def _chapter10_dnn(symbolic, monkeypatch):
    """The chapter-10 DNN (tf.layers.dense 784-300-100-10, Adam, in_top_k accuracy) with
    batch-None placeholders; trained on batches of 50 (and a last one of 37), evaluated
    on 50, 1000 and 2000 rows."""
    import graphc.compat.v1 as tf
    import graphc.compat.v1.session as session_module

    if not symbolic:  # the reference: one program per feed shape
        monkeypatch.setattr(session_module, "_leading_dim_unknown", lambda t: False)
    tf.reset_default_graph()
    tf.set_random_seed(42)
    X = tf.placeholder(tf.float32, shape=(None, 784), name="X")
    y = tf.placeholder(tf.int32, shape=(None), name="y")
    h1 = tf.layers.dense(X, 300, name="hidden1", activation=tf.nn.relu)
    h2 = tf.layers.dense(h1, 100, name="hidden2", activation=tf.nn.relu)
    logits = tf.layers.dense(h2, 10, name="outputs")
    loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits))
    train = tf.train.AdamOptimizer(0.001).minimize(loss)
    accuracy = tf.reduce_mean(tf.cast(tf.nn.in_top_k(logits, y, 1), tf.float32))
    init = tf.global_variables_initializer()
    rng = np.random.default_rng(0)
    xs = rng.random((2000, 784), dtype=np.float32)
    ys = rng.integers(0, 10, 2000).astype(np.int32)
    results = []
    with tf.Session() as sess:
        init.run()
        for b in (50, 50, 37):
            sess.run(train, feed_dict={X: xs[:b], y: ys[:b]})
        for n in (50, 1000, 2000):
            results.append(sess.run([accuracy, loss], feed_dict={X: xs[:n], y: ys[:n]}))
        return results, sess.compile_count


def test_compat_v1_session_compiles_once_per_fetches_and_feeds(monkeypatch):
    got, compiles = _chapter10_dnn(True, monkeypatch)
    # init, (train, {X, y}), ([accuracy, loss], {X, y}): one program each, whatever the batch
    assert compiles == 3
    want, static_compiles = _chapter10_dnn(False, monkeypatch)
    assert static_compiles == 6  # the same runs specialized per shape
    np.testing.assert_allclose(np.array(got, np.float64), np.array(want, np.float64), rtol=1e-6)


def test_export_with_symbolic_batch_c_api(tmp_path):
    """gc.export of a dynamic-batch MLP: the C API takes the batch first
    (int mlp_run(int64_t batch, const float* in0, float* out0)); a C program calls it
    with batches 1, 3 and 17 (and a reused workspace), compared with numpy (rtol 2e-5)."""
    import os
    import subprocess

    from graphc import _export_native as native

    cc = native.find_c_compiler()
    if cc is None:
        pytest.skip("no C compiler (cc/gcc/clang): export links with one")
    r = np.random.default_rng(4)
    w1 = r.standard_normal((6, 8)).astype(np.float32)
    w2 = r.standard_normal((8, 3)).astype(np.float32)

    def mlp(x):
        return gc.softmax(gc.relu(x @ w1 + 0.25) @ w2, axis=1)

    lib = gc.export(mlp, (np.zeros((2, 6), np.float32),), str(tmp_path / "libdmlp.so"), name="dmlp",
                    dynamic="batch")
    header = (tmp_path / "dmlp.h").read_text()
    assert "int dmlp_run(int64_t batch, const float* in0, float* out0);" in header
    src = tmp_path / "main.c"
    src.write_text('#include <stdio.h>\n#include "dmlp.h"\n'
                   "int main(void) {\n"
                   "  static float x[17 * 6], y[17 * 3];\n"
                   "  const int64_t batches[4] = {1, 3, 17, 3};\n"
                   "  for (int b = 0; b < 4; b++) {\n"
                   "    int64_t n = batches[b];\n"
                   "    for (int i = 0; i < DMLP_INPUT0_SIZE(n); i++) x[i] = (float)(((i * 37) % 101) / 50.0 - 1.0);\n"
                   "    int rc = dmlp_run(n, x, y);\n"
                   "    printf(\"rc %d n %lld\", rc, (long long)n);\n"
                   "    for (int i = 0; i < DMLP_OUTPUT0_SIZE(n); i++) printf(\" %.9g\", y[i]);\n"
                   "    printf(\"\\n\");\n"
                   "  }\n"
                   "  printf(\"negative %d\\n\", dmlp_run(-1, x, y));\n"
                   "  return 0;\n}\n")
    exe = tmp_path / "main"
    d = str(tmp_path)
    res = subprocess.run([cc, "-O1", "-std=gnu11", "-Wall", "-Werror", "-I", d, "-o", str(exe), str(src),
                          "-L", d, "-ldmlp", f"-Wl,-rpath,{d}"], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    res = subprocess.run([str(exe)], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr
    lines = res.stdout.splitlines()
    for line, n in zip(lines, (1, 3, 17, 3)):
        tag, rc, _, got_n, *vals = line.split()
        assert (rc, int(got_n)) == ("0", n)
        i = np.arange(n * 6)
        x = (((i * 37) % 101) / 50.0 - 1.0).astype(np.float32).reshape(n, 6)
        z = np.maximum(x.astype(np.float64) @ w1 + 0.25, 0) @ w2
        e = np.exp(z - z.max(axis=1, keepdims=True))
        np.testing.assert_allclose(np.array(vals, np.float32).reshape(n, 3), e / e.sum(axis=1, keepdims=True),
                                   rtol=2e-5, atol=1e-6)
    assert lines[4] == "negative 3"  # DMLP_ERR_SIZE_MISMATCH
    # and from Python through the same library
    x = r.standard_normal((5, 6)).astype(np.float32)
    # (the export optimizes one module, the JIT each kernel apart: rtol 2e-5, as above)
    np.testing.assert_allclose(lib.load()(x), gc.compile(mlp)(x), rtol=2e-5, atol=1e-7)
    assert os.path.exists(lib.path)


def test_two_symbols():
    f = gc.compile(lambda x, y: (x * y).sum(axis=1) + x.mean(axis=1), shapes={"x": ("n", "m"), "y": ("m",)})
    r = np.random.default_rng(5)
    for n, m in ((1, 1), (3, 5), (40, 2)):
        x = r.standard_normal((n, m)).astype(np.float32)
        y = r.standard_normal(m).astype(np.float32)
        np.testing.assert_allclose(f(x, y), (x * y).sum(axis=1) + x.mean(axis=1), rtol=1e-5, atol=1e-6)
    assert f.trace_count == 1


def test_unsupported_symbolic_use_is_a_clear_error():
    # an op computing with a symbolic size in Python is refused, naming the symbol
    from graphc.ir.types import Sym

    with pytest.raises(GraphcError, match="symbolic dimension 'batch'.*not support symbolic sizes"):
        Sym("batch") * 2
    # concatenating along the symbolic axis would need a sum of symbols
    f = gc.compile(lambda x: gc.concatenate([x, x], axis=0), dynamic="batch")
    with pytest.raises(GraphcError, match="concatenate along axis 0, which has a symbolic size"):
        f(np.ones((2, 3), np.float32))


# -- convolutions, pooling, scan and random ops with a symbolic batch ----------------------------
# Each is compiled once with the batch as a symbol and called with batches 1, 3 and 7;
# results are compared with a statically specialized compile (the same kernels apart
# from sizes; float64, rtol 1e-9) and the forward values with numpy loops (test_nn_ops).

SMALL_BATCHES = (1, 3, 7)


def _cnn(x, k, k2):
    y = gc.nn.conv2d(x, k, strides=1, padding="SAME")
    y = gc.nn.max_pool(gc.relu(y), 2, 2)                   # 8x8 -> 4x4
    y = gc.nn.conv2d(y, k2, strides=2, padding="VALID")    # 4x4 -> 1x1 (3x3 window, stride 2)
    y = gc.nn.avg_pool(y, 3, 1, "SAME")
    return y.reshape(-1, 5)


def _cnn_reference(x, k, k2):
    from test_nn_ops import ref_conv2d, ref_pool

    y = ref_pool(np.maximum(ref_conv2d(x, k, (1, 1), "SAME"), 0), (2, 2), (2, 2), "VALID", "max")
    y = ref_pool(ref_conv2d(y, k2, (2, 2), "VALID"), (3, 3), (1, 1), "SAME", "avg")
    return y.reshape(-1, 5)


def _cnn_step(x, k, k2):
    out = _cnn(x, k, k2)
    loss, (gx, gk, gk2) = gc.value_and_grad(lambda x, k, k2: (_cnn(x, k, k2) ** 2).sum(), argnums=(0, 1, 2))(x, k, k2)
    return out, loss, gx, gk, gk2


def test_cnn_forward_and_gradients_with_a_symbolic_batch():
    r = np.random.default_rng(6)
    k = r.standard_normal((3, 3, 2, 4))
    k2 = r.standard_normal((3, 3, 4, 5))
    fd = gc.compile(_cnn_step, shapes={"x": ("n", 8, 8, 2)})
    fs = gc.compile(_cnn_step)
    for n in SMALL_BATCHES:
        x = r.standard_normal((n, 8, 8, 2))
        got, want = fd(x, k, k2), fs(x, k, k2)
        for a, b in zip(got, want):
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(got[0], _cnn_reference(x, k, k2), rtol=1e-9, atol=1e-9)
    assert fd.trace_count == 1 and fs.trace_count == len(SMALL_BATCHES)
    assert "float64[64*n,18]" in fd.ir(x, k, k2, stage="traced")  # the patch matrix: n*8*8 rows


def test_conv_variants_with_a_symbolic_batch():
    """1x1 convolution (a plain matmul), dilation, explicit padding, conv2d_transpose
    and extract_patches, float32 (rtol 1e-5 against the static compile)."""
    r = np.random.default_rng(7)
    k1 = r.standard_normal((1, 1, 3, 2)).astype(np.float32)
    kd = r.standard_normal((2, 2, 3, 2)).astype(np.float32)
    kt = r.standard_normal((3, 3, 4, 2)).astype(np.float32)

    def fn(x):
        a = gc.nn.conv2d(x, k1, 1, "VALID")
        b = gc.nn.conv2d(x, kd, 1, [[0, 0], [1, 0], [0, 2], [0, 0]], dilations=2)
        t = gc.nn.conv2d_transpose(a, kt, (x.shape[0], 12, 12, 4), strides=2, padding="SAME")
        p = gc.nn.extract_patches(x, 2, 2, "VALID")
        return a, b, t, p

    fd = gc.compile(fn, dynamic="batch")
    fs = gc.compile(fn)
    for n in SMALL_BATCHES:
        x = r.standard_normal((n, 6, 6, 3)).astype(np.float32)
        for a, b in zip(fd(x), fs(x)):
            assert a.shape == b.shape and a.shape[0] == n
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    assert fd.trace_count == 1


def test_export_of_a_cnn_with_a_symbolic_batch(tmp_path):
    """The patch matrix of an exported CNN has 64*batch rows: the C glue computes that
    size from the batch it is given (Python calls through the library, rtol 1e-5)."""
    from graphc import _export_native as native

    if native.find_c_compiler() is None:
        pytest.skip("no C compiler (cc/gcc/clang): export links with one")
    r = np.random.default_rng(8)
    k = r.standard_normal((3, 3, 2, 4)).astype(np.float32)

    def cnn(x):
        return gc.nn.max_pool(gc.relu(gc.nn.conv2d(x, k, 1, "SAME")), 2, 2).sum(axis=(1, 2))

    lib = gc.export(cnn, (np.zeros((2, 8, 8, 2), np.float32),), str(tmp_path / "libcnn.so"), name="cnn",
                    dynamic="batch")
    assert "int cnn_run(int64_t batch, const float* in0, float* out0);" in (tmp_path / "cnn.h").read_text()
    f = lib.load()
    static = gc.compile(cnn)
    for n in SMALL_BATCHES:
        x = r.standard_normal((n, 8, 8, 2)).astype(np.float32)
        np.testing.assert_allclose(f(x), static(x), rtol=1e-5, atol=1e-5)


def test_random_ops_with_a_symbolic_batch():
    """Random values depend on the element's flat index (graphc/ops/random.py), so the
    symbolic compile draws exactly what the static one draws from the same seed."""
    def fn(x):
        u = gc.random.uniform(x.shape, -1.0, 1.0)
        z = gc.random.normal((x.shape[0], 3), dtype="float64")
        t = gc.random.truncated_normal(x.shape, stddev=0.5)
        d = gc.nn.dropout(x, 0.5)
        m = gc.nn.dropout(x, 0.25, noise_shape=(x.shape[0], 1))
        return u, z, t, d, m

    fd = gc.compile(fn, dynamic="batch")
    fs = gc.compile(fn)
    x = np.ones((7, 40), np.float32)
    for n in SMALL_BATCHES + (300,):
        gc.random.set_seed(11)
        got = fd(x[:n] if n <= 7 else np.ones((n, 40), np.float32))
        gc.random.set_seed(11)
        want = fs(x[:n] if n <= 7 else np.ones((n, 40), np.float32))
        for a, b in zip(got, want):
            assert a.shape == b.shape and a.shape[0] == n
            np.testing.assert_array_equal(a, b)
    u, z, t, d, m = got  # batch 300: the values are what they claim to be
    assert -1 <= u.min() and u.max() < 1 and abs(u.mean()) < 0.05
    assert np.abs(t).max() <= 1.0 and abs(z.std() - 1) < 0.15
    assert set(np.unique(d)) <= {0.0, 2.0} and 0.4 < (d == 0).mean() < 0.6
    assert all(len(set(row)) == 1 for row in m)  # one mask entry per row (noise_shape)
    assert fd.trace_count == 1


def _rnn_step(xs, h0, w, u, b):
    """A tanh RNN over 5 steps (scan), its outputs and the gradients of a loss w.r.t.
    every input: the backward scan, the stacked carries and the hoisted weight GEMM."""
    def run(xs, h0, w, u, b):
        def body(h, x):
            h = gc.tanh(h @ w + x @ u + b)
            return h, h * 2
        return gc.scan(body, h0, xs)

    def loss(xs, h0, w, u, b):
        h, ys = run(xs, h0, w, u, b)
        return (ys ** 2).mean() + (h * h0).sum()

    h, ys = run(xs, h0, w, u, b)
    value, grads = gc.value_and_grad(loss, argnums=(0, 1, 2, 3, 4))(xs, h0, w, u, b)
    return h, ys, value, grads


def _rnn_reference(xs, h0, w, u, b):
    h, ys = h0, []
    for x in xs:
        h = np.tanh(h @ w + x @ u + b)
        ys.append(h * 2)
    return h, np.stack(ys)


def test_scan_rnn_forward_and_gradients_with_a_symbolic_batch():
    r = np.random.default_rng(9)
    w, u = r.standard_normal((20, 20)) / 5, r.standard_normal((6, 20)) / 3
    b = r.standard_normal(20) / 10
    shapes = {"xs": (5, "n", 6), "h0": ("n", 20)}
    fd = gc.compile(_rnn_step, shapes=shapes)
    fs = gc.compile(_rnn_step)
    for n in SMALL_BATCHES:
        xs, h0 = r.standard_normal((5, n, 6)), r.standard_normal((n, 20))
        got, want = fd(xs, h0, w, u, b), fs(xs, h0, w, u, b)
        for a, e in zip(_leaves(got), _leaves(want)):
            np.testing.assert_allclose(a, e, rtol=1e-9, atol=1e-12)
        h, ys = _rnn_reference(xs, h0, w, u, b)
        np.testing.assert_allclose(got[0], h, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(got[1], ys, rtol=1e-9, atol=1e-12)
        assert got[3][0].shape == (5, n, 6) and got[3][1].shape == (n, 20)
    assert fd.trace_count == 1 and fs.trace_count == len(SMALL_BATCHES)
    assert "float64[n,20]" in fd.ir(xs, h0, w, u, b, stage="traced")
    # the memory plan (scan scratch and body workspace included) is a function of n
    plans = [fd.memory_plan(r.standard_normal((5, n, 6)), r.standard_normal((n, 20)), w, u, b) for n in (1, 100)]
    # (the GEMM pack buffers are the same; stacked carries and ys alone grow by 2 * 99 rows per step)
    assert plans[1]["planned_peak_bytes"] - plans[0]["planned_peak_bytes"] >= 2 * 99 * 5 * 20 * 8
    assert plans[1]["symbols"] == {"n": 100} and fd.trace_count == 1


def _leaves(tree):
    from graphc.pytree import flatten

    return flatten(tree)[0]


def test_lstm_training_step_through_scan_with_a_symbolic_batch():
    """gc.rnn.dynamic_rnn with an LSTM cell (two carries, scan inside) and an Adam step,
    float32: the variables after three steps on batches 1, 3, 7 match a static compile's."""
    def make(shapes):
        cell = gc.rnn.LSTMCell(8, seed=3)  # the same initial weights for both
        head = gc.Variable((np.random.default_rng(10).standard_normal((8, 3)) / 3).astype(np.float32))
        opt = gc.optim.Adam(1e-2)

        def step(x, y):
            out, state = gc.rnn.dynamic_rnn(cell, x, dtype="float32")
            logits = out[:, -1, :] @ head
            loss = gc.nn.sparse_softmax_cross_entropy(logits, y).mean()
            opt.minimize(loss)
            return loss, state

        return gc.compile(step, shapes=shapes), cell, head

    fd, cell_d, head_d = make({"x": ("n", 4, 5), "y": ("n",)})
    fs, cell_s, head_s = make(None)
    r = np.random.default_rng(11)
    for n in SMALL_BATCHES:
        x = r.standard_normal((n, 4, 5)).astype(np.float32)
        y = r.integers(0, 3, n).astype(np.int64)
        for a, e in zip(_leaves(fd(x, y)), _leaves(fs(x, y))):
            np.testing.assert_allclose(a, e, rtol=2e-5, atol=1e-6)
    for a, e in zip(cell_d.variables + [head_d], cell_s.variables + [head_s]):
        np.testing.assert_allclose(a.numpy(), e.numpy(), rtol=1e-4, atol=1e-6)
    assert fd.trace_count == 1


def _compat_cnn_rnn(symbolic, monkeypatch):
    """A compat.v1 CNN (conv2d, max_pool, dense, Adam) and an LSTM (dynamic_rnn: a scan)
    on batch-None placeholders, each trained on batches 5, 5, 3 and 9."""
    import graphc.compat.v1 as tf
    import graphc.compat.v1.session as session_module

    if not symbolic:  # the reference: one program per feed shape
        monkeypatch.setattr(session_module, "_leading_dim_unknown", lambda t: False)
    tf.reset_default_graph()
    tf.set_random_seed(5)
    X = tf.placeholder(tf.float32, shape=(None, 8, 8, 1), name="X")
    y = tf.placeholder(tf.int32, shape=(None), name="y")
    c = tf.layers.conv2d(X, filters=4, kernel_size=3, padding="SAME", activation=tf.nn.relu)
    p = tf.nn.max_pool(c, ksize=[1, 2, 2, 1], strides=[1, 2, 2, 1], padding="VALID")
    logits = tf.layers.dense(tf.reshape(p, [-1, 4 * 4 * 4]), 3)
    loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits))
    train = tf.train.AdamOptimizer(0.01).minimize(loss)
    S = tf.placeholder(tf.float32, shape=(None, 5, 6), name="S")
    out, _ = tf.nn.dynamic_rnn(tf.nn.rnn_cell.BasicLSTMCell(7), S, dtype=tf.float32)
    rnn_loss = tf.reduce_mean(tf.square(out))
    rnn_train = tf.train.GradientDescentOptimizer(0.1).minimize(rnn_loss)
    init = tf.global_variables_initializer()
    r = np.random.default_rng(12)
    results = []
    with tf.Session() as sess:
        init.run()
        for v in tf.trainable_variables():  # the same start for both runs (the LSTM's init is not seeded)
            shape = tuple(v.shape.as_list())
            v.load((np.sin(np.arange(int(np.prod(shape)))) / 3).reshape(shape).astype(np.float32), sess)
        for b in (5, 5, 3, 9):
            xs, ys = r.random((b, 8, 8, 1), dtype=np.float32), r.integers(0, 3, b).astype(np.int32)
            results.append(sess.run([train, loss], feed_dict={X: xs, y: ys})[1])
            results.append(sess.run([rnn_train, rnn_loss], feed_dict={S: r.random((b, 5, 6), dtype=np.float32)})[1])
        return results, sess.compile_count


def test_compat_v1_cnn_and_rnn_compile_once_per_fetches_and_feeds(monkeypatch):
    got, compiles = _compat_cnn_rnn(True, monkeypatch)
    assert compiles == 3  # init, (train, {X, y}), (rnn_train, {S}): whatever the batch
    want, static_compiles = _compat_cnn_rnn(False, monkeypatch)
    assert static_compiles == 7  # batches 5, 3 and 9 for each training op
    np.testing.assert_allclose(np.array(got, np.float64), np.array(want, np.float64), rtol=1e-5)


def test_cond_with_a_symbolic_batch():
    """Both branches read the parent's sizes table and share a scratch sized per call;
    forward and gradient equal a static compile's for either branch (float64)."""
    w = np.random.default_rng(15).standard_normal((4, 4))

    def fn(x, p):
        y = gc.cond(p > 0, lambda: gc.tanh(x @ w) * 2, lambda: (x - 1).sum(axis=1, keepdims=True) + x)
        g = gc.grad(lambda x: (gc.cond(p > 0, lambda: gc.tanh(x @ w), lambda: x * x) ** 2).sum())(x)
        return y, g

    fd, fs = gc.compile(fn, shapes={"x": ("n", 4)}), gc.compile(fn)
    r = np.random.default_rng(16)
    for n in SMALL_BATCHES:
        for p in (1.0, -1.0):
            x = r.standard_normal((n, 4))
            for a, b in zip(fd(x, np.float64(p)), fs(x, np.float64(p))):
                np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
    assert fd.trace_count == 1
    assert "(float64[n,4]) = cond(" in fd.ir(x, np.float64(1.0), stage="optimized")


def test_while_loop_with_a_symbolic_batch():
    """A run-time number of iterations (the predicate reads the carries) and the gradient
    of a bounded loop (stacked carries): equal to a static compile's (float64)."""
    w = np.random.default_rng(17).standard_normal((4, 4)) / 4

    def step(c):
        return c[0] + 1, gc.tanh(c[1] @ w) + c[1]

    def fn(x, m):
        i, y = gc.while_loop(lambda c: (c[0] < 5) & (c[1].sum() < m), step, (0, x))
        g = gc.grad(lambda x: (gc.while_loop(lambda c: c[0] < 3, step, (0, x), max_iterations=3)[1] ** 2).sum())(x)
        return i, y, g

    fd, fs = gc.compile(fn, shapes={"x": ("n", 4)}), gc.compile(fn)
    r = np.random.default_rng(18)
    counts = set()
    for n in SMALL_BATCHES:
        for m in (3.0, 1e9):
            x = r.random((n, 4))
            got, want = fd(x, np.float64(m)), fs(x, np.float64(m))
            counts.add(int(got[0]))
            for a, b in zip(got, want):
                np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
    assert len(counts) > 1 and fd.trace_count == 1  # the loop stopped after different counts


def test_unbounded_while_gradient_and_exported_scan_with_symbolic_dimensions_are_clear_errors():
    x = np.ones((3, 4), np.float32)
    g = gc.compile(lambda x: gc.grad(lambda x: (gc.while_loop(lambda c: c[0] < 3, lambda c: (c[0] + 1, c[1] * 2),
                                                              (0, x))[1] ** 2).sum())(x), dynamic="batch")
    with pytest.raises(GraphcError, match="while_grad with symbolic dimensions is not supported yet"):
        g(x)
    from graphc.errors import ExportError

    w = np.eye(4, dtype=np.float32)

    def rnn(xs):
        return gc.scan(lambda h, x: (gc.tanh(h @ w + x),) * 2, xs[0] * 0, xs)[1]

    with pytest.raises(ExportError, match="control flow \\(scan, cond, while_loop\\) with symbolic dimensions"):
        gc.export(rnn, (np.zeros((5, 2, 4), np.float32),), "unused.so", name="rnn", shapes={"xs": (5, "n", 4)})
    h = gc.compile(lambda xs, c: gc.scan(lambda c, x: (c + x, c), c, xs), shapes={"xs": ("t", 2)})
    with pytest.raises(GraphcError, match="scan over a leading axis of symbolic size 't'"):
        h(np.ones((3, 2), np.float32), np.zeros(2, np.float32))


def test_batched_rows_times_a_matrix_with_a_symbolic_batch():
    """(batch, 50, 64) @ (64, 64) runs as one GEMM of 50*batch rows; its weight gradient
    contracts over all rows at once (float32, rtol 1e-5 of the largest value vs static)."""
    r = np.random.default_rng(13)
    w = r.standard_normal((64, 64)).astype(np.float32)

    def fn(x):
        y = gc.relu(x @ w + 1.0)
        gx, gw = gc.grad(lambda x, w: ((x @ w) ** 2).sum(), argnums=(0, 1))(x, w)
        return y, gx, gw

    fd, fs = gc.compile(fn, dynamic="batch"), gc.compile(fn)
    for n in SMALL_BATCHES:
        x = r.standard_normal((n, 50, 64)).astype(np.float32)
        for a, b in zip(fd(x), fs(x)):
            np.testing.assert_allclose(a, b, rtol=0, atol=1e-5 * np.abs(b).max())
    assert fd.trace_count == 1


@settings(max_examples=8, deadline=None)
@given(st.fixed_dictionaries({
    "h": st.integers(3, 7), "w": st.integers(3, 7), "c": st.integers(1, 3), "k": st.integers(1, 3),
    "o": st.integers(1, 3), "s": st.integers(1, 2), "d": st.integers(1, 2), "pool": st.integers(1, 3),
    "padding": st.sampled_from(["SAME", "VALID"])}))
def test_conv_pool_configurations_with_a_symbolic_batch(cfg):
    """conv2d (strides, dilations, padding) then max and avg pooling with their gradients:
    one symbolic compile equals static compiles at batches 1 and 3 (float64, rtol 1e-9)."""
    from graphc.ops.conv import same_valid_padding

    k, d, s, p = cfg["k"], cfg["d"], cfg["s"], cfg["padding"]
    oh, ow = (same_valid_padding(n, k, s, d, p)[0] for n in (cfg["h"], cfg["w"]))
    assume(oh > 0 and ow > 0 and (p == "SAME" or min(oh, ow) >= cfg["pool"]))
    f = np.random.default_rng(14).standard_normal((k, k, cfg["c"], cfg["o"]))

    def fn(x):
        def net(x):
            y = gc.nn.conv2d(x, f, s, p, dilations=d)
            return gc.nn.max_pool(y, cfg["pool"], 1, p) + gc.nn.avg_pool(y, cfg["pool"], 1, p)
        return net(x), gc.grad(lambda x: (net(x) ** 2).sum())(x)

    fd, fs = gc.compile(fn, dynamic="batch"), gc.compile(fn)
    for n in (1, 3):
        x = np.random.default_rng(n).standard_normal((n, cfg["h"], cfg["w"], cfg["c"]))
        for a, b in zip(fd(x), fs(x)):
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9)
    assert fd.trace_count == 1


def test_batched_matmuls_with_a_symbolic_batch():
    """Attention-like (batch, 40, 32) @ (batch, 32, 40) GEMMs loop over the batch at run
    time; values and gradients equal a static compile's (float32, rtol 1e-5)."""
    def fn(q, k, v):
        def att(q, k, v):
            return gc.nn.softmax(q @ gc.transpose(k, (0, 2, 1)) / 4.0, axis=-1) @ v
        return att(q, k, v), gc.grad(lambda q, k, v: (att(q, k, v) ** 2).sum(), argnums=(0, 1, 2))(q, k, v)

    fd, fs = gc.compile(fn, dynamic="batch"), gc.compile(fn)
    r = np.random.default_rng(19)
    for n in SMALL_BATCHES:
        a = [r.standard_normal((n, 40, 32)).astype(np.float32) for _ in range(3)]
        for x, y in zip(_leaves(fd(*a)), _leaves(fs(*a))):
            np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-5 * np.abs(y).max())
    assert fd.trace_count == 1


def test_nested_scans_and_a_scan_in_a_cond_with_a_symbolic_batch():
    """Nested programs' workspace offsets take consecutive regions of one offsets table
    (WorkspaceLayout.nested): a scan in a scan body, and a scan in a cond branch, with
    gradients; equal to a static compile's (float64)."""
    w = np.random.default_rng(20).standard_normal((4, 4)) / 3

    def inner_loop(h, x):
        g, _ = gc.scan(lambda g, z: (gc.tanh(g @ w + z),) * 2, h, gc.stack([x, x * 2]))
        return g

    def fn(xs, h0, p):
        def run(xs, h0):
            return gc.scan(lambda h, x: (inner_loop(h, x), (h * x).sum(axis=1)), h0, xs)

        h, ys = run(xs, h0)
        c = gc.cond(p > 0, lambda: inner_loop(h0, xs[0]), lambda: h0 * 3)
        grads = gc.grad(lambda xs, h0: (run(xs, h0)[0] ** 2).sum() + run(xs, h0)[1].sum(), argnums=(0, 1))(xs, h0)
        return h, ys, c, grads

    fd, fs = gc.compile(fn, shapes={"xs": (3, "n", 4), "h0": ("n", 4)}), gc.compile(fn)
    r = np.random.default_rng(21)
    for n in SMALL_BATCHES:
        xs, h0 = r.standard_normal((3, n, 4)), r.standard_normal((n, 4))
        for p in (1.0, -1.0):
            for a, b in zip(_leaves(fd(xs, h0, np.float64(p))), _leaves(fs(xs, h0, np.float64(p)))):
                np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
    assert fd.trace_count == 1


def test_tile_and_repeat_along_a_symbolic_axis():
    """The result's leading size is a derived symbol (2*batch); gradient included."""
    def fn(x):
        return gc.tile(x, (2, 3)), gc.repeat(x, 2, axis=0), gc.grad(lambda x: (gc.tile(x, (2, 1)) ** 2).sum())(x)

    fd = gc.compile(fn, dynamic="batch")
    for n in SMALL_BATCHES:
        x = np.random.default_rng(n).standard_normal((n, 4)).astype(np.float32)
        t, r, g = fd(x)
        np.testing.assert_array_equal(t, np.tile(x, (2, 3)))
        np.testing.assert_array_equal(r, np.repeat(x, 2, axis=0))
        np.testing.assert_allclose(g, 4 * x, rtol=1e-6)
    assert fd.trace_count == 1


def test_derived_sizes_missing_from_the_sizes_table_are_computed(monkeypatch):
    """A pass on a nested body could make a product of symbols the parent's table lacks:
    kernels, GEMM steps and the entry then compute it from the bound symbols. Simulated by
    a sizes table without any derived symbol, for a CNN in a scan (float64 vs static)."""
    import graphc.codegen.program as program_module

    real, dropped = program_module.program_symbols, set()

    def without_derived(graph):
        symbols = real(graph)
        dropped.update(s for s in symbols if "*" in s)
        return [s for s in symbols if "*" not in s]

    monkeypatch.setattr(program_module, "program_symbols", without_derived)
    k = np.random.default_rng(22).standard_normal((3, 3, 2, 3))

    def fn(xs):
        def body(c, x):
            y = gc.nn.max_pool(gc.relu(gc.nn.conv2d(x, k, 1, "SAME")), 2, 2)
            return c + y.sum(), y
        total, ys = gc.scan(body, np.float64(0), xs)
        return total, ys, gc.grad(lambda xs: gc.scan(body, np.float64(0), xs)[1].sum() ** 2)(xs)

    fd, fs = gc.compile(fn, shapes={"xs": (2, "n", 6, 6, 2)}), gc.compile(fn)
    for n in (1, 3):
        xs = np.random.default_rng(n).standard_normal((2, n, 6, 6, 2))
        for a, b in zip(_leaves(fd(xs)), _leaves(fs(xs))):
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9)
    assert "36*n" in dropped and fd.trace_count == 1  # the patch matrix's rows (n*6*6) were not in the table
