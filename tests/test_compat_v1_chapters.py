"""The books' TF 1.x programs, chapters 10-16 (and the Fundamentals book's batch-norm
layers), run with ``import graphc.compat.v1 as tf``: one test per program, written as
the books write them, on small data and a few epochs.

Data: slices of data/mnist10k.npz (3000 training and 1000 test digits), synthetic
series and corpora, and numpy environments. Each docstring states the threshold, the
figure graphc reached when the test was written, and what TF 1.x is expected to reach
on the same setup. TensorFlow is not installed here, so the TF expectation is derived:
these programs are the same math in TF (its initializers, losses and update rules,
which graphc implements), so TF gives the same figure up to its different random
draws; every threshold leaves a margin for that. Every training loop checks that the
loss stays finite, so a silent NaN fails.
"""
import os

import numpy as np
import pytest

import graphc.compat.v1 as tf

MNIST = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "mnist10k.npz")


@pytest.fixture(scope="module")
def mnist():
    data = np.load(MNIST)
    X = data["images"].astype(np.float32).reshape(-1, 28 * 28) / 255.0
    y = data["labels"].astype(np.int32)
    return X[:3000], y[:3000], X[9000:], y[9000:]


@pytest.fixture(autouse=True)
def fresh_graph():
    tf.reset_default_graph()
    tf.set_random_seed(42)
    np.random.seed(42)
    yield


def shuffle_batch(X, y, batch_size, rng):
    idx = rng.permutation(len(X))
    for start in range(0, len(X), batch_size):
        part = idx[start:start + batch_size]
        yield X[part], y[part]


def check_finite(*values):
    for v in values:
        assert np.all(np.isfinite(v)), f"non-finite value: {v}"


def mnist_classifier_graph(hidden_fn, n_outputs=10):
    """X, y, logits, loss, accuracy of a classifier whose hidden part is ``hidden_fn(X)``."""
    X = tf.placeholder(tf.float32, shape=(None, 28 * 28), name="X")
    y = tf.placeholder(tf.int32, shape=(None), name="y")
    logits = hidden_fn(X)
    loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits), name="loss")
    accuracy = tf.reduce_mean(tf.cast(tf.nn.in_top_k(logits, y, 1), tf.float32))
    return X, y, logits, loss, accuracy


def train_and_eval(mnist, X, y, loss, accuracy, training_op, n_epochs, batch_size=50, feed_train=None,
                   feed_eval=None, extra=()):
    X_train, y_train, X_test, y_test = mnist
    rng = np.random.default_rng(0)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        for _ in range(n_epochs):
            for X_batch, y_batch in shuffle_batch(X_train, y_train, batch_size, rng):
                sess.run([training_op, *extra], {X: X_batch, y: y_batch, **(feed_train or {})})
            check_finite(sess.run(loss, {X: X_test, y: y_test, **(feed_eval or {})}))
        return sess.run(accuracy, {X: X_test, y: y_test, **(feed_eval or {})})


# -- chapter 10: DNNs ---------------------------------------------------------------------------


def test_ch10_dnn_by_hand_with_neuron_layer(mnist):
    """The neuron_layer() listing (truncated normal init with stddev 2/sqrt(n_inputs), ReLU),
    plain gradient descent (lr 0.1 instead of 0.01: 3 epochs of 3000 digits instead of
    40 of 55000). graphc: 0.878 test accuracy; TF 1.x expected 0.87-0.9; threshold 0.85."""
    def neuron_layer(X, n_neurons, name, activation=None):
        with tf.name_scope(name):
            n_inputs = int(X.get_shape()[1])
            stddev = 2 / np.sqrt(n_inputs)
            init = tf.truncated_normal((n_inputs, n_neurons), stddev=stddev)
            W = tf.Variable(init, name="kernel")
            b = tf.Variable(tf.zeros([n_neurons]), name="bias")
            Z = tf.matmul(X, W) + b
            return activation(Z) if activation is not None else Z

    def dnn(X):
        hidden1 = neuron_layer(X, 300, name="hidden1", activation=tf.nn.relu)
        hidden2 = neuron_layer(hidden1, 100, name="hidden2", activation=tf.nn.relu)
        return neuron_layer(hidden2, 10, name="outputs")

    X, y, logits, loss, accuracy = mnist_classifier_graph(dnn)
    training_op = tf.train.GradientDescentOptimizer(0.1).minimize(loss)
    assert [v.op.name for v in tf.trainable_variables()][:2] == ["hidden1/kernel", "hidden1/bias"]
    assert train_and_eval(mnist, X, y, loss, accuracy, training_op, n_epochs=3) > 0.85


def test_ch10_dnn_with_contrib_fully_connected_and_arg_scope(mnist):
    """contrib.layers.fully_connected under an arg_scope (ELU, He init), Momentum 0.9,
    3 epochs. graphc: 0.888; TF 1.x expected 0.87-0.9; threshold 0.85."""
    fc = tf.contrib.layers.fully_connected
    he_init = tf.contrib.layers.variance_scaling_initializer()

    def dnn(X):
        with tf.contrib.framework.arg_scope([fc], activation_fn=tf.nn.elu, weights_initializer=he_init):
            hidden1 = fc(X, 100, scope="hidden1")
            hidden2 = fc(hidden1, 50, scope="hidden2")
            return fc(hidden2, 10, activation_fn=None, scope="outputs")

    X, y, logits, loss, accuracy = mnist_classifier_graph(dnn)
    training_op = tf.train.MomentumOptimizer(0.01, momentum=0.9).minimize(loss)
    assert [v.op.name for v in tf.trainable_variables()] == [
        "hidden1/weights", "hidden1/biases", "hidden2/weights", "hidden2/biases", "outputs/weights", "outputs/biases"]
    assert train_and_eval(mnist, X, y, loss, accuracy, training_op, n_epochs=3) > 0.85


def test_ch10_dnn_classifier_with_the_estimator_api(mnist):
    """The chapter's first listing: tf.estimator.DNNClassifier(hidden_units=[300, 100],
    n_classes=10) on a numeric feature column, trained from numpy_input_fn (3 epochs
    instead of 40), evaluated and used for predictions. graphc: accuracy 0.906; TF 1.x
    expected 0.89-0.92 (the same Adagrad 0.05 on summed losses); threshold 0.86. Then a
    two-class classifier (TF's binary head) on a linearly separable problem: >= 0.95."""
    X_train, y_train, X_test, y_test = mnist
    feature_cols = [tf.feature_column.numeric_column("X", shape=[28 * 28])]
    dnn_clf = tf.estimator.DNNClassifier(hidden_units=[300, 100], n_classes=10, feature_columns=feature_cols)
    input_fn = tf.estimator.inputs.numpy_input_fn(x={"X": X_train}, y=y_train, num_epochs=3, batch_size=50,
                                                  shuffle=True)
    dnn_clf.train(input_fn=input_fn)
    test_input_fn = tf.estimator.inputs.numpy_input_fn(x={"X": X_test}, y=y_test, shuffle=False)
    eval_results = dnn_clf.evaluate(input_fn=test_input_fn)
    y_pred = list(dnn_clf.predict(input_fn=test_input_fn))
    check_finite(eval_results["loss"], eval_results["average_loss"])
    assert eval_results["global_step"] == 180 and eval_results["accuracy"] > 0.86
    assert len(y_pred) == 1000 and set(y_pred[0]) == {"logits", "probabilities", "class_ids", "classes"}
    predicted = np.array([p["class_ids"][0] for p in y_pred])
    assert abs(np.mean(predicted == y_test) - eval_results["accuracy"]) < 1e-6
    np.testing.assert_allclose([p["probabilities"].sum() for p in y_pred], 1.0, rtol=1e-5)

    rng = np.random.default_rng(0)
    points = rng.normal(size=(400, 2)).astype(np.float32)
    labels = (points[:, 0] + points[:, 1] > 0).astype(np.int64)
    binary = tf.estimator.DNNClassifier([8], [tf.feature_column.numeric_column("p", shape=[2])])
    binary.train(tf.estimator.inputs.numpy_input_fn({"p": points}, labels, batch_size=20, num_epochs=5,
                                                    shuffle=True))
    result = binary.evaluate(tf.estimator.inputs.numpy_input_fn({"p": points}, labels, shuffle=False))
    assert result["accuracy"] >= 0.95
    # loss: the mean over the 4 evaluation batches (128, 128, 128, 16) of each batch's summed loss
    np.testing.assert_allclose(result["loss"] * 4, result["average_loss"] * 400, rtol=1e-5)


