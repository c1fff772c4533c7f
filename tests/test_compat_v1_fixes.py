"""Issue 17, part A: the books' TF 1.x programs that gave wrong numbers silently or crashed.

Each test states what real TensorFlow 1.x does on the same program (there is no TF here:
the expectations follow TF's documented semantics) and fails on a NaN or a wrong value.
"""
from functools import partial

import ml_dtypes
import numpy as np
import pytest

import graphc.compat.v1 as tf


@pytest.fixture(autouse=True)
def fresh_graph():
    tf.reset_default_graph()
    yield
    tf.reset_default_graph()


def _blobs(n, d, classes, seed=0):
    """Separable Gaussian blobs: a DNN with BN reaches > 95% in a few epochs in TF."""
    rng = np.random.RandomState(seed)
    centers = rng.randn(classes, d).astype(np.float32) * 3
    y = rng.randint(0, classes, n).astype(np.int32)
    x = centers[y] + rng.randn(n, d).astype(np.float32)
    return x, y


# -- wrong numbers, silently -------------------------------------------------------------------------


@pytest.mark.parametrize("fetch", ["training_op", "with_update_ops"])
def test_batch_norm_training_op_alone_learns_without_nan(fetch):
    """Chapter 11's BN network (BN on every layer, the logits layer included), trained by
    ``sess.run(training_op)`` or ``sess.run([training_op, extra_update_ops])`` without
    fetching the loss. TF 1.x: no NaN, test accuracy > 0.9 on these blobs after 3
    epochs (0.99+ in practice); graphc gave NaN weights from step 2 and accuracy 0.0.
    Without the update ops the moving statistics keep their initial 0/1 (TF too), so
    that run is evaluated with batch statistics (training=True)."""
    x_all, y_all = _blobs(1200, 784, 10)
    x = tf.placeholder(tf.float32, (None, 784), name="X")
    y = tf.placeholder(tf.int32, (None,), name="y")
    training = tf.placeholder_with_default(False, shape=(), name="training")
    bn = partial(tf.layers.batch_normalization, training=training, momentum=0.9)
    with tf.name_scope("dnn"):
        h1 = tf.nn.elu(bn(tf.layers.dense(x, 300, name="hidden1")))
        h2 = tf.nn.elu(bn(tf.layers.dense(h1, 100, name="hidden2")))
        logits = bn(tf.layers.dense(h2, 10, name="outputs"))
    loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits))
    training_op = tf.train.GradientDescentOptimizer(0.01).minimize(loss)
    extra_update_ops = tf.get_collection(tf.GraphKeys.UPDATE_OPS)
    accuracy = tf.reduce_mean(tf.cast(tf.nn.in_top_k(logits, y, 1), tf.float32))
    with tf.Session() as sess:
        tf.global_variables_initializer().run()
        for epoch in range(3):
            for i in range(0, 1000, 200):
                feed = {x: x_all[i:i + 200], y: y_all[i:i + 200], training: True}
                if fetch == "training_op":
                    sess.run(training_op, feed_dict=feed)
                else:
                    sess.run([training_op, extra_update_ops], feed_dict=feed)
        for v in tf.global_variables():
            assert np.isfinite(sess.run(v)).all(), v.name
        moving = [sess.run(v) for v in tf.global_variables() if "moving_mean" in v.name]
        acc = sess.run(accuracy, {x: x_all[1000:], y: y_all[1000:], training: fetch == "training_op"})
    assert acc > 0.9, acc
    if fetch == "training_op":
        assert all((m == 0).all() for m in moving)
    else:
        assert all((m != 0).any() for m in moving)


