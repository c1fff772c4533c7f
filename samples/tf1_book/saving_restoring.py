"""Chapter 9, "Saving and Restoring Models": checkpoints during training, then restore.

Changes from the book: the import, the data set (housing_data) and the checkpoint
directory (a fresh temporary one instead of /tmp, so runs never collide; removed when
the program exits).
"""
import atexit
import os
import shutil
import tempfile

import numpy as np
import graphc.compat.v1 as tf
from housing_data import StandardScaler, fetch_california_housing

housing = fetch_california_housing()
m, n = housing.data.shape
scaled_housing_data_plus_bias = np.c_[np.ones((m, 1)), StandardScaler().fit_transform(housing.data)]
ckpt_dir = tempfile.mkdtemp(prefix="tf1_book_")
atexit.register(shutil.rmtree, ckpt_dir, ignore_errors=True)

tf.reset_default_graph()

n_epochs = 1000
learning_rate = 0.01

X = tf.constant(scaled_housing_data_plus_bias, dtype=tf.float32, name="X")
y = tf.constant(housing.target.reshape(-1, 1), dtype=tf.float32, name="y")
theta = tf.Variable(tf.random_uniform([n + 1, 1], -1.0, 1.0, seed=42), name="theta")
y_pred = tf.matmul(X, theta, name="predictions")
error = y_pred - y
mse = tf.reduce_mean(tf.square(error), name="mse")
optimizer = tf.train.GradientDescentOptimizer(learning_rate=learning_rate)
training_op = optimizer.minimize(mse)

init = tf.global_variables_initializer()
saver = tf.train.Saver()

with tf.Session() as sess:
    sess.run(init)

    for epoch in range(n_epochs):
        if epoch % 100 == 0:
            print("Epoch", epoch, "MSE =", mse.eval())
            save_path = saver.save(sess, os.path.join(ckpt_dir, "my_model.ckpt"))
        sess.run(training_op)

    best_theta = theta.eval()
    save_path = saver.save(sess, os.path.join(ckpt_dir, "my_model_final.ckpt"))

with tf.Session() as sess:
    saver.restore(sess, os.path.join(ckpt_dir, "my_model_final.ckpt"))
    best_theta_restored = theta.eval()

print(np.allclose(best_theta, best_theta_restored))

# Saving under another name, and keeping only the newest checkpoints of a run
saver = tf.train.Saver({"weights": theta}, max_to_keep=3)
with tf.Session() as sess:
    sess.run(init)
    for step in range(5):
        sess.run(training_op)
        saver.save(sess, os.path.join(ckpt_dir, "weights"), global_step=step)
    weights_final = theta.eval()
print(saver.last_checkpoints)
print(tf.train.latest_checkpoint(ckpt_dir))

with tf.Session() as sess:
    saver.restore(sess, tf.train.latest_checkpoint(ckpt_dir))
    weights_restored = theta.eval()
print(np.allclose(weights_final, weights_restored))