def test_ch10_contrib_learn_dnn_classifier_skcompat(mnist):
    """The first edition's listing: infer_real_valued_columns_from_input, contrib.learn's
    DNNClassifier wrapped in SKCompat, fit(batch_size=50, steps=300 instead of 40000),
    predict(...)["classes"]. graphc: accuracy 0.915; TF 1.x expected 0.9-0.93; threshold
    0.86, and evaluate's accuracy equals the predictions'."""
    X_train, y_train, X_test, y_test = mnist
    feature_columns = tf.contrib.learn.infer_real_valued_columns_from_input(X_train)
    dnn_clf = tf.contrib.learn.DNNClassifier(hidden_units=[300, 100], n_classes=10,
                                             feature_columns=feature_columns)
    dnn_clf = tf.contrib.learn.SKCompat(dnn_clf)
    dnn_clf.fit(X_train, y_train, batch_size=50, steps=300)
    y_pred = dnn_clf.predict(X_test)
    accuracy = np.mean(y_pred["classes"] == y_test)
    evaluation = dnn_clf.evaluate(X_test, y_test)
    check_finite(evaluation["loss"], y_pred["probabilities"])
    assert evaluation["global_step"] == 300 and abs(evaluation["accuracy"] - accuracy) < 1e-6
    assert accuracy > 0.86


# -- chapter 11: training deep nets -------------------------------------------------------------------


def small_dnn(X, activation=tf.nn.relu, kernel_initializer=None, training=None, dropout_rate=None,
              regularizer=None):
    hidden = tf.layers.dense(X, 64, activation=activation, kernel_initializer=kernel_initializer,
                             kernel_regularizer=regularizer, name="hidden1")
    if dropout_rate is not None:
        hidden = tf.layers.dropout(hidden, dropout_rate, training=training)
    return tf.layers.dense(hidden, 10, kernel_regularizer=regularizer, name="outputs")


@pytest.mark.parametrize("name,make_optimizer,threshold", [
    ("momentum", lambda lr: tf.train.MomentumOptimizer(lr, momentum=0.9), 0.82),
    ("nesterov", lambda lr: tf.train.MomentumOptimizer(lr, momentum=0.9, use_nesterov=True), 0.82),
    ("adagrad", lambda lr: tf.train.AdagradOptimizer(0.1), 0.82),
    ("rmsprop", lambda lr: tf.train.RMSPropOptimizer(0.001, momentum=0.9, decay=0.9, epsilon=1e-10), 0.82),
    ("adam", lambda lr: tf.train.AdamOptimizer(0.001), 0.82),
    ("ftrl", lambda lr: tf.train.FtrlOptimizer(0.1), 0.8),
])
def test_ch11_optimizers_with_exponential_decay(mnist, name, make_optimizer, threshold):
    """Every optimizer of chapter 11 on a 64-unit ReLU net, 2 epochs of 3000 digits, the
    learning rate of the momentum ones on the book's schedule (exponential_decay of 0.01
    by 0.1 every 10000 steps, with a global step). graphc: 0.862 (momentum), 0.866
    (Nesterov), 0.888 (AdaGrad), 0.875 (RMSProp), 0.874 (Adam), 0.852 (FTRL, a
    linear-model optimizer); TF 1.x expected within 0.02 of each; thresholds 0.82 (FTRL
    0.8)."""
    X, y, logits, loss, accuracy = mnist_classifier_graph(small_dnn)
    global_step = tf.Variable(0, trainable=False, name="global_step")
    learning_rate = tf.train.exponential_decay(0.01, global_step, 10000, 0.1)
    training_op = make_optimizer(learning_rate).minimize(loss, global_step=global_step)
    acc = train_and_eval(mnist, X, y, loss, accuracy, training_op, n_epochs=2)
    assert acc > threshold, f"{name}: accuracy {acc}"


def test_ch11_batch_norm_with_update_ops_and_gradient_clipping(mnist):
    """The batch-normalized DNN (tf.layers.batch_normalization, momentum 0.9, training
    placeholder, UPDATE_OPS run with the training op as the book writes it), gradients
    clipped to [-1, 1] through compute/apply_gradients, 2 epochs, the moving averages
    used at test time. graphc: 0.879; TF 1.x expected 0.86-0.9; threshold 0.85."""
    training = tf.placeholder_with_default(False, shape=(), name="training")

    def dnn(X):
        hidden1 = tf.layers.dense(X, 64, name="hidden1")
        bn1 = tf.nn.elu(tf.layers.batch_normalization(hidden1, training=training, momentum=0.9))
        logits_before_bn = tf.layers.dense(bn1, 10, name="outputs")
        return tf.layers.batch_normalization(logits_before_bn, training=training, momentum=0.9)

    X, y, logits, loss, accuracy = mnist_classifier_graph(dnn)
    optimizer = tf.train.GradientDescentOptimizer(0.1)
    grads_and_vars = optimizer.compute_gradients(loss)
    capped = [(tf.clip_by_value(grad, -1.0, 1.0), var) for grad, var in grads_and_vars]
    training_op = optimizer.apply_gradients(capped)
    extra_update_ops = tf.get_collection(tf.GraphKeys.UPDATE_OPS)
    assert len(extra_update_ops) == 4
    acc = train_and_eval(mnist, X, y, loss, accuracy, training_op, n_epochs=2, feed_train={training: True},
                         extra=extra_update_ops)
    assert acc > 0.85


def test_ch11_contrib_batch_norm_in_arg_scope_updates_in_place(mnist):
    """The contrib listing: arg_scope([fully_connected], normalizer_fn=batch_norm,
    normalizer_params={is_training, decay 0.9, updates_collections None}); the training
    op alone updates the moving statistics; Adam 0.01, 2 epochs. graphc: 0.91; TF 1.x
    expected 0.89-0.92; threshold 0.85, and the moving means must have left 0."""
    fc, batch_norm = tf.contrib.layers.fully_connected, tf.contrib.layers.batch_norm
    is_training = tf.placeholder(tf.bool, shape=(), name="is_training")
    bn_params = {"is_training": is_training, "decay": 0.9, "updates_collections": None}

    def dnn(X):
        with tf.contrib.framework.arg_scope([fc], normalizer_fn=batch_norm, normalizer_params=bn_params):
            hidden1 = fc(X, 64, scope="hidden1")
            return fc(hidden1, 10, scope="outputs", activation_fn=None)

    X, y, logits, loss, accuracy = mnist_classifier_graph(dnn)
    training_op = tf.train.AdamOptimizer(0.01).minimize(loss)
    moving_mean = [v for v in tf.global_variables() if v.op.name == "hidden1/BatchNorm/moving_mean"][0]
    X_train, y_train, X_test, y_test = mnist
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        rng = np.random.default_rng(0)
        for _ in range(2):
            for X_batch, y_batch in shuffle_batch(X_train, y_train, 50, rng):
                sess.run(training_op, {X: X_batch, y: y_batch, is_training: True})
        acc = sess.run(accuracy, {X: X_test, y: y_test, is_training: False})
        mean = sess.run(moving_mean)
    check_finite(mean)
    assert np.abs(mean).max() > 1e-3 and acc > 0.85


