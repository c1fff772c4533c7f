"""Autodiff appendix: f(x, y) = x*x*y + y + 2 at (3, 4) is 42, df/dx = 24, df/dy = 10.

Shows the three ways to get gradients: gc.value_and_grad on a plain function (compiled
behind the scenes), gc.gradients inside a compiled function (like tf.gradients) with
Variables holding x and y, and a second derivative (d2f/dx2 = 2y = 8), since gradients
are graphs that can be differentiated again. A central finite difference cross-checks.

    python samples/autodiff.py
"""
from __future__ import annotations

import sys

import numpy as np

import graphc as gc


def f(x, y):
    return x * x * y + y + 2


def main(argv=None) -> dict:
    x0, y0 = np.float64(3.0), np.float64(4.0)

    # 1. gc.value_and_grad: reverse mode over both arguments
    value, (dfdx, dfdy) = gc.value_and_grad(f, argnums=(0, 1))(x0, y0)

    # 2. The book's style: x and y are Variables, gc.gradients builds the gradient graph
    x = gc.Variable(3.0, name="x")
    y = gc.Variable(4.0, name="y")

    @gc.compile
    def with_variables():
        out = f(x.value(), y.value())
        gx, gy = gc.gradients(out, [x, y])
        return out, gx, gy

    v_value, v_dx, v_dy = with_variables()

    # 3. Higher order: d/dx (df/dx) = 2y
    d2fdx2 = gc.grad(gc.grad(f, argnums=0), argnums=0)(x0, y0)

    # Numerical differentiation, the gradient checker
    eps = 1e-6
    numeric_dx = (f(x0 + eps, y0) - f(x0 - eps, y0)) / (2 * eps)
    numeric_dy = (f(x0, y0 + eps) - f(x0, y0 - eps)) / (2 * eps)

    print(f"f(3, 4)          = {float(value):g}   (variables: {float(v_value):g})")
    print(f"df/dx            = {float(dfdx):g}   (variables: {float(v_dx):g}, numeric: {numeric_dx:.6f})")
    print(f"df/dy            = {float(dfdy):g}   (variables: {float(v_dy):g}, numeric: {numeric_dy:.6f})")
    print(f"d2f/dx2 = 2y     = {float(d2fdx2):g}")
    return {"value": float(value), "dfdx": float(dfdx), "dfdy": float(dfdy), "d2fdx2": float(d2fdx2),
            "variables": (float(v_value), float(v_dx), float(v_dy)), "numeric": (numeric_dx, numeric_dy)}


if __name__ == "__main__":
    main(sys.argv[1:])
