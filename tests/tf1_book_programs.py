"""The books' TF 1.x programs of chapters 10-16 (and the Fundamentals and chapter-10
MNIST listings), each a function of the ``tf`` module it runs with.

tests/test_compat_v1_chapters.py and tests/test_compat_v1_books.py call them with
``graphc.compat.v1`` and assert thresholds; tests/tf_reference/run_with_tensorflow.py
calls the same functions with real TensorFlow's ``tf.compat.v1`` to measure what TF
reaches on the same run. So this module must not import graphc. Each program returns
its figures (accuracy, losses, ...) in a dict; the asserts left here are about the
program's structure (variable names, collections), which hold in both.
"""
import os

import numpy as np

MNIST = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "mnist10k.npz")


def load_mnist(n_train=3000, n_test=1000):
    """The first n_train digits of data/mnist10k.npz to train on, the last n_test to test."""
    data = np.load(MNIST)
    X = data["images"].astype(np.float32).reshape(-1, 28 * 28) / 255.0
    y = data["labels"].astype(np.int32)
    return X[:n_train], y[:n_train], X[len(X) - n_test:], y[len(X) - n_test:]


def fresh_graph(tf, seed=42):
    """Every program starts here: a new default graph, graph seed 42, numpy seed 42 (the
    reference runner can pass other seeds, to see the spread of a figure over draws)."""
    tf.reset_default_graph()
    tf.set_random_seed(seed)
    np.random.seed(seed)


def shuffle_batch(X, y, batch_size, rng):
    idx = rng.permutation(len(X))
    for start in range(0, len(X), batch_size):
        part = idx[start:start + batch_size]
        yield X[part], y[part]


def check_finite(*values):
    for v in values:
        assert np.all(np.isfinite(v)), f"non-finite value: {v}"


def mnist_classifier_graph(tf, hidden_fn):
    """X, y, logits, loss, accuracy of a classifier whose hidden part is ``hidden_fn(X)``."""
    X = tf.placeholder(tf.float32, shape=(None, 28 * 28), name="X")
    y = tf.placeholder(tf.int32, shape=(None), name="y")
    logits = hidden_fn(X)
    loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits), name="loss")
    accuracy = tf.reduce_mean(tf.cast(tf.nn.in_top_k(logits, y, 1), tf.float32))
    return X, y, logits, loss, accuracy


def train_and_eval(tf, mnist, X, y, loss, accuracy, training_op, n_epochs, batch_size=50, feed_train=None,
                   feed_eval=None, extra=()):
    X_train, y_train, X_test, y_test = mnist
    rng = np.random.default_rng(0)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        for _ in range(n_epochs):
            for X_batch, y_batch in shuffle_batch(X_train, y_train, batch_size, rng):
                sess.run([training_op, *extra], {X: X_batch, y: y_batch, **(feed_train or {})})
            check_finite(sess.run(loss, {X: X_test, y: y_test, **(feed_eval or {})}))
        return float(sess.run(accuracy, {X: X_test, y: y_test, **(feed_eval or {})}))


# -- chapter 10: DNNs ---------------------------------------------------------------------------


def ch10_dnn_by_hand_with_neuron_layer(tf, mnist):
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

    X, y, logits, loss, accuracy = mnist_classifier_graph(tf, dnn)
    training_op = tf.train.GradientDescentOptimizer(0.1).minimize(loss)
    assert [v.op.name for v in tf.trainable_variables()][:2] == ["hidden1/kernel", "hidden1/bias"]
    return {"accuracy": train_and_eval(tf, mnist, X, y, loss, accuracy, training_op, n_epochs=3)}