def test_contrib_batch_norm_updates_collections_none_updates_in_place():
    """updates_collections=None: TF runs the moving-average updates with the output, so
    after one training run moving_mean = 0.1 * batch mean and moving_variance =
    0.9 + 0.1 * batch variance (decay 0.9; the variance with Bessel's correction, as TF's
    fused kernel gives it); a run with is_training False leaves them."""
    x = tf.placeholder(tf.float32, (None, 3))
    is_training = tf.placeholder_with_default(False, ())
    out = tf.contrib.layers.batch_norm(x, decay=0.9, is_training=is_training, updates_collections=None)
    assert tf.get_collection(tf.GraphKeys.UPDATE_OPS) == []
    moving_mean, moving_var = [v for v in tf.global_variables() if "moving" in v.name]
    data = np.random.RandomState(0).randn(50, 3).astype(np.float32) * 2 + 5
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        got = sess.run(out, {x: data, is_training: True})
        np.testing.assert_allclose(got, (data - data.mean(0)) / np.sqrt(data.var(0) + 1e-3), rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(sess.run(moving_mean), 0.1 * data.mean(0), rtol=1e-5)
        np.testing.assert_allclose(sess.run(moving_var), 0.9 + 0.1 * data.var(0, ddof=1), rtol=1e-5)
        before = sess.run([moving_mean, moving_var])
        sess.run(out, {x: data})
        np.testing.assert_array_equal(sess.run([moving_mean, moving_var]), before)


@pytest.mark.parametrize("layer, shape, fused, ddof", [
    ("contrib", (50, 3), None, 1), ("contrib", (4, 3, 2, 3), None, 1), ("contrib", (50, 3), False, 0),
    ("contrib", (1, 3), None, 0), ("layers", (50, 3), None, 0), ("layers", (4, 3, 2, 3), None, 1),
    ("layers", (4, 3, 2, 3), False, 0)])
def test_batch_norm_moving_variance_bessel_correction_where_tf_fuses(layer, shape, fused, ddof):
    """TF 1.x's fused batch norm (contrib's batch_norm on 2-D and 4-D inputs, tf.layers'
    on 4-D; fused=None is the default) averages the batch variance with Bessel's
    correction n / (n - 1) into moving_variance, the unfused path the plain variance, and
    one value per channel gives a factor of 1 (TF 2.21.0 compat.v1, measured: these seven
    cases). The output is normalized by the plain variance in every case."""
    x = tf.placeholder(tf.float32, (None,) + shape[1:])
    kwargs = {} if fused is None else {"fused": fused}
    if layer == "contrib":
        out = tf.contrib.layers.batch_norm(x, decay=0.9, is_training=True, updates_collections=None, **kwargs)
        updates = []
    else:
        out = tf.layers.batch_normalization(x, momentum=0.9, training=True, **kwargs)
        updates = tf.get_collection(tf.GraphKeys.UPDATE_OPS)
    moving_var = [v for v in tf.global_variables() if "moving_variance" in v.name][0]
    data = np.random.RandomState(1).randn(*shape).astype(np.float32) * 3 + 2
    flat = data.reshape(-1, shape[-1])
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        got = sess.run([out] + updates, {x: data})[0]
        np.testing.assert_allclose(sess.run(moving_var), 0.9 + 0.1 * flat.var(0, ddof=ddof), rtol=1e-5)
    normalized = (flat - flat.mean(0)) / np.sqrt(flat.var(0) + 1e-3)
    np.testing.assert_allclose(got.reshape(-1, shape[-1]), normalized, rtol=1e-4, atol=1e-4)


def test_contrib_batch_norm_default_queues_updates():
    x = tf.placeholder(tf.float32, (None, 3))
    tf.contrib.layers.batch_norm(x, is_training=True)
    assert len(tf.get_collection(tf.GraphKeys.UPDATE_OPS)) == 2


@pytest.mark.parametrize("name, want", [("float", np.float32), ("double", np.float64), ("half", np.float16),
                                        ("float16", np.float16), ("float32", np.float32), ("float64", np.float64),
                                        ("int8", np.int8), ("int16", np.int16), ("int32", np.int32),
                                        ("int64", np.int64), ("uint8", np.uint8), ("bool", np.bool_),
                                        ("bfloat16", ml_dtypes.bfloat16)])
def test_tf_dtype_strings(name, want):
    """TF's _STRING_TO_TF: "float" is float32 (numpy's is float64), "double" float64, "half" float16."""
    assert tf.as_dtype(name).as_numpy_dtype == want
    assert tf.placeholder(name, (2,)).dtype.as_numpy_dtype == want


@pytest.mark.parametrize("name", ["int", "float128", "complex64", "uint16"])
def test_dtype_strings_tf_does_not_have_or_graphc_lacks_raise(name):
    with pytest.raises(TypeError):
        tf.as_dtype(name)


def test_float_string_placeholder_variable_and_cast_matmul():
    """The book's ``tf.placeholder("float")`` against float32 weights: TF computes in float32."""
    x = tf.placeholder("float", (None, 3))
    w = tf.Variable(np.ones((3, 2), np.float32), dtype="float")
    y = tf.matmul(tf.cast(x, "float"), w)
    d = tf.cast(y, "double")
    assert (x.dtype, w.dtype, y.dtype, d.dtype) == (tf.float32, tf.float32, tf.float32, tf.float64)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        got = sess.run(d, {x: np.ones((2, 3))})
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got, np.full((2, 2), 3.0))


