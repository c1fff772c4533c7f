"""graphc.compat.v1 tf.nn / tf.layers / RNN cells / devices: each maps onto graphc's own op."""
import importlib

import numpy as np
import pytest

import graphc as gc
import graphc.compat.v1 as tf

gc_device = importlib.import_module("graphc.device")


@pytest.fixture(autouse=True)
def fresh_graph():
    tf.reset_default_graph()
    yield


def run(fetches, feed=None):
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        return sess.run(fetches, feed)


def test_nn_ops_take_tf_arguments():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 7, 7, 3)).astype(np.float32)
    w = rng.normal(size=(3, 3, 3, 4)).astype(np.float32)
    logits = rng.normal(size=(5, 4)).astype(np.float32)
    labels = np.array([0, 3, 1, 1, 2], np.int32)
    X = tf.placeholder(tf.float32, (None, 7, 7, 3))
    L = tf.constant(logits)
    cases = {   # tf.nn call -> graphc's function evaluated eagerly (its numpy reference)
        "conv_same": (tf.nn.conv2d(X, w, strides=[1, 2, 2, 1], padding="SAME"), gc.nn.conv2d(x, w, 2, "SAME")),
        "conv_valid": (tf.nn.conv2d(X, w, [1, 1, 1, 1], "VALID"), gc.nn.conv2d(x, w, 1, "VALID")),
        "max_pool": (tf.nn.max_pool(X, [1, 3, 3, 1], [1, 2, 2, 1], "SAME"), gc.nn.max_pool(x, 3, 2, "SAME")),
        "avg_pool": (tf.nn.avg_pool(X, [1, 2, 2, 1], [1, 2, 2, 1], "VALID"), gc.nn.avg_pool(x, 2, 2, "VALID")),
        "elu": (tf.nn.elu(L), gc.nn.elu(logits)),
        "leaky": (tf.nn.leaky_relu(L, alpha=0.1), gc.nn.leaky_relu(logits, 0.1)),
        "xent": (tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=L),
                 gc.nn.sparse_softmax_cross_entropy(logits, labels)),
        "softmax_xent": (tf.nn.softmax_cross_entropy_with_logits(labels=np.eye(4, dtype=np.float32)[labels],
                                                                  logits=L),
                         gc.nn.sparse_softmax_cross_entropy(logits, labels)),
        "l2": (tf.nn.l2_loss(L), 0.5 * np.sum(logits ** 2)),
        "top2": (tf.nn.in_top_k(L, labels, 2), gc.nn.in_top_k(logits, labels, 2)),
        "embed": (tf.nn.embedding_lookup(L, [4, 0]), logits[[4, 0]]),
        "bias": (tf.nn.bias_add(L, [1.0, 2.0, 3.0, 4.0]), logits + [1, 2, 3, 4]),
    }
    values = run({k: t for k, (t, _) in cases.items()}, {X: x})
    for k, (t, expected) in cases.items():
        np.testing.assert_allclose(values[k], expected, rtol=1e-5, atol=1e-5, err_msg=k)
    assert cases["conv_same"][0].get_shape().as_list() == [None, 4, 4, 4]
    mean, var = tf.nn.moments(tf.constant(logits), axes=[0])
    m, v = run([mean, var])
    np.testing.assert_allclose(m, logits.mean(0), rtol=1e-5)
    np.testing.assert_allclose(v, logits.var(0), rtol=1e-5)


def test_dropout_keep_prob_placeholder_compiles_per_value():
    x = tf.placeholder(tf.float32, (None, 1000))
    keep_prob = tf.placeholder(tf.float32)
    d = tf.nn.dropout(x, keep_prob)
    xb = np.ones((4, 1000), np.float32)
    with tf.Session() as sess:
        np.testing.assert_array_equal(sess.run(d, {x: xb, keep_prob: 1.0}), xb)
        half = sess.run(d, {x: xb, keep_prob: 0.5})
        assert set(np.unique(half)) == {0.0, 2.0} and 0.4 < half.mean() / 2 < 0.6
        again = sess.run(d, {x: xb, keep_prob: 0.5})
        assert not np.array_equal(half, again)             # a new mask every run
        assert sess.compile_count == 2
    with pytest.raises(TypeError, match="fed placeholder"):
        with tf.Session() as sess:
            sess.run(tf.nn.dropout(x, keep_prob * 1.0), {x: xb, keep_prob: 0.5})


