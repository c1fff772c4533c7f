"""GEMM steps split over threads in whole MR-row tiles (llvm_cpu.emit_gemm_step): every
row is computed once, by exactly the arithmetic of a one-thread run, whatever the
number of chunks (no more than tiles), including a symbolic batch too small to give
every chunk a tile."""
import numpy as np
import pytest

import graphc as gc
from graphc.codegen.gemm import gemm_config
from graphc.codegen.threadpool import get_num_threads, set_num_threads


def _run_with_threads(n, fn, *args, **options):
    old = get_num_threads()
    try:
        set_num_threads(n)
        return gc.compile(fn, **options)(*args)  # the chunk count is fixed when the step is compiled
    finally:
        set_num_threads(old)


@pytest.mark.parametrize("m", [1, 3, 8, 9, 25, 50, 2 * 8 + 1])
@pytest.mark.parametrize("threads", [2, 3, 5])
def test_row_chunks_in_whole_tiles_match_one_thread(m, threads):
    """K and N large enough (>= 4M flops) that the step is split into chunks; a bias and
    relu epilogue runs on each chunk's rows."""
    rng = np.random.default_rng(m)
    k, n = 640, 520
    a = rng.standard_normal((m, k)).astype(np.float32)
    w = rng.standard_normal((k, n)).astype(np.float32)
    bias = rng.standard_normal(n).astype(np.float32)
    fn = lambda a, w, bias: gc.relu(a @ w + bias)  # noqa: E731
    one = _run_with_threads(1, fn, a, w, bias)
    many = _run_with_threads(threads, fn, a, w, bias)
    np.testing.assert_array_equal(one, many)
    want = np.maximum(a.astype(np.float64) @ w + bias, 0)
    np.testing.assert_allclose(many, want, rtol=1e-4, atol=1e-3)


def test_batched_and_transposed_operands_split_alike():
    rng = np.random.default_rng(7)
    mr = gemm_config("float32").MR
    m = 3 * mr + 5
    a = rng.standard_normal((3, 300, m)).astype(np.float32)   # used transposed
    b = rng.standard_normal((3, 300, 700)).astype(np.float32)
    fn = lambda a, b: gc.matmul(gc.transpose(a, (0, 2, 1)), b) * 2.0  # noqa: E731
    one = _run_with_threads(1, fn, a, b)
    two = _run_with_threads(2, fn, a, b)
    np.testing.assert_array_equal(one, two)
    np.testing.assert_allclose(two, np.matmul(a.transpose(0, 2, 1).astype(np.float64), b) * 2, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("batch", [1, 3, 9, 50])
def test_symbolic_rows_with_chunks_left_empty(batch):
    """A symbolic M is planned as large (one chunk per thread); a small batch then leaves
    some chunks without rows, which must compute nothing and leave the others right."""
    rng = np.random.default_rng(batch)
    a = rng.standard_normal((batch, 700)).astype(np.float32)
    w = rng.standard_normal((700, 600)).astype(np.float32)
    fn = lambda a, w: gc.tanh(a @ w * 0.01)  # noqa: E731
    one = _run_with_threads(1, fn, a, w, dynamic="batch", dynamic_args=(0,))
    many = _run_with_threads(3, fn, a, w, dynamic="batch", dynamic_args=(0,))
    np.testing.assert_array_equal(one, many)
    np.testing.assert_allclose(many, np.tanh(a.astype(np.float64) @ w * 0.01), rtol=1e-4, atol=1e-5)