def _initial_values(graph_seed, op_seed, sessions=1):
    tf.reset_default_graph()
    if graph_seed is not None:
        tf.set_random_seed(graph_seed)
    a = tf.Variable(tf.random_normal((4, 3), seed=op_seed), name="a")
    b = tf.Variable(tf.truncated_normal((5,), stddev=0.1), name="b")
    c = tf.Variable(tf.random_uniform((3,), -1.0, 1.0), name="c")
    values = []
    for _ in range(sessions):
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            values.append(sess.run([a, b, c]))
    return values


def test_seeded_random_ops_repeat_in_every_new_graph_and_session():
    """tf.set_random_seed(42) + op seeds: TF 1.x gives the same initial values in every new
    graph and every new session (ch. 11 compares optimizers from the same start); ops
    without an op seed take one from the graph's op count, so they repeat too."""
    first, second = _initial_values(42, 1, sessions=2)
    third, = _initial_values(42, 1)
    for x, y, z in zip(first, second, third):
        np.testing.assert_array_equal(x, y)
        np.testing.assert_array_equal(x, z)
    assert first[2].min() >= -1 and first[2].max() < 1
    assert np.abs(first[1]).max() <= 0.2
    # the graph seed and the op seed both select the stream
    other_graph_seed, = _initial_values(43, 1)
    other_op_seed, = _initial_values(42, 2)
    assert not np.array_equal(first[0], other_graph_seed[0])
    assert not np.array_equal(first[0], other_op_seed[0])
    # an op seed alone (TF's default graph seed) is reproducible as well
    only_op, = _initial_values(None, 7)
    again, = _initial_values(None, 7)
    np.testing.assert_array_equal(only_op[0], again[0])


def test_seeded_random_op_draws_new_values_on_each_run_of_one_session():
    """Within one session a seeded op is a stream: each run draws new numbers (TF)."""
    tf.set_random_seed(42)
    r = tf.random_uniform((1000,), seed=3)
    with tf.Session() as sess:
        a, b = sess.run(r), sess.run(r)
    with tf.Session() as sess:
        c = sess.run(r)
    assert not np.array_equal(a, b)
    np.testing.assert_array_equal(a, c)
    assert abs(a.mean() - 0.5) < 0.05


def _dropout_masks(graph_seed, op_seed, sessions=2, steps=3):
    tf.reset_default_graph()
    if graph_seed is not None:
        tf.set_random_seed(graph_seed)
    x = tf.placeholder(tf.float32, (8, 50))
    training = tf.placeholder_with_default(False, ())
    hidden = tf.layers.dense(x, 50, kernel_initializer=tf.ones_initializer())
    d1 = tf.nn.dropout(hidden, keep_prob=0.5, seed=op_seed)
    d2 = tf.layers.dropout(d1, rate=0.3, training=training, seed=op_seed)
    runs = []
    for _ in range(sessions):
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            runs.append([[m != 0 for m in sess.run([d1, d2], {x: np.ones((8, 50)), training: True})]
                         for _ in range(steps)])
    return runs


