"""Implicit-GEMM convolutions (patches_matmul, graphc/codegen/conv_gemm.py) on every CPU
model this host can execute (the host, haswell AVX2+FMA, x86-64 SSE2 without FMA).

Every shape class (strides, SAME/VALID/explicit padding, 1x1, kernels larger than the
input, batch 1, channel counts that are not a multiple of the vector width, dilations,
float64) is checked forward and through both gradients (input: the transposed
convolution rewrite where the stride is 1, col2im otherwise; filters: the transposed
patch matrix) against

- a direct float64 numpy convolution (forward), and
- ``gc.interpret`` of the traced graph, which runs the ops' numpy references on the
  original extract_patches / matmul / extract_patches_grad nodes (gradients),

and the optimized graph must contain the patches_matmul steps (so a rewrite that stopped
matching would fail here instead of silently testing the old path).

Tolerance: a length-K dot product in float32 is off by at most ~K * eps * sum|terms|;
we allow |got - want| <= 1e-5 * K * max|a| * max|b| (float64: 1e-12), as the GEMM tests do.
"""
from __future__ import annotations

import os

import numpy as np
import pytest

import graphc as gc
from graphc.codegen.cpu import current_model
from graphc.ops.conv import explicit_pads, same_valid_padding
from gradcheck import add_case, check_case

RNG = np.random.default_rng(11)


def _models():
    names = ["host"]
    if current_model().arch == "x86_64":
        import llvmlite.binding as llvm

        feats = set(llvm.get_host_cpu_features().flatten().split(","))
        names.append("x86-64")
        if all(f in feats for f in ("+avx", "+avx2", "+fma")):
            names.append("haswell")
    return names


MODELS = _models()


def ref_conv2d(x, f, strides, padding, dil):
    """Direct float64 convolution (TF's padding rule)."""
    n, h, w, c = x.shape
    kh, kw, _, o = f.shape
    pads = explicit_pads(padding)
    oh, pt, pb = same_valid_padding(h, kh, strides[0], dil[0], pads[0])
    ow, pl, pr = same_valid_padding(w, kw, strides[1], dil[1], pads[1])
    xp = np.zeros((n, h + pt + pb, w + pl + pr, c))
    xp[:, pt:pt + h, pl:pl + w] = x
    out = np.zeros((n, oh, ow, o))
    for a in range(kh):
        for b in range(kw):
            win = xp[:, a * dil[0]: a * dil[0] + (oh - 1) * strides[0] + 1: strides[0],
                     b * dil[1]: b * dil[1] + (ow - 1) * strides[1] + 1: strides[1]]
            out += np.einsum("nijc,co->nijo", win, f[a, b])
    return out


# (x shape, filter shape, strides, padding, dilations): every shape class, each large
# enough for the GEMM path (>= GEMM_MIN_WORK multiply-adds)
SHAPES = {
    "3x3 same c32": ((2, 14, 14, 32), (3, 3, 32, 64), (1, 1), "SAME", (1, 1)),
    "3x3 same c1": ((2, 28, 28, 1), (3, 3, 1, 32), (1, 1), "SAME", (1, 1)),
    "valid stride2 c3": ((4, 21, 19, 3), (3, 3, 3, 16), (2, 2), "VALID", (1, 1)),
    "same stride(2,1) c17 dil(1,2)": ((2, 11, 12, 17), (3, 2, 17, 9), (2, 1), "SAME", (1, 2)),
    "1x1 stride2": ((4, 17, 17, 24), (1, 1, 24, 16), (2, 2), "SAME", (1, 1)),
    "5x5 kernel over 4x4 input": ((3, 4, 4, 5), (5, 5, 5, 40), (1, 1), "SAME", (1, 1)),
    "batch 1": ((1, 12, 12, 16), (3, 3, 16, 20), (1, 1), "SAME", (1, 1)),
    "explicit asymmetric pads": ((2, 10, 9, 6), (3, 3, 6, 12), (1, 1), [[0, 0], [1, 2], [0, 1], [0, 0]], (1, 1)),
    "pads wider than the window": ((2, 8, 8, 7), (2, 2, 7, 40), (1, 1), [[0, 0], [3, 0], [0, 3], [0, 0]], (1, 1)),
    "dilation 2": ((2, 10, 10, 8), (3, 3, 8, 12), (1, 1), "SAME", (2, 2)),
    "valid 5x5 c6": ((2, 13, 12, 6), (5, 5, 6, 10), (1, 1), "VALID", (1, 1)),
    "c1 stride2 valid": ((4, 27, 26, 1), (3, 3, 1, 16), (2, 2), "VALID", (1, 1)),
    "c2 stride(1,2) dil2": ((3, 16, 15, 2), (2, 3, 2, 24), (1, 2), "SAME", (2, 2)),
}
# Narrow inputs (fewer channels than a vector) build the patch block tap-major
# (conv_gemm.tap_major), unrolled up to UNROLL_COLUMNS taps x channels: the c1/c2 cases
# take that path unrolled, c3/c5/c6/c7 (and c8 on AVX2/SSE) as loops, c16 and up row-major.


