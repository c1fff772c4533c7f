"""TensorBoard's view of a compat.v1 graph (issue 16): every edge, variable reads
included, output shapes and dtypes in the node attributes, TF op type names; a
histogram of a tf.Variable. Checked with graphc's own event decoder always, and with
TensorBoard's EventAccumulator when tensorboard is installed (skipped with the
reason otherwise)."""
from __future__ import annotations

import numpy as np
import pytest

import graphc.compat.v1 as tf
from graphc.summary import events


def _linear_regression(logdir):
    g = tf.Graph()
    with g.as_default():
        X = tf.placeholder(tf.float32, shape=(None, 3), name="X")
        y = tf.placeholder(tf.float32, shape=(None, 1), name="y")
        theta = tf.Variable(tf.random_uniform([3, 1], -1.0, 1.0, seed=42), name="theta")
        y_pred = tf.matmul(X, theta, name="predictions")
        with tf.name_scope("loss"):
            error = y_pred - y
            mse = tf.reduce_mean(error * error, name="mse")
        train = tf.train.GradientDescentOptimizer(0.01).minimize(mse)
        hist = tf.summary.histogram("theta_hist", theta)
        init = tf.global_variables_initializer()
        writer = tf.summary.FileWriter(logdir, g)
    with tf.Session(graph=g) as sess:
        sess.run(init)
        sess.run(train, {X: np.ones((4, 3)), y: np.ones((4, 1))})
        writer.add_summary(sess.run(hist), 1)
    writer.close()


EXPECTED = {  # name: (type, inputs, output shape)
    "X": ("Placeholder", [], [-1, 3]),
    "theta": ("VariableV2", [], [3, 1]),
    "theta/Assign": ("Assign", ["theta", "random_uniform"], [3, 1]),
    "theta/read": ("Identity", ["theta"], [3, 1]),
    "predictions": ("MatMul", ["X", "theta/read"], [-1, 1]),
    "loss/sub": ("Sub", ["predictions", "y"], [-1, 1]),
    "loss/mul": ("Mul", ["loss/sub", "loss/sub"], [-1, 1]),
    "loss/mse": ("Mean", ["loss/mul"], []),
    "theta_hist": ("HistogramSummary", ["theta/read"], []),
}


def _event_file(logdir):
    import glob

    (path,) = glob.glob(str(logdir / "events.out.tfevents.*"))
    return path


def test_graph_def_has_variable_edges_shapes_and_tf_types(tmp_path):
    _linear_regression(str(tmp_path))
    graphs = [e["graph_def"] for e in events.read_events(_event_file(tmp_path)) if "graph_def" in e]
    nodes = {n["name"]: n for n in graphs[0]["node"]}
    for name, (op, inputs, shape) in EXPECTED.items():
        n = nodes[name]
        assert n["op"] == op and n["input"] == inputs, (name, n["op"], n["input"])
        attrs = {a["key"]: a["value"] for a in n["attr"]}
        (shp,) = attrs["_output_shapes"]["list"]["shape"]
        assert [events._to_int64(d.get("size", 0)) for d in shp.get("dim", [])] == shape
        assert attrs["dtype" if op in ("Placeholder", "VariableV2") else "T"]["type"] == (
            7 if op == "HistogramSummary" else 1)
    opt = nodes["GradientDescent"]
    assert "theta" in opt["input"]  # the update's edge to the variable it writes
    # every input names a node of the graph: TensorBoard draws one connected graph
    for n in nodes.values():
        for i in n["input"]:
            assert i.lstrip("^").split(":")[0] in nodes, (n["name"], i)


def test_tensorboard_event_accumulator_reads_graph_and_histogram(tmp_path):
    accumulator = pytest.importorskip(
        "tensorboard.backend.event_processing.event_accumulator",
        reason="tensorboard is not installed (pip install tensorboard) - TensorBoard's own reader not checked")
    _linear_regression(str(tmp_path))
    ea = accumulator.EventAccumulator(str(tmp_path))
    ea.Reload()
    graph = ea.Graph()
    nodes = {n.name: n for n in graph.node}
    for name, (op, inputs, shape) in EXPECTED.items():
        assert nodes[name].op == op and list(nodes[name].input) == inputs
        (shp,) = nodes[name].attr["_output_shapes"].list.shape
        assert [d.size for d in shp.dim] == shape
    assert ea.Tags()["histograms"] == ["theta_hist"]
    assert ea.Histograms("theta_hist")[0].histogram_value.num == 3


def test_histograms_of_variables_fetched_with_the_training_op():
    """tf.summary.histogram of tf.Variables (tf.layers kernels, Adam slots), merged and
    run in the same Session.run as the update: one histogram per variable; fetched after
    the training op, it sees the updated values (graphc runs fetches in order)."""
    g = tf.Graph()
    with g.as_default():
        X = tf.placeholder(tf.float32, (None, 4))
        y = tf.placeholder(tf.int32, (None,))
        logits = tf.layers.dense(X, 3, name="h", kernel_initializer=tf.ones_initializer())
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits))
        train = tf.train.AdamOptimizer(0.01).minimize(loss)
        for v in tf.global_variables():
            tf.summary.histogram(v.op.name, v)
        merged = tf.summary.merge_all()
        init = tf.global_variables_initializer()
    with tf.Session(graph=g) as sess:
        sess.run(init)
        _, summary = sess.run([train, merged], {X: np.ones((2, 4)), y: [0, 1]})
        kernel_now = sess.run(g.get_tensor_by_name("h/kernel:0"))
    values = {v["tag"]: v["histo"] for v in events.decode_summary(summary)["value"]}
    assert {"h/kernel", "h/bias", "h/kernel/Adam", "beta1_power"} <= set(values)
    kernel = values["h/kernel"]
    assert kernel["num"] == 12 and kernel["max"] > kernel["min"]  # moved by the update from all ones
    assert (kernel["min"], kernel["max"]) == (float(kernel_now.min()), float(kernel_now.max()))