def test_seeded_dropout_masks_repeat_in_every_new_graph_and_session():
    """TF 1.x: with tf.set_random_seed(42) (and/or an op seed) tf.nn.dropout and
    tf.layers.dropout give the same sequence of masks in every new session and graph
    built the same way, a different mask at each step of one session, and other masks
    for another graph seed; unseeded dropout differs between sessions."""
    first, second = _dropout_masks(42, None)
    third, = _dropout_masks(42, None, sessions=1)
    for a, b, c in zip(first, second, third):
        for m, n, o in zip(a, b, c):
            np.testing.assert_array_equal(m, n)
            np.testing.assert_array_equal(m, o)
    for k in range(2):   # each step draws a new mask; the keep rates are about right
        assert not np.array_equal(first[0][k], first[1][k])
        assert not np.array_equal(first[1][k], first[2][k])
    assert 0.4 < first[0][0].mean() < 0.6 and 0.3 < first[0][1].mean() < 0.42    # 0.5, 0.5 * 0.7
    assert not np.array_equal(first[0][0], _dropout_masks(43, None, sessions=1)[0][0][0])
    op_only = _dropout_masks(None, 5)
    np.testing.assert_array_equal(op_only[0][0][0], op_only[1][0][0])
    np.testing.assert_array_equal(op_only[0][2][1], op_only[1][2][1])
    assert not np.array_equal(op_only[0][0][0], _dropout_masks(None, 6, sessions=1)[0][0][0])
    unseeded = _dropout_masks(None, None)
    assert not np.array_equal(unseeded[0][0][0], unseeded[1][0][0])


def test_unseeded_random_ops_differ_between_sessions():
    r = tf.random_normal((100,))
    with tf.Session() as sess:
        a = sess.run(r)
    with tf.Session() as sess:
        b = sess.run(r)
    assert not np.array_equal(a, b)


# -- crashes --------------------------------------------------------------------------------------------


def test_summary_of_a_variable():
    """tf.summary.scalar/histogram of a tf.Variable itself summarizes its value (TF)."""
    from graphc.summary import events  # noqa: F401  (the encoder the summaries use)

    w = tf.Variable(np.arange(6, dtype=np.float32).reshape(2, 3), name="w")
    s = tf.Variable(2.5, name="s")
    hist = tf.summary.histogram("w", w)
    scal = tf.summary.scalar("s", s)
    merged = tf.summary.merge_all()
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        h, sc, m = sess.run([hist, scal, merged])
    assert isinstance(h, bytes) and isinstance(sc, bytes) and isinstance(m, bytes)
    assert b"w" in h and np.float32(2.5).tobytes() in sc
    assert len(m) >= len(h) + len(sc) - 4


def test_conv2d_transpose_with_run_time_output_shape():
    """output_shape = tf.stack([tf.shape(x)[0], 7, 7, n]) (the books' conv autoencoder):
    the batch size is known only when fed. The result equals the static-shape op."""
    x = tf.placeholder(tf.float32, (None, 4, 4, 3))
    w = tf.Variable(np.random.RandomState(0).randn(3, 3, 5, 3).astype(np.float32))
    dyn = tf.nn.conv2d_transpose(x, w, tf.stack([tf.shape(x)[0], 7, 7, 5]), [1, 2, 2, 1], padding="SAME")
    static = tf.nn.conv2d_transpose(x, w, [2, 7, 7, 5], [1, 2, 2, 1], padding="SAME")
    assert dyn.get_shape().as_list() == [None, 7, 7, 5]
    data = np.random.RandomState(1).randn(2, 4, 4, 3).astype(np.float32)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        a, b = sess.run([dyn, static], {x: data})
        c = sess.run(dyn, {x: data[:1]})
    assert a.shape == (2, 7, 7, 5) and c.shape == (1, 7, 7, 5)
    np.testing.assert_allclose(a, b, rtol=1e-6)
    np.testing.assert_allclose(c, b[:1], rtol=1e-5, atol=1e-6)


