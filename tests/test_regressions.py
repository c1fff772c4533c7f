"""One test per wrong answer found by differential fuzzing (issue 18 and tests/test_fuzz.py).

Each compiles the smallest program that showed the bug, fused and naive, and compares
with numpy. Tolerances: float32 results within 2 ulp-ish (rtol 1e-6), exact where the
operation is exact (casts, comparisons, divisions by powers of two).
"""
import os

import numpy as np
import pytest

import graphc as gc


def both_modes(fn, *args):
    """fn compiled fused and naive, each called twice (the second call reuses buffers)."""
    out = []
    for fuse in (True, False):
        f = gc.compile(fn, fuse=fuse)
        first = np.asarray(f(*args)).copy()
        second = np.asarray(f(*args))
        np.testing.assert_array_equal(first, second, err_msg=f"fuse={fuse}: second call differs")
        out.append((fuse, first))
    return out


def np_softmax(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


# -- 1. an index remapping (transpose) fused after a row reduction ------------------------
@pytest.mark.parametrize("shape", [(3, 3), (4, 6), (6, 4)])
def test_softmax_then_transpose(shape):
    x = np.random.default_rng(1).normal(size=shape).astype(np.float32)
    x[0, :2] = [0, 1]
    want = np_softmax(x, 1).T
    for fuse, got in both_modes(lambda x: gc.softmax(x, axis=1).T, x):
        np.testing.assert_allclose(got, want, rtol=2e-6, atol=1e-7, err_msg=f"fuse={fuse}")


def test_issue_example_softmax_transpose():
    x = np.array([[0, 1, 0], [1, 0, 0], [0, 0, 0]], np.float32)
    for fuse, got in both_modes(lambda x: gc.softmax(x, axis=1).T, x):
        np.testing.assert_allclose(got, np_softmax(x, 1).T, rtol=2e-6, err_msg=f"fuse={fuse}")


def test_softmax_plus_its_transpose_and_reshape():
    """Readers of the softmax row at remapped indices next to aligned ones (the row stash
    must not be used when any reader remaps)."""
    x = np.random.default_rng(2).normal(size=(5, 5)).astype(np.float32)
    s = np_softmax(x, 1)
    for fuse, got in both_modes(lambda x: gc.softmax(x, axis=1) + gc.softmax(x, axis=1).T, x):
        np.testing.assert_allclose(got, s + s.T, rtol=2e-6, err_msg=f"fuse={fuse}")
    for fuse, got in both_modes(lambda x: gc.reshape(gc.log_softmax(x, axis=1), (25,)), x):
        want = (x - x.max(1, keepdims=True) - np.log(np.exp(x - x.max(1, keepdims=True)).sum(1, keepdims=True))).ravel()
        np.testing.assert_allclose(got, want, rtol=2e-6, atol=1e-6, err_msg=f"fuse={fuse}")


def test_row_reduction_behind_transpose_is_not_fused():
    """A row reduction fused behind a transpose would be recomputed for every element."""
    x = np.ones((8, 8), np.float32)
    text = gc.compile(lambda x: gc.softmax(x, axis=1).T).ir(x, stage="optimized")
    for line in text.splitlines():
        if "transpose" in line and "kernel" in line:
            assert "reduce_" not in line, line


# -- 3./4. a GEMM epilogue that changes the element type ------------------------------------
def _gemm_operands(dtype=np.float32, n=64):
    rng = np.random.default_rng(3)
    a = rng.integers(-3, 4, size=(n, n)).astype(dtype)
    b = rng.integers(-3, 4, size=(n, n)).astype(dtype)
    return a, b  # small integers: every product and sum is exact, so results are exact


@pytest.mark.parametrize("to", ["int32", "int64", "float64", "float32", "bool"])
def test_gemm_epilogue_cast(to):
    a, b = _gemm_operands()
    for fuse, got in both_modes(lambda a, b: (a @ b).astype(to), a, b):
        np.testing.assert_array_equal(got, (a @ b).astype(to), err_msg=f"fuse={fuse}")


def test_gemm_epilogue_float64_to_float32_then_ops():
    a, b = _gemm_operands(np.float64)
    bias = np.linspace(-1, 1, 64).astype(np.float32)
    for fuse, got in both_modes(lambda a, b, c: (a @ b).astype(np.float32) + c, a, b, bias):
        np.testing.assert_array_equal(got, (a @ b).astype(np.float32) + bias, err_msg=f"fuse={fuse}")


def test_gemm_epilogue_comparison_and_bool():
    a, b = _gemm_operands()
    for fuse, got in both_modes(lambda a, b: (a @ b) > 0, a, b):
        np.testing.assert_array_equal(got, (a @ b) > 0, err_msg=f"fuse={fuse}")
    for fuse, got in both_modes(lambda a, b: gc.sigmoid(a @ b) < 0.5, a, b):
        np.testing.assert_array_equal(got, (a @ b) < 0, err_msg=f"fuse={fuse}")
    for fuse, got in both_modes(lambda a, b: gc.where((a @ b) > 1, a @ b, -1.0), a, b):
        c = a @ b
        np.testing.assert_array_equal(got, np.where(c > 1, c, -1.0).astype(np.float32), err_msg=f"fuse={fuse}")


# -- 5. division by a loop-invariant subnormal or huge divisor --------------------------------
@pytest.mark.parametrize("dtype,tiny", [(np.float32, np.float32(1e-45)), (np.float32, np.float32(3e-39)),
                                        (np.float64, 5e-324), (np.float64, 1e-310)])
def test_division_by_invariant_subnormal(dtype, tiny):
    x = np.array([0.0, 1e-40 if dtype == np.float32 else 1e-320, 1.0, -2.5], dtype)
    d = np.array(tiny, dtype)
    with np.errstate(all="ignore"):
        want = x / d
    for fuse, got in both_modes(lambda x, d: x / d, x, d):
        np.testing.assert_array_equal(got, want, err_msg=f"fuse={fuse}")


def test_division_by_row_sum_is_correctly_rounded():
    """x / row_sum equals numpy's division bit for bit (huge sums: 1/sum is subnormal)."""
    rng = np.random.default_rng(5)
    x = (rng.random((6, 7)) * 3e38).astype(np.float32)
    x[1] = rng.random(7).astype(np.float32) * 1e-39  # subnormal row
    s = x.max(axis=1, keepdims=True)
    for fuse, got in both_modes(lambda x: x / x.max(axis=1, keepdims=True), x):
        np.testing.assert_array_equal(got, x / s, err_msg=f"fuse={fuse}")


# -- 7. an empty concatenate feeding a reduction --------------------------------------------
@pytest.mark.parametrize("axis", [0, 1])
def test_empty_concatenate_reduced(axis):
    a = np.zeros((0, 3), np.float32) if axis == 0 else np.zeros((3, 0), np.float32)
    for fuse, got in both_modes(lambda a, b: gc.concatenate([a, b], axis=axis).sum(axis=axis), a, a):
        np.testing.assert_array_equal(got, np.zeros(3, np.float32), err_msg=f"fuse={fuse}")
    for fuse, got in both_modes(lambda a, b: gc.prod(gc.concatenate([a, b], axis=axis) * 2, axis=axis, keepdims=True) + 1, a, a):
        want = np.prod(np.concatenate([a, a], axis=axis) * 2, axis=axis, keepdims=True) + 1
        np.testing.assert_array_equal(got, want, err_msg=f"fuse={fuse}")


# -- 2. a value computed in two passes of one kernel must round identically -----------------
def test_softmax_of_square_large_values():
    """max(x*x) and x*x - max(x*x) must see the same x*x (no FMA in one pass only)."""
    x = np.array([[1.1e18, 3.3e18, 2.7e18], [1.0, 2.0, 3.0]], np.float32)
    sq = x * x
    for fuse, got in both_modes(lambda x: gc.softmax(x * x, axis=-1), x):
        np.testing.assert_allclose(got, np_softmax(sq, 1), rtol=2e-6, atol=1e-30, err_msg=f"fuse={fuse}")
    for fuse, got in both_modes(lambda x: gc.log_softmax(x * x, axis=-1), x):
        assert np.all(got <= 0), f"fuse={fuse}: positive log-probability {got}"
        assert got[0, 1] == 0.0
        want = sq - sq.max(1, keepdims=True) - np.log(np.exp(sq - sq.max(1, keepdims=True)).sum(1, keepdims=True))
        np.testing.assert_allclose(got, want, rtol=2e-6, err_msg=f"fuse={fuse}")


def test_row_max_of_affine_matches_elementwise_equal():
    """x*s + b evaluated in the max pass and again in equal(x*s+b, max) agree exactly."""
    rng = np.random.default_rng(6)
    x, s, b = (rng.normal(size=(16, 33)).astype(np.float32) for _ in range(3))
    f = lambda x, s, b: gc.equal(x * s + b, (x * s + b).max(axis=1, keepdims=True)).sum(axis=1)
    for fuse, got in both_modes(f, x, s, b):
        assert np.all(got >= 1), f"fuse={fuse}: a row has no element equal to its max"


# -- 6. products that overflow to +inf and -inf sum to NaN -------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [3, 5, 64, 96])
def test_matmul_products_overflowing_both_ways(dtype, n):
    """Small sizes run the loop nest, large ones the packed GEMM (FMA accumulation)."""
    big = 1e30 if dtype == np.float32 else 1e200
    rng = np.random.default_rng(n)
    x = rng.uniform(1.1, 2, size=(n, n)).astype(dtype)
    w = rng.uniform(-1, 1, size=(n, n)).astype(dtype)
    x[0, :] = big                  # row 0: products of both signs overflow -> NaN
    top = np.finfo(dtype).max
    w[:2, 1] = [top, -top]         # column 1: both overflow in every row (x > 1) -> NaN
    x[1, 0] = big; w[0, 2] = big   # [1, 2]: one product overflows to +inf -> +inf
    with np.errstate(all="ignore"):
        want = np.einsum("ik,kj->ij", x, w)  # the sum of rounded products
    for fuse, got in both_modes(lambda x, w: x @ w, x, w):
        assert np.isnan(got[0]).sum() == np.isnan(want[0]).sum(), f"fuse={fuse}"
        assert np.all(np.isnan(got[:, 1])), f"fuse={fuse}"
        assert got[1, 2] == np.inf, f"fuse={fuse}"
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=f"fuse={fuse}")
        # finite entries: the standard dot-product bound |error| <= n * eps * (|x| @ |w|)
        fin = np.isfinite(want)
        with np.errstate(over="ignore"):
            bound = n * np.finfo(dtype).eps * (np.abs(x).astype(np.float64) @ np.abs(w).astype(np.float64))
        assert np.all(np.abs(got[fin].astype(np.float64) - want[fin]) <= bound[fin]), f"fuse={fuse}"


