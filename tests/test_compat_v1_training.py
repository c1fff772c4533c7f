"""graphc.compat.v1 training: gradients, tf.train optimizers (= gc.optim), decay, Saver, summaries."""
import os

import numpy as np
import pytest

import graphc as gc
import graphc.compat.v1 as tf


@pytest.fixture(autouse=True)
def fresh_graph():
    tf.reset_default_graph()
    yield


def test_gradients_of_the_autodiff_example():
    x = tf.Variable(3.0, name="x")
    y = tf.Variable(4.0, name="y")
    f = x * x * y + y + 2
    dx, dy = tf.gradients(f, [x, y])
    unrelated = tf.Variable(1.0)
    none_grad = tf.gradients(f, [unrelated])
    assert none_grad == [None]
    assert dx.get_shape().as_list() == [] and dx.dtype == tf.float32
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        assert sess.run([f, dx, dy]) == [42.0, 24.0, 10.0]


def test_gradients_wrt_placeholders_and_grad_ys():
    a = tf.placeholder(tf.float32, (None, 3))
    b = tf.reduce_sum(tf.square(a), axis=1)
    (g,) = tf.gradients(b, [a], grad_ys=[tf.constant([1.0, 2.0])])
    with tf.Session() as sess:
        np.testing.assert_allclose(sess.run(g, {a: [[1, 2, 3], [1, 1, 1]]}), [[2, 4, 6], [4, 4, 4]])


OPTIMIZERS = [
    (lambda: tf.train.GradientDescentOptimizer(0.1), lambda: gc.optim.GradientDescent(0.1)),
    (lambda: tf.train.MomentumOptimizer(0.1, 0.9, use_nesterov=True), lambda: gc.optim.Momentum(0.1, 0.9, True)),
    (lambda: tf.train.AdagradOptimizer(0.1), lambda: gc.optim.AdaGrad(0.1)),
    (lambda: tf.train.RMSPropOptimizer(0.01, momentum=0.5), lambda: gc.optim.RMSProp(0.01, momentum=0.5)),
    (lambda: tf.train.AdamOptimizer(0.01), lambda: gc.optim.Adam(0.01)),
    (lambda: tf.train.FtrlOptimizer(0.1, l1_regularization_strength=0.01),
     lambda: gc.optim.Ftrl(0.1, l1_regularization_strength=0.01)),
]


@pytest.mark.parametrize("make_v1, make_gc", OPTIMIZERS)
def test_optimizers_are_gc_optim(make_v1, make_gc):
    """Three v1 minimize steps give exactly what gc.optim does on the same model."""
    rng = np.random.default_rng(0)
    w0 = rng.normal(size=(4, 1)).astype(np.float32)
    xs = [rng.normal(size=(8, 4)).astype(np.float32) for _ in range(3)]
    ys = [rng.normal(size=(8, 1)).astype(np.float32) for _ in range(3)]

    X = tf.placeholder(tf.float32, (None, 4))
    Y = tf.placeholder(tf.float32, (None, 1))
    w = tf.Variable(w0, name="w")
    loss = tf.reduce_mean(tf.square(tf.matmul(X, w) - Y))
    step = make_v1().minimize(loss)
    with tf.Session() as sess:
        sess.run(w.initializer)
        for xb, yb in zip(xs, ys):
            sess.run(step, {X: xb, Y: yb})
        w_v1 = sess.run(w)

    gw = gc.Variable(w0.copy(), name="w")
    opt = make_gc()

    @gc.compile
    def train(xb, yb):
        loss = gc.mean(gc.square(xb @ gw.value() - yb))
        opt.minimize(loss, var_list=[gw])
        return loss

    for xb, yb in zip(xs, ys):
        train(xb, yb)
    np.testing.assert_allclose(w_v1, gw.numpy(), rtol=1e-6, atol=1e-7)
    assert not np.allclose(w_v1, w0)


def test_compute_apply_gradients_with_clipping_and_global_step():
    w = tf.Variable([5.0, -5.0], name="w")
    loss = tf.reduce_sum(tf.square(w))                    # gradient 2w = [10, -10]
    global_step = tf.Variable(0, trainable=False, name="global_step")
    opt = tf.train.GradientDescentOptimizer(0.1)
    grads_and_vars = opt.compute_gradients(loss)
    assert grads_and_vars[0][1] is w
    capped = [(tf.clip_by_value(g, -1.0, 1.0), v) for g, v in grads_and_vars]
    train = opt.apply_gradients(capped, global_step=global_step)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        sess.run(train)
        np.testing.assert_allclose(sess.run(w), [4.9, -4.9])
        sess.run(train)
        assert sess.run(global_step) == 2