def test_stack_and_concat_of_shape_values_stay_usable_as_shapes():
    x = tf.placeholder(tf.float32, (None, 6))
    shape = tf.concat([tf.stack([tf.shape(x)[0]]), [2, 3]], 0)
    y = tf.reshape(x, shape)
    with tf.Session() as sess:
        got, s = sess.run([y, shape], {x: np.ones((4, 6))})
    assert got.shape == (4, 2, 3)
    np.testing.assert_array_equal(s, [4, 2, 3])


def test_reshape_unknown_batch_to_a_fixed_shape():
    """tf.reshape(placeholder((None, 3)), [4, 3]) is valid in TF 1.x (checked when fed)."""
    x = tf.placeholder(tf.float32, (None, 3))
    y = tf.reshape(x, [4, 3])
    z = tf.reshape(x, [-1, 2, 6])
    assert y.get_shape().as_list() == [4, 3]
    assert z.get_shape().as_list() == [None, 2, 6]
    with tf.Session() as sess:
        np.testing.assert_array_equal(sess.run(y, {x: np.arange(12).reshape(4, 3)}),
                                      np.arange(12).reshape(4, 3))
        assert sess.run(z, {x: np.ones((8, 3))}).shape == (2, 2, 6)
        with pytest.raises(tf.errors.InvalidArgumentError, match="reshape"):
            sess.run(y, {x: np.ones((5, 3))})


def test_device_function_is_called_per_op():
    """Chapter 12: ``tf.device(fn)`` calls fn(op) for every op created inside and pins the
    op to the returned device (variables on the CPU, the rest elsewhere)."""
    calls = []

    def variables_on_cpu(op):
        calls.append(op)
        return "/cpu:0" if op.type in ("Variable", "VariableV2") else "/cpu:1"

    with tf.device(variables_on_cpu):
        a = tf.Variable(3.0, name="a")
        b = tf.constant(4.0, name="b")
        c = a * b
    assert a.op.device == "/cpu:0"
    assert b.op.device == "/cpu:1" and c.op.device == "/cpu:1"
    assert {op.type for op in calls} >= {"VariableV2", "Const", "Mul"} or \
        {op.type for op in calls} >= {"VariableV2", "Const"}
    assert all(not callable(op.device) for op in tf.get_default_graph().get_operations())

    with tf.device(lambda op: "/cpu:0"):
        d = tf.constant(1.0) + 1.0
    with tf.Session(config=tf.ConfigProto(allow_soft_placement=True)) as sess:
        sess.run(tf.global_variables_initializer())
        assert sess.run(c) == 12.0
        assert sess.run(d) == 2.0


# -- real control flow (tf.cond, tf.while_loop) ----------------------------------------------------------


def test_cond_runs_only_the_taken_branch_with_its_side_effects():
    """TF 1.x: an op created inside a branch (here an assign_add the result depends on)
    runs only when that branch is taken."""
    x = tf.placeholder(tf.float32, (None,))
    p = tf.placeholder(tf.bool, ())
    calls = tf.Variable(0.0, name="calls")

    def counted():
        with tf.control_dependencies([tf.assign_add(calls, 1.0)]):
            return tf.reduce_sum(x) * 2

    y = tf.cond(p, counted, lambda: tf.reduce_sum(x) - 1)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        assert sess.run(y, {x: [1, 2], p: True}) == 6.0 and sess.run(calls) == 1.0
        assert sess.run(y, {x: [1, 2], p: False}) == 2.0 and sess.run(calls) == 1.0
        assert sess.run(y, {x: [3], p: True}) == 6.0 and sess.run(calls) == 2.0