def test_ch11_regularization_dropout_and_max_norm(mnist):
    """l2 kernel regularizers added to the loss from REGULARIZATION_LOSSES, dropout 0.5
    on a training placeholder, and max-norm (clip_by_norm along axis 1, threshold 1.0,
    run after each step), 3 epochs. graphc: 0.864; TF 1.x expected 0.85-0.88; threshold
    0.83; every row of the clipped kernel has norm <= 1."""
    training = tf.placeholder_with_default(False, shape=(), name="training")
    l2 = tf.contrib.layers.l2_regularizer(1e-4)
    X, y, logits, base_loss, accuracy = mnist_classifier_graph(
        lambda X: small_dnn(X, training=training, dropout_rate=0.5, regularizer=l2))
    reg_losses = tf.get_collection(tf.GraphKeys.REGULARIZATION_LOSSES)
    assert len(reg_losses) == 2
    loss = tf.add_n([base_loss] + reg_losses, name="loss")
    training_op = tf.train.MomentumOptimizer(0.01, 0.9).minimize(loss)
    weights = tf.get_default_graph().get_tensor_by_name("hidden1/kernel:0")
    clipped = tf.clip_by_norm(weights, clip_norm=1.0, axes=1)
    clip_weights = tf.assign(weights, clipped)
    X_train, y_train, X_test, y_test = mnist
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        rng = np.random.default_rng(0)
        for _ in range(3):
            for X_batch, y_batch in shuffle_batch(X_train, y_train, 50, rng):
                sess.run(training_op, {X: X_batch, y: y_batch, training: True})
                clip_weights.eval()
        check_finite(sess.run(loss, {X: X_test, y: y_test}))
        acc = accuracy.eval({X: X_test, y: y_test})
        train_a = sess.run(logits, {X: X_test[:5], training: True})
        train_b = sess.run(logits, {X: X_test[:5], training: True})
        test_a, test_b = sess.run(logits, {X: X_test[:5]}), sess.run(logits, {X: X_test[:5]})
        w = weights.eval()
    assert acc > 0.83
    assert np.linalg.norm(w, axis=1).max() <= 1.0 + 1e-5
    assert not np.allclose(train_a, train_b) and np.array_equal(test_a, test_b)   # dropout only in training


def test_ch11_reusing_pretrained_layers_frozen_and_cached(mnist, tmp_path):
    """Train a model, save it; a new model restores hidden1 only (Saver over a dict of
    the hidden1 variables), freezes it (minimize's var_list takes the upper layers only)
    and trains on the cached hidden1 outputs. graphc: 0.886 after retraining; TF 1.x
    expected 0.87-0.9 both times; threshold 0.85; the frozen kernel is exactly the
    saved one."""
    X, y, logits, loss, accuracy = mnist_classifier_graph(small_dnn)
    training_op = tf.train.AdamOptimizer(0.001).minimize(loss)
    path = str(tmp_path / "pretrained.ckpt")
    X_train, y_train, X_test, y_test = mnist
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        rng = np.random.default_rng(0)
        for _ in range(2):
            for X_batch, y_batch in shuffle_batch(X_train, y_train, 50, rng):
                sess.run(training_op, {X: X_batch, y: y_batch})
        assert accuracy.eval({X: X_test, y: y_test}) > 0.85
        saved_kernel = sess.run("hidden1/kernel:0")
        tf.train.Saver().save(sess, path)

    tf.reset_default_graph()
    X, y, logits, loss, accuracy = mnist_classifier_graph(
        lambda X: tf.layers.dense(tf.layers.dense(X, 64, tf.nn.relu, name="hidden1"), 10, name="new_outputs"))
    hidden1 = tf.get_default_graph().get_tensor_by_name("hidden1/Relu:0")
    reuse_vars = tf.get_collection(tf.GraphKeys.GLOBAL_VARIABLES, scope="hidden1")
    restore_saver = tf.train.Saver({var.op.name: var for var in reuse_vars})
    train_vars = tf.get_collection(tf.GraphKeys.TRAINABLE_VARIABLES, scope="new_outputs")
    training_op = tf.train.AdamOptimizer(0.01).minimize(loss, var_list=train_vars)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        restore_saver.restore(sess, path)
        hidden1_cache = sess.run(hidden1, {X: X_train})
        rng = np.random.default_rng(1)
        for _ in range(2):
            for idx in np.array_split(rng.permutation(len(X_train)), 60):
                sess.run(training_op, {hidden1: hidden1_cache[idx], y: y_train[idx]})
        acc = accuracy.eval({X: X_test, y: y_test})
        np.testing.assert_array_equal(sess.run("hidden1/kernel:0"), saved_kernel)
    assert acc > 0.85


# -- chapter 12: devices --------------------------------------------------------------------------------


def test_ch12_device_pinning_and_soft_placement():
    """Variables pinned with a device function, the rest on "/gpu:0" with soft placement
    (no GPU here: everything runs on the CPU, values unchanged), and the session's
    log_device_placement. TF 1.x computes 42 for f = x*x*y + y + 2 at (3, 4)."""
    def variables_on_cpu(op):
        return "/cpu:0" if op.type in ("Variable", "VariableV2") else "/gpu:0"

    with tf.device(variables_on_cpu):
        x = tf.Variable(3.0, name="x")
        y = tf.Variable(4.0, name="y")
        f = x * x * y + y + 2
    assert x.op.device.lower().endswith("cpu:0") and f.op.device.lower().endswith("gpu:0")
    config = tf.ConfigProto(allow_soft_placement=True)
    with tf.Session(config=config) as sess:
        sess.run(tf.global_variables_initializer())
        assert sess.run(f) == 42.0


# -- chapter 13: CNNs -------------------------------------------------------------------------------------


def test_ch13_conv2d_filters_and_max_pool_against_numpy():
    """The two 7x7 line filters (vertical, horizontal) on a batch of images, stride 2,
    "SAME", then a 2x2 max pool: equal to numpy's definition."""
    rng = np.random.default_rng(3)
    images = rng.uniform(size=(2, 12, 10, 3)).astype(np.float32)
    filters = np.zeros((7, 7, 3, 2), dtype=np.float32)
    filters[:, 3, :, 0] = 1
    filters[3, :, :, 1] = 1
    X = tf.placeholder(tf.float32, shape=(None, 12, 10, 3))
    convolution = tf.nn.conv2d(X, filters, strides=[1, 2, 2, 1], padding="SAME")
    pooled = tf.nn.max_pool(convolution, ksize=[1, 2, 2, 1], strides=[1, 2, 2, 1], padding="VALID")
    with tf.Session() as sess:
        out, pool = sess.run([convolution, pooled], {X: images})
    padded = np.pad(images, ((0, 0), (2, 3), (2, 3), (0, 0)))    # SAME: out 6x5, pads 5 and 5 (the odd one last)
    ref = np.zeros((2, 6, 5, 2), np.float32)
    for i in range(6):
        for j in range(5):
            ref[:, i, j] = np.einsum("bhwc,hwco->bo", padded[:, 2 * i:2 * i + 7, 2 * j:2 * j + 7], filters)
    np.testing.assert_allclose(out, ref, rtol=1e-5)
    np.testing.assert_allclose(pool, ref[:, :6, :4].reshape(2, 3, 2, 2, 2, 2).max(axis=(2, 4)), rtol=1e-5)