def ch10_dnn_with_contrib_fully_connected_and_arg_scope(tf, mnist):
    fc = tf.contrib.layers.fully_connected
    he_init = tf.contrib.layers.variance_scaling_initializer()

    def dnn(X):
        with tf.contrib.framework.arg_scope([fc], activation_fn=tf.nn.elu, weights_initializer=he_init):
            hidden1 = fc(X, 100, scope="hidden1")
            hidden2 = fc(hidden1, 50, scope="hidden2")
            return fc(hidden2, 10, activation_fn=None, scope="outputs")

    X, y, logits, loss, accuracy = mnist_classifier_graph(tf, dnn)
    training_op = tf.train.MomentumOptimizer(0.01, momentum=0.9).minimize(loss)
    assert [v.op.name for v in tf.trainable_variables()] == [
        "hidden1/weights", "hidden1/biases", "hidden2/weights", "hidden2/biases", "outputs/weights", "outputs/biases"]
    return {"accuracy": train_and_eval(tf, mnist, X, y, loss, accuracy, training_op, n_epochs=3)}


def ch10_dnn_classifier_with_the_estimator_api(tf, mnist):
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
    predicted = np.array([p["class_ids"][0] for p in y_pred])

    rng = np.random.default_rng(0)
    points = rng.normal(size=(400, 2)).astype(np.float32)
    labels = (points[:, 0] + points[:, 1] > 0).astype(np.int64)
    binary = tf.estimator.DNNClassifier([8], [tf.feature_column.numeric_column("p", shape=[2])])
    binary.train(tf.estimator.inputs.numpy_input_fn({"p": points}, labels, batch_size=20, num_epochs=5,
                                                    shuffle=True))
    result = binary.evaluate(tf.estimator.inputs.numpy_input_fn({"p": points}, labels, shuffle=False))
    return {"accuracy": float(eval_results["accuracy"]), "eval_results": eval_results, "predictions": y_pred,
            "predicted_accuracy": float(np.mean(predicted == y_test)), "binary": result}


def ch10_contrib_learn_dnn_classifier_skcompat(tf, mnist):
    X_train, y_train, X_test, y_test = mnist
    feature_columns = tf.contrib.learn.infer_real_valued_columns_from_input(X_train)
    dnn_clf = tf.contrib.learn.DNNClassifier(hidden_units=[300, 100], n_classes=10,
                                             feature_columns=feature_columns)
    dnn_clf = tf.contrib.learn.SKCompat(dnn_clf)
    dnn_clf.fit(X_train, y_train, batch_size=50, steps=300)
    y_pred = dnn_clf.predict(X_test)
    evaluation = dnn_clf.evaluate(X_test, y_test)
    check_finite(evaluation["loss"], y_pred["probabilities"])
    return {"accuracy": float(np.mean(y_pred["classes"] == y_test)), "evaluation": evaluation}


