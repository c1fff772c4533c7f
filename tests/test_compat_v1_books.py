"""The books' chapter 9-10 programs, run with only ``import graphc.compat.v1 as tf`` changed.

Each chapter-9 program is a script in samples/tf1_book/ (run here as is), checked
against numpy (least squares, exact values). The MNIST DNN is the chapter-10 listing
with fewer epochs than the sample's full run, a function in tests/tf1_book_programs.py
that tests/tf_reference/run_with_tensorflow.py also runs with real TensorFlow: its
docstring records both accuracies.
"""
import os
import runpy
import shutil
import sys

import numpy as np
import pytest

import graphc as gc
import graphc.compat.v1 as tf
import tf1_book_programs as programs

BOOK = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "samples", "tf1_book")
sys.path.insert(0, BOOK)
from housing_data import StandardScaler, fetch_california_housing  # noqa: E402


def run_book(name):
    return runpy.run_path(os.path.join(BOOK, name + ".py"), run_name="__main__")


@pytest.fixture(scope="module")
def housing():
    h = fetch_california_housing()
    m = len(h.data)
    scaled = np.c_[np.ones((m, 1)), StandardScaler().fit_transform(h.data)]
    best = np.linalg.lstsq(scaled, h.target, rcond=None)[0].reshape(-1, 1)
    return h, scaled, best


def test_first_graph_is_42():
    g = run_book("first_graph")
    assert g["result"] == 42
    assert g["x2"].graph is g["graph"] and g["x1"].graph is not g["graph"]


def test_lifecycle_values():
    g = run_book("lifecycle")
    assert (g["y_val"], g["z_val"]) == (10, 15)


def test_placeholder_a_plus_5():
    g = run_book("placeholders")
    np.testing.assert_array_equal(g["B_val_1"], [[6, 7, 8]])
    np.testing.assert_array_equal(g["B_val_2"], [[9, 10, 11], [12, 13, 14]])


def test_normal_equation_matches_numpy():
    """theta by the normal equation in float32, as the book computes it.

    X^T X has condition number ~1.1e10 here, so theta's float32 error bound
    (cond * eps32 ~ 650) says nothing per element: any accumulation order (GEMM
    blocking, OpenBLAS vs graphc) moves single coefficients by a few percent, as the
    book's own TF output differs from its numpy output. What float32 must get right is
    the fit: the mean squared error of theta is within 1e-5 (relative) of the float64
    optimum (numpy's own float32 X^T X gives 1.0000010); and every coefficient keeps
    its sign and magnitude (within 10%, the book's TF-vs-numpy spread).
    """
    g = run_book("normal_equation")
    X, y = g["X"], g["y"]
    theta64 = g["theta_numpy"]

    def mse(theta):
        return float(np.mean((X @ np.asarray(theta, np.float64) - y) ** 2))

    assert mse(g["theta_value"]) <= mse(theta64) * (1 + 1e-5)
    np.testing.assert_allclose(g["theta_value"], theta64, rtol=0.1)


def test_batch_gradient_descent_three_ways(housing):
    _, _, best = housing
    g = run_book("batch_gradient_descent")
    for key in ("best_theta_manual", "best_theta_autodiff", "best_theta_optimizer"):
        np.testing.assert_allclose(g[key], best, atol=2e-3, err_msg=key)
    np.testing.assert_allclose(g["best_theta_manual"], g["best_theta_autodiff"], atol=1e-4)


def test_minibatch_gradient_descent(housing):
    _, scaled, best = housing
    g = run_book("minibatch_gradient_descent")
    mse_best = np.mean((scaled @ best - g["housing"].target.reshape(-1, 1)) ** 2)
    assert g["full_mse"] < mse_best * 1.02
    np.testing.assert_allclose(g["best_theta"], best, atol=0.05)


def test_saving_and_restoring():
    g = run_book("saving_restoring")
    np.testing.assert_array_equal(g["best_theta"], g["best_theta_restored"])
    np.testing.assert_array_equal(g["weights_final"], g["weights_restored"])
    kept = g["saver"].last_checkpoints
    assert [os.path.basename(p) for p in kept] == ["weights-2", "weights-3", "weights-4"]
    assert sorted(f for f in os.listdir(g["ckpt_dir"]) if f.startswith("weights")) == \
        ["weights-2.npz", "weights-3.npz", "weights-4.npz"]


def test_name_scopes_and_tensorboard_log(capsys):
    g = run_book("name_scopes_tensorboard")
    try:
        _check_name_scopes_log(g, capsys.readouterr().out)
    finally:
        shutil.rmtree(g["root_logdir"], ignore_errors=True)  # the script keeps it for TensorBoard


def _check_name_scopes_log(g, printed):
    assert f"TensorBoard log directory: {g['logdir']}" in printed
    assert (g["error"].op.name, g["mse"].op.name) == ("loss/sub", "loss/mse")
    assert [n.op.name for n in (g["a1"], g["a2"], g["a3"], g["a4"])] == ["a", "a_1", "param/a", "param_1/a"]
    files = os.listdir(g["logdir"])
    events = gc.summary.read_events(os.path.join(g["logdir"], files[0]))
    graph_nodes = [n["name"] for e in events if "graph_def" in e for n in e["graph_def"]["node"]]
    assert "loss/mse" in graph_nodes and "theta" in graph_nodes
    scalars = [(e["step"], v["simple_value"]) for e in events if "summary" in e for v in e["summary"]["value"]
               if v["tag"] == "MSE"]
    n_batches = g["n_batches"]
    assert [s for s, _ in scalars] == [e * n_batches + b for e in range(10) for b in range(0, n_batches, 10)]
    assert scalars[-1][1] < scalars[0][1] / 5              # the logged MSE falls


def test_variable_sharing():
    g = run_book("variable_sharing")
    assert g["shared_variables"][0] == "relu/threshold" and len(g["shared_variables"]) == 11
    assert g["first_call_variables"][:3] == ["relu/threshold", "relu/weights", "relu/bias"]
    assert g["output_value"].shape == (2, 1)


def test_mnist_dnn_with_tf_layers_dense():
    """Chapter 10's DNN (300/100 ReLU, tf.layers.dense, in_top_k), Adam, reduced to 8 epochs of
    8000 digits (the program: tests/tf1_book_programs.py). Test accuracy on the other 2000:
    graphc 0.956; TF 2.21.0 compat.v1 measured: 0.956 (over seeds 42, 1, 2: graphc
    0.955-0.956 over seeds 42, 1, 2, TF 0.953-0.959 over seeds 42, 1, 2); threshold 0.95.
    graphc compiles three programs: init, train step, accuracy."""
    programs.fresh_graph(tf)
    key = "ch10_mnist_dnn_with_tf_layers_dense"
    figures = programs.ch10_mnist_dnn_with_tf_layers_dense(tf, programs.load_mnist(8000, 2000))
    print("test accuracy", figures["accuracy"])
    missed = programs.unmet_thresholds(key, figures)
    assert not missed, missed
    assert figures["compile_count"] == 3
