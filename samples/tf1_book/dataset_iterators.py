"""Switching one model between a training and a validation dataset (the TF 1.x
programmer's guide, "Importing Data": creating an iterator).

Two Gaussian blobs, a logistic regression, and the guide's three iterator patterns:

1. initializable: the training set's arrays are placeholders in the dataset's
   definition, fed when ``iterator.initializer`` runs (once per epoch);
2. reinitializable: ``tf.data.Iterator.from_structure(types, shapes)`` with one
   ``make_initializer(dataset)`` op for training and one for validation; each epoch
   trains on a pass over the (shuffled) training set, then switches the same
   iterator, hence the same ``get_next()`` and model, to the validation set;
3. feedable: ``tf.data.Iterator.from_string_handle(handle, types, shapes)`` picks,
   per ``sess.run``, the iterator whose ``string_handle()`` is fed: a repeating
   training iterator keeps its position while validation passes run in between.

Expected: every training and validation example seen once per epoch, in every
pattern, and a validation accuracy above 90%.
"""
from __future__ import annotations

import numpy as np

import graphc.compat.v1 as tf

N_TRAIN, N_VAL, BATCH = 400, 100, 32


def blobs(n, seed):
    rng = np.random.default_rng(seed)
    labels = (np.arange(n) % 2).astype(np.int32)
    features = rng.normal(size=(n, 2)).astype(np.float32) + np.where(labels[:, None] == 1, 1.5, -1.5).astype(
        np.float32)
    return features, labels


def model(features, labels):
    """A logistic regression: (training op, number of correct predictions in the batch)."""
    w = tf.Variable(tf.zeros([2, 1]), name="w")
    b = tf.Variable(0.0, name="b")
    logits = tf.squeeze(tf.matmul(features, w), axis=1) + b
    targets = tf.cast(labels, tf.float32)
    loss = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=targets, logits=logits))
    correct = tf.reduce_sum(tf.cast(tf.equal(tf.cast(logits > 0, tf.float32), targets), tf.float32))
    return tf.train.GradientDescentOptimizer(0.1).minimize(loss), correct


def run_pass(sess, fetches, feed_dict=None):
    """Run ``fetches`` until the iterator's pass ends: (rows seen, correct predictions)."""
    rows, right = 0, 0.0
    while True:
        try:
            batch_labels, n_right = sess.run(fetches, feed_dict)[-2:]
        except tf.errors.OutOfRangeError:
            return rows, right
        rows += len(batch_labels)
        right += n_right


def initializable(train, epochs):
    tf.reset_default_graph()
    x = tf.placeholder(tf.float32, [None, 2])
    y = tf.placeholder(tf.int32, [None])
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(1000, seed=1).batch(BATCH)
    iterator = dataset.make_initializable_iterator()
    features, labels = iterator.get_next()
    train_op, correct = model(features, labels)
    rows = []
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        for _ in range(epochs):
            sess.run(iterator.initializer, feed_dict={x: train[0], y: train[1]})
            rows.append(run_pass(sess, [train_op, labels, correct])[0])
    print(f"initializable: training rows per epoch {rows}")
    return rows


def reinitializable(train, val, epochs):
    tf.reset_default_graph()
    training_dataset = tf.data.Dataset.from_tensor_slices(train).shuffle(1000, seed=2).batch(BATCH)
    validation_dataset = tf.data.Dataset.from_tensor_slices(val).batch(BATCH)
    iterator = tf.data.Iterator.from_structure(training_dataset.output_types, training_dataset.output_shapes)
    features, labels = iterator.get_next()
    training_init_op = iterator.make_initializer(training_dataset)
    validation_init_op = iterator.make_initializer(validation_dataset)
    train_op, correct = model(features, labels)
    history = []
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        for epoch in range(epochs):
            sess.run(training_init_op)
            train_rows, _ = run_pass(sess, [train_op, labels, correct])
            sess.run(validation_init_op)
            val_rows, val_right = run_pass(sess, [labels, correct])
            history.append((train_rows, val_rows, float(val_right / val_rows)))
            print(f"reinitializable: epoch {epoch}: trained on {train_rows} rows, validation accuracy "
                  f"{val_right / val_rows:.3f} on {val_rows} rows")
    return history


def feedable(train, val, epochs):
    tf.reset_default_graph()
    training_dataset = tf.data.Dataset.from_tensor_slices(train).shuffle(1000, seed=3).batch(BATCH).repeat()
    validation_dataset = tf.data.Dataset.from_tensor_slices(val).batch(BATCH)
    handle = tf.placeholder(tf.string, shape=[])
    iterator = tf.data.Iterator.from_string_handle(handle, training_dataset.output_types,
                                                   training_dataset.output_shapes)
    features, labels = iterator.get_next()
    train_op, correct = model(features, labels)
    training_iterator = training_dataset.make_one_shot_iterator()
    validation_iterator = validation_dataset.make_initializable_iterator()
    steps_per_epoch = -(-N_TRAIN // BATCH)
    history = []
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        training_handle = sess.run(training_iterator.string_handle())
        validation_handle = sess.run(validation_iterator.string_handle())
        for _ in range(epochs):
            train_rows = 0
            for _ in range(steps_per_epoch):   # the training iterator repeats: count the steps
                _, batch_labels = sess.run([train_op, labels], feed_dict={handle: training_handle})
                train_rows += len(batch_labels)
            sess.run(validation_iterator.initializer)
            val_rows, val_right = run_pass(sess, [labels, correct], {handle: validation_handle})
            history.append((train_rows, val_rows, float(val_right / val_rows)))
    print(f"feedable: (training rows, validation rows, validation accuracy) per epoch "
          f"{[(t, v, round(a, 3)) for t, v, a in history]}")
    return history


def main(epochs=3):
    train, val = blobs(N_TRAIN, 0), blobs(N_VAL, 1)
    rows = initializable(train, epochs)
    reinit = reinitializable(train, val, epochs)
    feed = feedable(train, val, epochs)
    assert rows == [N_TRAIN] * epochs, rows
    for history in (reinit, feed):
        assert [(t, v) for t, v, _ in history] == [(N_TRAIN, N_VAL)] * epochs, history
        assert history[-1][2] > 0.9, history
    return {"initializable_rows": rows, "reinitializable": reinit, "feedable": feed}


if __name__ == "__main__":
    main()
