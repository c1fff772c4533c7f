"""Generated packed GEMM (graphc/codegen/gemm.py) against numpy.

Tolerance: the error of a length-K dot product is bounded by ~K * eps *
max|A| * max|B|, so we check |C - ref| <= rtol * K * max|A| * max|B| with the
reference computed in float64 and rtol = 1e-5 (float32) / 1e-12 (float64).
"""
import importlib.util
import pathlib
import sys

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

ROOT = pathlib.Path(__file__).resolve().parents[1]
try:
    sys.path.insert(0, str(ROOT))
    from graphc.codegen import gemm as G
except Exception:  # package __init__ files may be missing/in flux: load by path
    _spec = importlib.util.spec_from_file_location("graphc_gemm", ROOT / "graphc/codegen/gemm.py")
    G = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(G)

RTOL = {"float32": 1e-5, "float64": 1e-12}
_CACHE = {}


def kernel(dtype, vector_width=16):
    key = (dtype, vector_width)
    if key not in _CACHE:
        _CACHE[key] = G.compile_gemm_for_test(dtype, vector_width=vector_width)
    return _CACHE[key]


def run(f, A, B, C, accumulate=0, m_begin=0, m_end=None, buf=None):
    """Call the kernel on numpy views (any element strides for A/B, unit column stride for C)."""
    it = A.itemsize
    assert C.size == 0 or C.shape[1] == 1 or C.strides[1] == it
    M, K = A.shape
    N = B.shape[1]
    if buf is None:
        buf = np.empty(f.pack_elems, A.dtype)
    f(M, N, K, A.ctypes.data, A.strides[0] // it, A.strides[1] // it,
      B.ctypes.data, B.strides[0] // it, B.strides[1] // it,
      C.ctypes.data, C.strides[0] // it, accumulate, m_begin, M if m_end is None else m_end,
      buf.ctypes.data)


def operand(rng, shape, dtype, transposed):
    """A random matrix, stored transposed (column-major) when asked."""
    if transposed:
        return np.ascontiguousarray(rng.standard_normal(shape[::-1]).astype(dtype)).T
    return rng.standard_normal(shape).astype(dtype)


def check(C, A, B, dtype, C0=None):
    ref = A.astype(np.float64) @ B.astype(np.float64)
    if C0 is not None:
        ref += C0
    K = A.shape[1]
    scale = max(K, 1) * max(np.abs(A).max(initial=0), 1) * max(np.abs(B).max(initial=0), 1)
    err = np.abs(C.astype(np.float64) - ref).max(initial=0)
    assert err <= RTOL[dtype] * scale, (err, RTOL[dtype] * scale)


@settings(max_examples=300, deadline=None)
@given(M=st.integers(0, 70), N=st.integers(0, 70), K=st.integers(0, 70),
       ta=st.booleans(), tb=st.booleans(), acc=st.booleans(),
       dtype=st.sampled_from(["float32", "float64"]), seed=st.integers(0, 2**31))
def test_random_shapes(M, N, K, ta, tb, acc, dtype, seed):
    rng = np.random.default_rng(seed)
    A, B = operand(rng, (M, K), dtype, ta), operand(rng, (K, N), dtype, tb)
    # C is a view into a wider array (ldc > N); the padding must stay untouched.
    big = np.full((M, N + 3), 7.0, dtype)
    C = big[:, :N]
    C0 = rng.standard_normal((M, N)).astype(dtype)
    if acc:
        C[...] = C0
    else:
        C[...] = np.nan  # accumulate=0 must never read C
    run(kernel(dtype), A, B, C, accumulate=int(acc))
    check(C, A, B, dtype, C0 if acc else None)
    assert (big[:, N:] == 7.0).all()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("M,N,K", [(257, 129, 300), (600, 45, 33), (3, 4200, 5),
                                   (1, 1, 1), (1, 300, 257), (300, 1, 257), (20, 30, 0)])