def ch10_mnist_dnn_with_tf_layers_dense(tf, mnist8000):
    """Chapter 10's DNN (300/100 ReLU, tf.layers.dense, in_top_k), Adam, 8 epochs of
    8000 digits (tested on the other 2000)."""
    X_train, y_train, X_test, y_test = mnist8000
    n_inputs, n_hidden1, n_hidden2, n_outputs = 28 * 28, 300, 100, 10
    X = tf.placeholder(tf.float32, shape=(None, n_inputs), name="X")
    y = tf.placeholder(tf.int32, shape=(None), name="y")
    with tf.name_scope("dnn"):
        hidden1 = tf.layers.dense(X, n_hidden1, name="hidden1", activation=tf.nn.relu)
        hidden2 = tf.layers.dense(hidden1, n_hidden2, name="hidden2", activation=tf.nn.relu)
        logits = tf.layers.dense(hidden2, n_outputs, name="outputs")
    with tf.name_scope("loss"):
        xentropy = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits)
        loss = tf.reduce_mean(xentropy, name="loss")
    with tf.name_scope("train"):
        optimizer = tf.train.AdamOptimizer(learning_rate=0.001)
        training_op = optimizer.minimize(loss)
    with tf.name_scope("eval"):
        correct = tf.nn.in_top_k(logits, y, 1)
        accuracy = tf.reduce_mean(tf.cast(correct, tf.float32))
    init = tf.global_variables_initializer()

    assert [v.op.name for v in tf.trainable_variables()] == [
        "hidden1/kernel", "hidden1/bias", "hidden2/kernel", "hidden2/bias", "outputs/kernel", "outputs/bias"]
    assert hidden1.op.name == "dnn/hidden1/Relu" and loss.op.name == "loss/loss"

    n_epochs, batch_size = 8, 50
    with tf.Session() as sess:
        init.run()
        for epoch in range(n_epochs):
            rnd_idx = np.random.permutation(len(X_train))
            for batch_idx in np.array_split(rnd_idx, len(X_train) // batch_size):
                sess.run(training_op, feed_dict={X: X_train[batch_idx], y: y_train[batch_idx]})
        acc_test = accuracy.eval(feed_dict={X: X_test, y: y_test})
        compile_count = getattr(sess, "compile_count", None)     # graphc's sessions count their compiles
    return {"accuracy": float(acc_test), "compile_count": compile_count}


# -- chapter 11: training deep nets -------------------------------------------------------------------


def small_dnn(tf, X, activation=None, kernel_initializer=None, training=None, dropout_rate=None, regularizer=None):
    hidden = tf.layers.dense(X, 64, activation=activation or tf.nn.relu, kernel_initializer=kernel_initializer,
                             kernel_regularizer=regularizer, name="hidden1")
    if dropout_rate is not None:
        hidden = tf.layers.dropout(hidden, dropout_rate, training=training)
    return tf.layers.dense(hidden, 10, kernel_regularizer=regularizer, name="outputs")


OPTIMIZERS = {
    "momentum": lambda tf, lr: tf.train.MomentumOptimizer(lr, momentum=0.9),
    "nesterov": lambda tf, lr: tf.train.MomentumOptimizer(lr, momentum=0.9, use_nesterov=True),
    "adagrad": lambda tf, lr: tf.train.AdagradOptimizer(0.1),
    "rmsprop": lambda tf, lr: tf.train.RMSPropOptimizer(0.001, momentum=0.9, decay=0.9, epsilon=1e-10),
    "adam": lambda tf, lr: tf.train.AdamOptimizer(0.001),
    "ftrl": lambda tf, lr: tf.train.FtrlOptimizer(0.1),
}


def ch11_optimizer_with_exponential_decay(tf, mnist, name):
    X, y, logits, loss, accuracy = mnist_classifier_graph(tf, lambda X: small_dnn(tf, X))
    global_step = tf.Variable(0, trainable=False, name="global_step")
    learning_rate = tf.train.exponential_decay(0.01, global_step, 10000, 0.1)
    training_op = OPTIMIZERS[name](tf, learning_rate).minimize(loss, global_step=global_step)
    return {"accuracy": train_and_eval(tf, mnist, X, y, loss, accuracy, training_op, n_epochs=2)}


def ch11_batch_norm_with_update_ops_and_gradient_clipping(tf, mnist):
    training = tf.placeholder_with_default(False, shape=(), name="training")

    def dnn(X):
        hidden1 = tf.layers.dense(X, 64, name="hidden1")
        bn1 = tf.nn.elu(tf.layers.batch_normalization(hidden1, training=training, momentum=0.9))
        logits_before_bn = tf.layers.dense(bn1, 10, name="outputs")
        return tf.layers.batch_normalization(logits_before_bn, training=training, momentum=0.9)

    X, y, logits, loss, accuracy = mnist_classifier_graph(tf, dnn)
    optimizer = tf.train.GradientDescentOptimizer(0.1)
    grads_and_vars = optimizer.compute_gradients(loss)
    capped = [(tf.clip_by_value(grad, -1.0, 1.0), var) for grad, var in grads_and_vars]
    training_op = optimizer.apply_gradients(capped)
    extra_update_ops = tf.get_collection(tf.GraphKeys.UPDATE_OPS)
    assert len(extra_update_ops) == 4
    return {"accuracy": train_and_eval(tf, mnist, X, y, loss, accuracy, training_op, n_epochs=2,
                                       feed_train={training: True}, extra=extra_update_ops)}


def ch11_contrib_batch_norm_in_arg_scope_updates_in_place(tf, mnist):
    fc, batch_norm = tf.contrib.layers.fully_connected, tf.contrib.layers.batch_norm
    is_training = tf.placeholder(tf.bool, shape=(), name="is_training")
    bn_params = {"is_training": is_training, "decay": 0.9, "updates_collections": None}

    def dnn(X):
        with tf.contrib.framework.arg_scope([fc], normalizer_fn=batch_norm, normalizer_params=bn_params):
            hidden1 = fc(X, 64, scope="hidden1")
            return fc(hidden1, 10, scope="outputs", activation_fn=None)

    X, y, logits, loss, accuracy = mnist_classifier_graph(tf, dnn)
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
    return {"accuracy": float(acc), "moving_mean_max_abs": float(np.abs(mean).max())}


def ch11_regularization_dropout_and_max_norm(tf, mnist):
    training = tf.placeholder_with_default(False, shape=(), name="training")
    l2 = tf.contrib.layers.l2_regularizer(1e-4)
    X, y, logits, base_loss, accuracy = mnist_classifier_graph(
        tf, lambda X: small_dnn(tf, X, training=training, dropout_rate=0.5, regularizer=l2))
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
    return {"accuracy": float(acc), "max_row_norm": float(np.linalg.norm(w, axis=1).max()),
            "dropout_in_training": not np.allclose(train_a, train_b),
            "no_dropout_at_test": bool(np.array_equal(test_a, test_b))}


def ch11_reusing_pretrained_layers_frozen_and_cached(tf, mnist, checkpoint_path):
    X, y, logits, loss, accuracy = mnist_classifier_graph(tf, lambda X: small_dnn(tf, X))
    training_op = tf.train.AdamOptimizer(0.001).minimize(loss)
    X_train, y_train, X_test, y_test = mnist
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        rng = np.random.default_rng(0)
        for _ in range(2):
            for X_batch, y_batch in shuffle_batch(X_train, y_train, 50, rng):
                sess.run(training_op, {X: X_batch, y: y_batch})
        pretrained_acc = accuracy.eval({X: X_test, y: y_test})
        saved_kernel = sess.run("hidden1/kernel:0")
        tf.train.Saver().save(sess, checkpoint_path)

    tf.reset_default_graph()
    X, y, logits, loss, accuracy = mnist_classifier_graph(
        tf, lambda X: tf.layers.dense(tf.layers.dense(X, 64, tf.nn.relu, name="hidden1"), 10, name="new_outputs"))
    hidden1 = tf.get_default_graph().get_tensor_by_name("hidden1/Relu:0")
    reuse_vars = tf.get_collection(tf.GraphKeys.GLOBAL_VARIABLES, scope="hidden1")
    restore_saver = tf.train.Saver({var.op.name: var for var in reuse_vars})
    train_vars = tf.get_collection(tf.GraphKeys.TRAINABLE_VARIABLES, scope="new_outputs")
    training_op = tf.train.AdamOptimizer(0.01).minimize(loss, var_list=train_vars)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        restore_saver.restore(sess, checkpoint_path)
        hidden1_cache = sess.run(hidden1, {X: X_train})
        rng = np.random.default_rng(1)
        for _ in range(2):
            for idx in np.array_split(rng.permutation(len(X_train)), 60):
                sess.run(training_op, {hidden1: hidden1_cache[idx], y: y_train[idx]})
        acc = accuracy.eval({X: X_test, y: y_test})
        frozen_kernel = sess.run("hidden1/kernel:0")
    return {"pretrained_accuracy": float(pretrained_acc), "accuracy": float(acc),
            "kernel_unchanged": bool(np.array_equal(frozen_kernel, saved_kernel))}


# -- chapter 13: CNNs -------------------------------------------------------------------------------------


def ch13_cnn_mnist(tf, mnist):
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

    X, y, logits, loss, accuracy = mnist_classifier_graph(tf, cnn)
    training_op = tf.train.AdamOptimizer(0.002).minimize(loss)
    return {"accuracy": train_and_eval(tf, mnist, X, y, loss, accuracy, training_op, n_epochs=1)}


# -- chapter 14: RNNs --------------------------------------------------------------------------------------


def as_rows(mnist):
    X_train, y_train, X_test, y_test = mnist
    return X_train.reshape(-1, 28, 28), y_train, X_test.reshape(-1, 28, 28), y_test


def ch14_mnist_rnn_classifier(tf, mnist):
    n_steps, n_inputs, n_neurons = 28, 28, 150
    X = tf.placeholder(tf.float32, [None, n_steps, n_inputs])
    y = tf.placeholder(tf.int32, [None])
    basic_cell = tf.contrib.rnn.BasicRNNCell(num_units=n_neurons)
    outputs, states = tf.nn.dynamic_rnn(basic_cell, X, dtype=tf.float32)
    logits = tf.layers.dense(states, 10)
    loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits))
    training_op = tf.train.AdamOptimizer(learning_rate=0.001).minimize(loss)
    accuracy = tf.reduce_mean(tf.cast(tf.nn.in_top_k(logits, y, 1), tf.float32))
    return {"accuracy": train_and_eval(tf, as_rows(mnist), X, y, loss, accuracy, training_op, n_epochs=3)}


