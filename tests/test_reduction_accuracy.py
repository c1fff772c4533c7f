"""Floating-point sums stay accurate over long axes (blocked summation).

Each vector lane of a sum's accumulator used to take every lanes-th element of the whole
axis: a float32 lane stops absorbing 1.0 at 2**24, so the sum of 2**41 ones came out as
2**30. Sums over more than KernelBuilder.SUM_BLOCK elements now add blocks into fresh
accumulators, and the block sums into a float64 one (see KernelBuilder.sum_reduce).
Broadcast inputs make very long sums cheap to test.
"""
import re

import numpy as np
import pytest

import graphc as gc
from graphc.codegen.kernel import KernelBuilder

EPS = {"float32": np.finfo(np.float32).eps, "float64": np.finfo(np.float64).eps}


def _ones_sum(shape, axis=None, dtype=np.float32):
    f = gc.compile(lambda x: gc.broadcast_to(x, shape).sum(axis=axis))
    return f(np.ones(1, dtype))


def test_sum_of_2_26_ones_is_exact():
    assert float(_ones_sum((2**26,))) == 2.0**26
    assert float(gc.compile(lambda x: gc.broadcast_to(x, (2**26,)).mean())(np.ones(1, np.float32))) == 1.0


def test_sum_of_2_36_ones_is_exact():
    # unblocked, this host's partial sums (vector lanes times unrolled accumulators times
    # threads) stopped growing at 2**24 each: the result was 2**33
    assert float(_ones_sum((2**36,))) == 2.0**36


@pytest.mark.parametrize("shape,axis", [((2**13, 2**13), None), ((3, 2**23, 2), 1), ((2**24, 3), None),
                                         ((3, 2**25), 1)])
def test_long_multi_axis_sums_of_ones_are_exact(shape, axis):
    """Blocks cut the reduction wherever the elements of the inner axes exceed a block:
    along a strided middle axis too (a sum over leading axes runs as a GEMM instead)."""
    got = _ones_sum(shape, axis)
    count = np.prod(shape) if axis is None else shape[axis]
    out_shape = () if axis is None else shape[:axis] + shape[axis + 1:]
    np.testing.assert_array_equal(got, np.full(out_shape, count, np.float32))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape,axis", [((300_007,), None), ((301, 1001), None), ((301, 1001), 0),
                                         ((3, 100_003), 1), ((7, 9000, 3), (0, 1))])
def test_sums_with_cancellation_match_float64_reference(dtype, shape, axis):
    """|graphc - exact| <= eps * log2(n) * sum|x| + eps * |exact| (the bound numpy's
    pairwise summation guarantees, plus the final rounding), with large values that
    cancel, so a lane that grew large would lose the small terms."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal(shape) * 10
    x.reshape(-1)[::2] += 1e4
    x.reshape(-1)[1::2] -= 1e4
    x = x.astype(dtype)
    got = gc.compile(lambda x: x.sum(axis=axis))(x).astype(np.float64)
    exact = x.astype(np.float64).sum(axis=axis)
    n = x.size // np.size(exact)
    bound = EPS[dtype] * (np.log2(n) * np.abs(x.astype(np.float64)).sum(axis=axis) + np.abs(exact))
    assert np.all(np.abs(got - exact) <= bound), np.max(np.abs(got - exact) / bound)
    m = gc.compile(lambda x: x.mean(axis=axis))(x).astype(np.float64)
    assert np.all(np.abs(m - exact / n) <= 2 * bound / n)


@pytest.mark.parametrize("shape,axis", [((2**20, 1000), None), ((2, 2**24, 8), 1)])
def test_huge_sums_of_broadcast_random_rows(shape, axis):
    """2**30 (2**24 per output along a strided middle axis) positive float32 terms:
    unblocked, a partial sum grows until its rounding error rivals the terms.
    (A sum over *leading* axes runs as a GEMM with a row of ones, passes/simplify.py,
    accumulating along K like numpy's own axis-0 sum; not tested here.)"""
    row = np.random.default_rng(3).uniform(0.5, 1.5, shape[-1:]).astype(np.float32)
    got = gc.compile(lambda r: gc.broadcast_to(r, shape).sum(axis=axis))(row).astype(np.float64)
    n = np.prod(shape) if axis is None else shape[axis]
    exact = (row.astype(np.float64).sum() * (n // row.size) if axis is None
             else np.broadcast_to(row.astype(np.float64) * n, got.shape))
    assert np.all(np.abs(got - exact) <= EPS["float32"] * (np.log2(n) + 1) * np.abs(exact))


@pytest.mark.parametrize("values,want", [([np.inf, 1.0], np.inf), ([np.inf, -np.inf], np.nan),
                                         ([np.nan, 1.0], np.nan), ([-np.inf, 2.0], -np.inf)])
def test_nan_and_inf_propagate_across_blocks(values, want):
    """Special values in different blocks combine as in numpy."""
    x = np.zeros(5 * KernelBuilder.SUM_BLOCK + 3, np.float32)
    x[17], x[4 * KernelBuilder.SUM_BLOCK + 1] = values
    got = float(gc.compile(lambda x: x.sum())(x))
    np.testing.assert_equal(got, np.float32(want))
    with np.errstate(invalid="ignore"):
        np.testing.assert_equal(np.sum(x), np.float32(want))


def test_integer_sums_are_exact_and_wrap_as_numpy():
    x = np.full(3 * KernelBuilder.SUM_BLOCK + 5, 2**30, np.int32)
    np.testing.assert_array_equal(gc.compile(lambda x: x.sum())(x), x.sum())


def test_blocked_sum_inner_loop_still_vectorizes():
    """The block loop must stay a vector loop (the point of per-lane accumulators)."""
    import llvmlite.binding as llvm

    from graphc.codegen import llvm_cpu

    x = np.ones(4 * KernelBuilder.SUM_BLOCK + 1, np.float32)
    f = gc.compile(lambda x: x.sum())
    assert float(f(x)) == x.size
    llvm_cpu.init_llvm()
    mod = llvm.parse_assembly(f.ir(x, stage="llvm"))
    llvm_cpu.optimize(mod, llvm_cpu.target_machine(), 3)
    assert re.search(r"<\d+ x float>", str(mod)), "the blocked float sum was not vectorized"
