"""Chapter 9, "Modularity" and "Sharing Variables": a relu() function, a shared threshold
variable with get_variable and variable scopes (three of the book's variants)."""
import graphc.compat.v1 as tf

n_features = 3

# -- Modularity: five ReLUs in name scopes ---------------------------------------------------------
tf.reset_default_graph()


def relu(X):
    with tf.name_scope("relu"):
        w_shape = (int(X.get_shape()[1]), 1)
        w = tf.Variable(tf.random_normal(w_shape), name="weights")
        b = tf.Variable(0.0, name="bias")
        z = tf.add(tf.matmul(X, w), b, name="z")
        return tf.maximum(z, 0., name="relu")


X = tf.placeholder(tf.float32, shape=(None, n_features), name="X")
relus = [relu(X) for i in range(5)]
output = tf.add_n(relus, name="output")
print([r.op.name for r in relus], output.op.name)

# -- Sharing a threshold created outside relu() ------------------------------------------------------
tf.reset_default_graph()


def relu(X):
    with tf.variable_scope("relu", reuse=True):
        threshold = tf.get_variable("threshold")
        w_shape = int(X.get_shape()[1]), 1
        w = tf.Variable(tf.random_normal(w_shape), name="weights")
        b = tf.Variable(0.0, name="bias")
        z = tf.add(tf.matmul(X, w), b, name="z")
        return tf.maximum(z, threshold * z, name="max")


X = tf.placeholder(tf.float32, shape=(None, n_features), name="X")
with tf.variable_scope("relu"):
    threshold = tf.get_variable("threshold", shape=(), initializer=tf.constant_initializer(0.0))
relus = [relu(X) for relu_index in range(5)]
output = tf.add_n(relus, name="output")

with tf.Session() as sess:
    sess.run(tf.global_variables_initializer())
    output_value = sess.run(output, feed_dict={X: [[1.0, 2.0, 3.0], [-1.0, 0.5, 2.0]]})
print(output_value)
shared_variables = [v.op.name for v in tf.global_variables()]
print(shared_variables)

# -- Created by the first call, reused by the others ---------------------------------------------------
tf.reset_default_graph()


def relu(X):
    threshold = tf.get_variable("threshold", shape=(), initializer=tf.constant_initializer(0.0))
    w_shape = (int(X.get_shape()[1]), 1)
    w = tf.Variable(tf.random_normal(w_shape), name="weights")
    b = tf.Variable(0.0, name="bias")
    z = tf.add(tf.matmul(X, w), b, name="z")
    return tf.maximum(z, threshold * z, name="max")


X = tf.placeholder(tf.float32, shape=(None, n_features), name="X")
relus = []
for relu_index in range(5):
    with tf.variable_scope("relu", reuse=(relu_index >= 1)) as scope:
        relus.append(relu(X))
output = tf.add_n(relus, name="output")
first_call_variables = [v.op.name for v in tf.global_variables()]
print(first_call_variables)