def test_minimize_var_list_freezes_the_rest():
    a = tf.Variable(1.0, name="a")
    b = tf.Variable(1.0, name="b")
    loss = tf.square(a * b - 3.0)
    train = tf.train.GradientDescentOptimizer(0.05).minimize(loss, var_list=[b])
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        for _ in range(5):
            sess.run(train)
        assert sess.run(a) == 1.0 and sess.run(b) > 1.5


def test_no_gradient_is_an_error():
    a = tf.Variable(1.0)
    tf.Variable(2.0, name="unused")
    with pytest.raises(ValueError, match="No gradients provided"):
        tf.train.GradientDescentOptimizer(0.1).minimize(tf.constant(1.0) * 2.0, var_list=[a])


def test_exponential_decay_with_global_step():
    global_step = tf.train.get_or_create_global_step()
    assert tf.train.get_global_step() is global_step and global_step.dtype == tf.int64
    lr = tf.train.exponential_decay(0.1, global_step, 10, 0.5)
    lr_stair = tf.train.exponential_decay(0.1, global_step, 10, 0.5, staircase=True)
    w = tf.Variable(1.0)
    train = tf.train.GradientDescentOptimizer(lr).minimize(tf.square(w), global_step=global_step)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        for _ in range(15):
            sess.run(train)
        step, v, v_stair = sess.run([global_step, lr, lr_stair])
    assert step == 15 and v.dtype == np.float32
    np.testing.assert_allclose(v, 0.1 * 0.5 ** 1.5, rtol=1e-6)
    np.testing.assert_allclose(v_stair, 0.05, rtol=1e-6)


def test_saver_errors_and_restore_initializes(tmp_path):
    w = tf.Variable(tf.ones([2, 2]), name="w")
    saver = tf.train.Saver()
    path = str(tmp_path / "model.ckpt")
    with tf.Session() as sess:
        with pytest.raises(tf.errors.FailedPreconditionError):
            saver.save(sess, path)
        sess.run(w.initializer)
        sess.run(tf.assign(w, [[1.0, 2.0], [3.0, 4.0]]))
        saved = saver.save(sess, path, global_step=tf.constant(7))
    assert saved == path + "-7" and tf.train.latest_checkpoint(str(tmp_path)) == saved
    with tf.Session() as sess:                            # restore alone initializes
        saver.restore(sess, saved)
        np.testing.assert_array_equal(sess.run(w), [[1, 2], [3, 4]])
        with pytest.raises(tf.errors.NotFoundError):
            saver.restore(sess, str(tmp_path / "missing"))

    tf.reset_default_graph()
    tf.Variable(tf.ones([3]), name="w")
    with tf.Session() as sess, pytest.raises(tf.errors.InvalidArgumentError, match="shape"):
        tf.train.Saver().restore(sess, saved)


def test_summaries_fetch_bytes_and_file_writer(tmp_path):
    x = tf.placeholder(tf.float32, [None])
    with tf.name_scope("stats"):
        mean_s = tf.summary.scalar("mean", tf.reduce_mean(x))
    hist_s = tf.summary.histogram("values", x)
    merged = tf.summary.merge_all()
    writer = tf.summary.FileWriter(str(tmp_path), tf.get_default_graph())
    with tf.Session() as sess:
        for step in range(3):
            summary_str = sess.run(merged, {x: np.arange(4.0) + step})
            writer.add_summary(summary_str, step)
        one = sess.run(mean_s, {x: [1.0, 3.0]})
    writer.close()
    assert isinstance(one, bytes)
    decoded = gc.summary.decode_summary(one)
    assert decoded["value"][0]["tag"] == "stats/mean" and decoded["value"][0]["simple_value"] == 2.0
    (path,) = [os.path.join(tmp_path, f) for f in os.listdir(tmp_path)]
    events = gc.summary.read_events(path)
    assert events[0]["file_version"] == "brain.Event:2"
    nodes = {n["name"]: n for n in events[1]["graph_def"]["node"]}
    assert nodes[mean_s.op.name]["op"] == "ScalarSummary" and hist_s.op.name in nodes
    scalars = [(e["step"], v["simple_value"]) for e in events if "summary" in e for v in e["summary"]["value"]
               if v["tag"] == "stats/mean"]
    assert scalars == [(0, 1.5), (1, 2.5), (2, 3.5)]
    histos = [v["histo"] for e in events if "summary" in e for v in e["summary"]["value"] if v["tag"] == "values"]
    assert [h["num"] for h in histos] == [4, 4, 4] and histos[2]["max"] == 5.0