def _tolerance(dtype, k, *arrays):
    return (1e-5 if dtype == np.float32 else 1e-12) * k * np.prod([np.abs(a).max() for a in arrays])


def _patches_steps(fn, *args):
    graph = fn.ir(*args, stage="optimized")
    return graph.count("= patches_matmul(")


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("name", sorted(SHAPES))
def test_conv_forward_and_gradients(name, model, monkeypatch):
    if model != "host":
        monkeypatch.setenv("GRAPHC_CPU", model)
    xs, fs, strides, padding, dil = SHAPES[name]
    dtype = np.float32
    x = RNG.standard_normal(xs).astype(dtype)
    f = RNG.standard_normal(fs).astype(dtype)
    fwd = gc.compile(lambda x, f: gc.nn.conv2d(x, f, strides, padding, dil))
    got = fwd(x, f)
    want = ref_conv2d(x.astype(np.float64), f.astype(np.float64), strides, padding, dil)
    k = fs[0] * fs[1] * fs[2]
    np.testing.assert_allclose(got, want, rtol=0, atol=_tolerance(dtype, k, x, f))
    implicit = fs[:2] != (1, 1) or strides != (1, 1)  # a 1x1 stride-1 conv is a plain matmul
    assert _patches_steps(fwd, x, f) == int(implicit)

    g = RNG.standard_normal(got.shape).astype(dtype)

    def grads(x, f, g):
        return gc.grad(lambda x, f: gc.sum(gc.nn.conv2d(x, f, strides, padding, dil) * g), argnums=(0, 1))(x, f)

    step = gc.compile(grads)
    dx, df = step(x, f, g)
    want_dx, want_df = gc.interpret(gc.trace(grads, x, f, g), x, f, g)
    rows = got.shape[0] * got.shape[1] * got.shape[2]
    np.testing.assert_allclose(dx, want_dx, rtol=0, atol=_tolerance(dtype, fs[0] * fs[1] * fs[3], g, f))
    np.testing.assert_allclose(df, want_df, rtol=0, atol=_tolerance(dtype, rows, x, g))
    if implicit:
        # filter gradient always; input gradient as a convolution where the stride is 1
        # and the padding fits the window (else col2im)
        pads_fit = "wider" not in name
        assert _patches_steps(step, x, f, g) == 1 + (strides == (1, 1) and pads_fit)


def test_float64_and_empty_batch():
    x = RNG.standard_normal((3, 9, 9, 11))
    f = RNG.standard_normal((3, 3, 11, 13))
    fn = gc.compile(lambda x, f: gc.nn.conv2d(x, f, 1, "SAME"))
    np.testing.assert_allclose(fn(x, f), ref_conv2d(x, f, (1, 1), "SAME", (1, 1)), rtol=0,
                               atol=_tolerance(np.float64, 99, x, f))
    assert _patches_steps(fn, x, f) == 1
    # the filter gradient of an empty batch is zero (its GEMM still runs once, with K = 0)
    dw = gc.compile(lambda x, f, g: gc.grad(lambda f: gc.sum(gc.nn.conv2d(x, f, 1, "SAME") * g))(f))
    big = RNG.standard_normal((64, 9, 9, 11))
    assert _patches_steps(dw, big, f, RNG.standard_normal((64, 9, 9, 13))) >= 1
    sym = gc.compile(lambda x, f, g: gc.grad(lambda f: gc.sum(gc.nn.conv2d(x, f, 1, "SAME") * g))(f),
                     shapes={"x": ("n", 9, 9, 11), "g": ("n", 9, 9, 13)})
    out = sym(big[:0], f, np.zeros((0, 9, 9, 13)))
    assert out.shape == f.shape and not out.any()


@pytest.mark.parametrize("model", MODELS)
def test_symbolic_batch_and_epilogue(model, monkeypatch):
    """A CNN layer (conv, bias, relu, pool) compiled once for any batch: rows of the patch
    matrix are a derived symbol (196*n); bias and relu run as the GEMM's epilogue."""
    if model != "host":
        monkeypatch.setenv("GRAPHC_CPU", model)
    f = RNG.standard_normal((3, 3, 8, 24)).astype(np.float32)
    b = RNG.standard_normal(24).astype(np.float32)

    def layer(x, f, b):
        return gc.nn.max_pool(gc.relu(gc.nn.bias_add(gc.nn.conv2d(x, f, 1, "SAME"), b)), 2, 2, "VALID")

    fn = gc.compile(layer, shapes={"x": ("n", 14, 14, 8)})
    for n in (1, 5, 16):
        x = RNG.standard_normal((n, 14, 14, 8)).astype(np.float32)
        conv = np.maximum(ref_conv2d(x, f, (1, 1), "SAME", (1, 1)) + b, 0)
        want = conv.reshape(n, 7, 2, 7, 2, 24).max(axis=(2, 4))
        np.testing.assert_allclose(fn(x, f, b), want, rtol=0, atol=_tolerance(np.float32, 72, x, f) + 1e-6)
    text = fn.ir(x, f, b, stage="optimized")
    assert "= patches_matmul(" in text and "kernel -> %" in text


