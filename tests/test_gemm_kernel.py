"""Generated packed GEMM (graphc/codegen/gemm.py) against numpy, for every
micro-kernel variant this host can execute.

Each CPU model (x86-64 baseline SSE2 without FMA: 5 x 8 floats with multiply + add;
haswell AVX2+FMA: 6 x 16; the host, e.g. AVX-512: 8 x 32) gets its own micro-kernel
shape and blocking; the tests build the target machine from an explicit model, so one
pytest run covers them all.

Tolerance: the error of a length-K dot product is bounded by ~K * eps *
max|A| * max|B|, so we check |C - ref| <= rtol * K * max|A| * max|B| with the
reference computed in float64 and rtol = 1e-5 (float32) / 1e-12 (float64).
"""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from graphc.codegen import gemm as G
from graphc.codegen.cpu import current_model, model_for

RTOL = {"float32": 1e-5, "float64": 1e-12}
_CACHE = {}

# Named models and the host features each needs to run here.
_NEEDS = {"x86-64": (), "haswell": ("+avx", "+avx2", "+fma", "+bmi", "+bmi2", "+f16c", "+movbe")}


def _runnable_models():
    host = current_model()
    models = {"host": host}
    if host.arch == "x86_64":
        import llvmlite.binding as llvm

        feats = set(llvm.get_host_cpu_features().flatten().split(","))
        for name, needs in _NEEDS.items():
            if all(f in feats for f in needs):
                models[name] = model_for(name)
    return models


MODELS = _runnable_models()
MODEL_IDS = sorted(MODELS)


def kernel(dtype, model="host", **blocks):
    key = (dtype, model, tuple(sorted(blocks.items())))
    if key not in _CACHE:
        _CACHE[key] = G.compile_gemm_for_test(dtype, MODELS[model], **blocks)
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
       dtype=st.sampled_from(["float32", "float64"]), model=st.sampled_from(MODEL_IDS),
       seed=st.integers(0, 2**31))
def test_random_shapes(M, N, K, ta, tb, acc, dtype, model, seed):
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
    run(kernel(dtype, model), A, B, C, accumulate=int(acc))
    check(C, A, B, dtype, C0 if acc else None)
    assert (big[:, N:] == 7.0).all()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("M,N,K", [(257, 129, 300), (600, 45, 33), (3, 4200, 5),
                                   (1, 1, 1), (1, 300, 257), (300, 1, 257), (20, 30, 0)])
