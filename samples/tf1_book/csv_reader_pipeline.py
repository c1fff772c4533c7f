"""Reading data with queues and readers (the book's chapter 12 "Loading Data Directly
from the Graph": multithreaded readers using a Coordinator and a QueueRunner), then the
same file through tf.data.

Writes a small CSV of two features and a class per row (plus a header) into a temporary
directory, then

1. queues: ``string_input_producer`` -> ``TextLineReader`` -> ``decode_csv`` (a default
   per column; an empty field takes it) -> ``shuffle_batch`` with two reader threads,
   started by ``start_queue_runners`` under a ``Coordinator``, feeding a logistic
   regression trained with ``GradientDescentOptimizer`` until the filename queue's
   epochs run out (``tf.errors.OutOfRangeError``);
2. tf.data: ``TextLineDataset(...).skip(1).map(decode).batch(...)`` with
   ``make_one_shot_iterator().get_next()``, to count the rows once more.

The temporary directory is removed at the end. Expected: every row read once per epoch,
and a training accuracy above 90%.
"""
from __future__ import annotations

import os
import shutil
import tempfile

import numpy as np

import graphc.compat.v1 as tf

N_ROWS, EPOCHS, BATCH = 200, 5, 20


def write_csv(directory):
    """Two Gaussian blobs; a few x2 fields left empty (decode_csv fills the default 0.0)."""
    rng = np.random.default_rng(42)
    path = os.path.join(directory, "my_data.csv")
    with open(path, "w") as f:
        f.write("x1,x2,target\n")
        for i in range(N_ROWS):
            label = i % 2
            x1, x2 = rng.normal(loc=(2.0 if label else -2.0), scale=1.0, size=2)
            f.write(f"{x1:.4f},{'' if i % 37 == 0 else f'{x2:.4f}'},{label}\n")
    return path


def queue_pipeline(path):
    tf.reset_default_graph()
    filename_queue = tf.train.string_input_producer([path], num_epochs=EPOCHS, shuffle=False)
    reader = tf.TextLineReader(skip_header_lines=1)
    key, value = reader.read(filename_queue)
    x1, x2, target = tf.decode_csv(value, record_defaults=[[-1.0], [0.0], [-1]])
    features = tf.stack([x1, x2])
    instance_batch, target_batch = tf.train.shuffle_batch([features, target], batch_size=BATCH, capacity=100,
                                                          min_after_dequeue=40, num_threads=2, seed=1,
                                                          allow_smaller_final_batch=True)

    w = tf.Variable(tf.zeros([2, 1]), name="w")
    b = tf.Variable(0.0, name="b")
    logits = tf.squeeze(tf.matmul(instance_batch, w), axis=1) + b
    labels = tf.cast(target_batch, tf.float32)
    loss = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits))
    correct = tf.reduce_sum(tf.cast(tf.equal(tf.cast(logits > 0, tf.float32), labels), tf.float32))
    training_op = tf.train.GradientDescentOptimizer(0.1).minimize(loss)

    seen, right = 0, 0.0
    with tf.Session() as sess:
        sess.run([tf.global_variables_initializer(), tf.local_variables_initializer()])
        coord = tf.train.Coordinator()
        threads = tf.train.start_queue_runners(sess=sess, coord=coord)
        try:
            while not coord.should_stop():
                _, n_right, batch_targets = sess.run([training_op, correct, target_batch])
                seen += len(batch_targets)
                right += n_right
        except tf.errors.OutOfRangeError:
            print(f"queues: done after {seen} rows ({EPOCHS} epochs of {N_ROWS})")
        finally:
            coord.request_stop()
        coord.join(threads)
        print(f"queues: training accuracy {right / seen:.3f} (on each batch before its update), "
              f"final weights {sess.run(w).ravel().round(3)}")
    return seen, right / seen


def dataset_pipeline(path):
    tf.reset_default_graph()

    def decode(line):
        x1, x2, target = tf.decode_csv(line, record_defaults=[[-1.0], [0.0], [-1]])
        return np.stack([x1, x2]), target

    dataset = tf.data.TextLineDataset(path).skip(1).map(decode).batch(64)
    features, targets = dataset.make_one_shot_iterator().get_next()
    n_positive = tf.reduce_sum(targets)
    rows, positives = 0, 0
    with tf.Session() as sess:
        while True:
            try:
                t, p = sess.run([targets, n_positive])
            except tf.errors.OutOfRangeError:
                break
            rows += len(t)
            positives += int(p)
    print(f"tf.data: {rows} rows, {positives} of class 1")
    return rows


def main():
    directory = tempfile.mkdtemp(prefix="graphc_csv_")
    try:
        path = write_csv(directory)
        seen, accuracy = queue_pipeline(path)
        rows = dataset_pipeline(path)
    finally:
        shutil.rmtree(directory)
    assert seen == N_ROWS * EPOCHS, seen
    assert rows == N_ROWS, rows
    assert accuracy > 0.9, accuracy
    return {"rows_read": seen, "accuracy": accuracy, "dataset_rows": rows}


if __name__ == "__main__":
    main()