def test_inside_scan_body():
    """patches_matmul in a loop body (its weights are never packed once before the loop:
    that path is for plain matmuls only)."""
    f = RNG.standard_normal((3, 3, 4, 4)).astype(np.float32)
    xs = RNG.standard_normal((3, 8, 10, 10, 4)).astype(np.float32)

    def run(f, xs):
        def body(h, x):
            h = gc.tanh(gc.nn.conv2d(h + x, f, 1, "SAME"))
            return h, gc.sum(h)
        return gc.scan(body, gc.zeros((8, 10, 10, 4)), xs)[1]

    want = gc.interpret(gc.trace(run, f, xs), f, xs)
    np.testing.assert_allclose(gc.compile(run)(f, xs), want, rtol=1e-4, atol=1e-3)


def test_program_cache_loads_the_prepacked_gemm_in_a_new_process(tmp_path):
    """A convolution's forward step calls the B-prepacked GEMM runtime: a second process
    that loads the program from the disk cache must load that runtime too (it compiles
    nothing, so nothing else would), then give the first process's result."""
    import subprocess
    import sys

    code = (
        "import numpy as np, graphc as gc\n"
        "rng = np.random.default_rng(0)\n"
        "x = rng.standard_normal((4, 12, 12, 8)).astype(np.float32)\n"
        "f = rng.standard_normal((3, 3, 8, 16)).astype(np.float32)\n"
        "fn = gc.compile(lambda x, f: gc.nn.conv2d(x, f, 1, 'SAME'))\n"
        "y = fn(x, f)\n"
        "print(fn.compile_stats(x, f)['program_from_cache'], float(np.abs(y).sum()))\n")
    env = dict(os.environ, GRAPHC_CACHE_DIR=str(tmp_path))
    env.pop("GRAPHC_CACHE", None)
    env.pop("GRAPHC_PROGRAM_CACHE", None)
    runs = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env)
            for _ in range(2)]
    for r in runs:
        assert r.returncode == 0, r.stderr[-2000:]
    (first_cached, first), (second_cached, second) = (r.stdout.split() for r in runs)
    assert (first_cached, second_cached) == ("False", "True") and first == second


@pytest.mark.parametrize("transposed", [False, True])
def test_loop_nest_lowering_of_small_products(transposed):
    """Below the GEMM threshold patches_matmul is a loop nest (its emit): same values."""
    x = RNG.standard_normal((2, 5, 4, 3)).astype(np.float32)
    attrs = {"ksize": (2, 3), "strides": (2, 1), "dilations": (1, 2), "pads": ((1, 0), (2, 1)),
             "transpose_a": transposed}
    rows, cols = 2 * 3 * 3, 2 * 3 * 3  # oh = (5+1-2)//2+1 = 3, ow = 4+3-5+1 = 3
    b = RNG.standard_normal((rows if transposed else cols, 4)).astype(np.float32)
    fn = gc.compile(lambda x, b: gc.tracing.bind("patches_matmul", [x, b], **attrs))
    assert "kernel -> %" in fn.ir(x, b, stage="optimized")
    want = gc.tracing.bind("patches_matmul", [x.astype(np.float64), b.astype(np.float64)], **attrs)
    np.testing.assert_allclose(fn(x, b), want, rtol=0, atol=_tolerance(np.float32, max(rows, cols), x, b))


# Finite differences of the op itself, both forms (float64; shapes above the GEMM
# threshold). Values of 0.2 * N(0, 1) keep the objective (a weighted sum of ~3000
# outputs) near 1, so central differences round to ~1e-16 / EPS = 1e-10, well inside
# gradcheck's tolerances.
PM_X = 0.2 * RNG.standard_normal((2, 7, 6, 5))
PM_ATTRS = {"ksize": (3, 3), "strides": (1, 1), "dilations": (1, 1), "pads": ((1, 1), (1, 1))}
CASES = [
    add_case("patches_matmul", lambda x, b: gc.tracing.bind("patches_matmul", [x, b], transpose_a=False, **PM_ATTRS),
             PM_X, 0.2 * RNG.standard_normal((45, 40)), argnums=(0, 1), label="P @ B"),
    add_case("patches_matmul", lambda x, b: gc.tracing.bind("patches_matmul", [x, b], transpose_a=True, **PM_ATTRS),
             PM_X, 0.2 * RNG.standard_normal((84, 40)), argnums=(0, 1), label="P^T @ B"),
    add_case("extract_patches", lambda x, w: gc.nn.conv2d(x, w, 1, "SAME"), 0.2 * RNG.standard_normal((2, 8, 8, 6)),
             0.2 * RNG.standard_normal((3, 3, 6, 16)), argnums=(0, 1), label="conv2d through the implicit GEMM"),
]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_gradients_by_finite_differences(case):
    check_case(case)
