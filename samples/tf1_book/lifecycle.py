"""Chapter 9, "Lifecycle of a Node Value": values are computed per run, shared inputs once per run."""
import graphc.compat.v1 as tf

tf.reset_default_graph()

w = tf.constant(3)
x = w + 2
y = x + 5
z = x * 3

with tf.Session() as sess:
    print(y.eval())  # 10
    print(z.eval())  # 15

with tf.Session() as sess:
    y_val, z_val = sess.run([y, z])
    print(y_val)  # 10
    print(z_val)  # 15