def test_ch13_cnn_mnist(mnist):
    """conv (8 filters 3x3, SAME, ReLU) -> conv (16, stride 2) -> max pool -> dense 32 ->
    10, Adam 0.002, one epoch (60 steps). graphc: 0.842; TF 1.x expected 0.82-0.87;
    threshold 0.78."""
    def cnn(X):
        X_reshaped = tf.reshape(X, shape=[-1, 28, 28, 1])
        conv1 = tf.layers.conv2d(X_reshaped, filters=8, kernel_size=3, strides=1, padding="SAME",
                                 activation=tf.nn.relu, name="conv1")
        conv2 = tf.layers.conv2d(conv1, filters=16, kernel_size=3, strides=2, padding="SAME",
                                 activation=tf.nn.relu, name="conv2")
        pool3 = tf.nn.max_pool(conv2, ksize=[1, 2, 2, 1], strides=[1, 2, 2, 1], padding="VALID")
        assert pool3.get_shape().as_list() == [None, 7, 7, 16]
        pool3_flat = tf.reshape(pool3, shape=[-1, 16 * 7 * 7])
        fc1 = tf.layers.dense(pool3_flat, 32, activation=tf.nn.relu, name="fc1")
        return tf.layers.dense(fc1, 10, name="output")

    X, y, logits, loss, accuracy = mnist_classifier_graph(cnn)
    training_op = tf.train.AdamOptimizer(0.002).minimize(loss)
    assert train_and_eval(mnist, X, y, loss, accuracy, training_op, n_epochs=1) > 0.78


# -- chapter 14: RNNs --------------------------------------------------------------------------------------


def test_ch14_manual_rnn_and_static_rnn_agree():
    """The two-step RNN written by hand (Y0 = tanh(X0 Wx + b), Y1 = tanh(Y0 Wy + X1 Wx + b))
    and static_rnn over tf.unstack(tf.transpose(X, [1, 0, 2])) with the same weights."""
    n_inputs, n_neurons = 3, 5
    X0 = tf.placeholder(tf.float32, [None, n_inputs])
    X1 = tf.placeholder(tf.float32, [None, n_inputs])
    Wx = tf.Variable(tf.random_normal(shape=[n_inputs, n_neurons], dtype=tf.float32))
    Wy = tf.Variable(tf.random_normal(shape=[n_neurons, n_neurons], dtype=tf.float32))
    b = tf.Variable(tf.zeros([1, n_neurons], dtype=tf.float32))
    Y0 = tf.tanh(tf.matmul(X0, Wx) + b)
    Y1 = tf.tanh(tf.matmul(Y0, Wy) + tf.matmul(X1, Wx) + b)

    X = tf.placeholder(tf.float32, [None, 2, n_inputs])
    X_seqs = tf.unstack(tf.transpose(X, perm=[1, 0, 2]))
    basic_cell = tf.contrib.rnn.BasicRNNCell(num_units=n_neurons)
    output_seqs, states = tf.contrib.rnn.static_rnn(basic_cell, X_seqs, dtype=tf.float32)
    outputs = tf.transpose(tf.stack(output_seqs), perm=[1, 0, 2])
    kernel = tf.get_default_graph().get_tensor_by_name("rnn/basic_rnn_cell/kernel:0")
    set_kernel = tf.assign(kernel, tf.concat([Wx, Wy], 0))
    X0_batch = np.array([[0, 1, 2], [3, 4, 5], [6, 7, 8], [9, 0, 1]], np.float32)
    X1_batch = np.array([[9, 8, 7], [0, 0, 0], [6, 5, 4], [3, 2, 1]], np.float32)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        sess.run(set_kernel)
        y0, y1 = sess.run([Y0, Y1], {X0: X0_batch, X1: X1_batch})
        out, state = sess.run([outputs, states], {X: np.stack([X0_batch, X1_batch], 1)})
    np.testing.assert_allclose(out[:, 0], y0, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out[:, 1], y1, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(state, y1, rtol=1e-5, atol=1e-6)


def test_ch14_sequence_length_pads_with_zeros_and_keeps_last_state():
    """The book's padded batch (the second instance has one step): outputs beyond the
    length are zero and the state is the last valid output, for a GRU and an LSTM."""
    X = tf.placeholder(tf.float32, [None, 2, 3])
    seq_length = tf.placeholder(tf.int32, [None])
    gru_out, gru_state = tf.nn.dynamic_rnn(tf.nn.rnn_cell.GRUCell(5), X, sequence_length=seq_length,
                                           dtype=tf.float32, scope="gru")
    lstm_out, lstm_state = tf.nn.dynamic_rnn(tf.nn.rnn_cell.LSTMCell(5, use_peepholes=True), X,
                                             sequence_length=seq_length, dtype=tf.float32, scope="lstm")
    X_batch = np.array([[[0, 1, 2], [9, 8, 7]], [[3, 4, 5], [0, 0, 0]], [[6, 7, 8], [6, 5, 4]],
                        [[9, 0, 1], [3, 2, 1]]], np.float32)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        go, gs, lo, ls = sess.run([gru_out, gru_state, lstm_out, lstm_state],
                                  {X: X_batch, seq_length: np.array([2, 1, 2, 2])})
    for out, last in ((go, gs), (lo, ls.h)):
        check_finite(out, last)
        assert np.all(out[1, 1] == 0) and np.any(out[1, 0] != 0)
        np.testing.assert_array_equal(last[1], out[1, 0])
        np.testing.assert_array_equal(last[[0, 2, 3]], out[[0, 2, 3], 1])


def test_ch14_mnist_rnn_classifier(mnist):
    """Digits as 28 rows of 28 pixels through the book's BasicRNNCell(150) in dynamic_rnn,
    logits from the final state, Adam 0.001, 3 epochs of 3000 digits (the book: 0.97
    after 100 epochs of 55000). graphc: 0.82-0.84 over graph seeds 0-3; TF 1.x expected
    in the same range; threshold 0.72."""
    n_steps, n_inputs, n_neurons = 28, 28, 150
    X = tf.placeholder(tf.float32, [None, n_steps, n_inputs])
    y = tf.placeholder(tf.int32, [None])
    basic_cell = tf.contrib.rnn.BasicRNNCell(num_units=n_neurons)
    outputs, states = tf.nn.dynamic_rnn(basic_cell, X, dtype=tf.float32)
    logits = tf.layers.dense(states, 10)
    loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits))
    training_op = tf.train.AdamOptimizer(learning_rate=0.001).minimize(loss)
    accuracy = tf.reduce_mean(tf.cast(tf.nn.in_top_k(logits, y, 1), tf.float32))
    X_train, y_train, X_test, y_test = mnist
    X_train, X_test = X_train.reshape(-1, 28, 28), X_test.reshape(-1, 28, 28)
    assert train_and_eval((X_train, y_train, X_test, y_test), X, y, loss, accuracy, training_op,
                          n_epochs=3) > 0.72