def test_layers_dense_names_reuse_and_regularizer():
    X = tf.placeholder(tf.float32, (None, 4))
    h = tf.layers.dense(X, 3, activation=tf.nn.relu, name="hidden1",
                        kernel_regularizer=tf.contrib.layers.l2_regularizer(0.1))
    again = tf.layers.dense(X, 3, activation=tf.nn.relu, name="hidden1", reuse=True)
    auto = [tf.layers.dense(X, 2), tf.layers.dense(X, 2)]
    assert [v.op.name for v in tf.global_variables()] == [
        "hidden1/kernel", "hidden1/bias", "dense/kernel", "dense/bias", "dense_1/kernel", "dense_1/bias"]
    assert h.op.name == "hidden1/Relu" and h.get_shape().as_list() == [None, 3]
    (reg,) = tf.get_collection(tf.GraphKeys.REGULARIZATION_LOSSES)
    assert tf.losses.get_regularization_losses() == [reg]
    xb = np.random.rand(5, 4).astype(np.float32)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        hv, av, rv, kernel, bias = sess.run([h, again, reg, "hidden1/kernel:0", "hidden1/bias:0"], {X: xb})
        assert sess.run(auto[0], {X: xb}).shape == (5, 2)
    np.testing.assert_allclose(hv, np.maximum(xb @ kernel + bias, 0), rtol=1e-5)
    np.testing.assert_array_equal(hv, av)
    np.testing.assert_allclose(rv, 0.1 * 0.5 * np.sum(kernel ** 2), rtol=1e-5)


def test_layers_cnn_shapes_and_batch_norm_updates():
    X = tf.placeholder(tf.float32, (None, 28, 28, 1))
    training = tf.placeholder_with_default(False, shape=(), name="training")
    c = tf.layers.conv2d(X, filters=8, kernel_size=3, strides=1, padding="same", activation=tf.nn.relu)
    p = tf.layers.max_pooling2d(c, pool_size=2, strides=2)
    bn = tf.layers.batch_normalization(p, training=training, momentum=0.9)
    d = tf.layers.dropout(bn, rate=0.5, training=training)
    flat = tf.reshape(d, [-1, 14 * 14 * 8])
    assert [t.get_shape().as_list() for t in (c, p, bn, flat)] == \
        [[None, 28, 28, 8], [None, 14, 14, 8], [None, 14, 14, 8], [None, 1568]]
    update_ops = tf.get_collection(tf.GraphKeys.UPDATE_OPS)
    assert len(update_ops) == 2
    moving_mean = [v for v in tf.global_variables() if v.op.name == "batch_normalization/moving_mean"][0]
    xb = np.random.rand(6, 28, 28, 1).astype(np.float32)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        inference = sess.run(bn, {X: xb})
        pooled = sess.run(p, {X: xb})
        np.testing.assert_allclose(inference, pooled / np.sqrt(1 + 1e-3), rtol=1e-5)  # moving stats 0 and 1
        _, train_out = sess.run([update_ops, bn], {X: xb, training: True})
        np.testing.assert_allclose(sess.run(moving_mean), 0.1 * pooled.mean(axis=(0, 1, 2)), rtol=1e-4)
        np.testing.assert_allclose(train_out.mean(axis=(0, 1, 2)), 0, atol=1e-4)
        dropped = sess.run(d, {X: xb, training: True})
        assert 0.3 < np.mean(dropped == 0) < 0.8


def test_contrib_fully_connected_and_initializers():
    he = tf.contrib.layers.variance_scaling_initializer()
    X = tf.placeholder(tf.float32, (None, 400))
    h = tf.contrib.layers.fully_connected(X, 300, weights_initializer=he, scope="hidden1")
    w = tf.get_variable("w", [400, 300], initializer=tf.variance_scaling_initializer(seed=3))
    t = tf.get_variable("t", [1000], initializer=tf.truncated_normal_initializer(stddev=0.5))
    r = tf.get_variable("r", [1000], initializer=tf.random_uniform_initializer(-2.0, 2.0))
    assert [v.op.name for v in tf.global_variables()][:2] == ["hidden1/weights", "hidden1/biases"]
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        kernel, wv, tv, rv = sess.run(["hidden1/weights:0", w, t, r])
        assert sess.run(h, {X: np.ones((2, 400))}).shape == (2, 300)
    # contrib He: a truncated normal with sigma sqrt(1.3*2/n_in), whose std is 0.88 sigma
    np.testing.assert_allclose(kernel.std(), np.sqrt(1.3 * 2 / 400) * 0.8796, rtol=0.05)
    np.testing.assert_allclose(wv.std(), np.sqrt(1 / 400), rtol=0.05)            # scale 1, fan_in
    assert np.abs(tv).max() <= 1.0 and 0.3 < tv.std() < 0.5
    assert -2 <= rv.min() and rv.max() < 2 and rv.std() > 1


def _rnn_reference(x, kernel, bias, lengths):
    h = np.zeros((x.shape[0], bias.shape[0]), np.float32)
    outs = []
    for t in range(x.shape[1]):
        new = np.tanh(np.concatenate([x[:, t], h], 1) @ kernel + bias)
        valid = (t < lengths)[:, None]
        h = np.where(valid, new, h)
        outs.append(np.where(valid, new, 0))
    return np.stack(outs, 1), h