@pytest.mark.parametrize("ta,tb", [(False, False), (True, True), (True, False)])
def test_large_and_blocked(M, N, K, dtype, ta, tb):
    """Sizes crossing the MC/KC/NC block boundaries, and degenerate shapes."""
    rng = np.random.default_rng(M * 7 + N * 3 + K)
    A, B = operand(rng, (M, K), dtype, ta), operand(rng, (K, N), dtype, tb)
    C = np.full((M, N), np.nan, dtype)
    run(kernel(dtype), A, B, C)
    check(C, A, B, dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_general_strides(dtype):
    """Neither operand has a unit stride (sliced views; A also runs backwards)."""
    rng = np.random.default_rng(1)
    A = rng.standard_normal((90, 3 * 77)).astype(dtype)[::-1, ::3]
    B = rng.standard_normal((2 * 77, 2 * 50)).astype(dtype)[::2, ::2]
    C = np.empty((90, 50), dtype)
    run(kernel(dtype), A, B, C)
    check(C, A, B, dtype)


@settings(max_examples=100, deadline=None)
@given(M=st.integers(1, 150), N=st.integers(1, 70), K=st.integers(0, 70),
       cuts=st.lists(st.integers(0, 150), min_size=1, max_size=2),
       acc=st.booleans(), ta=st.booleans(), dtype=st.sampled_from(["float32", "float64"]))
def test_row_ranges_match_full_call(M, N, K, cuts, acc, ta, dtype):
    """Splitting rows into 2-3 [m_begin, m_end) calls gives bitwise the same C."""
    rng = np.random.default_rng(M + 1000 * N + K)
    A, B = operand(rng, (M, K), dtype, ta), operand(rng, (K, N), dtype, False)
    C0 = rng.standard_normal((M, N)).astype(dtype)
    full, split = C0.copy(), C0.copy()
    f = kernel(dtype)
    run(f, A, B, full, accumulate=int(acc))
    bounds = [0, *sorted(min(c, M) for c in cuts), M]
    for lo, hi in zip(bounds, bounds[1:]):
        run(f, A, B, split, accumulate=int(acc), m_begin=lo, m_end=hi)
    np.testing.assert_array_equal(split, full)
    check(full, A, B, dtype, C0 if acc else None)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_rows_outside_range_untouched_and_buffer_bounds(dtype):
    """Only [m_begin, m_end) is written; the kernel stays inside its (misaligned) scratch."""
    rng = np.random.default_rng(2)
    M, N, K = 300, 77, 290
    A, B = operand(rng, (M, K), dtype, False), operand(rng, (K, N), dtype, False)
    C = np.full((M, N), -3.0, dtype)
    elems = G.gemm_pack_buffer_elems(dtype)
    raw = np.full(elems + 1 + 64, 12345.0, dtype)
    buf = raw[1:1 + elems]  # deliberately not 64-byte aligned
    run(kernel(dtype), A, B, C, m_begin=37, m_end=251, buf=buf)
    check(C[37:251], A[37:251], B, dtype)
    assert (C[:37] == -3.0).all() and (C[251:] == -3.0).all()
    assert raw[0] == 12345.0 and (raw[1 + elems:] == 12345.0).all()


def test_avx2_shape_and_public_emit():
    """vector_width=8 (16-register micro-kernel) is correct, and emit_gemm leaves
    a self-contained module: two gemms coexist and only llvm.* intrinsics are declared."""
    import llvmlite.ir as ir
    mod = ir.Module()
    f32 = G.emit_gemm(mod, "sgemm", "float32")
    f64 = G.emit_gemm(mod, "dgemm", "float64", vector_width=8)
    assert isinstance(f32, ir.Function) and f64.name == "dgemm"
    assert len(f32.args) == 15 and isinstance(f32.function_type.return_type, ir.VoidType)
    externs = [g.name for g in mod.globals.values()
               if isinstance(g, ir.Function) and g.is_declaration]
    assert externs and all(n.startswith("llvm.") for n in externs), externs

    rng = np.random.default_rng(3)
    for dtype in ("float32", "float64"):
        A, B = operand(rng, (53, 71), dtype, False), operand(rng, (71, 45), dtype, True)
        C = np.empty((53, 45), dtype)
        run(kernel(dtype, vector_width=8), A, B, C)
        check(C, A, B, dtype)


def test_bad_dtype():
    import llvmlite.ir as ir
    with pytest.raises(ValueError):
        G.emit_gemm(ir.Module(), "g", "int32")
    with pytest.raises(ValueError):
        G.gemm_pack_buffer_elems("float16")