def test_ch14_bidirectional_stacked_dropout_gru_classifier(mnist):
    """A bidirectional dynamic RNN of two stacked GRUs with DropoutWrapper (keep 0.9 in
    training) on each side, final states concatenated, Adam 0.003, 2 epochs. graphc:
    0.841; TF 1.x expected 0.8-0.87; threshold 0.75."""
    keep_prob = tf.placeholder_with_default(1.0, shape=())
    X = tf.placeholder(tf.float32, [None, 28, 28])
    y = tf.placeholder(tf.int32, [None])

    def stacked():
        return tf.nn.rnn_cell.MultiRNNCell([tf.nn.rnn_cell.DropoutWrapper(tf.nn.rnn_cell.GRUCell(32),
                                                                          input_keep_prob=keep_prob)
                                            for _ in range(2)])

    (out_fw, out_bw), (state_fw, state_bw) = tf.nn.bidirectional_dynamic_rnn(stacked(), stacked(), X,
                                                                             dtype=tf.float32)
    logits = tf.layers.dense(tf.concat([state_fw[-1], state_bw[-1]], 1), 10)
    loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits))
    training_op = tf.train.AdamOptimizer(0.003).minimize(loss)
    accuracy = tf.reduce_mean(tf.cast(tf.nn.in_top_k(logits, y, 1), tf.float32))
    X_train, y_train, X_test, y_test = mnist
    acc = train_and_eval((X_train.reshape(-1, 28, 28), y_train, X_test.reshape(-1, 28, 28), y_test), X, y, loss,
                         accuracy, training_op, n_epochs=2, feed_train={keep_prob: 0.9})
    assert acc > 0.75


def time_series(t):
    return t * np.sin(t) / 3 + 2 * np.sin(t * 5)


def next_batch(rng, batch_size, n_steps, resolution=0.1, t_min=0, t_max=30):
    t0 = rng.uniform(size=(batch_size, 1)) * (t_max - t_min - n_steps * resolution)
    Ts = t0 + np.arange(0.0, n_steps + 1) * resolution
    ys = time_series(Ts)
    return ys[:, :-1].reshape(-1, n_steps, 1).astype(np.float32), ys[:, 1:].reshape(-1, n_steps, 1).astype(np.float32)


def test_ch14_time_series_with_output_projection_and_generation():
    """The time-series RNN: OutputProjectionWrapper(BasicRNNCell(100, relu), 1), MSE,
    Adam 0.001, 300 iterations of 50 sequences of 20 steps (the book: 1500 iterations,
    MSE about 0.01 at the end). The MSE starts near 10; graphc and TF 1.x (expected)
    end well below 0.5, the threshold. Then the book's creative loop generates 30 steps
    from a seed sequence: all finite."""
    n_steps, n_neurons = 20, 100
    X = tf.placeholder(tf.float32, [None, n_steps, 1])
    y = tf.placeholder(tf.float32, [None, n_steps, 1])
    cell = tf.contrib.rnn.OutputProjectionWrapper(
        tf.contrib.rnn.BasicRNNCell(num_units=n_neurons, activation=tf.nn.relu), output_size=1)
    outputs, states = tf.nn.dynamic_rnn(cell, X, dtype=tf.float32)
    loss = tf.reduce_mean(tf.square(outputs - y))
    training_op = tf.train.AdamOptimizer(learning_rate=0.001).minimize(loss)
    rng = np.random.default_rng(0)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        X_batch, y_batch = next_batch(rng, 50, n_steps)
        first = loss.eval({X: X_batch, y: y_batch})
        for _ in range(300):
            X_batch, y_batch = next_batch(rng, 50, n_steps)
            sess.run(training_op, {X: X_batch, y: y_batch})
        X_batch, y_batch = next_batch(rng, 200, n_steps)
        mse = loss.eval({X: X_batch, y: y_batch})
        sequence = [0.0] * n_steps
        for _ in range(30):
            X_new = np.array(sequence[-n_steps:], np.float32).reshape(1, n_steps, 1)
            y_pred = sess.run(outputs, {X: X_new})
            sequence.append(float(y_pred[0, -1, 0]))
    check_finite(first, mse, sequence)
    assert first > 2.0 and mse < 0.5


def test_ch14_time_series_stacked_lstm_without_wrapper():
    """The faster variant: outputs of a MultiRNNCell of 2 LSTMs reshaped to
    [-1, n_neurons], one dense layer, reshaped back. Adam 0.005, 200 iterations. graphc:
    MSE 0.071 (about 10 at the start); TF 1.x expected below 0.15; threshold 0.3."""
    n_steps, n_neurons = 20, 32
    X = tf.placeholder(tf.float32, [None, n_steps, 1])
    y = tf.placeholder(tf.float32, [None, n_steps, 1])
    cell = tf.contrib.rnn.MultiRNNCell([tf.contrib.rnn.BasicLSTMCell(n_neurons) for _ in range(2)])
    rnn_outputs, states = tf.nn.dynamic_rnn(cell, X, dtype=tf.float32)
    stacked_rnn_outputs = tf.reshape(rnn_outputs, [-1, n_neurons])
    stacked_outputs = tf.layers.dense(stacked_rnn_outputs, 1)
    outputs = tf.reshape(stacked_outputs, [-1, n_steps, 1])
    loss = tf.reduce_mean(tf.square(outputs - y))
    training_op = tf.train.AdamOptimizer(learning_rate=0.005).minimize(loss)
    rng = np.random.default_rng(1)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        for _ in range(200):
            X_batch, y_batch = next_batch(rng, 50, n_steps)
            sess.run(training_op, {X: X_batch, y: y_batch})
        X_batch, y_batch = next_batch(rng, 200, n_steps)
        mse = loss.eval({X: X_batch, y: y_batch})
    check_finite(mse)
    assert mse < 0.3


