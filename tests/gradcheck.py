"""Gradient checking shared by every test module that registers ops.

Each registered op needs at least one ``GradCase`` (a float64 function using the op, its
arguments, which of them to differentiate) or an entry in ``NOT_DIFFERENTIABLE`` with a
reason. ``tests/test_gradients.py`` checks the core ops and asserts that *every* op in
``graphc.ops.registry.all_ops()`` is covered; before that check it imports every
``tests/test_*.py`` that mentions ``gradcheck``, so a module that adds ops extends the
tables at import time and runs its own cases:

    from gradcheck import add_case, check_case
    CONV_CASES = [add_case("conv2d", lambda x, w: gc.nn.conv2d(x, w, 1, "SAME"), x, w, argnums=(0, 1))]

    @pytest.mark.parametrize("case", CONV_CASES, ids=str)
    def test_conv_gradients(case):
        check_case(case)

The check: the gradient of sum(f(args) * R) (R a fixed random weighting, so every output
element counts differently) from the compiled ``gc.grad`` against central finite
differences of the numpy reference (f run eagerly), in float64.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

import graphc as gc

# Central differences in float64 with eps = 1e-6: truncation error ~ eps^2 * f''' and
# rounding ~ 1e-16 / eps, so about 1e-10 relative on smooth functions of O(1) values;
# RTOL/ATOL leave a wide margin while still catching any wrong rule (off by terms of O(1)).
EPS = 1e-6
RTOL = 1e-6
ATOL = 1e-8


@dataclass
class GradCase:
    op: str
    fn: object
    args: tuple
    argnums: tuple = (0,)
    label: str = ""
    eps: float = EPS
    rtol: float = RTOL
    atol: float = ATOL
    extra: dict = field(default_factory=dict)

    def __str__(self):
        return f"{self.op}[{self.label}]" if self.label else self.op


GRADIENT_CASES: list[GradCase] = []
# op name -> why it has no gradient case (sources, boolean/integer results, no inputs).
NOT_DIFFERENTIABLE: dict[str, str] = {}


def add_case(op, fn, *args, argnums=(0,), label="", eps=EPS, rtol=RTOL, atol=ATOL) -> GradCase:
    """Register (and return) a gradient case for ``op``; float arrays are made float64."""
    args = tuple(np.asarray(a, np.float64) if np.asarray(a).dtype.kind == "f" else np.asarray(a) for a in args)
    case = GradCase(op, fn, args, tuple(argnums), label, eps, rtol, atol)
    GRADIENT_CASES.append(case)
    return case


def exempt(op, reason: str) -> None:
    NOT_DIFFERENTIABLE[op] = reason


def _objective(fn, weights):
    def f(*args):
        out = fn(*args)
        return gc.sum(gc.multiply(out, weights))
    return f


def numeric_gradient(f, args, k, eps):
    """Central differences of the scalar f w.r.t. args[k] (f runs eagerly in numpy)."""
    x = args[k]
    grad = np.zeros_like(x)
    flat = grad.reshape(-1)
    for i in range(x.size):
        def shifted(delta):
            xs = x.copy()
            xs.reshape(-1)[i] += delta
            a = list(args)
            a[k] = xs
            return float(f(*a))
        flat[i] = (shifted(eps) - shifted(-eps)) / (2 * eps)
    return grad


def check_case(case: GradCase) -> None:
    """Assert the op is in the case's graph and its compiled gradient matches finite differences."""
    graph = gc.trace(case.fn, *case.args)
    used = {n.op for n in graph.nodes}
    assert case.op in used, f"case {case} does not use op {case.op!r} (graph has {sorted(used)})"
    out = np.asarray(case.fn(*case.args))
    assert out.dtype == np.float64, f"case {case}: output must be float64, got {out.dtype}"
    weights = np.random.default_rng(len(case.op)).uniform(0.5, 1.5, size=out.shape)
    f = _objective(case.fn, weights)
    analytic = gc.grad(f, argnums=case.argnums)(*case.args)
    for k, g in zip(case.argnums, analytic):
        expected = numeric_gradient(f, case.args, k, case.eps)
        np.testing.assert_allclose(np.asarray(g), expected, rtol=case.rtol, atol=case.atol,
                                   err_msg=f"gradient of {case} w.r.t. argument {k}")
