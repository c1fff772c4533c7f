"""Every op's gradient rule against float64 finite differences (see gradcheck.py).

The coverage test at the end fails when an op is registered without a gradient case or
an explicit exemption, so a new op cannot ship an unchecked vjp.
"""
from __future__ import annotations

import importlib
import pathlib

import numpy as np
import pytest

import graphc as gc
from graphc.ops.registry import all_ops
from graphc.tracing import bind
from gradcheck import (GRADIENT_CASES, NOT_DIFFERENTIABLE, add_case, check_case, exempt,
                       numeric_gradient)

rng = np.random.default_rng(20240)


def normal(*shape):
    return rng.standard_normal(shape)


def positive(*shape):
    return rng.uniform(0.5, 2.0, shape)


def away_from_zero(*shape):
    """Values with |x| in [0.3, 2]: finite differences never straddle a kink at 0."""
    return rng.uniform(0.3, 2.0, shape) * rng.choice([-1.0, 1.0], shape)


def distinct_pair(*shape):
    """Two arrays that differ by at least 0.2 everywhere (no ties for maximum/minimum)."""
    x = normal(*shape)
    return x, x + away_from_zero(*shape)


for _op in ("param", "constant", "read_variable"):
    exempt(_op, "source op without inputs (gradients w.r.t. Variables: test_optim.py)")
for _op in ("fill", "iota", "dim_size"):
    exempt(_op, "creation op without inputs")
for _op in ("equal", "not_equal", "less", "less_equal", "greater", "greater_equal",
            "logical_and", "logical_or", "logical_not"):
    exempt(_op, "bool result: piecewise constant")
for _op in ("argmax", "argmin"):
    exempt(_op, "integer result: piecewise constant")

CASES = [
    add_case("add", gc.add, normal(3, 4), normal(4), argnums=(0, 1), label="broadcast row"),
    add_case("add", gc.add, normal(3, 1), normal(1, 4), argnums=(0, 1), label="outer"),
    add_case("subtract", gc.subtract, normal(2, 3), normal(3), argnums=(0, 1)),
    add_case("multiply", gc.multiply, normal(2, 3, 4), normal(3, 1), argnums=(0, 1)),
    add_case("divide", gc.divide, normal(3, 4), away_from_zero(4), argnums=(0, 1)),
    add_case("power", gc.power, positive(3, 4), normal(3, 4), argnums=(0, 1)),
    add_case("power", lambda x: x ** 3.0, normal(5), label="constant exponent"),
    add_case("maximum", gc.maximum, *distinct_pair(3, 4), argnums=(0, 1)),
    add_case("minimum", gc.minimum, *distinct_pair(3, 4), argnums=(0, 1)),
    add_case("negative", gc.negative, normal(4)),
    add_case("abs", gc.abs, away_from_zero(3, 4)),
    add_case("square", gc.square, normal(3, 4)),
    add_case("sqrt", gc.sqrt, positive(3, 4)),
    add_case("exp", gc.exp, normal(3, 4)),
    add_case("log", gc.log, positive(3, 4)),
    add_case("tanh", gc.tanh, normal(3, 4)),
    add_case("sigmoid", gc.sigmoid, np.linspace(-12, 12, 10)),
    add_case("relu", gc.relu, away_from_zero(3, 4)),
    add_case("where", lambda x, y: gc.where(np.array([True, False, True, False]), x, y),
             normal(3, 4), normal(4), argnums=(0, 1)),
    add_case("cast", lambda x: bind("cast", [x], dtype="float64"), normal(3, 4), label="float64"),
    # float32 round trip: f is linear in x, so a large eps has no truncation error and
    # float32 rounding of f (~1e-6 absolute) over 2*eps = 2e-2 stays below the 1e-3 rtol.
    add_case("cast", lambda x: gc.cast(gc.cast(x, "float32"), "float64"), normal(3, 4),
             label="float32 round trip", eps=1e-2, rtol=1e-3, atol=1e-3),
    add_case("reduce_sum", lambda x: gc.sum(x, axis=1), normal(3, 4), label="axis 1"),
    add_case("reduce_sum", lambda x: gc.sum(x, axis=(0, 2), keepdims=True), normal(2, 3, 4), label="keepdims"),
    add_case("reduce_sum", lambda x: gc.sum(x), normal(3, 4), label="all"),
    add_case("reduce_prod", lambda x: gc.prod(x, axis=1), away_from_zero(3, 4)),
    add_case("reduce_max", lambda x: gc.max(x, axis=0), normal(3, 4), label="axis 0"),
    add_case("reduce_max", lambda x: gc.max(x), normal(3, 4), label="all"),
    add_case("reduce_min", lambda x: gc.min(x, axis=1, keepdims=True), normal(3, 4)),
    add_case("reshape", lambda x: gc.exp(gc.reshape(x, (4, 3))), normal(3, 4)),
    add_case("transpose", lambda x: gc.transpose(x, (2, 0, 1)), normal(2, 3, 4)),
    add_case("broadcast_to", lambda x: gc.broadcast_to(x, (2, 3, 4)), normal(3, 1)),
    add_case("slice", lambda x: x[1:3, ::2], normal(4, 5), label="strided"),
    add_case("slice", lambda x: x[::-1, 2], normal(4, 5), label="reversed"),
    add_case("slice_grad", lambda g: bind("slice_grad", [g], in_shape=(5, 6), starts=(1, 4), steps=(2, -1),
                                          shape=(2, 3)), normal(2, 3)),
    add_case("concatenate", lambda x, y: gc.concatenate([x, y], axis=1), normal(2, 3), normal(2, 2),
             argnums=(0, 1)),
    add_case("matmul", gc.matmul, normal(3, 4), normal(4, 5), argnums=(0, 1), label="2-D"),
    add_case("matmul", gc.matmul, normal(2, 3, 4), normal(4, 5), argnums=(0, 1), label="batched broadcast"),
    add_case("matmul", gc.matmul, normal(4), normal(4, 3), argnums=(0, 1), label="vector"),
    add_case("matrix_inverse", gc.matrix_inverse, 3 * np.eye(3) + 0.3 * normal(3, 3), label="3x3"),
    add_case("matrix_inverse", gc.matrix_inverse, 3 * np.eye(4) + 0.3 * normal(2, 4, 4), label="batched"),
]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_gradient(case):
    check_case(case)