def test_word2vec_with_nce_loss():
    """The embeddings listing: embedding_lookup, nce_loss (64 -> here 8 sampled classes,
    log-uniform), GradientDescent 1.0, normalized embeddings and cosine similarity. The
    corpus: 40 words in 4 topics of 10, each (word, context) pair from one topic, 300
    steps. graphc: the loss drops from 13.5 to 1.5 and every word's nearest neighbour is
    in its topic (40 of 40); TF 1.x expected the same; thresholds: loss halved, at least
    36 of 40."""
    vocabulary_size, embedding_size, num_sampled, batch_size = 40, 8, 8, 64
    rng = np.random.default_rng(0)
    embeddings = tf.Variable(tf.random_uniform([vocabulary_size, embedding_size], -1.0, 1.0))
    train_inputs = tf.placeholder(tf.int32, shape=[batch_size])
    train_labels = tf.placeholder(tf.int32, shape=[batch_size, 1])
    embed = tf.nn.embedding_lookup(embeddings, train_inputs)
    init_stddev = 1.0 / np.sqrt(embedding_size)
    nce_weights = tf.Variable(tf.truncated_normal([vocabulary_size, embedding_size], stddev=init_stddev))
    nce_biases = tf.Variable(tf.zeros([vocabulary_size]))
    loss = tf.reduce_mean(tf.nn.nce_loss(nce_weights, nce_biases, train_labels, embed, num_sampled,
                                         vocabulary_size))
    training_op = tf.train.GradientDescentOptimizer(1.0).minimize(loss)
    norm = tf.sqrt(tf.reduce_sum(tf.square(embeddings), axis=1, keepdims=True))
    normalized_embeddings = embeddings / norm
    similarity = tf.matmul(normalized_embeddings, normalized_embeddings, transpose_b=True)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        first = None
        for _ in range(300):
            words = rng.integers(0, vocabulary_size, batch_size)
            contexts = (words // 10) * 10 + rng.integers(0, 10, batch_size)
            _, loss_val = sess.run([training_op, loss], {train_inputs: words, train_labels: contexts[:, None]})
            first = loss_val if first is None else first
            check_finite(loss_val)
        sim = similarity.eval()
    np.fill_diagonal(sim, -np.inf)
    nearest = sim.argmax(axis=1)
    assert loss_val < first / 2
    assert np.sum(nearest // 10 == np.arange(vocabulary_size) // 10) >= 36


# -- chapter 15: autoencoders ---------------------------------------------------------------------------


def test_ch15_linear_autoencoder_is_pca():
    """3-D points near a plane, the linear 3-2-3 autoencoder (Adam 0.01, 500 steps).
    graphc: MSE 0.00344 against PCA's optimum 0.00323 (the variance off the best plane);
    TF 1.x expected within a few percent of PCA too; threshold 1.1 x PCA's."""
    rng = np.random.default_rng(4)
    angles = rng.uniform(size=200) * 3 * np.pi / 2 - 0.5
    data = np.empty((200, 3))
    data[:, 0] = np.cos(angles) + np.sin(angles) / 2 + 0.1 * rng.normal(size=200) / 2
    data[:, 1] = np.sin(angles) * 0.7 + 0.1 * rng.normal(size=200) / 2
    data[:, 2] = data[:, 0] * 0.1 + data[:, 1] * 0.3 + 0.1 * rng.normal(size=200)
    X_train = (data - data.mean(axis=0)).astype(np.float32)
    X = tf.placeholder(tf.float32, shape=[None, 3])
    hidden = tf.layers.dense(X, 2)
    outputs = tf.layers.dense(hidden, 3)
    reconstruction_loss = tf.reduce_mean(tf.square(outputs - X))
    training_op = tf.train.AdamOptimizer(0.01).minimize(reconstruction_loss)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        for _ in range(500):
            sess.run(training_op, {X: X_train})
        mse = reconstruction_loss.eval({X: X_train})
    s = np.linalg.svd(X_train, compute_uv=False)
    pca_mse = s[-1] ** 2 / X_train.size
    check_finite(mse)
    assert mse < 1.1 * pca_mse


def test_ch15_stacked_autoencoder_with_tied_weights(mnist):
    """784-100-784 with tied weights (weights2 = tf.transpose(weights1)), He init, ELU,
    l2 regularization 1e-4, Adam 0.01, 3 epochs. graphc: per-pixel MSE 0.018 (the mean
    image gives 0.067); TF 1.x expected 0.015-0.025; threshold 0.035."""
    he_init = tf.contrib.layers.variance_scaling_initializer()
    l2_reg = tf.contrib.layers.l2_regularizer(1e-4)
    X = tf.placeholder(tf.float32, shape=[None, 784])
    weights1 = tf.Variable(he_init([784, 100]), dtype=tf.float32, name="weights1")
    weights2 = tf.transpose(weights1, name="weights2")                 # tied weights
    biases1 = tf.Variable(tf.zeros(100), name="biases1")
    biases2 = tf.Variable(tf.zeros(784), name="biases2")
    hidden1 = tf.nn.elu(tf.matmul(X, weights1) + biases1)
    outputs = tf.matmul(hidden1, weights2) + biases2
    reconstruction_loss = tf.reduce_mean(tf.square(outputs - X))
    loss = reconstruction_loss + l2_reg(weights1)
    training_op = tf.train.AdamOptimizer(0.01).minimize(loss)
    assert len(tf.trainable_variables()) == 3
    X_train, _, X_test, _ = mnist
    rng = np.random.default_rng(0)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        for _ in range(3):
            for idx in np.array_split(rng.permutation(len(X_train)), 20):
                sess.run(training_op, {X: X_train[idx]})
        mse = reconstruction_loss.eval({X: X_test})
    check_finite(mse)
    assert mse < 0.035


def test_ch15_denoising_and_sparse_autoencoders(mnist):
    """Gaussian-noise denoising (X + 0.1 * tf.random_normal(tf.shape(X))) and a sparse
    coding layer (sigmoid, KL divergence to a target sparsity of 0.1, weight 0.2), Adam
    0.01, 3 epochs of 60 steps. graphc: MSE 0.035 (denoising) and 0.050 (sparse, slower
    to learn under its KL term), mean coding activation 0.10 (0.5 at the start); TF 1.x
    expected the same within 0.005 and 0.03; thresholds 0.045, 0.06 and 0.15."""
    X = tf.placeholder(tf.float32, shape=[None, 784])
    X_noisy = X + 0.1 * tf.random_normal(tf.shape(X))
    hidden = tf.layers.dense(X_noisy, 100, activation=tf.nn.relu, name="denoise_hidden")
    outputs = tf.layers.dense(hidden, 784, name="denoise_outputs")
    denoise_loss = tf.reduce_mean(tf.square(outputs - X))

    sparsity_target, sparsity_weight = 0.1, 0.2
    hidden_sparse = tf.layers.dense(X, 100, activation=tf.nn.sigmoid, name="sparse_hidden")
    logits = tf.layers.dense(hidden_sparse, 784, name="sparse_outputs")
    hidden_mean = tf.reduce_mean(hidden_sparse, axis=0)
    p, q = sparsity_target, hidden_mean
    kl = tf.reduce_sum(p * tf.log(p / q) + (1 - p) * tf.log((1 - p) / (1 - q)))
    sparse_mse = tf.reduce_mean(tf.square(tf.nn.sigmoid(logits) - X))
    xentropy = tf.nn.sigmoid_cross_entropy_with_logits(labels=X, logits=logits)
    sparse_loss = tf.reduce_mean(xentropy) + sparsity_weight * kl
    training_op = tf.train.AdamOptimizer(0.01).minimize(denoise_loss + sparse_loss)
    X_train, _, X_test, _ = mnist
    rng = np.random.default_rng(0)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        start_mean = hidden_mean.eval({X: X_test}).mean()
        for _ in range(3):
            for idx in np.array_split(rng.permutation(len(X_train)), 60):
                sess.run(training_op, {X: X_train[idx]})
        d_mse, s_mse, mean_act = sess.run([denoise_loss, sparse_mse, hidden_mean], {X: X_test})
    check_finite(d_mse, s_mse, mean_act)
    assert abs(start_mean - 0.5) < 0.1
    assert d_mse < 0.045 and s_mse < 0.06 and mean_act.mean() < 0.15


def test_ch15_variational_autoencoder(mnist):
    """The variational autoencoder (500/20 in the book, 64/10 here): ELU encoder, mean and
    log-variance codings, codings = mean + exp(0.5 * gamma) * noise, sigmoid outputs,
    loss = xentropy + latent loss, Adam 0.001, 4 epochs. graphc: the loss per digit
    drops from 570 to 203; TF 1.x expected 190-215; thresholds: from above 400 to below
    230, and generated digits finite in [0, 1]."""
    n_inputs, n_hidden, n_codings = 784, 64, 10
    he_init = tf.contrib.layers.variance_scaling_initializer()
    X = tf.placeholder(tf.float32, [None, n_inputs])
    hidden1 = tf.layers.dense(X, n_hidden, activation=tf.nn.elu, kernel_initializer=he_init)
    codings_mean = tf.layers.dense(hidden1, n_codings, activation=None)
    codings_gamma = tf.layers.dense(hidden1, n_codings, activation=None)
    noise = tf.random_normal(tf.shape(codings_gamma), dtype=tf.float32)
    codings = codings_mean + tf.exp(0.5 * codings_gamma) * noise
    hidden3 = tf.layers.dense(codings, n_hidden, activation=tf.nn.elu, kernel_initializer=he_init)
    logits = tf.layers.dense(hidden3, n_inputs)
    outputs = tf.sigmoid(logits)
    xentropy = tf.nn.sigmoid_cross_entropy_with_logits(labels=X, logits=logits)
    reconstruction_loss = tf.reduce_sum(xentropy)
    latent_loss = 0.5 * tf.reduce_sum(tf.exp(codings_gamma) + tf.square(codings_mean) - 1 - codings_gamma)
    loss = reconstruction_loss + latent_loss
    training_op = tf.train.AdamOptimizer(0.001).minimize(loss)
    X_train, _, X_test, _ = mnist
    rng = np.random.default_rng(0)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        first = loss.eval({X: X_test}) / len(X_test)
        for _ in range(4):
            for idx in np.array_split(rng.permutation(len(X_train)), 20):
                sess.run(training_op, {X: X_train[idx]})
        last = loss.eval({X: X_test}) / len(X_test)
        generated = outputs.eval({codings: rng.normal(size=(10, n_codings)).astype(np.float32)})
    check_finite(first, last, generated)
    assert first > 400 and last < 230
    assert generated.shape == (10, 784) and generated.min() >= 0 and generated.max() <= 1


def test_ch15_convolutional_autoencoder(mnist):
    """conv (8, 3x3, stride 2) -> conv (16, stride 2) encoder, conv2d_transpose decoder
    with output shapes from tf.shape (as the book computes them), sigmoid output, Adam
    0.01, one epoch (30 steps). graphc: per-pixel MSE 0.023; TF 1.x expected 0.02-0.03;
    threshold 0.04."""
    X = tf.placeholder(tf.float32, [None, 784])
    images = tf.reshape(X, [-1, 28, 28, 1])
    batch = tf.shape(images)[0]
    he_init = tf.contrib.layers.variance_scaling_initializer()
    conv1 = tf.layers.conv2d(images, 8, 3, strides=2, padding="SAME", activation=tf.nn.relu)     # 14x14x8
    conv2 = tf.layers.conv2d(conv1, 16, 3, strides=2, padding="SAME", activation=tf.nn.relu)     # 7x7x16
    W1 = tf.Variable(he_init([3, 3, 8, 16]))
    deconv1 = tf.nn.relu(tf.nn.conv2d_transpose(conv2, W1, tf.stack([batch, 14, 14, 8]), [1, 2, 2, 1], "SAME"))
    W2 = tf.Variable(he_init([3, 3, 1, 8]))
    logits = tf.nn.conv2d_transpose(deconv1, W2, tf.stack([batch, 28, 28, 1]), [1, 2, 2, 1], "SAME")
    outputs = tf.sigmoid(logits)
    loss = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=images, logits=logits))
    mse = tf.reduce_mean(tf.square(outputs - images))
    training_op = tf.train.AdamOptimizer(0.01).minimize(loss)
    X_train, _, X_test, _ = mnist
    rng = np.random.default_rng(0)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        for idx in np.array_split(rng.permutation(len(X_train)), 30):
            sess.run(training_op, {X: X_train[idx]})
        err = mse.eval({X: X_test[:200]})
    check_finite(err)
    assert err < 0.04


