"""Chapter 10, "Training a DNN Using Plain TensorFlow": a 300-100-10 ReLU network built
with tf.layers.dense, trained on mini-batches and evaluated with in_top_k;
checkpointed with a Saver and restored for the test accuracy (about 96%).

Changes from the book: the import; the data: mnist10k.npz (10,000 real MNIST digits;
the first 8,000 train, the last 2,000 test, 1,000 of the training digits held out for
validation) instead of tf.keras.datasets (no network here); and the optimizer: Adam
(as the book's chapter 11 listings), since plain gradient descent at 0.01 plateaus
near 93% on 7,000 training digits (the book's 98% uses 55,000).

    python samples/tf1_book/mnist_dnn.py
"""
import atexit
import os
import shutil
import tempfile

import numpy as np
import graphc.compat.v1 as tf

HERE = os.path.dirname(os.path.abspath(__file__))
data = np.load(os.path.join(HERE, "..", "..", "data", "mnist10k.npz"))
X_all = data["images"].astype(np.float32).reshape(-1, 28 * 28) / 255.0
y_all = data["labels"].astype(np.int32)
X_train, X_test = X_all[:8000], X_all[8000:]
y_train, y_test = y_all[:8000], y_all[8000:]
X_valid, X_train = X_train[:1000], X_train[1000:]
y_valid, y_train = y_train[:1000], y_train[1000:]

n_inputs = 28*28  # MNIST
n_hidden1 = 300
n_hidden2 = 100
n_outputs = 10

tf.reset_default_graph()
np.random.seed(42)
tf.set_random_seed(42)

X = tf.placeholder(tf.float32, shape=(None, n_inputs), name="X")
y = tf.placeholder(tf.int32, shape=(None), name="y")

with tf.name_scope("dnn"):
    hidden1 = tf.layers.dense(X, n_hidden1, name="hidden1",
                              activation=tf.nn.relu)
    hidden2 = tf.layers.dense(hidden1, n_hidden2, name="hidden2",
                              activation=tf.nn.relu)
    logits = tf.layers.dense(hidden2, n_outputs, name="outputs")

with tf.name_scope("loss"):
    xentropy = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits)
    loss = tf.reduce_mean(xentropy, name="loss")

learning_rate = 0.001

with tf.name_scope("train"):
    optimizer = tf.train.AdamOptimizer(learning_rate)
    training_op = optimizer.minimize(loss)

with tf.name_scope("eval"):
    correct = tf.nn.in_top_k(logits, y, 1)
    accuracy = tf.reduce_mean(tf.cast(correct, tf.float32))

init = tf.global_variables_initializer()
saver = tf.train.Saver()

n_epochs = 20
batch_size = 50


def shuffle_batch(X, y, batch_size):
    rnd_idx = np.random.permutation(len(X))
    n_batches = len(X) // batch_size
    for batch_idx in np.array_split(rnd_idx, n_batches):
        X_batch, y_batch = X[batch_idx], y[batch_idx]
        yield X_batch, y_batch


with tf.Session() as sess:
    init.run()
    for epoch in range(n_epochs):
        for X_batch, y_batch in shuffle_batch(X_train, y_train, batch_size):
            sess.run(training_op, feed_dict={X: X_batch, y: y_batch})
        acc_batch = accuracy.eval(feed_dict={X: X_batch, y: y_batch})
        acc_val = accuracy.eval(feed_dict={X: X_valid, y: y_valid})
        print(epoch, "Batch accuracy:", acc_batch, "Val accuracy:", acc_val)

    ckpt_dir = tempfile.mkdtemp(prefix="tf1_book_")  # removed when the program exits
    atexit.register(shutil.rmtree, ckpt_dir, ignore_errors=True)
    save_path = saver.save(sess, os.path.join(ckpt_dir, "my_model_final.ckpt"))

with tf.Session() as sess:
    saver.restore(sess, save_path)
    acc_test = accuracy.eval(feed_dict={X: X_test, y: y_test})
print("Test accuracy:", acc_test)