# -- higher order: gradients of gradients (elementwise ops and matmul) ------------------------

SECOND_ORDER = {
    "elementwise": (lambda x: gc.sum(gc.tanh(x) * gc.exp(x * 0.5) + gc.sigmoid(x) / (x * x + 1.0)), (normal(5),)),
    "power/log": (lambda x: gc.sum(gc.power(x, 2.5) * gc.log(x)), (positive(4),)),
    "matmul": (lambda a, b: gc.sum(gc.square(a @ b)), (normal(3, 4), normal(4, 2))),
}


@pytest.mark.parametrize("name", list(SECOND_ORDER))
def test_second_order(name):
    """The Hessian-vector product sum(grad(f) * R) differentiated again vs finite differences."""
    f, args = SECOND_ORDER[name]
    argnums = tuple(range(len(args)))
    first = gc.grad(f, argnums=argnums)
    weights = [np.random.default_rng(k).uniform(0.5, 1.5, a.shape) for k, a in enumerate(args)]

    def hvp(*xs):
        gs = first(*xs)
        total = gc.sum(gs[0] * weights[0])
        for g, w in zip(gs[1:], weights[1:]):
            total = total + gc.sum(g * w)
        return total

    second = gc.grad(hvp, argnums=argnums)(*args)
    for k, g in enumerate(second):
        expected = numeric_gradient(lambda *xs: np.asarray(hvp(*xs)), args, k, 1e-5)
        # differences of the compiled first derivative: eps = 1e-5 keeps rounding ~1e-11
        np.testing.assert_allclose(np.asarray(g), expected, rtol=1e-5, atol=1e-7)


def test_third_order_scalar():
    """d^3/dx^3 of x^4 at x = 1.5 is 24 x = 36."""
    f = lambda x: gc.sum(x * x * x * x)  # noqa: E731
    d3 = gc.grad(lambda x: gc.sum(gc.grad(lambda y: gc.sum(gc.grad(f)(y)))(x)))
    np.testing.assert_allclose(d3(np.array([1.5])), [36.0], rtol=1e-12)


# -- coverage -----------------------------------------------------------------------------------

def _import_modules_with_cases():
    """Import every sibling test module that registers gradient cases (idempotent)."""
    here = pathlib.Path(__file__).parent
    for path in sorted(here.glob("test_*.py")):
        if path.stem != "test_gradients" and "gradcheck" in path.read_text(errors="ignore"):
            importlib.import_module(path.stem)


def test_every_registered_op_has_a_gradient_case():
    _import_modules_with_cases()
    covered = {c.op for c in GRADIENT_CASES}
    ops = set(all_ops())
    missing = sorted(ops - covered - set(NOT_DIFFERENTIABLE))
    assert not missing, (f"ops without a gradient case: {missing}. Register one with gradcheck.add_case(...) "
                         f"(or gradcheck.exempt(op, reason)) in the test module of the op; see tests/gradcheck.py")
    both = sorted(covered & set(NOT_DIFFERENTIABLE))
    assert not both, f"ops both exempted and checked: {both}"


@pytest.mark.parametrize("op", ["equal", "less", "logical_not", "argmax"])
def test_exempt_ops_really_stop_gradients(op):
    """An exemption must be true: a bool/int result passes no gradient to its inputs."""
    x = normal(3, 4)
    fns = {"equal": lambda x: gc.equal(x, 0.5), "less": lambda x: gc.less(x, 0.5),
           "logical_not": lambda x: gc.logical_not(gc.less(x, 0.5)), "argmax": lambda x: gc.argmax(x, axis=1)}
    g = gc.grad(lambda x: gc.sum(x * 0.0) + gc.sum(gc.cast(fns[op](x), "float64")))(x)
    np.testing.assert_array_equal(g, np.zeros_like(x))


exempt("stop_gradient", "its gradient is zero by definition; checked exactly in test_stop_gradient_blocks_gradients")


def test_stop_gradient_blocks_gradients():
    x = np.array([1.0, -2.0, 3.0])
    g = gc.grad(lambda a: (a * gc.stop_gradient(a)).sum())(x)
    np.testing.assert_array_equal(g, x)  # d/da of a*c with c = a held constant
    np.testing.assert_array_equal(gc.compile(gc.stop_gradient)(x), x)