# -- chapter 16: reinforcement learning ------------------------------------------------------------------


class CartPole:
    """gym's CartPole-v0 dynamics in numpy: +1 per step, done when the pole leans past
    12 degrees, the cart leaves [-2.4, 2.4] or after 200 steps."""

    def __init__(self, rng):
        self.rng = rng

    def reset(self):
        self.state = self.rng.uniform(-0.05, 0.05, size=4)
        self.steps = 0
        return self.state.copy()

    def step(self, action):
        x, x_dot, theta, theta_dot = self.state
        force = 10.0 if action == 1 else -10.0
        cos, sin = np.cos(theta), np.sin(theta)
        temp = (force + 0.05 * theta_dot ** 2 * sin) / 1.1
        theta_acc = (9.8 * sin - cos * temp) / (0.5 * (4.0 / 3.0 - 0.1 * cos ** 2 / 1.1))
        x_acc = temp - 0.05 * theta_acc * cos / 1.1
        self.state = np.array([x + 0.02 * x_dot, x_dot + 0.02 * x_acc, theta + 0.02 * theta_dot,
                               theta_dot + 0.02 * theta_acc])
        self.steps += 1
        done = abs(self.state[0]) > 2.4 or abs(self.state[2]) > 12 * 2 * np.pi / 360 or self.steps >= 200
        return self.state.copy(), 1.0, done


def discount_and_normalize_rewards(all_rewards, discount_rate):
    all_discounted = []
    for rewards in all_rewards:
        discounted = np.empty(len(rewards))
        cumulative = 0.0
        for step in reversed(range(len(rewards))):
            cumulative = rewards[step] + cumulative * discount_rate
            discounted[step] = cumulative
        all_discounted.append(discounted)
    flat = np.concatenate(all_discounted)
    return [(d - flat.mean()) / flat.std() for d in all_discounted]


def test_ch16_policy_gradients_cartpole():
    """The REINFORCE listing: 4-4-1 policy net (ELU, He init), action =
    tf.multinomial(log([p, 1 - p]), 1), gradients fed back through placeholders scaled
    by normalized discounted rewards (rate 0.95), 10 games per update, Adam 0.01, 40
    updates (the book: 250). A random policy lasts about 22 steps. graphc: from 20 (mean
    of the first 10 updates) to 38 (last 10); over other seeds from 14 to 30 and from
    22 to 40. TF 1.x expected to improve as much; threshold: the last 10 updates' mean
    above 25 and above 1.5 x the first 10's."""
    n_inputs, n_hidden, n_outputs = 4, 4, 1
    initializer = tf.contrib.layers.variance_scaling_initializer()
    X = tf.placeholder(tf.float32, shape=[None, n_inputs])
    hidden = tf.layers.dense(X, n_hidden, activation=tf.nn.elu, kernel_initializer=initializer)
    logits = tf.layers.dense(hidden, n_outputs, kernel_initializer=initializer)
    outputs = tf.nn.sigmoid(logits)
    p_left_and_right = tf.concat(axis=1, values=[outputs, 1 - outputs])
    action = tf.multinomial(tf.log(p_left_and_right), num_samples=1)
    y = 1. - tf.to_float(action)
    cross_entropy = tf.nn.sigmoid_cross_entropy_with_logits(labels=y, logits=logits)
    optimizer = tf.train.AdamOptimizer(0.01)
    grads_and_vars = optimizer.compute_gradients(cross_entropy)
    gradients = [grad for grad, variable in grads_and_vars]
    gradient_placeholders = []
    grads_and_vars_feed = []
    for grad, variable in grads_and_vars:
        gradient_placeholder = tf.placeholder(tf.float32, shape=grad.get_shape())
        gradient_placeholders.append(gradient_placeholder)
        grads_and_vars_feed.append((gradient_placeholder, variable))
    training_op = optimizer.apply_gradients(grads_and_vars_feed)

    env = CartPole(np.random.default_rng(0))
    lengths = []
    with tf.Session() as sess:
        tf.global_variables_initializer().run()
        for iteration in range(40):
            all_rewards, all_gradients = [], []
            for game in range(10):
                current_rewards, current_gradients = [], []
                obs = env.reset()
                while True:
                    action_val, gradients_val = sess.run([action, gradients], {X: obs.reshape(1, n_inputs)})
                    obs, reward, done = env.step(action_val[0][0])
                    current_rewards.append(reward)
                    current_gradients.append(gradients_val)
                    if done:
                        break
                all_rewards.append(current_rewards)
                all_gradients.append(current_gradients)
            lengths.append(np.mean([len(r) for r in all_rewards]))
            all_rewards = discount_and_normalize_rewards(all_rewards, 0.95)
            feed_dict = {}
            for var_index, gradient_placeholder in enumerate(gradient_placeholders):
                mean_gradients = np.mean([reward * all_gradients[game_index][step][var_index]
                                          for game_index, rewards in enumerate(all_rewards)
                                          for step, reward in enumerate(rewards)], axis=0)
                check_finite(mean_gradients)
                feed_dict[gradient_placeholder] = mean_gradients
            sess.run(training_op, feed_dict=feed_dict)
    assert np.mean(lengths[-10:]) > max(25.0, 1.5 * np.mean(lengths[:10])), lengths


