"""Chapter 9, "Creating Your First Graph and Running It in a Session": f = x*x*y + y + 2.

The book's listings with one change: ``import graphc.compat.v1 as tf``.
"""
import graphc.compat.v1 as tf

tf.reset_default_graph()

x = tf.Variable(3, name="x")
y = tf.Variable(4, name="y")
f = x*x*y + y + 2

sess = tf.Session()
sess.run(x.initializer)
sess.run(y.initializer)
result = sess.run(f)
print(result)
sess.close()

with tf.Session() as sess:
    x.initializer.run()
    y.initializer.run()
    result = f.eval()
print(result)

init = tf.global_variables_initializer()

with tf.Session() as sess:
    init.run()
    result = f.eval()
print(result)

sess = tf.InteractiveSession()
init.run()
result = f.eval()
print(result)
sess.close()

# "Managing Graphs"
tf.reset_default_graph()
x1 = tf.Variable(1)
print(x1.graph is tf.get_default_graph())

graph = tf.Graph()
with graph.as_default():
    x2 = tf.Variable(2)
print(x2.graph is graph)
print(x2.graph is tf.get_default_graph())