def test_dynamic_rnn_basic_cell_against_numpy():
    n_steps, n_inputs, n_neurons = 4, 3, 5
    X = tf.placeholder(tf.float32, [None, n_steps, n_inputs])
    seq_length = tf.placeholder(tf.int32, [None])
    cell = tf.nn.rnn_cell.BasicRNNCell(num_units=n_neurons)
    outputs, states = tf.nn.dynamic_rnn(cell, X, dtype=tf.float32, sequence_length=seq_length)
    assert outputs.get_shape().as_list() == [None, n_steps, n_neurons]
    assert [v.op.name for v in tf.global_variables()] == ["rnn/basic_rnn_cell/kernel", "rnn/basic_rnn_cell/bias"]
    xb = np.random.rand(3, n_steps, n_inputs).astype(np.float32)
    lengths = np.array([4, 2, 0])
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        o, s, kernel, bias = sess.run([outputs, states] + tf.global_variables(), {X: xb, seq_length: lengths})
    ro, rs = _rnn_reference(xb, kernel, bias, lengths)
    np.testing.assert_allclose(o, ro, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(s, rs, rtol=1e-5, atol=1e-6)


def test_stacked_lstm_trains_and_keeps_state_tuples():
    tf.set_random_seed(0)
    X = tf.placeholder(tf.float32, [None, 6, 2])
    y = tf.placeholder(tf.float32, [None, 1])
    keep = tf.placeholder_with_default(1.0, shape=())
    cells = [tf.contrib.rnn.DropoutWrapper(tf.nn.rnn_cell.BasicLSTMCell(8), input_keep_prob=keep),
             tf.nn.rnn_cell.GRUCell(8)]
    multi = tf.nn.rnn_cell.MultiRNNCell(cells)
    outputs, states = tf.nn.dynamic_rnn(multi, X, dtype=tf.float32)
    assert isinstance(states[0], tf.nn.rnn_cell.LSTMStateTuple) and states[0].h.get_shape().as_list() == [None, 8]
    pred = tf.layers.dense(states[-1], 1)
    loss = tf.reduce_mean(tf.square(pred - y))
    train = tf.train.AdamOptimizer(0.02).minimize(loss)
    names = [v.op.name for v in tf.trainable_variables()]
    assert names[:2] == ["rnn/multi_rnn_cell/cell_0/basic_lstm_cell/kernel",
                         "rnn/multi_rnn_cell/cell_0/basic_lstm_cell/bias"]
    assert "rnn/multi_rnn_cell/cell_1/gru_cell/gates/kernel" in names
    rng = np.random.default_rng(0)
    xb = rng.normal(size=(32, 6, 2)).astype(np.float32)
    yb = xb[:, :, :1].sum(1)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        first = sess.run(loss, {X: xb, y: yb})
        for _ in range(60):
            sess.run(train, {X: xb, y: yb, keep: 0.9})
        assert sess.run(loss, {X: xb, y: yb}) < first / 3


def test_static_rnn_and_cell_call_agree_with_dynamic():
    X = tf.placeholder(tf.float32, [None, 3, 2])
    cell = tf.nn.rnn_cell.GRUCell(4)
    dyn, dyn_state = tf.nn.dynamic_rnn(cell, X, dtype=tf.float32)
    steps = tf.unstack(X, axis=1)
    static_outs, static_state = tf.nn.static_rnn(cell, steps, dtype=tf.float32)
    xb = np.random.rand(5, 3, 2).astype(np.float32)
    d, ds, s, ss = run([dyn, dyn_state, static_outs, static_state], {X: xb})
    np.testing.assert_allclose(np.stack(s, 1), d, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ss, ds, rtol=1e-5, atol=1e-6)


def test_device_pins_and_soft_placement(capsys):
    x = tf.placeholder(tf.float32, [2])
    with tf.device("/gpu:0"):
        y = x * 3.0
    z = y + 1.0
    if gc_device.gpu_count() == 0:
        with tf.Session() as sess, pytest.raises(tf.errors.InvalidArgumentError, match="/gpu:0"):
            sess.run(z, {x: [1.0, 2.0]})
    cfg = tf.ConfigProto(allow_soft_placement=True, log_device_placement=True)
    with tf.Session(config=cfg) as sess:
        np.testing.assert_array_equal(sess.run(z, {x: [1.0, 2.0]}), [4.0, 7.0])
    assert "multiply: /" in capsys.readouterr().out
    with gc_device.simulated_gpus(1), tf.Session(config=tf.ConfigProto(log_device_placement=True)) as sess:
        np.testing.assert_array_equal(sess.run(z, {x: [1.0, 2.0]}), [4.0, 7.0])
    assert "multiply: /gpu:0" in capsys.readouterr().out