class Corridor:
    """States 0..5, start at 1; action 0 left, 1 right; reaching 5 gives +1 and ends the
    episode, reaching 0 gives -1 and ends it; each step costs 0.01; 20 steps at most."""

    n_states = 6

    def reset(self):
        self.pos, self.steps = 1, 0
        return self.pos

    def step(self, action):
        self.pos += 1 if action == 1 else -1
        self.steps += 1
        if self.pos == 5:
            return self.pos, 1.0, True
        if self.pos == 0:
            return self.pos, -1.0, True
        return self.pos, -0.01, self.steps >= 20


def test_ch16_deep_q_learning_with_target_network():
    """The DQN listing on a small corridor: online and target Q-networks in two variable
    scopes, a copy op assigning the online variables to the target ones, epsilon-greedy
    exploration, replay memory, y = r + 0.95 * max target Q, loss on the Q-value of the
    taken action (reduce_sum of Q * one_hot), Adam 0.01, 600 steps. graphc learns the
    optimal policy (go right) in every inner state, as TF 1.x is expected to."""
    n_states, n_outputs = Corridor.n_states, 2

    def q_network(X_state, name):
        with tf.variable_scope(name) as scope:
            hidden = tf.layers.dense(tf.one_hot(X_state, n_states), 16, activation=tf.nn.relu)
            outputs = tf.layers.dense(hidden, n_outputs)
        trainable_vars = tf.get_collection(tf.GraphKeys.TRAINABLE_VARIABLES, scope=scope.name)
        return outputs, {var.name[len(scope.name):]: var for var in trainable_vars}

    X_state = tf.placeholder(tf.int32, shape=[None])
    online_q_values, online_vars = q_network(X_state, name="q_networks/online")
    target_q_values, target_vars = q_network(X_state, name="q_networks/target")
    copy_ops = [target_var.assign(online_vars[var_name]) for var_name, target_var in target_vars.items()]
    copy_online_to_target = tf.group(*copy_ops)
    X_action = tf.placeholder(tf.int32, shape=[None])
    y = tf.placeholder(tf.float32, shape=[None, 1])
    q_value = tf.reduce_sum(online_q_values * tf.one_hot(X_action, n_outputs), axis=1, keepdims=True)
    loss = tf.reduce_mean(tf.square(y - q_value))
    training_op = tf.train.AdamOptimizer(0.01).minimize(loss)
    assert len(copy_ops) == 4

    env, rng = Corridor(), np.random.default_rng(0)
    memory = []
    with tf.Session() as sess:
        tf.global_variables_initializer().run()
        copy_online_to_target.run()
        state, done = env.reset(), False
        for step in range(600):
            if done:
                state = env.reset()
            epsilon = max(0.1, 1 - step / 300)
            q_values = online_q_values.eval({X_state: [state]})
            action = rng.integers(n_outputs) if rng.random() < epsilon else int(np.argmax(q_values))
            next_state, reward, done = env.step(action)
            memory.append((state, action, reward, next_state, 1.0 - done))
            state = next_state
            if step >= 50:
                batch = [memory[i] for i in rng.integers(len(memory), size=32)]
                s, a, r, s2, cont = (np.array(col) for col in zip(*batch))
                next_q = target_q_values.eval({X_state: s2})
                y_val = (r + cont * 0.95 * np.max(next_q, axis=1)).reshape(-1, 1).astype(np.float32)
                _, loss_val = sess.run([training_op, loss], {X_state: s, X_action: a, y: y_val})
                check_finite(loss_val)
            if step % 25 == 0:
                copy_online_to_target.run()
        q = online_q_values.eval({X_state: np.arange(1, 5)})
    check_finite(q)
    assert np.all(np.argmax(q, axis=1) == 1), q


# -- Fundamentals of Deep Learning: batch-normalized layers with moving averages ---------------------------


def test_fundamentals_batch_norm_with_ema_and_cond(mnist):
    """The book's layer_batch_norm: batch moments, ExponentialMovingAverage(0.9) applied
    under control_dependencies inside tf.cond(phase_train), the averages at test time,
    then tf.nn.batch_norm_with_global_normalization. Adam 0.01, 2 epochs; the training
    op is run alone, so the averages move only through the cond's control dependency.
    (ema_apply_op is created outside the branch functions, so TF 1.x runs it whichever
    way the predicate goes, at test time too, unordered with the false branch's reads:
    nothing is asserted about the averages after the evaluation run.) graphc: 0.905 with
    phase_train False at test time; TF 1.x expected 0.88-0.92; threshold 0.85."""
    phase_train = tf.placeholder(tf.bool)

    def layer_batch_norm(x, n_out):
        beta = tf.get_variable("beta", [n_out], initializer=tf.constant_initializer(0.0))
        gamma = tf.get_variable("gamma", [n_out], initializer=tf.constant_initializer(1.0))
        batch_mean, batch_var = tf.nn.moments(x, [0], name="moments")
        ema = tf.train.ExponentialMovingAverage(decay=0.9)
        ema_apply_op = ema.apply([batch_mean, batch_var])
        ema_mean, ema_var = ema.average(batch_mean), ema.average(batch_var)

        def mean_var_with_update():
            with tf.control_dependencies([ema_apply_op]):
                return tf.identity(batch_mean), tf.identity(batch_var)

        mean, var = tf.cond(phase_train, mean_var_with_update, lambda: (ema_mean, ema_var))
        x_r = tf.reshape(x, [-1, 1, 1, n_out])
        normed = tf.nn.batch_norm_with_global_normalization(x_r, mean, var, beta, gamma, 1e-3, True)
        return tf.reshape(normed, [-1, n_out]), ema_mean

    def layer(x, shape):
        W = tf.get_variable("W", shape, initializer=tf.random_normal_initializer(stddev=(2.0 / shape[0]) ** 0.5))
        b = tf.get_variable("b", shape[1:], initializer=tf.constant_initializer(0.0))
        logits, ema_mean = layer_batch_norm(tf.matmul(x, W) + b, shape[1])
        return tf.nn.relu(logits), ema_mean

    def inference(x):
        with tf.variable_scope("hidden_1"):
            hidden_1, ema_mean = layer(x, [784, 64])
        with tf.variable_scope("output"):
            W = tf.get_variable("W", [64, 10], initializer=tf.random_normal_initializer(stddev=(2.0 / 64) ** 0.5))
            b = tf.get_variable("b", [10], initializer=tf.constant_initializer(0.0))
            return tf.matmul(hidden_1, W) + b, ema_mean

    X = tf.placeholder(tf.float32, [None, 784])
    y = tf.placeholder(tf.int32, [None])
    logits, ema_mean = inference(X)
    loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits))
    accuracy = tf.reduce_mean(tf.cast(tf.equal(tf.argmax(logits, 1, output_type=tf.int32), y), tf.float32))
    training_op = tf.train.AdamOptimizer(0.01).minimize(loss)
    X_train, y_train, X_test, y_test = mnist
    rng = np.random.default_rng(0)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        for _ in range(2):
            for X_batch, y_batch in shuffle_batch(X_train, y_train, 50, rng):
                sess.run(training_op, {X: X_batch, y: y_batch, phase_train: True})
        trained_mean = sess.run(ema_mean)
        acc = sess.run(accuracy, {X: X_test, y: y_test, phase_train: False})
    check_finite(trained_mean, acc)
    assert np.abs(trained_mean).max() > 1e-3
    assert acc > 0.85