def test_cond_with_an_assign_result_and_gradient_training():
    """A branch returning an assign op; and minimize() through tf.cond (TF's gradient of
    cond flows into the taken branch only)."""
    v = tf.Variable(1.0, name="v")
    p = tf.placeholder(tf.bool, ())
    step = tf.cond(p, lambda: tf.assign(v, v * 3.0), lambda: tf.identity(v))
    w = tf.Variable(2.0, name="w")
    loss = tf.cond(p, lambda: tf.square(w), lambda: 3.0 * w)
    train = tf.train.GradientDescentOptimizer(0.25).minimize(loss)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        assert sess.run(step, {p: False}) == 1.0 and sess.run(v) == 1.0
        assert sess.run(step, {p: True}) == 3.0 and sess.run(v) == 3.0
        sess.run(train, {p: True})        # d(w^2)/dw = 4: w = 2 - 1
        assert sess.run(w) == pytest.approx(1.0)
        sess.run(train, {p: False})       # d(3w)/dw = 3: w = 1 - 0.75
        assert sess.run(w) == pytest.approx(0.25)


def test_while_loop_data_dependent_count_forward_and_gradient():
    """tf.while_loop with the iteration count fed at run time (TF runs n iterations); the
    gradient w.r.t. the initial value and a variable the body reads matches float64
    finite differences of the same recurrence (float32 run: rtol 1e-4)."""
    n = tf.placeholder(tf.int32, ())
    a0 = tf.placeholder(tf.float32, (3,))
    w = tf.Variable(0.5, name="w")
    i, a = tf.while_loop(lambda i, a: i < n, lambda i, a: (i + 1, tf.tanh(a * w) + a), [tf.constant(0), a0],
                         maximum_iterations=20)
    loss = tf.reduce_sum(a)
    grads = tf.gradients(loss, [a0, w])
    start = np.array([1.0, -2.0, 0.5])

    def ref(x, wv, steps):
        for _ in range(steps):
            x = np.tanh(x * wv) + x
        return x

    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        for steps in (0, 1, 5):
            got_i, got_a, (ga, gw) = sess.run([i, a, grads], {n: steps, a0: start})
            assert got_i == steps
            np.testing.assert_allclose(got_a, ref(start, 0.5, steps), rtol=1e-5)
            eps = 1e-6
            fda = [(ref(start + eps * e, 0.5, steps).sum() - ref(start - eps * e, 0.5, steps).sum()) / (2 * eps)
                   for e in np.eye(3)]
            fdw = (ref(start, 0.5 + eps, steps).sum() - ref(start, 0.5 - eps, steps).sum()) / (2 * eps)
            np.testing.assert_allclose(ga, fda, rtol=1e-4, atol=1e-6)
            np.testing.assert_allclose(gw, fdw, rtol=1e-4, atol=1e-6)
        assert sess.run(i, {n: 50, a0: start}) == 20      # maximum_iterations


def test_while_loop_single_variable_and_python_values():
    c = tf.while_loop(lambda j: j < 10, lambda j: j + 3, [tf.constant(1)])
    total = tf.while_loop(lambda k, s: k < 4, lambda k, s: (k + 1, s + tf.cast(k, tf.float32)), (0, 0.0))
    with tf.Session() as sess:
        assert sess.run(c) == 10
        k, s = sess.run(total)
    assert (k, s) == (4, 6.0)