def test_issue_example_matmul_overflow():
    x = np.full((64, 64), 1e30, np.float32)
    w = np.full((64, 64), 1e30, np.float32)
    w[0::2] *= -1
    for fuse, got in both_modes(lambda x, w: x @ w, x, w):
        assert np.all(np.isnan(got)), f"fuse={fuse}"


# -- fuzzer seed 20103008: a product reduction reassociated across elements ------------------
def test_prod_of_scaled_values_keeps_inf_times_zero():
    """prod(x + x) over a short axis: LLVM's reassociation turned (2a)(2b)(2c) into
    8abc, so 0 * (2 * 3e38 = inf) = NaN became 0 * 3e38 * 8 = 0."""
    y = np.ones((3, 7, 3), np.float32)
    y[0, 0, 0], y[0, 0, 1] = 0, 3e38
    with np.errstate(all="ignore"):
        want_axis = np.prod(y + y, axis=2)
        want_all = np.prod(y + y)
    for fuse, got in both_modes(lambda r: gc.prod(r + r, axis=2), y):
        np.testing.assert_array_equal(got, want_axis, err_msg=f"fuse={fuse}")
    for fuse, got in both_modes(lambda r: gc.prod(r + r), y):
        np.testing.assert_array_equal(got, want_all, err_msg=f"fuse={fuse}")


