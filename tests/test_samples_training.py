"""The training samples, run in reduced form (the full runs are the scripts themselves)."""
from __future__ import annotations

import importlib.util
import pathlib

import numpy as np
import pytest

SAMPLES = pathlib.Path(__file__).resolve().parent.parent / "samples"


def load_sample(name):
    spec = importlib.util.spec_from_file_location(f"sample_{name}", SAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_autodiff_appendix():
    r = load_sample("autodiff").main([])
    assert (r["value"], r["dfdx"], r["dfdy"], r["d2fdx2"]) == (42.0, 24.0, 10.0, 8.0)
    assert r["variables"] == (42.0, 24.0, 10.0)
    np.testing.assert_allclose(r["numeric"], (24.0, 10.0), rtol=1e-8)


def test_linear_regression_four_ways_agree():
    """Normal equation vs batch GD (manual, gc.gradients, optimizer): theta within 1e-4.

    The full 1000 epochs at lr 0.01, on 5,000 districts instead of 20,640 (same
    conditioning, 4x less data per step)."""
    r = load_sample("linear_regression").main(["--samples", "5000"])
    thetas = r["thetas"]
    assert set(thetas) == {"normal equation", "manual", "autodiff", "optimizer"}
    for name, theta in thetas.items():
        assert np.abs(theta - thetas["normal equation"]).max() < 1e-4, name
    # the three gradient-descent variants compute the same gradient: equal to rounding
    np.testing.assert_allclose(thetas["autodiff"], thetas["manual"], rtol=0, atol=1e-6)
    np.testing.assert_allclose(thetas["optimizer"], thetas["autodiff"], rtol=0, atol=1e-6)


@pytest.fixture(scope="module")
def mnist():
    return load_sample("mnist_mlp")


def test_mnist_mlp_learns(mnist, tmp_path, capsys):
    """The issue's full run reaches >= 95% in 20 epochs on 8,000 digits; here two epochs
    on 2,000 digits (80 steps) must pass 85% on the 2,000 test digits (chance is 10%;
    seeds 0-2 give 88-89%). Output (not a terminal here): the compile header first, then
    one line per epoch, and the curve PNG (or why not)."""
    curve = tmp_path / "curve.png"
    r = mnist.main(["--epochs", "2", "--limit", "2000", "--curve", str(curve)])
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].startswith("compiling train step")
    epochs = [ln for ln in lines if ln.lstrip().startswith("epoch")]
    assert len(epochs) == 2 and all("40/40 steps" in ln and "steps/s" in ln for ln in epochs)
    try:
        import matplotlib  # noqa: F401
        assert curve.read_bytes()[:4] == b"\x89PNG"
    except ImportError:
        assert any("matplotlib is not installed" in ln for ln in lines)
    first, second = r["history"]
    assert second["test_accuracy"] > 0.85
    assert second["train_loss"] < first["train_loss"] < 1.5
    assert second["test_loss"] < 0.5


def test_compiled_train_step_equals_the_numpy_reference(mnist):
    """Two compiled Adam steps against the hand-written numpy step of the benchmark
    (float32 both; rtol 1e-4 covers summation-order differences in the matmuls)."""
    (x, y), _ = mnist.load_mnist()
    model = mnist.MLP(seed=3)
    reference = mnist.NumpyMLP([p.numpy() for p in model.params])
    for k in range(2):
        xb, yb = x[k * 32:(k + 1) * 32], y[k * 32:(k + 1) * 32]
        loss = model.train_step(xb, yb)
        ref_loss = reference.step(xb, yb)
        np.testing.assert_allclose(loss, ref_loss, rtol=1e-4)
    for p, ref in zip(model.params, reference.params):
        np.testing.assert_allclose(p.numpy(), ref, rtol=1e-4, atol=1e-5)