def test_while_loop_gradient_without_maximum_iterations():
    """No maximum_iterations: x <- 0.9 x + w until sum(x) <= 1, for 0, 40 and 346
    iterations (the count depends on the fed x, as numpy float32 counts them);
    tf.gradients w.r.t. the placeholder and a variable the body reads match float64
    central differences of the recurrence run that many times (float32 run: rtol 1e-3),
    and minimize() trains w through the loop."""
    x = tf.placeholder(tf.float32, (2,))
    w = tf.Variable(0.01, name="w")
    # i < 5000: a wrong value ends the loop (and fails the count check) instead of hanging the suite
    y, n = tf.while_loop(lambda v, i: (tf.reduce_sum(v) > 1.0) & (i < 5000), lambda v, i: (v * 0.9 + w, i + 1),
                         [x, 0])
    loss = tf.reduce_sum(y * y)
    gx, gw = tf.gradients(loss, [x, w])
    train = tf.train.GradientDescentOptimizer(0.0005).minimize(loss, var_list=[w])   # dloss/dw ~ 12 here

    def count32(v):
        v, k = np.float32(v), 0
        while v.sum() > 1.0:
            v, k = v * np.float32(0.9) + np.float32(0.01), k + 1
        return k

    def ref(v, wv, k):
        for _ in range(k):
            v = v * 0.9 + wv
        return (v * v).sum()

    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        for start, count in (([0.3, 0.2], 0), ([30.0, 20.0], 40), ([3e15, 2e15], 346)):
            start = np.array(start)
            got_n, got_gx, got_gw = sess.run([n, gx, gw], {x: start})
            assert got_n == count == count32(start)
            eps = 1e-6 * start.max()
            fdx = [(ref(start + eps * e, 0.01, count) - ref(start - eps * e, 0.01, count)) / (2 * eps)
                   for e in np.eye(2)]
            fdw = (ref(start, 0.01 + 1e-7, count) - ref(start, 0.01 - 1e-7, count)) / 2e-7
            np.testing.assert_allclose(got_gx, fdx, rtol=1e-3, atol=1e-20)
            np.testing.assert_allclose(got_gw, fdw, rtol=1e-3)
        before = sess.run(loss, {x: [30.0, 20.0]})
        for _ in range(3):
            sess.run(train, {x: [30.0, 20.0]})
        assert sess.run(loss, {x: [30.0, 20.0]}) < before


def test_while_loop_body_assigns_apply_every_iteration():
    """TF 1.x: an assign in the body (by control dependency or as a value) runs in each
    iteration, the next iteration (and the cond) reads the new value, and the variable
    keeps the last value after the run."""
    counter = tf.Variable(0, name="counter")
    acc = tf.Variable(0.0, name="acc")

    def body(i):
        with tf.control_dependencies([tf.assign_add(counter, 1), tf.assign_add(acc, tf.cast(i, tf.float32))]):
            return i + 1

    n = tf.while_loop(lambda i: i < 5, body, [tf.constant(0)])
    jumps = tf.while_loop(lambda i: counter < 12, lambda i: i + tf.assign_add(counter, 2), [tf.constant(0)])
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        assert sess.run(n) == 5
        assert sess.run(counter) == 5 and sess.run(acc) == 10.0          # 0+1+2+3+4
        assert sess.run(n) == 5
        assert sess.run(counter) == 10 and sess.run(acc) == 20.0
        assert sess.run(jumps) == 12 and sess.run(counter) == 12        # one iteration: 10 -> 12
    with tf.Session() as sess:        # a new session starts from the initial values
        sess.run(tf.global_variables_initializer())
        assert sess.run(jumps) == 2 + 4 + 6 + 8 + 10 + 12 and sess.run(counter) == 12


# -- optimizer slots in checkpoints ---------------------------------------------------------------------


def _adam_model(name="Adam"):
    tf.reset_default_graph()
    x = tf.placeholder(tf.float32, (None, 3))
    y = tf.placeholder(tf.float32, (None, 1))
    w = tf.Variable(tf.zeros((3, 1)), name="w")
    loss = tf.reduce_mean(tf.square(tf.matmul(x, w) - y))
    train = tf.train.AdamOptimizer(0.1, name=name).minimize(loss)
    return x, y, w, train


def test_adam_slots_are_global_variables_with_tf_names():
    """TF 1.x: minimize() creates beta1_power, beta2_power, then w/Adam (m) and w/Adam_1 (v),
    all global, none trainable."""
    _adam_model()
    assert [v.op.name for v in tf.global_variables()] == ["w", "beta1_power", "beta2_power", "w/Adam", "w/Adam_1"]
    assert [v.op.name for v in tf.trainable_variables()] == ["w"]


