"""Linear regression on housing-like data: the normal equation and batch gradient descent.

As in the TensorFlow books' chapter 9, four ways to the same theta:
  1. the normal equation  theta = (X^T X)^-1 X^T y  (gc.matrix_inverse),
  2. batch gradient descent with the gradient written by hand, 2/m X^T (X theta - y),
  3. the same with gc.gradients (reverse-mode autodiff),
  4. the same with gc.optim.GradientDescent(...).minimize(mse).
Each training step (forward, gradient, update of the theta Variable) is one compiled
function called once per epoch. There is no network here, so the data set is a
synthetic stand-in for California housing (20,640 districts, 8 features, fixed seed),
standardized as the book does before gradient descent.

    python samples/linear_regression.py [--epochs 1000] [--lr 0.01] [--samples 20640]
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np

import graphc as gc
from graphc.progress import compiling

FEATURES = ["MedInc", "HouseAge", "AveRooms", "AveBedrms", "Population", "AveOccup", "Latitude", "Longitude"]


def housing_like(n: int, seed: int = 42):
    """Features with housing-like marginals (skewed incomes and populations, ages 1-52)
    and mild correlations, and a target (median value, in $100k) linear in them plus noise."""
    rng = np.random.default_rng(seed)
    income = rng.lognormal(1.2, 0.45, n)
    age = rng.integers(1, 53, n).astype(np.float64)
    rooms = 4.5 + 0.12 * income + rng.gamma(2.0, 0.5, n)
    bedrooms = 0.9 + 0.012 * rooms + rng.gamma(4.0, 0.02, n)
    population = rng.lognormal(7.0, 0.7, n)
    occupancy = 2.0 + rng.gamma(3.0, 0.35, n)
    latitude = rng.uniform(32.5, 42.0, n)
    longitude = -124.3 + 0.25 * (latitude - 32.5) + rng.uniform(0, 9.0, n)
    X = np.column_stack([income, age, rooms, bedrooms, population, occupancy, latitude, longitude])
    true_w = np.array([0.42, 0.009, -0.10, 0.65, 0.00001, -0.004, -0.42, -0.43])
    y = -36.0 + X @ true_w + rng.normal(0, 0.6, n)
    return X, y


def standardized_with_bias(X):
    scaled = (X - X.mean(0)) / X.std(0)
    return np.column_stack([np.ones(len(X)), scaled]).astype(np.float32)


def normal_equation(X, y):
    @gc.compile
    def solve(X, y):
        Xt = X.T
        return gc.matrix_inverse(Xt @ X) @ Xt @ y
    return solve(X, y)


def gradient_descent(X, y, mode: str, epochs: int, lr: float, seed: int = 42):
    """Batch GD from the book's random start; ``mode``: manual | autodiff | optimizer."""
    m, n = X.shape
    theta = gc.Variable(np.random.default_rng(seed).uniform(-1.0, 1.0, (n, 1)).astype(np.float32), name="theta")
    optimizer = gc.optim.GradientDescent(learning_rate=lr)

    @gc.compile
    def train_step(X, y):
        error = X @ theta - y
        mse = gc.mean(gc.square(error))
        if mode == "manual":
            gradient = 2.0 / m * (X.T @ error)
            theta.assign(theta - lr * gradient)
        elif mode == "autodiff":
            (gradient,) = gc.gradients(mse, [theta])
            theta.assign(theta - lr * gradient)
        else:
            optimizer.minimize(mse)
        return mse

    with compiling(f"train step ({mode} gradients)"):
        train_step.compile_time(X, y)  # compiles without running
    t0 = time.perf_counter()
    for epoch in range(epochs):
        mse = train_step(X, y)
        if epoch % max(epochs // 10, 1) == 0:
            print(f"    {mode:9s} epoch {epoch:5d}  MSE = {float(mse):.6f}")
    seconds = time.perf_counter() - t0
    return theta.numpy(), float(train_step(X, y)), seconds, train_step.compile_time(X, y)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=1000)
    ap.add_argument("--lr", type=float, default=0.01)
    ap.add_argument("--samples", type=int, default=20640)
    args = ap.parse_args(argv)

    raw_X, raw_y = housing_like(args.samples)
    X = standardized_with_bias(raw_X)
    y = raw_y.reshape(-1, 1).astype(np.float32)
    print(f"data: {X.shape[0]} districts x {X.shape[1] - 1} features (+ bias), standardized")

    thetas = {"normal equation": normal_equation(X, y)}
    for mode in ("manual", "autodiff", "optimizer"):
        print(f"  batch gradient descent ({mode} gradients), {args.epochs} epochs, lr {args.lr}")
        theta, mse, seconds, compile_s = gradient_descent(X, y, mode, args.epochs, args.lr)
        print(f"    final MSE {mse:.6f}; {seconds:.2f} s for {args.epochs} steps (compile {compile_s:.2f} s)")
        thetas[mode] = theta

    reference = thetas["normal equation"]
    print("\ntheta:            " + "  ".join(f"{name[:9]:>9s}" for name in ["bias"] + FEATURES))
    for name, theta in thetas.items():
        print(f"  {name:16s}" + "  ".join(f"{v:9.5f}" for v in theta.ravel()))
    diffs = {name: float(np.abs(theta - reference).max()) for name, theta in thetas.items()}
    for name, d in diffs.items():
        if name != "normal equation":
            print(f"  max |theta_{name} - theta_normal_equation| = {d:.2e}")
    return {"thetas": thetas, "max_abs_diff": diffs}


if __name__ == "__main__":
    main(sys.argv[1:])