@pytest.mark.parametrize("ta,tb", [(False, False), (True, True), (True, False)])
@pytest.mark.parametrize("model", MODEL_IDS)
def test_large_and_blocked(M, N, K, dtype, ta, tb, model):
    """Sizes crossing the MC/KC/NC block boundaries, and degenerate shapes (K = 0,
    1 x N, N x 1), for every micro-kernel variant."""
    rng = np.random.default_rng(M * 7 + N * 3 + K)
    A, B = operand(rng, (M, K), dtype, ta), operand(rng, (K, N), dtype, tb)
    C = np.full((M, N), np.nan, dtype)
    run(kernel(dtype, model), A, B, C)
    check(C, A, B, dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("model", MODEL_IDS)
def test_general_strides(dtype, model):
    """Neither operand has a unit stride (sliced views; A also runs backwards)."""
    rng = np.random.default_rng(1)
    A = rng.standard_normal((90, 3 * 77)).astype(dtype)[::-1, ::3]
    B = rng.standard_normal((2 * 77, 2 * 50)).astype(dtype)[::2, ::2]
    C = np.empty((90, 50), dtype)
    run(kernel(dtype, model), A, B, C)
    check(C, A, B, dtype)


@settings(max_examples=100, deadline=None)
@given(M=st.integers(1, 150), N=st.integers(1, 70), K=st.integers(0, 70),
       cuts=st.lists(st.integers(0, 150), min_size=1, max_size=2),
       acc=st.booleans(), ta=st.booleans(), dtype=st.sampled_from(["float32", "float64"]),
       model=st.sampled_from(MODEL_IDS))
def test_row_ranges_match_full_call(M, N, K, cuts, acc, ta, dtype, model):
    """Splitting rows into 2-3 [m_begin, m_end) calls gives bitwise the same C."""
    rng = np.random.default_rng(M + 1000 * N + K)
    A, B = operand(rng, (M, K), dtype, ta), operand(rng, (K, N), dtype, False)
    C0 = rng.standard_normal((M, N)).astype(dtype)
    full, split = C0.copy(), C0.copy()
    f = kernel(dtype, model)
    run(f, A, B, full, accumulate=int(acc))
    bounds = [0, *sorted(min(c, M) for c in cuts), M]
    for lo, hi in zip(bounds, bounds[1:]):
        run(f, A, B, split, accumulate=int(acc), m_begin=lo, m_end=hi)
    np.testing.assert_array_equal(split, full)
    check(full, A, B, dtype, C0 if acc else None)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("model", MODEL_IDS)
@pytest.mark.parametrize("acc", [False, True])
def test_b_read_in_place_for_few_rows(dtype, model, acc):
    """A call of at most DIRECT_B_TILES row tiles reads a row-major B in place (partial
    micro-panels packed): several KC blocks of K, a partial last panel, rows in a range.
    B's values stored with a row stride that is a multiple of 128 bytes take the packed
    path instead; both give bitwise the same C (the same products in the same order)."""
    cfg = G.gemm_config(dtype, MODELS[model])
    rng = np.random.default_rng(3)
    M, N, K = G.DIRECT_B_TILES * cfg.MR, 3 * cfg.NR + 5, 2 * cfg.KC + 7
    A = operand(rng, (M, K), dtype, False)
    values = rng.standard_normal((K, N)).astype(dtype)
    per_line = 128 // np.dtype(dtype).itemsize
    in_place = np.zeros((K, N + 1 + per_line * (N % per_line == per_line - 1)), dtype)[:, :N]
    packed = np.zeros((K, -(-N // per_line) * per_line + per_line), dtype)[:, :N]
    assert in_place.strides[0] % 128 and packed.strides[0] % 128 == 0
    in_place[...], packed[...] = values, values
    C0 = rng.standard_normal((M, N)).astype(dtype)
    results = []
    for B in (in_place, packed):
        C = C0.copy() if acc else np.full((M, N), np.nan, dtype)
        run(kernel(dtype, model), A, B, C, accumulate=int(acc), m_begin=1, m_end=M - 2)
        results.append(C)
    np.testing.assert_array_equal(results[0], results[1])
    check(results[0][1:M - 2], A[1:M - 2], values, dtype, C0[1:M - 2] if acc else None)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("model", MODEL_IDS)
def test_rows_outside_range_untouched_and_buffer_bounds(dtype, model):
    """Only [m_begin, m_end) is written; the kernel stays inside its (misaligned) scratch."""
    rng = np.random.default_rng(2)
    M, N, K = 300, 77, 290
    A, B = operand(rng, (M, K), dtype, False), operand(rng, (K, N), dtype, False)
    C = np.full((M, N), -3.0, dtype)
    elems = G.gemm_pack_buffer_elems(dtype, MODELS[model])
    raw = np.full(elems + 1 + 64, 12345.0, dtype)
    buf = raw[1:1 + elems]  # deliberately not 64-byte aligned
    run(kernel(dtype, model), A, B, C, m_begin=37, m_end=251, buf=buf)
    check(C[37:251], A[37:251], B, dtype)
    assert (C[:37] == -3.0).all() and (C[251:] == -3.0).all()
    assert raw[0] == 12345.0 and (raw[1 + elems:] == 12345.0).all()


@pytest.mark.parametrize("model", MODEL_IDS)
def test_batched_operands(model):
    """A batch of products through one kernel: each entry's operands at their own
    offsets in one buffer (how the GEMM step calls it), including a broadcast B."""
    rng = np.random.default_rng(5)
    for dtype in ("float32", "float64"):
        A = rng.standard_normal((3, 37, 29)).astype(dtype)
        B = rng.standard_normal((29, 41)).astype(dtype)
        C = np.full((3, 37, 41), np.nan, dtype)
        for i in range(3):
            run(kernel(dtype, model), A[i], B, C[i])
        ref = np.einsum("bik,kj->bij", A.astype(np.float64), B.astype(np.float64))
        scale = 29 * np.abs(A).max() * np.abs(B).max()
        assert np.abs(C - ref).max() <= RTOL[dtype] * scale


def test_shapes_follow_the_cpu_model():
    """MR x NR comes from the model's registers and vector width: 6 x 16 floats on
    AVX2 (15 of 16 registers), a 32-register shape on AVX-512, 128-bit for SSE; and
    the blocks from its caches (the A and B micro-panels fit L1d, the A block L2)."""
    from dataclasses import replace

    avx2 = model_for("haswell")
    assert G.micro_shape("float32", avx2) == (6, 2, 8)
    assert G.micro_shape("float64", avx2) == (6, 2, 4)
    sse = model_for("x86-64")
    mr, nv, lanes = G.micro_shape("float32", sse)
    assert lanes == 4 and mr * nv + 2 * nv + 1 <= 16 and not G.gemm_config("float32", sse).fused
    avx512 = replace(avx2, vector_bits=512, max_vector_bits=512, vector_registers=32)
    mr, nv, lanes = G.micro_shape("float32", avx512)
    assert lanes == 16 and 16 < mr * nv + nv + 1 <= 32
    for m in (avx2, sse, avx512, replace(avx2, l1d=32 * 1024, l2=256 * 1024)):
        for dtype, size in (("float32", 4), ("float64", 8)):
            c = G.gemm_config(dtype, m)
            assert (c.MR + c.NR) * c.KC * size <= m.l1d and c.MC * c.KC * size <= m.l2 // 2
            assert c.MC % c.MR == 0 and c.NC % c.NR == 0 and c.KC % 16 == 0


def test_public_emit_is_self_contained():
    """emit_gemm leaves a self-contained module: two gemms (two models) coexist and
    only llvm.* intrinsics are declared; without FMA only llvm.fmuladd is used."""
    import llvmlite.ir as ir
    mod = ir.Module()
    f32 = G.emit_gemm(mod, "sgemm", "float32")
    f64 = G.emit_gemm(mod, "dgemm", "float64", model_for("x86-64"))
    assert isinstance(f32, ir.Function) and f64.name == "dgemm"
    assert len(f32.args) == 15 and isinstance(f32.function_type.return_type, ir.VoidType)
    externs = [g.name for g in mod.globals.values()
               if isinstance(g, ir.Function) and g.is_declaration]
    assert externs and all(n.startswith("llvm.") for n in externs), externs
    assert any(n.startswith("llvm.fmuladd.v2f64") for n in externs)
    assert not any(n.startswith("llvm.fma.v2f64") for n in externs)


@pytest.mark.parametrize("model", MODEL_IDS)
def test_no_calls_in_machine_code(model):
    """The kernel's assembly calls nothing (no fmaf/libm, no memcpy): it runs inside
    the thread pool of a standalone library on every target."""
    import re
    f = kernel("float32", model)
    from graphc.codegen.gemm import _target_machine_for
    asm = _target_machine_for(MODELS[model]).emit_assembly(f.llmod)
    assert not re.search(r"^\s*(call|jmp)\w*\s+[*A-Za-z_]", asm, re.M)


def test_bad_dtype():
    import llvmlite.ir as ir
    with pytest.raises(ValueError):
        G.emit_gemm(ir.Module(), "g", "int32")
    with pytest.raises(ValueError):
        G.gemm_pack_buffer_elems("float16")


def _packed_b_kernels(dtype, model):
    """The GEMM reading a pre-packed B (``_bpacked``) and its packer, JIT-compiled for
    ``model`` (the variant control_lowering uses for loop-invariant RNN weights)."""
    import ctypes

    import llvmlite.binding as llvm
    import llvmlite.ir as ir

    key = ("bpacked", dtype, model)
    if key not in _CACHE:
        tm = G._target_machine_for(MODELS[model])
        mod = ir.Module("packed_gemm_test")
        mod.triple = llvm.get_process_triple()
        G.emit_gemm_with_packed_b(mod, "g", dtype, MODELS[model])
        llmod = llvm.parse_assembly(str(mod))
        llmod.verify()
        engine = llvm.create_mcjit_compiler(llmod, tm)
        engine.finalize_object()
        i64, vp = ctypes.c_int64, ctypes.c_void_p
        gemm = ctypes.CFUNCTYPE(None, *[i64] * 3, vp, i64, i64, vp, i64, i64, vp, *[i64] * 4, vp)(
            engine.get_function_address("g_bpacked"))
        pack = ctypes.CFUNCTYPE(None, i64, i64, vp, i64, i64, vp)(engine.get_function_address("g_pack_b"))
        gemm.engine = engine
        _CACHE[key] = gemm, pack
    return _CACHE[key]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("model", MODEL_IDS)
def test_prepacked_b_variant_per_model(dtype, model):
    """The B-prepacked GEMM for every micro-kernel shape: edge tiles, K = 0, K > KC,
    1 x N and N x 1, transposed B, two row ranges sharing one packed B."""
    gemm, pack = _packed_b_kernels(dtype, model)
    cfg = G.gemm_config(dtype, MODELS[model])
    rng = np.random.default_rng(11)
    for M, N, K, trans in [(13, 37, 5, False), (29, 3 * cfg.NR + 1, cfg.KC + 7, True), (1, 70, 33, False),
                           (40, 1, 90, True), (7, 9, 0, True)]:
        A = rng.standard_normal((M, K)).astype(dtype)
        B = rng.standard_normal((K, N)).astype(dtype)
        b_store = np.ascontiguousarray(B.T) if trans else B
        b_rs, b_cs = (1, K) if trans else (N, 1)
        packed = np.full(G.packed_b_elems(dtype, K, N, MODELS[model]) + 64, np.nan, dtype)
        start = (-packed.ctypes.data % 64) // packed.itemsize  # 64-byte aligned, as the runtime does
        pptr = packed.ctypes.data + start * packed.itemsize
        pack(K, N, b_store.ctypes.data, b_rs, b_cs, pptr)
        scratch = np.zeros(G.gemm_pack_buffer_elems(dtype, MODELS[model]) + 64, dtype)
        C = np.full((M, N), np.nan, dtype)
        for m0, m1 in [(0, M // 2), (M // 2, M)]:
            gemm(M, N, K, A.ctypes.data, K, 1, pptr, 0, 0, C.ctypes.data, N, 0, m0, m1, scratch.ctypes.data)
        check(C, A, B, dtype)