def test_saver_restores_adam_slots_so_training_continues_identically(tmp_path):
    """Save after 5 Adam steps, train 5 more; a new graph and session restoring the
    checkpoint and training 5 steps ends at the same weights (TF: exactly, the moments
    and beta powers are in the checkpoint). Restoring the weights alone does not."""
    rng = np.random.RandomState(0)
    data_x = rng.randn(64, 3).astype(np.float32)
    data_y = data_x @ np.array([[1.0], [2.0], [3.0]], np.float32)
    x, y, w, train = _adam_model()
    saver = tf.train.Saver()
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        for _ in range(5):
            sess.run(train, {x: data_x, y: data_y})
        path = saver.save(sess, str(tmp_path / "model"))
        for _ in range(5):
            sess.run(train, {x: data_x, y: data_y})
        continued = sess.run(w)
    for var_list, same in ((None, True), ("weights only", False)):
        x, y, w, train = _adam_model()
        saver = tf.train.Saver([w] if var_list else None)
        with tf.Session() as sess:
            if var_list:
                sess.run(tf.global_variables_initializer())
            saver.restore(sess, path)
            m = sess.run(tf.global_variables()[3])
            for _ in range(5):
                sess.run(train, {x: data_x, y: data_y})
            got = sess.run(w)
        if same:
            assert np.abs(m).sum() > 0
            np.testing.assert_array_equal(got, continued)
        else:
            assert np.abs(got - continued).max() > 1e-3


def test_get_slot_and_slots_of_other_optimizers():
    w = tf.Variable(np.ones(2, np.float32), name="w")
    loss = tf.reduce_sum(tf.square(w))
    opt = tf.train.RMSPropOptimizer(0.1, momentum=0.5)
    opt.minimize(loss)
    mom = tf.train.MomentumOptimizer(0.1, 0.9)
    mom.minimize(loss)
    names = [v.op.name for v in tf.global_variables()]
    assert names == ["w", "w/RMSProp", "w/RMSProp_1", "w/Momentum"]
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        np.testing.assert_array_equal(sess.run(opt.get_slot(w, "rms")), [1, 1])   # TF initializes rms to 1
        assert opt.get_slot(w, "momentum").op.name == "w/RMSProp_1"


def test_dropout_inside_cond_with_a_fed_keep_prob():
    """The books' ``tf.cond(training, lambda: tf.nn.dropout(x, keep_prob), lambda: x)``:
    TF drops only when training is fed True (scaling kept units by 1/keep_prob)."""
    x = tf.placeholder(tf.float32, (None,))
    keep_prob = tf.placeholder_with_default(1.0, ())
    training = tf.placeholder_with_default(False, ())
    y = tf.cond(training, lambda: tf.nn.dropout(x, keep_prob), lambda: x)
    data = np.ones(4000, np.float32)
    with tf.Session() as sess:
        dropped = sess.run(y, {x: data, training: True, keep_prob: 0.5})
        np.testing.assert_array_equal(sess.run(y, {x: data}), data)
    assert set(np.unique(dropped)) <= {0.0, 2.0} and 0.45 < (dropped == 0).mean() < 0.55


def test_reset_graph_gives_the_same_layer_initialization():
    """The books' reset_graph() (reset_default_graph + set_random_seed(42)) before each
    model: dense layers' Glorot kernels, variance-scaling kernels and truncated-normal
    variables start identical in every rebuild (TF 1.x)."""
    def build():
        tf.reset_default_graph()
        tf.set_random_seed(42)
        x = tf.placeholder(tf.float32, (None, 5))
        h = tf.layers.dense(x, 4, activation=tf.nn.relu, name="h")
        tf.layers.dense(h, 2, name="o", kernel_initializer=tf.variance_scaling_initializer())
        tf.Variable(tf.truncated_normal((3, 2), stddev=0.1), name="w3")
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            return sess.run(tf.global_variables())

    first, second = build(), build()
    assert len(first) == 5
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    assert np.abs(first[0]).max() > 0 and np.abs(first[4]).max() > 0