def ch14_bidirectional_stacked_dropout_gru_classifier(tf, mnist):
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
    return {"accuracy": train_and_eval(tf, as_rows(mnist), X, y, loss, accuracy, training_op, n_epochs=2,
                                       feed_train={keep_prob: 0.9})}


def time_series(t):
    return t * np.sin(t) / 3 + 2 * np.sin(t * 5)


def next_batch(rng, batch_size, n_steps, resolution=0.1, t_min=0, t_max=30):
    t0 = rng.uniform(size=(batch_size, 1)) * (t_max - t_min - n_steps * resolution)
    Ts = t0 + np.arange(0.0, n_steps + 1) * resolution
    ys = time_series(Ts)
    return ys[:, :-1].reshape(-1, n_steps, 1).astype(np.float32), ys[:, 1:].reshape(-1, n_steps, 1).astype(np.float32)


def ch14_time_series_with_output_projection_and_generation(tf):
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
    return {"first_mse": float(first), "mse": float(mse), "generated": sequence[n_steps:]}


def ch14_time_series_stacked_lstm_without_wrapper(tf):
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
    return {"mse": float(mse)}


def word2vec_with_nce_loss(tf):
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
    return {"first_loss": float(first), "last_loss": float(loss_val),
            "neighbours_in_topic": int(np.sum(nearest // 10 == np.arange(vocabulary_size) // 10))}


# -- chapter 15: autoencoders ---------------------------------------------------------------------------


def ch15_linear_autoencoder_is_pca(tf):
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
    return {"mse": float(mse), "pca_mse": float(pca_mse), "mse_over_pca": float(mse / pca_mse)}


def ch15_stacked_autoencoder_with_tied_weights(tf, mnist):
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
    return {"mse": float(mse)}


def ch15_denoising_and_sparse_autoencoders(tf, mnist):
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
    return {"start_mean_activation": float(start_mean), "denoising_mse": float(d_mse), "sparse_mse": float(s_mse),
            "mean_activation": float(mean_act.mean())}


def ch15_variational_autoencoder(tf, mnist):
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
    return {"first_loss": float(first), "last_loss": float(last), "generated": generated}


def ch15_convolutional_autoencoder(tf, mnist):
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
    return {"mse": float(err)}


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


def ch16_policy_gradients_cartpole(tf):
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
    return {"lengths": lengths, "first_10_mean": float(np.mean(lengths[:10])),
            "last_10_mean": float(np.mean(lengths[-10:]))}


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


def ch16_deep_q_learning_with_target_network(tf):
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
    return {"q": q, "states_going_right": int(np.sum(np.argmax(q, axis=1) == 1))}


# -- Fundamentals of Deep Learning: batch-normalized layers with moving averages ---------------------------


def fundamentals_batch_norm_with_ema_and_cond(tf, mnist):
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
    return {"accuracy": float(acc), "ema_mean_max_abs": float(np.abs(trained_mean).max())}


# -- every program, its data and its thresholds ---------------------------------------------------------
#
# One table for the tests (which assert the thresholds with graphc) and for
# tests/tf_reference/run_with_tensorflow.py (which checks that real TF reaches them on
# the same run and writes tests/tf_reference/FIGURES.md).

PROGRAMS = {   # key -> (function, data it takes: "mnist" 3000/1000 digits, "mnist8000" 8000/2000, None, extra kwargs)
    "ch10_dnn_by_hand_with_neuron_layer": (ch10_dnn_by_hand_with_neuron_layer, "mnist", {}),
    "ch10_dnn_with_contrib_fully_connected_and_arg_scope":
        (ch10_dnn_with_contrib_fully_connected_and_arg_scope, "mnist", {}),
    "ch10_dnn_classifier_with_the_estimator_api": (ch10_dnn_classifier_with_the_estimator_api, "mnist", {}),
    "ch10_contrib_learn_dnn_classifier_skcompat": (ch10_contrib_learn_dnn_classifier_skcompat, "mnist", {}),
    "ch10_mnist_dnn_with_tf_layers_dense": (ch10_mnist_dnn_with_tf_layers_dense, "mnist8000", {}),
    **{f"ch11_optimizer_with_exponential_decay[{name}]": (ch11_optimizer_with_exponential_decay, "mnist",
                                                          {"name": name}) for name in OPTIMIZERS},
    "ch11_batch_norm_with_update_ops_and_gradient_clipping":
        (ch11_batch_norm_with_update_ops_and_gradient_clipping, "mnist", {}),
    "ch11_contrib_batch_norm_in_arg_scope_updates_in_place":
        (ch11_contrib_batch_norm_in_arg_scope_updates_in_place, "mnist", {}),
    "ch11_regularization_dropout_and_max_norm": (ch11_regularization_dropout_and_max_norm, "mnist", {}),
    "ch11_reusing_pretrained_layers_frozen_and_cached":
        (ch11_reusing_pretrained_layers_frozen_and_cached, "mnist", {"checkpoint_path": None}),
    "ch13_cnn_mnist": (ch13_cnn_mnist, "mnist", {}),
    "ch14_mnist_rnn_classifier": (ch14_mnist_rnn_classifier, "mnist", {}),
    "ch14_bidirectional_stacked_dropout_gru_classifier":
        (ch14_bidirectional_stacked_dropout_gru_classifier, "mnist", {}),
    "ch14_time_series_with_output_projection_and_generation":
        (ch14_time_series_with_output_projection_and_generation, None, {}),
    "ch14_time_series_stacked_lstm_without_wrapper": (ch14_time_series_stacked_lstm_without_wrapper, None, {}),
    "word2vec_with_nce_loss": (word2vec_with_nce_loss, None, {}),
    "ch15_linear_autoencoder_is_pca": (ch15_linear_autoencoder_is_pca, None, {}),
    "ch15_stacked_autoencoder_with_tied_weights": (ch15_stacked_autoencoder_with_tied_weights, "mnist", {}),
    "ch15_denoising_and_sparse_autoencoders": (ch15_denoising_and_sparse_autoencoders, "mnist", {}),
    "ch15_variational_autoencoder": (ch15_variational_autoencoder, "mnist", {}),
    "ch15_convolutional_autoencoder": (ch15_convolutional_autoencoder, "mnist", {}),
    "ch16_policy_gradients_cartpole": (ch16_policy_gradients_cartpole, None, {}),
    "ch16_deep_q_learning_with_target_network": (ch16_deep_q_learning_with_target_network, None, {}),
    "fundamentals_batch_norm_with_ema_and_cond": (fundamentals_batch_norm_with_ema_and_cond, "mnist", {}),
}

THRESHOLDS = {   # key -> [(figure, comparison, bound)]; a bound (other, k) means k x figure other
    "ch10_dnn_by_hand_with_neuron_layer": [("accuracy", ">", 0.85)],
    "ch10_dnn_with_contrib_fully_connected_and_arg_scope": [("accuracy", ">", 0.85)],
    "ch10_dnn_classifier_with_the_estimator_api": [("accuracy", ">", 0.86)],
    "ch10_contrib_learn_dnn_classifier_skcompat": [("accuracy", ">", 0.86)],
    "ch10_mnist_dnn_with_tf_layers_dense": [("accuracy", ">=", 0.95)],
    "ch11_optimizer_with_exponential_decay[momentum]": [("accuracy", ">", 0.82)],
    "ch11_optimizer_with_exponential_decay[nesterov]": [("accuracy", ">", 0.82)],
    "ch11_optimizer_with_exponential_decay[adagrad]": [("accuracy", ">", 0.82)],
    "ch11_optimizer_with_exponential_decay[rmsprop]": [("accuracy", ">", 0.82)],
    "ch11_optimizer_with_exponential_decay[adam]": [("accuracy", ">", 0.82)],
    "ch11_optimizer_with_exponential_decay[ftrl]": [("accuracy", ">", 0.8)],
    "ch11_batch_norm_with_update_ops_and_gradient_clipping": [("accuracy", ">", 0.85)],
    "ch11_contrib_batch_norm_in_arg_scope_updates_in_place": [("accuracy", ">", 0.85),
                                                              ("moving_mean_max_abs", ">", 1e-3)],
    "ch11_regularization_dropout_and_max_norm": [("accuracy", ">", 0.83), ("max_row_norm", "<=", 1.0 + 1e-5)],
    "ch11_reusing_pretrained_layers_frozen_and_cached": [("pretrained_accuracy", ">", 0.85),
                                                         ("accuracy", ">", 0.85)],
    "ch13_cnn_mnist": [("accuracy", ">", 0.78)],
    "ch14_mnist_rnn_classifier": [("accuracy", ">", 0.72)],
    "ch14_bidirectional_stacked_dropout_gru_classifier": [("accuracy", ">", 0.75)],
    "ch14_time_series_with_output_projection_and_generation": [("first_mse", ">", 2.0), ("mse", "<", 0.5)],
    "ch14_time_series_stacked_lstm_without_wrapper": [("mse", "<", 0.3)],
    "word2vec_with_nce_loss": [("last_loss", "<", ("first_loss", 0.5)), ("neighbours_in_topic", ">=", 36)],
    "ch15_linear_autoencoder_is_pca": [("mse_over_pca", "<", 1.1)],
    "ch15_stacked_autoencoder_with_tied_weights": [("mse", "<", 0.035)],
    "ch15_denoising_and_sparse_autoencoders": [("denoising_mse", "<", 0.045), ("sparse_mse", "<", 0.06),
                                               ("mean_activation", "<", 0.15)],
    "ch15_variational_autoencoder": [("first_loss", ">", 400), ("last_loss", "<", 230)],
    "ch15_convolutional_autoencoder": [("mse", "<", 0.04)],
    "ch16_policy_gradients_cartpole": [("last_10_mean", ">", 25.0), ("last_10_mean", ">", ("first_10_mean", 1.5))],
    "ch16_deep_q_learning_with_target_network": [("states_going_right", "==", 4)],
    "fundamentals_batch_norm_with_ema_and_cond": [("accuracy", ">", 0.85), ("ema_mean_max_abs", ">", 1e-3)],
}

_COMPARE = {">": np.greater, ">=": np.greater_equal, "<": np.less, "<=": np.less_equal, "==": np.equal}


def describe_threshold(comparison, bound):
    if isinstance(bound, tuple):
        other, factor = bound
        return f"{comparison} {factor} x {other}"
    return f"{comparison} {bound:g}"


def unmet_thresholds(key, figures):
    """The thresholds of program ``key`` that ``figures`` miss, as readable lines (empty: all met)."""
    missed = []
    for figure, comparison, bound in THRESHOLDS[key]:
        value = figures[figure]
        limit = figures[bound[0]] * bound[1] if isinstance(bound, tuple) else bound
        if not _COMPARE[comparison](value, limit):
            missed.append(f"{key}: {figure} = {value:.4g}, wanted {describe_threshold(comparison, bound)}")
    return missed