def test_adding_positive_zero_is_not_an_identity():
    """-0.0 + 0.0 is +0.0 (IEEE 754, numpy): the simplifier may drop only x + (-0.0) and
    x - 0.0 (fuzzer seed 424213202 found `0.0 + x` returning -0.0)."""
    x = np.array([-0.0, 0.0, 1.5, -np.inf, np.nan], np.float32)
    for fn in (lambda x: x + 0.0, lambda x: 0.0 + x, lambda x: x + (-0.0), lambda x: x - 0.0,
               lambda x: x - (-0.0)):
        for fuse in (True, False):
            got = gc.compile(fn, fuse=fuse)(x)
            want = fn(x)
            np.testing.assert_array_equal(got, want)
            np.testing.assert_array_equal(np.signbit(got), np.signbit(want))


# -- the compiler never hangs on an arg-reduction ------------------------------------------
# LLVM 22's O3 pipeline (loop vectorizer, then the unroller) never returned on the NaN-aware
# select loop of argmax/argmin over 25..~40 elements of a (1, n) array (found by the fuzzer as a
# test-suite stall); those loops now carry llvm.loop.unroll.disable. Each case runs in a child
# process with a time limit, so a regression fails here instead of hanging the suite.
_ARG_REDUCTION_CHILD = """
import sys, numpy as np, graphc as gc
for shape, axis in [((1, 25), 1), ((1, 32), 1), ((1, 40), 1), ((25, 1), 0), ((1, 25, 1), 1)]:
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    x.flat[3] = np.nan
    for name in ("argmax", "argmin"):
        got = gc.compile(lambda v: getattr(gc, name)(v, axis=axis))(x)
        np.testing.assert_array_equal(got, getattr(np, name)(x, axis=axis))
lib = gc.export(lambda v: gc.argmax(v, axis=1), (np.ones((1, 25), np.float32),), sys.argv[1])
print("ok")
"""


def test_arg_reductions_compile_without_hanging(tmp_path):
    import subprocess
    import sys

    env = dict(os.environ, GRAPHC_CACHE_DIR=str(tmp_path / "cache"))  # compile, don't reuse
    r = subprocess.run([sys.executable, "-c", _ARG_REDUCTION_CHILD, str(tmp_path / "libarg.so")],
                       capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0 and r.stdout.strip().endswith("ok"), r.stderr[-2000:]
